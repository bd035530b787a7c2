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
