#if canImport(Glibc)
import Glibc
#endif
import CLinux
import JSONKit
import LinuxKit
import Cgroups
import OCI
import Seccomp

/// Where the container process's standard streams come from.
public enum StandardInput: Sendable, Equatable {
    case inherit        // the caller's stdin (docker run -i)
    case null           // /dev/null (no -i)
    case descriptor(Int32) // this fd (a detached -i container: a pipe its monitor keeps open)
}

public struct LaunchRequest {
    public var containerID: String
    public var bundle: String
    public var spec: Spec
    public var stdin: StandardInput
    public var noPivot: Bool
    public var debug: Bool
    /// Where the container's limits go; the init is placed in it before it runs anything.
    public var cgroup: ContainerCgroup?
    /// Where compiled seccomp programs are kept between runs; nil compiles every time.
    public var seccompCache: String?
    /// OCI create: the init outlives this process and waits on this FIFO for `start`.
    public var startFifo: String?
    /// Where the container's stdout and stderr go (raw fds, dup'ed into the child); nil
    /// inherits ours. The detached monitor passes pipes here and logs what comes out.
    public var stdout: Int32?
    public var stderr: Int32?
    /// True for a process joining a running container (exec): its cgroup exists and belongs
    /// to the container, so it is joined, never limited again or destroyed on failure.
    public var joinsExistingCgroup = false
    /// The container process keeps running when the caller exits (OCI create, exec --detach):
    /// no parent-death signal. Otherwise it dies with the caller (PR_SET_PDEATHSIG=SIGKILL).
    public var outlivesCaller = false
    /// The caller waits for the container with ProcessMonitor: `create` blocks its handled
    /// signals once the seccomp program is compiled, before the clone (the child unblocks them).
    public var blocksHandledSignals = false
    /// --preserve-fds: the caller's fds 3 .. 3+N-1 become the container process's 3 .. 3+N-1.
    public var preservedFDs = 0

    public init(containerID: String, bundle: String, spec: Spec, stdin: StandardInput = .null, noPivot: Bool = false,
                debug: Bool = false, cgroup: ContainerCgroup? = nil, seccompCache: String? = nil, startFifo: String? = nil,
                stdout: Int32? = nil, stderr: Int32? = nil, joinsExistingCgroup: Bool = false) {
        self.stdout = stdout
        self.stderr = stderr
        self.joinsExistingCgroup = joinsExistingCgroup
        self.cgroup = cgroup
        self.seccompCache = seccompCache
        self.startFifo = startFifo
        self.containerID = containerID
        self.bundle = bundle
        self.spec = spec
        self.stdin = stdin
        self.noPivot = noPivot
        self.debug = debug
    }
}

/// A container whose init has set up everything and waits for `start()`.
public final class CreatedContainer {
    public let pid: pid_t
    public let channel: SyncChannel
    /// The console's master side when process.terminal is true.
    public let consoleMaster: FileDescriptor?
    private var reaped = false

    init(pid: pid_t, channel: SyncChannel, consoleMaster: FileDescriptor?) {
        self.pid = pid
        self.channel = channel
        self.consoleMaster = consoleMaster
    }

    /// Lets the init exec the container process; returns once exec succeeded, or throws the
    /// init's error (126/127 for a command that cannot run).
    public func start() throws {
        try channel.send(.start)
        switch try channel.receive() {
        case nil:
            return // close-on-exec closed the init's end: the process is running
        case (.failed(let code, let message), _)?:
            reap()
            throw RuntimeError(message, exitCode: code)
        case (let other, _)?:
            kill()
            throw RuntimeError("unexpected message from the container's init after start: \(other)")
        }
    }

    /// Kills and reaps the init (used when creation fails half-way).
    public func kill() {
        // Once reaped, the pid may already name another process.
        guard !reaped else { return }
        _ = Glibc.kill(pid, SIGKILL)
        reap()
    }

    private func reap() {
        guard !reaped else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
    }
}

public enum Launcher {
    /// The namespaces a spec asks to create, as clone(2) flags. Namespaces with a `path` are
    /// joined instead: the pid namespace by this process just around the clone (setns on a
    /// pid namespace only affects children), the others by the init (see JoinedNamespaces).
    public static func cloneFlags(for spec: Spec) throws -> Int32 {
        var flags: Int32 = 0
        for namespace in spec.linux?.namespaces ?? [] {
            if namespace.path != nil {
                guard JoinedNamespaces.procName(namespace.type) != nil else {
                    throw RuntimeError("linux.namespaces: joining a \(namespace.type) namespace by path is not supported")
                }
                continue
            }
            switch namespace.type {
            case "pid": flags |= Int32(SW_CLONE_NEWPID)
            case "network": flags |= Int32(SW_CLONE_NEWNET)
            case "mount": flags |= Int32(SW_CLONE_NEWNS)
            case "ipc": flags |= Int32(SW_CLONE_NEWIPC)
            case "uts": flags |= Int32(SW_CLONE_NEWUTS)
            case "cgroup": flags |= Int32(SW_CLONE_NEWCGROUP)
            case "user": flags |= Int32(SW_CLONE_NEWUSER)
            default: throw RuntimeError("linux.namespaces: unknown namespace type '\(namespace.type)'")
            }
        }
        return flags
    }

