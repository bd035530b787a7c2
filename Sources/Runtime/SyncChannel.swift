#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

/// The messages between `swiftainer` (parent) and the container's init over a SOCK_SEQPACKET
/// socketpair, one message a packet:
///
///   parent -> init   seccompFilter(flags, BPF)    only with linux.seccomp: the compiled program
///                  (+ listener socket fd)         and its SECCOMP_FILTER_FLAG_* bits; with a
///                                                 listener, the socket connected to it
///   parent -> init   configure(InitConfig JSON)   set up namespaces' contents, then report
///   parent -> init   cgroupJoined                 only with InitConfig.unsharesCgroupNamespace:
///                                                 the init is in its cgroup; make the namespace
///   init -> parent   terminal(+ pty master fd)    only when process.terminal is true
///   init -> parent   ready                        rootfs done; waiting for start
///   parent -> init   start                        exec the container process now
///   init -> parent   failed(code, message)        setup or exec failed; init exits
///   parent -> init   committed                    OCI create: the state is recorded; wait on
///                                                 the start FIFO now (EOF instead: give up)
///
/// The init's end is close-on-exec, so the parent sees end-of-file exactly when exec succeeded.
public enum SyncMessage: Equatable {
    case configure([UInt8])
    case terminal
    case ready
    case start
    case failed(code: Int32, message: String)
    case seccompFilter(flags: UInt32, program: [UInt8])
    case committed
    case cgroupJoined

    var encoded: [UInt8] {
        switch self {
        case .configure(let payload): return [1] + payload
        case .terminal: return [2]
        case .ready: return [3]
        case .start: return [4]
        case .failed(let code, let message):
            return [5] + littleEndian(UInt32(bitPattern: code)) + Array(message.utf8.prefix(4000))
        case .seccompFilter(let flags, let program): return [6] + littleEndian(flags) + program
        case .committed: return [7]
        case .cgroupJoined: return [8]
        }
    }

    private func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24)]
    }

    private static func littleEndianUInt32(_ bytes: [UInt8], at index: Int) -> UInt32 {
        UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
    }

    static func decode(_ bytes: [UInt8]) -> SyncMessage? {
        guard let kind = bytes.first else { return nil }
        switch kind {
        case 1: return .configure(Array(bytes.dropFirst()))
        case 2: return .terminal
        case 3: return .ready
        case 4: return .start
        case 5 where bytes.count >= 5:
            return .failed(code: Int32(bitPattern: littleEndianUInt32(bytes, at: 1)), message: String(decoding: bytes[5...], as: UTF8.self))
        case 6 where bytes.count >= 5: return .seccompFilter(flags: littleEndianUInt32(bytes, at: 1), program: Array(bytes[5...]))
        case 7: return .committed
        case 8: return .cgroupJoined
        case UInt8(ascii: "a")...UInt8(ascii: "z"):
            // "<step>:<errno>" from the C spawn code (clinux.c), before the init runs.
            let text = String(decoding: bytes, as: UTF8.self)
            guard let colon = text.lastIndex(of: ":"), let code = Int32(text[text.index(after: colon)...]) else { return nil }
            let step = String(text[..<colon])
            let exitCode: Int32 = step == "exec" ? 127 : 125
            return .failed(code: exitCode, message: "starting the container's init: \(SystemError(errno: code, call: step).message)")
        default: return nil
        }
    }
}

public final class SyncChannel {
    public let fd: FileDescriptor

    public init(fd: FileDescriptor) { self.fd = fd }

    /// A connected pair: (parent end, child end). Both close-on-exec.
    public static func pair() throws -> (SyncChannel, SyncChannel) {
        var fds: [Int32] = [-1, -1]
        try check(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds), "socketpair")
        return (SyncChannel(fd: FileDescriptor(fds[0])), SyncChannel(fd: FileDescriptor(fds[1])))
    }

    public func send(_ message: SyncMessage, passing passedFD: Int32? = nil) throws {
        let bytes = message.encoded
        let n = bytes.withUnsafeBytes { buffer -> Int in
            if let passedFD { return sw_send_fd(fd.raw, passedFD, buffer.baseAddress, buffer.count) }
            return Glibc.send(fd.raw, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
        }
        if n < 0 { throw SystemError.last("send", "sync socket") }
    }

    /// The next message and any fd passed with it; nil at end-of-file (the peer closed or exec'd).
    public func receive() throws -> (SyncMessage, Int32?)? {
        // SOCK_SEQPACKET with MSG_PEEK|MSG_TRUNC reports the whole packet's length.
        let size = try retryingInterrupts("recv", "sync socket") {
            Glibc.recv(fd.raw, nil, 0, Int32(MSG_PEEK | MSG_TRUNC))
        }
        if size == 0 { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        var passed: Int32 = -1
        let n = bytes.withUnsafeMutableBytes { sw_recv_fd(fd.raw, &passed, $0.baseAddress, $0.count) }
        if n < 0 { throw SystemError.last("recvmsg", "sync socket") }
        if n == 0 { return nil }
        guard let message = SyncMessage.decode(Array(bytes[0..<n])) else {
            throw RuntimeError("malformed message on the sync socket")
        }
        return (message, passed >= 0 ? passed : nil)
    }
}
