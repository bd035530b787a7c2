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

    /// A listening SOCK_SEQPACKET socket named `name` in `directory` (a stale one replaced),
    /// close-on-exec, only root's. Bound through /proc/self/fd/N/NAME, so a directory whose
    /// path is longer than sun_path's 108 bytes still works.
    public static func listenPackets(in directory: String, name: String) throws -> FileDescriptor {
        try packetSocket(in: directory, name: name) { socket, dir, address, length in
            _ = unlinkat(dir.raw, name, 0)
            try check(Glibc.bind(socket.raw, address, length), "bind", directory + "/" + name)
            _ = fchmodat(dir.raw, name, 0o600, 0)
            try check(Glibc.listen(socket.raw, 16), "listen", directory + "/" + name)
        }
    }

    /// A SOCK_SEQPACKET connection to `name` in `directory` (see listenPackets).
    public static func connectPackets(in directory: String, name: String) throws -> FileDescriptor {
        try packetSocket(in: directory, name: name) { socket, _, address, length in
            try check(Glibc.connect(socket.raw, address, length), "connect", directory + "/" + name)
        }
    }

    /// A new SOCK_SEQPACKET socket and the address of `name` in `directory` for `setUp` (which
    /// binds or connects it); closed again if that fails.
    private static func packetSocket(in directory: String, name: String,
                                     _ setUp: (FileDescriptor, FileDescriptor, UnsafePointer<sockaddr>, socklen_t) throws -> Void) throws -> FileDescriptor {
        let dir = try FileDescriptor.open(directory, O_PATH | O_DIRECTORY)
        defer { dir.close() }
        let raw = Glibc.socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw SystemError.last("socket", directory + "/" + name) }
        let socket = FileDescriptor(raw)
        do {
            try withAddress("/proc/self/fd/\(dir.raw)/\(name)") { address, length in try setUp(socket, dir, address, length) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Void) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw SystemError(errno: ENAMETOOLONG, call: "socket", detail: path) }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
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
