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

/// Runs a program to completion (nft, OCI hooks): `input` on its stdin, its stdout and stderr
/// collected or (captureOutput false) left to ours. posix_spawn + waitpid, so no thread and no
/// inherited socket is involved.
public enum ExternalCommand {
    public struct Output {
        /// The exit status (128+N when killed by signal N).
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// Killed (SIGKILL) because it outlived `timeout`.
        public var timedOut = false
    }

    /// The first `name` found in the usual system directories.
    public static func find(_ name: String) -> String? {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
            .map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    /// `argv` includes argv[0]; `environment` nil passes ours. `timeout` bounds a program whose
    /// output is not captured (captured output is read to its end first).
    public static func run(_ path: String, argv: [String], environment: [String]? = nil, input: [UInt8] = [],
                           captureOutput: Bool = true, timeout: Double? = nil) throws -> Output {
        let (inRead, inWrite) = try FileDescriptor.pipe()
        let outPipe = captureOutput ? try FileDescriptor.pipe() : nil
        let errPipe = captureOutput ? try FileDescriptor.pipe() : nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inRead.raw, 0)
        if let outPipe, let errPipe {
            posix_spawn_file_actions_adddup2(&actions, outPipe.write.raw, 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe.write.raw, 2)
        }
        let cArgv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer { (cArgv + (cEnv ?? [])).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = cEnv.map { posix_spawn(&pid, path, &actions, nil, cArgv, $0) } ?? posix_spawn(&pid, path, &actions, nil, cArgv, environ)
        inRead.close()
        outPipe?.write.close()
        errPipe?.write.close()
        guard rc == 0 else { throw SystemError(errno: rc, call: "posix_spawn", detail: path) }
        // Small inputs: the script or state fits the pipe buffer, so this never waits on the
        // program, which may also exit without reading it.
        withBrokenPipesIgnored { try? inWrite.writeAll(input, what: "\(path) stdin") }
        inWrite.close()
        var output = Output(status: 0, stdout: "", stderr: "")
        if let outPipe, let errPipe {
            output.stdout = String(decoding: (try? outPipe.read.readAll(limit: 1 << 20)) ?? [], as: UTF8.self)
            output.stderr = String(decoding: (try? errPipe.read.readAll(limit: 1 << 20)) ?? [], as: UTF8.self)
        }
        let deadline = timeout.map { Clock.monotonicSeconds() + $0 }
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw SystemError.last("waitpid", path) }
            if let deadline, Clock.monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                output.timedOut = true
                break
            }
            if deadline != nil { usleep(2_000) }
        }
        output.status = ExitStatus(waitStatus: status).code
        return output
    }
}
