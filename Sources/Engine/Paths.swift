#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// Where swiftainer keeps its data. Default /var/lib/swiftainer (images, containers) and
/// /run/swiftainer (runtime state); `SWIFTAINER_ROOT` or `--root DIR` puts both under DIR.
public struct Paths: Sendable {
    public let data: String
    public let state: String
    /// The root given by `--root` or SWIFTAINER_ROOT, passed on to processes we spawn.
    public let rootOverride: String?

    public init(root: String? = nil) {
        if let root = root ?? getenv("SWIFTAINER_ROOT").map({ String(cString: $0) }), !root.isEmpty {
            let absolute = root.hasPrefix("/") ? root : ProcessInfoLinux.currentDirectory + "/" + root
            data = absolute
            state = absolute + "/run"
            rootOverride = absolute
        } else {
            data = "/var/lib/swiftainer"
            state = "/run/swiftainer"
            rootOverride = nil
        }
    }

    public var images: String { data + "/images" }
    public var containers: String { data + "/containers" }
    public func container(_ id: String) -> String { containers + "/" + id }
    public var containersLock: String { data + "/containers.lock" }
    /// Docker's json-file log of a container.
    public func log(_ id: String) -> String { container(id) + "/\(id)-json.log" }
    /// Compiled seccomp programs, one file per profile digest.
    public var seccompCache: String { data + "/cache/seccomp" }
}
