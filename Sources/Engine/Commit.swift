#if canImport(Glibc)
import Glibc
#endif
import Containers
import Images
import JSONKit
import LinuxKit
import OCI
import Runtime

/// `commit`: the container's writable layer becomes a new layer on top of its image's, with
/// the container's configuration (and `-c` changes) as the new image's.
extension Engine {
    public struct CommitOptions {
        public var reference: String?
        public var message: String?
        public var author: String?
        /// Dockerfile instructions applied to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
        /// USER, VOLUME, WORKDIR, STOPSIGNAL.
        public var changes: [String] = []
        /// Docker's default: the container is frozen while its layer is read.
        public var pause = true
        public init() {}
    }

    /// Returns the new image's id.
    public func commit(_ containerReference: String, _ options: CommitOptions) throws -> String {
        try Self.requireRoot()
        let record = try containers.find(containerReference)
        // Everything that can be wrong with the request, before anything is written.
        let tag = try options.reference.map { text -> ImageReference in
            do { return try ImageReference(parsing: text) } catch { throw EngineError.invalidOption("\(error)") }
        }
        let parent = try images.resolve(record.imageID)
        let spec = try ContainerRuntime.readSpec(bundle: paths.container(record.id))
        var config = try JSON.decode(OCIImageConfig.self, from: try images.configForPush(of: parent).bytes)
        var execution = containerConfig(record, spec: spec, image: config.config ?? OCIImageConfig.Execution())
        for change in options.changes { try Self.apply(change, to: &execution) }
        guard let upper = spec.annotations?[SwiftainerAnnotation.overlayUpper] else {
            throw EngineError.invalidOption("container \(record.name) has no writable layer to commit")
        }
        // The layer as a tar file beside the store's scratch, hashed for its diff id.
        let scratch = paths.data + "/tmp"
        try Files.makeDirectories(scratch, mode: 0o700)
        let tarPath = scratch + "/commit-\(record.shortID)-\(getpid()).tar"
        defer { unlink(tarPath) }
        // Rootless without a cgroup nothing can be frozen: committed running, as Podman's
        // commit does by default.
        let paused = options.pause && record.isRunning && !isPaused(record) && containers.runtime.canFreeze(id: record.id)
        if paused { try containers.runtime.pause(id: record.id) }
        do {
            defer { if paused { try? containers.runtime.resume(id: record.id) } }
            let output = try FileDescriptor.open(tarPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600)
            defer { output.close() }
            let top = try FileDescriptor.open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            defer { top.close() }
            var sink = TarSink(output)
            for name in try Files.listDirectory(top, describing: upper) {
                try FileTreeWalker.walk(parent: top, name: name, as: name, overlayLayer: true, owners: ownerMaps(record), into: &sink)
            }
            try sink.finish()
        }
        let diffID = try Self.sha256(ofFile: tarPath)
        let diffIDs = parent.diffIDs + [diffID]
        let chain = Digest.chainIDs(diffIDs).last!
        let input = try FileDescriptor.open(tarPath, O_RDONLY | O_CLOEXEC)
        defer { input.close() }
        try images.storeLayer(FileByteStream(input), digest: nil, diffID: diffID, chain: chain)
        let now = Clock.rfc3339()
        config.created = now
        config.author = options.author
        config.config = execution
        config.rootfs.diffIDs = diffIDs
        config.history = (config.history ?? []) + [.init(created: now, createdBy: record.command.joined(separator: " "), emptyLayer: nil, comment: options.message)]
        let bytes = try JSON.encode(config)
        let image = try images.storeImage(config: bytes, tags: tag.map { [$0] } ?? [], repoDigest: nil, source: "commit of \(record.name)")
        containerEvent("commit", record, ["comment": options.message ?? ""])
        return image.id
    }

