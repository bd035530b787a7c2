import Cgroups
import Images
import Netlink
import Network
import LinuxKit
import OCI
import Runtime

/// `swiftainer run` flags, parsed.
public struct RunOptions {
    public enum NetworkMode: String, Equatable { case bridge, none, host }
    /// --cgroupns: Docker's default is a private cgroup namespace on cgroup v2 hosts, the
    /// host's on v1 (nil: that default).
    public enum CgroupNamespaceMode: String, Equatable { case host, `private` }
    public var cgroupNamespace: CgroupNamespaceMode?
    /// --userns: the host's (Docker's only mode without a daemon-wide remap), or rootless
    /// Podman's keep-id — the user's uid and gid inside as outside, or the ones it names.
    public enum UserNamespaceMode: Equatable {
        case host
        case keepID(uid: UInt32?, gid: UInt32?)
    }
    public var userNamespace: UserNamespaceMode = .host

    public var image: String = ""
    public var command: [String] = []
    /// --pull missing|always|never (Docker's default: missing).
    public var pull: Engine.PullPolicy = .missing
    /// --entrypoint: replaces the image's Entrypoint and drops its Cmd ("" clears it).
    public var entrypoint: String?
    public var name: String?
    public var autoRemove = false
    public var interactive = false
    public var tty = false
    public var env: [String] = []
    public var workingDir: String?
    public var hostname: String?
    public var network: NetworkMode = .bridge
    /// --ip (bridge only), --dns, -p [HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTO].
    public var ipAddress: String?
    /// --ip6: on a user-defined network made with --ipv6.
    public var ip6Address: String?
    public var dns: [String] = []
    public var publish: [String] = []
    public var noPivot = false
    /// --init: PID 1 is a reaper that forwards signals to the command (Docker's tini).
    public var initProcess = false
    public var detach = false
    /// `-u USER[:GROUP]`, resolved against the image's /etc/passwd and /etc/group.
    public var user: String?
    /// `-v HOSTDIR:CTRPATH[:ro]` and `--tmpfs PATH[:OPTIONS]`.
    public var volumes: [String] = []
    public var tmpfs: [String] = []

    public enum SeccompChoice: Equatable { case builtIn, unconfined, file(String) }
    public var seccomp: SeccompChoice = .builtIn
    public var noNewPrivileges = false
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var privileged = false
    public var readOnly = false

    /// Resource limits (Docker's flags). Memory in bytes; memorySwap is memory+swap, -1 unlimited.
    public var memory: Int64?
    public var memorySwap: Int64?
    public var pidsLimit: Int64?
    /// --cpus as the CFS quota for a 100 ms period (FlagValues.cpuQuota).
    public var cpuQuota: Int64?
    public var cpuShares: UInt64?
    public var cpusetCpus: String?

