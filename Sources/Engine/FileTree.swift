#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Images
import LinuxKit
import OCI

/// Where a walked tree goes: a tar stream (`cp … -`, `export`) or a directory (`cp` between
/// paths). Entries come parents first; paths are relative ("name", "name/sub/file").
protocol FileTreeSink {
    /// `content` is an open regular file for `.regular` entries.
    mutating func add(_ entry: TarEntry, content: FileDescriptor?) throws
    /// After a directory's children: its mode and times can be set now.
    mutating func finishDirectory(_ entry: TarEntry) throws
}

/// Walks a tree through file descriptors only: every directory is opened from its parent's
/// descriptor with O_NOFOLLOW, so a symlink inside the tree (the container's) is recorded as a
/// symlink and never followed out of it.
enum FileTreeWalker {
    /// Walks `name` in directory `parent` (itself, and below it when it is a directory),
    /// reporting it as `archiveName`. `followLink`: a symlink at the top is followed (cp -L),
    /// once, from the parent — the caller resolved the parent inside the root.
    /// `overlayLayer`: the tree is an overlay upper directory, written as an image layer — a
    /// whiteout (0/0 character device) becomes `.wh.NAME`, an opaque directory gets `.wh..wh..opq`.
    /// `owners`: the tree is a container's with a user namespace of its own (rootless
    /// keep-id), whose maps turn the owners on disk into the ones the container sees.
    static func walk(parent: FileDescriptor, name: String, as archiveName: String, followLink: Bool = false, overlayLayer: Bool = false,
                     owners: IDMaps? = nil, into sink: inout some FileTreeSink) throws {
        var links: [String: String] = [:]
        try walk(parent: parent, name: name, path: archiveName, follow: followLink, layer: overlayLayer, owners: owners, links: &links, into: &sink)
    }

