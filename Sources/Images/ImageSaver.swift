#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit

/// `swiftainer save`: images as a docker-archive (what `docker save` writes and `docker load`,
/// `podman load` and skopeo read): per layer `<diff id hex>/layer.tar` (the uncompressed tar,
/// streamed from the kept blob and checked against its diff id on the way), the config as
/// `<config hex>.json`, then `manifest.json` and `repositories`. Layers shared by several of
/// the images are written once.
extension ImageStore {
    public func save(_ images: [(record: ImageRecord, tags: [ImageReference])], to output: FileDescriptor) throws {
        var tar = TarWriter(output)
        var written = Set<String>()
        struct Entry: Codable {
            var Config: String
            var RepoTags: [String]
            var Layers: [String]
        }
        var manifest: [Entry] = []
        var repositories: [String: [String: String]] = [:]
        for (record, tags) in images {
            let config = try configForPush(of: record)
            var layerNames: [String] = []
            for (chain, diffID) in zip(record.chainIDs, record.diffIDs) {
                let hex = String(diffID.dropFirst(7))
                let name = hex + "/layer.tar"
                layerNames.append(name)
                guard written.insert(hex).inserted else { continue }
                guard let info = layerInfo(chain: chain), let blob = info.blob, let path = blobPath(blob) else {
                    throw ImageError.missingBlob(diffID: diffID)
                }
                let size = try info.tarSize ?? uncompressedSize(path)
                try tar.directory(hex)
                try tar.file(name, size: size) { emit in
                    let (digest, _) = try decompress(path, into: emit)
                    guard digest == diffID else { throw ImageError.digestMismatch(expected: diffID, actual: digest) }
                }
            }
            let configName = String(config.digest.dropFirst(7)) + ".json"
            if written.insert(configName).inserted { try tar.file(configName, config.bytes) }
            manifest.append(Entry(Config: configName, RepoTags: tags.map(\.description), Layers: layerNames))
            for tag in tags { repositories[tag.name, default: [:]][tag.tag] = String(record.diffIDs.last?.dropFirst(7) ?? "") }
        }
        try tar.file("manifest.json", try JSON.encode(manifest))
        try tar.file("repositories", try JSON.encode(repositories, format: .sortedKeys))
        try tar.finish()
    }

    /// The length of a blob once decompressed (for layers recorded without it).
    private func uncompressedSize(_ path: String) throws -> UInt64 {
        try decompress(path) { _ in }.length
    }

    /// A blob's bytes decompressed, chunk by chunk into `sink`; their digest and length.
    private func decompress(_ path: String, into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> (digest: String, length: UInt64) {
        let input = try FileDescriptor.open(path, O_RDONLY)
        defer { input.close() }
        var stream = DecompressingStream(FileByteStream(input))
        defer { stream.close() }
        try pump(&stream, into: sink)
        return ("sha256:" + stream.digestHex, stream.decompressedBytes)
    }

    /// Every byte of `source`, chunk by chunk, into `sink`.
    private func pump<S: ByteStream>(_ source: inout S, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try source.read(into: buffer)
            if n == 0 { break }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        }
    }

    /// An image as an OCI manifest over what the store keeps: its config (made for an
    /// imported root filesystem) and each layer's blob as it came. What push sends and an
    /// OCI archive holds.
    public func ociManifest(of record: ImageRecord) throws -> (bytes: [UInt8], config: (digest: String, bytes: [UInt8]), layers: [(descriptor: OCIDescriptor, path: String)]) {
        var layers: [(descriptor: OCIDescriptor, path: String)] = []
        for (chain, diffID) in zip(record.chainIDs, record.diffIDs) {
            guard let info = layerInfo(chain: chain), let blob = info.blob, let path = blobPath(blob) else {
                throw ImageError.missingBlob(diffID: diffID)
            }
            layers.append((OCIDescriptor(mediaType: info.mediaType ?? LayerMediaType.gzip, digest: blob, size: Int64(info.blobSize ?? 0)), path))
        }
        let config = try configForPush(of: record)
        let manifest = OCIManifest(schemaVersion: 2, mediaType: OCIMediaType.manifest,
                                   config: OCIDescriptor(mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: Int64(config.bytes.count)),
                                   layers: layers.map(\.descriptor))
        return (try JSON.encode(manifest), config, layers)
    }

    /// An OCI image layout in a tar (`oci-layout`, `index.json`, `blobs/sha256/`): every blob as
    /// the store keeps it, one index entry per tag (named as containerd and podman name them).
    public func saveOCIArchive(_ images: [(record: ImageRecord, tags: [ImageReference])], to output: FileDescriptor) throws {
        var tar = TarWriter(output)
        var written = Set<String>()
        var entries: [OCIDescriptor] = []
        try tar.file("oci-layout", Array(#"{"imageLayoutVersion": "1.0.0"}"#.utf8))
        try tar.directory("blobs")
        try tar.directory("blobs/sha256")
        func blob(_ digest: String, _ bytes: [UInt8]) throws {
            guard written.insert(digest).inserted else { return }
            try tar.file("blobs/sha256/" + digest.dropFirst(7), bytes)
        }
        for (record, tags) in images {
            let (manifest, config, layers) = try ociManifest(of: record)
            for layer in layers where written.insert(layer.descriptor.digest).inserted {
                let input = try FileDescriptor.open(layer.path, O_RDONLY)
                defer { input.close() }
                var info = stat()
                try check(fstat(input.raw, &info), "fstat", layer.path)
                try tar.file("blobs/sha256/" + layer.descriptor.digest.dropFirst(7), size: UInt64(info.st_size)) { emit in
                    var blob = FileByteStream(input)
                    try pump(&blob, into: emit)
                }
            }
            try blob(config.digest, config.bytes)
            let digest = Digest.sha256(manifest)
            try blob(digest, manifest)
            let names = tags.isEmpty ? [nil] : tags.map { Optional($0.description) }
            for name in names {
                entries.append(OCIDescriptor(mediaType: OCIMediaType.manifest, digest: digest, size: Int64(manifest.count),
                                             annotations: name.map { ["org.opencontainers.image.ref.name": $0, "io.containerd.image.name": $0] }))
            }
        }
        try tar.file("index.json", try JSON.encode(OCIIndex(schemaVersion: 2, mediaType: OCIMediaType.index, manifests: entries)))
        try tar.finish()
    }
}
