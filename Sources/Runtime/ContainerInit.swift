#if canImport(Glibc)
import Glibc
#endif
import CLinux
import JSONKit
import LinuxKit
import OCI
import Seccomp

/// The container side of the re-exec: `swiftainer init`, started by `Launcher` through
/// /proc/self/exe in the new namespaces, with the sync socket on fd 3. It configures the
/// namespaces from the InitConfig it receives, waits for "start", and execs the process.
public enum ContainerInit {
    public static let syncFD: Int32 = 3

    /// Never returns: execs the container process or exits with Docker's status for the failure.
    public static func main() -> Never {
        // The sync fd was placed without close-on-exec; set it so that a successful exec closes it.
        guard fcntl(syncFD, F_SETFD, FD_CLOEXEC) == 0 else {
            fputs("swiftainer: init is internal: it runs only as the child of 'swiftainer run' or 'create'\n", stderr)
            exit(125)
        }
        let channel = SyncChannel(fd: FileDescriptor(syncFD))
        reportChannel = .sync(channel)
        do {
            try run(channel)
        } catch {
            let failure = error as? RuntimeError ?? RuntimeError("\(error)")
            switch reportChannel {
            case .sync(let channel)?: try? channel.send(.failed(code: failure.exitCode, message: failure.message))
            case .fifo(let fifo)?: try? fifo.writeAll("\(failure.exitCode) \(failure.message)")
            case nil: break
            }
            exit(failure.exitCode)
        }
    }

    /// Where a failure goes: the sync socket until start, the start FIFO after an OCI start.
    private enum ReportChannel {
        case sync(SyncChannel)
        case fifo(FileDescriptor)
    }

    private nonisolated(unsafe) static var reportChannel: ReportChannel?

