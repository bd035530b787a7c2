#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI

public struct CgroupError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What `stats` shows for one container.
public struct CgroupStats: Equatable, Sendable {
    public var cpuUsageNanoseconds: UInt64
    public var memoryUsage: UInt64
    public var memoryLimit: UInt64?
    public var pids: UInt64
    public var oomKills: UInt64
}

/// One container's cgroup: a directory per hierarchy (v2: one; v1: memory, pids, cpu, cpuacct
/// and cpuset when asked for), removed — with anything still in it killed — by `destroy`.
public final class ContainerCgroup {
    public let layout: CgroupLayout
    /// Where the group is, in every hierarchy: a relative path ("swiftainer-<id>") is below this
    /// process's own cgroup; an absolute one ("/docker/<id>") is from the hierarchy's root, as
    /// the runtime spec reads linux.cgroupsPath.
    public let relativePath: String
    let fsRoot: String

    public init(layout: CgroupLayout, relativePath: String, fsRoot: String = "") {
        self.layout = layout
        self.relativePath = relativePath
        self.fsRoot = fsRoot
    }

    /// The group's directory in one hierarchy.
    func directory(in hierarchy: CgroupLayout.Hierarchy) -> String {
        if relativePath.hasPrefix("/") { return fsRoot + hierarchy.mountPoint + relativePath }
        return fsRoot + hierarchy.mountPoint + (hierarchy.ownPath == "/" ? "" : hierarchy.ownPath) + "/" + relativePath
    }

    /// Whether a run with these resources needs a v1 cpuset group.
    static func needsCpuset(_ resources: Resources?) -> Bool {
        resources?.cpu?.cpus != nil || resources?.cpu?.mems != nil
    }

    /// The directory in each hierarchy in use, keyed by controller ("" for v2).
    public func directories(includingCpuset: Bool = false, includingDevices: Bool = false, includingFreezer: Bool = false,
                            extra: [String] = []) -> [String: String] {
        if layout.usesUnified, let unified = layout.unified { return ["": directory(in: unified)] }
        var controllers = ["memory", "pids", "cpu", "cpuacct"]
        if includingCpuset { controllers.append("cpuset") }
        if includingDevices { controllers.append("devices") }
        if includingFreezer { controllers.append("freezer") }
        controllers += extra
        var result: [String: String] = [:]
        for controller in controllers {
            if let hierarchy = layout.legacy[controller] { result[controller] = directory(in: hierarchy) }
        }
        // Controllers mounted together (cpu,cpuacct) share one directory.
        return result
    }

    // MARK: create and apply

    /// Creates the directories and applies the limits; `add` then moves processes in. On
    /// failure everything created is removed again.
    public func prepare(resources: Resources?) throws {
        let resources = resources?.withoutZeroes
        let extra = try requiredControllers(resources)
        let dirs = directories(includingCpuset: Self.needsCpuset(resources), includingDevices: !(resources?.devices ?? []).isEmpty, extra: extra)
        guard !dirs.isEmpty else { throw CgroupError("no cgroup hierarchy with memory, pids or cpu controllers is mounted") }
        do {
            if layout.usesUnified, let dir = dirs[""] {
                try enableControllers(down: dir, cpuset: Self.needsCpuset(resources), extra: extra)
                try Files.makeDirectories(dir)
                try applyV2(resources, dir)
            } else {
                for (controller, dir) in dirs.sorted(by: { $0.key < $1.key }) {
                    try Files.makeDirectories(dir)
                    if controller == "cpuset" { try prepareCpuset(dir, resources?.cpu) }
                }
                try applyV1(resources, dirs)
            }
            preparedDirectories = Set(dirs.values)
            DebugLog.log("cgroup (\(layout.description)): \(preparedDirectories.sorted().joined(separator: " "))")
        } catch {
            destroy()
            throw error
        }
    }

