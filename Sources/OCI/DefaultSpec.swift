extension Spec {
    /// The Linux defaults `runc spec` and Docker start from: new pid, network, ipc, uts and mount
    /// namespaces, the standard pseudo-filesystems, and the usual masked and read-only paths.
    public static func linuxDefault(args: [String], env: [String], cwd: String = "/", rootPath: String = "rootfs",
                                    terminal: Bool = false, hostname: String? = nil, networkNamespace: Bool = true) -> Spec {
        var namespaces = ["pid", "ipc", "uts", "mount"].map { Namespace(type: $0) }
        if networkNamespace { namespaces.append(Namespace(type: "network")) }
        var linux = Linux(namespaces: namespaces, maskedPaths: defaultMaskedPaths, readonlyPaths: defaultReadonlyPaths)
        linux.rootfsPropagation = nil
        return Spec(
            process: Process(terminal: terminal, args: args, env: env, cwd: cwd, noNewPrivileges: false),
            root: Root(path: rootPath, readonly: false),
            hostname: hostname,
            mounts: defaultMounts,
            linux: linux)
    }

    /// What `spec` writes (as `runc spec`): a shell on a terminal in a read-only "rootfs", the
    /// capabilities runc grants by default, no new privileges, 1024 open files. `rootless`: a
    /// user namespace mapping the caller's uid and gid to root, no network namespace, the
    /// host's /sys bound read-only (sysfs needs the network namespace's owner), no devpts gid.
    public static func bundleDefault(rootless: Bool, uid: UInt32, gid: UInt32) -> Spec {
        var spec = linuxDefault(args: ["sh"], env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                                terminal: true, hostname: "swiftainer", networkNamespace: !rootless)
        spec.root?.readonly = true
        spec.process?.noNewPrivileges = true
        var capabilities = Capabilities(all: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        capabilities.inheritable = nil
        spec.process?.capabilities = capabilities
        spec.process?.rlimits = [Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)]
        spec.mounts = (spec.mounts ?? []) + [cgroupMount(readOnly: true)]
        guard rootless else { return spec }
        spec.linux?.namespaces?.append(Namespace(type: "user"))
        spec.linux?.uidMappings = [IDMapping(containerID: 0, hostID: uid, size: 1)]
        spec.linux?.gidMappings = [IDMapping(containerID: 0, hostID: gid, size: 1)]
        spec.mounts = spec.mounts?.map { mount in
            var mount = mount
            if mount.type == "sysfs" {
                mount = Mount(destination: mount.destination, type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"])
            } else if mount.type == "devpts" {
                mount.options = mount.options?.filter { $0 != "gid=5" }
            }
            return mount
        }
        return spec
    }

    /// /sys/fs/cgroup, where the runtime shows the container's own cgroup.
    public static func cgroupMount(readOnly: Bool) -> Mount {
        Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
              options: ["nosuid", "noexec", "nodev", "relatime", readOnly ? "ro" : "rw"])
    }

    public static let defaultMounts: [Mount] = [
        Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
        Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
              options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
    ]

    public static let defaultMaskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]

    public static let defaultReadonlyPaths = [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ]
}
