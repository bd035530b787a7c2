#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

/// The privileged calls the runtime's mechanism makes — mounts, pivot_root, device nodes,
/// ownership, sysctls — behind a protocol, so the logic that decides them runs without root:
/// `LinuxSyscalls` makes them; tests pass a recording fake (as youki's `Syscall` trait).
/// Unprivileged file work (openat2, mkdirat, symlinkat) is done for real in both cases, in
/// the fake's case inside a temporary directory.
///
/// Mount targets are open file descriptors (`RootedDirectory` resolved them), never paths.
public protocol Syscalls {
    /// mount(2) of a new filesystem (tmpfs, proc, …) onto the object `target` refers to.
    func mount(source: String, onto target: FileDescriptor, type: String, flags: UInt, data: String?) throws
    /// mount(2) by path, for what no container process can reach: "/" of the new mount
    /// namespace (propagation), the rootfs before it is entered, the root after pivot_root.
    func mount(source: String, path: String, type: String, flags: UInt, data: String?) throws
    /// A detached copy of the mount tree at `source` (open_tree(OPEN_TREE_CLONE)): an fd from
    /// a rooted lookup, or the host path in `sourcePath` when `source` is nil.
    func cloneMount(_ source: FileDescriptor?, sourcePath: String, recursive: Bool) throws -> FileDescriptor
    /// mount_setattr(2) on a detached or attached mount.
    func setMountAttributes(_ mount: FileDescriptor, recursive: Bool, set: UInt64, clear: UInt64, propagation: UInt64) throws
    /// move_mount(2): attaches `mount` on top of `target`.
    func moveMount(_ mount: FileDescriptor, onto target: FileDescriptor) throws
    func unmount(_ path: String, flags: Int32) throws
    func pivotRoot(_ newRoot: String, _ putOld: String) throws
    func changeRoot(_ path: String) throws
    func changeDirectory(_ path: String) throws
    func changeDirectory(_ directory: FileDescriptor) throws
    /// mknodat(2) with the mode as given (no umask), then owned by uid:gid.
    func makeNode(in directory: FileDescriptor, _ name: String, mode: mode_t, device: dev_t, uid: uid_t, gid: gid_t) throws
    func writeSysctl(_ key: String, _ value: String) throws
    /// The mount `fd` lies on (statx STX_MNT_ID; 0 when the kernel cannot say): how a mount
    /// just made is told apart from the directory it covers.
    func mountID(of fd: FileDescriptor) -> UInt64
    /// Where the container's root is once pivotRoot/changeRoot ran: "/" for real; the fake,
    /// which moves nothing, answers the rootfs it was given.
    func switchedRoot(from rootfs: String) -> String
}

/// The real calls.
public struct LinuxSyscalls: Syscalls {
    public init() {}

    /// "/proc/self/fd/N": how mount(2), which takes paths, is pointed at an open file.
    static func path(of fd: FileDescriptor) -> String { "/proc/self/fd/\(fd.raw)" }

    public func mount(source: String, onto target: FileDescriptor, type: String, flags: UInt, data: String?) throws {
        try Mounts.mount(source: source, target: Self.path(of: target), type: type, flags: flags, data: data)
    }

    public func mount(source: String, path: String, type: String, flags: UInt, data: String?) throws {
        try Mounts.mount(source: source, target: path, type: type, flags: flags, data: data)
    }

    public func cloneMount(_ source: FileDescriptor?, sourcePath: String, recursive: Bool) throws -> FileDescriptor {
        let flags = UInt32(SW_OPEN_TREE_CLONE) | (recursive ? UInt32(SW_OPEN_TREE_RECURSIVE) : 0)
        let raw = source.map { sw_open_tree($0.raw, "", flags) } ?? sw_open_tree(AT_FDCWD, sourcePath, flags)
        guard raw >= 0 else { throw SystemError.last("open_tree", sourcePath) }
        return FileDescriptor(raw)
    }

    public func setMountAttributes(_ mount: FileDescriptor, recursive: Bool, set: UInt64, clear: UInt64, propagation: UInt64) throws {
        try check(sw_mount_setattr(mount.raw, recursive ? 1 : 0, set, clear, propagation), "mount_setattr",
                  "set 0x\(String(set, radix: 16)) clear 0x\(String(clear, radix: 16)) propagation 0x\(String(propagation, radix: 16))")
    }

    public func moveMount(_ mount: FileDescriptor, onto target: FileDescriptor) throws {
        try check(sw_move_mount(mount.raw, target.raw), "move_mount", Files.readLink(Self.path(of: target)) ?? Self.path(of: target))
    }

    public func unmount(_ path: String, flags: Int32) throws { try Mounts.unmount(path, flags: flags) }
    public func pivotRoot(_ newRoot: String, _ putOld: String) throws { try check(sw_pivot_root(newRoot, putOld), "pivot_root", newRoot) }
    public func changeRoot(_ path: String) throws { try check(chroot(path), "chroot", path) }
    public func changeDirectory(_ path: String) throws { try check(chdir(path), "chdir", path) }
    public func changeDirectory(_ directory: FileDescriptor) throws { try check(fchdir(directory.raw), "fchdir", "fd \(directory.raw)") }

    public func makeNode(in directory: FileDescriptor, _ name: String, mode: mode_t, device: dev_t, uid: uid_t, gid: gid_t) throws {
        let previous = umask(0)
        defer { umask(previous) }
        try check(mknodat(directory.raw, name, mode, device), "mknodat", name)
        try check(fchownat(directory.raw, name, uid, gid, AT_SYMLINK_NOFOLLOW), "fchownat", name)
    }

    public func writeSysctl(_ key: String, _ value: String) throws { try Sysctl.write(key, value) }
    public func mountID(of fd: FileDescriptor) -> UInt64 { sw_mount_id(fd.raw) }
    public func switchedRoot(from rootfs: String) -> String { "/" }
}