    // Docker's other `run` flags, by what they change (RunFlagsSpec.swift applies them).
    /// -l/--label-file, --annotation, --cidfile, --stop-signal, --stop-timeout.
    public var labels: [String: String] = [:]
    public var annotations: [String: String] = [:]
    public var cidFile: String?
    public var stopSignal: String?
    public var stopTimeout: Int?
    /// -q: no pull progress. --platform: the image must be this OS/architecture.
    public var quiet = false
    public var platform: String?
    /// The process: --domainname, --group-add, --ulimit, --sysctl, --oom-score-adj.
    public var domainname: String?
    public var groupAdd: [String] = []
    public var ulimits: [Rlimit] = []
    public var sysctls: [String: String] = [:]
    public var oomScoreAdj: Int?
    /// --ipc, --pid, --uts (nil: Docker's default, a namespace of its own), --network
    /// container:NAME, --cgroup-parent.
    public enum NamespaceMode: Equatable { case `private`, shareable, host, container(String) }
    public var ipc: NamespaceMode?
    public var pid: NamespaceMode?
    public var uts: NamespaceMode?
    public var networkContainer: String?
    /// --network NAME of a user-defined network (`network` is then .bridge: a bridge of its
    /// own), and its --network-alias names.
    public var networkName: String?
    public var networkAliases: [String] = []
    public var cgroupParent: String?
    /// Memory and CPU beyond -m/--cpus/-c/--cpuset-cpus.
    public var memoryReservation: Int64?
    public var memorySwappiness: Int64?
    public var oomKillDisable = false
    public var cpuPeriod: Int64?
    public var cpuQuotaMicroseconds: Int64?
    public var cpuRealtimePeriod: Int64?
    public var cpuRealtimeRuntime: Int64?
    public var cpusetMems: String?
    /// Block IO: --blkio-weight, and per device (by major:minor) weights and throttles.
    public var blkioWeight: UInt16?
    public var blkioWeightDevices: [BlockIO.WeightDevice] = []
    public var readBps: [BlockIO.ThrottleDevice] = []
    public var writeBps: [BlockIO.ThrottleDevice] = []
    public var readIOPS: [BlockIO.ThrottleDevice] = []
    public var writeIOPS: [BlockIO.ThrottleDevice] = []
    /// --device HOST[:CONTAINER[:rwm]] (resolved), --device-cgroup-rule, --shm-size.
    public var devices: [(device: Device, access: String)] = []
    public var deviceCgroupRules: [DeviceRule] = []
    public var shmSize: Int64?
    /// Name resolution: --add-host NAME:IP (IP may be host-gateway), --dns-option, --dns-search.
    public var addHosts: [(name: String, address: String)] = []
    public var dnsOptions: [String] = []
    public var dnsSearch: [String] = []
    /// --mount, parsed.
    public var mounts: [Mount] = []
    /// --expose (container ports, "80/tcp") and -P: every exposed port (the image's and these)
    /// published on a random host port.
    public var expose: [String] = []
    public var publishAll = false
    /// --mac-address (six bytes) and --link-local-ip (169.254/16) for eth0 on the bridge.
    public var macAddress: [UInt8]?
    public var linkLocalIPs: [String] = []
    /// --link NAME[:ALIAS]: a hosts entry for a running container on the bridge (Docker's legacy).
    public var links: [(container: String, alias: String)] = []
    /// --volumes-from CONTAINER[:ro|rw]: that container's bind mounts and volumes.
    public var volumesFrom: [(container: String, readOnly: Bool?)] = []
    /// --log-driver/--log-opt, checked.
    public var logConfig = LogConfig.jsonFile
    /// --restart.
    public var restartPolicy = RestartPolicy.no
    /// --health-* (over the image's HEALTHCHECK) and --no-healthcheck.
    public var healthFlags: HealthConfig?
    public var noHealthcheck = false
    /// -a/--attach (the streams a foreground run shows or feeds), --sig-proxy, --detach-keys
    /// (ctrl-p ctrl-q unless given; empty: no detaching).
    public var attach = Engine.AttachStreams.all
    public var signalProxy = true
    public var detachKeys = DockerFlagValues.defaultDetachKeys

