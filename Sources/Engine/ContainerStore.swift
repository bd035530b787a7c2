#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import Cgroups
import Containers
import Images
import LinuxKit
import Network

public enum EngineError: Error, CustomStringConvertible {
    case notRoot
    case containerNotFound(String)
    case ambiguousContainer(String)
    case nameInUse(name: String, id: String)
    case invalidName(String)
    case containerRunning(String)
    case notRunning(String)
    case invalidOption(String)
    /// A pull or push that failed: the verb, the reference, the registry's or the store's words.
    case registryFailed(verb: String, reference: String, reason: String)

    public var description: String {
        switch self {
        case .notRoot:
            return "must be run as root: containers need namespaces, mounts and file ownership that only root may set up"
        case .containerNotFound(let name): return "no such container: \(name)"
        case .ambiguousContainer(let prefix): return "container id prefix '\(prefix)' matches more than one container"
        case .nameInUse(let name, let id):
            return "the container name \"/\(name)\" is already in use by container \"\(id)\"; remove that container or choose another name"
        case .invalidName(let name): return "invalid container name '\(name)': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        case .containerRunning(let name): return "container \(name) is running: stop it first or use rm -f"
        case .notRunning(let name): return "container \(name) is not running"
        case .invalidOption(let message): return message
        case .registryFailed(let verb, let reference, let reason): return "\(verb) \(reference): \(reason)"
        }
    }
}

/// Containers on disk: what must survive a reboot under the data root —
/// containers/<id>/{container.json, config.json, rootfs/, upper/, work/, log} — and, through
/// the container core, what lives only while a run is in progress under the state root on
/// tmpfs — <state>/containers/<id>/{state.json, supervisor.lock}.
public final class ContainerStore {
    public let paths: Paths
    /// The core, over this store's state root.
    public let runtime: ContainerRuntime

    public init(paths: Paths) {
        self.paths = paths
        runtime = ContainerRuntime(stateRoot: paths.runtimeState, seccompCache: paths.seccompCache)
    }

    func recordPath(_ id: String) -> String { paths.container(id) + "/container.json" }

    /// The record with the core's view of it: while a run is in progress (the core has a live
    /// init for it) it reads as running since that run began — the record on disk is written
    /// when the container is created and when a run ends, not when one starts.
    public func load(_ id: String) throws -> ContainerRecord {
        var record = try JSON.decode(ContainerRecord.self, from: try Files.read(recordPath(id)))
        record.runtime = runtime.existing(id)
        if let state = record.runtime, state.process != nil, state.isAlive {
            record.status = .running
            record.startedAt = state.created
            record.exitCode = nil
            record.error = nil
            record.finishedAt = nil
            record.oomKilled = nil
        }
        return record
    }

    /// Synced when `durable` (a container's creation: it must outlive a power loss); the
    /// transitions after it are not — a run that was in progress at a crash is found dead and
    /// recorded so by the next command (`reconcile`), and an --rm container is never synced.
    ///
    /// The fields users change on a container that may be running — its name (`rename`),
    /// restart policy (`update --restart`) and network connections (`network connect`) — are
    /// kept as they are on disk: a supervisor writes back the record it loaded when its run
    /// began, and any may have changed since. Only those commands pass `editingUserFields`.
    public func save(_ record: ContainerRecord, durable: Bool = false, editingUserFields: Bool = false) throws {
        var record = record
        if !editingUserFields, let current = try? JSON.decode(ContainerRecord.self, from: try Files.read(recordPath(record.id))) {
            record.name = current.name
            record.restartPolicy = current.restartPolicy
            record.networkConnections = current.networkConnections
            // Connected meanwhile by `network connect`; a run that ended has given them back
            // (and says so with an empty list).
            if record.extraNetworks == nil { record.extraNetworks = current.extraNetworks } else if record.extraNetworks == [] { record.extraNetworks = nil }
        }
        try Files.writeAtomically(recordPath(record.id), try JSON.encode(record, format: .document), mode: 0o600,
                                  durability: durable && !record.autoRemove ? .synced : .volatile)
    }

    /// Every container whose record can be read; a directory without one is an interrupted create.
    public func all() -> [ContainerRecord] {
        let ids = (try? Files.listDirectory(paths.containers)) ?? []
        return ids.compactMap { try? load($0) }.sorted { $0.created > $1.created }
    }

    /// By full id, exact name, or unique id prefix (as Docker resolves them).
    public func find(_ reference: String) throws -> ContainerRecord {
        let records = all()
        if let exact = records.first(where: { $0.id == reference || $0.name == reference }) { return exact }
        let matches = records.filter { $0.id.hasPrefix(reference) }
        guard matches.count <= 1 else { throw EngineError.ambiguousContainer(reference) }
        guard let match = matches.first, !reference.isEmpty else { throw EngineError.containerNotFound(reference) }
        return match
    }

    /// Creates the container's directory and record under the names lock, so two runs cannot
    /// take the same name, and claims its id in the core. Returns the container's supervisor
    /// lock, held by the caller (it proves the creation in progress).
    public func create(_ record: ContainerRecord) throws -> FileLock {
        try Files.makeDirectories(paths.containers, mode: 0o700)
        let lock = try FileLock(path: paths.containersLock)
        defer { lock.unlock() }
        if let holder = all().first(where: { $0.name == record.name }) {
            throw EngineError.nameInUse(name: record.name, id: holder.id)
        }
        try check(mkdir(paths.container(record.id), 0o700), "mkdir", paths.container(record.id))
        do {
            try runtime.claim(id: record.id, keepingDirectory: true)
            guard let supervisor = takeOverSupervision(record.id) else {
                throw EngineError.invalidOption("container \(record.id): its new supervisor lock is held by another process")
            }
            try save(record, durable: true)
            return supervisor
        } catch {
            try? Files.removeTree(runtime.directory(record.id))
            try? Files.removeTree(paths.container(record.id))
            throw error
        }
    }

