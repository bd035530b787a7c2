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
struct RootfsSetup {
    let config: InitConfig
    let log: (String) -> Void

    var spec: Spec { config.spec }
    var rootfs: String { config.rootfs }

    func run() throws {
        try stage("make mounts private") { try makeRootPrivate() }
        try stage("mount the root filesystem") { try mountRoot() }
        for mount in spec.mounts ?? [] {
            try stage("mount \(mount.destination)") { try perform(mount) }
        }
        try stage("create devices") { try createDevices() }
        try stage(config.noPivot ? "chroot" : "pivot_root") { try switchRoot() }
        // Before /proc/sys turns read-only; net.* keys apply to the container's own network.
        for (key, value) in (spec.linux?.sysctl ?? [:]).sorted(by: { $0.key < $1.key }) {
            try stage("sysctl \(key)=\(value)") { try Sysctl.write(key, value) }
        }
        for path in spec.linux?.maskedPaths ?? [] {
            try stage("mask \(path)") { try mask(path) }
        }
        for path in spec.linux?.readonlyPaths ?? [] {
            try stage("make \(path) read-only") { try makeReadOnly(path) }
        }
        if spec.root?.readonly == true {
            try stage("make / read-only") {
                try Mounts.mount(source: "", target: "/", type: "", flags: UInt(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC))
            }
        }
    }

    private func stage(_ name: String, _ body: () throws -> Void) throws {
        log(name)
        do { try body() } catch { throw RuntimeError(name, error) }
    }

