#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Cgroups
import JSONKit
import LinuxKit
import OCI
import Runtime

/// The container core both front ends stand on: one handle per state root for creating,
/// starting, running, signalling, pausing, updating, inspecting and deleting containers, with
/// one state layout (`ContainerState`), one liveness rule, one cgroup naming rule, and the
/// signal handling a waiting caller needs kept inside (`LaunchedContainer`).
///
/// The OCI verbs are a thin mapping onto it (CLI/OCICommands); the engine adds only Docker's
/// concerns (images, names, flags → spec, logs, network, the monitor) and uses the same calls.
public final class ContainerRuntime {
    public let stateRoot: String
    /// Compiled seccomp programs kept between runs (nil compiles every time: Docker's default
    /// profile costs ~16 ms to compile).
    public let seccompCache: String?

    public init(stateRoot: String, seccompCache: String? = nil) {
        self.stateRoot = stateRoot
        self.seccompCache = seccompCache
    }

    public func directory(_ id: String) -> String { stateRoot + "/" + id }
    func statePath(_ id: String) -> String { directory(id) + "/state.json" }
    func fifo(_ id: String) -> String { directory(id) + "/exec.fifo" }
    public func supervisorLockPath(_ id: String) -> String { directory(id) + "/supervisor.lock" }

    static func validate(id: String) throws {
        guard !id.isEmpty, id.count <= 1024, !id.contains("/"), id != ".", id != ".." else {
            throw RuntimeError("invalid container id '\(id)'")
        }
    }

    public func load(_ id: String) throws -> ContainerState {
        try Self.validate(id: id)
        guard let bytes = try? Files.read(statePath(id)) else {
            throw RuntimeError("container \(id) does not exist")
        }
        return try JSON.decode(ContainerState.self, from: bytes)
    }

    /// The state, or nil when the container has none (never created, or ended).
    public func existing(_ id: String) -> ContainerState? { try? load(id) }

    /// Written whole, never synced: the state root is tmpfs, and nothing in it outlives a reboot.
    func save(_ state: ContainerState) throws {
        try Files.writeAtomically(statePath(state.id), try JSON.encode(state), mode: 0o600, durability: .volatile)
    }

    // MARK: the cgroup rule

    /// The container's cgroup from linux.cgroupsPath, as the runtime spec reads it: an absolute
    /// path is from the cgroup root (Docker, containerd and Podman pass their parent in it:
    /// `/docker/<id>`, `/<namespace>/<id>`); a relative one is below the cgroup swiftainer
    /// runs in; none is `swiftainer-<id>` there.
    public static func cgroupPath(for spec: Spec?, id: String) throws -> String {
        let path = spec?.linux?.cgroupsPath ?? ""
        if path.contains(":") && !path.hasPrefix("/") {
            throw RuntimeError("linux.cgroupsPath '\(path)' is a systemd slice path; --systemd-cgroup is not supported")
        }
        let components = path.split(separator: "/").filter { $0 != "." }
        if components.contains("..") { throw RuntimeError("linux.cgroupsPath '\(path)' must not contain '..'") }
        if components.isEmpty { return (Rootless.isActive ? rootlessCgroupParent() : nil).map { $0 + "/swiftainer-\(id)" } ?? "swiftainer-\(id)" }
        return (path.hasPrefix("/") ? "/" : "") + components.joined(separator: "/")
    }

    /// Rootless on cgroup v2, the subtree delegated to the user is the parent of the group it
    /// runs in (systemd's shape: user@UID.service is delegated, processes live in leaves
    /// below it). Containers go beside the user's group, there: a group that holds processes
    /// cannot hand controllers down to children. Nil when nothing is delegated.
    static func rootlessCgroupParent() -> String? {
        guard let layout = try? CgroupLayout.detect(), layout.usesUnified, let unified = layout.unified, unified.ownPath != "/" else { return nil }
        let parent = Files.dirname(of: unified.ownPath)
        let directory = unified.mountPoint + (parent == "/" ? "" : parent)
        guard access(directory, W_OK) == 0, access(directory + "/cgroup.procs", W_OK) == 0, access(directory + "/cgroup.subtree_control", W_OK) == 0 else {
            return nil
        }
        return parent == "/" ? "" : parent
    }