    /// Gives the container another name, under the names lock (the rule create follows).
    public func rename(_ id: String, to name: String) throws {
        let lock = try FileLock(path: paths.containersLock)
        defer { lock.unlock() }
        if let holder = all().first(where: { $0.name == name }) {
            throw EngineError.nameInUse(name: name, id: holder.id)
        }
        var record = try load(id)
        record.name = name
        try save(record, durable: true, editingUserFields: true)
    }

    /// `update --restart`: the policy the container's supervisor applies when it next ends.
    public func setRestartPolicy(_ id: String, _ policy: RestartPolicy?) throws {
        let lock = try FileLock(path: paths.containersLock)
        defer { lock.unlock() }
        var record = try load(id)
        record.restartPolicy = policy
        try save(record, durable: true, editingUserFields: true)
    }

    /// The container's cgroup, by the core's rule (`swiftainer-<id>` below our own cgroup).
    public func cgroup(of id: String) throws -> ContainerCgroup {
        do {
            return try runtime.cgroup(ofID: id)
        } catch {
            throw EngineError.invalidOption("\(error)")
        }
    }

    /// Ends what a run of the container holds in the kernel and the core: its cgroup and its
    /// runtime state (the state directory stays for the supervisor lock).
    func releaseRun(_ id: String) {
        runtime.release(id, removingState: false)
        if Rootless.isActive { FuseOverlay.unmount(rootfs: paths.container(id) + "/rootfs") }
    }

    /// Deletes a container's directory. Mounts are made inside the container's own mount
    /// namespace, but anything found mounted below the directory on the host is detached first
    /// rather than deleted through.
    public func remove(_ id: String, supervisorCleanedUp: Bool = false) throws {
        // Normally gone with its supervisor; after a crash, this is where they go.
        if !supervisorCleanedUp {
            releaseRun(id)
            if let current = try? load(id) {
                for attachment in (current.extraNetworks ?? []) + (current.network.map { [$0] } ?? []) { Engine.disconnect(attachment, containerID: id) }
            }
        }
        let dir = paths.container(id)
        for point in Mounts.mountPoints(under: dir) {
            try? Mounts.unmount(point, flags: Int32(MNT_DETACH))
        }
        try Files.removeTree(dir)
        try? Files.removeTree(runtime.directory(id))
    }

    /// Held by whichever process supervises the container (the foreground `run`, or the
    /// monitor) for as long as it does: the kernel releases it when that process dies. This
    /// takes it for a container nobody supervises; nil while a supervisor lives. The lock lives
    /// in the core's state directory on tmpfs, made again here after a reboot.
    public func takeOverSupervision(_ id: String) -> FileLock? {
        try? Files.makeDirectories(runtime.directory(id), mode: 0o700)
        return (try? FileLock.tryLock(path: runtime.supervisorLockPath(id))) ?? nil
    }

    /// Brings records up to date with reality: a container whose supervising process is gone
    /// died with it (the init has PR_SET_PDEATHSIG=SIGKILL). It is marked exited — or removed
    /// when it was started with --rm. Returns the ids removed.
    ///
    /// The record read first may be stale (a supervisor can take over, start or finish the
    /// container in between), so a container is only judged dead while holding its supervisor
    /// lock, from the record as it is then.
    @discardableResult
    public func reconcile() -> [String] {
        var removed: [String] = []
        for candidate in all() where candidate.status != .exited && candidate.runtime?.isAlive != true
            && !(candidate.status == .created && candidate.waitsForStart == true) {
            guard let supervision = takeOverSupervision(candidate.id) else { continue }
            defer { supervision.unlock() }
            guard var record = try? load(candidate.id), record.status != .exited,
                  !(record.status == .created && record.waitsForStart == true) else { continue }
            if record.autoRemove {
                if (try? remove(record.id)) != nil { removed.append(record.id) }
                continue
            }
            releaseRun(record.id)
            for attachment in (record.extraNetworks ?? []) + (record.network.map { [$0] } ?? []) { Engine.disconnect(attachment, containerID: record.id) }
            record.network = nil
            record.extraNetworks = []
            record.status = .exited
            record.exitCode = record.exitCode ?? 137
            record.finishedAt = record.finishedAt ?? Clock.rfc3339()
            record.error = record.error ?? "the process supervising the container died"
            try? save(record)
        }
        // Directories without a readable record: a create interrupted before its first write.
        // Under the lock: create() makes the directory and writes the record while holding it.
        guard let lock = try? FileLock(path: paths.containersLock) else { return removed }
        defer { lock.unlock() }
        for id in (try? Files.listDirectory(paths.containers)) ?? [] where !Files.exists(recordPath(id)) {
            if (try? remove(id)) != nil { removed.append(id) }
        }
        return removed
    }

    /// The container (if any) using image `id`, for `rmi`.
    public func user(ofImage id: String) -> String? {
        all().first { $0.imageID == id }.map { $0.name }
    }
}
