#if canImport(Glibc)
import Glibc
#endif
import Testing
import LinuxKit
import Netlink
@testable import Network
import TestSupport

@Suite struct NetworkTests {
    let subnet = IPv4Subnet("10.89.0.0/29")! // .1 gateway, .2-.6 for containers, .7 broadcast

    @Test func ipamHandsOutDistinctAddressesAndTakesThemBack() throws {
        let dir = TemporaryDirectory()
        let ipam = IPAM(directory: dir.path + "/addresses", subnet: subnet, gateway: subnet.host(1))
        let live: Set<String> = ["a", "b", "c", "d", "e"]
        let given = try ["a", "b", "c", "d", "e"].map { try ipam.allocate(for: $0) { live.contains($0) } }
        #expect(given.map(\.description) == ["10.89.0.2", "10.89.0.3", "10.89.0.4", "10.89.0.5", "10.89.0.6"])
        #expect(throws: NetworkError.self) { try ipam.allocate(for: "f") { live.contains($0) } }
        // Asking again for the same container returns its address.
        #expect(try ipam.allocate(for: "c") { live.contains($0) }.description == "10.89.0.4")
        ipam.release(given[1], from: "someone-else")
        #expect(ipam.owner(of: given[1]) == "b", "only the holder releases")
        ipam.release(given[1], from: "b")
        #expect(try ipam.allocate(for: "f") { live.contains($0) } == given[1])
        // A crashed container's address is taken back when its owner is gone.
        #expect(try ipam.allocate(for: "g") { $0 != "d" && (live.contains($0) || $0 == "f") } == given[3])
    }

    /// Issue #14.12: a `run` killed right after allocating leaves an address file for a
    /// container that never existed, and a killed writer leaves `.last.tmp-PID`; the next
    /// allocation frees both instead of waiting for the round robin to wrap around.
    @Test func ipamFreesAddressesOfVanishedContainersAndAbandonedTemporaries() throws {
        let dir = TemporaryDirectory()
        let ipam = IPAM(directory: dir.path, subnet: IPv4Subnet("10.89.0.0/24")!, gateway: IPv4Address("10.89.0.1")!)
        let live: Set<String> = ["alive"]
        #expect(try ipam.allocate(for: "alive") { live.contains($0) }.description == "10.89.0.2")
        #expect(try ipam.allocate(for: "killed-run") { _ in true }.description == "10.89.0.3")
        try Files.writeAtomically(dir.path + "/10.89.0.200", "", mode: 0o600) // a crash mid-write: no owner
        // A writer that died (no such pid) and one that is alive (pid 1).
        let deadPid = Int32.max - 7
        try Files.writeAtomically(dir.path + "/.last.tmp-\(deadPid)", "9\n", mode: 0o600)
        try Files.writeAtomically(dir.path + "/.last.tmp-1", "9\n", mode: 0o600)
        _ = try ipam.allocate(for: "next") { live.contains($0) }
        #expect(ipam.owner(of: IPv4Address("10.89.0.3")!) == nil, "the vanished container's address was not freed")
        #expect(ipam.owner(of: IPv4Address("10.89.0.200")!) == nil)
        #expect(ipam.owner(of: IPv4Address("10.89.0.2")!) == "alive")
        #expect(!Files.exists(dir.path + "/.last.tmp-\(deadPid)"))
        #expect(Files.exists(dir.path + "/.last.tmp-1"), "a live writer's file stays")
    }

    @Test func ipamFixedAddresses() throws {
        let dir = TemporaryDirectory()
        let ipam = IPAM(directory: dir.path, subnet: subnet, gateway: subnet.host(1))
        #expect(try ipam.allocate(for: "x", requested: IPv4Address("10.89.0.5")) { _ in true }.description == "10.89.0.5")
        for bad in ["10.89.0.5", "10.89.0.1", "10.89.0.0", "10.89.0.7", "10.90.0.2"] {
            #expect(throws: NetworkError.self, "\(bad)") { try ipam.allocate(for: "y", requested: IPv4Address(bad)) { _ in true } }
        }
    }

