#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import OCI

/// Builds the container's root filesystem inside its new mount namespace, then switches to it.
/// Runs in the init (after the re-exec), so ordinary Swift is fine here. Because every mount
/// happens inside the container's own mount namespace, none of them can outlive the container
/// on the host, whatever happens to swiftainer.
///
/// Every destination inside the rootfs is resolved once, by fd, inside the root
/// (`RootedDirectory`), and mounted on that fd; bind mounts are cloned detached, given their
/// attributes, and moved into place (open_tree, mount_setattr, move_mount), so nothing is
/// looked up twice by a path a container process could change in between. The privileged
/// calls go through `Syscalls`, so all of this runs in unit tests against a recording fake.
public struct RootfsSetup {
    let config: InitConfig
    let kernel: any Syscalls
    let log: (String) -> Void
    /// Enters the cgroup namespace the init makes itself (`InitConfig.unsharesCgroupNamespace`)
    /// once its cgroup is joined: a cgroup2 mount must come after, or it shows the caller's group.
    let enterCgroupNamespace: () throws -> Void

    public init(config: InitConfig, kernel: any Syscalls = LinuxSyscalls(), log: @escaping (String) -> Void,
                enterCgroupNamespace: @escaping () throws -> Void = {}) {
        self.config = config
        self.kernel = kernel
        self.log = log
        self.enterCgroupNamespace = enterCgroupNamespace
    }

    var spec: Spec { config.spec }
    var rootfs: String { config.rootfs }

    public func run() throws {
        try stage("make mounts private") { try makeRootPrivate() }
        try stage("mount the root filesystem") { try mountRoot() }
        // Opened after the root mount, so it is the container's root, not what lies below it.
        let root = try RootedDirectory(path: rootfs)
        for mount in spec.mounts ?? [] {
            try stage("mount \(mount.destination)") { try perform(mount, in: root) }
        }
        try stage("create devices") { try createDevices(in: root) }
        try stage(config.noPivot ? "chroot" : "pivot_root") { try switchRoot() }
        if let propagation = try requestedPropagation() {
            try stage("make / \(spec.linux?.rootfsPropagation ?? "")") {
                try kernel.mount(source: "", path: "/", type: "", flags: propagation, data: nil)
            }
        }
        // Before /proc/sys turns read-only; net.* keys apply to the container's own network.
        for (key, value) in (spec.linux?.sysctl ?? [:]).sorted(by: { $0.key < $1.key }) {
            try stage("sysctl \(key)=\(value)") { try kernel.writeSysctl(key, value) }
        }
        // From here on the process's own root is the container's: "/" is what to resolve in.
        let containerRoot = try RootedDirectory(path: kernel.switchedRoot(from: rootfs))
        for path in spec.linux?.maskedPaths ?? [] {
            try stage("mask \(path)") { try mask(path, in: containerRoot) }
        }
        for path in spec.linux?.readonlyPaths ?? [] {
            try stage("make \(path) read-only") { try makeReadOnly(path, in: containerRoot) }
        }
        if let cwd = spec.process?.cwd, cwd != "/" {
            // Made before the root may turn read-only, inside the root, as runc makes it.
            try stage("make the working directory \(cwd)") { _ = try containerRoot.makeDirectories(cwd) }
        }
        if spec.root?.readonly == true {
            try stage("make / read-only") {
                try kernel.mount(source: "", path: "/", type: "", flags: UInt(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC), data: nil)
            }
        }
    }

    private func stage(_ name: String, _ body: () throws -> Void) throws {
        log(name)
        do { try body() } catch { throw RuntimeError(name, error) }
    }

    /// linux.rootfsPropagation as mount(2) flags, checked before anything is mounted.
    private func requestedPropagation() throws -> UInt? {
        guard let propagation = spec.linux?.rootfsPropagation else { return nil }
        guard let value = MountOptions.propagationOptions[propagation] else {
            throw RuntimeError("invalid linux.rootfsPropagation '\(propagation)'")
        }
        return value
    }

    /// Nothing mounted in here may propagate back to the host: every mount becomes a slave of
    /// the host's (or private, when that is what the spec asks for). A requested "shared" or
    /// "unbindable" is applied to the container's own root after pivot_root, as runc does —
    /// asked for here, "shared" would keep the host's peer group and make pivot_root fail, and
    /// "unbindable" would refuse the bind of the root itself.
    private func makeRootPrivate() throws {
        var flags = UInt(MS_SLAVE | MS_REC)
        if let requested = try requestedPropagation(), requested & UInt(MS_PRIVATE) != 0 { flags = requested }
        try kernel.mount(source: "", path: "/", type: "", flags: flags, data: nil)
    }

