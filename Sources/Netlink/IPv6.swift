/// An IPv6 address, held as a 128-bit number (the first group in the high bits).
public struct IPv6Address: Hashable, Comparable, CustomStringConvertible, Sendable {
    public let value: UInt128

    public init(_ value: UInt128) { self.value = value }

    /// RFC 4291 text: eight groups of up to four hex digits, one run of them shortened to
    /// "::", the last two possibly written as an IPv4 address ("::ffff:10.0.0.1").
    public init?(_ text: String) {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII }) else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        let characters = Array(text)
        var halves = [text]
        if let at = (0..<characters.count - 1).first(where: { characters[$0] == ":" && characters[$0 + 1] == ":" }) {
            halves = [String(characters[..<at]), String(characters[(at + 2)...])]
            guard !halves[1].contains("::"), !halves[0].hasSuffix(":"), !halves[1].hasPrefix(":") else { return nil }
        }
        func parse(_ part: String, allowIPv4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if allowIPv4, index == fields.count - 1, field.contains("."), let v4 = IPv4Address(String(field)) {
                    result += [UInt16(v4.value >> 16), UInt16(v4.value & 0xffff)]
                } else {
                    guard (1...4).contains(field.count), let group = UInt16(field, radix: 16) else { return nil }
                    result.append(group)
                }
            }
            return result
        }
        if halves.count == 2 {
            guard let head = parse(halves[0], allowIPv4: false), let end = parse(halves[1], allowIPv4: true), head.count + end.count <= 7 else { return nil }
            groups = head
            tail = end
            groups += [UInt16](repeating: 0, count: 8 - head.count - end.count) + tail
        } else {
            guard let all = parse(text, allowIPv4: true), all.count == 8 else { return nil }
            groups = all
        }
        value = groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    public init(bytes: [UInt8]) {
        value = bytes.prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
    }

    /// Network byte order, as netlink attributes carry it.
    public var bytes: [UInt8] { (0..<16).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * (15 - $0))) } }

    var groups: [UInt16] { (0..<8).map { UInt16(truncatingIfNeeded: value >> UInt128(16 * (7 - $0))) } }

    /// RFC 5952: lower case, no leading zeros, the longest run of two or more zero groups
    /// (the first of equal runs) as "::".
    public var description: String {
        let groups = self.groups
        var best: (start: Int, length: Int) = (-1, 0)
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > best.length { best = (index, end - index) }
            index = end
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool { a.value < b.value }
}

/// An IPv6 CIDR block such as fd5a:1b2c:3d4e::/64.
public struct IPv6Subnet: Hashable, CustomStringConvertible, Sendable {
    public let network: IPv6Address
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let address = IPv6Address(String(parts[0])), let length = Int(parts[1]), (0...128).contains(length) else { return nil }
        self.init(address, prefixLength: length)
    }

    public init(_ address: IPv6Address, prefixLength: Int) {
        self.prefixLength = prefixLength
        network = IPv6Address(address.value & Self.mask(prefixLength))
    }

    static func mask(_ length: Int) -> UInt128 { length == 0 ? 0 : ~UInt128(0) << UInt128(128 - length) }

    public var description: String { "\(network)/\(prefixLength)" }

    public func contains(_ address: IPv6Address) -> Bool { address.value & Self.mask(prefixLength) == network.value }

    public func overlaps(_ other: IPv6Subnet) -> Bool {
        let shorter = min(prefixLength, other.prefixLength)
        return network.value & Self.mask(shorter) == other.network.value & Self.mask(shorter)
    }

    /// The n-th address of the block (n = 1 is the first after the subnet-router anycast one).
    public func host(_ n: UInt32) -> IPv6Address { IPv6Address(network.value + UInt128(n)) }

    /// Addresses the IPAM hands out: all but the subnet-router anycast address, counted up to
    /// what a round robin over a 32-bit counter can reach.
    public var hostCount: UInt32 {
        let bits = 128 - prefixLength
        return bits >= 32 ? UInt32.max - 1 : UInt32((UInt64(1) << UInt64(bits)) - 1)
    }
}
