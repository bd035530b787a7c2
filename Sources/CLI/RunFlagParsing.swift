#if canImport(Glibc)
import Glibc
#endif
import Engine
import Images
import LinuxKit
import OCI

extension RunFlags {
    /// Docker's `run` command line as RunOptions: every value checked here, before anything
    /// is created (a bad one is one line and 125).
    static func runOptions(_ args: ParsedArguments) throws -> RunOptions {
        if let refused = refusal(in: args) { throw refused }
        for flag in ociOnly where args.has(flag) || args.value(flag) != nil {
            throw UsageError("--\(flag) is the OCI runtime's flag (run --bundle DIR ID)")
        }
        var options = RunOptions()
        guard let image = args.positionals.first else { throw UsageError("\"run\" requires at least 1 argument: IMAGE") }
        options.image = image
        options.command = Array(args.positionals.dropFirst())
        options.entrypoint = args.value("entrypoint")
        if let policy = args.value("pull") {
            guard let parsed = Engine.PullPolicy(rawValue: policy) else {
                throw UsageError("invalid pull option: '\(Printable.escaped(policy))': must be one of \"always\", \"missing\" or \"never\"")
            }
            options.pull = parsed
        }
        options.quiet = args.has("quiet")
        options.platform = args.value("platform")
        options.name = args.value("name")
        options.autoRemove = args.has("rm")
        options.interactive = args.has("interactive")
        options.tty = args.has("tty")
        options.env = try RunOptions.validatedEnvironment(try environment(args))
        options.workingDir = args.value("workdir")
        options.hostname = args.value("hostname")
        options.domainname = args.value("domainname")
        options.noPivot = args.has("no-pivot")
        options.initProcess = args.has("init")
        options.capAdd = args.values["cap-add"] ?? []
        options.capDrop = args.values["cap-drop"] ?? []
        options.privileged = args.has("privileged")
        options.readOnly = args.has("read-only")
        options.detach = args.has("detach")
        options.user = args.value("user")
        options.groupAdd = args.values["group-add"] ?? []
        options.volumes = args.values["volume"] ?? []
        options.tmpfs = args.values["tmpfs"] ?? []
        options.mounts = try (args.values["mount"] ?? []).map(MountFlag.parse)
        options.ipAddress = args.value("ip")
        options.ip6Address = args.value("ip6")
        options.dns = args.values["dns"] ?? []
        options.dnsOptions = args.values["dns-option"] ?? []
        options.dnsSearch = args.values["dns-search"] ?? []
        options.addHosts = try (args.values["add-host"] ?? []).map(DockerFlagValues.addHost)
        options.publish = args.values["publish"] ?? []
        options.publishAll = args.has("publish-all") && args.value("publish-all") != "false"
        options.expose = args.values["expose"] ?? []
        _ = try options.exposedPorts(image: [])
        options.macAddress = try args.value("mac-address").map { text in
            guard let bytes = DockerFlagValues.macAddress(text) else {
                throw UsageError("invalid argument \"\(Printable.escaped(text))\" for \"--mac-address\" flag: not a unicast MAC address (six hex octets, e.g. 92:d0:c6:0a:29:33)")
            }
            return bytes
        }
        options.linkLocalIPs = try (args.values["link-local-ip"] ?? []).map(DockerFlagValues.linkLocalAddress)
        options.links = try (args.values["link"] ?? []).map(DockerFlagValues.link)
        options.restartPolicy = try args.value("restart").map(RestartPolicy.parse) ?? .no
        if options.restartPolicy != .no && options.autoRemove {
            throw UsageError("Conflicting options: --restart and --rm")
        }
        try parseHealthcheck(args, into: &options)
        try parseAttachment(args, into: &options)
        options.logConfig = try LogConfig.parse(driver: args.value("log-driver"), options: args.values["log-opt"] ?? [])
        options.volumesFrom = try (args.values["volumes-from"] ?? []).map(DockerFlagValues.volumesFrom)
        for option in args.values["security-opt"] ?? [] { try options.addSecurityOption(option) }
        try parseResources(args, into: &options)
        try parseContainerMetadata(args, into: &options)
        try parseNamespaces(args, into: &options)
        options.ulimits = try (args.values["ulimit"] ?? []).map(DockerFlagValues.ulimit)
        options.sysctls = Dictionary(try (args.values["sysctl"] ?? []).map { try DockerFlagValues.sysctl($0, hostNetwork: options.network == .host) }) { $1 }
        options.oomScoreAdj = try args.value("oom-score-adj").map { try FlagValues.integer($0, flag: "--oom-score-adj", in: -1000...1000) }
        options.devices = try (args.values["device"] ?? []).map(DockerFlagValues.device)
        options.deviceCgroupRules = try (args.values["device-cgroup-rule"] ?? []).map(DockerFlagValues.deviceCgroupRule)
        if let workdir = options.workingDir, !workdir.hasPrefix("/") {
            throw UsageError("the working directory '\(workdir)' is invalid: it needs to be an absolute path")
        }
        try checkUnsupportedValues(args)
        return options
    }

