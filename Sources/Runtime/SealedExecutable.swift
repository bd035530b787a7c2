#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

/// The running binary, as the container's init may see it.
enum SealedExecutable {
    /// The path of this binary on the host (what /proc/self/exe points to).
    static func pathOfSelf() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard n > 0 else { throw SystemError.last("readlink", "/proc/self/exe") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A memfd holding a copy of this binary, sealed against every change: what runc does when
    /// it cannot use a read-only mount. Costs a copy of the binary, so it is only the fallback.
    static func copyOfSelf() throws -> FileDescriptor {
        let source = try FileDescriptor.open("/proc/self/exe", O_RDONLY)
        var st = stat()
        try check(fstat(source.raw, &st), "fstat", "/proc/self/exe")
        let fd = sw_sealed_copy(source.raw, Int(st.st_size))
        guard fd >= 0 else { throw SystemError(errno: -fd, call: "memfd copy", detail: "/proc/self/exe") }
        return FileDescriptor(fd)
    }
}
