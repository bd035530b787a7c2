#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Starts a process that outlives its caller: a new session (no controlling terminal, so no
/// SIGHUP when the user's terminal goes), stdin and stdout on /dev/null, stderr appended to a
/// file, default signal dispositions and an empty signal mask, and fds of the caller's passed
/// as fds 3, 4, … in order.
public enum DetachedProcess {
    public static func spawn(path: String, arguments: [String], stderrPath: String, passing fds: [Int32]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        // In two steps, through fds above every source and target: dup2'ing straight to 3, 4, …
        // would overwrite a source that sits on an earlier target (fd 4 passed as fd 5 while
        // another is passed as fd 4) before it is copied.
        let staging = max(fds.max() ?? 0, Int32(2 + fds.count)) + 1
        for (index, fd) in fds.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, staging + Int32(index)) }
        for index in fds.indices {
            posix_spawn_file_actions_adddup2(&actions, staging + Int32(index), Int32(3 + index))
            posix_spawn_file_actions_addclose(&actions, staging + Int32(index))
        }
        // Nothing else of the caller's: a detached process must not hold a pipe its caller's
        // caller waits on (the monitor's report pipe, which is not close-on-exec in it).
        _ = sw_spawn_close_from(&actions, Int32(3 + fds.count))

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // POSIX_SPAWN_SETSID is 0x80 in glibc (2.26+); Swift does not import the macro.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | 0x80))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SystemError(errno: rc, call: "posix_spawn", detail: path) }
        return pid
    }
}
