import FoundationEssentials
import LinuxKit

/// Where swiftainer keeps its data. Default /var/lib/swiftainer (images, containers) and
/// /run/swiftainer (runtime state); `SWIFTAINER_ROOT` or `--root DIR` puts both under DIR.
public struct Paths: Sendable {
    public let data: String
    public let state: String

    public init(root: String? = nil) {
        if let root = root ?? ProcessInfo.processInfo.environment["SWIFTAINER_ROOT"], !root.isEmpty {
            let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
            data = absolute
            state = absolute + "/run"
        } else {
            data = "/var/lib/swiftainer"
            state = "/run/swiftainer"
        }
    }

    public var images: String { data + "/images" }
    public var containers: String { data + "/containers" }
    public func container(_ id: String) -> String { containers + "/" + id }
    public var containersLock: String { data + "/containers.lock" }
}
