#if canImport(Glibc)
import Glibc
#endif
import Cgroups
import LinuxKit

/// One row of `swiftainer stats`, from two readings of the container's cgroup.
public struct ContainerStatsRow {
    public var id: String
    public var name: String
    public var cpuPercent: Double
    public var memoryUsage: UInt64
    public var memoryLimit: UInt64
    public var networkReceived: UInt64?
    public var networkSent: UInt64?
    public var pids: UInt64
}

extension Engine {
    /// Samples every container in `records` twice, `interval` seconds apart (CPU % needs a delta).
    public func sampleStats(_ records: [ContainerRecord], interval: Double) throws -> [ContainerStatsRow] {
        let groups = try records.map { record in
            let group = try containers.cgroup(of: record.id)
            // Rootless without a cgroup there is nothing to read: said, not shown as zeros.
            if Rootless.isActive && record.isRunning && !group.exists {
                throw EngineError.invalidOption("stats \(record.name): rootless, the container has no cgroup to read (this host's controllers are on cgroup v1, which only root can use, or cgroup v2 is not delegated to you)")
            }
            return group
        }
        let first = groups.map { $0.stats() }
        let start = Clock.now()
        usleep(UInt32(interval * 1_000_000))
        let end = Clock.now()
        let elapsed = Double(end.tv_sec - start.tv_sec) * 1e9 + Double(end.tv_nsec - start.tv_nsec)
        let hostMemory = UInt64(sysconf(Int32(_SC_PHYS_PAGES))) * UInt64(sysconf(Int32(_SC_PAGESIZE)))
        return zip(records, zip(groups, first)).map { record, pair in
            let (group, before) = pair
            let after = group.stats()
            let cpuDelta = Double(after.cpuUsageNanoseconds &- before.cpuUsageNanoseconds)
            let network = record.livePid.flatMap(Self.networkCounters)
            return ContainerStatsRow(
                id: record.shortID, name: record.name,
                cpuPercent: elapsed > 0 ? cpuDelta / elapsed * 100 : 0,
                memoryUsage: after.memoryUsage, memoryLimit: min(after.memoryLimit ?? hostMemory, hostMemory),
                networkReceived: network?.received, networkSent: network?.sent, pids: after.pids)
        }
    }

    /// Bytes received and sent on the container's interfaces other than lo, from
    /// /proc/PID/net/dev (the file shows the network namespace of PID).
    static func networkCounters(pid: Int32) -> (received: UInt64, sent: UInt64)? {
        guard let text = try? Files.readString("/proc/\(pid)/net/dev") else { return nil }
        var received: UInt64 = 0
        var sent: UInt64 = 0
        for line in text.split(separator: "\n").dropFirst(2) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].split(separator: " ").first != "lo" else { continue }
            let fields = parts[1].split(separator: " ")
            guard fields.count >= 9 else { continue }
            received += UInt64(fields[0]) ?? 0
            sent += UInt64(fields[8]) ?? 0
        }
        return (received, sent)
    }
}