    /// --env-file files first (in order), then -e: a later entry for a name wins.
    static func environment(_ args: ParsedArguments) throws -> [String] {
        var entries: [String] = []
        for file in args.values["env-file"] ?? [] {
            let text: String
            do { text = try Files.readString(file) } catch { throw UsageError("--env-file \(file): \(error)") }
            entries += DockerFlagValues.fileLines(text)
        }
        return entries + (args.values["env"] ?? [])
    }

    static func parseResources(_ args: ParsedArguments, into options: inout RunOptions) throws {
        options.memory = try args.value("memory").map { try FlagValues.bytes($0, flag: "--memory") }
        options.memorySwap = try args.value("memory-swap").map { try FlagValues.bytes($0, flag: "--memory-swap", unlimited: true) }
        options.memoryReservation = try args.value("memory-reservation").map { try FlagValues.bytes($0, flag: "--memory-reservation") }
        options.memorySwappiness = try args.value("memory-swappiness").map { try FlagValues.integer($0, flag: "--memory-swappiness", in: -1...100) }
        if let kernel = args.value("kernel-memory") {
            _ = try FlagValues.bytes(kernel, flag: "--kernel-memory")
            warn("Specifying a kernel memory limit is deprecated and will be removed in a future release; --kernel-memory is ignored.")
        }
        options.oomKillDisable = args.has("oom-kill-disable") && args.value("oom-kill-disable") != "false"
        if options.oomKillDisable && options.memory == nil {
            warn("Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.")
        }
        options.pidsLimit = try args.value("pids-limit").map { try FlagValues.integer($0, flag: "--pids-limit", in: -1...Int64(Int32.max)) }
        options.cpuQuota = try args.value("cpus").map { try FlagValues.cpuQuota($0, onlineCPUs: ProcessInfoLinux.onlineCPUs) } ?? nil
        options.cpuShares = try args.value("cpu-shares").map { UInt64(try FlagValues.integer($0, flag: "--cpu-shares", in: 0...Int64(UInt32.max))) }
        options.cpuPeriod = try args.value("cpu-period").map { try FlagValues.integer($0, flag: "--cpu-period", in: 1000...1_000_000) }
        options.cpuQuotaMicroseconds = try args.value("cpu-quota").map { text in
            let quota = try FlagValues.integer(text, flag: "--cpu-quota", in: -1...Int64(Int32.max))
            guard quota == -1 || quota >= 1000 else { throw UsageError("--cpu-quota \(quota): CPU cfs quota can not be less than 1ms (i.e. 1000)") }
            return quota
        }
        options.cpuRealtimePeriod = try args.value("cpu-rt-period").map { try FlagValues.integer($0, flag: "--cpu-rt-period", in: 1...1_000_000) }
        options.cpuRealtimeRuntime = try args.value("cpu-rt-runtime").map { try FlagValues.integer($0, flag: "--cpu-rt-runtime", in: -1...1_000_000) }
        options.cpusetCpus = args.value("cpuset-cpus")
        options.cpusetMems = args.value("cpuset-mems")
        options.blkioWeight = try args.value("blkio-weight").map { text in
            let weight = try FlagValues.integer(text, flag: "--blkio-weight", in: 0...1000)
            guard weight == 0 || weight >= 10 else { throw UsageError("--blkio-weight \(weight): range of blkio weight is from 10 to 1000") }
            return UInt16(weight)
        }.flatMap { $0 == 0 ? nil : $0 }
        options.blkioWeightDevices = try (args.values["blkio-weight-device"] ?? []).map(DockerFlagValues.weightDevice)
        options.readBps = try (args.values["device-read-bps"] ?? []).map { try DockerFlagValues.throttle($0, flag: "--device-read-bps", bytes: true) }
        options.writeBps = try (args.values["device-write-bps"] ?? []).map { try DockerFlagValues.throttle($0, flag: "--device-write-bps", bytes: true) }
        options.readIOPS = try (args.values["device-read-iops"] ?? []).map { try DockerFlagValues.throttle($0, flag: "--device-read-iops", bytes: false) }
        options.writeIOPS = try (args.values["device-write-iops"] ?? []).map { try DockerFlagValues.throttle($0, flag: "--device-write-iops", bytes: false) }
        options.shmSize = try args.value("shm-size").map { text in
            let size = try FlagValues.bytes(text, flag: "--shm-size")
            guard size > 0 else { throw UsageError("--shm-size \(text): must be greater than 0") }
            return size
        }
    }

