import LinuxKit

/// Linux capability names (as the OCI spec spells them) and numbers, from linux/capability.h.
public enum CapabilityNames {
    public static let all: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// Docker's default set: what every container gets unless told otherwise.
    public static let dockerDefault: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    public static func number(_ name: String) -> Int? { all.firstIndex(of: name) }

    /// Whether this process can hand the capability to a container: the kernel knows it and it
    /// is in our own bounding set (a runtime cannot grant what it does not hold — on this host,
    /// for one, root lacks CAP_SYS_RESOURCE).
    public static func isAvailable(_ name: String) -> Bool {
        guard let number = number(name) else { return false }
        return ownBoundingSet & (1 << UInt64(number)) != 0
    }

    static let ownBoundingSet = ProcessInfoLinux.capabilityBoundingSet

    /// "sys_admin", "SYS_ADMIN" or "CAP_SYS_ADMIN" -> "CAP_SYS_ADMIN"; nil when unknown.
    public static func canonical(_ text: String) -> String? {
        let upper = text.uppercased()
        let name = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
        return all.contains(name) ? name : nil
    }

    /// A bit mask of the named capabilities; unknown names are reported.
    public static func mask(_ names: [String]) throws -> UInt64 {
        var mask: UInt64 = 0
        for name in names {
            guard let number = number(name) else { throw UnknownCapability(name: name) }
            mask |= 1 << UInt64(number)
        }
        return mask
    }

    public struct UnknownCapability: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "unknown capability '\(name)'" }
    }
}
