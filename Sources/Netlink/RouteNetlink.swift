#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// A network interface as RTM_GETLINK reports it.
public struct Link: Equatable {
    public var index: Int32
    public var name: String
    public var flags: UInt32
    public var master: Int32?
    public var mtu: UInt32?
    public var mac: [UInt8]?
    public var kind: String?

    public var isUp: Bool { flags & IFF_UP_FLAG != 0 }
}

public struct AddressEntry: Equatable {
    public var index: Int32
    public var address: IPv4Address
    public var prefixLength: Int
}

public struct RouteEntry: Equatable {
    public var destination: IPv4Subnet
    public var gateway: IPv4Address?
    public var outputIndex: Int32?
    public var table: UInt32
}

/// The rtnetlink operations swiftainer's network needs: links (bridge, veth), addresses and
/// routes, each one request and one acknowledgement, errors carrying the kernel's errno and
/// the request in words.
public final class RouteNetlink {
    let connection: NetlinkConnection

    public init(_ transport: NetlinkTransport) { connection = NetlinkConnection(transport) }

    /// rtnetlink in this process's network namespace.
    public static func open() throws -> RouteNetlink { RouteNetlink(try NetlinkSocket()) }

    /// rtnetlink in the network namespace at `path` (/proc/PID/ns/net).
    public static func open(namespace path: String) throws -> RouteNetlink { RouteNetlink(try NetlinkSocket.inNamespace(path)) }

    // MARK: links

    public func links() throws -> [Link] {
        try connection.dump(NetlinkMessage(type: RTM.getLink, flags: 0, header: FamilyHeader.link()), "list links").compactMap(Self.link(from:))
    }

    static func link(from message: NetlinkMessage) throws -> Link? {
        guard message.type == RTM.newLink, message.header.count >= 16 else { return nil }
        let attributes = message.attributes
        let info = try attributes[type: IFLA.linkinfo].map { try Attribute.parse($0.data[...]) }
        return Link(index: Int32(bitPattern: Bytes.readU32(message.header[...], 4)),
                    name: attributes[type: IFLA.ifname]?.stringValue ?? "",
                    flags: Bytes.readU32(message.header[...], 8),
                    master: attributes[type: IFLA.master]?.u32Value.map { Int32(bitPattern: $0) },
                    mtu: attributes[type: IFLA.mtu]?.u32Value,
                    mac: attributes[type: IFLA.address]?.data,
                    kind: info?[type: IFLA.infoKind]?.stringValue)
    }

    /// One link by name (RTM_GETLINK with IFLA_IFNAME: one reply, no dump); nil if none.
    public func link(named name: String) throws -> Link? {
        try connection.get(NetlinkMessage(type: RTM.getLink, flags: 0, header: FamilyHeader.link(), attributes: [.string(IFLA.ifname, name)]),
                           missing: ENODEV, "get link \(name)").flatMap(Self.link(from:))
    }

    func index(of name: String) throws -> Int32 {
        guard let link = try link(named: name) else { throw NetlinkError.kernel(errno: ENODEV, request: "find link \(name)") }
        return link.index
    }

    /// With `mac`, the bridge keeps that hardware address; without, the kernel gives it the
    /// lowest of its ports' and changes it as ports come and go.
    public func createBridge(_ name: String, mac: [UInt8]? = nil) throws {
        var attributes: [Attribute] = [.string(IFLA.ifname, name)]
        if let mac { attributes.append(Attribute(IFLA.address, mac)) }
        attributes.append(.nested(IFLA.linkinfo, [.string(IFLA.infoKind, "bridge")]))
        try connection.perform(NetlinkMessage(
            type: RTM.newLink, flags: NLM.create | NLM.exclusive, header: FamilyHeader.link(), attributes: attributes),
            "create bridge \(name)")
    }

    /// A veth pair `name` <-> `peer`; with `peerNamespaceFD` the peer is created directly in
    /// that network namespace (one request instead of create-then-move), with `peerMAC` its
    /// hardware address.
    public func createVeth(_ name: String, peer: String, peerNamespaceFD: Int32? = nil, peerMAC: [UInt8]? = nil) throws {
        var peerAttributes: [Attribute] = [.string(IFLA.ifname, peer)]
        if let peerNamespaceFD { peerAttributes.append(.u32(IFLA.netNsFd, UInt32(bitPattern: peerNamespaceFD))) }
        if let peerMAC { peerAttributes.append(Attribute(IFLA.address, peerMAC)) }
        let peerInfo = Attribute.nested(IFLA.vethInfoPeer, peerAttributes, header: FamilyHeader.link())
        try connection.perform(NetlinkMessage(
            type: RTM.newLink, flags: NLM.create | NLM.exclusive, header: FamilyHeader.link(),
            attributes: [.string(IFLA.ifname, name),
                         .nested(IFLA.linkinfo, [.string(IFLA.infoKind, "veth"), .nested(IFLA.infoData, [peerInfo])])]),
            "create veth pair \(name) <-> \(peer)")
    }