    static func parseContainerMetadata(_ args: ParsedArguments, into options: inout RunOptions) throws {
        for file in args.values["label-file"] ?? [] {
            let text: String
            do { text = try Files.readString(file) } catch { throw UsageError("--label-file \(file): \(error)") }
            for line in DockerFlagValues.fileLines(text) {
                let (key, value) = try DockerFlagValues.keyValue(line, flag: "--label-file", valueOptional: true)
                options.labels[key] = value
            }
        }
        for text in args.values["label"] ?? [] {
            let (key, value) = try DockerFlagValues.keyValue(text, flag: "--label", valueOptional: true)
            options.labels[key] = value
        }
        for text in args.values["annotation"] ?? [] {
            let (key, value) = try DockerFlagValues.keyValue(text, flag: "--annotation")
            options.annotations[key] = value
        }
        options.cidFile = args.value("cidfile")
        if let signal = args.value("stop-signal") {
            guard Signals.parse(signal) != nil else { throw UsageError("--stop-signal: invalid signal: \(Printable.escaped(signal))") }
            options.stopSignal = signal
        }
        options.stopTimeout = try args.value("stop-timeout").map { Int(try FlagValues.integer($0, flag: "--stop-timeout", in: -1...Int64(Int32.max))) }
    }

    /// --health-* over the image's HEALTHCHECK; durations at least 1 ms, as Docker requires.
    static func parseHealthcheck(_ args: ParsedArguments, into options: inout RunOptions) throws {
        var health = HealthConfig()
        var given = false
        if let command = args.value("health-cmd") {
            guard !command.isEmpty else { throw UsageError("--health-cmd: the health check command is empty") }
            health.test = ["CMD-SHELL", command]
            given = true
        }
        func duration(_ flag: String) throws -> Int64? {
            guard let text = args.value(flag) else { return nil }
            given = true
            let value = try DockerFlagValues.duration(text, flag: "--" + flag)
            guard value >= 1_000_000 else {
                throw UsageError("--\(flag) \(Printable.escaped(text)): the time in a health check cannot be less than 1ms")
            }
            return value
        }
        health.interval = try duration("health-interval")
        health.timeout = try duration("health-timeout")
        health.startPeriod = try duration("health-start-period")
        health.startInterval = try duration("health-start-interval")
        if let text = args.value("health-retries") {
            given = true
            health.retries = Int(try FlagValues.integer(text, flag: "--health-retries", in: 0...Int64(Int32.max)))
        }
        options.noHealthcheck = args.has("no-healthcheck") && args.value("no-healthcheck") != "false"
        if options.noHealthcheck && given {
            throw UsageError("--no-healthcheck conflicts with --health-* options")
        }
        options.healthFlags = given ? health : nil
    }

