#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit

/// `swiftainer load`: images from a tar archive in either format other tools write —
/// docker-archive (`manifest.json` + `repositories`, what `docker save` and `skopeo copy …
/// docker-archive:` write) or an OCI image layout (`oci-layout` + `index.json` + `blobs/`,
/// what `skopeo copy … oci-archive:` and `podman save --format oci-archive` write).
///
/// The archive is unpacked into a scratch directory first (with the unpacker's usual rules:
/// docker-archive puts its manifest last, so the blobs cannot be streamed in order), then
/// every layer the store lacks is unpacked, verified against its digests, and renamed into
/// place; the image record and tags come last. A failure anywhere removes the scratch
/// directory and changes nothing the store lists.
extension ImageStore {
    /// Loads every image in the archive read from `input`; returns Docker's lines ("Loaded
    /// image: alpine:3.20", or "Loaded image ID: sha256:…" for an untagged one).
    public func load(from input: FileDescriptor, source: String) throws -> [String] {
        try prepareForWrite()
        removeAbandonedScratch()
        let scratch = newScratchPath("load")
        do {
            try check(mkdir(scratch, 0o700), "mkdir", scratch)
            defer { try? Files.removeTree(scratch) }
            let archive = scratch + "/archive"
            try check(mkdir(archive, 0o700), "mkdir", archive)
            try unpackArchive(input, into: archive)
            let images = try Files.exists(archive + "/manifest.json") ? dockerArchiveImages(archive) : ociLayoutImages(archive)
            guard !images.isEmpty else { throw ImageError.loadFailed(source: source, reason: "the archive names no image") }
            var lines: [String] = []
            for image in images {
                let record = try store(image, scratch: scratch, source: source)
                if image.tags.isEmpty { lines.append("Loaded image ID: \(record.id)") }
                for tag in image.tags { lines.append("Loaded image: \(tag)") }
            }
            return lines
        } catch let error as ImageError {
            throw error
        } catch {
            throw ImageError.loadFailed(source: source, reason: "\(error)")
        }
    }

    /// One image found in an archive: its config, its layer files, the tags it carries.
    struct ArchivedImage {
        var config: [UInt8]
        var layers: [(path: String, digest: String?)]
        var tags: [ImageReference]
    }

