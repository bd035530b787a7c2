/// rtnetlink wire format (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/veth.h),
/// host byte order (little-endian on every platform swiftainer runs on).
///
///   nlmsghdr  16 bytes: len u32, type u16, flags u16, seq u32, pid u32
///   payload   a family header (ifinfomsg 16, ifaddrmsg 8, rtmsg 12 bytes), then attributes
///   rtattr     4 bytes: len u16 (header + data, unpadded), type u16; data padded to 4 bytes
public enum RTM {
    public static let newLink: UInt16 = 16, delLink: UInt16 = 17, getLink: UInt16 = 18
    public static let newAddr: UInt16 = 20, delAddr: UInt16 = 21, getAddr: UInt16 = 22
    public static let newRoute: UInt16 = 24, delRoute: UInt16 = 25, getRoute: UInt16 = 26
}

public enum NLM {
    public static let request: UInt16 = 0x1, multi: UInt16 = 0x2, ack: UInt16 = 0x4
    public static let dump: UInt16 = 0x300
    public static let replace: UInt16 = 0x100, exclusive: UInt16 = 0x200, create: UInt16 = 0x400
    /// Message types every netlink family shares.
    public static let error: UInt16 = 2, done: UInt16 = 3
}

/// Attribute numbers used here.
public enum IFLA {
    public static let address: UInt16 = 1, ifname: UInt16 = 3, mtu: UInt16 = 4, master: UInt16 = 10
    public static let linkinfo: UInt16 = 18, netNsPid: UInt16 = 19, netNsFd: UInt16 = 28
    public static let infoKind: UInt16 = 1, infoData: UInt16 = 2
    public static let vethInfoPeer: UInt16 = 1
}

public enum IFA {
    public static let address: UInt16 = 1, local: UInt16 = 2, label: UInt16 = 3, broadcast: UInt16 = 4, flags: UInt16 = 8
    /// IFA_F_NODAD: an IPv6 address usable at once, without duplicate address detection.
    public static let noDAD: UInt32 = 0x02
}

public enum RTA {
    public static let dst: UInt16 = 1, oif: UInt16 = 4, gateway: UInt16 = 5, table: UInt16 = 15
}

public let AF_INET_BYTE: UInt8 = 2
public let AF_INET6_BYTE: UInt8 = 10
public let IFF_UP_FLAG: UInt32 = 1
/// NLA_F_NESTED: set on attributes that contain attributes.
let nestedFlag: UInt16 = 0x8000

/// One attribute: raw data, or attributes nested in it.
public struct Attribute: Equatable {
    public var type: UInt16
    public var data: [UInt8]

    public init(_ type: UInt16, _ data: [UInt8]) {
        self.type = type
        self.data = data
    }

    public static func string(_ type: UInt16, _ value: String) -> Attribute { Attribute(type, Array(value.utf8) + [0]) }
    public static func u32(_ type: UInt16, _ value: UInt32) -> Attribute { Attribute(type, Bytes.u32(value)) }
    /// Attributes inside an attribute. Written without NLA_F_NESTED, as iproute2 writes
    /// them; the kernel's parsers for these attributes accept both.
    public static func nested(_ type: UInt16, _ children: [Attribute], header: [UInt8] = []) -> Attribute {
        Attribute(type, header + children.flatMap(\.encoded))
    }

    /// rtattr header + data + padding to a 4-byte boundary.
    public var encoded: [UInt8] {
        let length = 4 + data.count
        return Bytes.u16(UInt16(length)) + Bytes.u16(type) + data + [UInt8](repeating: 0, count: Bytes.padding(length))
    }

    /// Parses a run of attributes; trailing bytes too short for one are an error.
    public static func parse(_ bytes: ArraySlice<UInt8>) throws -> [Attribute] {
        var attributes: [Attribute] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            guard bytes.endIndex - offset >= 4 else { throw NetlinkError.malformed("truncated attribute header") }
            let length = Int(Bytes.readU16(bytes, offset))
            let type = Bytes.readU16(bytes, offset + 2) & ~nestedFlag
            guard length >= 4, offset + length <= bytes.endIndex else { throw NetlinkError.malformed("attribute \(type) of length \(length) overruns its message") }
            attributes.append(Attribute(type, Array(bytes[(offset + 4)..<(offset + length)])))
            offset += length + Bytes.padding(length)
        }
        return attributes
    }

    public var stringValue: String { String(decoding: data.prefix { $0 != 0 }, as: UTF8.self) }
    public var u32Value: UInt32? { data.count >= 4 ? Bytes.readU32(data[...], 0) : nil }
}

extension Array where Element == Attribute {
    public subscript(type type: UInt16) -> Attribute? { first { $0.type == type } }
}

