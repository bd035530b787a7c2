#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit

/// What `run` needs from an image besides its files.
public struct ImageConfig: Codable, Equatable, Sendable {
    public var env: [String]
    public var cmd: [String]
    public var workingDir: String
    /// From the image's config (nil for imported root filesystems and older records).
    public var entrypoint: [String]?
    public var user: String?
    public var stopSignal: String?
    public var labels: [String: String]?
    public var exposedPorts: [String]?
    public var volumes: [String]?
    /// The image's HEALTHCHECK.
    public var healthcheck: HealthConfig?

    public init(env: [String], cmd: [String], workingDir: String) {
        self.env = env
        self.cmd = cmd
        self.workingDir = workingDir
    }

    public static let rootfsDefault = ImageConfig(
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        cmd: ["/bin/sh"],
        workingDir: "/")
}

public struct ImageRecord: Codable, Equatable, Sendable {
    /// "sha256:<hex of the uncompressed tar stream>", like Docker's layer diff id.
    public var id: String
    public var created: String
    public var size: UInt64
    public var source: String
    public var config: ImageConfig
    /// The diff ids of its layers, bottom first. nil: an imported root filesystem, one layer
    /// whose diff id is the image id.
    public var layers: [String]?
    /// "name@sha256:<manifest digest>" for each registry it was pulled from.
    public var repoDigests: [String]?

    public init(id: String, created: String, size: UInt64, source: String, config: ImageConfig, layers: [String]? = nil) {
        self.id = id
        self.created = created
        self.size = size
        self.source = source
        self.config = config
        self.layers = layers
    }

    public var diffIDs: [String] { layers ?? [id] }
    /// Where its layers are unpacked: `layers/<chain id hex>`, shared with every image that
    /// has the same layers under them.
    public var chainIDs: [String] { Digest.chainIDs(diffIDs) }

    public var hex: String { String(id.dropFirst("sha256:".count)) }
    public var shortID: String { String(hex.prefix(12)) }
}

public enum ImageError: Error, CustomStringConvertible {
    case notFound(String)
    case ambiguous(String)
    case inUse(reference: String, container: String)
    case importFailed(file: String, reason: String)
    case loadFailed(source: String, reason: String)
    case badDigest(String)
    case unsupportedLayer(String)
    case missingBlob(diffID: String)
    case digestMismatch(expected: String, actual: String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .notFound(let name): return "image not found: \(name)"
        case .ambiguous(let prefix): return "image id prefix '\(prefix)' matches more than one image"
        case .inUse(let reference, let container):
            return "unable to remove image \(reference): container \(container) is using it (stop and remove it first)"
        case .importFailed(let file, let reason): return "cannot import \(file): \(reason)"
        case .loadFailed(let source, let reason): return "cannot load \(source): \(reason)"
        case .badDigest(let digest): return "'\(digest)' is not a sha256 digest"
        case .unsupportedLayer(let reason): return reason
        case .missingBlob(let diffID):
            return "layer \(diffID) has no blob in the store (it was stored before swiftainer kept layer blobs): pull, load or import the image again"
        case .digestMismatch(let expected, let actual): return "content does not match its digest: expected \(expected), got \(actual)"
        case .system(let error): return "image store: \(error)"
        }
    }
}

/// Images on disk:
///   layers/<chain hex>/  one unpacked layer (an overlay lower directory: never written), keyed
///                        by its chain id so that images sharing a stack share its directories;
///                        an imported root filesystem is a one-layer image (chain id = diff id)
///   l/<16 hex>           short symlinks to layers/, so that a stack of many layers fits in
///                        overlay's one-page mount options (Docker's overlay2 does the same)
///   mapped/<key>/<chain hex>/  a layer's copy owned for a nested user namespace (MappedLayers)
///   blobs/sha256/<hex>   image configs as they came (their digest is the image id)
///   configs/<hex>.json   ImageRecord
///   repositories.json    {"alpine:latest": "sha256:<hex>"}
///   tmp/                 imports and loads in progress, named after their process
///   lock                 flock() around every change of layers/, configs/ and repositories.json
public final class ImageStore {
    public let root: String
    var layersDir: String { root + "/layers" }
    var configsDir: String { root + "/configs" }
    var tmpDir: String { root + "/tmp" }
    var repositoriesPath: String { root + "/repositories.json" }

    public init(root: String) {
        self.root = root
    }

    var linksDir: String { root + "/l" }
    /// `layerinfo/<chain hex>.json`: LayerInfo (sizes, the blob it came from).
    var layerInfoDir: String { root + "/layerinfo" }
    func layerInfoPath(chain: String) -> String { layerInfoDir + "/" + chain.dropFirst(7) + ".json" }