    /// linux.resources for these flags. Like Docker, a memory limit without --memory-swap
    /// allows as much swap again (memory+swap = 2 × memory).
    public func resources() throws -> Resources? {
        var resources = Resources()
        if let memory {
            guard memory >= 6 * 1024 * 1024 else { throw EngineError.invalidOption("--memory: the minimum is 6MB") }
            // Twice the limit is Docker's default swap; beyond Int64 it is unlimited anyway.
            let doubled = memory.multipliedReportingOverflow(by: 2)
            let defaultSwap = doubled.overflow ? -1 : doubled.partialValue
            var swap = memorySwap ?? defaultSwap
            if swap > 0 && swap < memory {
                throw EngineError.invalidOption("--memory-swap (\(swap)) must be at least --memory (\(memory)), or -1 for unlimited")
            }
            if swap == 0 { swap = defaultSwap }
            resources.memory = MemoryResources(limit: memory, swap: swap)
        } else if memorySwap != nil {
            throw EngineError.invalidOption("--memory-swap needs --memory")
        }
        if memoryReservation != nil || memorySwappiness != nil || oomKillDisable {
            var memory = resources.memory ?? MemoryResources()
            if let memoryReservation {
                if let limit = memory.limit, memoryReservation > limit {
                    throw EngineError.invalidOption("Minimum memory limit can not be less than memory reservation limit, see usage")
                }
                memory.reservation = memoryReservation
            }
            if let memorySwappiness, memorySwappiness >= 0 { memory.swappiness = UInt64(memorySwappiness) }
            if oomKillDisable { memory.disableOOMKiller = true }
            resources.memory = memory
        }
        if let pidsLimit { resources.pids = PidsResources(limit: pidsLimit) }
        if cpuQuota != nil && (cpuPeriod != nil || cpuQuotaMicroseconds != nil) {
            throw EngineError.invalidOption("Conflicting options: Nano CPUs and CPU Period (or CPU Quota) cannot both be set")
        }
        var cpu = CPUResources()
        if let cpuQuota {
            cpu.period = 100_000
            cpu.quota = cpuQuota
        }
        if let cpuPeriod { cpu.period = UInt64(cpuPeriod) }
        if let cpuQuotaMicroseconds { cpu.quota = cpuQuotaMicroseconds }
        if let cpuRealtimePeriod { cpu.realtimePeriod = UInt64(cpuRealtimePeriod) }
        if let cpuRealtimeRuntime { cpu.realtimeRuntime = cpuRealtimeRuntime }
        cpu.shares = cpuShares
        cpu.cpus = cpusetCpus
        cpu.mems = cpusetMems
        if cpu != CPUResources() { resources.cpu = cpu }
        var blockIO = BlockIO()
        blockIO.weight = blkioWeight
        if !blkioWeightDevices.isEmpty { blockIO.weightDevice = blkioWeightDevices }
        if !readBps.isEmpty { blockIO.throttleReadBpsDevice = readBps }
        if !writeBps.isEmpty { blockIO.throttleWriteBpsDevice = writeBps }
        if !readIOPS.isEmpty { blockIO.throttleReadIOPSDevice = readIOPS }
        if !writeIOPS.isEmpty { blockIO.throttleWriteIOPSDevice = writeIOPS }
        if blockIO != BlockIO() { resources.blockIO = blockIO }
        return resources == Resources() ? nil : resources
    }

    /// `-e` entries as Docker checks them: a variable needs a name ("=value", "=" and "" are
    /// refused with Docker's words).
    public static func validatedEnvironment(_ entries: [String]) throws -> [String] {
        for entry in entries where entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first?.isEmpty ?? true {
            throw EngineError.invalidOption("invalid environment variable: \(Printable.escaped(entry))")
        }
        return entries
    }

    /// `--security-opt` values, as Docker spells them.
    public mutating func addSecurityOption(_ option: String) throws {
        let (key, value) = option.contains("=") || option.contains(":")
            ? (String(option.prefix { $0 != "=" && $0 != ":" }), String(option.drop { $0 != "=" && $0 != ":" }.dropFirst()))
            : (option, "")
        switch key {
        case "seccomp":
            guard !value.isEmpty else { throw EngineError.invalidOption("--security-opt seccomp needs a value: a profile file or 'unconfined'") }
            seccomp = value == "unconfined" ? .unconfined : .file(value)
        case "no-new-privileges":
            guard let flag = ["": true, "true": true, "false": false][value] else {
                throw EngineError.invalidOption("--security-opt no-new-privileges takes true or false, not '\(value)'")
            }
            noNewPrivileges = flag
        default:
            throw EngineError.invalidOption("--security-opt '\(option)' is not supported (seccomp=FILE|unconfined, no-new-privileges)")
        }
    }