/// A request or a reply: header fields, the family header, attributes.
public struct NetlinkMessage: Equatable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// The family's fixed header (ifinfomsg, ifaddrmsg, rtmsg) or, for NLMSG_ERROR, errno + the request.
    public var header: [UInt8]
    public var attributes: [Attribute]

    public init(type: UInt16, flags: UInt16, sequence: UInt32 = 0, portID: UInt32 = 0, header: [UInt8], attributes: [Attribute] = []) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.header = header
        self.attributes = attributes
    }

    public var encoded: [UInt8] {
        let body = header + [UInt8](repeating: 0, count: Bytes.padding(header.count)) + attributes.flatMap(\.encoded)
        return Bytes.u32(UInt32(16 + body.count)) + Bytes.u16(type) + Bytes.u16(flags) + Bytes.u32(sequence) + Bytes.u32(portID) + body
    }

    /// The messages in one datagram. `headerSize` tells, per message type, how long its family
    /// header is; the rest of each message is attributes.
    public static func parse(_ bytes: [UInt8], headerSize: (UInt16) -> Int) throws -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while offset + 16 <= bytes.count {
            let length = Int(Bytes.readU32(bytes[...], offset))
            guard length >= 16, offset + length <= bytes.count else { throw NetlinkError.malformed("message of length \(length) overruns the datagram") }
            let type = Bytes.readU16(bytes[...], offset + 4)
            let fixed = min(type == NLM.error || type == NLM.done ? 4 : headerSize(type), length - 16)
            let headerEnd = offset + 16 + fixed
            let attributesStart = min(offset + length, headerEnd + Bytes.padding(fixed))
            messages.append(NetlinkMessage(
                type: type, flags: Bytes.readU16(bytes[...], offset + 6), sequence: Bytes.readU32(bytes[...], offset + 8),
                portID: Bytes.readU32(bytes[...], offset + 12), header: Array(bytes[(offset + 16)..<headerEnd]),
                attributes: type == NLM.error || type == NLM.done ? [] : try Attribute.parse(bytes[attributesStart..<(offset + length)])))
            offset += length + Bytes.padding(length)
        }
        return messages
    }

    /// For NLMSG_ERROR: 0 is an acknowledgement, otherwise the negative errno.
    public var errorCode: Int32? {
        guard type == NLM.error, header.count >= 4 else { return nil }
        return Int32(bitPattern: Bytes.readU32(header[...], 0))
    }
}

/// The family headers.
public enum FamilyHeader {
    /// struct ifinfomsg: family u8, pad u8, type u16, index i32, flags u32, change u32.
    public static func link(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0, family: UInt8 = 0) -> [UInt8] {
        [family, 0] + Bytes.u16(0) + Bytes.u32(UInt32(bitPattern: index)) + Bytes.u32(flags) + Bytes.u32(change)
    }

    /// struct ifaddrmsg: family u8, prefixlen u8, flags u8, scope u8, index u32.
    public static func address(index: Int32, prefixLength: UInt8, family: UInt8 = AF_INET_BYTE, scope: UInt8 = 0) -> [UInt8] {
        [family, prefixLength, 0, scope] + Bytes.u32(UInt32(bitPattern: index))
    }

    /// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags u32.
    public static func route(destinationLength: UInt8, table: UInt8 = 254, protocol proto: UInt8 = 3,
                             scope: UInt8 = 0, type: UInt8 = 1, family: UInt8 = AF_INET_BYTE) -> [UInt8] {
        [family, destinationLength, 0, 0, table, proto, scope, type] + Bytes.u32(0)
    }

    public static func size(of messageType: UInt16) -> Int {
        switch messageType {
        case RTM.newLink, RTM.delLink, RTM.getLink: return 16
        case RTM.newAddr, RTM.delAddr, RTM.getAddr: return 8
        case RTM.newRoute, RTM.delRoute, RTM.getRoute: return 12
        default: return 0
        }
    }
}

/// Little-endian integer packing.
enum Bytes {
    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
    static func u32(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24)]
    }
    static func readU16(_ bytes: ArraySlice<UInt8>, _ at: Int) -> UInt16 {
        UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }
    static func readU32(_ bytes: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
    /// NLMSG_ALIGN / RTA_ALIGN: to 4 bytes.
    static func padding(_ length: Int) -> Int { (4 - length % 4) % 4 }
}

public enum NetlinkError: Error, CustomStringConvertible, Equatable {
    /// The kernel refused a request: its errno and what we asked.
    case kernel(errno: Int32, request: String)
    case malformed(String)
    case system(String)

    public var description: String {
        switch self {
        case .kernel(let errno, let request): return "netlink: \(request): \(errnoName(errno))"
        case .malformed(let detail): return "netlink: malformed reply: \(detail)"
        case .system(let detail): return "netlink: \(detail)"
        }
    }

    public var errno: Int32? {
        if case .kernel(let errno, _) = self { return errno }
        return nil
    }
}