    private static func walk(parent: FileDescriptor, name: String, path: String, follow: Bool, layer: Bool, owners: IDMaps?,
                             links: inout [String: String], into sink: inout some FileTreeSink) throws {
        var info = stat()
        guard fstatat(parent.raw, name, &info, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError.last("fstatat", path) }
        let owner = owners?.inside(uid: info.st_uid, gid: info.st_gid) ?? (uid: info.st_uid, gid: info.st_gid)
        var entry = TarEntry(path: path, kind: .regular, mode: info.st_mode & 0o7777, uid: owner.uid, gid: owner.gid,
                             mtime: Int64(info.st_mtim.tv_sec))
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            entry.kind = .directory
            let directory = try FileDescriptor.openAt(parent.raw, name, O_RDONLY | O_DIRECTORY | (follow ? 0 : O_NOFOLLOW) | O_CLOEXEC)
            defer { directory.close() }
            try sink.add(entry, content: nil)
            if layer && isOpaque(directory) {
                try sink.add(TarEntry(path: path + "/" + Unpacker.opaqueMarker, kind: .regular, mode: 0, mtime: entry.mtime), content: nil)
            }
            for child in try Files.listDirectory(directory, describing: path) {
                try walk(parent: directory, name: child, path: path + "/" + child, follow: false, layer: layer, owners: owners, links: &links, into: &sink)
            }
            try sink.finishDirectory(entry)
            return
        case S_IFREG:
            // A second name of a file already written is a hard link to the first.
            let key = "\(info.st_dev):\(info.st_ino)"
            if info.st_nlink > 1, let first = links[key] {
                entry.kind = .hardLink
                entry.linkTarget = first
                return try sink.add(entry, content: nil)
            }
            if info.st_nlink > 1 { links[key] = path }
            let file = try FileDescriptor.openAt(parent.raw, name, O_RDONLY | (follow ? 0 : O_NOFOLLOW) | O_CLOEXEC)
            defer { file.close() }
            entry.size = UInt64(info.st_size)
            return try sink.add(entry, content: file)
        case S_IFLNK:
            entry.kind = .symbolicLink
            entry.linkTarget = try readLink(parent, name, path)
        case S_IFCHR where layer && info.st_rdev == 0:
            // Deleted in this layer: the name under the whiteout prefix, empty.
            let slash = path.lastIndex(of: "/")
            let whiteout = slash.map { String(path[...$0]) } ?? ""
            return try sink.add(TarEntry(path: whiteout + ".wh." + name, kind: .regular, mode: 0, mtime: entry.mtime), content: nil)
        case S_IFCHR, S_IFBLK:
            entry.kind = info.st_mode & S_IFMT == S_IFCHR ? .characterDevice : .blockDevice
            entry.deviceMajor = UInt32(truncatingIfNeeded: (info.st_rdev >> 8) & 0xfff) | UInt32(truncatingIfNeeded: (info.st_rdev >> 32) & ~0xfff)
            entry.deviceMinor = UInt32(truncatingIfNeeded: info.st_rdev & 0xff) | UInt32(truncatingIfNeeded: (info.st_rdev >> 12) & ~0xff)
        case S_IFIFO:
            entry.kind = .fifo
        default:
            // Sockets: nothing a copy or an archive can carry (Docker skips them too).
            return
        }
        try sink.add(entry, content: nil)
    }

    /// Overlay's mark on a directory of the upper layer that hides the lower ones' contents.
    static func isOpaque(_ directory: FileDescriptor) -> Bool {
        var value = [UInt8](repeating: 0, count: 2)
        let count = sw_get_xattr(directory.raw, Rootless.overlayOpaqueXattr, &value, value.count)
        return count == 1 && value[0] == UInt8(ascii: "y")
    }

    static func readLink(_ parent: FileDescriptor, _ name: String, _ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(parent.raw, name, &buffer, buffer.count - 1)
        guard count >= 0 else { throw SystemError.last("readlinkat", path) }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A tar stream on a file descriptor.
struct TarSink: FileTreeSink {
    var writer: TarWriter
    private var buffer = [UInt8](repeating: 0, count: 256 * 1024)

    init(_ output: FileDescriptor) { writer = TarWriter(output) }

    mutating func add(_ entry: TarEntry, content: FileDescriptor?) throws {
        guard let content else { return try writer.entry(entry) }
        var remaining = entry.size
        try buffer.withUnsafeMutableBytes { buffer in
            try writer.entry(entry) { emit in
                // The size written in the header is what goes out: a file that shrank meanwhile
                // is padded with zeros, one that grew is cut (tar's own rule).
                while remaining > 0 {
                    let count = try content.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(min(UInt64(buffer.count), remaining))]))
                    if count == 0 {
                        for index in 0..<Int(min(UInt64(buffer.count), remaining)) { buffer[index] = 0 }
                        let zeros = Int(min(UInt64(buffer.count), remaining))
                        try emit(UnsafeRawBufferPointer(rebasing: buffer[..<zeros]))
                        remaining -= UInt64(zeros)
                        continue
                    }
                    try emit(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                    remaining -= UInt64(count)
                }
            }
        }
    }

    mutating func finishDirectory(_ entry: TarEntry) throws {}

    mutating func finish() throws { try writer.finish() }
}

/// Entries made below a directory, every path component opened from its parent with
/// O_NOFOLLOW (a symlink the container placed is replaced, never written through). What is
/// there already is overwritten, as Docker's cp does; a directory over a non-directory (or
/// the reverse) replaces it.
struct DirectorySink: FileTreeSink {
    let root: FileDescriptor
    /// -a: the source's owners; otherwise root (this process's) owns what is written.
    let keepOwners: Bool
    /// The destination is a container with a user namespace of its own (rootless keep-id):
    /// owners as the container sees them are put where its maps say on disk.
    let owners: IDMaps?
    private var buffer = [UInt8](repeating: 0, count: 256 * 1024)

    init(root: FileDescriptor, keepOwners: Bool, owners: IDMaps? = nil) {
        self.root = root
        self.keepOwners = keepOwners
        self.owners = owners
    }