    /// The capability set after --privileged, --cap-drop and --cap-add (Docker's order: drops,
    /// then adds; ALL in either means every capability).
    public func capabilities() throws -> [String] {
        let everything = CapabilityNames.all.filter(CapabilityNames.isAvailable)
        if privileged { return everything }
        var set = CapabilityNames.dockerDefault
        for name in capDrop {
            if name.uppercased() == "ALL" { set = []; continue }
            guard let cap = CapabilityNames.canonical(name) else { throw EngineError.invalidOption("--cap-drop: unknown capability '\(name)'") }
            set.removeAll { $0 == cap }
        }
        for name in capAdd {
            if name.uppercased() == "ALL" { set = everything; continue }
            guard let cap = CapabilityNames.canonical(name) else { throw EngineError.invalidOption("--cap-add: unknown capability '\(name)'") }
            guard CapabilityNames.isAvailable(cap) else {
                throw EngineError.invalidOption("--cap-add: \(cap) is not in swiftainer's own bounding set, so it cannot be given to a container")
            }
            if !set.contains(cap) { set.append(cap) }
        }
        return set
    }

    /// A volume as given to -v, split and checked.
    public struct Volume: Equatable {
        /// A host path (a bind mount), a volume's name, or "" for an anonymous volume.
        public var source: String
        public var destination: String
        public var readOnly: Bool
        public var propagation: String
        public var nocopy = false

        public init(source: String, destination: String, readOnly: Bool, propagation: String) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
            self.propagation = propagation
        }

