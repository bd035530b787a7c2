#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Images
import LinuxKit
import Cgroups
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

    /// `swiftainer run`: returns the container's exit status (Docker's convention).
    public func run(_ options: RunOptions) throws -> Int32 {
        try Self.requireRoot()
        containers.reconcile()
        let image = try images.resolve(options.image)
        // Everything that can be wrong with the request is found before a container exists.
        let capabilities = try options.capabilities()
        let seccomp = try seccompProfile(options)?.resolve(capabilities: Set(capabilities))
        let resources = try options.resources()
        let id = Random.hex(bytes: 32)
        let name = try options.name.map(validated) ?? generateName()
        let me = getpid()
        var record = ContainerRecord(
            id: id, name: name, image: options.image, imageID: image.id,
            command: options.command.isEmpty ? image.config.cmd : options.command,
            created: Clock.rfc3339(), status: .created, pid: nil,
            monitorPid: me, monitorStartTime: ProcessInfoLinux.startTime(of: me),
            exitCode: nil, error: nil, startedAt: nil, finishedAt: nil, autoRemove: options.autoRemove)
        try containers.create(record)
        DebugLog.log("container \(id) (\(name)) from image \(image.id)")

        do {
            let status = try runCreated(&record, options, image, capabilities: capabilities, seccomp: seccomp, resources: resources)
            record.status = .exited
            record.exitCode = status.code
            record.finishedAt = Clock.rfc3339()
            try finish(record)
            return status.code
        } catch {
            record.status = .exited
            record.exitCode = (error as? RuntimeError)?.exitCode ?? 125
            record.error = "\(error)"
            record.finishedAt = Clock.rfc3339()
            try? finish(record)
            throw error
        }
    }

    /// After runCreated, whose cgroup is destroyed when it returns.
    private func finish(_ record: ContainerRecord) throws {
        if record.autoRemove {
            try containers.remove(record.id, cgroupAlreadyGone: true)
        } else {
            try containers.save(record)
        }
    }

    private func runCreated(_ record: inout ContainerRecord, _ options: RunOptions, _ image: ImageRecord,
                            capabilities: [String], seccomp: OCI.Seccomp?, resources: Resources?) throws -> ExitStatus {
        let dir = paths.container(record.id)
        for sub in ["rootfs", "upper", "work"] {
            try check(mkdir(dir + "/" + sub, 0o755), "mkdir", dir + "/" + sub)
        }
        var spec = SpecBuilder.spec(for: options, image: image, containerID: record.id,
                                    hostEnvironment: ProcessInfo.processInfo.environment, hostHostname: Self.hostname(),
                                    capabilities: capabilities, seccomp: seccomp, resources: resources)
        spec.annotations?[SwiftainerAnnotation.overlayLower] = images.rootfsPath(of: image)
        spec.annotations?[SwiftainerAnnotation.overlayUpper] = dir + "/upper"
        spec.annotations?[SwiftainerAnnotation.overlayWork] = dir + "/work"
        try Files.writeAtomically(dir + "/config.json", try JSONEncoder.pretty.encode(spec).bytes, mode: 0o600)

        let cgroup = try containers.cgroup(of: record.id)
        defer { cgroup.destroy() }
        ProcessMonitor.blockHandledSignals()
        defer { ProcessMonitor.unblockHandledSignals() }
        let created = try Launcher.create(LaunchRequest(
            containerID: record.id, bundle: dir, spec: spec,
            stdin: options.interactive ? .inherit : .null, noPivot: options.noPivot, debug: DebugLog.enabled,
            cgroup: cgroup, seccompCache: paths.data + "/cache/seccomp"))
        DebugLog.log("init pid \(created.pid) ready")
        record.pid = created.pid
        try created.start()
        record.status = .running
        record.startedAt = Clock.rfc3339()
        try containers.save(record)

        let terminal = options.tty && options.interactive ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        let status = try ProcessMonitor.wait(pid: created.pid, console: created.consoleMaster, relayInput: options.interactive)
        terminal?.restore()
        DebugLog.log("container exited: \(status)")
        if cgroup.oomKillCount() > 0 {
            record.oomKilled = true
            let limit = resources?.memory?.limit.map { " (memory limit \($0) bytes)" } ?? ""
            fputs("swiftainer: container \(record.name) was killed by the OOM killer\(limit)\n", stderr)
        }
        return status
    }

    /// `rm [-f]`: a running container is refused, or with force killed first; its supervisor
    /// then records the exit, and the directory goes.
    public func remove(_ reference: String, force: Bool) throws {
        let record = try containers.find(reference)
        if record.status == .running && record.isMonitorAlive {
            guard force else { throw EngineError.containerRunning(reference) }
            if let pid = record.pid { _ = kill(pid, SIGKILL) }
            // Give the supervisor a moment to record the exit before the directory disappears.
            for _ in 0..<100 where record.isMonitorAlive && (try? containers.load(record.id))?.status == .running {
                usleep(50_000)
            }
        }
        try containers.remove(record.id)
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

    private func validated(_ name: String) throws -> String {
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