    private func mountRoot() throws {
        let annotations = spec.annotations ?? [:]
        if let lower = annotations[SwiftainerAnnotation.overlayLower],
           let upper = annotations[SwiftainerAnnotation.overlayUpper],
           let work = annotations[SwiftainerAnnotation.overlayWork] {
            // Overlay's options must fit in one page. Layers of a stack share one directory
            // (the store's l/ of short links): mounted from there by relative names, 50+ layers fit.
            let lowers = lower.split(separator: ":").map(String.init)
            let parent = lowers.first.map(Files.dirname(of:))
            if let parent, lowers.count > 1, lowers.allSatisfy({ Files.dirname(of: $0) == parent }) {
                let previous = try FileDescriptor.open(".", O_PATH | O_DIRECTORY)
                defer { try? kernel.changeDirectory(previous) }
                try kernel.changeDirectory(parent)
                let names = lowers.map { String($0.dropFirst(parent.count + 1)) }.joined(separator: ":")
                try kernel.mount(source: "overlay", path: rootfs, type: "overlay", flags: 0,
                                 data: "lowerdir=\(names),upperdir=\(upper),workdir=\(work)" + Rootless.overlayMountOptions)
            } else {
                try kernel.mount(source: "overlay", path: rootfs, type: "overlay", flags: 0,
                                 data: "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)" + Rootless.overlayMountOptions)
            }
        } else {
            // pivot_root needs the new root to be a mount point.
            try kernel.mount(source: rootfs, path: rootfs, type: "", flags: UInt(MS_BIND | MS_REC), data: nil)
        }
        // The root mount itself must not be shared for pivot_root(2).
        try kernel.mount(source: "", path: rootfs, type: "", flags: UInt(MS_PRIVATE), data: nil)
    }

    private func perform(_ mount: OCI.Mount, in root: RootedDirectory) throws {
        guard mount.destination.hasPrefix("/") else {
            throw RuntimeError("mount destination '\(mount.destination)' is not absolute")
        }
        let options = MountOptions(mount.options ?? [])
        let type = mount.type ?? (options.isBind ? "bind" : "")

        if options.isBind || type == "bind" {
            var source = mount.source ?? ""
            if !source.hasPrefix("/") { source = config.bundle + "/" + source }
            let target = Files.isDirectory(source) ? try root.makeDirectories(mount.destination) : try root.makeFile(mount.destination)
            try bind(sourcePath: source, onto: target, options: options, destination: mount.destination, in: root)
            return
        }
        let target = try root.makeDirectories(mount.destination)
        if type == "sysfs" && !ownsNetworkNamespace {
            // sysfs can be mounted only by a process privileged over the network namespace's
            // owner: root on the host's network can; in a user namespace it cannot, and the
            // host's /sys is bound read-only instead — without the mounts below it (cgroup,
            // securityfs, debugfs: not the container's to see, and a cgroup view goes there).
            do {
                try kernel.mount(source: mount.source ?? type, onto: target, type: type, flags: options.flags & ~UInt(MS_REMOUNT), data: nil)
            } catch let error as SystemError where error.errno == EPERM {
                try bind(sourcePath: "/sys", onto: target, options: MountOptions(["bind", "ro", "nosuid", "nodev", "noexec"]),
                         destination: mount.destination, in: root)
            }
            return
        }
        if type == "cgroup" || type == "cgroup2" {
            try mountCgroup(onto: target, options: options, destination: mount.destination, in: root)
            return
        }
        var data = options.dataString
        if type == "devpts", data?.contains("newinstance") == false { data = "newinstance," + (data ?? "") }
        do {
            try kernel.mount(source: mount.source ?? type, onto: target, type: type, flags: options.flags & ~UInt(MS_REMOUNT), data: data)
        } catch let error as SystemError where error.errno == EINVAL && type == "devpts" && data?.contains("gid=") == true {
            // A user namespace that does not map the tty group (one id: a user without
            // subordinate ids) refuses gid=5: the ptys belong to root's group instead, as
            // with runc and crun.
            data = data?.split(separator: ",").filter { !$0.hasPrefix("gid=") }.joined(separator: ",")
            try kernel.mount(source: mount.source ?? type, onto: target, type: type, flags: options.flags & ~UInt(MS_REMOUNT), data: data)
        }
        if !options.propagation.isEmpty {
            // The new filesystem's mount, not the directory below it that `target` still names.
            let mounted = try mountCovering(target, at: mount.destination, in: root)
            for propagation in options.propagation {
                try kernel.mount(source: "", onto: mounted, type: "", flags: propagation, data: nil)
            }
        }
    }

