#if canImport(Glibc)
import Glibc
#endif
import CLinux

public enum ProcessInfoLinux {
    /// The start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or nil
    /// when no such process exists. A pid plus its start time names a process unambiguously,
    /// so a recorded pid that was recycled by another process is not mistaken for ours.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let text = try? Files.readString("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) may contain spaces and ')': split after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); starttime is field 22.
        guard fields.count > 19, let value = UInt64(fields[19]) else { return nil }
        if fields[0] == "Z" || fields[0] == "X" { return nil }
        return value
    }

    public static var onlineCPUs: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// This process's capability bounding set as a bit mask (PR_CAPBSET_READ per capability:
    /// cheaper than reading /proc/self/status, which the kernel renders in full).
    public static var capabilityBoundingSet: UInt64 {
        var mask: UInt64 = 0
        for cap in 0..<64 {
            let inSet = sw_cap_bounding_read(Int32(cap))
            if inSet < 0 { break }
            if inSet == 1 { mask |= 1 << UInt64(cap) }
        }
        return mask
    }

    /// This process's environment (the first of duplicate names wins, as getenv does).
    public static var environment: [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "="), result[String(text[..<equals])] == nil {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return result
    }

    /// The working directory, or "/" if it cannot be named (removed, or longer than PATH_MAX).
    public static var currentDirectory: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(cString: buffer)
    }

    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        pid > 0 && self.startTime(of: pid) == startTime
    }
}

/// Decoded wait status, with Docker's convention for the exit code of a signalled process.
public enum ExitStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }

    /// 128 + signal for a killed process, as shells and Docker report it.
    public var code: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let sig): return 128 + sig
        }
    }
}

public enum Signals {
    private static let names: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP),
        ("ABRT", SIGABRT), ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1),
        ("SEGV", SIGSEGV), ("USR2", SIGUSR2), ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM),
        ("CHLD", SIGCHLD), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN),
        ("TTOU", SIGTTOU), ("URG", SIGURG), ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM),
        ("PROF", SIGPROF), ("WINCH", SIGWINCH), ("IO", SIGIO), ("PWR", SIGPWR), ("SYS", SIGSYS),
    ]

    /// Parses "TERM", "SIGTERM", "sigterm" or "15".
    public static func parse(_ text: String) -> Int32? {
        if let number = Int32(text), number > 0, number < 65 { return number }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return names.first { $0.0 == name }?.1
    }
}