    private func makeRootPrivate() throws {
        // Nothing mounted in here may propagate back to the host.
        var flags = UInt(MS_SLAVE | MS_REC)
        if let propagation = spec.linux?.rootfsPropagation {
            guard let value = MountOptions.propagationOptions[propagation] else {
                throw RuntimeError("invalid linux.rootfsPropagation '\(propagation)'")
            }
            flags = value
        }
        try Mounts.setPropagation("/", flags)
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
                let previous = try FileDescriptor.open(".", O_RDONLY | O_DIRECTORY)
                defer {
                    _ = fchdir(previous.raw)
                    previous.close()
                }
                try check(chdir(parent), "chdir", parent)
                let names = lowers.map { String($0.dropFirst(parent.count + 1)) }.joined(separator: ":")
                try Mounts.mount(source: "overlay", target: rootfs, type: "overlay", flags: 0,
                                 data: "lowerdir=\(names),upperdir=\(upper),workdir=\(work)")
            } else {
                try Mounts.mount(source: "overlay", target: rootfs, type: "overlay", flags: 0,
                                 data: "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)")
            }
        } else {
            // pivot_root needs the new root to be a mount point.
            try Mounts.bind(rootfs, rootfs)
        }
        // The root mount itself must not be shared for pivot_root(2).
        try Mounts.setPropagation(rootfs, UInt(MS_PRIVATE))
    }

    private func perform(_ mount: OCI.Mount) throws {
        guard mount.destination.hasPrefix("/") else {
            throw RuntimeError("mount destination '\(mount.destination)' is not absolute")
        }
        let target = try scopedPath(root: rootfs, mount.destination)
        let options = MountOptions(mount.options ?? [])
        let type = mount.type ?? (options.isBind ? "bind" : "")

        if options.isBind || type == "bind" {
            var source = mount.source ?? ""
            if !source.hasPrefix("/") { source = config.bundle + "/" + source }
            try createMountPoint(target, like: source)
            try Mounts.bind(source, target, recursive: options.isRecursive,
                            readOnly: options.flags & UInt(MS_RDONLY) != 0,
                            extraFlags: options.flags & ~UInt(MS_RDONLY))
        } else {
            try Files.makeDirectories(target)
            var flags = options.flags
            var data = options.dataString
            if type == "sysfs" && !ownsNetworkNamespace {
                // sysfs can only be mounted by the owner of the network namespace: share the host's, read-only.
                try Mounts.bind("/sys", target, recursive: true, readOnly: true)
                return
            }
            if type == "cgroup" || type == "cgroup2" {
                try mountCgroup(target, options: options)
                return
            }
            if type == "devpts", data?.contains("newinstance") == false { data = "newinstance," + (data ?? "") }
            flags &= ~UInt(MS_REMOUNT)
            try Mounts.mount(source: mount.source ?? type, target: target, type: type, flags: flags, data: data)
        }
        for propagation in options.propagation {
            try Mounts.setPropagation(target, propagation)
        }
    }

    private var ownsNetworkNamespace: Bool {
        spec.linux?.namespaces?.contains { $0.type == "network" && $0.path == nil } ?? false
    }

    /// cgroup2 inside the container when the kernel allows it; otherwise the host's cgroup tree
    /// bound read-only (hybrid hosts, or no cgroup namespace).
    private func mountCgroup(_ target: String, options: MountOptions) throws {
        do {
            try Mounts.mount(source: "cgroup2", target: target, type: "cgroup2",
                             flags: options.flags | UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC))
        } catch {
            try Mounts.bind("/sys/fs/cgroup", target, recursive: true, readOnly: true)
        }
    }

    /// A bind mount's target must be the same kind as its source: a file for a file.
    private func createMountPoint(_ target: String, like source: String) throws {
        if Files.isDirectory(source) {
            try Files.makeDirectories(target)
        } else {
            try Files.makeDirectories(Files.dirname(of: target))
            if !Files.exists(target) {
                let fd = try FileDescriptor.open(target, O_WRONLY | O_CREAT, mode: 0o644)
                fd.close()
            }
        }
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

    private func createDevices() throws {
        let devTarget = try scopedPath(root: rootfs, "/dev")
        // Only a /dev the runtime mounted itself gets populated; a bind-mounted host /dev is left alone.
        let ownsDev = spec.mounts?.contains { $0.destination == "/dev" && $0.type == "tmpfs" } ?? false
        guard ownsDev else { return }
        let oldMask = umask(0)
        defer { umask(oldMask) }
        for device in Self.defaultDevices + (spec.linux?.devices ?? []) {
            try createDevice(device)
        }
        let links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
                     ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx")]
        for (target, name) in links {
            let path = devTarget + "/" + name
            unlink(path)
            try check(symlink(target, path), "symlink", path)
        }
    }

    private func createDevice(_ device: OCI.Device) throws {
        let path = try scopedPath(root: rootfs, device.path)
        try Files.makeDirectories(Files.dirname(of: path))
        let kind: mode_t
        switch device.type {
        case "c", "u": kind = S_IFCHR
        case "b": kind = S_IFBLK
        case "p": kind = S_IFIFO
        default: throw RuntimeError("device \(device.path): unknown type '\(device.type)'")
        }
        unlink(path)
        let dev = sw_makedev(UInt32(device.major ?? 0), UInt32(device.minor ?? 0))
        if mknod(path, kind | mode_t(device.fileMode ?? 0o666), dev) != 0 {
            // Without CAP_MKNOD (a user namespace), bind the host's node instead, as runc does.
            guard errno == EPERM, kind != S_IFIFO else { throw SystemError.last("mknod", path) }
            let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT, mode: 0o666)
            fd.close()
            try Mounts.bind(device.path, path, recursive: false)
            return
        }
        try check(chown(path, device.uid ?? 0, device.gid ?? 0), "chown", path)
    }

    private func switchRoot() throws {
        try check(chdir(rootfs), "chdir", rootfs)
        if config.noPivot {
            try Mounts.mount(source: rootfs, target: "/", type: "", flags: UInt(MS_MOVE))
            try check(chroot("."), "chroot", rootfs)
        } else {
            // pivot_root(".", "."): the old root ends up stacked under the new one; detach it.
            try check(sw_pivot_root(".", "."), "pivot_root", rootfs)
            try Mounts.unmount(".", flags: Int32(MNT_DETACH))
        }
        try check(chdir("/"), "chdir", "/")
    }

    private func mask(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return } // nothing to hide
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try Mounts.mount(source: "tmpfs", target: path, type: "tmpfs", flags: UInt(MS_RDONLY), data: "size=0k")
        } else {
            try Mounts.bind("/dev/null", path, recursive: false)
        }
    }

    private func makeReadOnly(_ path: String) throws {
        guard Files.exists(path) else { return }
        try Mounts.bind(path, path, recursive: true)
        try Mounts.mount(source: "", target: path, type: "",
                         flags: UInt(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | MS_NOSUID | MS_NODEV | MS_NOEXEC))
    }
}
