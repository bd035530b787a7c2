#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import Netlink

/// What a container holds on the bridge, kept in its record: enough to undo it after a crash.
public struct BridgeAttachment: Codable, Equatable, Sendable {
    public var address: String
    public var prefixLength: Int
    public var gateway: String
    public var mac: String
    /// The host end of the veth pair (the container end is eth0).
    public var hostInterface: String
    public var ports: [PortMapping]
    /// The bridge's interface index when attached (for the one request that enslaves the veth).
    public var bridgeIndex: Int32?
    /// A user-defined network's bridge (nil: the default bridge), and its name.
    public var bridge: String?
    public var network: String?
    /// The container's end (nil: eth0); a network connected later is eth1, eth2…
    public var interface: String?
    /// On a dual-stack network: the IPv6 address, its prefix length and the gateway.
    public var address6: String?
    public var prefixLength6: Int?
    public var gateway6: String?
    /// Rootless: the slirp4netns process serving the container's network.
    public var userModePid: Int32?

    public init(address: String, prefixLength: Int, gateway: String, mac: String, hostInterface: String, ports: [PortMapping]) {
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mac = mac
        self.hostInterface = hostInterface
        self.ports = ports
    }
}

/// The IPv6 side of a dual-stack network (`network create --ipv6`).
public struct IPv6Config: Equatable, Sendable {
    public var subnet: IPv6Subnet
    public var gateway: IPv6Address
    public init(subnet: IPv6Subnet, gateway: IPv6Address) {
        self.subnet = subnet
        self.gateway = gateway
    }
}

/// Docker's default bridge, over rtnetlink: a bridge with the gateway address, and per
/// container a veth pair whose far end is created directly in the container's network
/// namespace as eth0, with its address, MAC and default route.
public struct BridgeNetwork {
    public static let defaultName = "swiftainer0"
    /// Not Docker's 172.17/16 nor Podman's 10.88/16, so all three can share a host.
    public static let defaultSubnet = IPv4Subnet("10.89.0.0/16")!

    public let name: String
    public let subnet: IPv4Subnet
    public let gateway: IPv4Address
    /// Where the IPAM files and the network lock live.
    public let stateDirectory: String
    /// Published host ports: one registry for every network on the host (a host port is one).
    public let portsDirectory: String
    /// A user-defined network (isolated from the others), and an internal one (no way out).
    public let isolated: Bool
    public let isInternal: Bool
    public let ipv6: IPv6Config?
    /// --ip-range of a user-defined network.
    public let ipRange: IPv4Subnet?

    public init(stateDirectory: String, name: String = defaultName, subnet: IPv4Subnet = defaultSubnet, gateway: IPv4Address? = nil,
                portsDirectory: String? = nil, isolated: Bool = false, isInternal: Bool = false, ipv6: IPv6Config? = nil, ipRange: IPv4Subnet? = nil) {
        self.name = name
        self.subnet = subnet
        self.gateway = gateway ?? subnet.host(1)
        self.stateDirectory = stateDirectory
        self.portsDirectory = portsDirectory ?? stateDirectory + "/ports"
        self.isolated = isolated
        self.isInternal = isInternal
        self.ipv6 = ipv6
        self.ipRange = ipRange
    }

    public var ipam: IPAM<IPv4Subnet> { IPAM(directory: stateDirectory + "/addresses", subnet: subnet, gateway: gateway, range: ipRange) }
    var ipam6: IPAM<IPv6Subnet>? { ipv6.map { IPAM(directory: stateDirectory + "/addresses6", subnet: $0.subnet, gateway: $0.gateway) } }
    var nat: NATRules { NATRules(bridge: name, subnet: subnet, isolated: isolated, isInternal: isInternal, subnet6: ipv6?.subnet) }
    public var portRegistry: PortRegistry { PortRegistry(directory: portsDirectory) }

