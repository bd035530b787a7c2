#if canImport(Glibc)
import Glibc
#endif
import CLinux

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

    /// `argv` includes argv[0]; `environment` nil passes ours. `timeout` bounds the program
    /// (killed with SIGKILL past it); captured output is read until the program's end or the
    /// timeout, whichever is first, up to `outputLimit` bytes per stream.
    public static func run(_ path: String, argv: [String], environment: [String]? = nil, input: [UInt8] = [],
                           captureOutput: Bool = true, timeout: Double? = nil, outputLimit: Int = 1 << 20) throws -> Output {
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
        // Nothing else of the caller's: a program that leaves a daemon behind (fuse-overlayfs)
        // must not keep a pipe the caller's own caller waits on (a detached run's report).
        _ = sw_spawn_close_from(&actions, 3)
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
        let deadline = timeout.map { Clock.monotonicSeconds() + $0 }
        if let outPipe, let errPipe {
            let (stdout, stderr) = readBoth(outPipe.read, errPipe.read, limit: outputLimit, deadline: deadline)
            output.stdout = String(decoding: stdout, as: UTF8.self)
            output.stderr = String(decoding: stderr, as: UTF8.self)
        }
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

    /// Both pipes read until each is at its end or `deadline` passes; bytes past `limit` are
    /// read and dropped, so a chatty program never blocks on a full pipe.
    static func readBoth(_ first: FileDescriptor, _ second: FileDescriptor, limit: Int, deadline: Double?) -> ([UInt8], [UInt8]) {
        var collected: [[UInt8]] = [[], []]
        var open = [first.raw, second.raw]
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while open.contains(where: { $0 >= 0 }) {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let wait = deadline.map { Int32(max(0, ($0 - Clock.monotonicSeconds()) * 1000)) } ?? -1
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { break } // the deadline passed (or poll failed): what came is kept
            for index in 0..<2 where open[index] >= 0 && fds[index].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(open[index], $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = max(0, limit - collected[index].count)
                    collected[index] += chunk[..<min(n, room)]
                } else if n == 0 || errno != EINTR && errno != EAGAIN {
                    open[index] = -1
                }
            }
        }
        return (collected[0], collected[1])
    }
}