    /// Clones `/proc/self/exe init` into new namespaces and runs the setup handshake. The
    /// caller should have blocked the signals it wants to handle: the child unblocks them.
    public static func create(_ request: LaunchRequest) throws -> CreatedContainer {
        let spec = request.spec
        try SpecValidation.check(spec)
        guard let rootPath = spec.root?.path else { throw RuntimeError("config.json: root.path is required") }
        let rootfs = rootPath.hasPrefix("/") ? rootPath : request.bundle + "/" + rootPath
        guard Files.isDirectory(rootfs) else { throw RuntimeError("root filesystem \(rootfs) is not a directory") }
        let flags = try cloneFlags(for: spec)
        let listenerPath = try spec.linux?.seccomp.flatMap { seccomp in
            do { return try SeccompNotify.listener(for: seccomp) } catch let error as SeccompError { throw RuntimeError(error.message) }
        }
        let filter = try spec.linux?.seccomp.map { seccomp in
            (flags: try SeccompFlags.value(seccomp.flags, field: "linux.seccomp.flags", listener: listenerPath != nil)
                | (listenerPath != nil ? SeccompNotify.newListenerFlag : 0),
             program: try compileSeccomp(seccomp, cacheDirectory: request.seccompCache))
        }
        // Connected before anything exists: a listener that is not there fails the launch with
        // its path, instead of a container whose notified syscalls would wait for nobody.
        let listener = try listenerPath.map { path in
            do { return try UnixSocket.connect(path) } catch { throw RuntimeError("linux.seccomp.listenerPath \(path): \(error)") }
        }
        // Compiling a profile can take a while: the caller's signals stay deliverable (Ctrl-C
        // ends a run that has created nothing yet) until here, just before anything exists.
        if request.blocksHandledSignals { ProcessMonitor.blockHandledSignals() }
        let diesWithCaller = request.startFifo == nil && !request.outlivesCaller
        // The init gets the compiled filter, not linux.seccomp: Docker's profile is most of the
        // spec's JSON, which the init would otherwise decode for nothing.
        var initSpec = spec
        initSpec.linux?.seccomp = nil
        var config = InitConfig(containerID: request.containerID, spec: initSpec, rootfs: rootfs, bundle: request.bundle,
                                noPivot: request.noPivot, debug: request.debug, startFifo: request.startFifo)
        config.diesWithParent = diesWithCaller
        config.preservedFDs = try checkPreserved(request.preservedFDs)
        config.seccompListenerMetadata = spec.linux?.seccomp?.listenerMetadata

        let (parentEnd, childEnd) = try SyncChannel.pair()
        let devNull = request.stdin == .null || spec.process?.terminal == true
            ? try FileDescriptor.open("/dev/null", O_RDWR) : nil
        var stdinFD: Int32 = devNull?.raw ?? -1
        if case .descriptor(let fd) = request.stdin, spec.process?.terminal != true { stdinFD = fd }
        // A terminal container its caller does not wait for (OCI create, exec -d): its output
        // goes to the pty, so the init must not hold the caller's own stdout and stderr — a
        // caller that waits for them to close (containerd's shim, through go-runc) would wait
        // until `start`, which it only sends once `create` is over: `docker run -it` hung there.
        let detachedTerminal = spec.process?.terminal == true && (request.startFifo != nil || request.outlivesCaller)
        let stdoutFD = request.stdout ?? (detachedTerminal ? devNull?.raw ?? -1 : -1)
        let stderrFD = request.stderr ?? (detachedTerminal ? devNull?.raw ?? -1 : -1)

        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("swiftainer"), strdup("init"), nil]
        // No Swift backtracer in the init: a seccomp profile can deny what the init itself still
        // calls after loading it (memory, exit_group), and a crash then must end the init at once
        // — the backtracer would write a long report into the container's stderr pipe, which
        // nobody reads before "start", and hang there with `run` waiting for it.
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("SWIFT_BACKTRACE=enable=no"), nil]
        defer { (argv + envp).forEach { free($0) } }
        // CVE-2019-5736: the container must never get a writable handle on this binary. With a
        // new mount namespace the child re-execs it from a read-only bind mount of itself (two
        // mount calls); without one, from a sealed in-memory copy (a copy of the whole binary).
        // A process joining a container's mount namespace (exec) is cloned into a private one
        // of its own all the same, only for that read-only re-exec: the init then leaves it for
        // the container's (setns), and the binary it runs stays on a read-only mount.
        let joinsMountNamespace = spec.linux?.namespaces?.contains { $0.type == "mount" && $0.path != nil } ?? false
        var spawnFlags = joinsMountNamespace ? flags | Int32(SW_CLONE_NEWNS) : flags
        // A cgroup namespace is rooted at the group its maker is in at that moment: made at
        // clone, ours. With a cgroup of its own, the init makes it once it is in that group.
        if flags & Int32(SW_CLONE_NEWCGROUP) != 0, request.cgroup != nil, !request.joinsExistingCgroup {
            spawnFlags &= ~Int32(SW_CLONE_NEWCGROUP)
            config.unsharesCgroupNamespace = true
        }
        let createsMountNamespace = spawnFlags & Int32(SW_CLONE_NEWNS) != 0
        let sealedCopy = createsMountNamespace ? nil : try SealedExecutable.copyOfSelf()
        let executable = try SealedExecutable.pathOfSelf()
        // A new user namespace: the child waits on a pipe until its id maps are written.
        // Checked before anything is created, so a bad config leaves nothing behind.
        let createsUserNamespace = flags & Int32(SW_CLONE_NEWUSER) != 0
        let idMaps = createsUserNamespace ? try UserNamespaceMaps(spec) : nil
        let mapsWritten = createsUserNamespace ? try FileDescriptor.pipe() : nil
        // A user namespace to join: the spawn joins it before it makes the other namespaces
        // (and enters a pid namespace to join after it). Opened before anything is made.
        let joinedUserNamespace = try spec.linux?.namespaces?.first(where: { $0.type == "user" && $0.path != nil }).map { namespace in
            do { return try FileDescriptor.open(namespace.path!, O_RDONLY) } catch {
                throw RuntimeError("linux.namespaces: user namespace \(namespace.path!)", error)
            }
        }
        let pidNamespaceAfterUser = joinedUserNamespace == nil ? nil : try JoinedNamespaces.openPidNamespace(of: spec)
        // Directories and limits first (fast); the init is moved in after the clone.
        if let cgroup = request.cgroup {
            do {
                if request.joinsExistingCgroup { try cgroup.adoptExisting() } else { try cgroup.prepare(resources: spec.linux?.resources) }
            } catch { throw RuntimeError("cgroup", error) }
        }
        let ownsCgroup = !request.joinsExistingCgroup
        if let cgroup = request.cgroup, ownsCgroup, spec.mounts?.contains(where: { $0.type == "cgroup" || $0.type == "cgroup2" }) == true {
            config.cgroupView = cgroup.view
        }
        // A pid namespace to join: ours for children only, restored right after the clone —
        // or, after a user namespace to join, by the spawn's child, which stays in ours.
        let pidNamespace: JoinedNamespaces.PidNamespaceReturn?
        do { pidNamespace = joinedUserNamespace == nil ? try JoinedNamespaces.enterPidNamespaceForChildren(of: spec) : nil } catch {
            if ownsCgroup { request.cgroup?.destroy() }
            throw error
        }
        let pid: pid_t = executable.withCString { path in
            argv.withUnsafeBufferPointer { argvBuffer in
                envp.withUnsafeBufferPointer { envpBuffer in
                    var spawn = sw_spawn_request(
                        clone_flags: spawnFlags, path: path,
                        argv: argvBuffer.baseAddress, envp: envpBuffer.baseAddress,
                        stdin_fd: stdinFD, stdout_fd: stdoutFD, stderr_fd: stderrFD,
                        extra_fd: childEnd.fd.raw, pdeathsig: diesWithCaller ? SIGKILL : 0,
                        exec_read_only: createsMountNamespace ? 1 : 0, exec_fd: sealedCopy?.raw ?? -1,
                        wait_fd: mapsWritten?.read.raw ?? -1, preserved_fds: Int32(config.preservedFDs),
                        user_ns_fd: joinedUserNamespace?.raw ?? -1, pid_ns_fd: pidNamespaceAfterUser?.raw ?? -1, pid_pipe: -1)
                    return sw_spawn(&spawn)
                }
            }
        }
        pidNamespace?.restore()
        childEnd.fd.close()
        sealedCopy?.close()
        joinedUserNamespace?.close()
        pidNamespaceAfterUser?.close()
        guard pid > 0 else {
            if ownsCgroup { request.cgroup?.destroy() }
            // A step before the init ran (joining the user namespace, unshare) says what failed.
            if case (.failed(let code, let message), _)? = try? parentEnd.receive() { throw RuntimeError(message, exitCode: code) }
            throw RuntimeError("clone(\(describe(spawnFlags))): \(SystemError(errno: -pid, call: "clone").message)")
        }
        DebugLog.log("cloned init pid \(pid) (\(describe(spawnFlags)))")
        let created = CreatedContainer(pid: pid, channel: parentEnd, consoleMaster: nil)
        mapsWritten?.read.close()
        do {
            if let idMaps, let mapsWritten {
                defer { mapsWritten.write.close() }
                try idMaps.write(to: pid)
                try mapsWritten.write.writeAll([1], what: "user namespace go")
                DebugLog.log("uid/gid maps written for pid \(pid)")
            }
            if let filter { try parentEnd.send(.seccompFilter(flags: filter.flags, program: filter.program), passing: listener?.raw) }
            listener?.close()
            config.hostPid = pid
            let fifo = try request.startFifo.map { try FileDescriptor.open($0, Int32(SW_O_PATH)) }
            defer { fifo?.close() }
            try parentEnd.send(.configure(try JSON.encode(config)), passing: fifo?.raw)
            // While the init builds its root filesystem: it must be in its cgroup before the
            // container's process runs, and the move is slow on cgroup v1.
            if let cgroup = request.cgroup {
                do { try cgroup.add(pid: pid) } catch { throw RuntimeError("cgroup", error) }
                DebugLog.log("init pid \(pid) placed in its cgroup")
                if config.unsharesCgroupNamespace { try parentEnd.send(.cgroupJoined) }
            }
            var console: FileDescriptor?
            while true {
                guard let (message, fd) = try parentEnd.receive() else {
                    created.kill()
                    throw RuntimeError("the container's init exited during setup")
                }
                switch message {
                case .terminal:
                    guard let fd else { throw RuntimeError("the container's init sent no console fd") }
                    console = FileDescriptor(fd)
                case .ready:
                    // "created", as runc sends it to these hooks (runtime-spec 1.0.2 wording).
                    let state = State(id: request.containerID, status: .created, pid: pid, bundle: request.bundle, annotations: spec.annotations)
                    try HookRunner.run(spec.hooks?.prestart, phase: "prestart", state: state)
                    try HookRunner.run(spec.hooks?.createRuntime, phase: "createRuntime", state: state)
                    return CreatedContainer(pid: pid, channel: parentEnd, consoleMaster: console)
                case .failed(let code, let message):
                    created.kill()
                    throw RuntimeError(message, exitCode: code)
                default:
                    throw RuntimeError("unexpected message from the container's init during setup: \(message)")
                }
            }
        } catch {
            created.kill()
            if ownsCgroup { request.cgroup?.destroy() }
            throw error
        }
    }

    /// The count of fds to pass on, each checked open in this process: a closed one would
    /// leave the container a hole (or worse, whatever the init opened there).
    static func checkPreserved(_ count: Int) throws -> Int {
        guard count >= 0, count <= Int(SW_MAX_PRESERVED_FDS) else {
            throw RuntimeError("--preserve-fds \(count): must be between 0 and \(SW_MAX_PRESERVED_FDS)")
        }
        for fd in 3..<(3 + Int32(count)) where fcntl(fd, F_GETFD) < 0 {
            throw RuntimeError("--preserve-fds \(count): fd \(fd) is not open")
        }
        return count
    }

    static func compileSeccomp(_ seccomp: OCI.Seccomp, cacheDirectory: String?) throws -> [UInt8] {
        if let cacheDirectory {
            let filter = try SeccompCache(directory: cacheDirectory).filter(for: seccomp) { try compileSeccomp($0, cacheDirectory: nil) }
            return filter
        }
        var skipped: [String] = []
        let filter = try SeccompCompiler.compile(seccomp, skipped: &skipped)
        if !skipped.isEmpty { DebugLog.log("seccomp: skipped syscalls unknown to this kernel/libseccomp: \(skipped.joined(separator: " "))") }
        DebugLog.log("seccomp: \(filter.count / 8) BPF instructions")
        return filter
    }

    static func describe(_ flags: Int32) -> String {
        let names: [(Int32, String)] = [(Int32(SW_CLONE_NEWUSER), "NEWUSER"), (Int32(SW_CLONE_NEWPID), "NEWPID"), (Int32(SW_CLONE_NEWNET), "NEWNET"), (Int32(SW_CLONE_NEWNS), "NEWNS"),
                                        (Int32(SW_CLONE_NEWIPC), "NEWIPC"), (Int32(SW_CLONE_NEWUTS), "NEWUTS"), (Int32(SW_CLONE_NEWCGROUP), "NEWCGROUP")]
        let set = names.filter { flags & $0.0 != 0 }.map { "CLONE_" + $0.1 }
        return set.isEmpty ? "0" : set.joined(separator: "|")
    }
}
