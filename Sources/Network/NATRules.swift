#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import Netlink

/// Source NAT for the bridge's subnet and destination NAT for published ports, as one nftables
/// table (`ip swiftainer`) managed with the `nft` program from Debian's nftables package.
///
/// Why nftables and a program: the rules are a handful of lines, installed once per bridge
/// lifetime and edited by adding and deleting map elements; speaking nf_tables' netlink
/// protocol from Swift would be far more code than the rest of the network for no gain on the
/// per-container path, which touches the table only when ports are published.
///
///   postrouting: the subnet going anywhere but the bridge is masqueraded (outbound);
///                connections from 127.0.0.0/8 DNAT'ed onto the bridge are masqueraded too.
///   prerouting/output: a packet to a local address whose protocol and port are in @ports
///                (or whose address, protocol and port are in @hostports) goes to the container.
///   loopback:    packets arriving from the bridge addressed to or from 127.0.0.0/8 are
///                dropped before conntrack and NAT see them (see `ruleset`).
public struct NATRules {
    /// `swiftainer` for the default bridge; `swiftainer_<bridge>` for a user-defined network.
    public let table: String
    public let bridge: String
    public let subnet: IPv4Subnet
    /// A user-defined network: no traffic to or from the other networks' bridges.
    public let isolated: Bool
    /// `--internal`: no traffic leaves the bridge at all, and none is masqueraded.
    public let isInternal: Bool

    /// A dual-stack network's IPv6 block: a second table, `ip6 <table>`, with the same
    /// isolation, loopback guard and masquerade.
    public let subnet6: IPv6Subnet?

    public init(bridge: String, subnet: IPv4Subnet, isolated: Bool = false, isInternal: Bool = false, subnet6: IPv6Subnet? = nil) {
        self.bridge = bridge
        self.subnet = subnet
        self.subnet6 = subnet6
        self.isolated = isolated
        self.isInternal = isInternal
        table = isolated ? "swiftainer_" + bridge : "swiftainer"
    }

    /// Isolation of a user-defined network, in the forward hook: its bridge talks to no other
    /// network's (the default bridge, `swbr*`), nothing else talks to it; internal: to nothing
    /// beyond itself.
    var forwardRules: String {
        guard isolated else { return "" }
        let outward = isInternal ? """
                        iifname "\(bridge)" oifname != "\(bridge)" drop
                        oifname "\(bridge)" iifname != "\(bridge)" drop
                """ : """
                        iifname "\(bridge)" oifname "swbr*" oifname != "\(bridge)" drop
                        iifname "\(bridge)" oifname "\(BridgeNetwork.defaultName)" drop
                        iifname "\(BridgeNetwork.defaultName)" oifname "\(bridge)" drop
                """
        return """
                    chain forward {
                        type filter hook forward priority filter; policy accept;
                \(outward)
                    }

                """
    }

    static func nft() throws -> String {
        guard let path = ExternalCommand.find("nft") else {
            throw NetworkError("the bridge network needs nft (Debian package nftables) for NAT and -p; run scripts/install-deps")
        }
        return path
    }

    func apply(_ script: String, _ what: String) throws {
        DebugLog.log("nft: \(what)")
        let result = try ExternalCommand.run(try Self.nft(), argv: ["nft", "-f", "-"], input: Array(script.utf8))
        guard result.status == 0 else {
            throw NetworkError("nft: \(what): \(Self.firstError(result.stderr))")
        }
    }

    /// nft reports an error in three lines (the message, the offending input, a caret line
    /// under it): keep the message alone, so that errors stay one line.
    static func firstError(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n").map { String($0).trimmingWhitespace }
        let message = lines.first { $0.hasPrefix("Error:") } ?? lines.first ?? "failed"
        return message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
    }

