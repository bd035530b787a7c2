/// The OCI runtime spec's config.json (github.com/opencontainers/runtime-spec, config.md and
/// config-linux.md). Property names are the spec's JSON names; everything the spec makes
/// optional is optional here, so any conforming bundle decodes.
public struct Spec: Codable, Equatable, Sendable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var hooks: Hooks?
    public var annotations: [String: String]?
    public var linux: Linux?

    public init(ociVersion: String = Spec.version, process: Process? = nil, root: Root? = nil, hostname: String? = nil,
                mounts: [Mount]? = nil, annotations: [String: String]? = nil, linux: Linux? = nil) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.mounts = mounts
        self.annotations = annotations
        self.linux = linux
    }

    /// The runtime-spec version this runtime implements.
    public static let version = "1.0.2"
}

public struct Process: Codable, Equatable, Sendable {
    public var terminal: Bool?
    public var consoleSize: ConsoleSize?
    public var user: User
    public var args: [String]?
    public var env: [String]?
    public var cwd: String
    public var capabilities: Capabilities?
    public var rlimits: [Rlimit]?
    public var noNewPrivileges: Bool?
    public var apparmorProfile: String?
    public var oomScoreAdj: Int?
    public var selinuxLabel: String?

    public init(terminal: Bool? = nil, user: User = User(), args: [String], env: [String], cwd: String = "/",
                capabilities: Capabilities? = nil, rlimits: [Rlimit]? = nil, noNewPrivileges: Bool? = nil) {
        self.terminal = terminal
        self.user = user
        self.args = args
        self.env = env
        self.cwd = cwd
        self.capabilities = capabilities
        self.rlimits = rlimits
        self.noNewPrivileges = noNewPrivileges
    }
}

public struct ConsoleSize: Codable, Equatable, Sendable {
    public var height: UInt16
    public var width: UInt16
    public init(height: UInt16, width: UInt16) { self.height = height; self.width = width }
}

public struct User: Codable, Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var umask: UInt32?
    public var additionalGids: [UInt32]?
    public var username: String?
    public init(uid: UInt32 = 0, gid: UInt32 = 0, additionalGids: [UInt32]? = nil) {
        self.uid = uid
        self.gid = gid
        self.additionalGids = additionalGids
    }
}

public struct Capabilities: Codable, Equatable, Sendable {
    public var bounding: [String]?
    public var effective: [String]?
    public var inheritable: [String]?
    public var permitted: [String]?
    public var ambient: [String]?
    public init(all: [String]) {
        bounding = all; effective = all; inheritable = all; permitted = all; ambient = nil
    }
}

public struct Rlimit: Codable, Equatable, Sendable {
    public var type: String
    public var hard: UInt64
    public var soft: UInt64
    public init(type: String, hard: UInt64, soft: UInt64) { self.type = type; self.hard = hard; self.soft = soft }
}

public struct Root: Codable, Equatable, Sendable {
    public var path: String
    public var readonly: Bool?
    public init(path: String, readonly: Bool? = nil) { self.path = path; self.readonly = readonly }
}

public struct Mount: Codable, Equatable, Sendable {
    public var destination: String
    public var type: String?
    public var source: String?
    public var options: [String]?
    public init(destination: String, type: String?, source: String?, options: [String]? = nil) {
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options
    }
}

public struct Hook: Codable, Equatable, Sendable {
    public var path: String
    public var args: [String]?
    public var env: [String]?
    public var timeout: Int?

    public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout
    }
}

public struct Hooks: Codable, Equatable, Sendable {
    public var prestart: [Hook]?
    public var createRuntime: [Hook]?
    public var createContainer: [Hook]?
    public var startContainer: [Hook]?
    public var poststart: [Hook]?
    public var poststop: [Hook]?

    public init() {}
}

public struct Linux: Codable, Equatable, Sendable {
    public var namespaces: [Namespace]?
    public var uidMappings: [IDMapping]?
    public var gidMappings: [IDMapping]?
    public var devices: [Device]?
    public var cgroupsPath: String?
    public var resources: Resources?
    public var rootfsPropagation: String?
    public var seccomp: Seccomp?
    public var sysctl: [String: String]?
    public var maskedPaths: [String]?
    public var readonlyPaths: [String]?
    public var mountLabel: String?

    public init(namespaces: [Namespace]? = nil, maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil) {
        self.namespaces = namespaces
        self.maskedPaths = maskedPaths
        self.readonlyPaths = readonlyPaths
    }
}

