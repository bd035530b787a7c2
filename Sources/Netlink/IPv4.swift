/// An IPv4 address, held as its four bytes in network order.
public struct IPv4Address: Hashable, Comparable, CustomStringConvertible, Sendable {
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        self.value = value
    }

    public init(bytes: [UInt8]) {
        value = bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Network byte order, as netlink attributes carry it.
    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)] }
    public var description: String { bytes.map(String.init).joined(separator: ".") }
    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// A CIDR block such as 10.89.0.0/16.
public struct IPv4Subnet: Hashable, CustomStringConvertible, Sendable {
    public let network: IPv4Address
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let address = IPv4Address(String(parts[0])), let length = Int(parts[1]), (0...32).contains(length) else { return nil }
        self.init(address, prefixLength: length)
    }

    public init(_ address: IPv4Address, prefixLength: Int) {
        self.prefixLength = prefixLength
        network = IPv4Address(address.value & Self.mask(prefixLength))
    }

    static func mask(_ length: Int) -> UInt32 { length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length) }

    public var mask: UInt32 { Self.mask(prefixLength) }
    public var broadcast: IPv4Address { IPv4Address(network.value | ~mask) }
    public var description: String { "\(network)/\(prefixLength)" }

    public func contains(_ address: IPv4Address) -> Bool { address.value & mask == network.value }

    /// Whether the two blocks share any address.
    public func overlaps(_ other: IPv4Subnet) -> Bool {
        let shorter = min(prefixLength, other.prefixLength)
        return network.value & Self.mask(shorter) == other.network.value & Self.mask(shorter)
    }

    /// The n-th address of the block (n = 1 is the first after the network address).
    public func host(_ n: UInt32) -> IPv4Address { IPv4Address(network.value + n) }
    /// Usable host addresses: all but the network and broadcast addresses.
    public var hostCount: UInt32 { prefixLength >= 31 ? 0 : (~mask) - 1 }
}