    /// Changes one link, named by index or (index 0) by `name`: any of up/down, master, MTU,
    /// MAC, name, network namespace.
    public func modify(_ index: Int32, name: String? = nil, up: Bool? = nil, master: Int32? = nil, mtu: UInt32? = nil, mac: [UInt8]? = nil,
                       rename: String? = nil, namespaceFD: Int32? = nil, namespacePid: Int32? = nil, _ what: String) throws {
        var attributes: [Attribute] = []
        if let name { attributes.append(.string(IFLA.ifname, name)) }
        if let master { attributes.append(.u32(IFLA.master, UInt32(bitPattern: master))) }
        if let mtu { attributes.append(.u32(IFLA.mtu, mtu)) }
        if let mac { attributes.append(Attribute(IFLA.address, mac)) }
        if let rename { attributes.append(.string(IFLA.ifname, rename)) }
        if let namespaceFD { attributes.append(.u32(IFLA.netNsFd, UInt32(bitPattern: namespaceFD))) }
        if let namespacePid { attributes.append(.u32(IFLA.netNsPid, UInt32(bitPattern: namespacePid))) }
        let flags: UInt32 = up == true ? IFF_UP_FLAG : 0
        let change: UInt32 = up == nil ? 0 : IFF_UP_FLAG
        try connection.perform(NetlinkMessage(type: RTM.newLink, flags: 0, header: FamilyHeader.link(index: index, flags: flags, change: change),
                                              attributes: attributes), what)
    }

    public func setUp(_ name: String) throws { try modify(try index(of: name), up: true, "set \(name) up") }

    public func deleteLink(_ index: Int32, _ name: String) throws {
        try connection.perform(NetlinkMessage(type: RTM.delLink, flags: 0, header: FamilyHeader.link(index: index)), "delete link \(name)")
    }

    /// Deletes the link `name`; false when there was none.
    @discardableResult
    public func deleteLink(named name: String) throws -> Bool {
        do {
            try connection.perform(NetlinkMessage(type: RTM.delLink, flags: 0, header: FamilyHeader.link(),
                                                  attributes: [.string(IFLA.ifname, name)]), "delete link \(name)")
            return true
        } catch let error as NetlinkError where error.errno == ENODEV {
            return false
        }
    }

    // MARK: addresses

    public func addAddress(_ index: Int32, _ address: IPv4Address, prefixLength: Int, _ linkName: String) throws {
        let subnet = IPv4Subnet(address, prefixLength: prefixLength)
        try connection.perform(NetlinkMessage(
            type: RTM.newAddr, flags: NLM.create | NLM.exclusive,
            header: FamilyHeader.address(index: index, prefixLength: UInt8(prefixLength)),
            attributes: [Attribute(IFA.local, address.bytes), Attribute(IFA.address, address.bytes),
                         Attribute(IFA.broadcast, subnet.broadcast.bytes)]),
            "add address \(address)/\(prefixLength) to \(linkName)")
    }

    /// An IPv6 address without duplicate address detection: the addresses come from the
    /// network's IPAM, and DAD would keep it unusable for a second or more.
    public func addAddress(_ index: Int32, _ address: IPv6Address, prefixLength: Int, _ linkName: String) throws {
        var header = FamilyHeader.address(index: index, prefixLength: UInt8(prefixLength), family: AF_INET6_BYTE)
        header[2] = UInt8(IFA.noDAD)
        try connection.perform(NetlinkMessage(
            type: RTM.newAddr, flags: NLM.create | NLM.exclusive, header: header,
            attributes: [Attribute(IFA.address, address.bytes), .u32(IFA.flags, IFA.noDAD)]),
            "add address \(address)/\(prefixLength) to \(linkName)")
    }

    public func deleteAddress(_ index: Int32, _ address: IPv4Address, prefixLength: Int, _ linkName: String) throws {
        try connection.perform(NetlinkMessage(
            type: RTM.delAddr, flags: 0, header: FamilyHeader.address(index: index, prefixLength: UInt8(prefixLength)),
            attributes: [Attribute(IFA.local, address.bytes)]), "delete address \(address)/\(prefixLength) from \(linkName)")
    }

