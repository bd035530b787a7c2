#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Cgroups
import JSONKit
import LinuxKit
import OCI

/// What the OCI command line keeps per container: <stateRoot>/<id>/state.json (+ exec.fifo
/// while the container is created but not started).
public struct OCIContainerRecord: Codable {
    public var id: String
    public var pid: Int32
    public var pidStartTime: UInt64
    public var bundle: String
    public var created: String
    public var annotations: [String: String]?
    public var cgroupPath: String
}

/// The runtime-spec command line (create, start, state, kill, delete) over the same Launcher
/// that `swiftainer run` uses.
public final class OCIRuntime {
    public let stateRoot: String

    public init(stateRoot: String) { self.stateRoot = stateRoot }

    func directory(_ id: String) -> String { stateRoot + "/" + id }
    func fifo(_ id: String) -> String { directory(id) + "/exec.fifo" }

    static func validate(id: String) throws {
        guard !id.isEmpty, id.count <= 1024, !id.contains("/"), id != ".", id != ".." else {
            throw RuntimeError("invalid container id '\(id)'")
        }
    }

    public func load(_ id: String) throws -> OCIContainerRecord {
        try Self.validate(id: id)
        guard let bytes = try? Files.read(directory(id) + "/state.json") else {
            throw RuntimeError("container \(id) does not exist")
        }
        return try JSON.decode(OCIContainerRecord.self, from: bytes)
    }

    /// The container's cgroup from linux.cgroupsPath, always below the cgroup swiftainer runs in:
    /// an absolute path is read as if from a cgroup namespace rooted there. Where swiftainer
    /// runs at the root (most hosts, the VM tests) that is exactly runc's reading; where it runs
    /// inside a cgroup that belongs to someone else, it never creates groups above it.
    static func cgroup(for spec: Spec, id: String) throws -> (ContainerCgroup, path: String) {
        let layout = try CgroupLayout.detect()
        let path = spec.linux?.cgroupsPath ?? ""
        if path.contains(":") && !path.hasPrefix("/") {
            throw RuntimeError("linux.cgroupsPath '\(path)' is a systemd slice path; --systemd-cgroup is not supported")
        }
        let components = path.split(separator: "/").filter { $0 != "." }
        if components.contains("..") { throw RuntimeError("linux.cgroupsPath '\(path)' must not contain '..'") }
        let relative = components.isEmpty ? "swiftainer-\(id)" : components.joined(separator: "/")
        return (ContainerCgroup(layout: layout, relativePath: relative), relative)
    }

    func cgroup(of record: OCIContainerRecord) -> ContainerCgroup? {
        guard let layout = try? CgroupLayout.detect() else { return nil }
        return ContainerCgroup(layout: layout, relativePath: record.cgroupPath)
    }

    public static func readSpec(bundle: String) throws -> Spec {
        let path = bundle + "/config.json"
        guard let bytes = try? Files.read(path) else { throw RuntimeError("bundle \(bundle): cannot read config.json") }
        do {
            return try JSON.decode(Spec.self, from: bytes)
        } catch {
            throw RuntimeError("\(path): \(JSON.describe(error))")
        }
    }

    // MARK: create

    /// Validates the id and the bundle (and whatever `check` adds), then claims the id by
    /// creating its state directory: what `create` and `run --bundle` both start with.
    private func makeStateDirectory(id: String, bundle: String, check: (Spec) throws -> Void = { _ in }) throws -> (bundle: String, spec: Spec) {
        try Self.validate(id: id)
        let bundle = absolute(bundle)
        let spec = try Self.readSpec(bundle: bundle)
        try SpecValidation.check(spec)
        try check(spec)
        try Files.makeDirectories(stateRoot, mode: 0o700)
        guard mkdir(directory(id), 0o700) == 0 else {
            throw RuntimeError(errno == EEXIST ? "container \(id) already exists" : "\(SystemError.last("mkdir", directory(id)))")
        }
        return (bundle, spec)
    }

    private func writeRecord(id: String, pid: pid_t, bundle: String, spec: Spec, cgroupPath: String) throws {
        let record = OCIContainerRecord(
            id: id, pid: pid, pidStartTime: ProcessInfoLinux.startTime(of: pid) ?? 0, bundle: bundle,
            created: Clock.rfc3339(), annotations: spec.annotations, cgroupPath: cgroupPath)
        try Files.writeAtomically(directory(id) + "/state.json", try JSON.encode(record), mode: 0o600)
    }

