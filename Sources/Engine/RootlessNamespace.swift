#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

/// The user namespace rootless swiftainer works in, one per user, as Podman's: a pause
/// process (`swiftainer rootless-pause`) made it with a mount namespace of its own and holds
/// both; every command the user runs joins them first (setns, while the process has one
/// thread), so containers made by one command are reachable by the next with the same ids.
///
/// Its map: uid 0 inside is the user; 1… are the user's ranges in /etc/subuid (and gids in
/// /etc/subgid), set by Debian's setuid `newuidmap`/`newgidmap` — only ranges those files
/// give the user are ever asked for. With none, a single-id map (the user as 0) and a warning.
public enum RootlessNamespace {
    /// Joins the user's namespace, making it first when no pause process holds one. A no-op
    /// as root, and inside it already (euid 0 there). `root`: the store `--root` or
    /// SWIFTAINER_ROOT names, which must be the user's own (root's store is not reachable
    /// rootless, and refusing it here leaves nothing behind).
    public static func enter(root: String?) throws {
        guard geteuid() != 0 else { return }
        let uid = getuid(), gid = getgid()
        if let root {
            var info = stat()
            if stat(root, &info) == 0, info.st_uid != uid {
                throw EngineError.invalidOption("store \(root) belongs to uid \(info.st_uid): rootless, swiftainer keeps a store of your own (~/.local/share/swiftainer, or a --root you own); root's needs sudo")
            }
        }
        let state = Rootless.directories(uid: uid).state
        try makePrivateDirectory(state, uid: uid)
        let lock = try FileLock(path: state + "/userns.lock")
        let pid: pid_t
        do {
            defer { lock.unlock() }
            pid = try livePause(state, uid: uid) ?? startPause(state, uid: uid, gid: gid)
        }
        try join(pid)
        setenv(Rootless.uidVariable, "\(uid)", 1)
    }

    /// The state directory: made 0700, and refused unless it is the user's own directory (in
    /// /tmp another user could have made it first).
    static func makePrivateDirectory(_ path: String, uid: uid_t) throws {
        try Files.makeDirectories(path, mode: 0o700)
        var info = stat()
        guard lstat(path, &info) == 0 else { throw EngineError.invalidOption("rootless: \(SystemError.last("lstat", path))") }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == uid, info.st_mode & 0o077 == 0 else {
            throw EngineError.invalidOption("rootless: \(path) is not a private directory of uid \(uid) (mode 0700, owned by you); remove it or set XDG_RUNTIME_DIR")
        }
    }