    public var ruleset: String {
        let dnat = """
                dnat ip to ip daddr . meta l4proto . th dport map @hostports
                fib daddr type local dnat ip to meta l4proto . th dport map @ports
        """
        // route_localnet (which DNAT from 127.0.0.1 onto the bridge needs) also lets the kernel
        // accept packets *from* the bridge addressed to 127.0.0.0/8: a container with CAP_NET_RAW
        // could send a frame to the gateway's MAC with daddr 127.0.0.1 and reach services bound
        // to the host's loopback (the CVE-2020-8558 class). Legitimate traffic never carries a
        // loopback address on the wire of the bridge: replies to published-port connections from
        // 127.0.0.1 come back to the gateway address (the masquerade below), and are only
        // un-NATed to 127.0.0.1 after this chain. So the chain runs at raw priority — before
        // conntrack and DNAT — and drops any loopback source or destination from the bridge.
        return """
        table ip \(table) {
            chain loopback {
                type filter hook prerouting priority raw; policy accept;
        \(loopbackRules)
            }
            map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }
            map hostports { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
            chain prerouting {
                type nat hook prerouting priority dstnat; policy accept;
        \(dnat)
            }
            chain output {
                type nat hook output priority -100; policy accept;
        \(dnat)
            }
            chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
        \(isInternal ? "" : "        ip saddr \(subnet) oifname != \"\(bridge)\" masquerade")
                ip saddr 127.0.0.0/8 oifname "\(bridge)" masquerade
            }
        \(forwardRules)}

        """
    }

    var loopbackRules: String {
        """
                iifname "\(bridge)" ip daddr 127.0.0.0/8 drop
                iifname "\(bridge)" ip saddr 127.0.0.0/8 drop
        """
    }

    /// What the marker file of an installed table says; a table installed by an older
    /// swiftainer (a marker without it) lacks the loopback chain.
    public static let version = "ruleset 2: loopback guard"

    /// Adds the loopback chain to a table installed by an older swiftainer, leaving its maps
    /// (the ports of running containers) alone.
    public func installLoopbackGuard() throws {
        let rules = loopbackRules.split(separator: "\n").map { "add rule ip \(table) loopback " + String($0).trimmingWhitespace + "\n" }.joined()
        try apply("""
            add chain ip \(table) loopback { type filter hook prerouting priority raw; policy accept; }
            flush chain ip \(table) loopback

            """ + rules, "add the loopback guard to table ip \(table)")
    }

    /// The IPv6 table of a dual-stack network: no published ports (they are IPv4's).
    var ruleset6: String {
        guard let subnet6 else { return "" }
        return """
        table ip6 \(table) {
            chain loopback {
                type filter hook prerouting priority raw; policy accept;
                iifname "\(bridge)" ip6 daddr ::1 drop
                iifname "\(bridge)" ip6 saddr ::1 drop
            }
            chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
        \(isInternal ? "" : "        ip6 saddr \(subnet6) oifname != \"\(bridge)\" masquerade")
            }
        \(forwardRules)}

        """
    }

    /// (Re)creates the table (and a dual-stack network's IPv6 one) in one transaction:
    /// whatever was there is replaced whole.
    public func install() throws {
        try apply(deletions + ruleset + "\n" + ruleset6, "install table ip \(table) for \(subnet)" + (subnet6.map { " and \($0)" } ?? ""))
    }

    /// Both families' tables, made first so that deleting them cannot fail on a missing one.
    var deletions: String { "table ip \(table) {}\ndelete table ip \(table)\ntable ip6 \(table) {}\ndelete table ip6 \(table)\n" }

    public func remove() throws {
        try apply(deletions, "delete table ip \(table)")
    }

    /// `map { key : value }`, or only `map { key }` (what delete takes).
    func element(_ port: PortMapping, to address: IPv4Address?) -> String {
        let target = address.map { " : \($0) . \(port.containerPort)" } ?? ""
        if let ip = port.hostIP { return "hostports { \(ip) . \(port.proto) . \(port.hostPort)\(target) }" }
        return "ports { \(port.proto) . \(port.hostPort)\(target) }"
    }

    /// Publishes ports; `create` refuses a port another container has.
    public func publish(_ ports: [PortMapping], to address: IPv4Address) throws {
        guard !ports.isEmpty else { return }
        let script = ports.map { "create element ip \(table) \(element($0, to: address))\n" }.joined()
        try apply(script, "publish \(ports.map(\.description).joined(separator: ", "))")
    }

    public func unpublish(_ ports: [PortMapping]) {
        for port in ports {
            try? apply("delete element ip \(table) \(element(port, to: nil))\n", "unpublish \(port.description)")
        }
    }
}
