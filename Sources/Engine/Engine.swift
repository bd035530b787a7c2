#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import Images
import Netlink
import Network
import LinuxKit
import Cgroups
import Containers
import OCI
import Runtime
import Seccomp

/// The Docker-like layer: images and containers on disk, run flags turned into an OCI bundle
/// that the low-level runtime (the same one `create`/`start` use) runs.
public final class Engine {
    public let paths: Paths
    public let images: ImageStore
    public let containers: ContainerStore

    public init(paths: Paths) {
        self.paths = paths
        images = ImageStore(root: paths.images)
        containers = ContainerStore(paths: paths)
    }

    public static func requireRoot() throws {
        if geteuid() != 0 { throw EngineError.notRoot }
    }

    /// `swiftainer run` in the foreground: returns the container's exit status (Docker's
    /// convention). This process is the container's supervisor.
    public func run(_ options: RunOptions) throws -> Int32 {
        var (record, spec, supervision) = try create(options)
        defer { supervision.unlock() }
        do {
            // The output goes to the caller and, as with Docker, to the container's log (so
            // `logs` shows a foreground run too): through pipes, or the console with -t.
            let logConfig = record.logConfig ?? .jsonFile
            let log = logConfig.keepsLog ? try ContainerLogWriter(path: paths.log(record.id), config: logConfig) : nil
            defer { log?.close() }
            let (container, outputs) = try launch(&record, spec, stdin: options.interactive && options.attach.stdin ? .inherit : .null)
            let healthMonitor = startHealthMonitor(record, initPid: container.pid)
            defer { if let healthMonitor { reapHealthMonitor(healthMonitor) } }
            let terminal = options.tty && options.interactive ? RawTerminal(fd: 0) : nil
            defer { terminal?.restore() }
            let shown = options.attach
            let status = try container.wait(relayInput: options.interactive && shown.stdin, outputs: outputs) { stream, bytes in
                if stream == .stdout ? shown.stdout : shown.stderr { ProcessMonitor.passThrough(stream, bytes) }
                log?.append(stream, bytes)
            }
            log?.flush()
            terminal?.restore()
            try complete(&record, status, cgroup: container.cgroup, spec: spec)
            if scheduleRestart(&record) { spawnRestartMonitor(record.id) }
            return status.code
        } catch {
            fail(&record, error)
            throw error
        }
    }

    /// `swiftainer run -d`: creates the container, hands it to a monitor process of its own
    /// and returns its id once its process runs.
    public func runDetached(_ options: RunOptions) throws -> String {
        let (record, _, supervision) = try create(options)
        do {
            // The monitor inherits the supervisor lock, so it is held without a gap.
            defer { supervision.unlock() }
            try startMonitor(record, supervision: supervision)
        } catch {
            if record.autoRemove, let current = try? containers.load(record.id), current.status != .running {
                try? containers.remove(record.id)
            }
            throw error
        }
        return record.id
    }

