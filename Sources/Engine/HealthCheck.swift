#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Images
import JSONKit
import LinuxKit

/// A container's health as Docker's inspect shows it (State.Health): the status, the count of
/// failures in a row, and the last five probes.
public struct HealthState: Codable, Equatable, Sendable {
    public var Status: String
    public var FailingStreak: Int
    public var Log: [Probe]

    public struct Probe: Codable, Equatable, Sendable {
        public var Start: String
        public var End: String
        public var ExitCode: Int32
        public var Output: String
    }

    public static let starting = "starting", healthy = "healthy", unhealthy = "unhealthy"
    public static let keptProbes = 5
    /// Docker keeps this much of a probe's output.
    public static let maxOutput = 4096

    public static var initial: HealthState { HealthState(Status: starting, FailingStreak: 0, Log: []) }

    /// Docker's rules for one probe: a success makes it healthy (and ends the start period);
    /// a failure counts toward `retries` — except within the start period, where it does not —
    /// and makes it unhealthy at `retries` in a row.
    public func recording(_ probe: Probe, retries: Int, inStartPeriod: Bool) -> HealthState {
        var next = self
        next.Log = Array((Log + [probe]).suffix(Self.keptProbes))
        if probe.ExitCode == 0 {
            next.Status = Self.healthy
            next.FailingStreak = 0
        } else if !inStartPeriod || Status != Self.starting {
            next.FailingStreak += 1
            if next.FailingStreak >= retries { next.Status = Self.unhealthy }
        }
        return next
    }
}

/// The supervisor's side of health checks: `swiftainer health-monitor ID PID`, a child of the
/// container's monitor started with the container (it dies with the monitor, and ends when
/// the container does), runs the check through `exec` on Docker's schedule and writes the
/// state to health.json in the container's directory, where ps and inspect read it.
extension Engine {
    func healthPath(_ id: String) -> String { paths.container(id) + "/health.json" }

    /// The state of a container with a check while it runs; nil otherwise.
    public func health(of record: ContainerRecord) -> HealthState? {
        guard record.healthcheck?.isEnabled == true, record.isRunning,
              let bytes = try? Files.read(healthPath(record.id)) else { return nil }
        return try? JSON.decode(HealthState.self, from: bytes)
    }

    /// The check a container gets: the image's HEALTHCHECK with the --health-* flags over it;
    /// nil without one, or with --no-healthcheck.
    static func healthcheck(image: HealthConfig?, flags: HealthConfig?, disabled: Bool) -> HealthConfig? {
        guard !disabled else { return nil }
        let merged = (image ?? HealthConfig()).merged(with: flags ?? HealthConfig())
        return merged.isEnabled ? merged : nil
    }

    /// Started by the monitor once the container runs: health.json says "starting", and the
    /// probing child goes on from there. Its pid is returned (nil: no check).
    func startHealthMonitor(_ record: ContainerRecord, initPid: pid_t) -> pid_t? {
        guard record.healthcheck?.isEnabled == true else { return nil }
        try? Files.writeAtomically(healthPath(record.id), (try? JSON.encode(HealthState.initial)) ?? [], mode: 0o600, durability: .volatile)
        var arguments = ["swiftainer"]
        if let root = paths.rootOverride { arguments += ["--root", root] }
        arguments += ["health-monitor", record.id, "\(initPid)"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        // Signals the monitor blocks for its waiter are unblocked again in the child.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        guard posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, environ) == 0 else {
            fputs("swiftainer monitor: cannot start the health checks of \(record.name): \(SystemError.last("posix_spawn", "/proc/self/exe"))\n", stderr)
            return nil
        }
        return pid
    }

    /// A foreground run's checker, once the container ended: it notices within 200 ms.
    func reapHealthMonitor(_ pid: pid_t) {
        var status: Int32 = 0
        for _ in 0..<50 where waitpid(pid, &status, WNOHANG) == 0 { usleep(20_000) }
        if waitpid(pid, &status, WNOHANG) == 0 {
            _ = Glibc.kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
        }
    }

