#if canImport(Glibc)
import Glibc
#endif

/// Kernel parameters under /proc/sys, named as sysctl(8) names them: `net.ipv4.ip_forward`.
/// A key whose parts are empty or contain "/" is refused, so no key can name a path elsewhere.
public enum Sysctl {
    public static func path(_ key: String) throws -> String {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && !$0.contains("/") }) else {
            throw SystemError(errno: EINVAL, call: "sysctl", detail: "invalid key '\(key)'")
        }
        return "/proc/sys/" + parts.joined(separator: "/")
    }

    public static func read(_ key: String) -> String? {
        (try? path(key)).flatMap { try? Files.readString($0) }?.trimmingWhitespace
    }

    public static func write(_ key: String, _ value: String) throws {
        let target = try path(key)
        let fd = try FileDescriptor.open(target, O_WRONLY)
        defer { fd.close() }
        try fd.writeAll(value, what: target)
    }
}
