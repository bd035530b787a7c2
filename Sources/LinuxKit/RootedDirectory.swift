#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A directory that stands for a container's `/`, and the paths inside it resolved by the
/// kernel as the container would resolve them: symlinks (absolute ones too) and `..` never
/// leave it, and /proc's magic links are refused. What comes back is an open file
/// descriptor, so the object found is the object used — a container process that swaps a
/// path component for a symlink after the lookup changes nothing (the CVE-2021-30465 race).
///
/// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) does the walk on Linux 5.6 and later;
/// before that, a component-by-component walk with O_PATH | O_NOFOLLOW that reads each
/// symlink itself and restarts absolute ones at the root.
public final class RootedDirectory {
    public let fd: FileDescriptor
    /// For messages only: never used to reach anything.
    public let path: String

    /// Who walks the path: the kernel (openat2), or this type component by component.
    public enum Resolver: Sendable { case kernel, walk }
    public let resolver: Resolver

    /// Set once openat2 answered ENOSYS: every later root walks without asking again.
    nonisolated(unsafe) static var kernelLacksOpenat2 = false

    public init(path: String, resolver: Resolver = .kernel) throws {
        self.path = path
        self.resolver = Self.kernelLacksOpenat2 ? .walk : resolver
        fd = try FileDescriptor.open(path, O_PATH | O_DIRECTORY)
    }

    /// Opens `path` (read as from the root, leading slash or not) with `flags`; O_PATH when
    /// only a handle is needed (to mount on, to stat).
    public func open(_ path: String, flags: Int32 = O_PATH) throws -> FileDescriptor {
        if resolver == .kernel && !Self.kernelLacksOpenat2 {
            let resolve = UInt64(SW_RESOLVE_IN_ROOT | SW_RESOLVE_NO_MAGICLINKS)
            while true {
                let raw = sw_openat2(fd.raw, path, flags | O_CLOEXEC, 0, resolve)
                if raw >= 0 { return FileDescriptor(raw) }
                if errno == EINTR || errno == EAGAIN { continue } // EAGAIN: a rename raced the walk
                if errno == ENOSYS { Self.kernelLacksOpenat2 = true; break }
                throw SystemError.last("openat2", describe(path))
            }
        }
        return try walk(path, flags: flags)
    }

    /// The directory at `path`, made with its missing parents (`mode`) inside the root.
    /// A symlink to a missing path is followed and its target made, inside the root, as
    /// runc's MkdirAll does (an image's /var/run -> /run without /run).
    public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws -> FileDescriptor {
        try make(path, depth: 0) { parent, name in
            if mkdirat(parent.raw, name, mode) != 0 && errno != EEXIST { throw SystemError.last("mkdirat", self.describe(path)) }
        }
    }

    /// The file at `path`, made empty (with missing parent directories) where it is missing.
    public func makeFile(_ path: String, mode: mode_t = 0o644) throws -> FileDescriptor {
        try make(path, depth: 0) { parent, name in
            let created = openat(parent.raw, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode)
            guard created >= 0 else {
                if errno == EEXIST || errno == ELOOP { return } // there already, or a symlink: looked at next
                throw SystemError.last("openat", self.describe(path))
            }
            Glibc.close(created)
        }
    }

    /// Opens `path`, or creates its last component with `create` (in its parent, made first)
    /// and opens it then. Directories come back with O_DIRECTORY, so a file in the way fails.
    private func make(_ path: String, depth: Int, create: (FileDescriptor, String) throws -> Void) throws -> FileDescriptor {
        let flags = O_PATH
        if let existing = try openIfPresent(path, flags: flags) { return existing }
        let (parentPath, name) = Self.split(path)
        guard let name else { return try open(path, flags: flags) }
        let parent = try makeDirectories(parentPath)
        try create(parent, name)
        if let opened = try openIfPresent(path, flags: flags) { return opened }
        // Still missing: `name` is a symlink to a path that does not exist. Make its target.
        guard depth < 40 else { throw SystemError(errno: ELOOP, call: "resolve", detail: describe(path)) }
        guard let target = Files.readLink(at: parent.raw, name) else { throw SystemError(errno: ENOENT, call: "resolve", detail: describe(path)) }
        let next = target.hasPrefix("/") ? target : parentPath + "/" + target
        return try make(next, depth: depth + 1, create: create)
    }

