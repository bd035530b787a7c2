/// The `flags` of a seccomp profile (Docker's JSON and OCI's `linux.seccomp.flags`): the
/// SECCOMP_FILTER_FLAG_* bits given to seccomp(SECCOMP_SET_MODE_FILTER). Unknown names are
/// refused rather than dropped — a profile that asks for something must get it or fail.
public enum SeccompFlags {
    /// The flags swiftainer passes to the kernel (values from linux/seccomp.h).
    static let supported: [String: UInt32] = [
        "SECCOMP_FILTER_FLAG_TSYNC": 1,
        "SECCOMP_FILTER_FLAG_LOG": 2,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    ]

    /// Flags that only mean something with a seccomp listener (SeccompNotify).
    static let listenerOnly: [String: UInt32] = [
        "SECCOMP_FILTER_FLAG_NEW_LISTENER": SeccompNotify.newListenerFlag,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
    ]

    /// Known flags that swiftainer cannot honour, and why.
    static let unsupported: [String: String] = [
        "SECCOMP_FILTER_FLAG_TSYNC_ESRCH": "it only changes how TSYNC reports a failure, and swiftainer's init is single-threaded when it loads the filter",
    ]

    /// The kernel's bits for `names`; `field` names the place in the profile for errors.
    /// `listener`: the profile notifies a listener (an SCMP_ACT_NOTIFY rule, a listenerPath).
    public static func value(_ names: [String]?, field: String, listener: Bool = false) throws -> UInt32 {
        var bits: UInt32 = 0
        for (index, name) in (names ?? []).enumerated() {
            if let bit = supported[name] {
                bits |= bit
            } else if let bit = listenerOnly[name] {
                guard listener else {
                    throw SeccompError("\(field)[\(index)]: \(name) needs a seccomp listener: an SCMP_ACT_NOTIFY rule and linux.seccomp.listenerPath")
                }
                bits |= bit
            } else if let reason = unsupported[name] {
                throw SeccompError("\(field)[\(index)]: \(name) is not supported: \(reason)")
            } else {
                throw SeccompError("\(field)[\(index)]: unknown flag '\(name)' (supported: \(supported.keys.sorted().joined(separator: ", ")))")
            }
        }
        return bits
    }
}

/// How large a profile may be. The kernel runs at most 4096 BPF instructions, so a profile
/// beyond a few thousand syscall names cannot load anyway; these bounds turn an absurd one
/// into an error at once instead of minutes of compiling.
public enum SeccompLimits {
    /// Syscall names, over all rules (Docker's default profile has about 400).
    public static let names = 10_000
    /// A profile file, in bytes (Docker's default is about 20 KB).
    public static let fileBytes = 4 << 20
}