public struct Namespace: Codable, Equatable, Sendable {
    /// pid, network, mount, ipc, uts, user, cgroup, time
    public var type: String
    public var path: String?
    public init(type: String, path: String? = nil) { self.type = type; self.path = path }
}

public struct IDMapping: Codable, Equatable, Sendable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }
}

public struct Device: Codable, Equatable, Sendable {
    public var type: String
    public var path: String
    public var major: Int64?
    public var minor: Int64?
    public var fileMode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public init(type: String, path: String, major: Int64, minor: Int64, fileMode: UInt32 = 0o666) {
        self.type = type
        self.path = path
        self.major = major
        self.minor = minor
        self.fileMode = fileMode
        self.uid = 0
        self.gid = 0
    }
}

public struct Resources: Codable, Equatable, Sendable {
    public var devices: [DeviceRule]?
    public var memory: MemoryResources?
    public var cpu: CPUResources?
    public var pids: PidsResources?
    public var blockIO: BlockIO?
    public var network: NetworkResources?
    public var hugepageLimits: [HugepageLimit]?
    public var rdma: [String: RdmaLimit]?
    /// cgroup v2 files by name, written as given.
    public var unified: [String: String]?
    public init() {}

    /// Zero read as "not set", as runc reads it: containerd's shim sends `update` every field,
    /// the ones nobody asked for as 0 (a CFS period of 0 is EINVAL to the kernel; a memory
    /// limit of 0 would be a limit of nothing). Negative values keep their meaning (unlimited).
    public var withoutZeroes: Resources {
        var result = self
        func unsetIfZero<T: BinaryInteger>(_ value: inout T?) { if value == 0 { value = nil } }
        if var memory = result.memory {
            unsetIfZero(&memory.limit); unsetIfZero(&memory.reservation); unsetIfZero(&memory.swap)
            unsetIfZero(&memory.kernel); unsetIfZero(&memory.kernelTCP)
            result.memory = memory
        }
        if var cpu = result.cpu {
            unsetIfZero(&cpu.shares); unsetIfZero(&cpu.quota); unsetIfZero(&cpu.period)
            unsetIfZero(&cpu.realtimeRuntime); unsetIfZero(&cpu.realtimePeriod)
            if cpu.cpus?.isEmpty == true { cpu.cpus = nil }
            if cpu.mems?.isEmpty == true { cpu.mems = nil }
            result.cpu = cpu
        }
        if result.pids?.limit == 0 { result.pids = nil }
        return result
    }

    /// These limits with what `update` names replacing them, field by field (an update that
    /// names only a memory limit keeps the cpu shares, and the swap limit).
    public func updated(with update: Resources) -> Resources {
        /// The update's value where it names one.
        func take<T>(_ target: inout T?, _ value: T?) { if let value { target = value } }
        var result = self
        if let memory = update.memory {
            var merged = result.memory ?? MemoryResources()
            take(&merged.limit, memory.limit); take(&merged.reservation, memory.reservation); take(&merged.swap, memory.swap)
            take(&merged.kernel, memory.kernel); take(&merged.kernelTCP, memory.kernelTCP)
            take(&merged.swappiness, memory.swappiness); take(&merged.disableOOMKiller, memory.disableOOMKiller)
            result.memory = merged
        }
        if let cpu = update.cpu {
            var merged = result.cpu ?? CPUResources()
            take(&merged.shares, cpu.shares); take(&merged.quota, cpu.quota); take(&merged.period, cpu.period)
            take(&merged.cpus, cpu.cpus); take(&merged.mems, cpu.mems)
            take(&merged.realtimeRuntime, cpu.realtimeRuntime); take(&merged.realtimePeriod, cpu.realtimePeriod)
            result.cpu = merged
        }
        if let pids = update.pids { result.pids = pids }
        if let devices = update.devices { result.devices = devices }
        if let blockIO = update.blockIO { result.blockIO = blockIO }
        if let network = update.network { result.network = network }
        if let hugepageLimits = update.hugepageLimits { result.hugepageLimits = hugepageLimits }
        if let rdma = update.rdma { result.rdma = rdma }
        if let unified = update.unified { result.unified = (result.unified ?? [:]).merging(unified) { $1 } }
        return result
    }
}

public struct DeviceRule: Codable, Equatable, Sendable {
    public var allow: Bool
    public var type: String?
    public var major: Int64?
    public var minor: Int64?
    public var access: String?
    public init(allow: Bool, type: String?, major: Int64?, minor: Int64?, access: String?) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }
}

