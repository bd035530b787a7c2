import Netlink

/// The few DNS message shapes the network resolver needs (RFC 1035): a query's question read,
/// and an answer built for it with A or PTR records, or an empty or failed one.
public struct DNSQuestion: Equatable, Sendable {
    public static let typeA: UInt16 = 1, typePTR: UInt16 = 12, typeAAAA: UInt16 = 28

    public var id: UInt16
    public var flags: UInt16
    /// Lower-cased, without the trailing dot.
    public var name: String
    public var type: UInt16
    public var recordClass: UInt16
    /// Where the question ends in the query (it is copied into the answer).
    public var end: Int

    /// nil for anything but a standard query with one question.
    public init?(parsing bytes: [UInt8]) {
        guard bytes.count >= 12, bytes[2] & 0x80 == 0, (bytes[2] >> 3) & 0x0f == 0, bytes[4] == 0, bytes[5] == 1 else { return nil }
        id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        flags = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        var labels: [String] = []
        var index = 12
        while true {
            guard index < bytes.count else { return nil }
            let length = Int(bytes[index])
            index += 1
            if length == 0 { break }
            // No compression in a question; labels of at most 63 bytes.
            guard length < 64, index + length <= bytes.count else { return nil }
            labels.append(String(decoding: bytes[index..<index + length], as: UTF8.self).lowercased())
            index += length
        }
        guard index + 4 <= bytes.count else { return nil }
        name = labels.joined(separator: ".")
        type = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
        recordClass = UInt16(bytes[index + 2]) << 8 | UInt16(bytes[index + 3])
        end = index + 4
    }

    public enum Code: UInt8 { case noError = 0, serverFailure = 2, nameError = 3 }

    /// The answer to `query` (this question's bytes): `records` are rdata of this question's
    /// type, each sent with `ttl` seconds.
    public func answer(_ query: [UInt8], records: [[UInt8]], code: Code = .noError, ttl: UInt32 = 600) -> [UInt8] {
        // QR, the query's opcode and RD, RA; authoritative for our own names.
        let responseFlags: UInt16 = 0x8000 | (flags & 0x7900) | 0x0080 | (code == .noError && !records.isEmpty ? 0x0400 : 0) | UInt16(code.rawValue)
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), UInt8(responseFlags >> 8), UInt8(responseFlags & 0xff),
                            0, 1, UInt8(records.count >> 8), UInt8(records.count & 0xff), 0, 0, 0, 0]
        out += query[12..<end]
        for rdata in records {
            // The name as a pointer to the question's (offset 12).
            out += [0xc0, 0x0c, UInt8(type >> 8), UInt8(type & 0xff), 0, 1,
                    UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xff), UInt8((ttl >> 8) & 0xff), UInt8(ttl & 0xff),
                    UInt8(rdata.count >> 8), UInt8(rdata.count & 0xff)]
            out += rdata
        }
        return out
    }

    /// A name in DNS wire form ("web" → 3 w e b 0), for PTR rdata.
    public static func encodeName(_ name: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.split(separator: ".") where !label.isEmpty {
            let bytes = Array(label.utf8.prefix(63))
            out.append(UInt8(bytes.count))
            out += bytes
        }
        return out + [0]
    }

    /// The address a reverse name asks about: "2.0.90.10.in-addr.arpa" → 10.90.0.2, and
    /// 32 nibbles ending in ".ip6.arpa" → the IPv6 address in its RFC 5952 text.
    public var reverseAddress: String? {
        if name.hasSuffix(".ip6.arpa") {
            let nibbles = name.dropLast(".ip6.arpa".count).split(separator: ".", omittingEmptySubsequences: false)
            guard nibbles.count == 32, nibbles.allSatisfy({ $0.count == 1 && UInt8($0, radix: 16) != nil }) else { return nil }
            let value = nibbles.reversed().reduce(UInt128(0)) { $0 << 4 | UInt128(UInt8($1, radix: 16)!) }
            return IPv6Address(value).description
        }
        guard name.hasSuffix(".in-addr.arpa") else { return nil }
        let parts = name.dropLast(".in-addr.arpa".count).split(separator: ".")
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return nil }
        return parts.reversed().joined(separator: ".")
    }
}