    /// Everything `run` does before a process exists: the request checked, the record written
    /// under the names lock, the bundle (config.json, overlay directories) in place.
    func create(_ options: RunOptions) throws -> (ContainerRecord, Spec, FileLock) {
        try Self.requireRoot()
        containers.reconcile()
        let image = try image(for: options.image, policy: options.pull, quiet: options.quiet)
        // Everything that can be wrong with the request is found before a container exists.
        guard !SpecBuilder.arguments(options, image.config).isEmpty else {
            throw EngineError.invalidOption("no command specified: the image \(Printable.escaped(options.image)) has no Entrypoint or Cmd and none was given")
        }
        let capabilities = try options.capabilities()
        let seccomp = try seccompProfile(options)?.resolve(capabilities: Set(capabilities))
        let resources = try options.resources()
        let ownMounts = try options.volumeMounts() + options.mounts
        // --volumes-from first; the container's own mounts win at the same destination.
        let mounts = try volumesFromMounts(options).filter { inherited in !ownMounts.contains { $0.destination == inherited.destination } }
            + ownMounts
        let networkRequest = try options.networkRequest(imageExposedPorts: image.config.exposedPorts ?? [])
        // -u, or the image's own User (Docker's rule: the flag wins); --group-add on top.
        let imageLayers = images.layerDirectories(of: image)
        let userDatabase = UserDatabase(layers: imageLayers)
        let keepID: KeepID?
        if case .keepID(let uid, let gid) = options.userNamespace { keepID = try KeepID(requestedUID: uid, requestedGID: gid) } else { keepID = nil }
        // keep-id runs the user's ids unless -u names others (Podman's rule: over the image's User too).
        var user = try (options.user ?? (keepID == nil ? image.config.user : nil)).map { try userDatabase.resolve($0) }
            ?? keepID?.defaultUser(userDatabase, layers: imageLayers)
        if !options.groupAdd.isEmpty {
            let extra = try options.groupAdd.map { try userDatabase.groupID($0) }
            var resolved = user ?? (User(uid: 0, gid: 0), nil)
            resolved.user.additionalGids = (resolved.user.additionalGids ?? []) + extra.filter { !(resolved.user.additionalGids ?? []).contains($0) }
            user = resolved
        }
        if let platform = options.platform { try Self.checkPlatform(platform, image: options.image) }
        // --ipc/--pid/--uts/--network container:NAME: that container's init, running.
        let sharedNamespaces = try sharedNamespacePids(options)
        if let cidFile = options.cidFile, Files.exists(cidFile) {
            throw EngineError.invalidOption("Container ID file found, make sure the other container isn't running or delete \(cidFile)")
        }
        try options.createMissingVolumeSources()
        let id = Random.hex(bytes: 32)
        let name = try options.name.map(validated) ?? generateName()
        var record = ContainerRecord(
            id: id, name: name, image: options.image, imageID: image.id,
            command: SpecBuilder.arguments(options, image.config),
            created: Clock.rfc3339(), status: .created,
            exitCode: nil, error: nil, startedAt: nil, finishedAt: nil, autoRemove: options.autoRemove)
        // A user-defined network by its name (the record keeps the name, as Docker's does).
        let userNetwork = try options.networkName.map { try networks.load($0) }
        if Rootless.isActive, let userNetwork {
            throw EngineError.invalidOption("--network \(userNetwork.Name): rootless, containers have the user-mode network, none or host; user-defined networks are bridges, which need root")
        }
        if let userNetwork, let address = networkRequest.address { _ = try userNetwork.address(address.description) }
        if let text = options.ip6Address {
            guard let userNetwork else {
                throw EngineError.invalidOption("--ip6 \(Printable.escaped(text)): the container's network has no IPv6 (a user-defined network made with --ipv6)")
            }
            record.requestedAddress6 = try userNetwork.address6(text).description
        }
        record.networkMode = options.networkContainer.map { "container:" + $0 } ?? userNetwork?.Name ?? options.network.rawValue
        record.networkAliases = options.networkAliases.isEmpty ? nil : options.networkAliases
        record.dnsServers = options.dns.isEmpty ? nil : options.dns
        record.stopSignal = options.stopSignal ?? image.config.stopSignal
        record.stopTimeout = options.stopTimeout
        record.logConfig = options.logConfig == .jsonFile ? nil : options.logConfig
        record.restartPolicy = options.restartPolicy == .no ? nil : options.restartPolicy
        record.healthcheck = Self.healthcheck(image: image.config.healthcheck, flags: options.healthFlags, disabled: options.noHealthcheck)
        let labels = (image.config.labels ?? [:]).merging(options.labels) { $1 }
        record.labels = labels.isEmpty ? nil : labels
        let extraHosts = Self.extraHosts(options, gateway: userNetwork?.Gateway) + (try linkHosts(options))
        record.extraHosts = extraHosts.isEmpty ? nil : extraHosts
        record.requestedAddress = networkRequest.address?.description
        record.requestedMAC = options.macAddress.map(BridgeNetwork.macText)
        record.linkLocalIPs = options.linkLocalIPs.isEmpty ? nil : options.linkLocalIPs
        let exposed = try options.exposedPorts(image: image.config.exposedPorts ?? [])
        record.exposedPorts = exposed.isEmpty ? nil : exposed
        record.ports = networkRequest.ports.isEmpty ? nil : networkRequest.ports
        // Last before the container exists: volumes are made (and filled from the image).
        // keep-id: the image's layers owned for the container's ids (copies made on first use).
        let lowers = try keepID.map { try images.mappedLowerDirectories(of: image, maps: $0.maps) } ?? images.lowerDirectories(of: image)
        let resolvedVolumes = try resolveVolumes(mounts, image: image, lowers: lowers)
        record.volumes = resolvedVolumes.used.isEmpty ? nil : resolvedVolumes.used
        record.anonymousVolumes = resolvedVolumes.anonymous.isEmpty ? nil : resolvedVolumes.anonymous
        let supervision: FileLock
        do {
            supervision = try containers.create(record)
        } catch {
            removeAnonymousVolumes(of: record)
            throw error
        }
        DebugLog.log("container \(id) (\(name)) from image \(image.id)")
        do {
            let dir = paths.container(id)
            for sub in ["rootfs", "upper", "work"] {
                try check(mkdir(dir + "/" + sub, 0o755), "mkdir", dir + "/" + sub)
            }
            var spec = SpecBuilder.spec(for: options, image: image, containerID: id,
                                        hostEnvironment: ProcessInfoLinux.environment, hostHostname: Self.hostname(),
                                        capabilities: capabilities, seccomp: seccomp, resources: resources,
                                        hostUsesCgroupV2: (try? CgroupLayout.detect())?.usesUnified ?? false)
            spec.annotations?[SwiftainerAnnotation.overlayLower] = lowers.joined(separator: ":")
            spec.annotations?[SwiftainerAnnotation.overlayUpper] = dir + "/upper"
            spec.annotations?[SwiftainerAnnotation.overlayWork] = dir + "/work"
            SpecBuilder.applyFlags(options, to: &spec, containerID: id, sharedNamespaces: sharedNamespaces)
            let nameFiles = try options.networkContainer.map { try sharedNameFileMounts(of: $0) }
                ?? (try nameFileMounts(dir, options, hostname: spec.hostname ?? name, name: name, extraHosts: extraHosts,
                                       networkResolver: userNetwork?.Gateway))
            spec.mounts = (spec.mounts ?? []) + nameFiles + resolvedVolumes.mounts
            if let keepID {
                try keepID.ownWritableLayer(dir + "/upper")
                keepID.apply(to: &spec)
                spec.mounts! += try keepID.accountFileMounts(layers: imageLayers, directory: dir, durability: options.autoRemove ? .volatile : .synced)
            }
            if let (user, home) = user {
                spec.process?.user = user
                // HOME follows the user (/ without a passwd entry), as with Docker, unless -e set it.
                if !options.env.contains(where: { $0.hasPrefix("HOME=") || $0 == "HOME" }) {
                    let env = spec.process?.env ?? []
                    spec.process?.env = env.filter { !$0.hasPrefix("HOME=") } + ["HOME=\(home ?? "/")"]
                }
            }
            try Files.writeAtomically(dir + "/config.json", try JSON.encode(spec, format: .document), mode: 0o600,
                                      durability: options.autoRemove ? .volatile : .synced)
            if let cidFile = options.cidFile {
                // O_EXCL: a file made meanwhile is not overwritten (Docker's check, without its race).
                let fd = try FileDescriptor.open(cidFile, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
                defer { fd.close() }
                try fd.writeAll(id, what: cidFile)
            }
            containerEvent("create", record)
            return (record, spec, supervision)
        } catch {
            supervision.unlock()
            try? containers.remove(id)
            removeAnonymousVolumes(of: record)
            throw error
        }
    }

    /// Creates the container through the core (init cloned into its cgroup, state recorded
    /// with this process as supervisor), connects its network, starts its process and records
    /// it as running. Without a terminal the container's stdout and stderr are pipes, whose
    /// read ends come back as `outputs` for `wait` (with one, its output is the console's).
    func launch(_ record: inout ContainerRecord, _ spec: Spec, stdin: StandardInput) throws
        -> (container: LaunchedContainer, outputs: [(fd: FileDescriptor, stream: ProcessMonitor.Stream)]) {
        var outputs: [(fd: FileDescriptor, stream: ProcessMonitor.Stream)] = []
        var childEnds: [FileDescriptor] = []
        if spec.process?.terminal != true {
            for stream in [ProcessMonitor.Stream.stdout, .stderr] {
                let (read, write) = try FileDescriptor.pipe()
                outputs.append((read, stream))
                childEnds.append(write)
            }
        }
        // Ours are closed when this returns (the child has its copies), so the reads see
        // end-of-file when the container's side is gone.
        defer { childEnds.forEach { $0.close() } }
        var request = ContainerRuntime.CreateRequest(id: record.id, bundle: paths.container(record.id), spec: spec, start: .byCaller)
        request.stdin = stdin
        request.stdout = childEnds.first?.raw
        request.stderr = childEnds.last?.raw
        request.noPivot = spec.annotations?[SwiftainerAnnotation.noPivot] == "true"
        request.keepsStateDirectory = true
        // Rootless on a kernel that refuses overlayfs in a user namespace: the root is mounted
        // here, by fuse-overlayfs (see FuseOverlay); releaseRun unmounts it.
        let rootfs = paths.container(record.id) + "/rootfs"
        if FuseOverlay.isNeeded(state: paths.state) { try FuseOverlay.mount(&request.spec, rootfs: rootfs) }
        let container: LaunchedContainer
        do {
            container = try containers.runtime.create(request)
        } catch {
            FuseOverlay.unmount(rootfs: rootfs)
            throw error
        }
        DebugLog.log("init pid \(container.pid) ready")
        do {
            try connect(&record, spec, initPid: container.pid)
            try container.start()
        } catch {
            container.abandon()
            disconnect(&record)
            containers.releaseRun(record.id)
            throw error
        }
        record.status = .running
        record.startedAt = Clock.rfc3339()
        record.exitCode = nil
        record.error = nil
        record.finishedAt = nil
        record.oomKilled = nil
        record.runtime = containers.runtime.existing(record.id)
        containerEvent("start", record)
        // That it runs is the core's state (ContainerStore.load reads it so). The record is
        // written now only when the run holds what it must name — a network attachment (address,
        // veth, ports: inspect shows them, and cleanup after a crash needs them) or a detached
        // run's count — and otherwise once more when the run ends.
        if record.network != nil || record.detached == true {
            do {
                try containers.save(record)
            } catch {
                container.abandon()
                disconnect(&record)
                containers.releaseRun(record.id)
                throw error
            }
            // From now on the record on disk holds the connected networks' attachments:
            // `network connect` and `disconnect` change them there while the run goes on.
            record.extraNetworks = nil
        }
        return (container, outputs)
    }

    /// The container's process has ended: the exit recorded, its cgroup and runtime state
    /// gone, and with --rm the container itself.
    func complete(_ record: inout ContainerRecord, _ status: ExitStatus, cgroup: ContainerCgroup?, spec: Spec) throws {
        DebugLog.log("container exited: \(status)")
        if cgroup?.oomKillCount() ?? 0 > 0 {
            record.oomKilled = true
            let limit = spec.linux?.resources?.memory?.limit.map { " (memory limit \($0) bytes)" } ?? ""
            fputs("swiftainer: container \(record.name) was killed by the OOM killer\(limit)\n", stderr)
        }
        disconnect(&record)
        record.status = .exited
        record.exitCode = status.code
        record.finishedAt = Clock.rfc3339()
        if record.oomKilled == true { containerEvent("oom", record) }
        containerEvent("die", record, ["exitCode": "\(status.code)"])
        // The record first, the cgroup and the core's state after: until the state goes the
        // run counts as in progress, so `wait` and `ps` never see it ended without its exit code.
        defer { containers.releaseRun(record.id) }
        try finish(record)
    }

    /// A run that failed before or while starting: recorded with Docker's code and the error.
    func fail(_ record: inout ContainerRecord, _ error: Error) {
        disconnect(&record)
        record.status = .exited
        record.exitCode = (error as? RuntimeError)?.exitCode ?? 125
        record.error = "\(error)"
        record.finishedAt = Clock.rfc3339()
        try? finish(record)
        containers.releaseRun(record.id) // after the record, as in complete
    }

    /// After complete/fail, whose cgroup is gone by then.
    private func finish(_ record: ContainerRecord) throws {
        if record.autoRemove {
            try containers.remove(record.id, supervisorCleanedUp: true)
            // Docker's --rm takes the container's anonymous volumes with it.
            removeAnonymousVolumes(of: record)
            containerEvent("destroy", record)
        } else {
            try containers.save(record)
        }
    }

    /// `rm [-f]`: a running container is refused, or with force killed first; its supervisor
    /// then records the exit, and the directory goes.
    public func remove(_ reference: String, force: Bool, volumes removingVolumes: Bool = false) throws {
        let record = try containers.find(reference)
        if force { markStoppedByUser(record.id) }
        if record.isRunning || (force && settleRestart(record)) {
            guard force else { throw EngineError.containerRunning(reference) }
            try? signalContainer(record, SIGKILL)
            // Give the supervisor a moment to record the exit before the directory disappears.
            _ = waitForExit(record.id, timeout: 5)
        }
        try containers.remove(record.id)
        if removingVolumes { removeAnonymousVolumes(of: record) }
        containerEvent("destroy", record)
    }

    /// The Docker-format profile a run asks for: the built-in default, a file, or none.
    /// --privileged runs unconfined, as with Docker, unless a profile is named.
    func seccompProfile(_ options: RunOptions) throws -> DockerProfile? {
        switch options.seccomp {
        case .unconfined: return nil
        case .builtIn: return options.privileged ? nil : try DockerProfile.builtInDefault()
        case .file(let path):
            let bytes: [UInt8]
            do { bytes = try Files.read(path) } catch { throw EngineError.invalidOption("seccomp profile \(path): \(error)") }
            return try DockerProfile.parse(bytes, source: path)
        }
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(cString: buffer)
    }

    func validated(_ name: String) throws -> String {
        let bytes = Array(name.utf8)
        let alnum: (UInt8) -> Bool = { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
        guard bytes.count >= 2, bytes.count <= 128, alnum(bytes[0]),
              bytes.allSatisfy({ alnum($0) || $0 == 95 || $0 == 46 || $0 == 45 }) else {
            throw EngineError.invalidName(name)
        }
        return name
    }

    private static let adjectives = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid",
                                     "merry", "nifty", "proud", "quiet", "swift", "tender", "vivid", "witty", "zen"]
    private static let nouns = ["babbage", "curie", "dijkstra", "euler", "fermi", "galois", "hopper", "knuth", "lamport",
                                "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wirth"]

    private func generateName() -> String {
        let taken = Set(containers.all().map(\.name))
        while true {
            let name = "\(Self.adjectives.randomElement()!)_\(Self.nouns.randomElement()!)"
            if !taken.contains(name) { return name }
            let numbered = "\(name)\(Int.random(in: 1...999))"
            if !taken.contains(numbered) { return numbered }
        }
    }
}