public struct MemoryResources: Codable, Equatable, Sendable {
    public var limit: Int64?
    public var reservation: Int64?
    public var swap: Int64?
    /// Deprecated by the kernel; refused rather than ignored.
    public var kernel: Int64?
    public var kernelTCP: Int64?
    public var swappiness: UInt64?
    public var disableOOMKiller: Bool?
    public init(limit: Int64? = nil, swap: Int64? = nil) { self.limit = limit; self.swap = swap }
}

public struct CPUResources: Codable, Equatable, Sendable {
    public var shares: UInt64?
    public var quota: Int64?
    public var period: UInt64?
    public var realtimeRuntime: Int64?
    public var realtimePeriod: UInt64?
    public var cpus: String?
    public var mems: String?
    public init() {}
}

public struct BlockIO: Codable, Equatable, Sendable {
    public struct WeightDevice: Codable, Equatable, Sendable {
        public var major: Int64
        public var minor: Int64
        public var weight: UInt16?
        public var leafWeight: UInt16?
        public init(major: Int64, minor: Int64, weight: UInt16? = nil, leafWeight: UInt16? = nil) {
            self.major = major; self.minor = minor; self.weight = weight; self.leafWeight = leafWeight
        }
    }
    public struct ThrottleDevice: Codable, Equatable, Sendable {
        public var major: Int64
        public var minor: Int64
        public var rate: UInt64
        public init(major: Int64, minor: Int64, rate: UInt64) { self.major = major; self.minor = minor; self.rate = rate }
    }
    public var weight: UInt16?
    public var leafWeight: UInt16?
    public var weightDevice: [WeightDevice]?
    public var throttleReadBpsDevice: [ThrottleDevice]?
    public var throttleWriteBpsDevice: [ThrottleDevice]?
    public var throttleReadIOPSDevice: [ThrottleDevice]?
    public var throttleWriteIOPSDevice: [ThrottleDevice]?
    public init() {}

    /// Whether this asks for anything: a weight of 0 means "not set" (Docker sends
    /// `"weight": 0` for every container; runc writes nothing for it).
    public var isEmpty: Bool {
        (weight ?? 0) == 0 && (leafWeight ?? 0) == 0 && (weightDevice ?? []).isEmpty
            && (throttleReadBpsDevice ?? []).isEmpty && (throttleWriteBpsDevice ?? []).isEmpty
            && (throttleReadIOPSDevice ?? []).isEmpty && (throttleWriteIOPSDevice ?? []).isEmpty
    }
}

public struct NetworkResources: Codable, Equatable, Sendable {
    public struct InterfacePriority: Codable, Equatable, Sendable {
        public var name: String
        public var priority: UInt32
        public init(name: String, priority: UInt32) { self.name = name; self.priority = priority }
    }
    public var classID: UInt32?
    public var priorities: [InterfacePriority]?
    public init(classID: UInt32? = nil, priorities: [InterfacePriority]? = nil) { self.classID = classID; self.priorities = priorities }
}

public struct HugepageLimit: Codable, Equatable, Sendable {
    public var pageSize: String
    public var limit: UInt64
    public init(pageSize: String, limit: UInt64) { self.pageSize = pageSize; self.limit = limit }
}

public struct RdmaLimit: Codable, Equatable, Sendable {
    public var hcaHandles: UInt32?
    public var hcaObjects: UInt32?
    public init(hcaHandles: UInt32?, hcaObjects: UInt32?) { self.hcaHandles = hcaHandles; self.hcaObjects = hcaObjects }
}

public struct PidsResources: Codable, Equatable, Sendable {
    public var limit: Int64
    public init(limit: Int64) { self.limit = limit }
}

/// linux.seccomp in the OCI format (not Docker's profile format).
public struct Seccomp: Codable, Equatable, Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var flags: [String]?
    public var syscalls: [SeccompSyscall]?
    /// Seccomp user notification: the unix socket the runtime sends the filter's notify fd to,
    /// with the container's process state, when a rule's action is SCMP_ACT_NOTIFY.
    public var listenerPath: String?
    /// Opaque text for the listener, sent along (`metadata` in the process state).
    public var listenerMetadata: String?

    public init(defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil,
                flags: [String]? = nil, syscalls: [SeccompSyscall]? = nil) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.flags = flags
        self.syscalls = syscalls
    }
}

public struct SeccompSyscall: Codable, Equatable, Sendable {
    public var names: [String]
    public var action: String
    public var errnoRet: UInt32?
    public var args: [SeccompArg]?

    public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [SeccompArg]? = nil) {
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.args = args
    }
}

public struct SeccompArg: Codable, Equatable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64?
    public var op: String

    public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: String) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}