    /// For a process joining a running container (exec): its groups exist already and keep
    /// their limits; `add` then moves the new process into each of them.
    /// Whether any of its directories exists (rootless containers on cgroup v1 have none).
    public var exists: Bool {
        directories(includingCpuset: true, includingDevices: true, includingFreezer: true, extra: Self.optionalControllers).values.contains { Files.isDirectory($0) }
    }

    public func adoptExisting() throws {
        let existing = directories(includingCpuset: true, includingDevices: true, includingFreezer: true, extra: Self.optionalControllers)
            .values.filter { Files.isDirectory($0) }
        guard !existing.isEmpty else { throw CgroupError("the container's cgroup \(relativePath) does not exist") }
        preparedDirectories = Set(existing)
    }

    /// Moves `pid` into every prepared hierarchy. On cgroup v1 one such write can take a
    /// scheduler grace period (~10 ms here), so callers overlap it with other work.
    public func add(pid: pid_t) throws {
        for dir in preparedDirectories.sorted() { try write(dir + "/cgroup.procs", "\(pid)") }
    }

    /// `prepare` then `add`.
    public func create(resources: Resources?, pid: pid_t) throws {
        try prepare(resources: resources)
        do { try add(pid: pid) } catch {
            destroy()
            throw error
        }
    }

    private var preparedDirectories: Set<String> = []

    /// What the container's /sys/fs/cgroup shows: its own directory in each hierarchy it was
    /// placed in (call after `prepare`). v1 names each by the host's mount point ("memory",
    /// "cpu,cpuacct"); hierarchies it was not placed in are not shown.
    public var view: CgroupView {
        if layout.usesUnified, let unified = layout.unified {
            let dir = directory(in: unified)
            return CgroupView(unified: preparedDirectories.contains(dir) ? dir : nil, hierarchies: [])
        }
        var seen: Set<String> = []
        var hierarchies: [CgroupView.Hierarchy] = []
        for (_, hierarchy) in layout.legacy.sorted(by: { $0.key < $1.key }) where !seen.contains(hierarchy.mountPoint) {
            let dir = directory(in: hierarchy)
            guard preparedDirectories.contains(dir) else { continue }
            seen.insert(hierarchy.mountPoint)
            hierarchies.append(CgroupView.Hierarchy(name: Files.basename(of: hierarchy.mountPoint), directory: dir))
        }
        return CgroupView(unified: nil, hierarchies: hierarchies)
    }

    /// cgroup v2 delegates a controller to a child only when every ancestor below ours lists it
    /// in cgroup.subtree_control.
    private func enableControllers(down dir: String, cpuset: Bool, extra: [String] = []) throws {
        guard let unified = layout.unified else { return }
        let base = relativePath.hasPrefix("/") ? fsRoot + unified.mountPoint : fsRoot + unified.mountPoint + (unified.ownPath == "/" ? "" : unified.ownPath)
        var controllers = ["memory", "pids", "cpu"]
        if cpuset { controllers.append("cpuset") }
        controllers += extra
        let request = controllers.map { "+" + $0 }.joined(separator: " ")
        var current = base
        for component in relativePath.split(separator: "/").dropLast() {
            try enable(request, at: current, base: base)
            current += "/" + component
            try Files.makeDirectories(current)
        }
        try enable(request, at: current, base: base)
    }