    private func unpackArchive(_ input: FileDescriptor, into directory: String) throws {
        let root = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY)
        defer { root.close() }
        var reader = TarReader(DecompressingStream(FileByteStream(input)))
        var unpacker = Unpacker(rootFD: root.raw, applyOwnership: false)
        defer {
            unpacker.close()
            reader.source.close()
            reader.close()
        }
        guard try unpacker.unpack(&reader) > 0 else { throw TarError.empty }
    }

    /// docker-archive: manifest.json lists, per image, the config file and the layer files.
    private func dockerArchiveImages(_ archive: String) throws -> [ArchivedImage] {
        struct Entry: Codable {
            var config: String
            var repoTags: [String]?
            var layers: [String]
            enum CodingKeys: String, CodingKey { case config = "Config", repoTags = "RepoTags", layers = "Layers" }
        }
        let entries = try JSON.decode([Entry].self, from: try readSmall(archive + "/manifest.json", what: "manifest.json"))
        return try entries.map { entry in
            let config = try readSmall(try inside(archive, entry.config), what: entry.config)
            let tags = try (entry.repoTags ?? []).map { try ImageReference(parsing: $0) }
            return ArchivedImage(config: config, layers: try entry.layers.map { (try inside(archive, $0), nil) }, tags: tags)
        }
    }

    /// OCI image layout: index.json → manifest (through an index, the one for this platform)
    /// → config and layers, every blob named by its digest and checked against it.
    private func ociLayoutImages(_ archive: String) throws -> [ArchivedImage] {
        guard Files.exists(archive + "/oci-layout") else {
            throw ImageError.loadFailed(source: "archive", reason: "neither manifest.json (docker-archive) nor oci-layout (OCI image layout) in it")
        }
        let index = try JSON.decode(OCIIndex.self, from: try readSmall(archive + "/index.json", what: "index.json"))
        var images: [ArchivedImage] = []
        for descriptor in index.manifests {
            let manifest = try resolveManifest(descriptor, archive: archive)
            let config = try blob(manifest.config, archive: archive)
            let layers = try manifest.layers.map { layer -> (String, String?) in
                guard let hex = Digest.hex(layer.digest) else { throw ImageError.badDigest(layer.digest) }
                try LayerMediaType.check(layer.mediaType, digest: layer.digest)
                return (archive + "/blobs/sha256/" + hex, layer.digest)
            }
            let name = descriptor.annotations?["io.containerd.image.name"] ?? descriptor.annotations?["org.opencontainers.image.ref.name"]
            // A bare tag ("3.20") names no repository: such an image loads untagged.
            let tag = name.flatMap { $0.contains(":") || $0.contains("/") ? try? ImageReference(parsing: $0) : nil }
            images.append(ArchivedImage(config: config, layers: layers, tags: tag.map { [$0] } ?? []))
        }
        return images
    }

    private func resolveManifest(_ descriptor: OCIDescriptor, archive: String) throws -> OCIManifest {
        switch descriptor.mediaType {
        case OCIMediaType.index, OCIMediaType.dockerManifestList:
            let index = try JSON.decode(OCIIndex.self, from: try blob(descriptor, archive: archive))
            guard let chosen = index.manifests.first(where: { $0.platform.map(Platform.isNative) ?? false }) else {
                throw ImageError.loadFailed(source: "archive", reason: "no image for \(Platform.native) in the index \(descriptor.digest)")
            }
            return try resolveManifest(chosen, archive: archive)
        case OCIMediaType.manifest, OCIMediaType.dockerManifest, nil:
            return try JSON.decode(OCIManifest.self, from: try blob(descriptor, archive: archive))
        case let other?:
            throw ImageError.loadFailed(source: "archive", reason: "unsupported manifest media type '\(other)'")
        }
    }

    /// A small blob (manifest, index, config), read whole and checked against its digest.
    private func blob(_ descriptor: OCIDescriptor, archive: String) throws -> [UInt8] {
        guard let hex = Digest.hex(descriptor.digest) else { throw ImageError.badDigest(descriptor.digest) }
        let bytes = try readSmall(archive + "/blobs/sha256/" + hex, what: descriptor.digest)
        guard Digest.sha256(bytes) == descriptor.digest else {
            throw ImageError.digestMismatch(expected: descriptor.digest, actual: Digest.sha256(bytes))
        }
        return bytes
    }

    /// Manifests and configs are small; a huge one is an attack or a mistake (4 MiB, the
    /// distribution registry's own manifest limit).
    private func readSmall(_ path: String, what: String) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ImageError.loadFailed(source: "archive", reason: "\(what) is missing") }
        guard info.st_size <= 4 << 20 else { throw ImageError.loadFailed(source: "archive", reason: "\(what) is larger than 4 MiB") }
        return try Files.read(path)
    }

    /// A path named by the archive's manifest, kept inside the archive.
    private func inside(_ archive: String, _ relative: String) throws -> String {
        let parts = try Unpacker.components(of: relative)
        guard !parts.isEmpty else { throw ImageError.loadFailed(source: "archive", reason: "empty path in manifest.json") }
        return archive + "/" + parts.joined(separator: "/")
    }

    /// Stores one image: layers the store lacks, then the config blob, record and tags.
    private func store(_ image: ArchivedImage, scratch: String, source: String) throws -> ImageRecord {
        let diffIDs = try ImageStore.diffIDs(ofConfig: image.config, layerCount: image.layers.count, source: source)
        let chains = Digest.chainIDs(diffIDs)
        for (index, layer) in image.layers.enumerated() where !hasKeptLayer(chain: chains[index]) {
            let input = try FileDescriptor.open(layer.path, O_RDONLY)
            defer { input.close() }
            try storeLayer(FileByteStream(input), digest: layer.digest, diffID: diffIDs[index], chain: chains[index])
        }
        return try storeImage(config: image.config, tags: image.tags, repoDigest: nil, source: source)
    }
}

