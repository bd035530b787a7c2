import LinuxKit

/// Where the host's cgroup hierarchies are and where this process sits in each, read from
/// /proc/self/mountinfo and /proc/self/cgroup.
public struct CgroupLayout: Equatable, Sendable {
    public struct Hierarchy: Equatable, Sendable {
        /// Mount point, e.g. /sys/fs/cgroup/memory.
        public var mountPoint: String
        /// This process's cgroup inside it, e.g. /process_api/5d00….
        public var ownPath: String
    }

    /// cgroup2, when mounted.
    public var unified: Hierarchy?
    /// Controllers the unified hierarchy offers at our cgroup (cgroup.controllers).
    public var unifiedControllers: Set<String>
    /// v1 hierarchies by controller ("memory", "pids", "cpu", "cpuacct", "cpuset", …).
    public var legacy: [String: Hierarchy]

    /// The controllers swiftainer limits and measures.
    public static let managed = ["memory", "pids", "cpu"]

    /// v2 when the unified hierarchy carries memory, pids and cpu, or when no v1 hierarchy
    /// does (a pure v2 host, seen from a group whose parent has not handed them down yet: a
    /// rootless user's leaf below its delegated subtree); else v1 (hybrid hosts).
    public var usesUnified: Bool {
        unified != nil && (Self.managed.allSatisfy(unifiedControllers.contains) || Self.managed.allSatisfy { legacy[$0] == nil })
    }

    public var description: String {
        if usesUnified { return "cgroup v2 at \(unified!.mountPoint)" }
        return unified != nil ? "hybrid (controllers on cgroup v1, cgroup2 without them)" : "cgroup v1"
    }

    /// Reads the running system. `fsRoot` prefixes every path (tests point it at a fake tree).
    /// This process's layout, read once: a container's start and end ask for it several times,
    /// and neither the mounts nor the cgroup swiftainer runs in change while it runs.
    nonisolated(unsafe) private static var detected: CgroupLayout?

    public static func detect(fsRoot: String = "") throws -> CgroupLayout {
        if fsRoot.isEmpty, let detected { return detected }
        let layout = try read(fsRoot: fsRoot)
        if fsRoot.isEmpty { detected = layout }
        return layout
    }

    private static func read(fsRoot: String) throws -> CgroupLayout {
        let mountinfo = try Files.readString(fsRoot + "/proc/self/mountinfo")
        let membership = try Files.readString(fsRoot + "/proc/self/cgroup")
        var layout = parse(mountinfo: mountinfo, cgroup: membership)
        if let unified = layout.unified {
            let path = fsRoot + unified.mountPoint + (unified.ownPath == "/" ? "" : unified.ownPath) + "/cgroup.controllers"
            layout.unifiedControllers = Set(((try? Files.readString(path)) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        }
        return layout
    }

    static func parse(mountinfo: String, cgroup: String) -> CgroupLayout {
        // /proc/self/cgroup: "4:memory:/process_api/x", "0::/user.slice" (v2), "1:name=systemd:/".
        var v2Path: String?
        var v1Paths: [String: String] = [:]
        for line in cgroup.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                v2Path = String(fields[2])
            } else {
                for controller in fields[1].split(separator: ",") { v1Paths[String(controller)] = String(fields[2]) }
            }
        }
        var layout = CgroupLayout(unified: nil, unifiedControllers: [], legacy: [:])
        // mountinfo: "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
        for line in mountinfo.split(separator: "\n") {
            // Optional fields end at a lone "-"; the filesystem type and super options follow.
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-") else { continue }
            let left = fields[..<dash]
            let right = Array(fields[(dash + 1)...])
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountPoint = Mounts.unescapeMountinfo(String(left[4]))
            // The mount's own root inside the hierarchy: in a cgroup namespace it is not "/".
            let mountRoot = String(left[3])
            func relative(_ own: String) -> String {
                guard mountRoot != "/", own.hasPrefix(mountRoot) else { return own }
                let rest = String(own.dropFirst(mountRoot.count))
                return rest.isEmpty ? "/" : rest
            }
            switch right[0] {
            case "cgroup2":
                if layout.unified == nil, let own = v2Path {
                    layout.unified = Hierarchy(mountPoint: mountPoint, ownPath: relative(own))
                }
            case "cgroup":
                for option in right[2].split(separator: ",") {
                    let controller = String(option)
                    if let own = v1Paths[controller], layout.legacy[controller] == nil {
                        layout.legacy[controller] = Hierarchy(mountPoint: mountPoint, ownPath: relative(own))
                    }
                }
            default:
                continue
            }
        }
        return layout
    }
}

