#if canImport(Glibc)
import Glibc
#endif
import Images
import JSONKit
import LinuxKit
import Netlink
import Network

/// A user-defined network (`network create`), in Docker's inspect shape where it has one.
public struct NetworkRecord: Codable, Equatable {
    public var Name: String
    public var Id: String
    public var Created: String
    public var Driver: String
    public var Subnet: String
    public var Gateway: String
    public var Internal: Bool
    public var Labels: [String: String]
    /// The host's bridge of the network: "swbr" and ten hex digits of its id.
    public var Bridge: String
}

/// User-defined networks: a record per network under the data root (it outlives reboots, as
/// Docker's do); the bridge, addresses, DNS records and resolver are host-wide state under
/// /run/swiftainer/networks/<bridge>, made on first use.
public struct NetworkStore {
    public let root: String
    public init(root: String) { self.root = root }

    /// Names Docker refuses for user networks: its predefined ones.
    static let reserved: Set<String> = ["bridge", "host", "none", "default"]
    /// Where subnets are picked from when --subnet is not given: 10.90.N.0/24.
    static let pool = IPv4Subnet("10.90.0.0/16")!

    func path(_ name: String) -> String { root + "/" + name + ".json" }
    private var lockPath: String { root + ".lock" }

    public func create(name: String, subnet requested: String?, gateway requestedGateway: String?, isInternal: Bool, labels: [String: String]) throws -> NetworkRecord {
        guard VolumeStore.isValidName(name) else { throw EngineError.invalidOption("invalid network name '\(Printable.escaped(name))': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") }
        guard !Self.reserved.contains(name) else { throw EngineError.invalidOption("network name \(name) is reserved (Docker's predefined networks)") }
        try Files.makeDirectories(root, mode: 0o700)
        let lock = try FileLock(path: lockPath)
        defer { lock.unlock() }
        if (try? load(name)) != nil { throw EngineError.invalidOption("network with name \(name) already exists") }
        let others = all().compactMap { IPv4Subnet($0.Subnet) } + [BridgeNetwork.defaultSubnet]
        let routes = ((try? RouteNetlink.open().routes()) ?? []).filter { $0.table == 254 && $0.destination.prefixLength > 0 }.map(\.destination)
        let subnet: IPv4Subnet
        if let requested {
            guard let parsed = IPv4Subnet(requested), parsed.prefixLength <= 30 else {
                throw EngineError.invalidOption("invalid subnet \(Printable.escaped(requested)): an IPv4 CIDR block with room for addresses (at most /30)")
            }
            if let clash = (others + routes).first(where: { $0.overlaps(parsed) }) {
                throw EngineError.invalidOption("subnet \(parsed) overlaps \(clash), used by another network or a route of the host")
            }
            subnet = parsed
        } else {
            guard let free = (0..<256).lazy.map({ IPv4Subnet(IPv4Address(Self.pool.network.value + UInt32($0) << 8), prefixLength: 24) })
                .first(where: { candidate in !(others + routes).contains { $0.overlaps(candidate) } }) else {
                throw EngineError.invalidOption("no free subnet left in \(Self.pool): give one with --subnet")
            }
            subnet = free
        }
        var gateway = subnet.host(1)
        if let requestedGateway {
            guard let parsed = IPv4Address(requestedGateway), subnet.contains(parsed), parsed != subnet.network, parsed != subnet.broadcast else {
                throw EngineError.invalidOption("invalid gateway \(Printable.escaped(requestedGateway)): an address of \(subnet)")
            }
            gateway = parsed
        }
        let id = Random.hex(bytes: 32)
        let record = NetworkRecord(Name: name, Id: id, Created: Clock.rfc3339(), Driver: "bridge", Subnet: subnet.description, Gateway: gateway.description,
                                   Internal: isInternal, Labels: labels, Bridge: "swbr" + id.prefix(10))
        try Files.writeAtomically(path(name), try JSON.encode(record, format: .document), mode: 0o600)
        return record
    }

    /// By name, full id or unique id prefix.
    public func load(_ reference: String) throws -> NetworkRecord {
        if VolumeStore.isValidName(reference), let bytes = try? Files.read(path(reference)) { return try JSON.decode(NetworkRecord.self, from: bytes) }
        let matches = all().filter { $0.Id.hasPrefix(reference) && !reference.isEmpty }
        guard matches.count == 1 else { throw EngineError.invalidOption("network \(Printable.escaped(reference)) not found") }
        return matches[0]
    }

    public func all() -> [NetworkRecord] {
        ((try? Files.listDirectory(root)) ?? []).filter { $0.hasSuffix(".json") }
            .compactMap { try? JSON.decode(NetworkRecord.self, from: try Files.read(root + "/" + $0)) }
    }

    func delete(_ record: NetworkRecord) throws {
        let lock = try FileLock(path: lockPath)
        defer { lock.unlock() }
        unlink(path(record.Name))
    }
}

extension Engine {
    public var networks: NetworkStore { NetworkStore(root: paths.data + "/networks") }

    /// The id shown for a predefined network (bridge, host, none): the same on every host.
    public static func builtInNetworkID(_ name: String) -> String { String(Digest.sha256(Array(("swiftainer network " + name).utf8)).dropFirst(7)) }

    /// The bridge network of a user-defined network (host-wide state beside the default one's,
    /// and the default one's port registry: a host port is one, whatever the network).
    static func bridgeNetwork(_ record: NetworkRecord) -> BridgeNetwork {
        BridgeNetwork(stateDirectory: "/run/swiftainer/networks/" + record.Bridge, name: record.Bridge, subnet: IPv4Subnet(record.Subnet)!,
                      gateway: IPv4Address(record.Gateway), portsDirectory: bridge.portsDirectory, isolated: true, isInternal: record.Internal)
    }

