#if canImport(Glibc)
import Glibc
#endif
import Cgroups
import LinuxKit
import OCI
@testable import Runtime
import Testing
import TestSupport

/// RootfsSetup against the recording fake: which mounts, on which objects, in which order —
/// and that no destination ever resolves outside the root, however the rootfs's symlinks
/// point or change.
@Suite struct RootfsSetupTests {
    let directory = TemporaryDirectory(prefix: "swiftainer-rootfs")
    var rootfs: String { directory.path + "/rootfs" }

    init() throws {
        try Files.makeDirectories(directory.path + "/rootfs")
        try Files.makeDirectories(directory.path + "/volume")
    }

    func setup(_ spec: Spec) throws -> RecordingSyscalls {
        let kernel = RecordingSyscalls(root: rootfs)
        try run(spec, kernel)
        return kernel
    }

    func run(_ spec: Spec, _ kernel: RecordingSyscalls) throws {
        let config = InitConfig(containerID: "c1", spec: spec, rootfs: rootfs, bundle: directory.path, noPivot: false, debug: false)
        try RootfsSetup(config: config, kernel: kernel, log: { _ in }).run()
    }

    func spec(mounts: [OCI.Mount], masked: [String] = [], readonly: [String] = []) -> Spec {
        var spec = Spec.linuxDefault(args: ["/bin/true"], env: [], hostname: "h")
        spec.mounts = mounts
        spec.linux?.maskedPaths = masked
        spec.linux?.readonlyPaths = readonly
        return spec
    }

    @Test func theDefaultSpecMountsInOrderAndOnlyInsideTheRoot() throws {
        try Files.makeDirectories(rootfs + "/proc/acpi")
        try Files.makeDirectories(rootfs + "/proc/sys")
        try Files.writeAtomically(rootfs + "/proc/kcore", "")
        let kernel = try setup(Spec.linuxDefault(args: ["/bin/true"], env: [], hostname: "h"))
        let calls = kernel.calls
        #expect(calls.first == "mount-path   on / flags 0x84000") // MS_SLAVE|MS_REC first: nothing propagates to the host
        #expect(calls.contains("mount-path  ROOTFS on ROOTFS flags 0x5000")) // the root made a mount point (MS_BIND|MS_REC)
        #expect(calls.contains("mount proc proc on /proc flags 0xe"))
        #expect(calls.contains("mount tmpfs tmpfs on /dev flags 0x1000002 mode=755,size=65536k"))
        #expect(calls.contains("mknod /dev/null mode 020666 1:3 0:0"))
        #expect(Files.readLink(rootfs + "/dev/fd") == "/proc/self/fd")
        let pivot = try #require(calls.firstIndex(of: "pivot_root . ."))
        #expect(calls[pivot + 1] == "umount .")
        #expect(calls.firstIndex { $0.hasPrefix("mount ") }! < pivot)
        // Masks and read-only paths come after pivot_root, in the container's own root.
        let kcore = try #require(calls.firstIndex(of: "move tree(/dev/null) onto /proc/kcore"))
        #expect(kcore > pivot)
        #expect(calls.contains("mount tmpfs tmpfs on /proc/acpi flags 0x1 size=0k"))
        #expect(calls.contains("clone /proc/sys recursive"))
        #expect(calls.contains("setattr tree(/proc/sys) set 0xf clear 0x0 propagation 0x0 recursive"))
        #expect(calls.contains("move tree(/proc/sys) onto /proc/sys"))
        #expect(!calls.contains { $0.contains("HOST:") }, "\(calls)")
    }

    @Test func aSymlinkedDestinationIsFollowedInsideTheRootNeverOnTheHost() throws {
        let escape = "/tmp/swiftainer-escape-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try check(symlink("/../../../..\(escape)", rootfs + "/vol"), "symlink")
        let kernel = try setup(spec(mounts: [Mount(destination: "/vol/data", type: "bind", source: directory.path + "/volume", options: ["rbind", "ro"])]))
        #expect(kernel.calls.contains("move tree(\(directory.path)/volume) onto \(escape)/data"))
        #expect(kernel.calls.contains("setattr tree(\(directory.path)/volume) set 0x1 clear 0x0 propagation 0x0 recursive"))
        #expect(Files.isDirectory(rootfs + escape + "/data"))
        #expect(!Files.exists(escape))
    }

