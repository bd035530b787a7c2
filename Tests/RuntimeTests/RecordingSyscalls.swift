#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
@testable import Runtime

/// The fake kernel: records every privileged call, with each fd shown as the path it names
/// relative to `root` (the fake's rootfs), and makes none of them. File work (mkdirat,
/// symlinkat) still happens for real inside the temporary root.
final class RecordingSyscalls: Syscalls {
    let root: String
    private(set) var calls: [String] = []
    /// Detached trees from cloneMount: fd → what was cloned, and the object's identity (a
    /// closed tree's number is reused for other files).
    private var trees: [Int32: (name: String, identity: String)] = [:]

    private func identity(_ fd: FileDescriptor) -> String {
        var info = stat()
        return fstat(fd.raw, &info) == 0 ? "\(info.st_dev):\(info.st_ino)" : ""
    }
    /// Runs just before a move_mount is recorded: where a test plays the container process
    /// that swaps a path between lookup and mount.
    var beforeMove: (() -> Void)?

    init(root: String) { self.root = root }

    /// An fd shown as the path it names: inside the root as "/…", elsewhere as "HOST:…".
    func shown(_ fd: FileDescriptor) -> String {
        if let tree = trees[fd.raw], tree.identity == identity(fd) { return "tree(\(tree.name))" }
        let path = Files.readLink("/proc/self/fd/\(fd.raw)") ?? "?"
        if path == root { return "/" }
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count)) : "HOST:" + path
    }

    /// Targets mounted onto, by fd (the object below the mount) and by path (what a later
    /// lookup of that path finds: the mount on top).
    private var mountTargets: Set<Int32> = []
    private var mountedPaths: Set<String> = []

    func mountID(of fd: FileDescriptor) -> UInt64 {
        if mountTargets.contains(fd.raw) { return 1 }
        return mountedPaths.contains(shown(fd)) ? 2 : 1
    }

    func mount(source: String, onto target: FileDescriptor, type: String, flags: UInt, data: String?) throws {
        if flags & UInt(MS_REMOUNT) == 0 && !type.isEmpty {
            mountTargets.insert(target.raw)
            mountedPaths.insert(shown(target))
        }
        calls.append("mount \(type) \(source) on \(shown(target)) flags 0x\(String(flags, radix: 16))\(data.map { " " + $0 } ?? "")")
    }

    func mount(source: String, path: String, type: String, flags: UInt, data: String?) throws {
        let shownPath = path == root ? "ROOTFS" : path
        calls.append("mount-path \(type) \(source == root ? "ROOTFS" : source) on \(shownPath) flags 0x\(String(flags, radix: 16))")
    }

    func cloneMount(_ source: FileDescriptor?, sourcePath: String, recursive: Bool) throws -> FileDescriptor {
        let fd = try source.map { FileDescriptor(fcntl($0.raw, F_DUPFD_CLOEXEC, 0)) } ?? FileDescriptor.open(sourcePath, O_PATH)
        let name = source.map(shown) ?? sourcePath
        trees[fd.raw] = (name, identity(fd))
        calls.append("clone \(name)\(recursive ? " recursive" : "")")
        return fd
    }

    func setMountAttributes(_ mount: FileDescriptor, recursive: Bool, set: UInt64, clear: UInt64, propagation: UInt64) throws {
        calls.append("setattr \(shown(mount)) set 0x\(String(set, radix: 16)) clear 0x\(String(clear, radix: 16)) propagation 0x\(String(propagation, radix: 16))\(recursive ? " recursive" : "")")
    }

    func moveMount(_ mount: FileDescriptor, onto target: FileDescriptor) throws {
        beforeMove?()
        calls.append("move \(shown(mount)) onto \(shown(target))")
    }

    func unmount(_ path: String, flags: Int32) throws { calls.append("umount \(path)") }
    func pivotRoot(_ newRoot: String, _ putOld: String) throws { calls.append("pivot_root \(newRoot) \(putOld)") }
    func changeRoot(_ path: String) throws { calls.append("chroot \(path)") }
    func changeDirectory(_ path: String) throws { calls.append("chdir \(path == root ? "ROOTFS" : path)") }
    func changeDirectory(_ directory: FileDescriptor) throws { calls.append("fchdir") }

    func makeNode(in directory: FileDescriptor, _ name: String, mode: mode_t, device: dev_t, uid: uid_t, gid: gid_t) throws {
        let dir = shown(directory)
        calls.append("mknod \(dir == "/" ? "" : dir)/\(name) mode 0\(String(mode, radix: 8)) \(sw_major_minor(device)) \(uid):\(gid)")
    }

    func writeSysctl(_ key: String, _ value: String) throws { calls.append("sysctl \(key)=\(value)") }
    func switchedRoot(from rootfs: String) -> String { rootfs }

    private func sw_major_minor(_ device: dev_t) -> String { "\(device >> 8 & 0xfff):\(device & 0xff)" }
}