    /// The network an attachment is on, rebuilt from what it records (teardown after a crash
    /// needs no store).
    static func bridgeNetwork(of attachment: BridgeAttachment) -> BridgeNetwork {
        guard let name = attachment.bridge, let address = IPv4Address(attachment.address) else { return bridge }
        return BridgeNetwork(stateDirectory: "/run/swiftainer/networks/" + name, name: name,
                             subnet: IPv4Subnet(address, prefixLength: attachment.prefixLength), gateway: IPv4Address(attachment.gateway),
                             portsDirectory: bridge.portsDirectory, isolated: true)
    }

    /// Container names on the network.
    public func users(ofNetwork record: NetworkRecord) -> [String] {
        containers.all().filter { container in
            container.networkMode == record.Name || (container.networkConnections ?? []).contains { $0.network == record.Name }
                || (container.extraNetworks ?? []).contains { $0.network == record.Name }
        }.map(\.name)
    }

    /// `network rm`: refused while a container (running or not) is on it; the bridge and its
    /// table go if nothing is on them.
    public func removeNetwork(_ reference: String) throws {
        try Self.requireRoot()
        containers.reconcile()
        let record = try networks.load(reference)
        let users = users(ofNetwork: record)
        guard users.isEmpty else { throw EngineError.invalidOption("error while removing network: network \(record.Name) id \(record.Id) has active endpoints (\(users.joined(separator: ", ")))") }
        let network = Self.bridgeNetwork(record)
        NetworkResolver.stop(network)
        try network.removeBridgeIfIdle()
        try networks.delete(record)
        emitNetworkEvent("destroy", record)
    }

    public func emitNetworkEvent(_ action: String, _ record: NetworkRecord) {
        networkEvent(action, id: record.Id, name: record.Name)
    }
}

extension Engine {
    /// `network connect [--alias A] [--ip IP] NETWORK CONTAINER`: the container is on the
    /// network from its next start on (the connection is kept on its record, as Docker keeps
    /// it), and at once when it runs: an interface there (eth1, eth2…) and its names in the
    /// network's DNS.
    public func connectNetwork(_ networkReference: String, _ containerReference: String, aliases: [String], address: String?) throws {
        try Self.requireRoot()
        let record = try networks.load(networkReference)
        var container = try containers.find(containerReference)
        guard container.networkMode != record.Name, !(container.networkConnections ?? []).contains(where: { $0.network == record.Name }) else {
            throw EngineError.invalidOption("endpoint with name \(container.name) already exists in network \(record.Name)")
        }
        guard let mode = container.networkMode, mode != "host", mode != "none", !mode.hasPrefix("container:") else {
            throw EngineError.invalidOption("container \(container.name) uses --network \(container.networkMode ?? "none"): it cannot be connected to another network")
        }
        if let address {
            guard let parsed = IPv4Address(address), IPv4Subnet(record.Subnet)?.contains(parsed) == true else {
                throw EngineError.invalidOption("--ip \(address): not an address of network \(record.Name) (\(record.Subnet))")
            }
        }
        let connection = NetworkConnection(network: record.Name, aliases: aliases.isEmpty ? nil : aliases, address: address)
        container.networkConnections = (container.networkConnections ?? []) + [connection]
        guard let pid = container.livePid else {
            // Attached when it next starts. (A start that loaded its record a moment before
            // this save attaches it at the start after.)
            try containers.save(container, editingUserFields: true)
            networkEvent("connect", id: record.Id, name: record.Name, container: container.id)
            return
        }
        let attachment: BridgeAttachment
        do {
            attachment = try attachConnection(connection, of: container, pid: pid, index: Self.freeInterfaceIndex(container.extraNetworks ?? []))
        } catch {
            throw EngineError.invalidOption("network connect: \(error)")
        }
        container.extraNetworks = (container.extraNetworks ?? []) + [attachment]
        do {
            try containers.save(container, editingUserFields: true)
        } catch {
            Self.disconnect(attachment, containerID: container.id, deleteInterface: true)
            throw error
        }
        networkEvent("connect", id: record.Id, name: record.Name, container: container.id)
    }

    /// The lowest N with no ethN among the connected networks' interfaces (eth0 is the first
    /// network's): a disconnect may leave a gap.
    static func freeInterfaceIndex(_ attachments: [BridgeAttachment]) -> Int {
        let used = Set(attachments.compactMap(\.interface))
        return (1...).first { !used.contains("eth\($0)") }!
    }

    /// `network disconnect NETWORK CONTAINER`: a network connected with `network connect`
    /// goes, its interface at once when the container runs (its first network stays).
    public func disconnectNetwork(_ networkReference: String, _ containerReference: String) throws {
        try Self.requireRoot()
        let record = try networks.load(networkReference)
        var container = try containers.find(containerReference)
        let attachment = (container.extraNetworks ?? []).first { $0.network == record.Name }
        guard attachment != nil || (container.networkConnections ?? []).contains(where: { $0.network == record.Name }) else {
            if container.networkMode == record.Name {
                throw EngineError.invalidOption("container \(container.name) was made on network \(record.Name): it cannot leave its first network")
            }
            throw EngineError.invalidOption("container \(container.name) is not connected to network \(record.Name)")
        }
        if let attachment { Self.disconnect(attachment, containerID: container.id, deleteInterface: true) }
        let remaining = (container.extraNetworks ?? []).filter { $0.network != record.Name }
        container.extraNetworks = remaining.isEmpty ? nil : remaining
        let connections = (container.networkConnections ?? []).filter { $0.network != record.Name }
        container.networkConnections = connections.isEmpty ? nil : connections
        try containers.save(container, editingUserFields: true)
        networkEvent("disconnect", id: record.Id, name: record.Name, container: container.id)
    }
}
