#if canImport(Glibc)
import Glibc
#endif

/// `--debug`: each step of the run path printed to stderr.
public enum DebugLog {
    public nonisolated(unsafe) static var enabled = false

    public static func log(_ message: @autoclosure () -> String) {
        guard enabled else { return }
        fputs("swiftainer: debug: \(timestamp()) \(message())\n", stderr)
    }

    /// Monotonic seconds with microseconds, comparable across the parent and the init.
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let micros = String(now.tv_nsec / 1000)
        return "\(now.tv_sec).\(String(repeating: "0", count: 6 - micros.count))\(micros)"
    }
}

public enum Random {
    /// `count` random bytes. SystemRandomNumberGenerator is getrandom(2) on Linux.
    public static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// `count` random bytes as lowercase hex.
    public static func hex(bytes count: Int) -> String {
        let bytes = Self.bytes(count)
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