        public var isBind: Bool { source.hasPrefix("/") }
    }

    /// Docker's -v syntax: HOSTDIR:PATH[:OPTIONS] binds a host directory, NAME:PATH[:OPTIONS]
    /// mounts the named volume (made on first use), PATH alone an anonymous volume.
    public static func parseVolume(_ text: String) throws -> Volume {
        var parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { parts.insert("", at: 0) }
        guard (2...3).contains(parts.count), !parts[1].isEmpty, !(parts[0].isEmpty && text.contains(":")) else {
            throw EngineError.invalidOption("invalid volume specification '\(Printable.escaped(text))': use HOSTDIR:PATH[:ro], NAME:PATH[:ro] or PATH")
        }
        if !parts[0].isEmpty && !parts[0].hasPrefix("/") && !VolumeStore.isValidName(parts[0]) {
            throw EngineError.invalidOption("invalid volume '\(Printable.escaped(text))': \(VolumeError.invalidName(parts[0])); a host directory is an absolute path")
        }
        guard parts[1].hasPrefix("/"), parts[1] != "/" else {
            throw EngineError.invalidOption("invalid volume '\(Printable.escaped(text))': the container path must be absolute and not /")
        }
        var volume = Volume(source: parts[0], destination: parts[1], readOnly: false, propagation: "rprivate")
        // Docker's rule: at most one access mode and one propagation mode ("ro,rw" is refused,
        // not decided by whichever comes last).
        var access: [String] = [], propagation: [String] = []
        for option in parts.count == 3 ? parts[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : [] {
            switch option {
            case "ro", "rw": access.append(option)
            case "private", "rprivate", "shared", "rshared", "slave", "rslave": propagation.append(option)
            case "nocopy" where !volume.isBind: volume.nocopy = true
            default: throw EngineError.invalidOption("invalid volume '\(Printable.escaped(text))': unknown option '\(Printable.escaped(option))' (ro, rw, nocopy, [r]private, [r]shared, [r]slave)")
            }
        }
        guard access.count <= 1, propagation.count <= 1 else {
            throw EngineError.invalidOption("invalid volume '\(Printable.escaped(text))': invalid mode: \(parts[2]) (conflicting options)")
        }
        volume.readOnly = access.first == "ro"
        if let mode = propagation.first { volume.propagation = mode }
        return volume
    }

    /// The OCI mounts for -v and --tmpfs, after the default ones (so they may cover them).
    public func volumeMounts() throws -> [Mount] {
        var mounts: [Mount] = []
        for text in volumes {
            let volume = try Self.parseVolume(text)
            if volume.isBind {
                mounts.append(Mount(destination: volume.destination, type: "bind", source: volume.source,
                                    options: ["rbind", volume.readOnly ? "ro" : "rw", volume.propagation]))
            } else {
                // Resolved by Engine.create to the volume's directory (VolumeMounts).
                mounts.append(VolumeMounts.request(name: volume.source, destination: volume.destination, readOnly: volume.readOnly, nocopy: volume.nocopy))
            }
        }
        for text in tmpfs {
            let (path, extra) = text.firstIndex(of: ":").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) } ?? (text, "")
            guard path.hasPrefix("/"), path != "/" else {
                throw EngineError.invalidOption("invalid --tmpfs '\(text)': the container path must be absolute and not /")
            }
            let options = ["nosuid", "nodev", "noexec"] + extra.split(separator: ",").map(String.init)
            mounts.append(Mount(destination: path, type: "tmpfs", source: "tmpfs", options: options))
        }
        return mounts
    }

    /// The container's exposed ports, "80/tcp", sorted: the image's ExposedPorts, --expose, and
    /// the container side of -p (Docker exposes what is published).
    public func exposedPorts(image: [String]) throws -> [String] {
        var keys = Set<String>()
        for text in image + expose {
            do {
                for port in try PortMapping.exposed(text) { keys.insert("\(port.port)/\(port.proto)") }
            } catch {
                throw EngineError.invalidOption("--expose \(text): \(error)")
            }
        }
        for text in publish { if let port = try? PortMapping.parse(text) { keys.insert(port.containerKey) } }
        return keys.sorted { ($0.split(separator: "/").first.flatMap { Int($0) } ?? 0, $0) < ($1.split(separator: "/").first.flatMap { Int($0) } ?? 0, $1) }
    }

    /// -p, --ip and --dns checked: the address and ports asked for; -P needs the image's ExposedPorts.
    public func networkRequest(imageExposedPorts: [String] = []) throws -> (address: IPv4Address?, ports: [PortMapping]) {
        if network != .bridge && (ipAddress != nil || ip6Address != nil || !publish.isEmpty || macAddress != nil || !linkLocalIPs.isEmpty || !links.isEmpty) {
            throw EngineError.invalidOption("--ip, --ip6, -p, --mac-address, --link-local-ip and --link need the bridge network, not --network \(network.rawValue)")
        }
        let address = try ipAddress.map { text in
            guard let address = IPv4Address(text) else { throw EngineError.invalidOption("--ip \(text): not an IPv4 address") }
            return address
        }
        for server in dns where IPv4Address(server) == nil {
            throw EngineError.invalidOption("--dns \(server): not an IPv4 address")
        }
        var ports = try publish.map { text in
            do { return try PortMapping.parse(text) } catch { throw EngineError.invalidOption("\(error)") }
        }
        // -P: each exposed port not published by -p gets a random host port (Docker's rule).
        if publishAll && network == .bridge {
            for key in try exposedPorts(image: imageExposedPorts) {
                guard let slash = key.firstIndex(of: "/"), let port = UInt16(key[..<slash]) else { continue }
                let proto = String(key[key.index(after: slash)...])
                if !ports.contains(where: { $0.containerPort == port && $0.proto == proto }) {
                    ports.append(PortMapping(hostPort: 0, containerPort: port, proto: proto))
                }
            }
        }
        return (address, ports)
    }

    /// Docker creates a -v source directory that does not exist yet.
    func createMissingVolumeSources() throws {
        for text in volumes {
            let volume = try Self.parseVolume(text)
            if volume.isBind && !Files.exists(volume.source) {
                do { try Files.makeDirectories(volume.source) } catch {
                    throw EngineError.invalidOption("-v \(text): cannot create \(volume.source): \(error)")
                }
            }
        }
    }

    public init() {}
}

