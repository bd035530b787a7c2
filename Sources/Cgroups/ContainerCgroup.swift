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

    /// Whether a run with these resources needs a v1 cpuset group.
    static func needsCpuset(_ resources: Resources?) -> Bool {
        resources?.cpu?.cpus != nil || resources?.cpu?.mems != nil
    }

    /// The directory in each hierarchy in use, keyed by controller ("" for v2).
    public func directories(includingCpuset: Bool = false, includingDevices: Bool = false, includingFreezer: Bool = false) -> [String: String] {
        func dir(_ hierarchy: CgroupLayout.Hierarchy) -> String {
            if relativePath.hasPrefix("/") { return fsRoot + hierarchy.mountPoint + relativePath }
            return fsRoot + hierarchy.mountPoint + (hierarchy.ownPath == "/" ? "" : hierarchy.ownPath) + "/" + relativePath
        }
        if layout.usesUnified, let unified = layout.unified { return ["": dir(unified)] }
        var controllers = ["memory", "pids", "cpu", "cpuacct"]
        if includingCpuset { controllers.append("cpuset") }
        if includingDevices { controllers.append("devices") }
        if includingFreezer { controllers.append("freezer") }
        var result: [String: String] = [:]
        for controller in controllers {
            if let hierarchy = layout.legacy[controller] { result[controller] = dir(hierarchy) }
        }
        // Controllers mounted together (cpu,cpuacct) share one directory.
        return result
    }

    // MARK: create and apply

    /// Creates the directories and applies the limits; `add` then moves processes in. On
    /// failure everything created is removed again.
    public func prepare(resources: Resources?) throws {
        let dirs = directories(includingCpuset: Self.needsCpuset(resources), includingDevices: !(resources?.devices ?? []).isEmpty)
        guard !dirs.isEmpty else { throw CgroupError("no cgroup hierarchy with memory, pids or cpu controllers is mounted") }
        do {
            if layout.usesUnified, let dir = dirs[""] {
                try enableControllers(down: dir, cpuset: Self.needsCpuset(resources))
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
    public func adoptExisting() throws {
        let existing = directories(includingCpuset: true, includingDevices: true, includingFreezer: true).values.filter { Files.isDirectory($0) }
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

    /// cgroup v2 delegates a controller to a child only when every ancestor below ours lists it
    /// in cgroup.subtree_control.
    private func enableControllers(down dir: String, cpuset: Bool) throws {
        guard let unified = layout.unified else { return }
        let base = relativePath.hasPrefix("/") ? fsRoot + unified.mountPoint : fsRoot + unified.mountPoint + (unified.ownPath == "/" ? "" : unified.ownPath)
        var controllers = ["memory", "pids", "cpu"]
        if cpuset { controllers.append("cpuset") }
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

    func applyV2(_ resources: Resources?, _ dir: String) throws {
        guard let resources else { return }
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
        if let devices = resources.devices, !devices.isEmpty { try DeviceRules.attach(devices + DeviceRules.openable, to: dir) }
    }

    /// runc's conversion of cpu.shares [2, 262144] to cpu.weight [1, 10000].
    public static func weight(fromShares shares: UInt64) -> UInt64 {
        let clamped = min(max(shares, 2), 262_144)
        return 1 + ((clamped - 2) * 9999) / 262_142
    }

    func applyV1(_ resources: Resources?, _ dirs: [String: String]) throws {
        guard let resources else { return }
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
        let dirs = directories(includingCpuset: true, includingDevices: false).filter { Files.isDirectory($0.value) }
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
            rest.memory = nil
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
        let dirs = Set(directories(includingCpuset: true, includingDevices: true, includingFreezer: true).values)
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
