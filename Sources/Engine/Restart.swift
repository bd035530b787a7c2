#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// Restart policies in a daemonless design: the supervisor whose container ended decides, and
/// execs a new monitor (`monitor ID --restarted`) that waits out Docker's backoff and starts it
/// again, holding the supervisor lock all along. A foreground `run` hands the restart to a
/// detached monitor. `stop` and `kill` leave a mark the waiting monitor honours.
extension Engine {
    func stoppedByUserMark(_ id: String) -> String { paths.container(id) + "/stopped-by-user" }

    /// The user ended the container (`stop`, `rm -f`, `kill` with its stop signal or SIGKILL):
    /// its restart policy no longer applies until it is started again.
    func markStoppedByUser(_ id: String) {
        try? Files.writeAtomically(stoppedByUserMark(id), "", mode: 0o600, durability: .volatile)
    }

    func clearStoppedByUser(_ id: String) { unlink(stoppedByUserMark(id)) }

    /// After `complete`: whether the policy starts the container again. If so the record says
    /// "restarting" with the delay the next monitor waits.
    func scheduleRestart(_ record: inout ContainerRecord) -> Bool {
        // The policy as it is now (`update --restart` may have changed it during the run).
        if let current = try? containers.load(record.id) { record.restartPolicy = current.restartPolicy }
        guard let policy = record.restartPolicy, !record.autoRemove,
              policy.restarts(exitCode: record.exitCode ?? 0, restarts: record.restartCount ?? 0,
                              stoppedByUser: Files.exists(stoppedByUserMark(record.id))) else { return false }
        let ran = record.startedAt.flatMap { Clock.epochSeconds(rfc3339: $0) }
            .flatMap { start in record.finishedAt.flatMap { Clock.epochSeconds(rfc3339: $0) }.map { $0 - start } } ?? 0
        record.restartDelayMs = RestartPolicy.nextDelay(previousMilliseconds: record.restartDelayMs, ranSeconds: Double(ran))
        record.restarting = true
        do { try containers.save(record) } catch { return false }
        DebugLog.log("restart policy \(policy.name.rawValue): starting \(record.name) again in \(record.restartDelayMs ?? 0) ms")
        return true
    }

    /// The monitor of a restart, before it starts the container: sleeps the backoff, and
    /// returns false when the user stopped or removed the container meanwhile.
    func waitOutRestartDelay(_ record: ContainerRecord) -> Bool {
        let deadline = Clock.monotonicSeconds() + Double(record.restartDelayMs ?? RestartPolicy.firstDelayMilliseconds) / 1000
        while true {
            if Files.exists(stoppedByUserMark(record.id)) || (try? containers.load(record.id)) == nil { return false }
            let left = deadline - Clock.monotonicSeconds()
            if left <= 0 { return true }
            usleep(useconds_t(min(left, 0.05) * 1_000_000))
        }
    }

    /// The arguments of `swiftainer monitor ID --restarted`.
    func restartMonitorArguments(_ id: String) -> [String] {
        var arguments = ["swiftainer"]
        if let root = paths.rootOverride { arguments += ["--root", root] }
        if DebugLog.enabled { arguments.append("--debug") }
        return arguments + ["monitor", id, "--restarted"]
    }

    /// This supervisor becomes the restart's monitor: the lock moves to fd 4 (where `monitor`
    /// finds it) across an exec, so no other process can take the container meanwhile.
    /// Returns only when the exec failed.
    func execRestartMonitor(_ id: String, lock: FileLock) {
        if lock.raw != 4 { guard dup2(lock.raw, 4) == 4 else { return } }
        _ = fcntl(4, F_SETFD, 0)
        _ = close(3) // no report pipe (nobody waits for this start); the lock is at 4 by now
        var argv = restartMonitorArguments(id).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        execv("/proc/self/exe", &argv)
        fputs("swiftainer monitor: exec of the restart monitor: \(SystemError.last("execv", "/proc/self/exe"))\n", stderr)
    }

    /// A foreground run's container is to restart: a detached monitor takes over (it takes the
    /// supervisor lock once this run lets go of it).
    func spawnRestartMonitor(_ id: String) {
        do {
            _ = try DetachedProcess.spawn(path: "/proc/self/exe", arguments: restartMonitorArguments(id),
                                          stderrPath: paths.container(id) + "/monitor.log", passing: [])
        } catch {
            fputs("swiftainer: cannot start the monitor that restarts \(id): \(error)\n", stderr)
        }
    }

    /// `start --all`: the containers that are not running, with one of `restartPolicies` when
    /// given — unless-stopped ones only when the user did not stop them (Docker's rule at a
    /// daemon's start).
    public func startable(restartPolicies: [RestartPolicy.Name]) -> [String] {
        containers.all().filter { record in
            guard !record.isRunning else { return false }
            guard !restartPolicies.isEmpty else { return true }
            let policy = (record.restartPolicy ?? .no).name
            guard restartPolicies.contains(policy) else { return false }
            return policy != .unlessStopped || !Files.exists(stoppedByUserMark(record.id))
        }.map(\.id)
    }

    /// `stop` of a container between two runs: its waiting monitor sees the mark and goes (or
    /// has just started it, and then it is running and stopped as any other). True when it runs.
    func settleRestart(_ record: ContainerRecord) -> Bool {
        guard record.restarting == true else { return false }
        let deadline = Clock.monotonicSeconds() + 5
        while Clock.monotonicSeconds() < deadline {
            if let lock = containers.takeOverSupervision(record.id) {
                lock.unlock()
                return false
            }
            if (try? containers.load(record.id))?.isRunning == true { return true }
            usleep(20_000)
        }
        return (try? containers.load(record.id))?.isRunning == true
    }
}