    /// The directory holding `path`, opened component by component without following links.
    private func parent(of path: String) throws -> (FileDescriptor, String) {
        var components = path.split(separator: "/").map(String.init)
        guard let name = components.popLast() else { throw SystemError(errno: EINVAL, call: "copy", detail: path) }
        var current = FileDescriptor(dup(root.raw))
        for component in components {
            let next = try FileDescriptor.openAt(current.raw, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            current.close()
            current = next
        }
        return (current, name)
    }

    private func removeExisting(_ parent: FileDescriptor, _ name: String, keepingDirectory: Bool) throws {
        var info = stat()
        guard fstatat(parent.raw, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        if isDirectory && keepingDirectory { return }
        if isDirectory {
            try Files.removeTree(at: parent.raw, name, describing: name)
        } else if unlinkat(parent.raw, name, 0) != 0 {
            throw SystemError.last("unlinkat", name)
        }
    }

    mutating func add(_ entry: TarEntry, content: FileDescriptor?) throws {
        let (parent, name) = try parent(of: entry.path)
        defer { parent.close() }
        switch entry.kind {
        case .directory:
            try removeExisting(parent, name, keepingDirectory: true)
            if mkdirat(parent.raw, name, 0o700) != 0 && errno != EEXIST { throw SystemError.last("mkdirat", entry.path) }
            return // mode and owner once its children are in (a read-only directory still takes them)
        case .regular:
            try removeExisting(parent, name, keepingDirectory: false)
            let file = try FileDescriptor.openAt(parent.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
            defer { file.close() }
            if let content {
                try buffer.withUnsafeMutableBytes { buffer in
                    while true {
                        let count = try content.read(into: buffer)
                        if count == 0 { break }
                        try file.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]), what: entry.path)
                    }
                }
            }
        case .symbolicLink:
            try removeExisting(parent, name, keepingDirectory: false)
            guard symlinkat(entry.linkTarget, parent.raw, name) == 0 else { throw SystemError.last("symlinkat", entry.path) }
        case .hardLink:
            try removeExisting(parent, name, keepingDirectory: false)
            let (targetParent, targetName) = try self.parent(of: entry.linkTarget)
            defer { targetParent.close() }
            guard linkat(targetParent.raw, targetName, parent.raw, name, 0) == 0 else { throw SystemError.last("linkat", entry.path) }
            return
        case .characterDevice, .blockDevice, .fifo:
            try removeExisting(parent, name, keepingDirectory: false)
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : entry.kind == .characterDevice ? S_IFCHR : S_IFBLK
            let device = dev_t(entry.deviceMajor & 0xfff) << 8 | dev_t(entry.deviceMajor & ~0xfff) << 32
                | dev_t(entry.deviceMinor & 0xff) | dev_t(entry.deviceMinor & ~0xff) << 12
            guard mknodat(parent.raw, name, type | 0o600, device) == 0 else { throw SystemError.last("mknodat", entry.path) }
        }
        try setMetadata(parent, name, entry)
    }

    mutating func finishDirectory(_ entry: TarEntry) throws {
        let (parent, name) = try parent(of: entry.path)
        defer { parent.close() }
        try setMetadata(parent, name, entry)
    }

    /// Owner, mode and times, through a descriptor of the entry itself (O_PATH | O_NOFOLLOW):
    /// a name the container swapped for a symlink meanwhile is not followed.
    private func setMetadata(_ parent: FileDescriptor, _ name: String, _ entry: TarEntry) throws {
        var (uid, gid) = keepOwners ? (entry.uid, entry.gid) : (geteuid(), getegid())
        if let owners {
            // The container's root, or the kept owner, where the container's namespace has it.
            guard let mapped = owners.outside(uid: keepOwners ? uid : 0, gid: keepOwners ? gid : 0) else {
                throw SystemError(errno: EINVAL, call: "chown", detail: "\(entry.path): \(uid):\(gid) is not mapped in the container's user namespace")
            }
            (uid, gid) = mapped
        }
        var times = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
        if entry.kind == .symbolicLink {
            guard fchownat(parent.raw, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError.last("fchownat", entry.path) }
            _ = utimensat(parent.raw, name, &times, AT_SYMLINK_NOFOLLOW)
            return
        }
        let handle = try FileDescriptor.openAt(parent.raw, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
        defer { handle.close() }
        var info = stat()
        guard fstat(handle.raw, &info) == 0 else { throw SystemError.last("fstat", entry.path) }
        guard info.st_mode & S_IFMT != S_IFLNK else { throw SystemError(errno: ELOOP, call: "copy", detail: "\(entry.path) was replaced by a symlink") }
        // The descriptor's own inode, through /proc's link to it; chmod after chown, which
        // clears set-id bits.
        let byDescriptor = "/proc/self/fd/\(handle.raw)"
        guard chown(byDescriptor, uid, gid) == 0 else { throw SystemError.last("chown", entry.path) }
        guard chmod(byDescriptor, mode_t(entry.mode & 0o7777)) == 0 else { throw SystemError.last("chmod", entry.path) }
        _ = utimensat(AT_FDCWD, byDescriptor, &times, 0)
    }
}
