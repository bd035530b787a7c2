#if canImport(Glibc)
import Glibc
#endif

/// Finds the program to exec the way a shell does, with Docker's exit codes for failure:
/// 127 when nothing by that name exists, 126 when it exists but cannot be executed.
public enum ExecutableLookup {
    public static func resolve(_ command: String, env: [String]) throws -> String {
        if command.contains("/") {
            try checkExecutable(command, name: command)
            return command
        }
        let path = env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        var denied: String?
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + command
            var st = stat()
            guard stat(candidate, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0 { return candidate }
            denied = denied ?? candidate
        }
        if let denied {
            throw RuntimeError("exec: \"\(command)\": \(denied): permission denied", exitCode: 126)
        }
        throw RuntimeError("exec: \"\(command)\": executable file not found in $PATH", exitCode: 127)
    }

    static func checkExecutable(_ path: String, name: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let code: Int32 = errno == ENOENT || errno == ENOTDIR ? 127 : 126
            throw RuntimeError("exec: \"\(name)\": stat \(path): \(String(cString: strerror(errno)))", exitCode: code)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw RuntimeError("exec: \"\(name)\": is a directory", exitCode: 126)
        }
        guard access(path, X_OK) == 0 else {
            throw RuntimeError("exec: \"\(name)\": permission denied", exitCode: 126)
        }
    }

    /// The exit code for an execve(2) errno.
    public static func exitCode(forExecErrno err: Int32) -> Int32 {
        err == ENOENT || err == ENOTDIR ? 127 : 126
    }
}
