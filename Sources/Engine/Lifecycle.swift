#if canImport(Glibc)
import Glibc
#endif
import Cgroups
import Containers
import JSONKit
import LinuxKit
import OCI
import Runtime

/// Detached containers and what Docker users do with them: start, stop, kill, wait, restart.
///
/// A detached container is supervised by `swiftainer monitor ID` (what conmon or
/// containerd-shim is to Podman and Docker): a process in a session of its own that clones the
/// init, holds the container's stdout/stderr and writes them to the json-file log, reaps the
/// container and records its exit. The init dies with it (PR_SET_PDEATHSIG), so a killed
/// monitor never leaves a container nobody supervises; the next command reconciles the record.
extension Engine {
    /// Spawns the monitor and waits for its report on a pipe: "ok" once the container's process
    /// runs, or "<exit code> <message>" when it could not be started. With `supervision` (the
    /// container's supervisor lock, held since `create`) the monitor inherits the lock as fd 4;
    /// without, it takes the lock itself. `attach`: the monitor's end of an attached client's
    /// socket (see waiter.c's attach protocol), passed after the lock.
    func startMonitor(_ record: ContainerRecord, supervision: FileLock? = nil, attach: FileDescriptor? = nil) throws {
        let (reportRead, reportWrite) = try FileDescriptor.pipe()
        defer { reportRead.close() }
        var arguments = ["swiftainer"]
        if let root = paths.rootOverride { arguments += ["--root", root] }
        if DebugLog.enabled { arguments.append("--debug") }
        arguments += ["monitor", record.id]
        var passing = [reportWrite.raw] + (supervision.map { [$0.raw] } ?? [])
        if let attach {
            arguments += ["--attach-fd", "\(3 + passing.count)"]
            passing.append(attach.raw)
        }
        let pid: pid_t
        do {
            pid = try DetachedProcess.spawn(path: "/proc/self/exe", arguments: arguments,
                                            stderrPath: paths.container(record.id) + "/monitor.log",
                                            passing: passing)
        } catch {
            reportWrite.close()
            throw EngineError.invalidOption("cannot start the monitor of container \(record.name): \(error)")
        }
        reportWrite.close()
        let report = String(decoding: (try? reportRead.readAll(limit: 64 * 1024)) ?? [], as: UTF8.self)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG) // reap it now if it already gave up
        if report == "ok" { return }
        guard let space = report.firstIndex(of: " "), let code = Int32(report[..<space]) else {
            throw EngineError.invalidOption("the monitor of container \(record.name) exited without reporting; see \(paths.container(record.id))/monitor.log")
        }
        throw RuntimeError(String(report[report.index(after: space)...]), exitCode: code)
    }

    /// The body of `swiftainer monitor ID`; fd `report` is the pipe `startMonitor` reads (nil
    /// for a restart, which nobody waits for), `inheritedLock` the container's supervisor lock
    /// when `run -d` or the previous run's supervisor handed it over. `restarted`: the restart
    /// policy's start, after its backoff.
    public func monitor(id: String, report: FileDescriptor?, inheritedLock: FileLock?, restarted: Bool = false,
                        attach: FileDescriptor? = nil) -> Int32 {
        var reported = false
        func send(_ text: String) {
            guard !reported, let report else { return }
            try? report.writeAll(text, what: "monitor report")
            report.close()
            reported = true
        }
        do {
            let dir = paths.container(id)
            // One supervisor per container: a second `start` racing this one finds the lock taken.
            guard let lock = inheritedLock ?? takeSupervision(id) else {
                throw EngineError.invalidOption("container \(id) is already running or being started")
            }
            defer { lock.unlock() }
            var record = try containers.load(id)
            if restarted {
                guard waitOutRestartDelay(record) else {
                    if var current = try? containers.load(id) {
                        current.restarting = nil
                        try? containers.save(current)
                    }
                    return 0
                }
                record = try containers.load(id)
                record.restartCount = (record.restartCount ?? 0) + 1
                // The previous run's health checker, ended with it, is reaped here: no
                // container process is a child of this one yet.
                while waitpid(-1, nil, WNOHANG) > 0 {}
            }
            record.restarting = nil
            let spec = try ContainerRuntime.readSpec(bundle: dir)
            let logConfig = record.logConfig ?? .jsonFile
            let log = logConfig.keepsLog ? try ContainerLogWriter(path: paths.log(id), config: logConfig) : nil
            defer { log?.close() }
            // -i: the container's stdin is a pipe whose write end the waiter holds; an attached
            // client's input goes into it (-d -i: nothing does until something attaches).
            let stdinPipe = spec.annotations?[SwiftainerAnnotation.stdinOpen] == "true" ? try FileDescriptor.pipe() : nil
            defer { stdinPipe?.write.close() }
            record.detached = true
            let launched: (container: LaunchedContainer, outputs: [(fd: FileDescriptor, stream: ProcessMonitor.Stream)])
            do {
                launched = try launch(&record, spec, stdin: stdinPipe.map { .descriptor($0.read.raw) } ?? .null)
            } catch {
                fail(&record, error)
                throw error
            }
            stdinPipe?.read.close()
            let (container, outputs) = launched
            send("ok")
            // After the report pipe is closed: the checker must not hold it open.
            _ = startHealthMonitor(record, initPid: container.pid)
            // From here on it only waits: it becomes the C waiter, which holds a few pages
            // where a started Swift program holds a megabyte, and comes back as
            // `monitor-finish` to record the end. Should that exec fail, it waits here.
            // `attach` connects here while it runs (the waiter accepts); failing that, the
            // container runs unattachable rather than not at all.
            let listener = try? UnixSocket.listenPackets(in: containers.runtime.directory(id), name: Self.attachSocketName)
            becomeWaiter(id: id, pid: container.pid, outputs: outputs, console: container.consoleMaster, log: logConfig,
                         attach: attach, stdin: stdinPipe?.write, listener: listener, keptOpen: [lock.raw])
            listener?.close()
            let status = try container.wait(relayInput: false, outputs: outputs) { log?.append($0, $1) }
            log?.flush()
            try complete(&record, status, cgroup: container.cgroup, spec: spec)
            if scheduleRestart(&record) { execRestartMonitor(id, lock: lock) }
            return 0
        } catch {
            let code = (error as? RuntimeError)?.exitCode ?? 125
            send("\(code) \(error)")
            fputs("swiftainer monitor: \(error)\n", stderr)
            return code
        }
    }

    /// Execs the detached waiter (CLinux/waiter.c) in this process: it relays `outputs` or the
    /// console into the json-file log (rotated as `log` says; none: dropped), forwards signals to the init `pid`, reaps it, and execs
    /// `monitor-finish` with the wait status. The fds it needs, and `keptOpen` (the supervisor
    /// lock, an -i container's stdin), cross the exec; returns only if the exec failed.
    func becomeWaiter(id: String, pid: pid_t, outputs: [(fd: FileDescriptor, stream: ProcessMonitor.Stream)], console: FileDescriptor?,
                      log config: LogConfig, attach: FileDescriptor?, stdin: FileDescriptor?, listener: FileDescriptor?, keptOpen: [Int32]) {
        let path = paths.log(id)
        var log: FileDescriptor?
        if config.keepsLog {
            guard let file = try? FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o640) else { return }
            log = file
        }
        let stdout = outputs.first { $0.stream == .stdout }?.fd.raw ?? -1
        let stderr = outputs.first { $0.stream == .stderr }?.fd.raw ?? -1
        let passed = [log?.raw ?? -1, stdout, stderr, console?.raw ?? -1, attach?.raw ?? -1, stdin?.raw ?? -1, listener?.raw ?? -1] + keptOpen
        for fd in passed where fd >= 0 { _ = fcntl(fd, F_SETFD, 0) }
        var finish = ["swiftainer"]
        if let root = paths.rootOverride { finish += ["--root", root] }
        if DebugLog.enabled { finish.append("--debug") }
        finish += ["monitor-finish", id, "--lock-fd", "\(keptOpen.first ?? -1)"]
        let arguments = ["swiftainer", "__wait", "\(pid)", "\(log?.raw ?? -1)", "\(stdout)", "\(stderr)", "\(console?.raw ?? -1)",
                         path, "\(config.maxSize ?? 0)", "\(config.maxFiles)", config.compress ? "1" : "0",
                         "\(attach?.raw ?? -1)", "\(stdin?.raw ?? -1)", "\(listener?.raw ?? -1)", "--"] + finish
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        execv("/proc/self/exe", &argv)
        fputs("swiftainer monitor: exec of the waiter: \(SystemError.last("execv", "/proc/self/exe")); waiting in the monitor\n", Glibc.stderr)
        for fd in passed where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// The body of `swiftainer monitor-finish ID`: the waiter reaped the container's init with
    /// `waitStatus`; the end is recorded as a waiting monitor records it (`complete`).
    public func finishMonitor(id: String, waitStatus: Int32, lock: FileLock) -> Int32 {
        defer { lock.unlock() }
        // Nobody attaches to a container that ended.
        unlink(containers.runtime.directory(id) + "/" + Self.attachSocketName)
        do {
            var record = try containers.load(id)
            let spec = try ContainerRuntime.readSpec(bundle: paths.container(id))
            try complete(&record, ExitStatus(waitStatus: waitStatus), cgroup: try? containers.cgroup(of: id), spec: spec)
            if scheduleRestart(&record) { execRestartMonitor(id, lock: lock) }
            return 0
        } catch {
            fputs("swiftainer monitor: \(error)\n", Glibc.stderr)
            return 125
        }
    }

    /// The supervisor lock, waiting briefly when a reconcile holds it for a moment; nil when a
    /// live supervisor has it.
    private func takeSupervision(_ id: String) -> FileLock? {
        for _ in 0..<100 {
            if let lock = containers.takeOverSupervision(id) { return lock }
            if (try? containers.load(id))?.isRunning == true { return nil }
            usleep(20_000)
        }
        return nil
    }

    /// `start`: runs a created or exited container again, detached, in the same root
    /// filesystem (its writable layer is kept). A running container is left alone.
    public func start(_ reference: String) throws {
        try Self.requireRoot()
        containers.reconcile()
        let record = try containers.find(reference)
        if record.isRunning { return }
        clearStoppedByUser(record.id)
        try startMonitor(record)
    }

    /// `kill [-s SIGNAL]`: the signal goes to the container's init (its PID 1).
    public func kill(_ reference: String, signal: Int32) throws {
        try Self.requireRoot()
        let record = try containers.find(reference)
        // Docker's rule: a kill with the stop signal or SIGKILL is a stop, which ends the
        // restart policy; another signal (SIGHUP to reload) is not.
        if record.isRunning && (signal == SIGKILL || signal == (record.stopSignal.flatMap(Signals.parse) ?? SIGTERM)) {
            markStoppedByUser(record.id)
        }
        try signalContainer(record, signal)
        containerEvent("kill", record, ["signal": "\(signal)"])
    }

    /// Sends `signal` to the container's PID 1 through the core. A paused container keeps
    /// other signals pending until it is unpaused; SIGKILL thaws it.
    func signalContainer(_ record: ContainerRecord, _ signal: Int32) throws {
        guard record.isRunning else { throw EngineError.notRunning(record.name) }
        try containers.runtime.signal(id: record.id, signal)
    }

    /// `pause`: freezes every process of the container (the cgroup freezer); `unpause` thaws.
    public func pause(_ reference: String) throws {
        let record = try runningRecord(reference)
        try containers.runtime.pause(id: record.id)
        containerEvent("pause", record)
    }

    public func unpause(_ reference: String) throws {
        let record = try runningRecord(reference)
        try containers.runtime.resume(id: record.id)
        containerEvent("unpause", record)
    }

    private func runningRecord(_ reference: String) throws -> ContainerRecord {
        try Self.requireRoot()
        let record = try containers.find(reference)
        guard record.isRunning else { throw EngineError.notRunning(record.name) }
        return record
    }

    /// Whether a running container is paused (read from its cgroup: nothing else records it).
    public func isPaused(_ record: ContainerRecord) -> Bool {
        guard record.isRunning, let state = record.runtime else { return false }
        return containers.runtime.status(of: state) == .paused
    }

    /// `update`: new limits for a container, running or not — written to its cgroup while it
    /// runs, and always to its config.json, so the next start keeps them (as Docker does).
    /// Only what `update` names changes; memory and swap follow Docker's rules.
    public func update(_ reference: String, _ update: Resources) throws {
        try Self.requireRoot()
        let record = try containers.find(reference)
        let bundle = paths.container(record.id)
        var spec = try ContainerRuntime.readSpec(bundle: bundle)
        let current = spec.linux?.resources ?? Resources()
        let merged = current.updated(with: update)
        var applied = update
        if let memory = update.memory {
            if memory.swap == nil, let limit = memory.limit, let swap = current.memory?.swap, swap > 0, swap < limit {
                throw EngineError.invalidOption("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
            }
            if memory.swap != nil && merged.memory?.limit == nil {
                throw EngineError.invalidOption("--memory-swap needs a memory limit: give --memory too")
            }
            if let swap = merged.memory?.swap, swap > 0, let limit = merged.memory?.limit, swap < limit {
                throw EngineError.invalidOption("--memory-swap (\(swap)) must be at least --memory (\(limit)), or -1 for unlimited")
            }
            // Both halves go to the cgroup, so their order there can follow the new values.
            applied.memory = merged.memory
        }
        if record.isRunning { try containers.runtime.update(id: record.id, applied) }
        if spec.linux == nil { spec.linux = Linux() }
        spec.linux?.resources = merged
        try Files.writeAtomically(bundle + "/config.json", try JSON.encode(spec, format: .document), mode: 0o600)
    }

    /// `update --restart`: as Docker, refused with --rm (which removes the container instead).
    public func updateRestartPolicy(_ reference: String, _ policy: RestartPolicy) throws {
        try Self.requireRoot()
        let record = try containers.find(reference)
        if record.autoRemove && policy.name != .no {
            throw EngineError.invalidOption("Restart policy cannot be updated because AutoRemove is enabled for the container")
        }
        try containers.setRestartPolicy(record.id, policy.name == .no ? nil : policy)
        containerEvent("update", record)
    }

    /// `stop [-t SECONDS]`: SIGTERM, then SIGKILL when the container has not exited within the
    /// timeout (nil: the container's --stop-timeout, else Docker's 10 s). A container that is
    /// not running is already stopped.
    public func stop(_ reference: String, timeout: Double? = nil) throws {
        if let error = stop([reference], timeout: timeout).first?.error { throw error }
    }

    /// Stops several containers at once: all get SIGTERM, then SIGKILL past their timeout.
    public func stop(_ references: [String], timeout: Double? = nil) -> [(reference: String, error: Error?)] {
        var results: [(reference: String, error: Error?)] = []
        var stopping: [(index: Int, record: ContainerRecord, deadline: Double)] = []
        let start = Clock.monotonicSeconds()
        for reference in references {
            do {
                try Self.requireRoot()
                let record = try containers.find(reference)
                markStoppedByUser(record.id)
                if record.isRunning || settleRestart(record) {
                    // The image's StopSignal (nginx: SIGQUIT), else SIGTERM, as Docker does.
                    let signal = record.stopSignal.flatMap(Signals.parse) ?? SIGTERM
                    // -1: as long as the container takes (Docker's meaning, as `stop -t -1`).
                    let seconds = timeout ?? record.stopTimeout.map { $0 < 0 ? .infinity : Double($0) } ?? 10
                    DebugLog.log("stop \(record.name): signal \(signal), SIGKILL after \(seconds) s")
                    try? containers.runtime.signal(id: record.id, signal)
                    containerEvent("kill", record, ["signal": "\(signal)"])
                    stopping.append((results.count, record, start + seconds))
                }
                results.append((reference, nil))
            } catch {
                results.append((reference, error))
            }
        }
        // Earliest deadline first; each container past its own gets SIGKILL.
        for (index, record, deadline) in stopping.sorted(by: { $0.deadline < $1.deadline }) {
            if waitForExit(record.id, timeout: max(0, deadline - Clock.monotonicSeconds())) { continue }
            if let current = try? containers.load(record.id), (try? signalContainer(current, SIGKILL)) != nil {
                containerEvent("kill", current, ["signal": "\(SIGKILL)"])
            }
            if !waitForExit(record.id, timeout: 10) {
                results[index].error = EngineError.invalidOption("container \(record.name) did not exit 10 s after SIGKILL")
            }
        }
        for (index, record, _) in stopping where results[index].error == nil { containerEvent("stop", record) }
        return results
    }

    /// `restart`: stop, then start.
    public func restart(_ reference: String, timeout: Double? = nil) throws {
        try stop(reference, timeout: timeout)
        try start(reference)
    }

    /// `wait`: blocks until the container is not running and returns its exit code.
    public func wait(_ reference: String) throws -> Int32 {
        let record = try containers.find(reference)
        _ = waitForExit(record.id, timeout: nil)
        if geteuid() == 0 { containers.reconcile() }
        guard let final = try? containers.load(record.id) else {
            throw EngineError.invalidOption("container \(record.name) was removed (--rm) before its exit code could be read")
        }
        return final.exitCode ?? 0
    }

    /// Polls the record (written by the supervisor when the container exits) until the
    /// container is not running; false when `timeout` passed first. A record that is gone
    /// (removed with --rm) counts as exited.
    func waitForExit(_ id: String, timeout: Double?) -> Bool {
        let deadline = timeout.map { Clock.monotonicSeconds() + $0 }
        while true {
            guard let record = try? containers.load(id), record.isRunning else { return true }
            if let deadline, Clock.monotonicSeconds() >= deadline { return false }
            usleep(20_000)
        }
    }

    /// `logs`: the entries of the container's json-file log, the last `tail` of them when given.
    public func logs(_ reference: String, tail: Int?, follow: Bool, emit: ([LogEntry]) -> Void) throws {
        let record = try containers.find(reference)
        guard record.logConfig?.keepsLog != false else {
            throw EngineError.invalidOption("configured logging driver does not support reading")
        }
        let path = paths.log(record.id)
        var (entries, position) = try ContainerLogReader.readAll(path: path)
        if let tail { entries = Array(entries.suffix(max(0, tail))) }
        emit(entries)
        guard follow else { return }
        while true {
            let running = (try? containers.load(record.id))?.isRunning ?? false
            let (more, next) = try ContainerLogReader.read(path, from: position)
            position = next
            if !more.isEmpty { emit(more) }
            // Read once more after the container stopped: its last lines may have come after.
            if !running { return }
            usleep(100_000)
        }
    }

    /// `system prune` / `container prune`: removes every container that is not running.
    public func prune(_ filter: PruneFilter = PruneFilter()) throws -> [String] {
        try Self.requireRoot()
        containers.reconcile()
        var removed: [String] = []
        // Docker's prune takes every container that is not running, created ones too — but
        // not one being started or restarted: its supervisor lock is held.
        for candidate in containers.all() where !candidate.isRunning && filter.matches(created: candidate.created, labels: candidate.labels ?? [:]) {
            guard let supervision = containers.takeOverSupervision(candidate.id) else { continue }
            defer { supervision.unlock() }
            guard let record = try? containers.load(candidate.id), !record.isRunning, record.restarting != true else { continue }
            try containers.remove(record.id)
            containerEvent("destroy", record)
            removed.append(record.id)
        }
        return removed
    }

    /// `rename OLD NEW`: under the names lock, as create takes a name.
    public func renameContainer(_ reference: String, to newName: String) throws {
        try Self.requireRoot()
        let name = try validated(newName)
        let record = try containers.find(reference)
        try containers.rename(record.id, to: name)
        var renamed = (try? containers.load(record.id)) ?? record
        renamed.name = name
        if renamed.isRunning { renameInResolvers(renamed) }
        containerEvent("rename", renamed, ["oldName": "/" + record.name])
    }

    /// `port`: the container's published ports while it runs ("80/tcp" -> "0.0.0.0:8080"),
    /// optionally only those of one private port.
    public func publishedPorts(_ reference: String, privatePort: String?) throws -> [(key: String, host: String)] {
        let record = try containers.find(reference)
        var wanted: (port: UInt16, proto: String)?
        if let privatePort {
            let parts = privatePort.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let port = UInt16(parts[0]), port > 0, parts.count == 1 || ["tcp", "udp", "sctp"].contains(String(parts[1])) else {
                throw EngineError.invalidOption("invalid port \(Printable.escaped(privatePort)): PORT[/PROTO]")
            }
            wanted = (port, parts.count == 2 ? String(parts[1]) : "tcp")
        }
        let ports = record.isRunning ? (record.network?.ports ?? []) : []
        let shown = ports.filter { wanted == nil || ($0.containerPort == wanted!.port && $0.proto == wanted!.proto) }
        if let wanted, shown.isEmpty {
            throw EngineError.invalidOption("no public port '\(wanted.port)/\(wanted.proto)' published for \(record.name)")
        }
        return shown.map { ("\($0.containerPort)/\($0.proto)", "\($0.hostIP ?? "0.0.0.0"):\($0.hostPort)") }
    }

    /// `top`: the container's processes (host pids, from its cgroup) with their command lines.
    public func processes(_ reference: String) throws -> [(pid: pid_t, user: String, command: String)] {
        let record = try containers.find(reference)
        guard record.isRunning else { throw EngineError.notRunning(record.name) }
        // A container with a user namespace of its own (rootless keep-id): its uids, not ours.
        let owners = ownerMaps(record)
        return try containers.runtime.processes(id: record.id).map { pid in
            let raw = (try? Files.read("/proc/\(pid)/cmdline")) ?? []
            let command = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            let status = (try? Files.readString("/proc/\(pid)/status")) ?? ""
            let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?
                .split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
            return (pid, uid.map { "\(owners?.uid.inside($0) ?? $0)" } ?? "?", command)
        }
    }
}
