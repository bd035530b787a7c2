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
                    throw ImageError.loadFailed(source: record.id, reason: "layer \(diffID) has no blob in the store (stored before swiftainer kept them): pull, load or import the image again")
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
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try stream.read(into: buffer)
            if n == 0 { break }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        }
        return ("sha256:" + stream.digestHex, stream.decompressedBytes)
    }
}
