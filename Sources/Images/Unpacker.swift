#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import OCI

public enum UnpackError: Error, CustomStringConvertible, Equatable {
    case unsafePath(entry: String, reason: String)
    case system(entry: String, SystemError)
    /// Rootless: an owner the user namespace does not map.
    case unmappedOwner(entry: String, uid: UInt32, gid: UInt32)

    public var description: String {
        switch self {
        case .unsafePath(let entry, let reason): return "refusing tar entry '\(entry)': \(reason)"
        case .system(let entry, let error): return "unpacking '\(entry)': \(error)"
        case .unmappedOwner(let entry, let uid, let gid):
            return "rootless: '\(entry)' is owned by \(uid):\(gid), which your user namespace does not map (give your user ranges in /etc/subuid and /etc/subgid)"
        }
    }
}

/// Writes tar entries below a root directory and nowhere else.
///
/// Every path is resolved one component at a time from the root's file descriptor. Entries
/// with absolute paths or `..` that climbs above the root are refused, and so is an entry whose
/// parent path runs through a symlink that leaves the root (an absolute target, or a relative
/// one climbing above it): the classic "symlink then write through it" escape. Symlinks that
/// stay inside the root are followed, as Docker does for layer contents.
public struct Unpacker {
    public let rootFD: Int32
    private let applyOwnership: Bool
    /// An image layer: `.wh.NAME` entries become overlay whiteouts (a 0/0 character device
    /// NAME) and `.wh..wh..opq` marks its directory opaque (trusted.overlay.opaque=y), so that
    /// the layer can be stacked as an overlay lower directory as it is.
    public var convertsWhiteouts = false
    /// Owners moved through a user namespace's mapping before they are set (a layer seen from a
    /// nested namespace: rootless `--userns keep-id`): the archive's ids are the namespace's,
    /// the files get the parent's. nil: the archive's ids as they are.
    public var ownerMap: IDMaps?
    /// Paths this layer whited out (to tell a replaced directory).
    private var whitedOut = Set<String>()
    private var directoryMetadata: [(path: String, mode: UInt32, mtime: Int64)] = []
    private var resolvedParents: [String: String] = [:]
    private var copyBuffer: UnsafeMutableRawBufferPointer
    public private(set) var bytesWritten: UInt64 = 0

    /// `rootFD` must be an open directory; the caller keeps ownership.
    public init(rootFD: Int32, applyOwnership: Bool = geteuid() == 0) {
        self.rootFD = rootFD
        self.applyOwnership = applyOwnership
        copyBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    }

    public mutating func close() {
        copyBuffer.deallocate()
        copyBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    /// Unpacks the whole archive; returns how many entries it had. (An image layer may be an
    /// empty archive; a root filesystem to import may not — the caller decides.)
    @discardableResult
    public mutating func unpack<S: ByteStream>(_ reader: inout TarReader<S>) throws -> Int {
        var entries = 0
        while let entry = try reader.next() {
            try extract(entry, from: &reader)
            entries += 1
        }
        try finish()
        return entries
    }

    /// Directory modes and times are applied last: a read-only directory must stay writable
    /// while its children are created, and creating children changes its mtime.
    public mutating func finish() throws {
        for dir in directoryMetadata.reversed() {
            if fchmodat(rootFD, dir.path, mode_t(dir.mode), 0) != 0 {
                throw UnpackError.system(entry: dir.path, .last("chmod"))
            }
            setTimes(dir.path, dir.mtime)
        }
        directoryMetadata.removeAll()
    }

    /// Splits an entry's path into safe components ("./a//b/" -> ["a", "b"]).
    static func components(of entryPath: String) throws -> [String] {
        if entryPath.hasPrefix("/") {
            throw UnpackError.unsafePath(entry: entryPath, reason: "absolute path")
        }
        var parts: [String] = []
        for part in entryPath.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { throw UnpackError.unsafePath(entry: entryPath, reason: "path contains '..'") }
            parts.append(String(part))
        }
        return parts
    }

