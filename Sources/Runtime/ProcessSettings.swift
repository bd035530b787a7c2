#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI

/// process.rlimits and process.oomScoreAdj, applied by the init (linux.sysctl: LinuxKit's Sysctl).
enum ProcessSettings {
    static let rlimitNumbers: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
        "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
        "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]

    /// Before credentials change: raising a hard limit needs CAP_SYS_RESOURCE, which a host
    /// may not grant (this one does not), and the error then names the limit.
    static func applyRlimits(_ rlimits: [Rlimit]?) throws {
        for limit in rlimits ?? [] {
            guard let resource = rlimitNumbers[limit.type] else { throw RuntimeError("process.rlimits: unknown type '\(limit.type)'") }
            var value = rlimit(rlim_cur: rlim_t(limit.soft), rlim_max: rlim_t(limit.hard))
            guard setrlimit(__rlimit_resource_t(UInt32(resource)), &value) == 0 else {
                throw RuntimeError("process.rlimits: \(limit.type) soft \(limit.soft) hard \(limit.hard)", SystemError.last("setrlimit"))
            }
        }
    }

    static func applyOOMScoreAdj(_ value: Int?) throws {
        guard let value else { return }
        guard (-1000...1000).contains(value) else { throw RuntimeError("process.oomScoreAdj \(value): must be -1000 to 1000") }
        do {
            let fd = try FileDescriptor.open("/proc/self/oom_score_adj", O_WRONLY)
            defer { fd.close() }
            try fd.writeAll("\(value)", what: "/proc/self/oom_score_adj")
        } catch {
            throw RuntimeError("process.oomScoreAdj \(value) (lowering it needs CAP_SYS_RESOURCE)", error)
        }
    }

    /// The home directory of `uid` in /etc/passwd as this process sees it (the container's,
    /// once its root is set up); "/" when it has no entry.
    static func homeDirectory(uid: UInt32, passwd: String? = try? Files.readString("/etc/passwd")) -> String {
        for line in (passwd ?? "").split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 6, UInt32(fields[2]) == uid, !fields[5].isEmpty { return String(fields[5]) }
        }
        return "/"
    }
}
