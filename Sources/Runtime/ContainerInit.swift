#if canImport(Glibc)
import Glibc
#endif
import CLinux
import FoundationEssentials
import LinuxKit
import OCI

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
        do {
            try run(channel)
        } catch {
            let failure = error as? RuntimeError ?? RuntimeError("\(error)")
            try? channel.send(.failed(code: failure.exitCode, message: failure.message))
            exit(failure.exitCode)
        }
    }

    private static func run(_ channel: SyncChannel) throws -> Never {
        guard let (message, _) = try channel.receive(), case .configure(let payload) = message else {
            exit(125) // the parent went away before configuring us
        }
        let config = try JSONDecoder().decode(InitConfig.self, from: Data(payload))
        let debug: (String) -> Void = { line in
            if config.debug { fputs("swiftainer: debug: init \(config.containerID.prefix(12)): \(line)\n", stderr) }
        }
        let spec = config.spec
        guard let process = spec.process, let args = process.args, !args.isEmpty else {
            throw RuntimeError("config.json: process.args must name a command")
        }
        let namespaces = spec.linux?.namespaces ?? []
        func creates(_ type: String) -> Bool { namespaces.contains { $0.type == type && $0.path == nil } }

        if creates("network") {
            debug("bring up lo")
            try check(sw_interface_up("lo"), "bring up", "lo")
        }
        if creates("mount") {
            try RootfsSetup(config: config, log: debug).run()
        } else {
            try check(chroot(config.rootfs), "chroot", config.rootfs)
        }
        if let hostname = spec.hostname, creates("uts") {
            debug("sethostname \(hostname)")
            try check(sethostname(hostname, hostname.utf8.count), "sethostname", hostname)
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
        guard let (startMessage, _) = try channel.receive(), startMessage == .start else {
            exit(125) // no start: the parent died or gave up
        }
        debug("start")

        // A session of its own: signals from the host's terminal do not reach the container.
        _ = setsid()
        if let terminal {
            for fd in 0...2 { try check(dup2(terminal.raw, Int32(fd)), "dup2", "console to fd \(fd)") }
            try check(sw_set_controlling_tty(0), "ioctl(TIOCSCTTY)", "console")
            terminal.close()
        }

        let env = process.env ?? []
        try setIdentity(process.user)
        // Changing credentials clears the parent-death signal set at clone(); set it again so
        // the container still dies with a killed `swiftainer run`.
        _ = sw_set_pdeathsig(SIGKILL)
        if process.noNewPrivileges == true {
            try check(sw_set_no_new_privs(), "prctl(PR_SET_NO_NEW_PRIVS)")
        }
        if process.cwd != "/" && spec.annotations?[SwiftainerAnnotation.createWorkingDirectory] == "true" && !Files.isDirectory(process.cwd) {
            try Files.makeDirectories(process.cwd)
        }
        guard chdir(process.cwd) == 0 else {
            throw RuntimeError("chdir to cwd \"\(process.cwd)\" set in config.json failed: \(String(cString: strerror(errno)))", exitCode: 126)
        }
        let path = try ExecutableLookup.resolve(args[0], env: env)

        // Nothing of ours leaks into the container: only 0-2, and the sync fd until exec.
        _ = sw_close_range_from(UInt32(syncFD + 1))
        sw_reset_signals()
        exec(path, args, env)
        let err = errno
        throw RuntimeError("exec: \"\(args[0])\": \(String(cString: strerror(err)))",
                           exitCode: ExecutableLookup.exitCode(forExecErrno: err))
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

    private static func setIdentity(_ user: User) throws {
        let groups = (user.additionalGids ?? []).map { gid_t($0) }
        try check(setgroups(groups.count, groups), "setgroups")
        try check(setgid(user.gid), "setgid", "\(user.gid)")
        try check(setuid(user.uid), "setuid", "\(user.uid)")
        if let mask = user.umask { umask(mode_t(mask)) }
    }

    private static func exec(_ path: String, _ args: [String], _ env: [String]) {
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings(args)
        let envp = cStrings(env)
        execve(path, argv, envp)
    }
}
