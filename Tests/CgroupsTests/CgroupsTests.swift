#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI
import TestSupport
import Testing
@testable import Cgroups

/// A directory shaped like cgroupfs, so the v2 and v1 paths run without root or a kernel
/// (youki's approach). Files the kernel would create are created here as plain files.
final class FakeCgroupFS {
    private let directory = TemporaryDirectory(prefix: "swiftainer-cgfs")
    var root: String { directory.path }

    init(mountinfo: String, cgroup: String, files: [String: String]) throws {
        try Files.makeDirectories(root + "/proc/self")
        try Files.writeAtomically(root + "/proc/self/mountinfo", mountinfo)
        try Files.writeAtomically(root + "/proc/self/cgroup", cgroup)
        for (path, content) in files {
            try Files.makeDirectories(Files.dirname(of: root + path))
            try Files.writeAtomically(root + path, content)
        }
    }

    func read(_ path: String) -> String? { try? Files.readString(root + path) }
}

/// 64M memory (128M with swap), 10 pids, half a CPU, and CPU 1 or 0: the limits both drivers are checked with.
func sampleResources(cpus: String) -> Resources {
    var resources = Resources()
    resources.memory = MemoryResources(limit: 64 << 20, swap: 128 << 20)
    resources.pids = PidsResources(limit: 10)
    var cpu = CPUResources()
    cpu.quota = 50_000
    cpu.period = 100_000
    cpu.cpus = cpus
    resources.cpu = cpu
    return resources
}

let unifiedMountinfo = "25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
let hybridMountinfo = """
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

"""
let hybridMembership = "8:pids:/\n4:memory:/machine/me\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n"