extension ImageStore {
    /// The diff ids an image config lists, checked against the number of layers that came with it.
    public static func diffIDs(ofConfig bytes: [UInt8], layerCount: Int, source: String) throws -> [String] {
        let config: OCIImageConfig
        do { config = try JSON.decode(OCIImageConfig.self, from: bytes) } catch {
            throw ImageError.loadFailed(source: source, reason: "image config: \(JSON.describe(error))")
        }
        let diffIDs = config.rootfs.diffIDs
        guard diffIDs.count == layerCount else {
            throw ImageError.loadFailed(source: source, reason: "the config lists \(diffIDs.count) layers, the manifest \(layerCount)")
        }
        guard diffIDs.allSatisfy({ Digest.hex($0) != nil }) else { throw ImageError.loadFailed(source: source, reason: "a diff id is not a sha256 digest") }
        return diffIDs
    }

    /// Records an image whose layers are all stored: the config blob, the record, the tags.
    /// The image id is the config's digest.
    @discardableResult
    public func storeImage(config bytes: [UInt8], tags: [ImageReference], repoDigest: String?, source: String) throws -> ImageRecord {
        try prepareForWrite()
        let config = try JSON.decode(OCIImageConfig.self, from: bytes)
        let id = Digest.sha256(bytes)
        var record = ImageRecord(id: id, created: config.created ?? Clock.rfc3339(), size: 0, source: source, config: config.runConfig,
                                 layers: config.rootfs.diffIDs)
        guard isComplete(record) else { throw ImageError.loadFailed(source: source, reason: "a layer is missing from the store") }
        record.size = record.chainIDs.reduce(0) { $0 + (layerInfo(chain: $1)?.size ?? 0) }
        let held = try lock()
        defer { held.unlock() }
        if let existing = try? readRecord(configsDir + "/" + record.hex + ".json") { record.repoDigests = existing.repoDigests }
        if let repoDigest, !(record.repoDigests ?? []).contains(repoDigest) { record.repoDigests = (record.repoDigests ?? []) + [repoDigest] }
        try Files.writeAtomically(blobsDir + "/" + record.hex, bytes, mode: 0o600)
        try Files.writeAtomically(configsDir + "/" + record.hex + ".json", try JSON.encode(record, format: .document))
        var repositories = try readRepositories()
        for tag in tags { repositories[tag.description] = id }
        try writeRepositories(repositories)
        return record
    }

