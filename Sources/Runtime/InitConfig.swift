import Cgroups
import OCI

/// Everything the container's init needs, sent by the parent over the sync socket so that
/// the init reads no files from the host.
public struct InitConfig: Codable {
    public var containerID: String
    public var spec: Spec
    /// Absolute path of the root filesystem (root.path resolved against the bundle).
    public var rootfs: String
    /// Absolute path of the bundle (relative bind-mount sources are resolved against it).
    public var bundle: String
    public var noPivot: Bool
    public var debug: Bool
    /// OCI create/start: the init waits for `start` by opening this FIFO for writing (runc's
    /// exec.fifo), because the process that created it is gone by then. Nil: `start` comes over
    /// the sync socket from the parent that stays (swiftainer run).
    public var startFifo: String?
    /// PR_SET_PDEATHSIG=SIGKILL for the container process (set again after credentials change).
    public var diesWithParent: Bool = true
    /// The init's pid as the runtime sees it (the state hooks get on stdin).
    public var hostPid: Int32?
    /// What /sys/fs/cgroup shows when the spec mounts a cgroup filesystem: the container's
    /// own group (nil: the runtime manages no cgroup for it).
    public var cgroupView: CgroupView?
    /// The spec's new cgroup namespace is made by the init itself (unshare), once the parent
    /// says it has joined its cgroup (`SyncMessage.cgroupJoined`): a namespace made at clone
    /// would be rooted at the caller's group, and show it.
    public var unsharesCgroupNamespace = false
    /// --preserve-fds: the count of fds the spawn placed at SW_PRESERVED_FD_BASE, moved to 3..
    /// just before exec.
    public var preservedFDs = 0
    /// linux.seccomp.listenerMetadata, for the process state sent with the notify fd (the
    /// listener's socket itself comes with the seccomp filter).
    public var seccompListenerMetadata: String?

    public init(containerID: String, spec: Spec, rootfs: String, bundle: String, noPivot: Bool, debug: Bool, startFifo: String? = nil) {
        self.startFifo = startFifo
        self.containerID = containerID
        self.spec = spec
        self.rootfs = rootfs
        self.bundle = bundle
        self.noPivot = noPivot
        self.debug = debug
    }
}

/// Annotations through which swiftainer's engine asks its runtime for more than a plain OCI
/// bundle says. They live in config.json, so `create` and `start` in separate processes see them.
public enum SwiftainerAnnotation {
    /// Overlay root: the runtime mounts overlay(lowerdir, upperdir, workdir) on root.path inside
    /// the container's mount namespace, so the mount dies with the container and never leaks.
    public static let overlayLower = "org.swiftainer.rootfs.lowerdir"
    public static let overlayUpper = "org.swiftainer.rootfs.upperdir"
    public static let overlayWork = "org.swiftainer.rootfs.workdir"
    /// "true": chroot instead of pivot_root (`run --no-pivot`), kept with the bundle so that a
    /// later `start` runs the container the same way.
    public static let noPivot = "org.swiftainer.no-pivot"
    /// "true": `run --init`: PID 1 stays a reaper that forwards signals to the command.
    public static let initProcess = "org.swiftainer.init"
    /// "true": `run -d -i`: stdin stays open (a pipe nobody writes to), as Docker keeps it open
    /// for an attach, so a shell waits instead of reading end-of-file.
    public static let stdinOpen = "org.swiftainer.stdin-open"
}