    @Test func aPathSwappedBetweenLookupAndMountChangesNothing() throws {
        try Files.makeDirectories(rootfs + "/data/sub")
        let kernel = RecordingSyscalls(root: rootfs)
        // The container process's move, between the lookup and the mount: the directory goes,
        // a symlink to the host's /etc takes its name.
        kernel.beforeMove = { [rootfs] in
            guard rename(rootfs + "/data/sub", rootfs + "/data/old") == 0 else { return }
            _ = symlink("/etc", rootfs + "/data/sub")
        }
        try run(spec(mounts: [Mount(destination: "/data/sub", type: "bind", source: directory.path + "/volume", options: ["bind"])]), kernel)
        #expect(Files.readLink(rootfs + "/data/sub") == "/etc")
        #expect(kernel.calls.contains("move tree(\(directory.path)/volume) onto /data/old"), "\(kernel.calls)")
    }

    @Test func aFileSourceGetsAFileTargetAndPropagationFollowsTheMove() throws {
        try Files.writeAtomically(directory.path + "/hosts", "127.0.0.1 localhost\n")
        let kernel = try setup(spec(mounts: [Mount(destination: "/etc/hosts", type: "bind", source: directory.path + "/hosts",
                                                   options: ["rbind", "rprivate"])]))
        var info = stat()
        #expect(lstat(rootfs + "/etc/hosts", &info) == 0 && info.st_mode & S_IFMT == S_IFREG)
        let move = try #require(kernel.calls.firstIndex(of: "move tree(\(directory.path)/hosts) onto /etc/hosts"))
        #expect(kernel.calls[move + 1] == "setattr tree(\(directory.path)/hosts) set 0x0 clear 0x0 propagation 0x\(String(MS_PRIVATE, radix: 16)) recursive")
    }

    @Test func aDanglingSymlinkDestinationIsMadeInsideTheRoot() throws {
        try check(symlink("/run", rootfs + "/var-run"), "symlink")
        let kernel = try setup(spec(mounts: [Mount(destination: "/var-run/lock", type: "tmpfs", source: "tmpfs", options: ["nosuid"])]))
        #expect(Files.isDirectory(rootfs + "/run/lock"))
        #expect(kernel.calls.contains("mount tmpfs tmpfs on /run/lock flags 0x2"))
    }

    @Test(arguments: [("shared", UInt(MS_SHARED)), ("runbindable", UInt(MS_UNBINDABLE | MS_REC)), ("rslave", UInt(MS_SLAVE | MS_REC))])
    func requestedRootPropagationIsAppliedToTheNewRootAfterPivot(_ propagation: String, _ flags: UInt) throws {
        var spec = spec(mounts: [])
        spec.linux?.rootfsPropagation = propagation
        let calls = try setup(spec).calls
        #expect(calls.first == "mount-path   on / flags 0x84000") // the host's mounts: slaves first, whatever was asked
        let pivot = try #require(calls.firstIndex(of: "pivot_root . ."))
        #expect(calls[(pivot + 1)...].contains("mount-path   on / flags 0x\(String(flags, radix: 16))"), "\(calls)")
    }

    @Test func privateRootPropagationIsAppliedFromTheStart() throws {
        var spec = spec(mounts: [])
        spec.linux?.rootfsPropagation = "rprivate"
        let calls = try setup(spec).calls
        #expect(calls.first == "mount-path   on / flags 0x\(String(UInt(MS_PRIVATE | MS_REC), radix: 16))")
        spec.linux?.rootfsPropagation = "sideways"
        #expect(throws: RuntimeError.self) { _ = try setup(spec) }
    }

    @Test func relativeDestinationsAndUnknownDeviceTypesAreRefusedWithTheirNames() throws {
        #expect(throws: RuntimeError.self) {
            _ = try setup(spec(mounts: [Mount(destination: "data", type: "tmpfs", source: "tmpfs")]))
        }
        var bad = spec(mounts: [Mount(destination: "/dev", type: "tmpfs", source: "tmpfs")])
        bad.linux?.devices = [Device(type: "x", path: "/dev/weird", major: 1, minor: 1)]
        do {
            _ = try setup(bad)
            Issue.record("an unknown device type was accepted")
        } catch {
            #expect("\(error)".contains("/dev/weird"))
        }
    }
}