    /// The pause process the state names, if it still runs as this user.
    static func livePause(_ state: String, uid: uid_t) -> pid_t? {
        guard let text = try? Files.readString(state + "/pause.pid"), let pid = pid_t(text.trimmingWhitespace), pid > 1 else { return nil }
        var info = stat()
        guard stat("/proc/\(pid)", &info) == 0, info.st_uid == uid,
              let command = try? Files.read("/proc/\(pid)/cmdline"),
              command.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "rootless-pause" }) else { return nil }
        return pid
    }

    /// Starts a pause process, maps its new user namespace and waits until it is ready.
    static func startPause(_ state: String, uid: uid_t, gid: gid_t) throws -> pid_t {
        let (childReads, toChild) = try FileDescriptor.pipe()
        let (fromChild, childWrites) = try FileDescriptor.pipe()
        defer { toChild.close(); fromChild.close() }
        let pid: pid_t
        do {
            defer { childReads.close(); childWrites.close() }
            pid = try DetachedProcess.spawn(path: "/proc/self/exe", arguments: ["swiftainer", "rootless-pause"], stderrPath: state + "/pause.log",
                                            passing: [childReads.raw, childWrites.raw])
        }
        func failed(_ what: String) -> Error {
            kill(pid, SIGKILL)
            let log = ((try? Files.readString(state + "/pause.log")) ?? "").split(separator: "\n").last.map(String.init) ?? ""
            return EngineError.invalidOption("rootless: the user namespace could not be made: \(what)\(log.isEmpty ? "" : ": " + log)")
        }
        guard fromChild.awaitByte(milliseconds: 5000) == UInt8(ascii: "u") else { throw failed("the pause process did not unshare") }
        do { try writeMaps(pid, uid: uid, gid: gid) } catch { throw failed("\(error)") }
        guard (try? toChild.writeAll("m", what: "pause pipe")) != nil, fromChild.awaitByte(milliseconds: 5000) == UInt8(ascii: "r") else { throw failed("the pause process did not start") }
        try Files.writeAtomically(state + "/pause.pid", "\(pid)\n", mode: 0o600, durability: .volatile)
        return pid
    }

    /// A user's ranges of subordinate ids (`/etc/subuid` or `/etc/subgid`: "NAME-OR-ID:START:COUNT").
    public static func subordinateRanges(_ text: String, user: String, id: UInt32) -> [(start: UInt32, count: UInt32)] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, fields[0] == user || fields[0] == "\(id)", let start = UInt32(fields[1]), let count = UInt32(fields[2]), count > 0,
                  UInt64(start) + UInt64(count) <= UInt64(UInt32.max) else { return nil }
            return (start, count)
        }
    }

    /// The map's arguments for newuidmap/newgidmap: 0 is `own`, then each range from 1 on.
    public static func mapArguments(own: UInt32, ranges: [(start: UInt32, count: UInt32)]) -> [String] {
        var next: UInt32 = 1
        var arguments = ["0", "\(own)", "1"]
        for range in ranges {
            arguments += ["\(next)", "\(range.start)", "\(range.count)"]
            next += range.count
        }
        return arguments
    }

    static func writeMaps(_ pid: pid_t, uid: uid_t, gid: gid_t) throws {
        let name = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "\(uid)"
        let uids = subordinateRanges((try? Files.readString("/etc/subuid")) ?? "", user: name, id: uid)
        let gids = subordinateRanges((try? Files.readString("/etc/subgid")) ?? "", user: name, id: uid)
        if !uids.isEmpty, !gids.isEmpty, let newuidmap = ExternalCommand.find("newuidmap"), let newgidmap = ExternalCommand.find("newgidmap") {
            for (tool, path, arguments) in [("newuidmap", newuidmap, mapArguments(own: uid, ranges: uids)), ("newgidmap", newgidmap, mapArguments(own: gid, ranges: gids))] {
                let result = try ExternalCommand.run(path, argv: [tool, "\(pid)"] + arguments, timeout: 10)
                guard result.status == 0 else {
                    throw EngineError.invalidOption("\(tool) \(pid) \(arguments.joined(separator: " ")): \(result.stderr.trimmingWhitespace)")
                }
            }
            return
        }
        let why = uids.isEmpty || gids.isEmpty ? "no ranges for \(name) in /etc/subuid and /etc/subgid" : "newuidmap/newgidmap are missing (Debian package uidmap)"
        fputs("swiftainer: warning: \(why): containers get one id, root inside as you; images owned by other ids cannot be unpacked\n", stderr)
        for (file, text) in [("setgroups", "deny"), ("uid_map", "0 \(uid) 1\n"), ("gid_map", "0 \(gid) 1\n")] {
            let path = "/proc/\(pid)/\(file)"
            let fd = try FileDescriptor.open(path, O_WRONLY)
            defer { fd.close() }
            try fd.writeAll(text, what: path)
        }
    }

    /// setns into the pause process's user and mount namespaces (keeping the working
    /// directory: joining a mount namespace moves it to the root).
    static func join(_ pid: pid_t) throws {
        let cwd = open(".", O_PATH | O_CLOEXEC)
        defer { if cwd >= 0 { close(cwd) } }
        for (name, type) in [("user", SW_CLONE_NEWUSER), ("mnt", SW_CLONE_NEWNS)] {
            let fd = try FileDescriptor.open("/proc/\(pid)/ns/\(name)", O_RDONLY)
            defer { fd.close() }
            guard sw_setns(fd.raw, Int32(type)) == 0 else { throw EngineError.invalidOption("rootless: \(SystemError.last("setns", "/proc/\(pid)/ns/\(name)"))") }
        }
        if cwd >= 0 { _ = fchdir(cwd) }
    }

    /// The body of `swiftainer rootless-pause`: fd 3 reads the parent, fd 4 answers it.
    public static func runPause() -> Never {
        guard sw_unshare(Int32(SW_CLONE_NEWUSER | SW_CLONE_NEWNS)) == 0 else {
            fputs("rootless-pause: \(SystemError.last("unshare", "user and mount namespaces"))\n", stderr)
            exit(1)
        }
        _ = write(4, "u", 1)
        var byte: UInt8 = 0
        guard read(3, &byte, 1) == 1, byte == UInt8(ascii: "m") else { exit(1) }
        _ = write(4, "r", 1)
        close(3)
        close(4)
        while true { pause() }
    }
}