/// Turns run options and an image into the OCI spec the runtime consumes.
public enum SpecBuilder {
    public static func spec(for options: RunOptions, image: ImageRecord, containerID: String,
                            hostEnvironment: [String: String], hostHostname: String,
                            capabilities: [String] = CapabilityNames.dockerDefault, seccomp: OCI.Seccomp? = nil,
                            resources: Resources? = nil, hostUsesCgroupV2: Bool = false) -> Spec {
        let args = arguments(options, image.config)
        var env = image.config.env
        for entry in options.env {
            env = merge(env, entry, hostEnvironment: hostEnvironment)
        }
        if !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) {
            env.append("HOSTNAME=\(options.hostname ?? defaultHostname(options, containerID, hostHostname))")
        }
        if options.tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=/root") }
        var spec = Spec.linuxDefault(
            args: args, env: env, cwd: options.workingDir ?? image.config.workingDir, rootPath: "rootfs",
            terminal: options.tty, hostname: options.hostname ?? defaultHostname(options, containerID, hostHostname),
            networkNamespace: options.network != .host)
        // Filled below and by the engine (overlay layers, --init, …); a missing working
        // directory is made by the runtime for every bundle now, as runc makes it.
        spec.annotations = [:]
        if options.noPivot { spec.annotations?[SwiftainerAnnotation.noPivot] = "true" }
        if options.initProcess { spec.annotations?[SwiftainerAnnotation.initProcess] = "true" }
        if options.interactive { spec.annotations?[SwiftainerAnnotation.stdinOpen] = "true" }
        spec.process?.capabilities = Capabilities(all: capabilities)
        spec.process?.noNewPrivileges = options.noNewPrivileges
        spec.linux?.seccomp = seccomp
        spec.linux?.resources = resources
        if !options.privileged {
            // Docker's device cgroup: nodes may be made, only the standard ones opened (with
            // CAP_MKNOD in the default set, this is what keeps a container off the host's disks).
            var withDevices = resources ?? Resources()
            withDevices.devices = DeviceRules.dockerDefault
            spec.linux?.resources = withDevices
        }
        spec.root?.readonly = options.readOnly
        // The container's own cgroup at /sys/fs/cgroup (read-only unless privileged), in a
        // cgroup namespace of its own where Docker makes one.
        spec.mounts = (spec.mounts ?? []) + [Spec.cgroupMount(readOnly: !options.privileged)]
        if options.cgroupNamespace.map({ $0 == .private }) ?? hostUsesCgroupV2 {
            spec.linux?.namespaces?.append(Namespace(type: "cgroup"))
        }
        if options.privileged {
            // Docker's --privileged: nothing masked or read-only in /proc and /sys.
            spec.linux?.maskedPaths = []
            spec.linux?.readonlyPaths = []
            spec.mounts = spec.mounts?.map { mount in
                var mount = mount
                if mount.type == "sysfs" { mount.options = mount.options?.filter { $0 != "ro" } }
                return mount
            }
        }
        return spec
    }

    /// Docker's rule: the image's Entrypoint, then the arguments after IMAGE, or else the
    /// image's Cmd.
    static func arguments(_ options: RunOptions, _ config: ImageConfig) -> [String] {
        if let entrypoint = options.entrypoint {
            return (entrypoint.isEmpty ? [] : [entrypoint]) + options.command
        }
        return (config.entrypoint ?? []) + (options.command.isEmpty ? config.cmd : options.command)
    }

    /// The short id, as Docker names a container's host; the host's name with --network host.
    static func defaultHostname(_ options: RunOptions, _ id: String, _ hostHostname: String) -> String {
        options.network == .host ? hostHostname : String(id.prefix(12))
    }

    /// `-e K=V` sets K; `-e K` copies K from the caller's environment (dropped when unset).
    static func merge(_ env: [String], _ entry: String, hostEnvironment: [String: String]) -> [String] {
        let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
        var value = entry
        if !entry.contains("=") {
            guard let hostValue = hostEnvironment[entry] else { return env }
            value = "\(entry)=\(hostValue)"
        }
        return env.filter { !$0.hasPrefix(key + "=") } + [value]
    }
}
