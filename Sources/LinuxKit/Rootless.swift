#if canImport(Glibc)
import Glibc
#endif

/// Rootless mode: swiftainer run by an ordinary user. The command joins the user's own user
/// namespace (uid 0 there is the user; other ids come from /etc/subuid) before it does
/// anything, and works there as root does — with the user's store and state, no cgroups it
/// was not given, and a user-mode network instead of the host's bridge.
public enum Rootless {
    /// Set by the process that joined the user namespace; its children inherit it.
    public static let uidVariable = "SWIFTAINER_ROOTLESS_UID"

    /// The user's uid outside when this process runs rootless; nil when it runs as the host's
    /// root. The variable alone does not make a process rootless: it must also be in a user
    /// namespace other than the host's (a root shell that exported it stays root).
    public static var uid: uid_t? {
        guard let text = getenv(uidVariable).map({ String(cString: $0) }), let uid = uid_t(text), !inInitialUserNamespace else { return nil }
        return uid
    }

    public static var isActive: Bool { uid != nil }

    /// Overlay's xattrs (opaque directories): `trusted.overlay.*` needs CAP_SYS_ADMIN over the
    /// host, so rootless layers carry `user.overlay.*` and are mounted with `userxattr`
    /// (kernel 5.11 and later).
    public static var overlayOpaqueXattr: String { isActive ? "user.overlay.opaque" : "trusted.overlay.opaque" }
    public static var overlayMountOptions: String { isActive ? ",userxattr" : "" }

    /// For an error of a helper that opens `device` as the user (slirp4netns /dev/net/tun,
    /// fuse-overlayfs /dev/fuse): the likely cause when the user cannot open it, else "".
    public static func deviceHint(_ device: String) -> String {
        access(device, R_OK | W_OK) == 0 ? "" : " (\(device) is not usable by you: Debian's default is mode 0666; scripts/install-deps sets it)"
    }

    /// The host's user namespace maps every id to itself, whole.
    static var inInitialUserNamespace: Bool {
        guard let map = try? Files.readString("/proc/self/uid_map") else { return true }
        let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields.count == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295"
    }

    /// The user's store and runtime state, as Podman keeps them: `$XDG_DATA_HOME/swiftainer`
    /// (default `~/.local/share/swiftainer`) and `$XDG_RUNTIME_DIR/swiftainer` (without one,
    /// `/tmp/swiftainer-run-UID`, checked to be the user's own before use).
    public static func directories(uid: uid_t) -> (data: String, state: String) {
        func variable(_ name: String) -> String? {
            getenv(name).map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil }
        }
        let home = variable("HOME") ?? getpwuid(uid).flatMap { $0.pointee.pw_dir.map { String(cString: $0) } } ?? "/tmp"
        let data = (variable("XDG_DATA_HOME") ?? home + "/.local/share") + "/swiftainer"
        let state = variable("XDG_RUNTIME_DIR").map { $0 + "/swiftainer" } ?? "/tmp/swiftainer-run-\(uid)"
        return (data, state)
    }
}
