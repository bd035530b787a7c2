#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import Netlink

public struct NetworkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Addresses of a bridge's subnet handed to containers. One file per address in `directory`
/// (named by the address, holding the container id), under a lock: an address is taken
/// exactly when its file exists. The gateway, network and broadcast addresses are never given.
/// A file whose container no longer exists (`exists` says so) is taken back. The same for
/// IPv4 and IPv6 blocks (a network with both keeps two directories).
public struct IPAM<Block: AddressBlock> {
    public typealias Address = Block.Address
    public let directory: String
    public let subnet: Block
    public let gateway: Address
    /// --ip-range: the part of the subnet addresses are handed out from (an address asked
    /// for may be anywhere in the subnet).
    public let range: Block?

    public init(directory: String, subnet: Block, gateway: Address, range: Block? = nil) {
        self.directory = directory
        self.subnet = subnet
        self.gateway = gateway
        self.range = range
    }

    func path(_ address: Address) -> String { directory + "/" + address.description }

    /// The container holding `address`, if any.
    public func owner(of address: Address) -> String? {
        (try? Files.readString(path(address)))?.trimmingWhitespace
    }

    /// The next free address in round-robin order (or `requested`, which must be free) for
    /// `containerID`. Addresses whose container is gone are freed first.
    public func allocate(for containerID: String, requested: Address? = nil, exists: (String) -> Bool) throws -> Address {
        try Files.makeDirectories(directory, mode: 0o700)
        let lock = try FileLock(path: directory + "/.lock")
        defer { lock.unlock() }
        reclaim(keeping: containerID, exists: exists)
        // reclaim has freed every address whose holder is gone: one still held is taken.
        func take(_ address: Address) throws -> Bool {
            if let holder = owner(of: address) { return holder == containerID }
            // Under the lock, in /run: a plain exclusive create is enough (a crash that leaves
            // the file empty leaves an address whose owner is nobody, taken back next time).
            let fd = try FileDescriptor.open(path(address), O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            defer { fd.close() }
            try fd.writeAll(containerID, what: path(address))
            return true
        }
        if let requested {
            guard subnet.contains(requested), requested != gateway, !subnet.isReserved(requested) else {
                throw NetworkError("\(Block.flag) \(requested): not a usable address of the network \(subnet) (gateway \(gateway))")
            }
            guard try take(requested) else {
                throw NetworkError("\(Block.flag) \(requested): the address is already in use by container \(owner(of: requested) ?? "?")")
            }
            return requested
        }
        // Round robin from the last address handed out (as Docker's IPAM does): an address just
        // given back is not handed out again at once, while the old container's veth — and
        // the neighbour entries for its MAC — may still be on their way out.
        let pool = range ?? subnet
        let count = max(1, pool.hostCount)
        let last = UInt32((try? Files.readString(directory + "/.last"))?.trimmingWhitespace ?? "") ?? 0
        for step in 1...count {
            let n = (last + step - 1) % count + 1
            let candidate = pool.host(n)
            if candidate == gateway || subnet.isReserved(candidate) || !subnet.contains(candidate) { continue }
            if try take(candidate) {
                try? Files.writeAtomically(directory + "/.last", "\(n)\n", mode: 0o600, durability: .volatile)
                return candidate
            }
        }
        throw NetworkError("no free address left in \(pool)")
    }

    /// Frees every address whose owner is gone — a `run` killed between allocating and its
    /// container's first record leaves one that no record names, and the round robin would
    /// only come back to it after the whole subnet — and the temporary files of writers that
    /// were killed. Under the lock. A file left empty by a crash has no owner: freed too.
    func reclaim(keeping containerID: String, exists: (String) -> Bool) {
        Files.removeAbandonedTemporaries(in: directory)
        for name in (try? Files.listDirectory(directory)) ?? [] {
            guard let address = Block.address(name), let holder = owner(of: address), holder != containerID else { continue }
            if holder.isEmpty || !exists(holder) {
                DebugLog.log("ipam: \(address) of \(holder.isEmpty ? "nobody" : holder) is free again (its container is gone)")
                unlink(path(address))
            }
        }
    }

    /// Gives `address` back if `containerID` holds it.
    public func release(_ address: Address, from containerID: String) {
        guard let lock = try? FileLock(path: directory + "/.lock") else { return }
        defer { lock.unlock() }
        if owner(of: address) == containerID { unlink(path(address)) }
    }
}

/// What the IPAM needs of a block of addresses.
public protocol AddressBlock: CustomStringConvertible {
    associatedtype Address: Hashable & CustomStringConvertible
    /// The run flag that asks for an address of it, for errors.
    static var flag: String { get }
    static func address(_ text: String) -> Address?
    func contains(_ address: Address) -> Bool
    /// The n-th address (n = 1 the first after the network address).
    func host(_ n: UInt32) -> Address
    /// How many addresses the round robin goes over.
    var hostCount: UInt32 { get }
    /// Addresses never handed out: the network and broadcast addresses, or IPv6's
    /// subnet-router anycast one.
    func isReserved(_ address: Address) -> Bool
}

extension IPv4Subnet: AddressBlock {
    public static let flag = "--ip"
    public static func address(_ text: String) -> IPv4Address? { IPv4Address(text) }
    public func isReserved(_ address: IPv4Address) -> Bool { address == network || address == broadcast }
}

extension IPv6Subnet: AddressBlock {
    public static let flag = "--ip6"
    public static func address(_ text: String) -> IPv6Address? { IPv6Address(text) }
    public func isReserved(_ address: IPv6Address) -> Bool { address == network }
}