    public mutating func extract<S: ByteStream>(_ entry: TarEntry, from reader: inout TarReader<S>) throws {
        let parts = try Self.components(of: entry.path)
        guard let name = parts.last else { return } // "./" — the root itself keeps its own mode
        let parentPath = try resolveDirectory(Array(parts.dropLast()), entry: entry.path, create: true)
        let path = parentPath.isEmpty ? name : parentPath + "/" + name
        if convertsWhiteouts && name.hasPrefix(Self.whiteoutPrefix) {
            try whiteout(name: name, parentPath: parentPath, entry: entry.path)
            return
        }
        do {
            try removeConflicting(path, keepDirectory: entry.kind == .directory)
            switch entry.kind {
            case .directory:
                if mkdirat(rootFD, path, 0o700) != 0 && errno != EEXIST { throw SystemError.last("mkdir") }
                // A directory this same layer whited out was replaced: only its own entries
                // may show, so it is opaque (the OCI rule that a whiteout hides lower layers only).
                if whitedOut.contains(path) { try markOpaque(path) }
                try setOwner(path, entry)
                directoryMetadata.append((path, entry.mode, entry.mtime))
            case .regular:
                try writeFile(path, entry, &reader)
            case .symbolicLink:
                try check(symlinkat(entry.linkTarget, rootFD, path), "symlink", "-> \(entry.linkTarget)")
                try setOwner(path, entry)
                setTimes(path, entry.mtime)
                // A new symlink can change what a cached parent path resolves to.
                resolvedParents.removeAll()
            case .hardLink:
                let targetParts = try Self.components(of: entry.linkTarget)
                guard let targetName = targetParts.last else {
                    throw UnpackError.unsafePath(entry: entry.path, reason: "hard link to the root directory")
                }
                let targetParent = try resolveDirectory(Array(targetParts.dropLast()), entry: entry.path, create: false)
                let target = targetParent.isEmpty ? targetName : targetParent + "/" + targetName
                try check(linkat(rootFD, target, rootFD, path, 0), "link", "-> \(entry.linkTarget)")
            case .characterDevice, .blockDevice, .fifo:
                let type: mode_t = entry.kind == .fifo ? S_IFIFO : entry.kind == .blockDevice ? S_IFBLK : S_IFCHR
                let device = sw_makedev(entry.deviceMajor, entry.deviceMinor)
                try check(mknodat(rootFD, path, type | mode_t(entry.mode & 0o777), device), "mknod")
                try setOwner(path, entry)
                try check(fchmodat(rootFD, path, mode_t(entry.mode), 0), "chmod")
                setTimes(path, entry.mtime)
            }
        } catch let error as SystemError {
            throw UnpackError.system(entry: entry.path, error)
        }
    }

    public static let whiteoutPrefix = ".wh."
    public static let opaqueMarker = ".wh..wh..opq"

