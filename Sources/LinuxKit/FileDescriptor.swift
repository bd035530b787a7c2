#if canImport(Glibc)
import Glibc
#endif

/// Owns one file descriptor and closes it exactly once.
public final class FileDescriptor {
    public private(set) var raw: Int32

    public init(_ raw: Int32) { self.raw = raw }

    deinit { if raw >= 0 { Glibc.close(raw) } }

    /// Gives up ownership without closing (e.g. after handing the fd to a child).
    public func release() -> Int32 {
        let fd = raw
        raw = -1
        return fd
    }

    public func close() {
        if raw >= 0 { Glibc.close(raw) }
        raw = -1
    }

    /// A pipe, both ends close-on-exec (pipe2 is not imported into Swift; nothing forks
    /// between the two calls in swiftainer's single-threaded processes).
    public static func pipe() throws -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { throw SystemError.last("pipe") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (FileDescriptor(fds[0]), FileDescriptor(fds[1]))
    }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws -> FileDescriptor {
        let fd = try retryingInterrupts("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(fd)
    }

    public static func openAt(_ dir: Int32, _ name: String, _ flags: Int32, mode: mode_t = 0o644) throws -> FileDescriptor {
        let fd = try retryingInterrupts("openat", name) { Glibc.openat(dir, name, flags | O_CLOEXEC, mode) }
        return FileDescriptor(fd)
    }

    /// Writes all of `bytes`, retrying short writes and EINTR.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, what: String = "") throws {
        try FileDescriptor.writeAll(raw, bytes, what: what)
    }

    /// Writes all of `bytes` to a descriptor this process does not own (stdout, say).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, what: String = "") throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("write", what)
            }
            offset += n
        }
    }

    public func writeAll(_ bytes: [UInt8], what: String = "") throws {
        try bytes.withUnsafeBytes { try writeAll($0, what: what) }
    }

    public func writeAll(_ string: String, what: String = "") throws {
        try writeAll(Array(string.utf8), what: what)
    }

    /// Reads up to `count` bytes; returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try retryingInterrupts("read") { Glibc.read(raw, buffer.baseAddress, buffer.count) }
    }

    /// One byte a helper writes to say it is ready, waited for `milliseconds` at most; nil at
    /// end of file (it exited first) or when the time is up.
    public func awaitByte(milliseconds: Int32) -> UInt8? {
        var poller = pollfd(fd: raw, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) == 1 else { return nil }
        var byte: UInt8 = 0
        return Glibc.read(raw, &byte, 1) == 1 ? byte : nil
    }

    /// Reads until end of file.
    public func readAll(limit: Int = 64 << 20) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw SystemError(errno: EFBIG, call: "read", detail: "more than \(limit) bytes") }
        }
    }
}
