#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A client of a unix stream socket that hands over a file descriptor with a message
/// (SCM_RIGHTS): the console socket (runc's --console-socket) and the seccomp listener.
public enum UnixSocket {
    /// A connected SOCK_STREAM socket to `path`, close-on-exec.
    public static func connect(_ path: String) throws -> FileDescriptor {
        let raw = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw SystemError.last("socket", path) }
        let connection = FileDescriptor(raw)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError(errno: ENAMETOOLONG, call: "connect", detail: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(connection.raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try check(rc, "connect", path)
        return connection
    }

    /// Sends `bytes` with `fd` attached to the first of them; a short send is finished with
    /// plain writes (the fd went with the first part).
    public static func send(_ bytes: [UInt8], passing fd: FileDescriptor, on socket: FileDescriptor, what: String) throws {
        let sent = bytes.withUnsafeBytes { sw_send_fd(socket.raw, fd.raw, $0.baseAddress, $0.count) }
        guard sent >= 0 else { throw SystemError.last("sendmsg", what) }
        if sent < bytes.count {
            try bytes[sent...].withUnsafeBytes { try socket.writeAll($0, what: what) }
        }
    }
}
