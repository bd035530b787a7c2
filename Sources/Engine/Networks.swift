#if canImport(Glibc)
import Glibc
#endif
import Containers
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
    /// Dual stack (`--ipv6`): its IPv6 block and gateway.
    public var EnableIPv6: Bool?
    public var Subnet6: String?
    public var Gateway6: String?
    /// --ip-range: where in the IPv4 subnet addresses are handed out from.
    public var IPRange: String?

    public var ipv6: IPv6Config? {
        guard EnableIPv6 == true, let subnet = Subnet6.flatMap(IPv6Subnet.init), let gateway = Gateway6.flatMap(IPv6Address.init) else { return nil }
        return IPv6Config(subnet: subnet, gateway: gateway)
    }

    /// `--ip TEXT` on this network (run, create, connect): an address of its IPv4 subnet.
    public func address(_ text: String) throws -> IPv4Address {
        guard let address = IPv4Address(text), IPv4Subnet(Subnet)?.contains(address) == true else {
            throw EngineError.invalidOption("--ip \(Printable.escaped(text)): not an address of network \(Name) (\(Subnet))")
        }
        return address
    }

    /// `--ip6 TEXT` on this network: an address of its IPv6 subnet.
    public func address6(_ text: String) throws -> IPv6Address {
        guard let ipv6 else { throw EngineError.invalidOption("--ip6 \(Printable.escaped(text)): network \(Name) has no IPv6 (made without --ipv6)") }
        guard let address = IPv6Address(text), ipv6.subnet.contains(address) else {
            throw EngineError.invalidOption("--ip6 \(Printable.escaped(text)): not an address of network \(Name) (\(ipv6.subnet))")
        }
        return address
    }
}

/// What `network create` asks for.
public struct NetworkRequest {
    public var name: String
    /// --subnet and --gateway, each given once per family at most.
    public var subnets: [String] = []
    public var gateways: [String] = []
    public var ipRange: String?
    public var isInternal = false
    public var ipv6 = false
    public var labels: [String: String] = [:]
    public init(name: String) { self.name = name }
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

    public func create(_ request: NetworkRequest) throws -> NetworkRecord {
        let name = request.name
        if Rootless.isActive {
            throw EngineError.invalidOption("network create: rootless, there are no user-defined networks (each is a bridge of the host, which needs root)")
        }
        guard VolumeStore.isValidName(name) else { throw EngineError.invalidOption("invalid network name '\(Printable.escaped(name))': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") }
        guard !Self.reserved.contains(name) else { throw EngineError.invalidOption("network name \(name) is reserved (Docker's predefined networks)") }
        // Each --subnet and --gateway by its family.
        var subnet4: String?, subnet6: String?, gateway4: String?, gateway6: String?
        for text in request.subnets {
            if text.contains(":") {
                guard subnet6 == nil else { throw EngineError.invalidOption("--subnet \(Printable.escaped(text)): one IPv6 subnet per network") }
                subnet6 = text
            } else {
                guard subnet4 == nil else { throw EngineError.invalidOption("--subnet \(Printable.escaped(text)): one IPv4 subnet per network") }
                subnet4 = text
            }
        }
        for text in request.gateways {
            if text.contains(":") { gateway6 = text } else { gateway4 = text }
        }
        if !request.ipv6, let given = subnet6 ?? gateway6 {
            throw EngineError.invalidOption("\(Printable.escaped(given)): an IPv6 subnet or gateway needs --ipv6")
        }
        try Files.makeDirectories(root, mode: 0o700)
        let lock = try FileLock(path: lockPath)
        defer { lock.unlock() }
        if (try? load(name)) != nil { throw EngineError.invalidOption("network with name \(name) already exists") }
        let existing = all()
        let (subnet, gateway) = try ipv4Block(subnet4, gateway: gateway4, existing: existing)
        let id = Random.hex(bytes: 32)
        var record = NetworkRecord(Name: name, Id: id, Created: Clock.rfc3339(), Driver: "bridge", Subnet: subnet.description, Gateway: gateway.description,
                                   Internal: request.isInternal, Labels: request.labels, Bridge: "swbr" + id.prefix(10))
        if let text = request.ipRange {
            guard let range = IPv4Subnet(text), subnet.contains(range.network), range.prefixLength >= subnet.prefixLength, range.prefixLength <= 30 else {
                throw EngineError.invalidOption("--ip-range \(Printable.escaped(text)): an IPv4 block inside the subnet \(subnet) (at most /30)")
            }
            record.IPRange = range.description
        }
        if request.ipv6 {
            let (subnet, gateway) = try ipv6Block(subnet6, gateway: gateway6, existing: existing)
            record.EnableIPv6 = true
            record.Subnet6 = subnet.description
            record.Gateway6 = gateway.description
        }
        try Files.writeAtomically(path(name), try JSON.encode(record, format: .document), mode: 0o600)
        return record
    }

    /// The IPv4 block: the one asked for, or a free /24 of the pool; either clear of the other
    /// networks and the host's routes.
    private func ipv4Block(_ requested: String?, gateway requestedGateway: String?, existing: [NetworkRecord]) throws -> (IPv4Subnet, IPv4Address) {
        let others = existing.compactMap { IPv4Subnet($0.Subnet) } + [BridgeNetwork.defaultSubnet]
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
        guard let requestedGateway else { return (subnet, subnet.host(1)) }
        guard let parsed = IPv4Address(requestedGateway), subnet.contains(parsed), !subnet.isReserved(parsed) else {
            throw EngineError.invalidOption("invalid gateway \(Printable.escaped(requestedGateway)): an address of \(subnet)")
        }
        return (subnet, parsed)
    }