    private static func run(_ channel: SyncChannel) throws -> Never {
        // linux.seccomp, compiled by the parent, comes first and as raw bytes (not JSON).
        var seccompFilter: SeccompFilter?
        var received = try channel.receive()
        if case (.seccompFilter(let flags, let program), let listener)? = received {
            seccompFilter = SeccompFilter(flags: flags, program: program, listener: listener.map(FileDescriptor.init))
            received = try channel.receive()
        }
        guard case (.configure(let payload), let passedFifo)? = received else {
            exit(125) // the parent went away before configuring us
        }
        let config = try JSON.decode(InitConfig.self, from: payload)
        let debug: (String) -> Void = { line in
            if config.debug { fputs("swiftainer: debug: \(DebugLog.timestamp()) init \(config.containerID.prefix(12)): \(line)\n", stderr) }
        }
        let spec = config.spec
        guard let process = spec.process, let args = process.args, !args.isEmpty else {
            throw RuntimeError("config.json: process.args must name a command")
        }
        let namespaces = spec.linux?.namespaces ?? []
        func creates(_ type: String) -> Bool { namespaces.contains { $0.type == type && $0.path == nil } }
        // Namespaces named by path (exec into a running container, or an OCI bundle sharing a
        // pod's namespaces) are entered first, while this process is still single-threaded.
        let joined = try JoinedNamespaces.joinInInit(spec, log: debug)

        if creates("mount") {
            try verifyExecutableIsReadOnly(debug)
        }
        // The start FIFO lives on the host: the parent opened it (O_PATH, which does not block)
        // and passed it with "configure" — in a user namespace the init may not be allowed to
        // walk the state directory — and it is reopened for writing through our own
        // /proc/self/fd when waiting for start, after pivot_root has hidden the host. That
        // directory is opened now, while the host's /proc is in reach: the container may have
        // no /proc of its own (a bundle without a proc mount, or no mount namespace at all).
        let startFifo = passedFifo.map { FileDescriptor($0) }
        if config.startFifo != nil && startFifo == nil { throw RuntimeError("the start FIFO did not come with the configuration") }
        let ownDescriptors = try startFifo.map { _ in try FileDescriptor.open("/proc/self/fd", O_PATH | O_DIRECTORY) }
        if creates("network") {
            debug("bring up lo")
            try check(sw_interface_up("lo"), "bring up", "lo")
        }
        // The cgroup namespace, when the init makes it (see InitConfig.unsharesCgroupNamespace):
        // once the parent has moved us into our cgroup, and no later than setup's end.
        var cgroupNamespacePending = config.unsharesCgroupNamespace
        let enterCgroupNamespace = {
            guard cgroupNamespacePending else { return }
            cgroupNamespacePending = false
            guard let (message, _) = try channel.receive(), message == .cgroupJoined else {
                exit(125) // the parent went away before placing us
            }
            debug("unshare(CLONE_NEWCGROUP) in our own cgroup")
            try check(sw_unshare(Int32(SW_CLONE_NEWCGROUP)), "unshare(CLONE_NEWCGROUP)")
        }
        if creates("mount") {
            try RootfsSetup(config: config, log: debug, enterCgroupNamespace: enterCgroupNamespace).run()
        } else if joined.contains("mount") {
            // The container's root is that namespace's root: nothing to set up, only to enter.
            try check(chdir("/"), "chdir", "/ of the joined mount namespace")
        } else {
            try check(chroot(config.rootfs), "chroot", config.rootfs)
        }
        try enterCgroupNamespace()
        let hookState = State(id: config.containerID, status: .created, pid: config.hostPid, bundle: config.bundle, annotations: spec.annotations)
        try HookRunner.run(spec.hooks?.createContainer, phase: "createContainer", state: hookState)
        if let hostname = spec.hostname, creates("uts") {
            debug("sethostname \(hostname)")
            try check(sethostname(hostname, hostname.utf8.count), "sethostname", hostname)
        }
        if let domainname = spec.domainname, creates("uts") {
            debug("setdomainname \(domainname)")
            try check(setdomainname(domainname, domainname.utf8.count), "setdomainname", domainname)
        }

        var terminal: FileDescriptor?
        if process.terminal == true {
            debug("open the console pty")
            let (master, slave) = try openContainerPTY()
            if let size = process.consoleSize { _ = sw_set_winsize(master.raw, size.height, size.width) }
            try channel.send(.terminal, passing: master.raw)
            terminal = slave
        }

        try channel.send(.ready)
        var startReport: FileDescriptor?
        if let startFifo {
            // Only once `create` has recorded the container: if it died before, nobody could
            // ever start or delete us, and we would wait on the FIFO forever.
            guard let (confirmation, _) = try channel.receive(), confirmation == .committed else {
                exit(125)
            }
            // Blocks until `swiftainer start` opens the FIFO. Whatever is written to it before
            // exec (nothing, or the error) is what `start` reports.
            channel.fd.close()
            startReport = try FileDescriptor.openAt(ownDescriptors?.raw ?? AT_FDCWD, "\(startFifo.raw)", O_WRONLY)
            startFifo.close()
            ownDescriptors?.close()
            reportChannel = .fifo(startReport!)
        } else {
            guard let (startMessage, _) = try channel.receive(), startMessage == .start else {
                exit(125) // no start: the parent died or gave up
            }
        }
        debug("start")
        try HookRunner.run(spec.hooks?.startContainer, phase: "startContainer",
                           state: State(id: config.containerID, status: .created, pid: config.hostPid, bundle: config.bundle, annotations: spec.annotations))

        // A session of its own: signals from the host's terminal do not reach the container.
        _ = setsid()
        if let terminal {
            for fd in 0...2 { try check(dup2(terminal.raw, Int32(fd)), "dup2", "console to fd \(fd)") }
            try check(sw_set_controlling_tty(0), "ioctl(TIOCSCTTY)", "console")
            terminal.close()
        }

        var env = process.env ?? []
        // A missing working directory is made, as runc and Docker make it (RootfsSetup made it
        // already where it sets up the root; this covers a container without a mount namespace).
        if process.cwd != "/" && !Files.isDirectory(process.cwd) {
            try? Files.makeDirectories(process.cwd)
        }
        // HOME, when the process has none, from the container's /etc/passwd (runc's rule).
        if !env.contains(where: { $0.hasPrefix("HOME=") }) {
            env.append("HOME=" + ProcessSettings.homeDirectory(uid: process.user.uid))
        }
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it
        // (runc's order). With no_new_privs, load it last, as late before exec as possible.
        try ProcessSettings.applyRlimits(process.rlimits)
        try ProcessSettings.applyOOMScoreAdj(process.oomScoreAdj)
        let noNewPrivileges = process.noNewPrivileges == true
        let listenerState = ContainerProcessState(
            pid: config.hostPid ?? getpid(), metadata: config.seccompListenerMetadata,
            state: State(id: config.containerID, status: .running, pid: config.hostPid, bundle: config.bundle, annotations: spec.annotations))
        if let filter = seccompFilter, !noNewPrivileges {
            try loadSeccomp(filter, listenerState, debug)
        }
        try CapabilitySetup.apply(process.capabilities, user: process.user)
        // Changing credentials clears the parent-death signal set at clone(); set it again so
        // the container still dies with a killed `swiftainer run` (not for OCI create or a
        // detached exec, whose creator exits on purpose).
        if config.diesWithParent { _ = sw_set_pdeathsig(SIGKILL) }
        if noNewPrivileges {
            try check(sw_set_no_new_privs(), "prctl(PR_SET_NO_NEW_PRIVS)")
            if let filter = seccompFilter { try loadSeccomp(filter, listenerState, debug) }
        }
        guard chdir(process.cwd) == 0 else {
            throw RuntimeError("chdir to cwd \"\(process.cwd)\" set in config.json failed: \(String(cString: strerror(errno)))", exitCode: 126)
        }
        let path = try ExecutableLookup.resolve(args[0], env: env)

        try arrangeDescriptors(startReport: startReport, channel: channel, preserved: Int32(config.preservedFDs))
        sw_reset_signals()
        if spec.annotations?[SwiftainerAnnotation.initProcess] == "true", creates("pid") {
            // Returns in the child only; this process stays PID 1 as the reaper.
            let rc = sw_become_init_reaper()
            if rc < 0 { throw RuntimeError("--init: fork: \(String(cString: strerror(-rc)))") }
        }
        exec(path, args, env)
        let err = errno
        throw RuntimeError("exec: \"\(args[0])\": \(String(cString: strerror(err)))",
                           exitCode: ExecutableLookup.exitCode(forExecErrno: err))
    }