    /// The host-side interface name of a container: 15 characters at most (IFNAMSIZ).
    public static func hostInterface(for containerID: String) -> String { "sw" + containerID.prefix(12) }

    /// A container's host end: "sw" and twelve hex digits of its id.
    static func isHostInterface(_ name: String) -> Bool {
        name.utf8.count == 14 && name.hasPrefix("sw") && name.dropFirst(2).allSatisfy(\.isHexDigit)
    }

    /// A locally administered MAC derived from the address (Docker's 02:42:a.b.c.d): an address
    /// handed to another container later comes with the same MAC, so no neighbour cache lies.
    public static func mac(for address: IPv4Address) -> [UInt8] { [0x02, 0x42] + address.bytes }
    /// "02:42:ac:1f:00:02".
    public static func macText(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).leftPadded(2) }.joined(separator: ":") }

    /// `creating`: make the state directory if it is missing (attach); otherwise a missing one
    /// (a removed network's) fails the lock, so teardown never makes it again.
    private func withLock<T>(creating: Bool = true, _ body: () throws -> T) throws -> T {
        if creating { try Files.makeDirectories(stateDirectory, mode: 0o700) }
        let lock = try FileLock(path: stateDirectory + "/network.lock")
        defer { lock.unlock() }
        return try body()
    }

    /// Connects the container whose network namespace is at `namespacePath` (/proc/PID/ns/net
    /// of its init; empty but for lo): an address from the IPAM, a veth pair, eth0 configured inside, ports
    /// published. Undoes its own steps when one fails.
    /// `ports` may hold host port 0 (any free one): the attachment's ports are the ones chosen.
    /// `mac` replaces the address-derived MAC (--mac-address); `linkLocal` are extra addresses
    /// of eth0 in 169.254/16 (--link-local-ip).
    /// `interface`: the container's end (eth0, whose gateway is the default route; another,
    /// for a network connected later, gets only its subnet's route), and `hostInterface` its
    /// peer's name on the host (by default the container's).
    /// `requestedAddress6`: --ip6, on a dual-stack network.
    public func attach(containerID: String, requestedAddress: IPv4Address?, ports requestedPorts: [PortMapping], namespacePath: String,
                       mac requestedMAC: [UInt8]? = nil, linkLocal: [IPv4Address] = [], interface: String = "eth0",
                       hostInterface requestedHostInterface: String? = nil, requestedAddress6: IPv6Address? = nil) throws -> BridgeAttachment {
        let host = try RouteNetlink.open()
        let hostInterface = requestedHostInterface ?? Self.hostInterface(for: containerID)
        let attachment: BridgeAttachment = try withLock {
            let links = try host.links()
            let bridge = try ensureBridge(host, links)
            // NAT is installed with the first container on the bridge and removed (a little
            // later, see removeNATIfIdle) after the last; the marker in /run says it is there.
            switch (try? Files.readString(natMarker)).map({ $0.contains(NATRules.version) }) {
            case nil:
                try nat.install()
                try Files.writeAtomically(natMarker, "\(subnet)\n\(NATRules.version)\n", mode: 0o600, durability: .volatile)
            case false?:
                try nat.installLoopbackGuard()
                try Files.writeAtomically(natMarker, "\(subnet)\n\(NATRules.version)\n", mode: 0o600, durability: .volatile)
            case true?:
                break
            }
            // Published ports reach containers from 127.0.0.1 only with route_localnet on the
            // bridge (DNAT'ed loopback traffic must be allowed to leave through it). Safe only
            // with the table's loopback chain, installed just above; removeNATIfIdle turns it off.
            if Sysctl.read(routeLocalnetKey) != "1" {
                do { try Sysctl.write(routeLocalnetKey, "1") } catch { throw NetworkError("cannot set \(routeLocalnetKey) = 1: \(error)") }
            }
            // An address is in use while its container's host interface exists: that is what
            // tells a crashed container's leftover from a live one, whatever store it came from.
            let live = Set(links.map(\.name))
            let isLive = { (id: String) in live.contains(Self.hostInterface(for: id)) }
            let ports = try portRegistry.assigningHostPorts(requestedPorts, range: PortRegistry.ephemeralRange(), isLive: isLive,
                                                            isFree: { Self.bindError($0) == 0 })
            let address = try ipam.allocate(for: containerID, requested: requestedAddress, exists: isLive)
            let address6: IPv6Address?
            do {
                address6 = try ipam6?.allocate(for: containerID, requested: requestedAddress6, exists: isLive)
            } catch {
                ipam.release(address, from: containerID)
                throw error
            }
            let mac = requestedMAC ?? Self.mac(for: address)
            var attachment = BridgeAttachment(address: address.description, prefixLength: subnet.prefixLength, gateway: gateway.description,
                                              mac: Self.macText(mac),
                                              hostInterface: hostInterface, ports: ports)
            attachment.bridgeIndex = bridge.index
            if isolated { attachment.bridge = name }
            if interface != "eth0" { attachment.interface = interface }
            if let address6, let ipv6 {
                attachment.address6 = address6.description
                attachment.prefixLength6 = ipv6.subnet.prefixLength
                attachment.gateway6 = ipv6.gateway.description
            }
            do {
                // Ports are taken here, under the lock, so two containers asking for one port
                // cannot both pass; a crashed holder's NAT elements are deleted on the way.
                nat.unpublish(try portRegistry.reserve(ports, for: containerID, isLive: isLive))
                try Self.checkPortsFree(ports)
                let namespace = try FileDescriptor.open(namespacePath, O_RDONLY)
                defer { namespace.close() }
                do {
                    try host.createVeth(hostInterface, peer: interface, peerNamespaceFD: namespace.raw, peerMAC: mac)
                } catch let error as NetlinkError where error.errno == EEXIST {
                    // The name carries this container's id: the link is its own previous run's,
                    // which the kernel has not torn down yet (a restart right after a stop, on a
                    // busy host). Delete it (an RCU grace period, only on this path) and retry.
                    DebugLog.log("network: \(hostInterface) is left from this container's previous run; deleting it")
                    _ = try? host.deleteLink(named: hostInterface)
                    try host.createVeth(hostInterface, peer: interface, peerNamespaceFD: namespace.raw, peerMAC: mac)
                }
            } catch {
                portRegistry.release(ports, of: containerID)
                ipam.release(address, from: containerID)
                if let address6 { ipam6?.release(address6, from: containerID) }
                throw error
            }
            return attachment
        }
        do {
            try host.modify(0, name: hostInterface, up: true, master: attachment.bridgeIndex, "attach \(hostInterface) to \(name) and set it up")
            let address = IPv4Address(attachment.address)!
            let inside = try RouteNetlink.open(namespace: namespacePath)
            guard let eth0 = try inside.link(named: interface) else { throw NetworkError("\(interface) is missing in the container's network namespace") }
            try inside.addAddress(eth0.index, address, prefixLength: attachment.prefixLength, interface)
            for extra in linkLocal { try inside.addAddress(eth0.index, extra, prefixLength: 16, "\(interface) (link-local)") }
            if let address6 = attachment.address6.flatMap(IPv6Address.init), let ipv6 {
                try inside.addAddress(eth0.index, address6, prefixLength: ipv6.subnet.prefixLength, interface)
            }
            try inside.modify(eth0.index, up: true, "set \(interface) up")
            if interface == "eth0" {
                try inside.addRoute(to: nil, via: gateway, outputIndex: eth0.index)
                if attachment.address6 != nil, let ipv6 { try inside.addDefaultRoute(via: ipv6.gateway, outputIndex: eth0.index) }
            }
            try nat.publish(attachment.ports, to: address)
        } catch {
            detach(attachment, containerID: containerID, publishedPorts: false, deleteInterface: true)
            throw error
        }
        DebugLog.log("network: \(hostInterface) <-> eth0 \(attachment.address)/\(attachment.prefixLength) via \(gateway)")
        return attachment
    }

    /// A host port some host process listens on would be shadowed by the DNAT rule: refuse it,
    /// as Docker refuses a port it cannot bind.
    static func checkPortsFree(_ ports: [PortMapping]) throws {
        for port in ports {
            switch bindError(port) {
            case EADDRINUSE: throw NetworkError("-p \(port.description): the host port is in use by a process on this host")
            case EADDRNOTAVAIL: throw NetworkError("-p \(port.description): \(port.hostIP ?? "0.0.0.0") is not an address of this host")
            default: break
            }
        }
    }

    /// The errno of binding a socket to the host side of `port` (0: it could be bound).
    static func bindError(_ port: PortMapping) -> Int32 {
        let kind = port.proto == "udp" ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let fd = socket(AF_INET, kind | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.hostPort.bigEndian
        address.sin_addr.s_addr = (IPv4Address(port.hostIP ?? "0.0.0.0")?.value ?? 0).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? 0 : errno
    }

    var natMarker: String { stateDirectory + "/nat-installed" }
    var routeLocalnetKey: String { "net.ipv4.conf.\(name).route_localnet" }

    /// Undoes `attach`: the published ports and the address. The veth pair goes with the
    /// container's network namespace, which the kernel tears down asynchronously once the
    /// container's last process is gone; deleting it here would put that teardown (an RCU grace
    /// period, ~20 ms) on the container's exit path. `deleteInterface` deletes it now, for a
    /// namespace that outlives the attachment (or an attach that failed half-way). The bridge
    /// stays. Returns true when no other container is left on the bridge: the caller then
    /// arranges for `removeNATIfIdle` to run.
    @discardableResult
    public func detach(_ attachment: BridgeAttachment, containerID: String, publishedPorts: Bool = true, deleteInterface: Bool = false) -> Bool {
        if publishedPorts { nat.unpublish(attachment.ports) }
        // The host-wide port registry is released whatever became of this network's state.
        if !Files.exists(stateDirectory) { portRegistry.release(attachment.ports, of: containerID) }
        let idle = try? withLock(creating: false) { () -> Bool in
            portRegistry.release(attachment.ports, of: containerID)
            if let address = IPv4Address(attachment.address) { ipam.release(address, from: containerID) }
            if let address6 = attachment.address6.flatMap(IPv6Address.init) { ipam6?.release(address6, from: containerID) }
            guard let host = try? RouteNetlink.open() else { return false }
            if deleteInterface { _ = try? host.deleteLink(named: attachment.hostInterface) }
            return isIdle(host, ignoring: attachment.hostInterface)
        }
        return idle ?? false
    }

    /// No container on the bridge (but the one leaving, whose veth may not be gone yet).
    /// No container is on the bridge — nor joining it: a container's veth is made under the
    /// lock but enslaved and its ports published after it, so a host end not yet on the bridge
    /// counts too (else the NAT table could go between the two and its publish fail).
    func isIdle(_ host: RouteNetlink, ignoring leaving: String? = nil) -> Bool {
        guard let links = try? host.links(), let bridge = links.first(where: { $0.name == name }) else { return false }
        // (A joining host end is on no bridge yet; one on another network's bridge is not ours.)
        return !links.contains { ($0.master == bridge.index || (Self.isHostInterface($0.name) && ($0.master ?? 0) == 0)) && $0.name != leaving }
    }

    /// Removes the NAT table when no container is on the bridge any more. Run a moment after
    /// the last container left (off its exit path: deleting a NAT table costs the kernel
    /// ~15 ms), so back-to-back containers keep one table instead of rebuilding it each time.
    public func removeNATIfIdle() throws {
        guard Files.exists(stateDirectory) else { return }
        try withLock(creating: false) {
            guard Files.exists(natMarker) else { return }
            let host = try RouteNetlink.open()
            guard isIdle(host) else { return }
            try nat.remove()
            unlink(natMarker)
            // route_localnet is only safe together with the table's loopback guard: with the
            // guard gone, the host goes back to the kernel's default (attach sets it again).
            try? Sysctl.write(routeLocalnetKey, "0")
        }
    }

    /// `network rm` of a user-defined network: its table, its bridge and its state go — unless
    /// a container is on it (then this refuses).
    public func removeBridgeIfIdle() throws {
        guard Files.exists(stateDirectory) else { return }
        try withLock(creating: false) {
            let host = try RouteNetlink.open()
            if let links = try? host.links(), let bridge = links.first(where: { $0.name == name }) {
                // The caller found no container on the network; a veth of one just removed may
                // still be on the bridge while the kernel tears its namespace down (that is
                // asynchronous, and slow on a busy machine): it is given a few seconds to go.
                let deadline = Clock.monotonicSeconds() + 5
                var ports = links.filter { $0.master == bridge.index }
                while !ports.isEmpty && ports.allSatisfy({ Self.isHostInterface($0.name) }) && Clock.monotonicSeconds() < deadline {
                    usleep(20_000)
                    ports = ((try? host.links()) ?? links).filter { $0.master == bridge.index }
                }
                guard ports.isEmpty else { throw NetworkError("network \(name) still has containers on it (\(ports.map(\.name).joined(separator: ", ")))") }
                try? nat.remove()
                _ = try? host.deleteLink(named: name)
            }
        }
        try Files.removeTree(stateDirectory)
    }

    /// The bridge, created with its gateway address on first use. Refuses a subnet that the
    /// host already routes somewhere else.
    func ensureBridge(_ host: RouteNetlink, _ links: [Link]) throws -> Link {
        if let bridge = links.first(where: { $0.name == name }), bridge.isUp { return bridge }
        if !links.contains(where: { $0.name == name }) {
            for route in try host.routes() where route.table == 254 && route.destination.prefixLength > 0 && route.destination.overlaps(subnet) {
                throw NetworkError("the bridge subnet \(subnet) collides with the host's route to \(route.destination); choose another network")
            }
            // A MAC of its own (the gateway's, in the containers' scheme): left to the kernel it
            // follows the ports, and when a container leaves, the others' ARP caches name a
            // gateway MAC the bridge no longer has until they expire (seconds without a route).
            do { try host.createBridge(name, mac: Self.mac(for: gateway)) } catch let error as NetlinkError where error.errno == EEXIST {}
        }
        guard let bridge = try host.link(named: name) else { throw NetworkError("bridge \(name) vanished right after it was created") }
        if try !host.addresses().contains(where: { $0.index == bridge.index && $0.address == gateway }) {
            do { try host.addAddress(bridge.index, gateway, prefixLength: subnet.prefixLength, name) } catch let error as NetlinkError where error.errno == EEXIST {}
        }
        if let ipv6 {
            do { try host.addAddress(bridge.index, ipv6.gateway, prefixLength: ipv6.subnet.prefixLength, name) } catch let error as NetlinkError where error.errno == EEXIST {}
            // Routed beyond the bridge, as IPv4 is (the table's forward chain keeps networks apart).
            if Sysctl.read("net.ipv6.conf.all.forwarding") != "1" {
                do { try Sysctl.write("net.ipv6.conf.all.forwarding", "1") } catch { throw NetworkError("cannot set net.ipv6.conf.all.forwarding = 1: \(error)") }
            }
        }
        try host.modify(bridge.index, up: true, "set \(name) up")
        // Containers reach beyond the host through it.
        if Sysctl.read("net.ipv4.ip_forward") != "1" {
            do { try Sysctl.write("net.ipv4.ip_forward", "1") } catch { throw NetworkError("cannot set net.ipv4.ip_forward = 1: \(error)") }
        }
        return bridge
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