    /// A bind mount: the source tree cloned detached, its attributes set, moved onto `target`,
    /// then its propagation set — all on the clone's fd, which names the new mount throughout.
    /// Kernels before 5.12 (no mount_setattr) bind with mount(2) onto the fd and remount the
    /// mount found on top of it (`mountCovering`).
    private func bind(source: FileDescriptor? = nil, sourcePath: String, onto target: FileDescriptor, options: MountOptions,
                      destination: String? = nil, in root: RootedDirectory? = nil) throws {
        let (set, clear) = options.mountAttributes
        do {
            let tree = try kernel.cloneMount(source, sourcePath: sourcePath, recursive: options.isRecursive)
            if set != 0 || clear != 0 {
                try kernel.setMountAttributes(tree, recursive: options.isRecursive, set: set, clear: clear, propagation: 0)
            }
            try kernel.moveMount(tree, onto: target)
            for propagation in options.propagation {
                try kernel.setMountAttributes(tree, recursive: propagation & UInt(MS_REC) != 0, set: 0, clear: 0,
                                              propagation: UInt64(propagation & ~UInt(MS_REC)))
            }
        } catch let error as SystemError where error.errno == ENOSYS {
            let recursive = options.isRecursive ? UInt(MS_REC) : 0
            try kernel.mount(source: source.map(LinuxSyscalls.path(of:)) ?? sourcePath, onto: target, type: "",
                             flags: UInt(MS_BIND) | recursive, data: nil)
            let remount = options.flags & ~UInt(MS_REMOUNT)
            guard remount != 0 || !options.propagation.isEmpty else { return }
            guard let destination, let root else { throw error }
            let mounted = try mountCovering(target, at: destination, in: root)
            if remount != 0 {
                try kernel.mount(source: "", onto: mounted, type: "", flags: UInt(MS_BIND | MS_REMOUNT) | recursive | remount, data: nil)
            }
            for propagation in options.propagation {
                try kernel.mount(source: "", onto: mounted, type: "", flags: propagation, data: nil)
            }
        }
    }

    /// The mount just made on `target`: `destination` resolved again, accepted only if it is a
    /// different mount from the one `target` is on (a swapped path would name another object).
    private func mountCovering(_ target: FileDescriptor, at destination: String, in root: RootedDirectory) throws -> FileDescriptor {
        let mounted = try root.open(destination)
        let below = kernel.mountID(of: target)
        let above = kernel.mountID(of: mounted)
        guard below == 0 || above != below else {
            throw RuntimeError("mount destination \(destination) changed while it was being mounted")
        }
        return mounted
    }

    private var ownsNetworkNamespace: Bool { createsNamespace("network") }

