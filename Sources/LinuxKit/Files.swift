#if canImport(Glibc)
import Glibc
#endif

/// File-system helpers that say which path failed and never leave half-written files.
public enum Files {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// A symlink's target (nil when `path` is not one, or cannot be read).
    public static func readLink(_ path: String) -> String? { readLink(at: AT_FDCWD, path) }

    /// The same for `name` in the directory `directory` (readlinkat).
    public static func readLink(at directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(directory, name, &buffer, Int(PATH_MAX))
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func read(_ path: String) throws -> [UInt8] {
        try FileDescriptor.open(path, O_RDONLY).readAll()
    }

    public static func readString(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// Whether a write must survive a power loss once it returned.
    public enum Durability: Sendable {
        /// fsync'ed before the rename: what a crash must not lose (images, a created
        /// container's configuration).
        case synced
        /// Atomic, not synced: files on tmpfs, state rebuilt from other data, and anything of a
        /// container that `--rm` deletes a moment later. The README's durability contract
        /// says which is which.
        case volatile
    }

    /// write-temp-then-rename: readers see the old content or the new, never a torn file.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durability: Durability = .synced) throws {
        let temp = "\(path).tmp-\(getpid())"
        do {
            let fd = try FileDescriptor.open(temp, O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
            try fd.writeAll(bytes, what: temp)
            if durability == .synced { try check(fsync(fd.raw), "fsync", temp) }
            fd.close()
            try check(rename(temp, path), "rename", "\(temp) -> \(path)")
        } catch {
            unlink(temp)
            throw error
        }
    }

    public static func writeAtomically(_ path: String, _ string: String, mode: mode_t = 0o644, durability: Durability = .synced) throws {
        try writeAtomically(path, Array(string.utf8), mode: mode, durability: durability)
    }

    /// Removes the temporary files `writeAtomically` left in `directory` when its process was
    /// killed between creating and renaming them (`NAME.tmp-PID` whose PID is gone).
    public static func removeAbandonedTemporaries(in directory: String) {
        for name in (try? listDirectory(directory)) ?? [] {
            guard let dash = name.lastIndex(of: "-"), name[..<dash].hasSuffix(".tmp"),
                  let pid = Int32(name[name.index(after: dash)...]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(directory + "/" + name) }
        }
    }

    /// mkdir -p.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if path.isEmpty || isDirectory(path) { return }
        let parent = dirname(of: path)
        if parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw SystemError.last("mkdir", path)
        }
    }