    /// Unpacks one layer from `source` (its blob's bytes: gzip or plain tar) unless the store has
    /// its chain already: whiteouts converted, the blob's digest (when known) and the diff id
    /// (when known) checked while it streams; the blob itself kept in blobs/ (push and save
    /// send it as it came); renamed into place only when complete. Safe to call from several
    /// threads for different layers. `diffID` nil: a layer of its own (an imported root
    /// filesystem), whose chain id is the diff id it turns out to have.
    @discardableResult
    public func storeLayer<S: ByteStream>(_ source: S, digest: String?, diffID: String?, chain: String?,
                                          limit: UInt64 = .max, requiresEntries: Bool = false) throws -> LayerInfo {
        try prepareForWrite()
        // A layer stored with its record is done; one stored before records (and blobs) were
        // kept is unpacked again for its blob, and keeps its directory.
        if let chain, hasKeptLayer(chain: chain), let info = layerInfo(chain: chain) { return info }
        let target = newScratchPath("layer") + "-" + (chain ?? "sha256:new").dropFirst(7)
        try check(mkdir(target, 0o755), "mkdir", target)
        defer { try? Files.removeTree(target) }
        let blobTemp = "\(blobsDir)/\(target.split(separator: "/").last!).tmp-\(getpid())"
        let blobFile = try FileDescriptor.open(blobTemp, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        defer {
            blobFile.close()
            unlink(blobTemp)
        }
        let rootFD = try FileDescriptor.open(target, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        var stream = DecompressingStream(HashingStream(TeeStream(source, to: blobFile)))
        stream.limit = limit
        var reader = TarReader(stream)
        var unpacker = Unpacker(rootFD: rootFD.raw)
        unpacker.convertsWhiteouts = true
        defer {
            unpacker.close()
            reader.source.close()
            reader.close()
        }
        let entries = try unpacker.unpack(&reader)
        if requiresEntries && entries == 0 { throw TarError.empty }
        try reader.drainSource()
        let blobDigest = reader.source.compressedSource.digest
        if let digest, blobDigest != digest { throw ImageError.digestMismatch(expected: digest, actual: blobDigest) }
        let actual = "sha256:" + reader.source.digestHex
        if let diffID, actual != diffID { throw ImageError.digestMismatch(expected: diffID, actual: actual) }
        let chain = chain ?? actual
        let info = LayerInfo(diffID: actual, size: unpacker.bytesWritten, tarSize: reader.source.decompressedBytes, blob: blobDigest,
                             mediaType: reader.source.compression == "zstd" ? LayerMediaType.zstd : reader.source.wasCompressed ? LayerMediaType.gzip : LayerMediaType.tar,
                             blobSize: reader.source.compressedSource.count)
        let held = try lock()
        defer { held.unlock() }
        let existing = layerInfo(chain: chain)
        if let existing, existing.blob != nil { return existing } // another process stored it meanwhile
        try check(rename(blobTemp, blobsDir + "/" + blobDigest.dropFirst(7)), "rename", blobTemp)
        try Files.writeAtomically(layerInfoPath(chain: chain), try JSON.encode(info), mode: 0o600)
        // An older layer's directory stays (containers may be running on it); ours goes.
        if existing == nil { try check(rename(target, layerPath(chain: chain)), "rename", "\(target) -> \(layerPath(chain: chain))") }
        makeLink(chain: chain)
        return info
    }
}

/// What the store knows of an unpacked layer (layerinfo/<chain hex>.json).
public struct LayerInfo: Codable, Equatable, Sendable {
    public var diffID: String
    /// Bytes of its files (image sizes add these up).
    public var size: UInt64
    /// Bytes of its uncompressed tar stream.
    public var tarSize: UInt64?
    /// The blob it was unpacked from, kept in blobs/ (nil for layers stored before blobs were).
    public var blob: String?
    public var mediaType: String?
    public var blobSize: UInt64?
}

/// A stream that also writes what passes through it to a file (a layer's blob, kept while it
/// is unpacked: no second read of the source).
public struct TeeStream<Source: ByteStream>: ByteStream {
    public var source: Source
    let copy: FileDescriptor

    public init(_ source: Source, to copy: FileDescriptor) {
        self.source = source
        self.copy = copy
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try source.read(into: buffer)
        if n > 0 { try copy.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<n]), what: "layer blob") }
        return n
    }
}

/// Layer media types swiftainer can unpack: tar, gzip'ed tar (OCI's and Docker's names).
public enum LayerMediaType {
    public static let gzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let tar = "application/vnd.oci.image.layer.v1.tar"
    public static let zstd = "application/vnd.oci.image.layer.v1.tar+zstd"

    public static func check(_ mediaType: String?, digest: String) throws {
        guard let mediaType else { return }
        let known = ["application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip", zstd,
                     "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                     "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"]
        guard known.contains(mediaType) else {
            throw ImageError.unsupportedLayer("layer \(digest) has the unknown media type '\(mediaType)'")
        }
    }
}
