import Testing
@testable import Netlink

/// Byte layouts from the kernel headers:
///   struct nlmsghdr { __u32 nlmsg_len; __u16 nlmsg_type; __u16 nlmsg_flags; __u32 nlmsg_seq; __u32 nlmsg_pid; }  16 bytes
///   struct ifinfomsg { unsigned char ifi_family, __ifi_pad; unsigned short ifi_type; int ifi_index; unsigned ifi_flags, ifi_change; }  16 bytes
///   struct ifaddrmsg { __u8 ifa_family, ifa_prefixlen, ifa_flags, ifa_scope; __u32 ifa_index; }  8 bytes
///   struct rtmsg { unsigned char rtm_family, rtm_dst_len, rtm_src_len, rtm_tos, rtm_table, rtm_protocol, rtm_scope, rtm_type; unsigned rtm_flags; }  12 bytes
///   struct rtattr { unsigned short rta_len, rta_type; }  4 bytes, data aligned to 4
@Suite struct NetlinkMessageTests {
    @Test func attributeIsPaddedButItsLengthIsNot() {
        #expect(Attribute.string(IFLA.ifname, "eth0").encoded == [9, 0, 3, 0, 0x65, 0x74, 0x68, 0x30, 0, 0, 0, 0])
        #expect(Attribute.u32(IFLA.master, 7).encoded == [8, 0, 10, 0, 7, 0, 0, 0])
    }

    @Test func createBridgeRequestBytes() {
        let message = NetlinkMessage(type: RTM.newLink, flags: NLM.request | NLM.ack | NLM.create | NLM.exclusive, sequence: 1,
                                     header: FamilyHeader.link(),
                                     attributes: [.string(IFLA.ifname, "br0"), .nested(IFLA.linkinfo, [.string(IFLA.infoKind, "bridge")])])
        let expected: [UInt8] = [
            56, 0, 0, 0,  16, 0,  0x05, 0x06,  1, 0, 0, 0,  0, 0, 0, 0,   // nlmsghdr: len 16+16+8+16 = 56, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1
            0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,              // ifinfomsg, all zero
            8, 0, 3, 0,  0x62, 0x72, 0x30, 0,                               // IFLA_IFNAME "br0\0"
            16, 0, 18, 0,                                                   // IFLA_LINKINFO (nested, 12 bytes inside)
            11, 0, 1, 0,  0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0, 0,         // IFLA_INFO_KIND "bridge\0" + 1 pad
        ]
        #expect(message.encoded == expected)
    }

    @Test func vethPeerCarriesItsOwnIfinfomsgAndNamespace() throws {
        let peer = Attribute.nested(IFLA.vethInfoPeer, [.string(IFLA.ifname, "eth0"), .u32(IFLA.netNsFd, 9)], header: FamilyHeader.link())
        // rtattr(4) + ifinfomsg(16) + IFLA_IFNAME(4+5 → 12) + IFLA_NET_NS_FD(8)
        #expect(peer.encoded.count == 40)
        #expect(Array(peer.encoded[0..<4]) == [40, 0, 1, 0])
        #expect(Array(peer.encoded[4..<20]) == [UInt8](repeating: 0, count: 16))
        let inner = try Attribute.parse(peer.data[16...])
        #expect(inner[type: IFLA.ifname]?.stringValue == "eth0")
        #expect(inner[type: IFLA.netNsFd]?.u32Value == 9)
    }

    @Test func addressAndRouteHeaders() {
        #expect(FamilyHeader.address(index: 3, prefixLength: 16) == [2, 16, 0, 0, 3, 0, 0, 0])
        // default route: AF_INET, dst_len 0, table main (254), proto boot (3), scope universe, unicast
        #expect(FamilyHeader.route(destinationLength: 0) == [2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0])
        #expect(Attribute(RTA.gateway, IPv4Address("10.89.0.1")!.bytes).encoded == [8, 0, 5, 0, 10, 89, 0, 1])
    }

    @Test func errorReplyCarriesNegativeErrno() throws {
        // NLMSG_ERROR: error -17 (EEXIST), then the offending request's header.
        let reply: [UInt8] = [36, 0, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 0x39, 0x30, 0, 0,
                              0xef, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 16)
        let messages = try NetlinkMessage.parse(reply, headerSize: FamilyHeader.size)
        #expect(messages.count == 1)
        #expect(messages[0].sequence == 5 && messages[0].portID == 12345)
        #expect(messages[0].errorCode == -17)
    }