/// /sys/fs/cgroup from the runtime's CgroupView: the container's own group, never the host's tree.
@Suite struct CgroupViewSetupTests {
    let directory = TemporaryDirectory(prefix: "swiftainer-cgroupview")
    var rootfs: String { directory.path + "/rootfs" }

    /// The host's group directories the fake clones (it opens them for real).
    var host: String { directory.path + "/host" }

    init() throws {
        try Files.makeDirectories(rootfs)
        for dir in ["cpu,cpuacct/me/swiftainer-c1", "memory/me/swiftainer-c1", "unified/me/swiftainer-c1"] {
            try Files.makeDirectories(directory.path + "/host/" + dir)
        }
    }

    func calls(_ view: CgroupView?, namespaces: [String] = ["mount"], readOnly: Bool = true, entered: (() -> Void)? = nil) throws -> [String] {
        var spec = Spec.linuxDefault(args: ["/bin/true"], env: [], hostname: "h")
        spec.mounts = [Spec.cgroupMount(readOnly: readOnly)]
        spec.linux?.namespaces = namespaces.map { Namespace(type: $0) }
        spec.linux?.maskedPaths = []
        spec.linux?.readonlyPaths = []
        // A fresh root each time: the fake mounts no tmpfs, so the symlinks land in the rootfs.
        try Files.removeTree(rootfs)
        try Files.makeDirectories(rootfs)
        var config = InitConfig(containerID: "c1", spec: spec, rootfs: rootfs, bundle: directory.path, noPivot: false, debug: false)
        config.cgroupView = view
        let kernel = RecordingSyscalls(root: rootfs)
        try RootfsSetup(config: config, kernel: kernel, log: { _ in }, enterCgroupNamespace: { entered?() }).run()
        return kernel.calls
    }

    @Test func v1BindsTheContainersDirectoryPerHierarchyOnAReadOnlyTmpfs() throws {
        let view = CgroupView(unified: nil, hierarchies: [
            .init(name: "cpu,cpuacct", directory: host + "/cpu,cpuacct/me/swiftainer-c1"),
            .init(name: "memory", directory: host + "/memory/me/swiftainer-c1"),
        ])
        let calls = try calls(view)
        let tmpfs = try #require(calls.firstIndex(of: "mount tmpfs tmpfs on /sys/fs/cgroup flags 0xe mode=755"))
        let memory = try #require(calls.firstIndex(of: "move tree(\(host)/memory/me/swiftainer-c1) onto /sys/fs/cgroup/memory"))
        #expect(calls.contains("move tree(\(host)/cpu,cpuacct/me/swiftainer-c1) onto /sys/fs/cgroup/cpu,cpuacct"))
        #expect(calls.contains("setattr tree(\(host)/memory/me/swiftainer-c1) set 0xf clear 0x0 propagation 0x0"))
        let remount = try #require(calls.firstIndex(of: "mount   on /sys/fs/cgroup flags 0x102f"))
        #expect(tmpfs < memory && memory < remount)
        #expect(Files.readLink(rootfs + "/sys/fs/cgroup/cpu") == "cpu,cpuacct")
        #expect(Files.readLink(rootfs + "/sys/fs/cgroup/cpuacct") == "cpu,cpuacct")
        #expect(!calls.contains { $0.contains("cgroup2") || $0.contains("rbind") })
        #expect(try self.calls(view, readOnly: false).allSatisfy { !$0.hasPrefix("mount   on /sys/fs/cgroup") })
    }

    @Test func v2MountsCgroup2InsideItsNamespaceOnlyAfterEnteringIt() throws {
        let view = CgroupView(unified: host + "/unified/me/swiftainer-c1", hierarchies: [])
        var entered = 0
        let calls = try calls(view, namespaces: ["mount", "cgroup"], entered: { entered += 1 })
        #expect(entered == 1)
        #expect(calls.contains("mount cgroup2 cgroup2 on /sys/fs/cgroup flags 0x20000f"), "\(calls)")
        // Without a cgroup namespace: the group's directory, bound.
        let bound = try self.calls(view, entered: { entered += 1 })
        #expect(entered == 1)
        #expect(bound.contains("move tree(\(host)/unified/me/swiftainer-c1) onto /sys/fs/cgroup"), "\(bound)")
        #expect(!bound.contains { $0.contains("cgroup2") })
    }
}