    /// The run configuration the container has: its image's, with what `run` changed.
    func containerConfig(_ record: ContainerRecord, spec: Spec, image: OCIImageConfig.Execution) -> OCIImageConfig.Execution {
        var execution = image
        // The command: after the image's entrypoint when it still starts with it, else all of
        // it (--entrypoint replaced that).
        let entrypoint = image.entrypoint ?? []
        if !entrypoint.isEmpty && record.command.starts(with: entrypoint) {
            execution.cmd = Array(record.command.dropFirst(entrypoint.count))
        } else {
            execution.entrypoint = nil
            execution.cmd = record.command
        }
        // What the runtime set for this run only (HOSTNAME, and HOME unless the image has it)
        // is not the image's.
        let imageHasHome = (image.env ?? []).contains { $0.hasPrefix("HOME=") }
        execution.env = (spec.process?.env ?? image.env ?? []).filter { !$0.hasPrefix("HOSTNAME=") && (imageHasHome || !$0.hasPrefix("HOME=")) }
        execution.workingDir = spec.process?.cwd ?? image.workingDir
        execution.labels = record.labels ?? image.labels
        if let ports = record.exposedPorts, !ports.isEmpty {
            execution.exposedPorts = Dictionary(ports.map { ($0, OCIImageConfig.Empty()) }, uniquingKeysWith: { first, _ in first })
        }
        if let signal = record.stopSignal { execution.stopSignal = signal }
        return execution
    }

    /// One Dockerfile instruction of `commit -c` (or `import -c`), as Docker applies it.
    static func apply(_ change: String, to execution: inout OCIImageConfig.Execution) throws {
        let trimmed = change.drop { $0 == " " }
        let instruction = String(trimmed.prefix { $0 != " " && $0 != "\t" }).uppercased()
        let argument = String(trimmed.dropFirst(instruction.count).drop { $0 == " " || $0 == "\t" })
        func list() throws -> [String] {
            // JSON form ["a", "b"], else the shell form run by /bin/sh -c.
            if argument.hasPrefix("[") {
                guard let values = try? JSON.decode([String].self, from: Array(argument.utf8)) else {
                    throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): malformed JSON list")
                }
                return values
            }
            return ["/bin/sh", "-c", argument]
        }
        func pairs() throws -> [(String, String)] {
            // KEY=VALUE ..., or the old form KEY VALUE.
            if !argument.contains("=") {
                let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): \(instruction) needs KEY=VALUE") }
                return [(parts[0], parts[1])]
            }
            return try argument.split(separator: " ").map { pair in
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): \(instruction) needs KEY=VALUE")
                }
                let value = pair[pair.index(after: equals)...]
                return (String(pair[..<equals]), value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 ? String(value.dropFirst().dropLast()) : String(value))
            }
        }
        guard !argument.isEmpty else { throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): \(instruction) needs an argument") }
        switch instruction {
        case "CMD": execution.cmd = try list()
        case "ENTRYPOINT": execution.entrypoint = try list()
        case "ENV":
            var env = execution.env ?? []
            for (key, value) in try pairs() {
                env = env.filter { !$0.hasPrefix(key + "=") } + ["\(key)=\(value)"]
            }
            execution.env = env
        case "LABEL":
            var labels = execution.labels ?? [:]
            for (key, value) in try pairs() { labels[key] = value }
            execution.labels = labels
        case "EXPOSE":
            var ports = execution.exposedPorts ?? [:]
            for port in argument.split(separator: " ") {
                let key = port.contains("/") ? String(port) : port + "/tcp"
                guard let number = UInt16(key.split(separator: "/")[0]), number > 0 else {
                    throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): invalid port \(port)")
                }
                ports[key] = OCIImageConfig.Empty()
            }
            execution.exposedPorts = ports
        case "USER": execution.user = argument
        case "WORKDIR":
            guard argument.hasPrefix("/") else { throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): WORKDIR must be absolute") }
            execution.workingDir = argument
        case "VOLUME":
            var volumes = execution.volumes ?? [:]
            let paths = argument.hasPrefix("[") ? try list() : argument.split(separator: " ").map(String.init)
            for path in paths { volumes[path] = OCIImageConfig.Empty() }
            execution.volumes = volumes
        case "STOPSIGNAL": execution.stopSignal = argument
        default:
            throw EngineError.invalidOption("invalid change \(Printable.escaped(change)): \(instruction) is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR")
        }
    }

    static func sha256(ofFile path: String) throws -> String {
        let input = try FileDescriptor.open(path, O_RDONLY | O_CLOEXEC)
        defer { input.close() }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
        return "sha256:" + SHA256.hex(hasher.finalize())
    }
}
