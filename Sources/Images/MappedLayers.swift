#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI

/// Layers seen through a nested user namespace (rootless `--userns keep-id`).
///
/// A layer's files are owned by the image's ids as the store's own namespace numbers them. A
/// container in a nested namespace that maps its ids elsewhere (keep-id puts the user at its
/// own uid, and the image's root one id further on) would see those files under other owners:
/// the image's root files as the user's. An idmapped mount would shift them at no cost, but a
/// user may not idmap ext4 or overlayfs, so — as Podman's storage does without idmapped
/// mounts — each layer is unpacked once more from its kept blob with every owner moved to
/// where the mapping puts it:
///
///   mapped/<key>/<chain hex>/   the layer for one mapping (key: a digest of the maps)
///   l/<16 hex>                  its short link, named from key and chain
///
/// A mapped copy is made on first use, kept for the next container with the same mapping, and
/// removed with its layer.
extension ImageStore {
    var mappedDir: String { root + "/mapped" }

    /// The key of a mapping: the same maps always name the same copies.
    static func mappingKey(_ maps: IDMaps) -> String {
        String(Digest.sha256(Array("uid \(maps.uid)\ngid \(maps.gid)".utf8)).dropFirst(7).prefix(16))
    }

    func mappedLayerPath(chain: String, key: String) -> String { mappedDir + "/" + key + "/" + chain.dropFirst(7) }
    func mappedLinkName(chain: String, key: String) -> String {
        String(Digest.sha256(Array((key + "/" + chain).utf8)).dropFirst(7).prefix(16))
    }

    /// The image's layers as overlay lower directories, top first, each owned as `maps`
    /// (a nested namespace's) put the image's ids; copies made here as needed (none for
    /// maps that keep every id where it is).
    public func mappedLowerDirectories(of record: ImageRecord, maps: IDMaps) throws -> [String] {
        if maps.isIdentity { return lowerDirectories(of: record) }
        let key = Self.mappingKey(maps)
        return try record.chainIDs.reversed().map { chain in
            if !Files.isDirectory(mappedLayerPath(chain: chain, key: key)) { try storeMappedLayer(chain: chain, key: key, maps: maps) }
            return linksDir + "/" + mappedLinkName(chain: chain, key: key)
        }
    }

    /// Unpacks the layer's blob again, owners mapped, into a scratch directory renamed into
    /// place: a failure leaves nothing, and two processes making the same copy both succeed.
    private func storeMappedLayer(chain: String, key: String, maps: IDMaps) throws {
        guard let blob = layerInfo(chain: chain)?.blob, let blobFile = blobPath(blob) else { throw ImageError.missingBlob(diffID: chain) }
        try prepareForWrite()
        try Files.makeDirectories(mappedDir + "/" + key, mode: 0o700)
        let target = newScratchPath("mapped") + "-" + chain.dropFirst(7)
        try check(mkdir(target, 0o755), "mkdir", target)
        defer { try? Files.removeTree(target) }
        // The layer's own root, as the plain layer's, is the image root's (the tar's ./ entry is not applied).
        if let root = maps.outside(uid: 0, gid: 0) { try check(chown(target, root.uid, root.gid), "chown", target) }
        do {
            let input = try FileDescriptor.open(blobFile, O_RDONLY)
            defer { input.close() }
            let rootFD = try FileDescriptor.open(target, O_RDONLY | O_DIRECTORY)
            defer { rootFD.close() }
            var reader = TarReader(DecompressingStream(FileByteStream(input)))
            var unpacker = Unpacker(rootFD: rootFD.raw)
            unpacker.convertsWhiteouts = true
            unpacker.ownerMap = maps
            defer {
                unpacker.close()
                reader.close()
            }
            try unpacker.unpack(&reader)
        }
        let held = try lock()
        defer { held.unlock() }
        // The layer may have been removed meanwhile; its copy must not outlive it.
        guard hasLayer(chain: chain) else { throw ImageError.notFound(chain) }
        let path = mappedLayerPath(chain: chain, key: key)
        // The link first: a copy in place always has its link, even after a crash between the
        // two (a link with no copy yet is made again, harmlessly, by the next attempt).
        _ = symlink("../mapped/" + key + "/" + chain.dropFirst(7), linksDir + "/" + mappedLinkName(chain: chain, key: key))
        if !Files.isDirectory(path) { try check(rename(target, path), "rename", "\(target) -> \(path)") }
    }

    /// Every mapped copy of a layer being removed (with the store locked), and each mapping
    /// directory left empty.
    func removeMappedCopies(chain: String) {
        for key in (try? Files.listDirectory(mappedDir)) ?? [] {
            let path = mappedLayerPath(chain: chain, key: key)
            guard Files.isDirectory(path) else { continue }
            let doomed = newScratchPath("remove") + "-" + key + "-" + chain.dropFirst(7)
            guard rename(path, doomed) == 0 else { continue }
            unlink(linksDir + "/" + mappedLinkName(chain: chain, key: key))
            try? Files.removeTree(doomed)
            rmdir(mappedDir + "/" + key) // only when empty
        }
    }
}