    private func enable(_ request: String, at dir: String, base: String) throws {
        let enabled = Set(((try? Files.readString(dir + "/cgroup.subtree_control")) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }))
        if request.split(separator: " ").allSatisfy({ enabled.contains($0.dropFirst()) }) { return }
        do {
            try write(dir + "/cgroup.subtree_control", request)
        } catch let error as SystemError where error.errno == EBUSY && dir == base {
            throw CgroupError("cannot delegate controllers below \(dir): it holds processes (cgroup v2 allows controllers only in cgroups without them); run swiftainer from a cgroup of its own")
        }
    }

    /// Controllers beyond memory, pids and cpu that `resources` needs, by this host's names
    /// (v1: blkio, net_cls, net_prio, hugetlb, rdma; v2: io, hugetlb, rdma). A limit whose
    /// controller this host lacks is refused here: a container never starts without a limit
    /// it asked for.
    func requiredControllers(_ resources: Resources?) throws -> [String] {
        guard let resources else { return [] }
        var wanted: [(controller: String, field: String)] = []
        let unified = layout.usesUnified
        if let io = resources.blockIO, !io.isEmpty { wanted.append((unified ? "io" : "blkio", "blockIO")) }
        if (resources.network?.classID ?? 0) != 0 { wanted.append(("net_cls", "network.classID")) }
        if !(resources.network?.priorities ?? []).isEmpty { wanted.append(("net_prio", "network.priorities")) }
        if !(resources.hugepageLimits ?? []).isEmpty { wanted.append(("hugetlb", "hugepageLimits")) }
        if !(resources.rdma ?? [:]).isEmpty { wanted.append(("rdma", "rdma")) }
        for (controller, field) in wanted {
            if unified {
                if controller.hasPrefix("net_") {
                    throw CgroupError("linux.resources.\(field): \(controller) is a cgroup v1 controller; this host runs cgroup v2")
                }
                guard fsRoot.isEmpty ? layout.unifiedControllers.contains(controller) : true else {
                    throw CgroupError("linux.resources.\(field) needs the \(controller) controller, which this host's cgroup v2 does not offer")
                }
            } else if layout.legacy[controller] == nil {
                throw CgroupError("linux.resources.\(field) needs the \(controller) controller, which this host does not mount")
            }
        }
        return wanted.map(\.controller).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// A limit file that must exist: a kernel without it cannot apply the limit, which is
    /// then refused by name rather than skipped.
    private func writeRequired(_ path: String, _ value: String, field: String) throws {
        guard fsRoot.isEmpty ? Files.exists(path) : true else {
            throw CgroupError("linux.resources.\(field): this host's kernel has no \(Files.basename(of: path)) to apply it")
        }
        try write(path, value)
    }

    private static func device(_ major: Int64, _ minor: Int64) -> String { "\(major):\(minor)" }

    /// What cgroup v2 has no file for, refused by name.
    private func refuseOnV2(_ resources: Resources) throws {
        func refuse(_ field: String, _ why: String) throws { throw CgroupError("linux.resources.\(field): \(why) on cgroup v2") }
        if resources.memory?.swappiness != nil { try refuse("memory.swappiness", "there is no per-group swappiness") }
        if resources.memory?.kernelTCP != nil { try refuse("memory.kernelTCP", "there is no kernel TCP memory limit") }
        if resources.memory?.disableOOMKiller == true { try refuse("memory.disableOOMKiller", "the OOM killer cannot be disabled") }
        if resources.cpu?.realtimeRuntime != nil || resources.cpu?.realtimePeriod != nil {
            try refuse("cpu.realtimeRuntime", "there is no real-time CPU bandwidth")
        }
    }

    /// blockIO, hugepages, rdma and `unified` on cgroup v2.
    private func applyExtrasV2(_ resources: Resources, _ dir: String) throws {
        if let reservation = resources.memory?.reservation { try write(dir + "/memory.low", "\(reservation)") }
        if let io = resources.blockIO, !io.isEmpty {
            if (io.leafWeight ?? 0) != 0 || io.weightDevice?.contains(where: { ($0.leafWeight ?? 0) != 0 }) == true {
                throw CgroupError("linux.resources.blockIO.leafWeight: there is no leaf weight on cgroup v2")
            }
            if let weight = io.weight, weight != 0 { try writeRequired(dir + "/io.weight", "default \(weight)", field: "blockIO.weight") }
            for device in io.weightDevice ?? [] {
                if let weight = device.weight { try writeRequired(dir + "/io.weight", "\(Self.device(device.major, device.minor)) \(weight)", field: "blockIO.weightDevice") }
            }
            for (devices, key) in [(io.throttleReadBpsDevice, "rbps"), (io.throttleWriteBpsDevice, "wbps"),
                                   (io.throttleReadIOPSDevice, "riops"), (io.throttleWriteIOPSDevice, "wiops")] {
                for device in devices ?? [] {
                    try write(dir + "/io.max", "\(Self.device(device.major, device.minor)) \(key)=\(device.rate == 0 ? "max" : "\(device.rate)")")
                }
            }
        }
        for limit in resources.hugepageLimits ?? [] {
            try writeRequired(dir + "/hugetlb.\(limit.pageSize).max", "\(limit.limit)", field: "hugepageLimits \(limit.pageSize)")
        }
        for (device, limit) in (resources.rdma ?? [:]).sorted(by: { $0.key < $1.key }) {
            try write(dir + "/rdma.max", Self.rdmaLine(device, limit))
        }
        for (key, value) in (resources.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !key.contains("/"), !key.hasPrefix("."), key.contains(".") else {
                throw CgroupError("linux.resources.unified: '\(key)' is not a cgroup file name")
            }
            try writeRequired(dir + "/" + key, value, field: "unified[\(key)]")
        }
    }

    /// The v1-only limits; `unified` has no place here.
    private func applyExtrasV1(_ resources: Resources, _ dirs: [String: String]) throws {
        if resources.unified?.isEmpty == false {
            throw CgroupError("linux.resources.unified needs cgroup v2; this host's memory, pids and cpu controllers are on cgroup v1")
        }
        if let memory = resources.memory, let dir = dirs["memory"] {
            if let reservation = memory.reservation { try write(dir + "/memory.soft_limit_in_bytes", "\(reservation)") }
            if let swappiness = memory.swappiness {
                guard swappiness <= 100 else { throw CgroupError("linux.resources.memory.swappiness \(swappiness) is out of range (0 to 100)") }
                try writeRequired(dir + "/memory.swappiness", "\(swappiness)", field: "memory.swappiness")
            }
            if let tcp = memory.kernelTCP { try writeRequired(dir + "/memory.kmem.tcp.limit_in_bytes", "\(tcp)", field: "memory.kernelTCP") }
            if memory.disableOOMKiller == true { try write(dir + "/memory.oom_control", "1") }
        }
        if let cpu = resources.cpu, let dir = dirs["cpu"] {
            if let period = cpu.realtimePeriod { try writeRequired(dir + "/cpu.rt_period_us", "\(period)", field: "cpu.realtimePeriod") }
            if let runtime = cpu.realtimeRuntime { try writeRequired(dir + "/cpu.rt_runtime_us", "\(runtime)", field: "cpu.realtimeRuntime") }
        }
        if let io = resources.blockIO, !io.isEmpty, let dir = dirs["blkio"] {
            if let weight = io.weight, weight != 0 { try writeRequired(dir + "/blkio.weight", "\(weight)", field: "blockIO.weight") }
            if let weight = io.leafWeight, weight != 0 { try writeRequired(dir + "/blkio.leaf_weight", "\(weight)", field: "blockIO.leafWeight") }
            for device in io.weightDevice ?? [] {
                let name = Self.device(device.major, device.minor)
                if let weight = device.weight { try writeRequired(dir + "/blkio.weight_device", "\(name) \(weight)", field: "blockIO.weightDevice") }
                if let weight = device.leafWeight { try writeRequired(dir + "/blkio.leaf_weight_device", "\(name) \(weight)", field: "blockIO.weightDevice") }
            }
            for (devices, file) in [(io.throttleReadBpsDevice, "read_bps_device"), (io.throttleWriteBpsDevice, "write_bps_device"),
                                    (io.throttleReadIOPSDevice, "read_iops_device"), (io.throttleWriteIOPSDevice, "write_iops_device")] {
                for device in devices ?? [] {
                    try writeRequired(dir + "/blkio.throttle." + file, "\(Self.device(device.major, device.minor)) \(device.rate)", field: "blockIO")
                }
            }
        }
        if let classID = resources.network?.classID, classID != 0, let dir = dirs["net_cls"] { try write(dir + "/net_cls.classid", "\(classID)") }
        for priority in resources.network?.priorities ?? [] {
            if let dir = dirs["net_prio"] { try write(dir + "/net_prio.ifpriomap", "\(priority.name) \(priority.priority)") }
        }
        for limit in resources.hugepageLimits ?? [] {
            if let dir = dirs["hugetlb"] {
                try writeRequired(dir + "/hugetlb.\(limit.pageSize).limit_in_bytes", "\(limit.limit)", field: "hugepageLimits \(limit.pageSize)")
            }
        }
        for (device, limit) in (resources.rdma ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let dir = dirs["rdma"] { try write(dir + "/rdma.max", Self.rdmaLine(device, limit)) }
        }
    }

    static func rdmaLine(_ device: String, _ limit: RdmaLimit) -> String {
        "\(device) hca_handle=\(limit.hcaHandles.map(String.init) ?? "max") hca_object=\(limit.hcaObjects.map(String.init) ?? "max")"
    }

    func applyV2(_ resources: Resources?, _ dir: String) throws {
        guard let resources else { return }
        if resources.memory?.kernel != nil { throw CgroupError("linux.resources.memory.kernel: kernel memory limits are gone from the kernel; remove the setting") }
        try refuseOnV2(resources)
        try applyExtrasV2(resources, dir)
        if let memory = resources.memory {
            if let limit = memory.limit { try write(dir + "/memory.max", limit < 0 ? "max" : "\(limit)") }
            if let swap = memory.swap {
                // OCI gives memory+swap (v1 semantics); v2 wants swap alone.
                let difference = swap.subtractingReportingOverflow(max(0, memory.limit ?? 0))
                let swapOnly = swap < 0 || difference.overflow ? "max" : "\(max(0, difference.partialValue))"
                try writeIfPresent(dir + "/memory.swap.max", swapOnly)
            }
        }
        if let pids = resources.pids { try write(dir + "/pids.max", pids.limit <= 0 ? "max" : "\(pids.limit)") }
        if let cpu = resources.cpu {
            if cpu.quota != nil || cpu.period != nil {
                let period = cpu.period ?? 100_000
                let quota = cpu.quota.map { $0 <= 0 ? "max" : "\($0)" } ?? "max"
                try write(dir + "/cpu.max", "\(quota) \(period)")
            }
            if let shares = cpu.shares { try write(dir + "/cpu.weight", "\(Self.weight(fromShares: shares))") }
            if let cpus = cpu.cpus { try write(dir + "/cpuset.cpus", cpus) }
            if let mems = cpu.mems { try write(dir + "/cpuset.mems", mems) }
        }
        // Rootless there are no device rules to attach (a BPF program needs privilege over
        // the host) and none are needed: the container's devices are the host's nodes,
        // bind-mounted, opened with the user's own permissions.
        if let devices = resources.devices, !devices.isEmpty, !Rootless.isActive { try DeviceRules.attach(devices + DeviceRules.openable, to: dir) }
    }

    /// runc's conversion of cpu.shares [2, 262144] to cpu.weight [1, 10000].
    public static func weight(fromShares shares: UInt64) -> UInt64 {
        let clamped = min(max(shares, 2), 262_144)
        return 1 + ((clamped - 2) * 9999) / 262_142
    }

    func applyV1(_ resources: Resources?, _ dirs: [String: String]) throws {
        guard let resources else { return }
        if resources.memory?.kernel != nil { throw CgroupError("linux.resources.memory.kernel: kernel memory limits are gone from the kernel; remove the setting") }
        try applyExtrasV1(resources, dirs)
        if let memory = resources.memory, let dir = dirs["memory"] {
            if let limit = memory.limit { try write(dir + "/memory.limit_in_bytes", "\(limit)") }
            // memsw is memory+swap; it must not be below the memory limit, so it comes second.
            if let swap = memory.swap { try writeIfPresent(dir + "/memory.memsw.limit_in_bytes", "\(swap)") }
        }
        if let pids = resources.pids, let dir = dirs["pids"] {
            try write(dir + "/pids.max", pids.limit <= 0 ? "max" : "\(pids.limit)")
        }
        if let devices = resources.devices, !devices.isEmpty, let dir = dirs["devices"] {
            // In order: "a" to devices.deny first empties the list, allows then add back.
            for rule in devices + DeviceRules.openable {
                try write(dir + (rule.allow ? "/devices.allow" : "/devices.deny"), DeviceRules.v1Line(rule))
            }
        }
        if let cpu = resources.cpu, let dir = dirs["cpu"] {
            if let period = cpu.period { try write(dir + "/cpu.cfs_period_us", "\(period)") }
            if let quota = cpu.quota { try write(dir + "/cpu.cfs_quota_us", "\(quota <= 0 ? -1 : quota)") }
            if let shares = cpu.shares { try write(dir + "/cpu.shares", "\(shares)") }
        }
    }

    /// New limits for a running container's existing groups (`update`): only what `resources`
    /// names changes. On v1 a memory limit above the current memory+swap limit needs that
    /// one raised first, and one below it the other way round.
    public func update(_ resources: Resources) throws {
        let resources = resources.withoutZeroes
        let dirs = directories(includingCpuset: true, includingDevices: false, extra: Self.optionalControllers).filter { Files.isDirectory($0.value) }
        guard !dirs.isEmpty else { throw CgroupError("the container's cgroup \(relativePath) does not exist") }
        if layout.usesUnified, let dir = dirs[""] {
            try applyV2(resources, dir)
            return
        }
        var rest = resources
        if let memory = resources.memory, let dir = dirs["memory"] {
            let memsw = dir + "/memory.memsw.limit_in_bytes"
            let current = (try? Files.readString(memsw)).flatMap { Int64($0.trimmingWhitespace) }
            if let swap = memory.swap, let limit = memory.limit, let current, limit > current {
                try writeIfPresent(memsw, "\(swap)")
                try write(dir + "/memory.limit_in_bytes", "\(limit)")
            } else {
                if let limit = memory.limit { try write(dir + "/memory.limit_in_bytes", "\(limit)") }
                if let swap = memory.swap { try writeIfPresent(memsw, "\(swap)") }
            }
            // Limit and swap are written; the rest (reservation, swappiness, …) as applyV1 writes it.
            rest.memory?.limit = nil
            rest.memory?.swap = nil
        }
        try applyV1(rest, dirs)
        if let cpu = resources.cpu, let dir = dirs["cpuset"] {
            if let cpus = cpu.cpus { try write(dir + "/cpuset.cpus", cpus) }
            if let mems = cpu.mems { try write(dir + "/cpuset.mems", mems) }
        }
    }

    /// A v1 cpuset takes no task until cpus and mems are set: inherit what is not asked for.
    private func prepareCpuset(_ dir: String, _ cpu: CPUResources?) throws {
        let parent = Files.dirname(of: dir)
        for (file, wanted) in [("cpuset.cpus", cpu?.cpus), ("cpuset.mems", cpu?.mems)] {
            var value = wanted
            if value == nil { value = try? Files.readString(parent + "/" + file).trimmingWhitespace }
            if (try? Files.readString(parent + "/" + file).trimmingWhitespace)?.isEmpty == true {
                // An intermediate directory of ours: fill it from its own parent first.
                try prepareCpuset(parent, nil)
                value = wanted ?? (try? Files.readString(parent + "/" + file).trimmingWhitespace)
            }
            if let value { try write(dir + "/" + file, value) }
        }
    }

    // MARK: reading

    public func oomKillCount() -> UInt64 {
        let dirs = directories()
        if layout.usesUnified, let dir = dirs[""] { return keyedValue(dir + "/memory.events", "oom_kill") ?? 0 }
        guard let dir = dirs["memory"] else { return 0 }
        return keyedValue(dir + "/memory.oom_control", "oom_kill") ?? 0
    }

    public func stats() -> CgroupStats {
        let dirs = directories()
        if layout.usesUnified, let dir = dirs[""] {
            let usage = number(dir + "/memory.current") ?? 0
            let inactive = keyedValue(dir + "/memory.stat", "inactive_file") ?? 0
            return CgroupStats(cpuUsageNanoseconds: (keyedValue(dir + "/cpu.stat", "usage_usec") ?? 0) * 1000,
                               memoryUsage: usage > inactive ? usage - inactive : usage,
                               memoryLimit: number(dir + "/memory.max"), pids: number(dir + "/pids.current") ?? 0,
                               oomKills: keyedValue(dir + "/memory.events", "oom_kill") ?? 0)
        }
        let memory = dirs["memory"] ?? ""
        let usage = number(memory + "/memory.usage_in_bytes") ?? 0
        let inactive = keyedValue(memory + "/memory.stat", "total_inactive_file") ?? 0
        let limit = number(memory + "/memory.limit_in_bytes")
        return CgroupStats(cpuUsageNanoseconds: number((dirs["cpuacct"] ?? "") + "/cpuacct.usage") ?? 0,
                           memoryUsage: usage > inactive ? usage - inactive : usage,
                           memoryLimit: limit.flatMap { $0 >= (1 << 62) ? nil : $0 },
                           pids: number((dirs["pids"] ?? "") + "/pids.current") ?? 0,
                           oomKills: keyedValue(memory + "/memory.oom_control", "oom_kill") ?? 0)
    }

    /// Pids in the container's cgroup (from the pids hierarchy on v1).
    public func processes() -> [pid_t] {
        let dirs = directories()
        guard let dir = dirs[""] ?? dirs["pids"] ?? dirs["memory"] else { return [] }
        return pids(in: dir)
    }

    // MARK: freezer (pause / unpause)

    /// Whether the container's processes are frozen (`pause`).
    public var isFrozen: Bool {
        let dirs = directories(includingFreezer: true)
        if let dir = dirs[""] { return keyedValue(dir + "/cgroup.events", "frozen") == 1 }
        guard let dir = dirs["freezer"] else { return false }
        return ((try? Files.readString(dir + "/freezer.state")) ?? "").trimmingWhitespace == "FROZEN"
    }

    /// Stops every process of the container where it stands (cgroup.freeze on v2, the v1
    /// freezer otherwise) and returns once the kernel reports the group frozen.
    public func freeze() throws {
        let dirs = directories(includingFreezer: true)
        if let dir = dirs[""] {
            try write(dir + "/cgroup.freeze", "1")
            guard waitUntil({ self.keyedValue(dir + "/cgroup.events", "frozen") == 1 }) else {
                try? write(dir + "/cgroup.freeze", "0")
                throw CgroupError("\(dir): not frozen after 5 s")
            }
            return
        }
        guard let dir = dirs["freezer"] else { throw CgroupError("no freezer hierarchy is mounted (cgroup v1 needs one to pause)") }
        // The v1 freezer group is made on the first pause, not at every start (one more
        // hierarchy to move into would slow down every start). Processes are moved until none
        // is left outside: a process forked during a move lands where its parent was, and a
        // frozen process forks no more.
        try Files.makeDirectories(dir)
        for _ in 0..<100 {
            let inFreezer = Set(pids(in: dir))
            let outside = processes().filter { !inFreezer.contains($0) }
            for pid in outside { try? write(dir + "/cgroup.procs", "\(pid)") }
            try write(dir + "/freezer.state", "FROZEN")
            guard waitUntil({ ((try? Files.readString(dir + "/freezer.state")) ?? "").trimmingWhitespace == "FROZEN" }) else {
                try? write(dir + "/freezer.state", "THAWED")
                throw CgroupError("\(dir): still FREEZING after 5 s")
            }
            if outside.isEmpty { return }
        }
        try? write(dir + "/freezer.state", "THAWED")
        throw CgroupError("\(dir): processes kept escaping the freezer")
    }

    /// Lets the processes run again.
    public func thaw() throws {
        let dirs = directories(includingFreezer: true)
        if let dir = dirs[""] {
            if Files.exists(dir + "/cgroup.freeze") { try write(dir + "/cgroup.freeze", "0") }
        } else if let dir = dirs["freezer"], Files.isDirectory(dir) {
            try write(dir + "/freezer.state", "THAWED")
        }
    }

    /// The processes in one group's directory (none when it cannot be read).
    private func pids(in dir: String) -> [pid_t] {
        ((try? Files.readString(dir + "/cgroup.procs")) ?? "").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Polls `condition` every millisecond for up to 5 s.
    private func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<5000 {
            if condition() { return true }
            usleep(1000)
        }
        return condition()
    }

    // MARK: teardown

    /// Kills whatever is left in the group and removes every directory this container got.
    /// Safe to call again, and on a group that was never (fully) created.
    public func destroy() {
        // Frozen tasks on cgroup v1 take no SIGKILL until thawed.
        try? thaw()
        let dirs = Set(directories(includingCpuset: true, includingDevices: true, includingFreezer: true, extra: Self.optionalControllers).values)
        for dir in dirs where Files.isDirectory(dir) {
            if layout.usesUnified, (try? write(dir + "/cgroup.kill", "1")) != nil {
                // cgroup.kill (Linux 5.14+) kills every process at once.
            } else {
                for pid in pids(in: dir) {
                    kill(pid, SIGKILL)
                }
            }
        }
        for dir in dirs.sorted(by: { $0.count > $1.count }) {
            // The kernel removes a cgroup only once its last process is gone: give it a moment.
            for attempt in 0..<200 {
                if rmdir(dir) == 0 || errno == ENOENT { break }
                if errno != EBUSY || attempt == 199 {
                    DebugLog.log("cgroup: cannot remove \(dir): \(SystemError.last("rmdir"))")
                    break
                }
                usleep(5_000)
            }
            // Directories made on the way to a nested path (libpod_parent/…) go once empty;
            // one still holding another container's group stays (rmdir fails with EBUSY), and
            // neither our own cgroup nor any above it is ever removed.
            var parent = Files.dirname(of: dir)
            for _ in relativePath.split(separator: "/").dropLast() {
                guard !protectedDirectories.contains(parent), rmdir(parent) == 0 else { break }
                parent = Files.dirname(of: parent)
            }
        }
    }

    /// The v1 hierarchies a container has a group in only when its limits need them.
    static let optionalControllers = ["blkio", "net_cls", "net_prio", "hugetlb", "rdma"]

    /// Our own cgroup and every directory above it, in every hierarchy: never removed.
    private var protectedDirectories: Set<String> {
        var result: Set<String> = []
        for hierarchy in Array(layout.legacy.values) + (layout.unified.map { [$0] } ?? []) {
            var path = fsRoot + hierarchy.mountPoint + (hierarchy.ownPath == "/" ? "" : hierarchy.ownPath)
            while path.count >= (fsRoot + hierarchy.mountPoint).count {
                result.insert(path)
                path = Files.dirname(of: path)
            }
        }
        return result
    }

    // MARK: files

    func write(_ path: String, _ value: String) throws {
        let fd = try FileDescriptor.open(path, O_WRONLY | (fsRoot.isEmpty ? 0 : O_CREAT | O_TRUNC))
        do {
            try fd.writeAll(value, what: path)
        } catch let error as SystemError {
            throw SystemError(errno: error.errno, call: "write", detail: "\(value) to \(path)")
        }
    }

    private func writeIfPresent(_ path: String, _ value: String) throws {
        guard fsRoot.isEmpty ? Files.exists(path) : true else {
            DebugLog.log("cgroup: \(path) does not exist (swap accounting off?): skipped")
            return
        }
        try write(path, value)
    }

    private func number(_ path: String) -> UInt64? {
        UInt64(((try? Files.readString(path)) ?? "").trimmingWhitespace)
    }

    /// "key value" lines (memory.events, memory.stat, cpu.stat, memory.oom_control).
    private func keyedValue(_ path: String, _ key: String) -> UInt64? {
        for line in ((try? Files.readString(path)) ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 && parts[0] == key { return UInt64(parts[1]) }
        }
        return nil
    }
}