    /// The IPv6 block: the one asked for, or a /64 of a random unique local prefix (RFC 4193:
    /// fd00::/8 and 40 random bits), as Docker picks one; clear of the other networks' and the
    /// host's IPv6 routes.
    private func ipv6Block(_ requested: String?, gateway requestedGateway: String?, existing: [NetworkRecord]) throws -> (IPv6Subnet, IPv6Address) {
        let others = existing.compactMap { $0.Subnet6.flatMap(IPv6Subnet.init) }
        let routes = ((try? RouteNetlink.open().routeDestinations6()) ?? []).filter { $0.prefixLength > 0 && !Self.linkLocal6.overlaps($0) }
        let subnet: IPv6Subnet
        if let requested {
            guard let parsed = IPv6Subnet(requested), parsed.prefixLength <= 120 else {
                throw EngineError.invalidOption("invalid subnet \(Printable.escaped(requested)): an IPv6 CIDR block with room for addresses (at most /120)")
            }
            if let clash = (others + routes).first(where: { $0.overlaps(parsed) }) {
                throw EngineError.invalidOption("subnet \(parsed) overlaps \(clash), used by another network or a route of the host")
            }
            subnet = parsed
        } else {
            var candidate: IPv6Subnet
            repeat {
                let random = Random.bytes(5)
                candidate = IPv6Subnet(IPv6Address(bytes: [0xfd] + random + [UInt8](repeating: 0, count: 10)), prefixLength: 64)
            } while (others + routes).contains { $0.overlaps(candidate) }
            subnet = candidate
        }
        guard let requestedGateway else { return (subnet, subnet.host(1)) }
        guard let parsed = IPv6Address(requestedGateway), subnet.contains(parsed), !subnet.isReserved(parsed) else {
            throw EngineError.invalidOption("invalid gateway \(Printable.escaped(requestedGateway)): an address of \(subnet)")
        }
        return (subnet, parsed)
    }

    static let linkLocal6 = IPv6Subnet("fe80::/10")!

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
                      gateway: IPv4Address(record.Gateway), portsDirectory: bridge.portsDirectory, isolated: true, isInternal: record.Internal,
                      ipv6: record.ipv6, ipRange: record.IPRange.flatMap(IPv4Subnet.init))
    }

    /// The network an attachment is on, rebuilt from what it records (teardown after a crash
    /// needs no store).
    static func bridgeNetwork(of attachment: BridgeAttachment) -> BridgeNetwork {
        guard let name = attachment.bridge, let address = IPv4Address(attachment.address) else { return bridge }
        var ipv6: IPv6Config?
        if let address6 = attachment.address6.flatMap(IPv6Address.init), let gateway6 = attachment.gateway6.flatMap(IPv6Address.init) {
            ipv6 = IPv6Config(subnet: IPv6Subnet(address6, prefixLength: attachment.prefixLength6 ?? 64), gateway: gateway6)
        }
        return BridgeNetwork(stateDirectory: "/run/swiftainer/networks/" + name, name: name,
                             subnet: IPv4Subnet(address, prefixLength: attachment.prefixLength), gateway: IPv4Address(attachment.gateway),
                             portsDirectory: bridge.portsDirectory, isolated: true, ipv6: ipv6)
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
    public func connectNetwork(_ networkReference: String, _ containerReference: String, aliases: [String], address: String?, address6: String? = nil) throws {
        try Self.requireRoot()
        let record = try networks.load(networkReference)
        var container = try containers.find(containerReference)
        guard container.networkMode != record.Name, !(container.networkConnections ?? []).contains(where: { $0.network == record.Name }) else {
            throw EngineError.invalidOption("endpoint with name \(container.name) already exists in network \(record.Name)")
        }
        guard let mode = container.networkMode, mode != "host", mode != "none", !mode.hasPrefix("container:") else {
            throw EngineError.invalidOption("container \(container.name) uses --network \(container.networkMode ?? "none"): it cannot be connected to another network")
        }
        if let address { _ = try record.address(address) }
        if let address6 { _ = try record.address6(address6) }
        let connection = NetworkConnection(network: record.Name, aliases: aliases.isEmpty ? nil : aliases, address: address, address6: address6)
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
        rewriteHosts(of: container)
        networkEvent("connect", id: record.Id, name: record.Name, container: container.id)
    }

    /// A running container's /etc/hosts after a live connect or disconnect: a line for each
    /// address it has now, as Docker's. The network change stands when this fails (it is said).
    func rewriteHosts(of container: ContainerRecord) {
        guard container.isRunning, container.networkMode.map({ !$0.hasPrefix("container:") }) ?? false else { return }
        do {
            try writeHosts(container, try ContainerRuntime.readSpec(bundle: paths.container(container.id)))
        } catch {
            fputs("swiftainer: warning: /etc/hosts of \(container.name) not updated: \(error)\n", stderr)
        }
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
        if attachment != nil { rewriteHosts(of: container) }
        networkEvent("disconnect", id: record.Id, name: record.Name, container: container.id)
    }
}