    public func create(id: String, bundle: String, pidFile: String?, consoleSocket: String?, noPivot: Bool) throws {
        let (bundle, spec) = try makeStateDirectory(id: id, bundle: bundle) { spec in
            if spec.process?.terminal == true && consoleSocket == nil {
                throw RuntimeError("process.terminal is true but no --console-socket was given")
            }
        }
        do {
            try check(mkfifo(fifo(id), 0o600), "mkfifo", fifo(id))
            // In a user namespace the init writes to it as the host id of the container's root.
            if spec.linux?.namespaces?.contains(where: { $0.type == "user" && $0.path == nil }) == true,
               let uid = spec.linux?.uidMappings?.first(where: { $0.containerID == 0 })?.hostID,
               let gid = spec.linux?.gidMappings?.first(where: { $0.containerID == 0 })?.hostID {
                try check(chown(fifo(id), uid, gid), "chown", fifo(id))
            }
            let (cgroup, cgroupPath) = try Self.cgroup(for: spec, id: id)
            let created = try Launcher.create(LaunchRequest(
                containerID: id, bundle: bundle, spec: spec, stdin: .inherit, noPivot: noPivot, debug: DebugLog.enabled,
                cgroup: cgroup, startFifo: fifo(id)))
            do {
                if let console = created.consoleMaster, let consoleSocket {
                    try sendConsole(console, to: consoleSocket)
                }
                try writeRecord(id: id, pid: created.pid, bundle: bundle, spec: spec, cgroupPath: cgroupPath)
                if let pidFile { try Files.writeAtomically(absolute(pidFile), "\(created.pid)") }
                try created.channel.send(.committed)
            } catch {
                created.kill()
                cgroup.destroy()
                throw error
            }
        } catch {
            try? Files.removeTree(directory(id))
            throw error
        }
    }

    /// Hands the pty master to whoever listens on the console socket (SCM_RIGHTS), as runc does.
    func sendConsole(_ master: FileDescriptor, to path: String) throws {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw SystemError.last("socket", path) }
        let connection = FileDescriptor(socket)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw RuntimeError("console socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(connection.raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try check(rc, "connect", path)
        let name = Array("console".utf8)
        guard name.withUnsafeBytes({ sw_send_fd(connection.raw, master.raw, $0.baseAddress, $0.count) }) >= 0 else {
            throw SystemError.last("sendmsg", path)
        }
    }

    /// `run --bundle`: create and start in the foreground and wait, like `runc run`; the state
    /// exists while it runs, so `state`, `kill` and `ps` work on it.
    public func run(id: String, bundle: String, noPivot: Bool) throws -> Int32 {
        let (bundle, spec) = try makeStateDirectory(id: id, bundle: bundle)
        defer { try? Files.removeTree(directory(id)) }
        let (cgroup, cgroupPath) = try Self.cgroup(for: spec, id: id)
        defer { cgroup.destroy() }
        defer { ProcessMonitor.unblockHandledSignals() }
        var launch = LaunchRequest(containerID: id, bundle: bundle, spec: spec, stdin: .inherit, noPivot: noPivot, debug: DebugLog.enabled, cgroup: cgroup)
        launch.blocksHandledSignals = true
        let created = try Launcher.create(launch)
        try writeRecord(id: id, pid: created.pid, bundle: bundle, spec: spec, cgroupPath: cgroupPath)
        try created.start()
        HookRunner.runReportingFailures(spec.hooks?.poststart, phase: "poststart",
                                        state: State(id: id, status: .running, pid: created.pid, bundle: bundle, annotations: spec.annotations))
        defer {
            HookRunner.runReportingFailures(spec.hooks?.poststop, phase: "poststop",
                                            state: State(id: id, status: .stopped, pid: 0, bundle: bundle, annotations: spec.annotations))
        }
        let terminal = spec.process?.terminal == true ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        return try ProcessMonitor.wait(pid: created.pid, console: created.consoleMaster, relayInput: true).code
    }

    // MARK: start, state, kill, delete