    /// The container's own cgroup at `destination`, never the host's tree (as runc and crun):
    /// - cgroup v2 in a cgroup namespace: a cgroup2 mount, rooted at the namespace's root,
    ///   which is the container's group;
    /// - cgroup v2 without one: the container's directory bound;
    /// - cgroup v1 (and hybrid hosts): a tmpfs holding, per hierarchy the container is in, its
    ///   directory bound on the hierarchy's name, and a symlink per controller of a joined name.
    /// Without a cgroup of the runtime's (`config.cgroupView` nil): cgroup2 where the kernel
    /// allows it, else the host's tree, read-only.
    private func mountCgroup(onto target: FileDescriptor, options: MountOptions, destination: String, in root: RootedDirectory) throws {
        let hardening = UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)
        let readOnly = options.flags & UInt(MS_RDONLY) != 0
        let bindOptions = MountOptions(["bind", "nosuid", "nodev", "noexec"] + (readOnly ? ["ro"] : []))
        guard let view = config.cgroupView else {
            do {
                try kernel.mount(source: "cgroup2", onto: target, type: "cgroup2", flags: options.flags | hardening, data: nil)
            } catch {
                try bind(sourcePath: "/sys/fs/cgroup", onto: target, options: MountOptions(["rbind", "ro"]), destination: destination, in: root)
            }
            return
        }
        if let unified = view.unified {
            if createsNamespace("cgroup") {
                try enterCgroupNamespace()
                try kernel.mount(source: "cgroup2", onto: target, type: "cgroup2", flags: options.flags | hardening, data: nil)
            } else {
                try bind(sourcePath: unified, onto: target, options: bindOptions, destination: destination, in: root)
            }
            return
        }
        try kernel.mount(source: "tmpfs", onto: target, type: "tmpfs", flags: hardening, data: "mode=755")
        let names = Set(view.hierarchies.map(\.name))
        for hierarchy in view.hierarchies {
            let path = destination + "/" + hierarchy.name
            let directory = try root.makeDirectories(path)
            try bind(sourcePath: hierarchy.directory, onto: directory, options: bindOptions, destination: path, in: root)
            for alias in hierarchy.aliases where !names.contains(alias) {
                let (parent, name) = try root.parent(of: destination + "/" + alias)
                try check(symlinkat(hierarchy.name, parent.raw, name), "symlinkat", destination + "/" + alias)
            }
        }
        if readOnly {
            let tmpfs = try mountCovering(target, at: destination, in: root)
            try kernel.mount(source: "", onto: tmpfs, type: "", flags: UInt(MS_REMOUNT | MS_BIND | MS_RDONLY) | hardening, data: nil)
        }
    }

    private func createsNamespace(_ type: String) -> Bool {
        spec.linux?.namespaces?.contains { $0.type == type && $0.path == nil } ?? false
    }

    /// The standard device set (what runc and Docker give every container), plus linux.devices.
    static let defaultDevices: [OCI.Device] = [
        Device(type: "c", path: "/dev/null", major: 1, minor: 3),
        Device(type: "c", path: "/dev/zero", major: 1, minor: 5),
        Device(type: "c", path: "/dev/full", major: 1, minor: 7),
        Device(type: "c", path: "/dev/random", major: 1, minor: 8),
        Device(type: "c", path: "/dev/urandom", major: 1, minor: 9),
        Device(type: "c", path: "/dev/tty", major: 5, minor: 0),
    ]

    private func createDevices(in root: RootedDirectory) throws {
        // Only a /dev the runtime mounted itself gets populated; a bind-mounted host /dev is left alone.
        let ownsDev = spec.mounts?.contains { $0.destination == "/dev" && $0.type == "tmpfs" } ?? false
        guard ownsDev else { return }
        for device in Self.defaultDevices + (spec.linux?.devices ?? []) {
            try createDevice(device, in: root)
        }
        let dev = try root.makeDirectories("/dev")
        let links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
                     ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx")]
        for (target, name) in links {
            unlinkat(dev.raw, name, 0)
            try check(symlinkat(target, dev.raw, name), "symlinkat", "/dev/\(name)")
        }
    }

    private func createDevice(_ device: OCI.Device, in root: RootedDirectory) throws {
        let kind: mode_t
        switch device.type {
        case "c", "u": kind = S_IFCHR
        case "b": kind = S_IFBLK
        case "p": kind = S_IFIFO
        default: throw RuntimeError("device \(device.path): unknown type '\(device.type)'")
        }
        let (directory, name) = try root.parent(of: device.path)
        unlinkat(directory.raw, name, 0)
        let number = sw_makedev(UInt32(device.major ?? 0), UInt32(device.minor ?? 0))
        do {
            try kernel.makeNode(in: directory, name, mode: kind | mode_t(device.fileMode ?? 0o666), device: number,
                                uid: device.uid ?? 0, gid: device.gid ?? 0)
        } catch let error as SystemError where error.errno == EPERM && kind != S_IFIFO {
            // Without CAP_MKNOD (a user namespace), bind the host's node instead, as runc does.
            let placeholder = try root.makeFile(device.path, mode: 0o666)
            try bind(sourcePath: device.path, onto: placeholder, options: MountOptions(["bind"]), destination: device.path, in: root)
        }
    }

    private func switchRoot() throws {
        try kernel.changeDirectory(rootfs)
        if config.noPivot {
            try kernel.mount(source: rootfs, path: "/", type: "", flags: UInt(MS_MOVE), data: nil)
            try kernel.changeRoot(".")
        } else {
            // pivot_root(".", "."): the old root ends up stacked under the new one; detach it.
            try kernel.pivotRoot(".", ".")
            try kernel.unmount(".", flags: Int32(MNT_DETACH))
        }
        try kernel.changeDirectory("/")
    }

    private func mask(_ path: String, in root: RootedDirectory) throws {
        let target: FileDescriptor
        do { target = try root.open(path) } catch let error as SystemError where error.errno == ENOENT { return } // nothing to hide
        var info = stat()
        try check(fstat(target.raw, &info), "fstat", path)
        if info.st_mode & S_IFMT == S_IFDIR {
            try kernel.mount(source: "tmpfs", onto: target, type: "tmpfs", flags: UInt(MS_RDONLY), data: "size=0k")
        } else {
            try bind(sourcePath: "/dev/null", onto: target, options: MountOptions(["bind"]), destination: path, in: root)
        }
    }

    /// The path bound onto itself, read-only (and nosuid, nodev, noexec), as runc does.
    private func makeReadOnly(_ path: String, in root: RootedDirectory) throws {
        let target: FileDescriptor
        do { target = try root.open(path) } catch let error as SystemError where error.errno == ENOENT { return }
        try bind(source: target, sourcePath: path, onto: target, options: MountOptions(["rbind", "ro", "nosuid", "nodev", "noexec"]),
                 destination: path, in: root)
    }
}