    /// rm -rf without following symlinks. Its goal is absence: whatever another process removes
    /// first (a concurrent cleanup of the same container, say) counts as removed, not as an error.
    /// Removes `path` and everything below it; symlinks are removed, never followed. Works by
    /// directory fd (unlinkat), so a deep tree costs no repeated walks of long paths.
    public static func removeTree(_ path: String) throws {
        if unlink(path) == 0 || errno == ENOENT { return }
        guard errno == EISDIR else { throw SystemError.last("unlink", path) }
        let directory: FileDescriptor
        do { directory = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch let error as SystemError where error.errno == ENOENT { return }
        try removeContents(of: directory, path)
        if rmdir(path) != 0 && errno != ENOENT { throw SystemError.last("rmdir", path) }
    }

    private static func removeContents(of directory: FileDescriptor, _ path: String) throws {
        let listing = try retryingInterrupts("dup", path) { fcntl(directory.raw, F_DUPFD_CLOEXEC, 0) }
        guard let stream = fdopendir(listing) else {
            Glibc.close(listing)
            throw SystemError.last("fdopendir", path)
        }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            // d_type says which most of the time; when it does not (DT_UNKNOWN), unlinkat does.
            if entry.pointee.d_type != UInt8(DT_DIR) {
                if unlinkat(directory.raw, name, 0) == 0 || errno == ENOENT { continue }
                guard errno == EISDIR else { throw SystemError.last("unlinkat", path + "/" + name) }
            }
            let child: FileDescriptor
            do { child = try FileDescriptor.openAt(directory.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch let error as SystemError where error.errno == ENOENT { continue }
            try removeContents(of: child, path + "/" + name)
            child.close()
            if unlinkat(directory.raw, name, AT_REMOVEDIR) != 0 && errno != ENOENT {
                throw SystemError.last("unlinkat", path + "/" + name)
            }
        }
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemError.last("opendir", path) }
        return names(in: dir)
    }

    /// The names in the directory, or none when it cannot be read.
    public static func listDirectoryOrEmpty(_ path: String) -> [String] { (try? listDirectory(path)) ?? [] }

    /// The names in an open directory (`path` for messages), sorted; the descriptor stays open.
    public static func listDirectory(_ directory: FileDescriptor, describing path: String) throws -> [String] {
        let listing = try retryingInterrupts("dup", path) { fcntl(directory.raw, F_DUPFD_CLOEXEC, 0) }
        guard let dir = fdopendir(listing) else {
            Glibc.close(listing)
            throw SystemError.last("fdopendir", path)
        }
        return names(in: dir)
    }

    private static func names(in dir: OpaquePointer) -> [String] {
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// removeTree for `name` in an open directory, never following a symlink on the way.
    public static func removeTree(at parent: Int32, _ name: String, describing path: String) throws {
        if unlinkat(parent, name, 0) == 0 || errno == ENOENT { return }
        guard errno == EISDIR else { throw SystemError.last("unlinkat", path) }
        let directory: FileDescriptor
        do { directory = try FileDescriptor.openAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch let error as SystemError where error.errno == ENOENT { return }
        defer { directory.close() }
        try removeContents(of: directory, path)
        if unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw SystemError.last("unlinkat", path) }
    }

    /// `path` from the current directory when it is relative.
    public static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : ProcessInfoLinux.currentDirectory + "/" + path
    }

    public static func dirname(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    public static func basename(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Total bytes of regular files below `path` (for `images` SIZE).
    public static func diskUsage(_ path: String) -> UInt64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            return ((try? listDirectory(path)) ?? []).reduce(UInt64(0)) { $0 + diskUsage(path + "/" + $1) }
        }
        return (st.st_mode & S_IFMT) == S_IFREG ? UInt64(st.st_size) : 0
    }
}

/// An exclusive flock() on a file, held until `unlock()` or deinit.
public final class FileLock {
    private let fd: FileDescriptor

    public init(path: String) throws {
        fd = try FileDescriptor.open(path, O_RDWR | O_CREAT, mode: 0o600)
        try retryingInterrupts("flock", path) { flock(fd.raw, LOCK_EX) }
    }

    private init(holding fd: FileDescriptor) { self.fd = fd }

    /// A lock this process already holds through an inherited fd (flock belongs to the open
    /// file description, so parent and child share it until both have closed it).
    public init(inherited raw: Int32) {
        fd = FileDescriptor(raw)
        _ = fcntl(raw, F_SETFD, FD_CLOEXEC)
    }

    /// The fd, to hand the lock to a child process.
    public var raw: Int32 { fd.raw }

    /// The lock if nobody holds it, nil if somebody does (without waiting).
    public static func tryLock(path: String) throws -> FileLock? {
        let fd = try FileDescriptor.open(path, O_RDWR | O_CREAT, mode: 0o600)
        if flock(fd.raw, LOCK_EX | LOCK_NB) == 0 { return FileLock(holding: fd) }
        let error = errno
        fd.close()
        if error == EWOULDBLOCK { return nil }
        throw SystemError(errno: error, call: "flock", detail: path)
    }

    public func unlock() { fd.close() }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and newlines (what kernel files pad values with).
    public var trimmingWhitespace: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" }
        return String(drop(while: blank).reversed().drop(while: blank).reversed())
    }
}
