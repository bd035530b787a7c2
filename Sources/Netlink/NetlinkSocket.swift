#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

func errnoName(_ code: Int32) -> String { "\(String(cString: strerror(code))) (errno \(code))" }

/// Sends datagrams to the kernel and receives its replies. A protocol so that message
/// handling can be tested against recorded bytes without a socket.
public protocol NetlinkTransport: AnyObject {
    func send(_ bytes: [UInt8]) throws
    func receive() throws -> [UInt8]
}

/// A NETLINK_ROUTE socket in the network namespace this thread was in when it was opened.
public final class NetlinkSocket: NetlinkTransport {
    private let fd: FileDescriptor

    public init() throws {
        let raw = sw_netlink_route_socket()
        guard raw >= 0 else { throw NetlinkError.system("socket(AF_NETLINK, NETLINK_ROUTE): \(errnoName(-raw))") }
        fd = FileDescriptor(raw)
    }

    /// A socket in another network namespace (`path`: /proc/PID/ns/net): this thread enters the
    /// namespace just for socket(2) — a netlink socket stays bound to the namespace it was
    /// created in — and returns to its own.
    public static func inNamespace(_ path: String) throws -> NetlinkSocket {
        let own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        guard own >= 0 else { throw NetlinkError.system("open /proc/self/ns/net: \(errnoName(errno))") }
        defer { close(own) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw NetlinkError.system("open \(path): \(errnoName(errno))") }
        defer { close(target) }
        guard sw_setns(target, Int32(SW_CLONE_NEWNET)) == 0 else { throw NetlinkError.system("setns(\(path)): \(errnoName(errno))") }
        let made = Result { try NetlinkSocket() }
        guard sw_setns(own, Int32(SW_CLONE_NEWNET)) == 0 else {
            // Staying in the container's namespace would misroute everything after: give up.
            fatalError("setns back to our own network namespace failed: \(errnoName(errno))")
        }
        return try made.get()
    }

    public func send(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { sw_netlink_send(fd.raw, $0.baseAddress, $0.count) }
        guard sent == bytes.count else { throw NetlinkError.system("sendto: \(errnoName(Int32(-sent)))") }
    }

    public func receive() throws -> [UInt8] {
        // MSG_PEEK|MSG_TRUNC tells the datagram's size, so a large dump is never cut.
        while true {
            let size = recv(fd.raw, nil, 0, Int32(MSG_PEEK | MSG_TRUNC))
            if size < 0 && errno == EINTR { continue }
            guard size >= 0 else { throw NetlinkError.system("recv: \(errnoName(errno))") }
            var buffer = [UInt8](repeating: 0, count: max(size, 16))
            let n = buffer.withUnsafeMutableBytes { recv(fd.raw, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw NetlinkError.system("recv: \(errnoName(errno))") }
            return Array(buffer[0..<n])
        }
    }
}

/// Requests with sequence numbers, acknowledgements and dumps over a transport.
public final class NetlinkConnection {
    let transport: NetlinkTransport
    private var sequence: UInt32 = 0

    public init(_ transport: NetlinkTransport) { self.transport = transport }

    /// Sends `message` with NLM_F_ACK and waits for the kernel's answer; a negative errno in
    /// it is thrown, naming `what` was asked.
    public func perform(_ message: NetlinkMessage, _ what: @autoclosure () -> String) throws {
        var request = message
        request.flags |= NLM.request | NLM.ack
        sequence &+= 1
        request.sequence = sequence
        DebugLog.log("netlink: \(what())")
        try transport.send(request.encoded)
        while true {
            for reply in try NetlinkMessage.parse(try transport.receive(), headerSize: FamilyHeader.size) where reply.sequence == sequence {
                if let code = reply.errorCode {
                    if code == 0 { return }
                    throw NetlinkError.kernel(errno: -code, request: what())
                }
            }
        }
    }

    /// A request answered by one message (a GET of one object): that message, or nil when the
    /// kernel answers `missing` (ENODEV for a link that does not exist).
    public func get(_ message: NetlinkMessage, missing: Int32, _ what: @autoclosure () -> String) throws -> NetlinkMessage? {
        var request = message
        request.flags |= NLM.request
        sequence &+= 1
        request.sequence = sequence
        try transport.send(request.encoded)
        while true {
            for reply in try NetlinkMessage.parse(try transport.receive(), headerSize: FamilyHeader.size) where reply.sequence == sequence {
                if let code = reply.errorCode {
                    if -code == missing { return nil }
                    throw NetlinkError.kernel(errno: -code, request: what())
                }
                return reply
            }
        }
    }

    /// A dump request (NLM_F_DUMP): every reply message until NLMSG_DONE.
    public func dump(_ message: NetlinkMessage, _ what: @autoclosure () -> String) throws -> [NetlinkMessage] {
        var request = message
        request.flags |= NLM.request | NLM.dump
        sequence &+= 1
        request.sequence = sequence
        try transport.send(request.encoded)
        var results: [NetlinkMessage] = []
        while true {
            for reply in try NetlinkMessage.parse(try transport.receive(), headerSize: FamilyHeader.size) where reply.sequence == sequence {
                if reply.type == NLM.done { return results }
                if let code = reply.errorCode, code != 0 { throw NetlinkError.kernel(errno: -code, request: what()) }
                results.append(reply)
            }
        }
    }
}