    /// The OCI layer whiteouts, in overlayfs' own form.
    private mutating func whiteout(name: String, parentPath: String, entry: String) throws {
        do {
            if name == Self.opaqueMarker {
                try markOpaque(parentPath.isEmpty ? "." : parentPath)
                return
            }
            let hidden = String(name.dropFirst(Self.whiteoutPrefix.count))
            guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
                throw UnpackError.unsafePath(entry: entry, reason: "whiteout of '\(hidden)'")
            }
            let path = parentPath.isEmpty ? hidden : parentPath + "/" + hidden
            try removeConflicting(path, keepDirectory: false)
            try check(mknodat(rootFD, path, S_IFCHR | 0o600, sw_makedev(0, 0)), "mknod", "whiteout \(path)")
            whitedOut.insert(path)
        } catch let error as SystemError {
            throw UnpackError.system(entry: entry, error)
        }
    }

    private func markOpaque(_ directory: String) throws {
        let fd = openat(rootFD, directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.last("open", directory) }
        defer { Glibc.close(fd) }
        try check(sw_set_xattr(fd, Rootless.overlayOpaqueXattr, "y", 1), "fsetxattr", "\(Rootless.overlayOpaqueXattr) on \(directory)")
    }

    /// Resolves `parts` (a directory path) inside the root, following symlinks that stay
    /// inside it; returns the path relative to the root with no symlinks in it.
    private mutating func resolveDirectory(_ parts: [String], entry: String, create: Bool) throws -> String {
        let key = parts.joined(separator: "/")
        if let cached = resolvedParents[key] { return cached }
        var resolved: [String] = []
        var pending = parts[...]
        var pendingStorage: [String] = []
        var symlinksFollowed = 0
        while let part = pending.first ?? nil {
            pending = pending.dropFirst()
            if part.isEmpty || part == "." { continue }
            if part == ".." {
                guard !resolved.isEmpty else {
                    throw UnpackError.unsafePath(entry: entry, reason: "a symlink in its path points outside the image root")
                }
                resolved.removeLast()
                continue
            }
            let candidate = (resolved + [part]).joined(separator: "/")
            var st = stat()
            if fstatat(rootFD, candidate, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                guard errno == ENOENT, create else { throw UnpackError.system(entry: entry, .last("stat", candidate)) }
                // Parents may come after their children in an archive: create them as tar does.
                if mkdirat(rootFD, candidate, 0o755) != 0 && errno != EEXIST {
                    throw UnpackError.system(entry: entry, .last("mkdir", candidate))
                }
                // Root's, as the extracting root's are; with a map, root's where the map puts it.
                if applyOwnership, let ownerMap, let root = ownerMap.outside(uid: 0, gid: 0),
                   fchownat(rootFD, candidate, root.uid, root.gid, AT_SYMLINK_NOFOLLOW) != 0 {
                    throw UnpackError.system(entry: entry, .last("chown", candidate))
                }
                resolved.append(part)
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                resolved.append(part)
            case S_IFLNK:
                symlinksFollowed += 1
                guard symlinksFollowed <= 40 else {
                    throw UnpackError.system(entry: entry, SystemError(errno: ELOOP, call: "resolve", detail: candidate))
                }
                let target = try readLink(candidate, entry: entry)
                if target.hasPrefix("/") {
                    throw UnpackError.unsafePath(entry: entry, reason: "'\(candidate)' is a symlink to '\(target)', outside the image root")
                }
                pendingStorage = target.split(separator: "/").map(String.init) + Array(pending)
                pending = pendingStorage[...]
            default:
                throw UnpackError.system(entry: entry, SystemError(errno: ENOTDIR, call: "resolve", detail: candidate))
            }
        }
        let result = resolved.joined(separator: "/")
        resolvedParents[key] = result
        return result
    }

    private func readLink(_ path: String, entry: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlinkat(rootFD, path, &buffer, 4096)
        guard n >= 0 else { throw UnpackError.system(entry: entry, .last("readlink", path)) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A later entry replaces an earlier one, as with tar; directories merge.
    private mutating func removeConflicting(_ path: String, keepDirectory: Bool) throws {
        var st = stat()
        guard fstatat(rootFD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        if isDirectory && keepDirectory { return }
        if isDirectory {
            try removeTreeAt(path)
        } else {
            try check(unlinkat(rootFD, path, 0), "unlink")
        }
        resolvedParents.removeAll()
    }

    private func removeTreeAt(_ path: String) throws {
        let fd = openat(rootFD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.last("open", path) }
        guard let dir = fdopendir(fd) else { Glibc.close(fd); throw SystemError.last("fdopendir", path) }
        var children: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            children.append((name, entry.pointee.d_type == UInt8(DT_DIR)))
        }
        closedir(dir)
        for (name, isDir) in children {
            if isDir { try removeTreeAt(path + "/" + name) } else { try check(unlinkat(rootFD, path + "/" + name, 0), "unlink", name) }
        }
        try check(unlinkat(rootFD, path, AT_REMOVEDIR), "rmdir", path)
    }

    private mutating func writeFile<S: ByteStream>(_ path: String, _ entry: TarEntry, _ reader: inout TarReader<S>) throws {
        let fd = openat(rootFD, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.last("open") }
        let file = FileDescriptor(fd)
        while true {
            let n = try reader.readData(into: copyBuffer)
            if n == 0 { break }
            try file.writeAll(UnsafeRawBufferPointer(rebasing: copyBuffer[..<n]), what: path)
            bytesWritten += UInt64(n)
        }
        // chown before chmod: chown clears set-id bits.
        if applyOwnership {
            let (uid, gid) = try owner(of: entry)
            try checkOwnership(fchown(fd, uid, gid), entry)
        }
        try check(fchmod(fd, mode_t(entry.mode)), "chmod")
        var times = accessAndModification(entry.mtime)
        _ = futimens(fd, &times)
    }

    private func setOwner(_ path: String, _ entry: TarEntry) throws {
        if applyOwnership {
            let (uid, gid) = try owner(of: entry)
            try checkOwnership(fchownat(rootFD, path, uid, gid, AT_SYMLINK_NOFOLLOW), entry)
        }
    }

    /// The entry's owner on disk: its own, or where `ownerMap` puts it.
    private func owner(of entry: TarEntry) throws -> (uid_t, gid_t) {
        guard let ownerMap else { return (entry.uid, entry.gid) }
        guard let owner = ownerMap.outside(uid: entry.uid, gid: entry.gid) else {
            throw UnpackError.unmappedOwner(entry: entry.path, uid: entry.uid, gid: entry.gid)
        }
        return owner
    }

    /// A chown's result; rootless, an owner the user namespace does not map (EINVAL) is named.
    private func checkOwnership(_ result: Int32, _ entry: TarEntry) throws {
        if result != 0 && errno == EINVAL && Rootless.isActive {
            throw UnpackError.unmappedOwner(entry: entry.path, uid: UInt32(entry.uid), gid: UInt32(entry.gid))
        }
        try check(result, "chown")
    }

    private func setTimes(_ path: String, _ mtime: Int64) {
        var times = accessAndModification(mtime)
        _ = utimensat(rootFD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// Times are best effort, as with tar: a failure to set them is not worth losing an import.
    private func accessAndModification(_ mtime: Int64) -> [timespec] {
        let time = timespec(tv_sec: Int(mtime), tv_nsec: 0)
        return [time, time]
    }
}