    public static func cgroup(at relativePath: String) throws -> ContainerCgroup {
        do {
            return ContainerCgroup(layout: try CgroupLayout.detect(), relativePath: relativePath)
        } catch {
            throw RuntimeError("cannot read this host's cgroup layout: \(error)")
        }
    }

    /// Rootless, a container gets a cgroup only where the user was given a subtree: cgroup v2
    /// with the parent of the container's group writable by the user (the delegated subtree,
    /// see rootlessCgroupParent; systemd's Delegate=yes, or a chown). Elsewhere it has none
    /// (as Podman's rootless containers on cgroup v1), and a limit is refused with the reason.
    static func rootlessCgroup(at relativePath: String, spec: Spec) throws -> ContainerCgroup? {
        let layout: CgroupLayout
        do { layout = try CgroupLayout.detect() } catch { throw RuntimeError("cannot read this host's cgroup layout: \(error)") }
        // A path in the delegated subtree (see rootlessCgroupParent), or one an OCI caller
        // chose whose parent the user can write.
        if layout.usesUnified, let unified = layout.unified {
            let absolute = relativePath.hasPrefix("/") ? relativePath : (unified.ownPath == "/" ? "" : unified.ownPath) + "/" + relativePath
            if access(unified.mountPoint + Files.dirname(of: absolute), W_OK) == 0 {
                return ContainerCgroup(layout: layout, relativePath: relativePath)
            }
        }
        if let resources = spec.linux?.resources, let limit = limitsAsked(resources) {
            let why = layout.usesUnified ? "cgroup v2 here, but the group swiftainer runs in is not delegated to you"
                : "this host's controllers are on cgroup v1, which only root can use"
            throw RuntimeError("rootless: \(limit) needs a cgroup: \(why) (cgroup v2 with a delegated subtree is what rootless limits need)")
        }
        return nil
    }

    /// The first limit `resources` asks for, named for the error; device rules are no limit
    /// (rootless, the devices a container can open are the bind-mounted ones).
    static func limitsAsked(_ resources: Resources) -> String? {
        if resources.memory != nil { return "a memory limit" }
        if resources.cpu != nil { return "a CPU limit" }
        if resources.pids != nil { return "a pids limit" }
        if resources.blockIO != nil { return "a block I/O limit" }
        if !(resources.hugepageLimits ?? []).isEmpty || !(resources.unified ?? [:]).isEmpty || resources.network != nil || resources.rdma != nil {
            return "a cgroup limit"
        }
        return nil
    }

    /// The cgroup a container's state names.
    public func cgroup(of state: ContainerState) -> ContainerCgroup? { try? Self.cgroup(at: state.cgroupPath) }