    /// What the store knows of a layer; nil when it is not stored. A layer imported before
    /// layer records existed gets one made from its directory alone (no blob).
    public func layerInfo(chain: String) -> LayerInfo? {
        guard Files.isDirectory(layerPath(chain: chain)) else { return nil }
        if let bytes = try? Files.read(layerInfoPath(chain: chain)), let info = try? JSON.decode(LayerInfo.self, from: bytes) { return info }
        return LayerInfo(diffID: chain, size: 0)
    }
    var blobsDir: String { root + "/blobs/sha256" }

    public func layerPath(chain: String) -> String { layersDir + "/" + chain.dropFirst("sha256:".count) }
    func linkName(chain: String) -> String { String(chain.dropFirst("sha256:".count).prefix(16)) }

    /// The image's layers as overlay lower directories, top first, through their short links
    /// (made here for layers stored before links existed).
    public func lowerDirectories(of record: ImageRecord) -> [String] {
        record.chainIDs.reversed().map { chain in
            let link = linksDir + "/" + linkName(chain: chain)
            if !Files.exists(link) {
                try? Files.makeDirectories(linksDir, mode: 0o700)
                makeLink(chain: chain)
            }
            return link
        }
    }

    /// `l/<16 hex>` → `../layers/<chain hex>` (an existing link is left as it is).
    func makeLink(chain: String) {
        _ = symlink("../layers/" + chain.dropFirst("sha256:".count), linksDir + "/" + linkName(chain: chain))
    }

    /// The layer is unpacked (containers can stack it).
    public func hasLayer(chain: String) -> Bool { Files.isDirectory(layerPath(chain: chain)) }

    /// The layer is unpacked *and* its blob and record are kept (push and save can send it): a
    /// layer stored before blobs were kept is fetched or unpacked again for its blob.
    public func hasKeptLayer(chain: String) -> Bool { layerInfo(chain: chain)?.blob != nil }

    /// The image's layer directories, top first (what reads an image's files without
    /// mounting it goes through, e.g. /etc/passwd for `-u`).
    public func layerDirectories(of record: ImageRecord) -> [String] {
        record.chainIDs.reversed().map(layerPath(chain:))
    }


    func prepareForWrite() throws { try prepare() }

    private func prepare() throws {
        do {
            for dir in [root, layersDir, configsDir, tmpDir, linksDir, blobsDir, layerInfoDir] { try Files.makeDirectories(dir, mode: 0o700) }
        } catch let error as SystemError { throw ImageError.system(error) }
    }

    func lock() throws -> FileLock {
        do { return try FileLock(path: root + "/lock") } catch let error as SystemError { throw ImageError.system(error) }
    }

    // MARK: import

    /// What `import` unpacks at most by default (the uncompressed tar stream): 32 GiB, far above
    /// any real root filesystem, and a bound on what a decompression bomb can cost.
    public static let defaultImportLimit: UInt64 = 32 << 30

    /// Unpacks a (gzipped) rootfs tarball and tags it. Atomic: the layer appears under its
    /// final name only once complete, and a failure leaves the store as it was.
    @discardableResult
    public func importArchive(path file: String, as reference: ImageReference, config: ImageConfig = .rootfsDefault,
                              limit: UInt64 = defaultImportLimit) throws -> ImageRecord {
        try prepare()
        removeAbandonedScratch()
        do {
            let input = try FileDescriptor.open(file, O_RDONLY)
            defer { input.close() }
            // One layer of its own: its diff id is the image id (Docker's import of a root
            // filesystem), and a tarball imported twice is one image with two tags.
            let layer = try storeLayer(FileByteStream(input), digest: nil, diffID: nil, chain: nil, limit: limit, requiresEntries: true)
            let held = try lock()
            defer { held.unlock() }
            let recordPath = configsDir + "/" + layer.diffID.dropFirst(7) + ".json"
            var stored = ImageRecord(id: layer.diffID, created: Clock.rfc3339(), size: layer.size, source: file, config: config)
            if let existing = try? readRecord(recordPath) {
                stored = existing // same content imported before: keep the first record
            } else {
                try Files.writeAtomically(recordPath, try JSON.encode(stored, format: .document))
            }
            var repositories = try readRepositories()
            repositories[reference.description] = stored.id
            try writeRepositories(repositories)
            return stored
        } catch {
            switch error {
            case let error as SystemError: throw ImageError.importFailed(file: file, reason: "\(error)")
            case let error as ImageError: throw error
            default: throw ImageError.importFailed(file: file, reason: "\(error)")
            }
        }
    }

    /// `tmp/<what>-<pid>-<start time>-<ns>`: whose it is, so that a dead process's is found.
    func newScratchPath(_ what: String) -> String {
        "\(tmpDir)/\(what)-\(getpid())-\(ProcessInfoLinux.startTime(of: getpid()) ?? 0)-\(Clock.now().tv_nsec)"
    }

