#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, on what, and the kernel's errno.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let errno: Int32
    public let call: String
    public let detail: String

    public init(errno: Int32, call: String, detail: String = "") {
        self.errno = errno
        self.call = call
        self.detail = detail
    }

    /// Captures the current errno.
    public static func last(_ call: String, _ detail: String = "") -> SystemError {
        SystemError(errno: Glibc.errno, call: call, detail: detail)
    }

    public var errnoName: String { errnoNames[errno] ?? "errno \(errno)" }
    public var message: String { String(cString: strerror(errno)) }

    public var description: String {
        let subject = detail.isEmpty ? call : "\(call) \(detail)"
        return "\(subject): \(message) (\(errnoName))"
    }
}

private let errnoNames: [Int32: String] = [
    EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
    E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
    ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
    EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
    ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG",
    ENOSPC: "ENOSPC", EROFS: "EROFS", EMLINK: "EMLINK", EPIPE: "EPIPE", ERANGE: "ERANGE",
    ENAMETOOLONG: "ENAMETOOLONG", ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP",
    EOPNOTSUPP: "EOPNOTSUPP", ECONNREFUSED: "ECONNREFUSED", EADDRINUSE: "EADDRINUSE",
]

/// Runs `body` until it does not fail with EINTR; throws `SystemError` when it returns -1.
@discardableResult
public func retryingInterrupts<T: BinaryInteger>(_ call: String, _ detail: String = "", _ body: () -> T) throws -> T {
    while true {
        let rc = body()
        if rc >= 0 { return rc }
        if errno == EINTR { continue }
        throw SystemError.last(call, detail)
    }
}

/// Throws `SystemError` when a call returned -1.
@inline(__always)
public func check(_ rc: Int32, _ call: String, _ detail: String = "") throws {
    if rc < 0 { throw SystemError.last(call, detail) }
}