    @Test func linkDumpReplyParses() throws {
        let attributes: [Attribute] = [.string(IFLA.ifname, "swiftainer0"), .u32(IFLA.mtu, 1500), .u32(IFLA.master, 4),
                                       .nested(IFLA.linkinfo, [.string(IFLA.infoKind, "veth")])]
        let one = NetlinkMessage(type: RTM.newLink, flags: NLM.multi, sequence: 2, header: FamilyHeader.link(index: 7, flags: 1), attributes: attributes)
        let done = NetlinkMessage(type: NLM.done, flags: NLM.multi, sequence: 2, header: [0, 0, 0, 0])
        let parsed = try NetlinkMessage.parse(one.encoded + done.encoded, headerSize: FamilyHeader.size)
        #expect(parsed.count == 2)
        #expect(parsed[0] == one)
        #expect(parsed[1].type == NLM.done)
    }

    @Test func malformedInputIsAnErrorNotACrash() {
        #expect(throws: NetlinkError.self) { try NetlinkMessage.parse([200, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], headerSize: FamilyHeader.size) }
        #expect(throws: NetlinkError.self) { try Attribute.parse([3, 0, 1, 0][...]) }
        #expect(throws: NetlinkError.self) { try Attribute.parse([8, 0, 1][...]) }
        // Random bytes: any outcome but a crash.
        var state: UInt64 = 0x9E3779B97F4A7C15
        for _ in 0..<2000 {
            var bytes: [UInt8] = []
            for _ in 0..<(Int(state % 80)) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56))
            }
            _ = try? NetlinkMessage.parse(bytes, headerSize: FamilyHeader.size)
        }
    }

    @Test func ipv4Parsing() {
        #expect(IPv4Address("10.89.0.2")?.bytes == [10, 89, 0, 2])
        for bad in ["10.89.0", "10.89.0.256", "a.b.c.d", "1..2.3", "01234.1.1.1", ""] { #expect(IPv4Address(bad) == nil, "\(bad)") }
        let subnet = IPv4Subnet("10.89.3.7/16")!
        #expect(subnet.description == "10.89.0.0/16" && subnet.broadcast.description == "10.89.255.255")
        #expect(subnet.contains(IPv4Address("10.89.200.1")!) && !subnet.contains(IPv4Address("10.90.0.1")!))
        #expect(subnet.overlaps(IPv4Subnet("10.0.0.0/8")!) && !subnet.overlaps(IPv4Subnet("192.0.2.0/24")!))
        #expect(subnet.hostCount == 65534)
    }
}

/// A transport that records what is sent and answers from a script.
final class ScriptedTransport: NetlinkTransport {
    var sent: [[UInt8]] = []
    var replies: [([UInt8]) -> [UInt8]] = []

    func send(_ bytes: [UInt8]) throws { sent.append(bytes) }
    func receive() throws -> [UInt8] {
        guard !replies.isEmpty else { throw NetlinkError.system("no scripted reply") }
        return replies.removeFirst()(sent.last ?? [])
    }

    /// An NLMSG_ERROR answer to the last request, with `errno` (0: acknowledgement).
    static func answer(errno: Int32) -> ([UInt8]) -> [UInt8] {
        { request in
            let sequence = Array(request[8..<12])
            let code = UInt32(bitPattern: -errno)
            return Bytes.u32(36) + Bytes.u16(NLM.error) + Bytes.u16(0) + sequence + Bytes.u32(0) + Bytes.u32(code) + Array(request[0..<16])
        }
    }
}

@Suite struct RouteNetlinkTests {
    @Test func requestsAreAcknowledgedAndErrorsNamed() throws {
        let transport = ScriptedTransport()
        transport.replies = [ScriptedTransport.answer(errno: 0), ScriptedTransport.answer(errno: 17)]
        let netlink = RouteNetlink(transport)
        try netlink.createVeth("sw123", peer: "eth0", peerNamespaceFD: 5, peerMAC: [2, 0x42, 10, 89, 0, 2])
        let request = try NetlinkMessage.parse(transport.sent[0], headerSize: FamilyHeader.size)[0]
        #expect(request.flags == NLM.request | NLM.ack | NLM.create | NLM.exclusive)
        #expect(request.attributes[type: IFLA.ifname]?.stringValue == "sw123")
        let info = try Attribute.parse(request.attributes[type: IFLA.linkinfo]!.data[...])
        #expect(info[type: IFLA.infoKind]?.stringValue == "veth")
        let data = try Attribute.parse(info[type: IFLA.infoData]!.data[...])
        let peer = try Attribute.parse(data[type: IFLA.vethInfoPeer]!.data[16...])
        #expect(peer[type: IFLA.address]?.data == [2, 0x42, 10, 89, 0, 2])
        #expect(peer[type: IFLA.netNsFd]?.u32Value == 5)

        #expect(throws: NetlinkError.kernel(errno: 17, request: "add address 10.89.0.2/16 to eth0")) {
            try netlink.addAddress(2, IPv4Address("10.89.0.2")!, prefixLength: 16, "eth0")
        }
        // Sequence numbers advance per request.
        #expect(transport.sent[1][8] == transport.sent[0][8] + 1)
    }
}