    /// An import or load whose process died leaves its scratch directory; the next one removes it.
    public func removeAbandonedScratch() {
        Files.removeAbandonedTemporaries(in: blobsDir)
        for name in (try? Files.listDirectory(tmpDir)) ?? [] {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[1]), let start = UInt64(parts[2]) else { continue }
            if !ProcessInfoLinux.isAlive(pid: pid, startTime: start) {
                try? Files.removeTree(tmpDir + "/" + name)
            }
        }
    }

    // MARK: lookup

    func readRecord(_ path: String) throws -> ImageRecord {
        try JSON.decode(ImageRecord.self, from: try Files.read(path))
    }

    func readRepositories() throws -> [String: String] {
        guard Files.exists(repositoriesPath) else { return [:] }
        return try JSON.decode([String: String].self, from: try Files.read(repositoriesPath))
    }

    func writeRepositories(_ repositories: [String: String]) throws {
        try Files.writeAtomically(repositoriesPath, try JSON.encode(repositories, format: .document))
    }

    /// All images whose layer is complete, with their tags (an untagged image has none).
    public func list() throws -> [(record: ImageRecord, tags: [ImageReference])] {
        let repositories = try readRepositories()
        var result: [(ImageRecord, [ImageReference])] = []
        for file in (try? Files.listDirectory(configsDir)) ?? [] where file.hasSuffix(".json") {
            guard let record = try? readRecord(configsDir + "/" + file), isComplete(record) else { continue }
            let tags = repositories.filter { $0.value == record.id }.keys.sorted().compactMap { try? ImageReference(parsing: $0) }
            result.append((record, tags))
        }
        return result.sorted { $0.0.created > $1.0.created }
    }

    /// TARGET names the image `record` (replacing what it named before).
    public func tag(_ record: ImageRecord, as reference: ImageReference) throws {
        try prepare()
        let held = try lock()
        defer { held.unlock() }
        guard isComplete(record) else { throw ImageError.notFound(record.id) }
        var repositories = try readRepositories()
        repositories[reference.description] = record.id
        try writeRepositories(repositories)
    }

    /// The image config as it came (nil for an imported root filesystem, which has none).
    /// An imported one's id is its layer's diff id, which for an uncompressed tarball is also
    /// its layer blob's digest: blobs/<id> is then the layer, never read as a config.
    public func configBlob(of record: ImageRecord) -> [UInt8]? {
        guard record.layers != nil else { return nil }
        return try? Files.read(blobsDir + "/" + record.hex)
    }

    /// The image's config blob: as it came, or — for an imported root filesystem, which came
    /// with none — one made from its record (what Docker's import writes), kept in blobs/ so
    /// that every push of it names the same digest.
    public func configForPush(of record: ImageRecord) throws -> (digest: String, bytes: [UInt8]) {
        if let bytes = configBlob(of: record) { return (record.id, bytes) }
        let bytes = try synthesizedConfig(of: record)
        let digest = Digest.sha256(bytes)
        if blobPath(digest) == nil { try Files.writeAtomically(blobsDir + "/" + digest.dropFirst(7), bytes, mode: 0o600) }
        return (digest, bytes)
    }

    /// The config an imported root filesystem is pushed and saved with (the same bytes each time).
    func synthesizedConfig(of record: ImageRecord) throws -> [UInt8] {
        let platform = Platform.native.split(separator: "/").map(String.init)
        var execution = OCIImageConfig.Execution()
        execution.env = record.config.env
        execution.cmd = record.config.cmd
        execution.workingDir = record.config.workingDir
        let config = OCIImageConfig(created: record.created, architecture: platform.last, os: platform.first, config: execution,
                                    rootfs: .init(type: "layers", diffIDs: record.diffIDs),
                                    history: [.init(created: record.created, createdBy: "swiftainer import", emptyLayer: nil, comment: "Imported from \(record.source)")])
        return try JSON.encode(config)
    }

    /// The file of a blob the store keeps, if it does.
    public func blobPath(_ digest: String) -> String? {
        guard let hex = Digest.hex(digest) else { return nil }
        let path = blobsDir + "/" + hex
        return Files.exists(path) ? path : nil
    }

    /// `image prune`: images no container uses that have no tag (`all`: any image no container
    /// uses) are deleted with the layers and blobs nothing else stands on. Returns Docker's lines.
    /// `selected`: the prune filters' say (until=, label=); every image by default.
    public func prune(all: Bool, selected: (ImageRecord) -> Bool = { _ in true }, users: (String) -> String?) throws -> (lines: [String], reclaimed: UInt64) {
        var lines: [String] = []
        var reclaimed: UInt64 = 0
        for entry in try list() where (all || entry.tags.isEmpty) && users(entry.record.id) == nil && selected(entry.record) {
            reclaimed += entry.record.size
            if entry.tags.isEmpty {
                lines += try remove(entry.record.id, force: true, users: users)
            } else {
                for tag in entry.tags { lines += try remove(tag.description, force: false, users: users) }
            }
        }
        return (lines, reclaimed)
    }

    /// Records that `record` is in a registry under `repoDigest` (name@sha256:…).
    public func addRepoDigest(_ repoDigest: String, to record: ImageRecord) throws {
        let held = try lock()
        defer { held.unlock() }
        var current = try readRecord(configsDir + "/" + record.hex + ".json")
        let name = repoDigest.split(separator: "@").first.map(String.init) ?? repoDigest
        current.repoDigests = (current.repoDigests ?? []).filter { !$0.hasPrefix(name + "@") } + [repoDigest]
        try Files.writeAtomically(configsDir + "/" + record.hex + ".json", try JSON.encode(current, format: .document))
    }

    /// Every layer of the image is in the store.
    func isComplete(_ record: ImageRecord) -> Bool {
        record.chainIDs.allSatisfy(hasLayer(chain:))
    }

    /// Resolves `name[:tag]`, a full id (`sha256:…`) or a unique id prefix.
    public func resolve(_ text: String) throws -> ImageRecord {
        let repositories = try readRepositories()
        if let reference = try? ImageReference(parsing: text), let id = repositories[reference.description] {
            let record = try readRecord(configsDir + "/" + id.dropFirst("sha256:".count) + ".json")
            guard isComplete(record) else { throw ImageError.notFound(text) }
            return record
        }
        let prefix = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        guard prefix.count >= 4, prefix.allSatisfy({ $0.isHexDigit }) else { throw ImageError.notFound(text) }
        let matches = try list().filter { $0.record.hex.hasPrefix(prefix.lowercased()) }
        guard matches.count <= 1 else { throw ImageError.ambiguous(text) }
        guard let match = matches.first else { throw ImageError.notFound(text) }
        return match.record
    }

    // MARK: removal

    /// Untags `text`; deletes the image once no tag names it and no container uses it.
    /// `users(id)` names a container using the image, if any. Returns the lines Docker prints.
    public func remove(_ text: String, force: Bool, users: (String) -> String?) throws -> [String] {
        try prepare()
        let held = try lock()
        defer { held.unlock() }
        let record = try resolve(text)
        var repositories = try readRepositories()
        var output: [String] = []
        // Removing by name drops that tag; by id, every tag of the image.
        let tag = (try? ImageReference(parsing: text))?.description
        let untag = tag.flatMap { repositories[$0] == record.id ? [$0] : nil }
            ?? repositories.filter { $0.value == record.id }.keys.sorted()
        let remainingTags = repositories.filter { $0.value == record.id }.count - untag.count
        if remainingTags == 0, let container = users(record.id), !force {
            throw ImageError.inUse(reference: text, container: container)
        }
        for tag in untag {
            repositories[tag] = nil
            output.append("Untagged: \(tag)")
        }
        try writeRepositories(repositories)
        if remainingTags == 0 && users(record.id) == nil {
            // The record goes first (the image is gone at once), then every layer no other
            // image stands on, each renamed away before it is deleted.
            unlink(configsDir + "/" + record.hex + ".json")
            if record.layers != nil { unlink(blobsDir + "/" + record.hex) } // an import's id may be its layer blob's digest
            if record.layers == nil, let synthesized = try? synthesizedConfig(of: record) {
                unlink(blobsDir + "/" + Digest.sha256(synthesized).dropFirst(7)) // made for a push or save of an import
            }
            output.append("Deleted: \(record.id)")
            let stillUsed = Set(((try? Files.listDirectory(configsDir)) ?? []).compactMap { try? readRecord(configsDir + "/" + $0) }.flatMap(\.chainIDs))
            let stillUsedBlobs = Set(stillUsed.compactMap { layerInfo(chain: $0)?.blob })
            for chain in record.chainIDs.reversed() where !stillUsed.contains(chain) {
                let info = layerInfo(chain: chain)
                let doomed = newScratchPath("remove") + "-" + chain.dropFirst(7)
                guard rename(layerPath(chain: chain), doomed) == 0 else { continue }
                unlink(linksDir + "/" + linkName(chain: chain))
                if let blob = info?.blob, !stillUsedBlobs.contains(blob) { unlink(blobsDir + "/" + blob.dropFirst(7)) }
                unlink(layerInfoPath(chain: chain))
                removeMappedCopies(chain: chain)
                try Files.removeTree(doomed)
                if chain != record.id { output.append("Deleted: \(chain)") }
            }
        }
        return output
    }
}