    /// The parent directory of `path` (made where missing) and the last component's name, for
    /// the calls that take (dirfd, name): mknodat, symlinkat, unlinkat.
    public func parent(of path: String) throws -> (directory: FileDescriptor, name: String) {
        let (parentPath, name) = Self.split(path)
        guard let name else { throw SystemError(errno: EINVAL, call: "resolve", detail: "\(describe(path)): has no last component") }
        return (try makeDirectories(parentPath), name)
    }

    // MARK: helpers

    private func describe(_ inside: String) -> String { "\(inside) in \(path)" }

    private func openIfPresent(_ path: String, flags: Int32) throws -> FileDescriptor? {
        do { return try open(path, flags: flags) } catch let error as SystemError where error.errno == ENOENT { return nil }
    }

    /// "/a/b/c" → ("/a/b", "c"); nil name for the root itself, "." or "..".
    static func split(_ path: String) -> (parent: String, name: String?) {
        let parts = path.split(separator: "/")
        guard let last = parts.last, last != ".", last != ".." else { return (path, nil) }
        return ("/" + parts.dropLast().joined(separator: "/"), String(last))
    }

    /// The fallback walk. `stack` holds the directories entered below the root (so `..` pops
    /// one and stops at the root); a symlink's target is pushed back onto the pending parts.
    private func walk(_ path: String, flags: Int32) throws -> FileDescriptor {
        var stack: [FileDescriptor] = []
        var pending = Array(path.split(separator: "/").reversed())
        var symlinksFollowed = 0
        while let part = pending.popLast() {
            if part == "." { continue }
            if part == ".." { _ = stack.popLast(); continue }
            let directory = stack.last?.raw ?? fd.raw
            let name = String(part)
            let raw = openat(directory, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
            guard raw >= 0 else { throw SystemError.last("openat", describe(path)) }
            let component = FileDescriptor(raw)
            var info = stat()
            try check(fstat(component.raw, &info), "fstat", describe(path))
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                symlinksFollowed += 1
                if symlinksFollowed > 40 { throw SystemError(errno: ELOOP, call: "resolve", detail: describe(path)) }
                // An O_PATH fd of a symlink reads with an empty name.
                guard let target = Files.readLink(at: component.raw, "") else { throw SystemError.last("readlinkat", describe(path)) }
                if target.hasPrefix("/") { stack.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").reversed())
            case S_IFDIR:
                stack.append(component)
            default:
                guard pending.isEmpty, flags & O_DIRECTORY == 0 else { throw SystemError(errno: ENOTDIR, call: "resolve", detail: describe(path)) }
                return try reopen(component, directory: directory, name: name, flags: flags, path: path)
            }
        }
        let final = stack.last ?? fd
        return try reopen(final, directory: final.raw, name: ".", flags: flags, path: path)
    }

    /// The walk's last component with the caller's flags: O_PATH as it is; otherwise opened
    /// again by name in its (pinned) directory, without following a symlink swapped in meanwhile.
    private func reopen(_ component: FileDescriptor, directory: Int32, name: String, flags: Int32, path: String) throws -> FileDescriptor {
        if flags & ~(O_CLOEXEC | O_DIRECTORY) == O_PATH {
            if name == "." { return FileDescriptor(try retryingInterrupts("dup", describe(path)) { fcntl(component.raw, F_DUPFD_CLOEXEC, 0) }) }
            return component
        }
        return try FileDescriptor.openAt(directory, name, flags | O_NOFOLLOW)
    }
}

/// O_PATH as a Swift constant (fcntl.h hides it without _GNU_SOURCE).
public let O_PATH = Int32(SW_O_PATH)
