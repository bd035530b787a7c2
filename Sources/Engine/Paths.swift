#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

/// Where swiftainer keeps its data. Default /var/lib/swiftainer (images, containers) and
/// /run/swiftainer (runtime state), rootless the user's (see `Rootless.directories`);
/// `SWIFTAINER_ROOT` or `--root DIR` puts both under DIR.
public struct Paths: Sendable {
    public let data: String
    public let state: String
    /// The root given by `--root` or SWIFTAINER_ROOT, passed on to processes we spawn.
    public let rootOverride: String?

    /// The root the command line or the environment asks for (nil: the default), checked: it
    /// must be a directory, or a path that can become one, on a real filesystem.
    public static func requestedRoot(_ option: String?) throws -> String? {
        let (root, source) = option.map { ($0, "--root") } ?? (getenv("SWIFTAINER_ROOT").map { String(cString: $0) }, "SWIFTAINER_ROOT")
        guard let root else { return nil }
        try checkRoot(root, source: source)
        return root
    }

    /// Refuses, by name, a root that is empty, not a directory (a file, /dev/null), below a file,
    /// or on a kernel filesystem (/proc/self, /sys): commands would otherwise "work" on it and
    /// print empty tables.
    public static func checkRoot(_ root: String, source: String) throws {
        let shown = "\(source) '\(Printable.escaped(root))'"
        guard !root.isEmpty else { throw EngineError.invalidOption("\(shown): the root directory must not be empty") }
        let absolute = Files.absolute(root)
        var path = absolute
        // The nearest part of the path that exists must be a directory; what is missing below
        // it is created on first use.
        while true {
            var info = stat()
            if stat(path, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw EngineError.invalidOption(path == absolute ? "\(shown): not a directory" : "\(shown): \(path) is not a directory")
                }
                break
            }
            guard errno == ENOENT || errno == ENOTDIR else {
                throw EngineError.invalidOption("\(shown): \(SystemError.last("stat", path))")
            }
            path = Files.dirname(of: path)
        }
        let type = sw_filesystem_type(path)
        guard type >= 0 else { throw EngineError.invalidOption("\(shown): \(SystemError.last("statfs", path))") }
        if let kind = kernelFilesystems[UInt(type)] {
            throw EngineError.invalidOption("\(shown): \(path) is on \(kind), not a filesystem that can hold a store")
        }
    }

    /// The filesystem `path` is on, by name where known (Docker's "Backing Filesystem").
    static func filesystemName(of path: String) -> String {
        let type = sw_filesystem_type(path)
        guard type >= 0 else { return "unknown" }
        let storage: [UInt: String] = [0xef53: "extfs", 0x5846_5342: "xfs", 0x9123_683e: "btrfs", 0x0102_1994: "tmpfs",
                                       0x794c_7630: "overlayfs", 0x2fc1_2fc1: "zfs", 0x6969: "nfs", 0x0102_1997: "9p"]
        return storage[UInt(type)] ?? kernelFilesystems[UInt(type)] ?? "0x" + String(UInt(type), radix: 16)
    }

    /// Magic numbers (statfs f_type) of filesystems that are views of the kernel, not storage.
    static let kernelFilesystems: [UInt: String] = [
        0x9fa0: "procfs", 0x6265_6572: "sysfs", 0x1cd1: "devpts", 0x0027_e0eb: "cgroupfs", 0x6367_7270: "cgroup2fs",
        0x6462_6720: "debugfs", 0x7363_6673: "securityfs", 0xcafe_4a11: "bpffs", 0x7472_6163: "tracefs",
        0x4249_4e4d: "binfmt_misc", 0x6e73_6673: "nsfs", 0x5049_5045: "pipefs",
    ]

    /// `SWIFTAINER_STATE` moves the runtime state alone (as Podman's --runroot does): a store
    /// of its own on disk with its state on tmpfs, as in a default install, is what
    /// scripts/bench measures.
    public init(root: String? = nil) {
        let stateOverride = getenv("SWIFTAINER_STATE").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : Files.absolute($0) }
        if let root = root ?? getenv("SWIFTAINER_ROOT").map({ String(cString: $0) }), !root.isEmpty {
            data = Files.absolute(root)
            state = stateOverride ?? data + "/run"
            rootOverride = data
        } else if let uid = Rootless.uid {
            let user = Rootless.directories(uid: uid)
            data = user.data
            state = stateOverride ?? user.state
            rootOverride = nil
        } else {
            data = "/var/lib/swiftainer"
            state = stateOverride ?? "/run/swiftainer"
            rootOverride = nil
        }
    }

    public var images: String { data + "/images" }
    public var containers: String { data + "/containers" }
    public func container(_ id: String) -> String { containers + "/" + id }
    public var containersLock: String { data + "/containers.lock" }
    /// The container core's state root for the engine's containers: tmpfs (/run), per run.
    public var runtimeState: String { state + "/containers" }
    /// Docker's json-file log of a container.
    public func log(_ id: String) -> String { container(id) + "/\(id)-json.log" }
    /// Compiled seccomp programs, one file per profile digest.
    public var seccompCache: String { data + "/cache/seccomp" }
}