    /// The cgroup of `id`: where its state says, or — with no state (a reboot took it, or the
    /// create was interrupted) — where the rule puts a container without a cgroupsPath.
    public func cgroup(ofID id: String) throws -> ContainerCgroup {
        try Self.cgroup(at: existing(id)?.cgroupPath ?? Self.cgroupPath(for: nil, id: id))
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

    /// Claims `id`: its state directory made, before any process exists; an id with state is
    /// refused. `keepingDirectory`: the directory may exist already without state — the
    /// engine's, which keeps its supervisor lock there across runs (its ids are unique under the
    /// engine's names lock). The state itself is written once, by `create`, when there is a
    /// process to record.
    public func claim(id: String, keepingDirectory: Bool = false) throws {
        try Self.validate(id: id)
        try Files.makeDirectories(stateRoot, mode: 0o700)
        if mkdir(directory(id), 0o700) != 0 {
            guard errno == EEXIST else { throw RuntimeError("\(SystemError.last("mkdir", directory(id)))") }
            guard keepingDirectory, !Files.exists(statePath(id)) else { throw RuntimeError("container \(id) already exists") }
        }
    }

    /// How a created container's process is let go.
    public enum StartMode {
        /// OCI create: the init outlives this process and waits on `exec.fifo` for `start`;
        /// the pty goes to `consoleSocket` when process.terminal asks for one.
        case onFifo(consoleSocket: String?)
        /// The caller stays, starts it (`LaunchedContainer.start`) and waits for it.
        case byCaller
    }

    public struct CreateRequest {
        public var id: String
        public var bundle: String
        public var spec: Spec
        public var start: StartMode
        public var stdin: StandardInput = .inherit
        /// Raw fds for the container's stdout and stderr; nil inherits ours.
        public var stdout: Int32?
        public var stderr: Int32?
        public var noPivot = false
        public var pidFile: String?
        /// The state directory outlives this run (see `claim`): on failure only the state goes.
        public var keepsStateDirectory = false
        /// --preserve-fds N: this process's fds 3 .. 3+N-1 reach the container process.
        public var preservedFDs = 0

        public init(id: String, bundle: String, spec: Spec, start: StartMode) {
            self.id = id
            self.bundle = bundle
            self.spec = spec
            self.start = start
        }
    }

    /// Claims the id, clones the init into the container's cgroup and records it (one write of
    /// `state.json`). On failure nothing is left: no process, no cgroup, no state — and no
    /// state directory unless the request keeps it.
    public func create(_ request: CreateRequest) throws -> LaunchedContainer {
        let id = request.id
        var state = ContainerState(id: id, bundle: request.bundle, created: Clock.rfc3339(), annotations: request.spec.annotations,
                                   cgroupPath: try Self.cgroupPath(for: request.spec, id: id))
        try claim(id: id, keepingDirectory: request.keepsStateDirectory)
        var launched: LaunchedContainer?
        let onFifo: Bool
        var consoleSocket: String?
        switch request.start {
        case .onFifo(let socket): (onFifo, consoleSocket) = (true, socket)
        case .byCaller: onFifo = false
        }
        do {
            let spec = request.spec
            if onFifo {
                if spec.process?.terminal == true && consoleSocket == nil {
                    throw RuntimeError("process.terminal is true but no --console-socket was given")
                }
                try check(mkfifo(fifo(id), 0o600), "mkfifo", fifo(id))
                // In a user namespace the init writes to it as the host id of the container's root.
                if spec.linux?.namespaces?.contains(where: { $0.type == "user" && $0.path == nil }) == true,
                   let uid = spec.linux?.uidMappings?.first(where: { $0.containerID == 0 })?.hostID,
                   let gid = spec.linux?.gidMappings?.first(where: { $0.containerID == 0 })?.hostID {
                    try check(chown(fifo(id), uid, gid), "chown", fifo(id))
                }
            }
            let cgroup = try Rootless.isActive ? Self.rootlessCgroup(at: state.cgroupPath, spec: spec) : Self.cgroup(at: state.cgroupPath)
            var launch = LaunchRequest(
                containerID: id, bundle: request.bundle, spec: spec, stdin: request.stdin, noPivot: request.noPivot,
                debug: DebugLog.enabled, cgroup: cgroup, seccompCache: seccompCache,
                startFifo: onFifo ? fifo(id) : nil, stdout: request.stdout, stderr: request.stderr)
            launch.blocksHandledSignals = !onFifo
            launch.preservedFDs = request.preservedFDs
            let created = try LaunchedContainer.launch(launch, cgroup: cgroup)
            launched = created
            if let console = created.consoleMaster, let consoleSocket {
                try Console.send(console, to: consoleSocket)
            }
            state.process = ProcessIdentity.of(created.pid)
            if !onFifo { state.supervisor = ProcessIdentity.of(getpid()) }
            try save(state)
            if let pidFile = request.pidFile { try Files.writeAtomically(Files.absolute(pidFile), "\(created.pid)", durability: .volatile) }
            if onFifo { try created.commit() }
            return created
        } catch {
            // A launch that got as far as a process also got its cgroup (Launcher removes it
            // only when it fails itself).
            launched?.abandon()
            launched?.cgroup?.destroy()
            if request.keepsStateDirectory {
                unlink(statePath(id))
                unlink(fifo(id))
            } else {
                try? Files.removeTree(directory(id))
            }
            throw error
        }
    }

    /// runc's `run` flags.
    public struct RunOptions {
        public var noPivot = false
        public var pidFile: String?
        /// Keep the stopped container (state, cgroup) until `delete`, which runs poststop.
        public var keep = false
        /// Create and start, then return: the container outlives this command.
        public var detach = false
        public var consoleSocket: String?
        public var preservedFDs = 0

        public init() {}
    }

    /// `run --bundle`: create and start in the foreground and wait, like `runc run`; the state
    /// exists while it runs, so `state`, `kill` and `ps` work on it.
    public func run(id: String, bundle: String, _ options: RunOptions = RunOptions()) throws -> Int32 {
        let bundle = Files.absolute(bundle)
        let spec = try Self.readSpec(bundle: bundle)
        try SpecValidation.check(spec)
        if options.detach {
            var request = CreateRequest(id: id, bundle: bundle, spec: spec, start: .onFifo(consoleSocket: options.consoleSocket))
            request.noPivot = options.noPivot
            request.pidFile = options.pidFile
            request.preservedFDs = options.preservedFDs
            _ = try create(request)
            try start(id: id)
            return 0
        }
        var request = CreateRequest(id: id, bundle: bundle, spec: spec, start: .byCaller)
        request.noPivot = options.noPivot
        request.pidFile = options.pidFile
        request.preservedFDs = options.preservedFDs
        let container = try create(request)
        defer { if !options.keep { release(id, removingState: true) } }
        try container.start()
        HookRunner.runReportingFailures(spec.hooks?.poststart, phase: "poststart",
                                        state: State(id: id, status: .running, pid: container.pid, bundle: bundle, annotations: spec.annotations))
        defer {
            // Kept, the container is deleted later: poststop runs then.
            if !options.keep {
                HookRunner.runReportingFailures(spec.hooks?.poststop, phase: "poststop",
                                                state: State(id: id, status: .stopped, pid: 0, bundle: bundle, annotations: spec.annotations))
            }
        }
        let terminal = spec.process?.terminal == true ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        return try container.wait(relayInput: true).code
    }

    /// Every container with state under this root (runc's `list`), by id.
    public func list() -> [ContainerState] {
        ((try? Files.listDirectory(stateRoot)) ?? []).sorted().compactMap(existing)
    }

    // MARK: start, state, signal, pause, update, delete

    /// OCI start: opens the FIFO the init waits on; what the init wrote there before its exec
    /// (nothing, or "CODE message") is the outcome.
    public func start(id: String) throws {
        let state = try load(id)
        guard Files.exists(fifo(id)) else { throw RuntimeError("container \(id) is not in the created state") }
        guard state.isAlive else { throw RuntimeError("container \(id) is stopped") }
        let reader = try FileDescriptor.open(fifo(id), O_RDONLY)
        unlink(fifo(id))
        let report = String(decoding: try reader.readAll(), as: UTF8.self)
        if !report.isEmpty {
            let code = Int32(report.prefix { $0 != " " }) ?? 125
            throw RuntimeError(String(report.drop { $0 != " " }.dropFirst()), exitCode: code)
        }
        let spec = try? Self.readSpec(bundle: state.bundle)
        HookRunner.runReportingFailures(spec?.hooks?.poststart, phase: "poststart",
                                        state: State(id: id, status: .running, pid: state.process?.pid ?? 0, bundle: state.bundle, annotations: state.annotations))
    }

    /// created until `start` opened the FIFO, paused while the cgroup is frozen.
    public func status(of state: ContainerState) -> State.Status {
        guard state.isAlive else { return .stopped }
        if state.process == nil || Files.exists(fifo(state.id)) { return .created }
        return cgroup(of: state)?.isFrozen == true ? .paused : .running
    }

    public func state(id: String) throws -> State {
        let state = try load(id)
        let status = status(of: state)
        return State(id: id, status: status, pid: status == .stopped ? 0 : state.process?.pid ?? 0, bundle: state.bundle, annotations: state.annotations)
    }

    /// The signal goes to the init, or with `all` to every process of the container. SIGKILL
    /// thaws a paused container: frozen tasks on cgroup v1 cannot die.
    public func signal(id: String, _ signal: Int32, all: Bool = false) throws {
        let state = try load(id)
        guard let pid = state.livePid else { throw RuntimeError("container \(id) is not running") }
        let targets = all ? (cgroup(of: state)?.processes() ?? [pid]) : [pid]
        for target in targets { try check(Glibc.kill(target, signal), "kill", "container \(id) (pid \(target))") }
        if signal == SIGKILL, let cgroup = cgroup(of: state), cgroup.isFrozen { try? cgroup.thaw() }
    }

    /// The cgroup of a container for what only a cgroup can do (freeze, thaw, new limits).
    /// Rootless, a container may have none (see rootlessCgroup): said so, not a missing file.
    private func liveCgroup(_ state: ContainerState, for verb: String) throws -> ContainerCgroup {
        guard let cgroup = cgroup(of: state) else { throw RuntimeError("\(verb) \(state.id): cannot read this host's cgroup layout") }
        if Rootless.isActive && !cgroup.exists {
            throw RuntimeError("rootless: container \(state.id) has no cgroup to \(verb) (this host's controllers are on cgroup v1, which only root can use, or cgroup v2 is not delegated to you)")
        }
        return cgroup
    }

    /// The container can be frozen: it has a cgroup (rootless, it may not).
    public func canFreeze(id: String) -> Bool {
        guard let state = existing(id), let cgroup = cgroup(of: state) else { return false }
        return !Rootless.isActive || cgroup.exists
    }

    /// Freezes every process of the container (the cgroup freezer); `resume` thaws.
    public func pause(id: String) throws {
        let state = try load(id)
        switch status(of: state) {
        case .running: break
        case .paused: throw RuntimeError("container \(id) is already paused")
        default: throw RuntimeError("container \(id) is not running")
        }
        let cgroup = try liveCgroup(state, for: "pause")
        do { try cgroup.freeze() } catch { throw RuntimeError("pause \(id): \(error)") }
    }

    public func resume(id: String) throws {
        let state = try load(id)
        guard status(of: state) == .paused else { throw RuntimeError("container \(id) is not paused") }
        let cgroup = try liveCgroup(state, for: "resume")
        do { try cgroup.thaw() } catch { throw RuntimeError("resume \(id): \(error)") }
    }

    /// New limits for a created, running or paused container (runc's `update`): written to its
    /// cgroup, where only what `resources` names changes.
    public func update(id: String, _ resources: Resources) throws {
        let state = try load(id)
        guard state.isAlive else { throw RuntimeError("container \(id) is not running") }
        let cgroup = try liveCgroup(state, for: "update")
        do { try cgroup.update(resources) } catch { throw RuntimeError("update \(id): \(error)") }
    }

    /// Pids of the container's processes (from its cgroup), sorted; none once it stopped.
    public func processes(id: String) throws -> [pid_t] {
        let state = try load(id)
        guard let pid = state.livePid else { return [] }
        // Rootless without a cgroup: the init and what descends from it.
        guard let cgroup = cgroup(of: state), !Rootless.isActive || cgroup.exists else { return Self.processTree(pid).sorted() }
        return cgroup.processes().sorted()
    }

    /// `pid` and its descendants, from /proc/PID/task/TID/children.
    static func processTree(_ pid: pid_t) -> [pid_t] {
        var result: [pid_t] = []
        var pending = [pid]
        while let next = pending.popLast(), result.count < 100_000 {
            result.append(next)
            for task in (try? Files.listDirectory("/proc/\(next)/task")) ?? [] {
                let children = (try? Files.readString("/proc/\(next)/task/\(task)/children")) ?? ""
                pending += children.split(separator: " ").compactMap { pid_t($0) }
            }
        }
        return result
    }

    /// The end of one run of a container: its cgroup destroyed and its state gone, the state
    /// directory too unless the caller keeps it for the next run (the engine's containers keep
    /// their supervisor lock there until they are removed).
    public func release(_ id: String, removingState: Bool) {
        (try? cgroup(ofID: id))?.destroy()
        if removingState {
            try? Files.removeTree(directory(id))
        } else {
            unlink(statePath(id))
            unlink(fifo(id))
        }
    }

    /// OCI delete: a running container is refused unless `force`, which kills it first.
    public func delete(id: String, force: Bool) throws {
        let state: ContainerState
        do { state = try load(id) } catch {
            // As runc: --force on an id without state succeeds, after removing whatever an
            // interrupted create left (containerd's shim deletes once more when it cleans up).
            guard force else { throw error }
            try Self.validate(id: id)
            try? Files.removeTree(directory(id))
            return
        }
        let alive = state.isAlive
        if alive && !Files.exists(fifo(id)) && !force {
            throw RuntimeError("container \(id) is running: stop it first or use delete --force")
        }
        if alive, let process = state.process {
            _ = Glibc.kill(process.pid, SIGKILL)
            if let cgroup = cgroup(of: state), cgroup.isFrozen { try? cgroup.thaw() }
            // Not our child: wait until whoever reaps it has (or it is a zombie), up to 10 s.
            for _ in 0..<1000 where process.isAlive { usleep(10_000) }
        }
        let spec = try? Self.readSpec(bundle: state.bundle)
        release(id, removingState: true)
        HookRunner.runReportingFailures(spec?.hooks?.poststop, phase: "poststop",
                                        state: State(id: id, status: .stopped, pid: 0, bundle: state.bundle, annotations: state.annotations))
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