    /// The body of `health-monitor ID PID`: probes until the container's init (PID, as it was
    /// when started) is gone.
    public func runHealthMonitor(id: String, initPid: pid_t) -> Int32 {
        // Dies with the monitor that started it (checked after arming: it may be gone already).
        let parent = getppid()
        _ = sw_set_pdeathsig(SIGKILL)
        guard parent != 1, getppid() == parent, let initStart = ProcessInfoLinux.startTime(of: initPid),
              let record = try? containers.load(id), let check = record.healthcheck, check.isEnabled else { return 1 }
        let interval = Double(check.interval.flatMap { $0 > 0 ? $0 : nil } ?? HealthConfig.defaultInterval) / 1e9
        let startInterval = Double(check.startInterval.flatMap { $0 > 0 ? $0 : nil } ?? HealthConfig.defaultStartInterval) / 1e9
        let timeout = Double(check.timeout.flatMap { $0 > 0 ? $0 : nil } ?? HealthConfig.defaultTimeout) / 1e9
        let startPeriod = Double(check.startPeriod ?? 0) / 1e9
        let retries = check.retries.flatMap { $0 > 0 ? $0 : nil } ?? HealthConfig.defaultRetries
        let began = Clock.monotonicSeconds()
        var state = HealthState.initial
        func alive() -> Bool { ProcessInfoLinux.isAlive(pid: initPid, startTime: initStart) }
        while alive() {
            // Within the start period, until the first success, probes come every start interval.
            let inStartPeriod = Clock.monotonicSeconds() - began < startPeriod && state.Status == HealthState.starting
            let pause = inStartPeriod ? startInterval : interval
            let wake = Clock.monotonicSeconds() + pause
            while Clock.monotonicSeconds() < wake {
                guard alive() else { return 0 }
                usleep(useconds_t(min(0.2, max(0.001, wake - Clock.monotonicSeconds())) * 1_000_000))
            }
            let probe = runProbe(id: id, test: check.test ?? [], timeout: timeout)
            guard alive() else { return 0 }
            let stillStarting = Clock.monotonicSeconds() - began < startPeriod
            let before = state.Status
            state = state.recording(probe, retries: retries, inStartPeriod: stillStarting)
            if state.Status != before { containerEvent("health_status: " + state.Status, record) }
            if let bytes = try? JSON.encode(state) {
                try? Files.writeAtomically(healthPath(id), bytes, mode: 0o600, durability: .volatile)
            }
        }
        return 0
    }

    /// One probe through `swiftainer exec`: CMD-SHELL through /bin/sh -c, CMD as given; killed
    /// past `timeout` (exit -1, Docker's). Output is stdout then stderr, as Docker keeps it.
    func runProbe(id: String, test: [String], timeout: Double) -> HealthState.Probe {
        let command = test.first == "CMD-SHELL" ? ["/bin/sh", "-c", test.dropFirst().joined(separator: " ")] : Array(test.dropFirst())
        var arguments = ["swiftainer"]
        if let root = paths.rootOverride { arguments += ["--root", root] }
        arguments += ["exec", id] + command
        let start = Clock.rfc3339()
        var probe = HealthState.Probe(Start: start, End: start, ExitCode: -1, Output: "")
        do {
            let output = try ExternalCommand.run("/proc/self/exe", argv: arguments, timeout: timeout, outputLimit: HealthState.maxOutput)
            probe.End = Clock.rfc3339()
            if output.timedOut {
                probe.Output = "Health check exceeded timeout (\(DockerFlagValues.durationText(nanoseconds: Int64(timeout * 1e9))))"
            } else {
                probe.ExitCode = output.status
                probe.Output = String((output.stdout + output.stderr).prefix(HealthState.maxOutput))
            }
        } catch {
            probe.End = Clock.rfc3339()
            probe.Output = "\(error)"
        }
        return probe
    }
}