    /// Nothing of ours leaks into the container: only 0-2, the preserved fds at 3.. (none:
    /// nothing there), and above them the report channel (sync socket or start FIFO),
    /// close-on-exec so that a successful exec closes it and a failed one is reported on it.
    private static func arrangeDescriptors(startReport: FileDescriptor?, channel: SyncChannel, preserved: Int32) throws {
        let base = Int32(SW_PRESERVED_FD_BASE)
        // Above every preserved fd where they wait (base ..< base + preserved).
        let reportFD = preserved == 0 ? syncFD : base + preserved
        // Ownership moves to the new number; the old one is replaced or closed below.
        let source = startReport?.release() ?? channel.fd.release()
        if source != reportFD {
            try check(dup2(source, reportFD), "dup2", "report channel")
            _ = fcntl(reportFD, F_SETFD, FD_CLOEXEC)
        }
        reportChannel = startReport == nil ? .sync(SyncChannel(fd: FileDescriptor(reportFD))) : .fifo(FileDescriptor(reportFD))
        for index in 0..<preserved {
            // Upwards: each target is below every source still to be moved.
            try check(dup2(base + index, syncFD + index), "dup2", "preserved fd \(syncFD + index)")
        }
        if preserved > 0 { _ = sw_close_range(UInt32(syncFD + preserved), UInt32(reportFD - 1)) }
        _ = sw_close_range_from(UInt32(reportFD + 1))
    }

    /// A pty from the container's own devpts instance, so `tty` inside names /dev/pts/N.
    private static func openContainerPTY() throws -> (master: FileDescriptor, slave: FileDescriptor) {
        let master = try FileDescriptor.open("/dev/ptmx", O_RDWR | O_NOCTTY)
        try check(sw_pty_unlock(master.raw), "ioctl(TIOCSPTLCK)", "/dev/ptmx")
        var number: UInt32 = 0
        try check(sw_pty_number(master.raw, &number), "ioctl(TIOCGPTN)", "/dev/ptmx")
        let slave = try FileDescriptor.open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        return (master, slave)
    }

    /// CVE-2019-5736: through /proc/PID/exe a container could reopen this binary for writing and
    /// replace it on the host. Launcher re-execs us from a read-only bind mount of ourselves;
    /// check that the kernel agrees before the container gets a chance.
    private static func verifyExecutableIsReadOnly(_ debug: (String) -> Void) throws {
        // While we run, a write-open fails with ETXTBSY anyway; the exploit waits for the runtime
        // to exit. What protects the file then is the mount: it must be read-only.
        var fs = statvfs()
        try check(statvfs("/proc/self/exe", &fs), "statvfs", "/proc/self/exe")
        guard fs.f_flag & UInt(ST_RDONLY) != 0 else {
            throw RuntimeError("refusing to start: the runtime binary is on a writable mount as seen through /proc/self/exe; CVE-2019-5736 protection failed")
        }
        debug("runtime binary is on a read-only mount (statvfs(/proc/self/exe): ST_RDONLY)")
    }

    /// The compiled filter from the parent; with a listener, the socket connected to it.
    struct SeccompFilter {
        var flags: UInt32
        var program: [UInt8]
        var listener: FileDescriptor?
    }

    /// Loads the filter; with a listener, hands it the notify fd the kernel returned, with the
    /// process state (runtime-spec containerProcessState), and closes both.
    private static func loadSeccomp(_ filter: SeccompFilter, _ state: ContainerProcessState, _ debug: (String) -> Void) throws {
        debug("load seccomp filter (\(filter.program.count / 8) instructions, flags \(filter.flags))")
        let rc = filter.program.withUnsafeBytes { sw_seccomp_load($0.baseAddress, UInt16(filter.program.count / 8), filter.flags) }
        try check(rc, "seccomp(SECCOMP_SET_MODE_FILTER)")
        guard filter.flags & SeccompNotify.newListenerFlag != 0, let listener = filter.listener else { return }
        let notify = FileDescriptor(rc)
        _ = fcntl(notify.raw, F_SETFD, FD_CLOEXEC)
        try UnixSocket.send(try JSON.encode(state), passing: notify, on: listener, what: "seccomp listener")
        debug("seccomp notify fd sent to the listener")
        notify.close()
        listener.close()
    }

    private static func exec(_ path: String, _ args: [String], _ env: [String]) {
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings(args)
        let envp = cStrings(env)
        execve(path, argv, envp)
    }
}