    @Test func portSyntax() throws {
        #expect(try PortMapping.parse("8080:80") == PortMapping(hostPort: 8080, containerPort: 80))
        #expect(try PortMapping.parse("127.0.0.1:53:53/udp") == PortMapping(hostIP: "127.0.0.1", hostPort: 53, containerPort: 53, proto: "udp"))
        #expect(try PortMapping.parse("0.0.0.0:1:2/TCP") == PortMapping(hostPort: 1, containerPort: 2))
        // No host port, or an empty one: any free port (0 until attach picks it).
        #expect(try PortMapping.parse("80") == PortMapping(hostPort: 0, containerPort: 80))
        #expect(try PortMapping.parse(":80/udp") == PortMapping(hostPort: 0, containerPort: 80, proto: "udp"))
        #expect(try PortMapping.parse("127.0.0.1::80") == PortMapping(hostIP: "127.0.0.1", hostPort: 0, containerPort: 80))
        for bad in ["0:80", "70000:80", "a:80", "1.2.3:80:80", "80:80/sctp", "1:2:3:4", "0", ""] {
            #expect(throws: NetworkError.self, "\(bad)") { try PortMapping.parse(bad) }
        }
    }

    @Test func exposedPortsAndRanges() throws {
        #expect(try PortMapping.exposed("80").map { "\($0.port)/\($0.proto)" } == ["80/tcp"])
        #expect(try PortMapping.exposed("7000-7002/udp").map { "\($0.port)/\($0.proto)" } == ["7000/udp", "7001/udp", "7002/udp"])
        for bad in ["0", "90-80", "x", "80/icmp", "1-", ""] {
            #expect(throws: NetworkError.self, "\(bad)") { try PortMapping.exposed(bad) }
        }
    }

