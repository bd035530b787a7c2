#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// Resolves `path` as the container will see it, inside `root` on the host: symlinks are
/// followed, but an absolute target means root-relative and `..` stops at the root — so a
/// rootfs cannot point a mount target at the host (what runc's securejoin does).
public func scopedPath(root: String, _ path: String) throws -> String {
    var resolved: [Substring] = []
    var pending = Array(path.split(separator: "/").reversed())
    var followed = 0
    while let part = pending.popLast() {
        if part == "." || part.isEmpty { continue }
        if part == ".." { _ = resolved.popLast(); continue }
        let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
        var st = stat()
        if lstat(candidate, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK {
            followed += 1
            if followed > 40 { throw SystemError(errno: ELOOP, call: "resolve", detail: path) }
            var buffer = [CChar](repeating: 0, count: 4097)
            let n = readlink(candidate, &buffer, 4096)
            guard n >= 0 else { throw SystemError.last("readlink", candidate) }
            let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("/") { resolved.removeAll() }
            pending.append(contentsOf: target.split(separator: "/").reversed())
            continue
        }
        resolved.append(part)
    }
    return resolved.isEmpty ? root : root + "/" + resolved.joined(separator: "/")
}
