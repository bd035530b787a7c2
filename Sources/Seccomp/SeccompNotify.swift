import OCI

/// Seccomp user notification: rules whose action is SCMP_ACT_NOTIFY make the kernel hand the
/// syscall to a listener instead of deciding it. The filter is loaded with
/// SECCOMP_FILTER_FLAG_NEW_LISTENER, which yields the notify fd; the runtime sends that fd,
/// with the container's process state, to the unix socket at linux.seccomp.listenerPath.
public enum SeccompNotify {
    /// SECCOMP_FILTER_FLAG_NEW_LISTENER (linux/seccomp.h).
    public static let newListenerFlag: UInt32 = 8

    /// The listener's socket path when the profile notifies; nil when it does not (a
    /// listenerPath without a notifying rule has nothing to listen to, and is not connected).
    /// Refused: a notifying profile without a listener (its syscalls would fail with ENOSYS),
    /// NOTIFY as the default action (the runtime's own last steps would wait on the listener,
    /// as runc refuses it), and notifying sendmsg, with which the runtime hands the fd over.
    public static func listener(for seccomp: OCI.Seccomp) throws -> String? {
        if seccomp.defaultAction == "SCMP_ACT_NOTIFY" {
            throw SeccompError("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action: every syscall left before the container's process runs would wait for the listener")
        }
        let notifying = (seccomp.syscalls ?? []).enumerated().filter { $0.element.action == "SCMP_ACT_NOTIFY" }
        guard let first = notifying.first else { return nil }
        guard let path = seccomp.listenerPath, !path.isEmpty else {
            throw SeccompError("linux.seccomp.syscalls[\(first.offset)]: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath, the socket of the process that answers")
        }
        guard path.hasPrefix("/") else {
            throw SeccompError("linux.seccomp.listenerPath: '\(path)' must be an absolute path")
        }
        if let rule = notifying.first(where: { $0.element.names.contains("sendmsg") }) {
            throw SeccompError("linux.seccomp.syscalls[\(rule.offset)]: SCMP_ACT_NOTIFY on sendmsg is refused: the runtime hands the listener its fd with sendmsg")
        }
        return path
    }
}