    public func start(id: String) throws {
        let record = try load(id)
        guard Files.exists(fifo(id)) else { throw RuntimeError("container \(id) is not in the created state") }
        guard ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime) else {
            throw RuntimeError("container \(id) is stopped")
        }
        let reader = try FileDescriptor.open(fifo(id), O_RDONLY)
        unlink(fifo(id))
        // The init writes nothing before a successful exec (close-on-exec ends the read), or
        // "CODE message" when it failed.
        let report = String(decoding: try reader.readAll(), as: UTF8.self)
        if !report.isEmpty {
            let code = Int32(report.prefix { $0 != " " }) ?? 125
            throw RuntimeError(String(report.drop { $0 != " " }.dropFirst()), exitCode: code)
        }
        let spec = try? Self.readSpec(bundle: record.bundle)
        HookRunner.runReportingFailures(spec?.hooks?.poststart, phase: "poststart",
                                        state: State(id: id, status: .running, pid: record.pid, bundle: record.bundle, annotations: record.annotations))
    }

    public func state(id: String) throws -> State {
        let record = try load(id)
        let status = status(of: record, cgroup: cgroup(of: record))
        return State(id: id, status: status, pid: status == .stopped ? 0 : record.pid, bundle: record.bundle, annotations: record.annotations)
    }

    /// created until `start` opened the FIFO, paused while the cgroup is frozen.
    private func status(of record: OCIContainerRecord, cgroup: @autoclosure () -> ContainerCgroup?) -> State.Status {
        guard ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime) else { return .stopped }
        if Files.exists(fifo(record.id)) { return .created }
        return cgroup()?.isFrozen == true ? .paused : .running
    }

    public func kill(id: String, signal: Int32, all: Bool) throws {
        let record = try load(id)
        guard ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime) else {
            throw RuntimeError("container \(id) is not running")
        }
        let targets = all ? (cgroup(of: record)?.processes() ?? [record.pid]) : [record.pid]
        for pid in targets { try check(Glibc.kill(pid, signal), "kill", "\(pid)") }
        // Frozen tasks on cgroup v1 cannot die: SIGKILL thaws a paused container.
        if signal == SIGKILL, let cgroup = cgroup(of: record), cgroup.isFrozen { try? cgroup.thaw() }
    }

    /// `pause ID` / `resume ID` (runc's verbs): freeze and thaw the container's cgroup.
    public func pause(id: String) throws {
        let record = try load(id)
        let cgroup = cgroup(of: record)
        guard status(of: record, cgroup: cgroup) == .running else { throw RuntimeError("container \(id) is not running") }
        guard let cgroup else { throw RuntimeError("container \(id): cannot read this host's cgroup layout") }
        do { try cgroup.freeze() } catch { throw RuntimeError("pause \(id): \(error)") }
    }

    public func resume(id: String) throws {
        let record = try load(id)
        let cgroup = cgroup(of: record)
        guard status(of: record, cgroup: cgroup) == .paused, let cgroup else { throw RuntimeError("container \(id) is not paused") }
        do { try cgroup.thaw() } catch { throw RuntimeError("resume \(id): \(error)") }
    }

    /// Pids of the container's processes (from its cgroup), as `runc ps --format json` lists them.
    public func processes(id: String) throws -> [pid_t] {
        let record = try load(id)
        guard ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime) else { return [] }
        return (cgroup(of: record)?.processes() ?? [record.pid]).sorted()
    }

    /// The runtime-spec `features` document (features.md): what this runtime understands.
    public static func features() -> Features {
        Features(
            ociVersionMin: "1.0.0", ociVersionMax: Spec.version,
            hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            mountOptions: MountOptions.flagOptions.keys.sorted() + MountOptions.propagationOptions.keys.sorted() + ["bind", "rbind"],
            linux: Features.Linux(
                namespaces: ["pid", "network", "mount", "ipc", "uts", "cgroup", "user"],
                capabilities: CapabilityNames.all,
                cgroup: Features.Cgroup(v1: true, v2: true, systemd: false, systemdUser: false),
                seccomp: Features.Seccomp(
                    enabled: true,
                    actions: ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                              "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                    operators: ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"])))
    }

    public func delete(id: String, force: Bool) throws {
        let record: OCIContainerRecord
        do { record = try load(id) } catch {
            // As runc: --force on an id without state succeeds, after removing whatever an
            // interrupted create left (containerd's shim deletes once more when it cleans up).
            guard force else { throw error }
            try Self.validate(id: id)
            try? Files.removeTree(directory(id))
            return
        }
        let alive = ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime)
        if alive && !Files.exists(fifo(id)) && !force {
            throw RuntimeError("container \(id) is running: stop it first or use delete --force")
        }
        if alive {
            _ = Glibc.kill(record.pid, SIGKILL)
            if let cgroup = cgroup(of: record), cgroup.isFrozen { try? cgroup.thaw() }
            // Not our child: wait until whoever reaps it has (or it is a zombie), up to 10 s.
            for _ in 0..<1000 where ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime) { usleep(10_000) }
        }
        cgroup(of: record)?.destroy()
        let spec = try? Self.readSpec(bundle: record.bundle)
        try Files.removeTree(directory(id))
        HookRunner.runReportingFailures(spec?.hooks?.poststop, phase: "poststop",
                                        state: State(id: id, status: .stopped, pid: 0, bundle: record.bundle, annotations: record.annotations))
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : ProcessInfoLinux.currentDirectory + "/" + path
    }
}

/// features.md's document, the parts swiftainer fills in.
public struct Features: Codable, Equatable {
    public struct Cgroup: Codable, Equatable { public var v1, v2, systemd, systemdUser: Bool }
    public struct Seccomp: Codable, Equatable {
        public var enabled: Bool
        public var actions: [String]
        public var operators: [String]
    }
    public struct Linux: Codable, Equatable {
        public var namespaces: [String]
        public var capabilities: [String]
        public var cgroup: Cgroup
        public var seccomp: Seccomp
    }
    public var ociVersionMin: String
    public var ociVersionMax: String
    public var hooks: [String]
    public var mountOptions: [String]
    public var linux: Linux
}