@Suite struct CgroupLayoutTests {
    @Test func detectsAPureV2Host() throws {
        let fs = try FakeCgroupFS(mountinfo: unifiedMountinfo, cgroup: "0::/user.slice/session\n",
                                  files: ["/sys/fs/cgroup/user.slice/session/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        #expect(layout.usesUnified)
        #expect(layout.unified == CgroupLayout.Hierarchy(mountPoint: "/sys/fs/cgroup", ownPath: "/user.slice/session"))
        #expect(layout.unifiedControllers.isSuperset(of: ["memory", "pids", "cpu"]))
    }

    /// A rootless user's leaf below its delegated subtree, before the subtree hands controllers
    /// down: still a v2 host (no v1 hierarchy has them).
    @Test func aPureV2HostIsV2FromALeafWithoutControllers() throws {
        let fs = try FakeCgroupFS(mountinfo: unifiedMountinfo, cgroup: "0::/user.slice/user@1000.service/session\n",
                                  files: ["/sys/fs/cgroup/user.slice/user@1000.service/session/cgroup.controllers": "\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        #expect(layout.usesUnified && layout.unifiedControllers.isEmpty)
    }

    @Test func detectsThisKindOfHybridHost() throws {
        let fs = try FakeCgroupFS(mountinfo: hybridMountinfo, cgroup: hybridMembership,
                                  files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        #expect(!layout.usesUnified)
        #expect(layout.legacy["memory"] == CgroupLayout.Hierarchy(mountPoint: "/sys/fs/cgroup/memory", ownPath: "/machine/me"))
        #expect(layout.legacy["pids"]?.ownPath == "/")
        #expect(layout.legacy["cpuacct"]?.mountPoint == "/sys/fs/cgroup/cpuacct")
    }

    /// linux.cgroupsPath as the runtime spec reads it: absolute from each hierarchy's root
    /// (Docker passes "/docker/<id>" with its own parent in it), relative below our cgroup.
    @Test func absolutePathsAreFromTheRootRelativeOnesBelowOurs() throws {
        let fs = try FakeCgroupFS(mountinfo: hybridMountinfo, cgroup: hybridMembership,
                                  files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        let absolute = ContainerCgroup(layout: layout, relativePath: "/machine/me/docker/abc").directories()
        #expect(absolute["memory"] == "/sys/fs/cgroup/memory/machine/me/docker/abc")
        #expect(absolute["pids"] == "/sys/fs/cgroup/pids/machine/me/docker/abc")
        let relative = ContainerCgroup(layout: layout, relativePath: "swiftainer-abc").directories()
        #expect(relative["memory"] == "/sys/fs/cgroup/memory/machine/me/swiftainer-abc")
        #expect(relative["pids"] == "/sys/fs/cgroup/pids/swiftainer-abc")
    }

    @Test func cgroupNamespaceRootsArePathsRelativeToTheMount() {
        let mountinfo = "35 31 0:32 /machine/me /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        let layout = CgroupLayout.parse(mountinfo: mountinfo, cgroup: "4:memory:/machine/me/sub\n")
        #expect(layout.legacy["memory"]?.ownPath == "/sub")
    }

    @Test func sharesConvertToWeightsLikeRunc() {
        #expect(ContainerCgroup.weight(fromShares: 2) == 1)
        #expect(ContainerCgroup.weight(fromShares: 1024) == 39)
        #expect(ContainerCgroup.weight(fromShares: 262_144) == 10_000)
    }
}

@Suite struct CgroupV2Tests {
    func resources() -> Resources {
        var resources = sampleResources(cpus: "0")
        resources.cpu?.shares = 512
        return resources
    }

    @Test func writesEveryLimitAndDelegatesControllers() throws {
        let fs = try FakeCgroupFS(mountinfo: unifiedMountinfo, cgroup: "0::/\n",
                                  files: ["/sys/fs/cgroup/cgroup.controllers": "cpuset cpu memory pids\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        let group = ContainerCgroup(layout: layout, relativePath: "swiftainer-abc", fsRoot: fs.root)
        try group.create(resources: resources(), pid: 4242)
        let dir = "/sys/fs/cgroup/swiftainer-abc"
        #expect(fs.read("/sys/fs/cgroup/cgroup.subtree_control") == "+memory +pids +cpu +cpuset")
        #expect(fs.read(dir + "/memory.max") == "67108864")
        #expect(fs.read(dir + "/memory.swap.max") == "67108864") // v2 counts swap alone: 128M - 64M
        #expect(fs.read(dir + "/pids.max") == "10")
        #expect(fs.read(dir + "/cpu.max") == "50000 100000")
        #expect(fs.read(dir + "/cpu.weight") == "20")
        #expect(fs.read(dir + "/cpuset.cpus") == "0")
        #expect(fs.read(dir + "/cgroup.procs") == "4242")
    }

    @Test func readsStatsAndOOMKillsFromV2Files() throws {
        let dir = "/sys/fs/cgroup/swiftainer-abc"
        let fs = try FakeCgroupFS(mountinfo: unifiedMountinfo, cgroup: "0::/\n", files: [
            "/sys/fs/cgroup/cgroup.controllers": "cpu memory pids\n",
            dir + "/memory.current": "10485760\n", dir + "/memory.max": "67108864\n",
            dir + "/memory.stat": "anon 1\ninactive_file 1048576\n", dir + "/pids.current": "3\n",
            dir + "/cpu.stat": "usage_usec 1500000\nuser_usec 1000000\n",
            dir + "/memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        ])
        let group = ContainerCgroup(layout: try CgroupLayout.detect(fsRoot: fs.root), relativePath: "swiftainer-abc", fsRoot: fs.root)
        let stats = group.stats()
        #expect(stats == CgroupStats(cpuUsageNanoseconds: 1_500_000_000, memoryUsage: 9_437_184, memoryLimit: 67_108_864, pids: 3, oomKills: 1))
        #expect(group.oomKillCount() == 1)
    }

    @Test func unlimitedValuesAreWrittenAsMax() throws {
        let fs = try FakeCgroupFS(mountinfo: unifiedMountinfo, cgroup: "0::/\n", files: ["/sys/fs/cgroup/cgroup.controllers": "cpu memory pids\n"])
        var resources = Resources()
        resources.memory = MemoryResources(limit: -1, swap: -1)
        resources.pids = PidsResources(limit: -1)
        let group = ContainerCgroup(layout: try CgroupLayout.detect(fsRoot: fs.root), relativePath: "swiftainer-x", fsRoot: fs.root)
        try group.create(resources: resources, pid: 1)
        #expect(fs.read("/sys/fs/cgroup/swiftainer-x/memory.max") == "max")
        #expect(fs.read("/sys/fs/cgroup/swiftainer-x/memory.swap.max") == "max")
        #expect(fs.read("/sys/fs/cgroup/swiftainer-x/pids.max") == "max")
        // 0 is "not set", as runc reads it: a new group keeps the kernel's default (max).
        resources.pids = PidsResources(limit: 0)
        let unset = ContainerCgroup(layout: try CgroupLayout.detect(fsRoot: fs.root), relativePath: "swiftainer-y", fsRoot: fs.root)
        try unset.create(resources: resources, pid: 1)
        #expect(fs.read("/sys/fs/cgroup/swiftainer-y/pids.max") == nil)
    }
}

@Suite struct CgroupV1Tests {
    @Test func writesLimitsIntoEachHierarchyBelowOurOwnCgroup() throws {
        let fs = try FakeCgroupFS(mountinfo: hybridMountinfo, cgroup: hybridMembership, files: [
            "/sys/fs/cgroup/unified/cgroup.controllers": "\n",
            "/sys/fs/cgroup/cpuset/cpuset.cpus": "0-1\n", "/sys/fs/cgroup/cpuset/cpuset.mems": "0\n",
        ])
        let resources = sampleResources(cpus: "1")
        let group = ContainerCgroup(layout: try CgroupLayout.detect(fsRoot: fs.root), relativePath: "swiftainer-abc", fsRoot: fs.root)
        try group.create(resources: resources, pid: 77)
        #expect(fs.read("/sys/fs/cgroup/memory/machine/me/swiftainer-abc/memory.limit_in_bytes") == "67108864")
        #expect(fs.read("/sys/fs/cgroup/memory/machine/me/swiftainer-abc/memory.memsw.limit_in_bytes") == "134217728")
        #expect(fs.read("/sys/fs/cgroup/pids/swiftainer-abc/pids.max") == "10")
        #expect(fs.read("/sys/fs/cgroup/cpu/swiftainer-abc/cpu.cfs_quota_us") == "50000")
        #expect(fs.read("/sys/fs/cgroup/cpu/swiftainer-abc/cpu.cfs_period_us") == "100000")
        #expect(fs.read("/sys/fs/cgroup/cpuset/swiftainer-abc/cpuset.cpus") == "1")
        #expect(fs.read("/sys/fs/cgroup/cpuset/swiftainer-abc/cpuset.mems") == "0") // inherited: a v1 cpuset needs both
        for hierarchy in ["memory/machine/me", "pids", "cpu", "cpuacct", "cpuset"] {
            #expect(fs.read("/sys/fs/cgroup/\(hierarchy)/swiftainer-abc/cgroup.procs") == "77", "\(hierarchy)")
        }
    }
}

/// Every limit of linux.resources is written where the host's cgroup version keeps it, or
/// refused by name: a container never starts without a limit it asked for.
@Suite struct ResourceCoverageTests {
    static let extraMountinfo = hybridMountinfo
        + "36 31 0:33 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
        + "37 31 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio\n"

    func error(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test func v1WritesReservationSwappinessOOMBlockIOAndNetworkAndRefusesTheRest() throws {
        let fs = try FakeCgroupFS(mountinfo: Self.extraMountinfo, cgroup: hybridMembership + "9:blkio:/\n10:net_cls,net_prio:/\n",
                                  files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        var resources = Resources()
        var memory = MemoryResources(limit: 64 << 20)
        memory.reservation = 32 << 20
        memory.swappiness = 10
        memory.disableOOMKiller = true
        resources.memory = memory
        var io = BlockIO()
        io.weight = 500
        io.throttleReadBpsDevice = [.init(major: 8, minor: 0, rate: 1_048_576)]
        resources.blockIO = io
        resources.network = NetworkResources(classID: 0x100001, priorities: [.init(name: "eth0", priority: 5)])
        let group = ContainerCgroup(layout: layout, relativePath: "swiftainer-abc", fsRoot: fs.root)
        try group.prepare(resources: resources)
        let memoryDir = "/sys/fs/cgroup/memory/machine/me/swiftainer-abc"
        #expect(fs.read(memoryDir + "/memory.soft_limit_in_bytes") == "\(32 << 20)")
        #expect(fs.read(memoryDir + "/memory.swappiness") == "10")
        #expect(fs.read(memoryDir + "/memory.oom_control") == "1")
        #expect(fs.read("/sys/fs/cgroup/blkio/swiftainer-abc/blkio.weight") == "500")
        #expect(fs.read("/sys/fs/cgroup/blkio/swiftainer-abc/blkio.throttle.read_bps_device") == "8:0 1048576")
        #expect(fs.read("/sys/fs/cgroup/net_cls,net_prio/swiftainer-abc/net_cls.classid") == "1048577")
        #expect(fs.read("/sys/fs/cgroup/net_cls,net_prio/swiftainer-abc/net_prio.ifpriomap") == "eth0 5")

        func refusal(_ change: (inout Resources) -> Void) -> String {
            var resources = Resources()
            change(&resources)
            return error { try ContainerCgroup(layout: layout, relativePath: "swiftainer-x", fsRoot: fs.root).prepare(resources: resources) }
        }
        let refused1 = refusal { $0.unified = ["memory.high": "1"] }
        #expect(refused1.contains("unified needs cgroup v2"), "\(refused1)")
        let refused2 = refusal { $0.rdma = ["mlx5_0": RdmaLimit(hcaHandles: 1, hcaObjects: nil)] }
        #expect(refused2.contains("rdma controller, which this host does not mount"), "\(refused2)")
        let refused3 = refusal { $0.hugepageLimits = [HugepageLimit(pageSize: "2MB", limit: 1)] }
        #expect(refused3.contains("hugetlb controller"), "\(refused3)")
        let refused4 = refusal { $0.memory = MemoryResources(); $0.memory?.kernel = 1 }
        #expect(refused4.contains("memory.kernel"), "\(refused4)")
        let refused5 = refusal { $0.memory = MemoryResources(); $0.memory?.swappiness = 101 }
        #expect(refused5.contains("out of range"), "\(refused5)")
    }

    @Test func v2WritesLowIOHugetlbAndUnifiedAndRefusesWhatV2Lacks() throws {
        let fs = try FakeCgroupFS(mountinfo: unifiedMountinfo, cgroup: "0::/\n",
                                  files: ["/sys/fs/cgroup/cgroup.controllers": "cpu io memory pids hugetlb\n"])
        let layout = try CgroupLayout.detect(fsRoot: fs.root)
        var resources = Resources()
        var memory = MemoryResources(limit: 64 << 20)
        memory.reservation = 16 << 20
        resources.memory = memory
        var io = BlockIO()
        io.weight = 300
        io.throttleWriteIOPSDevice = [.init(major: 253, minor: 1, rate: 100)]
        resources.blockIO = io
        resources.hugepageLimits = [HugepageLimit(pageSize: "2MB", limit: 4 << 20)]
        resources.unified = ["memory.high": "50000000"]
        let group = ContainerCgroup(layout: layout, relativePath: "swiftainer-abc", fsRoot: fs.root)
        try group.prepare(resources: resources)
        let dir = "/sys/fs/cgroup/swiftainer-abc"
        #expect(fs.read("/sys/fs/cgroup/cgroup.subtree_control") == "+memory +pids +cpu +io +hugetlb")
        #expect(fs.read(dir + "/memory.low") == "\(16 << 20)")
        #expect(fs.read(dir + "/io.weight") == "default 300")
        #expect(fs.read(dir + "/io.max") == "253:1 wiops=100")
        #expect(fs.read(dir + "/hugetlb.2MB.max") == "\(4 << 20)")
        #expect(fs.read(dir + "/memory.high") == "50000000")

        func refusal(_ change: (inout Resources) -> Void) -> String {
            var resources = Resources()
            change(&resources)
            return error { try ContainerCgroup(layout: layout, relativePath: "swiftainer-y", fsRoot: fs.root).prepare(resources: resources) }
        }
        let refused6 = refusal { $0.memory = MemoryResources(); $0.memory?.swappiness = 0 }
        #expect(refused6.contains("swappiness"), "\(refused6)")
        let refused7 = refusal { $0.memory = MemoryResources(); $0.memory?.disableOOMKiller = true }
        #expect(refused7.contains("OOM killer"), "\(refused7)")
        let refused8 = refusal { $0.network = NetworkResources(classID: 1, priorities: nil) }
        #expect(refused8.contains("cgroup v1 controller"), "\(refused8)")
        let refused9 = refusal { $0.unified = ["../escape": "1"] }
        #expect(refused9.contains("not a cgroup file name"), "\(refused9)")
        let refused10 = refusal { $0.cpu = CPUResources(); $0.cpu?.realtimeRuntime = 1 }
        #expect(refused10.contains("real-time"), "\(refused10)")
    }
}

@Suite struct DockerDefaultsTests {
    /// Docker sends `"blockIO": {"weight": 0}` for every container: 0 means "not set", as runc
    /// reads it — neither the blkio controller nor a weight file is asked for.
    @Test func aZeroBlockIOWeightAsksForNothing() throws {
        let fs = try FakeCgroupFS(mountinfo: hybridMountinfo, cgroup: hybridMembership,
                                  files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"])
        var resources = Resources()
        var io = BlockIO()
        io.weight = 0
        resources.blockIO = io
        resources.network = NetworkResources(classID: 0)
        let group = ContainerCgroup(layout: try CgroupLayout.detect(fsRoot: fs.root), relativePath: "swiftainer-abc", fsRoot: fs.root)
        #expect(try group.requiredControllers(resources).isEmpty)
        try group.prepare(resources: resources)
    }
}

extension DockerDefaultsTests {
    /// containerd's `update` sends every field, zero where nothing was asked: only what is set
    /// reaches the files (a CFS period of 0 is EINVAL; a memory limit of 0 would be nothing).
    @Test func zeroesInAnUpdateAreNotSet() throws {
        let fs = try FakeCgroupFS(mountinfo: hybridMountinfo, cgroup: hybridMembership,
                                  files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"])
        let group = ContainerCgroup(layout: try CgroupLayout.detect(fsRoot: fs.root), relativePath: "swiftainer-abc", fsRoot: fs.root)
        try group.prepare(resources: nil)
        var resources = Resources()
        resources.memory = MemoryResources(limit: 96 << 20, swap: 0)
        resources.memory?.reservation = 48 << 20
        var cpu = CPUResources()
        cpu.shares = 0
        cpu.quota = 0
        cpu.period = 0
        cpu.cpus = ""
        resources.cpu = cpu
        resources.pids = PidsResources(limit: 40)
        try group.update(resources)
        #expect(fs.read("/sys/fs/cgroup/memory/machine/me/swiftainer-abc/memory.limit_in_bytes") == "\(96 << 20)")
        #expect(fs.read("/sys/fs/cgroup/memory/machine/me/swiftainer-abc/memory.soft_limit_in_bytes") == "\(48 << 20)") // not dropped with limit and swap
        #expect(fs.read("/sys/fs/cgroup/pids/swiftainer-abc/pids.max") == "40")
        #expect(fs.read("/sys/fs/cgroup/cpu/swiftainer-abc/cpu.cfs_period_us") == nil)
        #expect(fs.read("/sys/fs/cgroup/cpu/swiftainer-abc/cpu.shares") == nil)
    }
}