    /// -a/--attach, --sig-proxy, --detach-keys: how a foreground run is attached.
    static func parseAttachment(_ args: ParsedArguments, into options: inout RunOptions) throws {
        if let streams = args.values["attach"], !streams.isEmpty {
            if options.detach { throw UsageError("Conflicting options: -a and -d") }
            var attach = Engine.AttachStreams()
            attach.stdin = false
            attach.stdout = false
            attach.stderr = false
            for stream in streams {
                switch stream.lowercased() {
                case "stdin": attach.stdin = true
                case "stdout": attach.stdout = true
                case "stderr": attach.stderr = true
                default: throw UsageError("invalid argument \"\(Printable.escaped(stream))\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")
                }
            }
            options.attach = attach
        }
        if let proxy = args.value("sig-proxy") {
            guard let value = Bool(proxy) else { throw UsageError("invalid argument \"\(Printable.escaped(proxy))\" for \"--sig-proxy\" flag: must be true or false") }
            options.signalProxy = value
        }
        if let keys = args.value("detach-keys") { options.detachKeys = try DockerFlagValues.detachKeys(keys) }
    }

    static func parseNamespaces(_ args: ParsedArguments, into options: inout RunOptions) throws {
        if let mode = args.value("cgroupns") {
            guard let parsed = RunOptions.CgroupNamespaceMode(rawValue: mode) else {
                throw UsageError("invalid --cgroupns value '\(Printable.escaped(mode))': must be \"host\" or \"private\"")
            }
            options.cgroupNamespace = parsed
        }
        if let network = args.value("network") {
            if network.hasPrefix("container:") {
                options.networkContainer = String(network.dropFirst("container:".count))
                for flag in ["publish", "ip", "dns", "add-host", "hostname", "mac-address"] where args.values[flag] != nil {
                    throw UsageError("conflicting options: --\(flag) and the network mode container:\(options.networkContainer ?? "")")
                }
            } else if let mode = RunOptions.NetworkMode(rawValue: network == "default" ? "bridge" : network) {
                options.network = mode
            } else {
                // A user-defined network's name (or id): looked up when the container is made.
                options.network = .bridge
                options.networkName = network
            }
        }
        if let aliases = args.values["network-alias"], !aliases.isEmpty {
            guard options.networkName != nil else {
                throw UsageError("--network-alias: network-scoped alias is supported only for containers in user defined networks")
            }
            for alias in aliases where !VolumeStore.isValidName(alias) && !(alias.count == 1 && alias.first!.isLetter) {
                throw UsageError("--network-alias \(Printable.escaped(alias)): only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
            }
            options.networkAliases = aliases
        }
        options.ipc = try args.value("ipc").flatMap { try DockerFlagValues.namespaceMode($0, flag: "--ipc", allowed: ["private", "shareable", "host", "none", "container"]) }
        options.pid = try args.value("pid").flatMap { try DockerFlagValues.namespaceMode($0, flag: "--pid", allowed: ["host", "container"]) }
        options.uts = try args.value("uts").flatMap { try DockerFlagValues.namespaceMode($0, flag: "--uts", allowed: ["host"]) }
        if options.uts == .host && args.value("hostname") != nil {
            throw UsageError("conflicting options: hostname and the UTS mode")
        }
        options.userNamespace = try DockerFlagValues.userNamespaceMode(args.value("userns") ?? "")
        options.cgroupParent = args.value("cgroup-parent")
    }

    /// Flags whose only supported value is Docker's default.
    static func checkUnsupportedValues(_ args: ParsedArguments) throws {
        if let isolation = args.value("isolation"), !["", "default"].contains(isolation) {
            throw UsageError("invalid isolation '\(Printable.escaped(isolation))' on linux")
        }
        if let driver = args.value("volume-driver"), !["", "local"].contains(driver) {
            throw UsageError("error looking up volume plugin \(Printable.escaped(driver)): plugin \"\(Printable.escaped(driver))\" not found")
        }
        if let runtime = args.value("runtime"), !["", "swiftainer"].contains(runtime) {
            throw UsageError("unknown or invalid runtime name: \(Printable.escaped(runtime))")
        }
        if args.value("disable-content-trust") == "false" {
            throw UsageError("--disable-content-trust=false: image signature verification (content trust) is not supported")
        }
    }

    static func warn(_ message: String) {
        fputs("WARNING: " + message + "\n", stderr)
    }
}