    @Test func randomHostPortsAvoidHeldAndRequestedOnes() throws {
        let dir = TemporaryDirectory()
        let registry = PortRegistry(directory: dir.path + "/ports")
        let live: Set<String> = ["holder"]
        _ = try registry.reserve([PortMapping(hostPort: 40001, containerPort: 80)], for: "holder", isLive: live.contains)
        // In 40000-40003: 40001 is held by a live container, 40002 is this request's own fixed
        // port, 40003 is bound on the host: 40000 is the one left.
        let request = [PortMapping(hostPort: 0, containerPort: 80), PortMapping(hostPort: 40002, containerPort: 81)]
        let notBound = { (port: PortMapping) in port.hostPort != 40003 }
        let assigned = try registry.assigningHostPorts(request, range: 40000...40003, isLive: live.contains, isFree: notBound)
        #expect(assigned.map(\.hostPort) == [40000, 40002])
        // Two random ports, one free port: refused, naming the range.
        #expect(throws: NetworkError.self) {
            try registry.assigningHostPorts(request + [PortMapping(hostPort: 0, containerPort: 82)], range: 40000...40003,
                                            isLive: live.contains, isFree: notBound)
        }
        // A dead holder's port is free again.
        let both = try registry.assigningHostPorts(request + [PortMapping(hostPort: 0, containerPort: 82)], range: 40000...40003,
                                                   isLive: { _ in false }, isFree: notBound)
        #expect(Set(both.map(\.hostPort)) == [40000, 40001, 40002])
    }

    @Test func nameFiles() {
        let hosts = NameFiles.hosts(hostname: "abc123", name: "web", addresses: ["10.89.0.9"])
        #expect(hosts.hasPrefix("127.0.0.1\tlocalhost\n"))
        #expect(hosts.hasSuffix("10.89.0.9\tabc123 web\n"))
        #expect(!NameFiles.hosts(hostname: "h", name: "h", addresses: []).contains("10."))
        // One line per network the container is on, the first network's first.
        #expect(NameFiles.hosts(hostname: "h", name: "h", addresses: ["10.89.0.9", "10.90.0.3"]).hasSuffix("10.89.0.9\th\n10.90.0.3\th\n"))
        let host = "# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0\n"
        let resolv = NameFiles.resolvConf(host: host, dns: [])
        #expect(resolv.contains("nameserver 192.0.2.53") && !resolv.contains("nameserver 127.0.0.53") && resolv.contains("search example.org"))
        let chosen = NameFiles.resolvConf(host: host, dns: ["9.9.9.9"])
        #expect(chosen.contains("nameserver 9.9.9.9\n") && !chosen.contains("192.0.2.53"))
    }

    @Test func natRulesetNamesTheSubnetAndBridge() {
        let nat = NATRules(bridge: "swiftainer0", subnet: IPv4Subnet("10.89.0.0/16")!)
        #expect(nat.ruleset.contains("ip saddr 10.89.0.0/16 oifname != \"swiftainer0\" masquerade"))
        #expect(nat.element(PortMapping(hostPort: 8080, containerPort: 80), to: IPv4Address("10.89.0.2")) == "ports { tcp . 8080 : 10.89.0.2 . 80 }")
        #expect(nat.element(PortMapping(hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80), to: nil) == "hostports { 127.0.0.1 . tcp . 8080 }")
        #expect(BridgeNetwork.hostInterface(for: String(repeating: "f", count: 64)).count <= 15)
        #expect(BridgeNetwork.mac(for: IPv4Address("10.89.0.2")!) == [0x02, 0x42, 10, 89, 0, 2])
    }

    @Test func natRulesetDropsLoopbackFromTheBridgeBeforeNAT() {
        let nat = NATRules(bridge: "swiftainer0", subnet: IPv4Subnet("10.89.0.0/16")!)
        // Issue #14.1: at raw priority, before conntrack and DNAT, both directions of 127/8.
        #expect(nat.ruleset.contains("type filter hook prerouting priority raw; policy accept;"))
        #expect(nat.ruleset.contains("iifname \"swiftainer0\" ip daddr 127.0.0.0/8 drop"))
        #expect(nat.ruleset.contains("iifname \"swiftainer0\" ip saddr 127.0.0.0/8 drop"))
    }

    @Test func nftErrorsAreOneLine() {
        let raw = "Error: Could not process rule: File exists\ncreate element ip swiftainer ports { tcp . 80 : 10.89.0.2 . 80 }\n                             ^^^^^^^^^^\n"
        #expect(NATRules.firstError(raw) == "Could not process rule: File exists")
        #expect(NATRules.firstError("") == "failed")
    }

    @Test func publishedPortsOverlapByAddressAndProtocol() {
        let any = PortMapping(hostPort: 8080, containerPort: 80)
        let loopback = PortMapping(hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80)
        let other = PortMapping(hostIP: "192.0.2.1", hostPort: 8080, containerPort: 81)
        #expect(PortRegistry.overlaps(any, loopback) && PortRegistry.overlaps(loopback, any))
        #expect(PortRegistry.overlaps(any, other) && PortRegistry.overlaps(loopback, loopback))
        #expect(!PortRegistry.overlaps(loopback, other))
        #expect(!PortRegistry.overlaps(any, PortMapping(hostPort: 8080, containerPort: 80, proto: "udp")))
        #expect(!PortRegistry.overlaps(any, PortMapping(hostPort: 8081, containerPort: 80)))
    }

    @Test func portRegistryRefusesEveryOverlapAndForgetsTheDead() throws {
        let dir = TemporaryDirectory()
        let registry = PortRegistry(directory: dir.path + "/ports")
        var live: Set<String> = ["a", "b", "c"]
        let port = { (ip: String?, number: UInt16, proto: String) in PortMapping(hostIP: ip, hostPort: number, containerPort: 80, proto: proto) }
        #expect(try registry.reserve([port(nil, 8080, "tcp")], for: "a", isLive: live.contains).isEmpty)
        // Any address, then one address (and the reverse below): Docker's message, one line.
        do {
            _ = try registry.reserve([port("127.0.0.1", 8080, "tcp")], for: "b", isLive: live.contains)
            Issue.record("127.0.0.1:8080 was accepted next to 0.0.0.0:8080")
        } catch {
            #expect("\(error)" == "Bind for 127.0.0.1:8080 failed: port is already allocated")
        }
        #expect(try registry.reserve([port("127.0.0.1", 9090, "tcp"), port("192.0.2.1", 9090, "tcp"), port(nil, 9090, "udp")], for: "b", isLive: live.contains).isEmpty)
        #expect(throws: NetworkError.self) { try registry.reserve([port(nil, 9090, "tcp")], for: "c", isLive: live.contains) }
        #expect(throws: NetworkError.self) { try registry.reserve([port("192.0.2.1", 9090, "tcp")], for: "c", isLive: live.contains) }
        // Within one request too, and a refused request writes nothing.
        #expect(throws: NetworkError.self) { try registry.reserve([port(nil, 7070, "tcp"), port("127.0.0.1", 7070, "tcp")], for: "c", isLive: live.contains) }
        #expect(try registry.reserve([port(nil, 7070, "tcp")], for: "c", isLive: live.contains).isEmpty)
        // Released: the port is free again; only the holder's line goes.
        registry.release([port(nil, 7070, "tcp")], of: "a")
        #expect(throws: NetworkError.self) { try registry.reserve([port(nil, 7070, "tcp")], for: "a", isLive: live.contains) }
        registry.release([port(nil, 7070, "tcp")], of: "c")
        #expect(try registry.reserve([port(nil, 7070, "tcp")], for: "a", isLive: live.contains).isEmpty)
        // A holder that died without releasing (a crash) is dropped, and reported so its NAT
        // elements can be deleted.
        live.remove("b")
        let stale = try registry.reserve([port(nil, 9090, "tcp")], for: "c", isLive: live.contains)
        #expect(stale.map(\.hostIP) == ["127.0.0.1", "192.0.2.1"], "\(stale)")
    }

    @Test func ipv6AddressesReadAndPrintAsRFC5952Says() {
        let cases: [(String, String)] = [
            ("::", "::"), ("::1", "::1"), ("fd00::", "fd00::"), ("FD7A:83A2:4A10:0:0:0:0:2", "fd7a:83a2:4a10::2"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1"),
            ("2001:db8::1:0:1", "2001:db8::1:0:1"), ("1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"), ("::ffff:10.0.0.1", "::ffff:a00:1"),
        ]
        for (text, canonical) in cases { #expect(IPv6Address(text)?.description == canonical, "\(text)") }
        for bad in ["", ":", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "1::2:", ":1::2", "10.0.0.1"] {
            #expect(IPv6Address(bad) == nil, "\(bad)")
        }
        let address = IPv6Address("fd7a:83a2:4a10::2")!
        #expect(IPv6Address(bytes: address.bytes) == address && address.bytes.count == 16 && address.bytes[0] == 0xfd && address.bytes[15] == 2)
        let subnet = IPv6Subnet("fd7a:83a2:4a10:5::9/64")!
        #expect(subnet.description == "fd7a:83a2:4a10:5::/64" && subnet.contains(IPv6Address("fd7a:83a2:4a10:5:ffff::1")!))
        #expect(!subnet.contains(IPv6Address("fd7a:83a2:4a10:6::1")!) && subnet.host(1).description == "fd7a:83a2:4a10:5::1")
        #expect(subnet.overlaps(IPv6Subnet("fd7a::/16")!) && !subnet.overlaps(IPv6Subnet("fd00::/64")!))
    }

    @Test func ipamHandsOutIPv6AddressesLikeIPv4Ones() throws {
        let dir = TemporaryDirectory()
        let subnet = IPv6Subnet("fd00:1::/64")!
        let ipam = IPAM(directory: dir.path, subnet: subnet, gateway: subnet.host(1))
        #expect(try ipam.allocate(for: "a") { _ in true }.description == "fd00:1::2")
        #expect(try ipam.allocate(for: "b", requested: IPv6Address("fd00:1::beef")) { _ in true }.description == "fd00:1::beef")
        for bad in ["fd00:1::beef", "fd00:1::1", "fd00:1::", "fd00:2::5"] {
            #expect(throws: NetworkError.self, "\(bad)") { try ipam.allocate(for: "c", requested: IPv6Address(bad)) { _ in true } }
        }
        #expect(try ipam.allocate(for: "c") { _ in true }.description == "fd00:1::3")
    }

    @Test func reverseNamesOfBothFamilies() {
        func question(_ name: String) -> DNSQuestion? {
            DNSQuestion(parsing: [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + DNSQuestion.encodeName(name) + [0, 12, 0, 1])
        }
        #expect(question("2.0.90.10.in-addr.arpa")?.reverseAddress == "10.90.0.2")
        let nibbles = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.a.4.2.a.3.8.a.7.d.f.ip6.arpa"
        #expect(question(nibbles)?.reverseAddress == "fd7a:83a2:4a10::2")
        #expect(question("1.0.ip6.arpa")?.reverseAddress == nil)
    }

    @Test func dualStackNetworksGetAnIPv6TableWithTheSameIsolation() {
        let nat = NATRules(bridge: "swbr0123456789", subnet: IPv4Subnet("10.90.3.0/24")!, isolated: true, subnet6: IPv6Subnet("fd00:1::/64"))
        #expect(nat.ruleset6.contains("table ip6 swiftainer_swbr0123456789"))
        #expect(nat.ruleset6.contains("ip6 saddr fd00:1::/64 oifname != \"swbr0123456789\" masquerade"))
        #expect(nat.ruleset6.contains("iifname \"swbr0123456789\" oifname \"swbr*\" oifname != \"swbr0123456789\" drop"))
        #expect(nat.ruleset6.contains("ip6 daddr ::1 drop"))
        #expect(NATRules(bridge: "swiftainer0", subnet: IPv4Subnet("10.89.0.0/16")!).ruleset6.isEmpty)
    }
}
