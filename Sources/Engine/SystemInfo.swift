#if canImport(Glibc)
import Glibc
#endif
import Cgroups
import Images
import LinuxKit
import Seccomp

/// `info`: what Docker's shows, under Docker's field names (so --format templates written for
/// Docker read it).
public struct SystemInfo: Codable {
    public var ID: String
    public var Containers: Int
    public var ContainersRunning: Int
    public var ContainersPaused: Int
    public var ContainersStopped: Int
    public var Images: Int
    public var Driver: String
    public var DriverStatus: [[String]]
    public var LoggingDriver: String
    public var CgroupDriver: String
    public var CgroupVersion: String
    public var KernelVersion: String
    public var OperatingSystem: String
    public var OSType: String
    public var Architecture: String
    public var NCPU: Int
    public var MemTotal: UInt64
    public var Name: String
    public var DockerRootDir: String
    public var ServerVersion: String
    public var SecurityOptions: [String]
    public var DefaultRuntime: String
    public var Runtimes: [String: [String: String]]
    /// Where the runtime keeps per-run state (tmpfs), beside the data root.
    public var StateDir: String
}

/// One row of `system df`.
public struct DiskUsageRow: Codable {
    public var kind: String
    public var total: Int
    public var active: Int
    public var size: UInt64
    public var reclaimable: UInt64
}

extension Engine {
    public func systemInfo(serverVersion: String) -> SystemInfo {
        if geteuid() == 0 { containers.reconcile() }
        let records = containers.all()
        let running = records.filter(\.isRunning)
        let paused = running.filter { isPaused($0) }.count
        let layout = try? CgroupLayout.detect()
        var system = utsname()
        uname(&system)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let osRelease = (try? Files.readString("/etc/os-release")) ?? ""
        let prettyName = osRelease.split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
            .map { String($0.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(quotes: "\"") } ?? "Linux"
        let memory = (try? Files.readString("/proc/meminfo"))?.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { UInt64($0) }.map { $0 * 1024 } ?? 0
        let imageCount = ((try? images.list()) ?? []).count
        let backing = Paths.filesystemName(of: paths.data)
        let cgroupVersion = layout.map { $0.usesUnified ? "2" : "1" } ?? "unknown"
        var security = ["name=seccomp,profile=builtin", "name=no-new-privileges"]
        if layout?.usesUnified == true { security.append("name=cgroupns") }
        // Docker's word for it; the root of the user namespace is the user.
        if Rootless.isActive { security.append("name=rootless") }
        let executable = Files.readLink("/proc/self/exe") ?? "swiftainer"
        return SystemInfo(
            ID: Self.machineID(), Containers: records.count, ContainersRunning: running.count - paused, ContainersPaused: paused,
            ContainersStopped: records.count - running.count, Images: imageCount,
            Driver: "overlay2", DriverStatus: [["Backing Filesystem", backing], ["Supports d_type", "true"]],
            LoggingDriver: "json-file", CgroupDriver: "cgroupfs",
            CgroupVersion: cgroupVersion + (layout.map { !$0.usesUnified && $0.unified != nil ? " (hybrid: v2 mounted without controllers)" : "" } ?? ""),
            KernelVersion: field(system.release), OperatingSystem: prettyName, OSType: "linux", Architecture: field(system.machine),
            NCPU: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), MemTotal: memory, Name: field(system.nodename), DockerRootDir: paths.data,
            ServerVersion: serverVersion, SecurityOptions: security, DefaultRuntime: "swiftainer",
            Runtimes: ["swiftainer": ["path": executable]], StateDir: paths.state)
    }

    /// Volumes: used ones are active, the others reclaimable.
    func volumeRow(_ records: [ContainerRecord]) -> DiskUsageRow {
        let used = Set(records.flatMap { $0.volumes ?? [] })
        let all = volumes.all()
        let sizes = all.map { (name: $0.Name, size: Files.diskUsage($0.Mountpoint)) }
        return DiskUsageRow(kind: "Local Volumes", total: all.count, active: all.filter { used.contains($0.Name) }.count,
                            size: sizes.map(\.size).reduce(0, +), reclaimable: sizes.filter { !used.contains($0.name) }.map(\.size).reduce(0, +))
    }

    /// /etc/machine-id, Docker's ID stands in for the daemon's.
    static func machineID() -> String {
        ((try? Files.readString("/etc/machine-id")) ?? "").split(separator: "\n").first.map(String.init) ?? ""
    }

    /// `system df`: images (their layers counted once), containers (their writable layers),
    /// volumes and build cache (none of either: zero rows, as Docker shows them).
    public func diskUsage() throws -> (rows: [DiskUsageRow], images: [(record: ImageRecord, tags: [ImageReference], containers: Int)],
                                        containers: [(record: ContainerRecord, size: UInt64)]) {
        if geteuid() == 0 { containers.reconcile() }
        let records = containers.all()
        let imageEntries = try images.list()
        let usedIDs = Set(records.map(\.imageID))
        var layerSizes: [String: UInt64] = [:]
        var activeLayers = Set<String>()
        for entry in imageEntries {
            for chain in entry.record.chainIDs {
                layerSizes[chain] = layerSizes[chain] ?? Files.diskUsage(images.layerPath(chain: chain))
                if usedIDs.contains(entry.record.id) { activeLayers.insert(chain) }
            }
        }
        let imagesSize = layerSizes.values.reduce(0, +)
        let reclaimableImages = layerSizes.filter { !activeLayers.contains($0.key) }.values.reduce(0, +)
        let containerSizes = records.map { ($0, Files.diskUsage(paths.container($0.id) + "/upper")) }
        let containersSize = containerSizes.map(\.1).reduce(0, +)
        let reclaimableContainers = containerSizes.filter { !$0.0.isRunning }.map(\.1).reduce(0, +)
        let rows = [
            DiskUsageRow(kind: "Images", total: imageEntries.count, active: imageEntries.filter { usedIDs.contains($0.record.id) }.count,
                         size: imagesSize, reclaimable: reclaimableImages),
            DiskUsageRow(kind: "Containers", total: records.count, active: records.filter(\.isRunning).count, size: containersSize, reclaimable: reclaimableContainers),
            volumeRow(records),
            DiskUsageRow(kind: "Build Cache", total: 0, active: 0, size: 0, reclaimable: 0),
        ]
        let imageUse = imageEntries.map { entry in (entry.record, entry.tags, records.filter { $0.imageID == entry.record.id }.count) }
        return (rows, imageUse, containerSizes)
    }
}

extension String {
    func trimmingCharacters(quotes: Character) -> String {
        var text = Substring(self)
        if text.first == quotes { text.removeFirst() }
        if text.last == quotes { text.removeLast() }
        return String(text)
    }
}
