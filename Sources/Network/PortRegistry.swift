#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// The host ports containers have published, host-wide: one file per protocol and port in
/// `directory` (`tcp-8080`), one line per holder, "CONTAINERID HOSTIP" (0.0.0.0 for any
/// address). Used under the network's lock.
///
/// Why a registry of our own: the NAT table keeps "any address" and "one address" ports in two
/// maps, and nftables only refuses a duplicate key *within* a map — so `-p 8080:80` and
/// `-p 127.0.0.1:8080:80` both went in, and the more specific map won the traffic. Overlap is
/// a question of addresses (any overlaps everything, one address only itself), which this
/// answers before anything reaches nft.
public struct PortRegistry {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Two published ports compete for the same packets: same protocol and port, and an address
    /// in common (either is "any", or both name the same one).
    public static func overlaps(_ a: PortMapping, _ b: PortMapping) -> Bool {
        a.proto == b.proto && a.hostPort == b.hostPort && (a.hostIP == nil || b.hostIP == nil || a.hostIP == b.hostIP)
    }

    /// Docker's words for a port someone else has.
    static func allocatedError(_ port: PortMapping) -> NetworkError {
        NetworkError("Bind for \(port.hostIP ?? "0.0.0.0"):\(port.hostPort) failed: port is already allocated")
    }

    func path(_ port: PortMapping) -> String { directory + "/\(port.proto)-\(port.hostPort)" }

    struct Holder: Equatable {
        var containerID: String
        var port: PortMapping
    }

    func holders(of port: PortMapping) -> [Holder] {
        guard let text = try? Files.readString(path(port)) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 2 else { return nil }
            let ip = fields[1] == "0.0.0.0" ? nil : fields[1]
            return Holder(containerID: fields[0], port: PortMapping(hostIP: ip, hostPort: port.hostPort, containerPort: 0, proto: port.proto))
        }
    }

    func write(_ holders: [Holder], for port: PortMapping) throws {
        if holders.isEmpty {
            unlink(path(port))
            return
        }
        let text = holders.map { "\($0.containerID) \($0.port.hostIP ?? "0.0.0.0")\n" }.joined()
        try Files.writeAtomically(path(port), text, mode: 0o600, durability: .volatile)
    }

    /// Records `ports` for `containerID`, or throws Docker's "port is already allocated" for the
    /// first one that overlaps a live container's port or another of `ports`. Holders whose
    /// container is gone (`isLive` says so; a crash left them) are dropped and returned, so
    /// that the caller can delete their stale NAT elements. Nothing is written when it throws.
    public func reserve(_ ports: [PortMapping], for containerID: String, isLive: (String) -> Bool) throws -> [PortMapping] {
        guard !ports.isEmpty else { return [] }
        for (index, port) in ports.enumerated() where ports[..<index].contains(where: { Self.overlaps($0, port) }) {
            throw Self.allocatedError(port)
        }
        try Files.makeDirectories(directory, mode: 0o700)
        Files.removeAbandonedTemporaries(in: directory)
        var stale: [PortMapping] = []
        // Ports of one request can share a file (tcp-80 on two addresses): gather per file.
        var files: [String: (port: PortMapping, holders: [Holder])] = [:]
        for port in ports {
            var entry = files[path(port)] ?? (port, holders(of: port).filter { $0.containerID != containerID })
            for holder in entry.holders where !isLive(holder.containerID) { stale.append(holder.port) }
            entry.holders.removeAll { !isLive($0.containerID) }
            if entry.holders.contains(where: { Self.overlaps($0.port, port) }) { throw Self.allocatedError(port) }
            entry.holders.append(Holder(containerID: containerID, port: port))
            files[path(port)] = entry
        }
        for entry in files.values { try write(entry.holders, for: entry.port) }
        return stale
    }

    /// `ports` with each host port 0 ("any free one": `-p 80`, `-P`) replaced by a port of
    /// `range` (the kernel's ephemeral range, where Docker picks too) that no live holder and no
    /// other port of the request has and `isFree` accepts (nothing on the host bound to it).
    /// The search starts at a random place so that concurrent hosts' stores rarely collide.
    public func assigningHostPorts(_ ports: [PortMapping], range: ClosedRange<UInt16>, isLive: (String) -> Bool,
                                   isFree: (PortMapping) -> Bool) throws -> [PortMapping] {
        let fixed = ports.filter { $0.hostPort != 0 }
        var result: [PortMapping] = []
        for var port in ports {
            if port.hostPort == 0 {
                let count = Int(range.upperBound - range.lowerBound) + 1
                let start = Int.random(in: 0..<count)
                var found = false
                for step in 0..<count {
                    port.hostPort = range.lowerBound + UInt16((start + step) % count)
                    let taken = (fixed + result).contains { Self.overlaps($0, port) }
                        || holders(of: port).contains { isLive($0.containerID) && Self.overlaps($0.port, port) }
                    if !taken && isFree(port) { found = true; break }
                }
                guard found else {
                    throw NetworkError("no free host port in \(range.lowerBound)-\(range.upperBound) for \(port.containerKey)")
                }
            }
            result.append(port)
        }
        return result
    }

    /// The kernel's ephemeral port range (net.ipv4.ip_local_port_range), Docker's too.
    public static func ephemeralRange() -> ClosedRange<UInt16> {
        let fields = (try? Files.readString("/proc/sys/net/ipv4/ip_local_port_range"))?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { UInt16($0) } ?? []
        if fields.count == 2, fields[0] > 0, fields[0] <= fields[1] { return fields[0]...fields[1] }
        return 32768...60999
    }

    /// Forgets `containerID`'s ports (safe to call for ports it never got).
    public func release(_ ports: [PortMapping], of containerID: String) {
        for port in ports {
            let holders = holders(of: port)
            let kept = holders.filter { $0.containerID != containerID }
            if kept.count != holders.count { try? write(kept, for: port) }
        }
    }
}