    public func addresses() throws -> [AddressEntry] {
        try connection.dump(NetlinkMessage(type: RTM.getAddr, flags: 0, header: FamilyHeader.address(index: 0, prefixLength: 0)),
                            "list addresses").compactMap { message in
            guard message.type == RTM.newAddr, message.header.count >= 8, message.header[0] == AF_INET_BYTE,
                  let raw = message.attributes[type: IFA.local] ?? message.attributes[type: IFA.address], raw.data.count == 4 else { return nil }
            return AddressEntry(index: Int32(bitPattern: Bytes.readU32(message.header[...], 4)),
                                address: IPv4Address(bytes: raw.data), prefixLength: Int(message.header[1]))
        }
    }

    // MARK: routes

    /// A route to `destination` (nil: the default route) via `gateway` and/or out of `outputIndex`.
    public func addRoute(to destination: IPv4Subnet?, via gateway: IPv4Address?, outputIndex: Int32?) throws {
        var attributes: [Attribute] = []
        if let destination, destination.prefixLength > 0 { attributes.append(Attribute(RTA.dst, destination.network.bytes)) }
        if let gateway { attributes.append(Attribute(RTA.gateway, gateway.bytes)) }
        if let outputIndex { attributes.append(.u32(RTA.oif, UInt32(bitPattern: outputIndex))) }
        let scope: UInt8 = gateway == nil ? 253 : 0 // RT_SCOPE_LINK for a directly connected network
        try connection.perform(NetlinkMessage(
            type: RTM.newRoute, flags: NLM.create | NLM.exclusive,
            header: FamilyHeader.route(destinationLength: UInt8(destination?.prefixLength ?? 0), scope: scope),
            attributes: attributes),
            "add route to \(destination?.description ?? "default")" + (gateway.map { " via \($0)" } ?? ""))
    }

    /// The IPv6 default route via `gateway` out of `outputIndex`.
    public func addDefaultRoute(via gateway: IPv6Address, outputIndex: Int32) throws {
        try connection.perform(NetlinkMessage(
            type: RTM.newRoute, flags: NLM.create | NLM.exclusive,
            header: FamilyHeader.route(destinationLength: 0, family: AF_INET6_BYTE),
            attributes: [Attribute(RTA.gateway, gateway.bytes), .u32(RTA.oif, UInt32(bitPattern: outputIndex))]),
            "add IPv6 default route via \(gateway)")
    }

    /// The destinations of the IPv6 routes of the main table (to refuse a subnet that overlaps).
    public func routeDestinations6() throws -> [IPv6Subnet] {
        try connection.dump(NetlinkMessage(type: RTM.getRoute, flags: 0,
                                           header: FamilyHeader.route(destinationLength: 0, table: 0, protocol: 0, type: 0, family: AF_INET6_BYTE)),
                            "list IPv6 routes").compactMap { message in
            guard message.type == RTM.newRoute, message.header.count >= 12, message.header[0] == AF_INET6_BYTE,
                  (message.attributes[type: RTA.table]?.u32Value ?? UInt32(message.header[4])) == 254 else { return nil }
            let destination = message.attributes[type: RTA.dst].map { IPv6Address(bytes: $0.data) } ?? IPv6Address(0)
            return IPv6Subnet(destination, prefixLength: Int(message.header[1]))
        }
    }

    public func routes() throws -> [RouteEntry] {
        try connection.dump(NetlinkMessage(type: RTM.getRoute, flags: 0, header: FamilyHeader.route(destinationLength: 0, table: 0, protocol: 0, type: 0)),
                            "list routes").compactMap { message in
            guard message.type == RTM.newRoute, message.header.count >= 12, message.header[0] == AF_INET_BYTE else { return nil }
            let destination = message.attributes[type: RTA.dst].map { IPv4Address(bytes: $0.data) } ?? IPv4Address(0)
            return RouteEntry(destination: IPv4Subnet(destination, prefixLength: Int(message.header[1])),
                              gateway: message.attributes[type: RTA.gateway].map { IPv4Address(bytes: $0.data) },
                              outputIndex: message.attributes[type: RTA.oif]?.u32Value.map { Int32(bitPattern: $0) },
                              table: message.attributes[type: RTA.table]?.u32Value ?? UInt32(message.header[4]))
        }
    }
}
