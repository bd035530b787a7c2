#if canImport(Glibc)
import Glibc
#endif

/// Writes to a pipe whose reader may already be gone (a hook or helper that exits without
/// reading its stdin) must fail with EPIPE, not kill this process with SIGPIPE.
public func withBrokenPipesIgnored<T>(_ body: () throws -> T) rethrows -> T {
    let previous = signal(SIGPIPE, SIG_IGN)
    defer { signal(SIGPIPE, previous) }
    return try body()
}

/// Runs a helper program from the host (nft) to completion: stdin from a string, stdout and
/// stderr collected. posix_spawn + waitpid, so no thread and no inherited socket is involved.
public enum ExternalCommand {
    public struct Output {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The first `name` found in the usual system directories.
    public static func find(_ name: String) -> String? {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
            .map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    public static func run(_ path: String, _ arguments: [String], input: String = "") throws -> Output {
        let (inRead, inWrite) = try FileDescriptor.pipe()
        let (outRead, outWrite) = try FileDescriptor.pipe()
        let (errRead, errWrite) = try FileDescriptor.pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inRead.raw, 0)
        posix_spawn_file_actions_adddup2(&actions, outWrite.raw, 1)
        posix_spawn_file_actions_adddup2(&actions, errWrite.raw, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        inRead.close()
        outWrite.close()
        errWrite.close()
        guard rc == 0 else { throw SystemError(errno: rc, call: "posix_spawn", detail: path) }
        // Small inputs and outputs: the script fits the pipe buffer, and the output is read after.
        withBrokenPipesIgnored { try? inWrite.writeAll(input, what: "\(path) stdin") }
        inWrite.close()
        let stdout = String(decoding: (try? outRead.readAll(limit: 1 << 20)) ?? [], as: UTF8.self)
        let stderr = String(decoding: (try? errRead.readAll(limit: 1 << 20)) ?? [], as: UTF8.self)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Output(status: ExitStatus(waitStatus: status).code, stdout: stdout, stderr: stderr)
    }
}
