#if canImport(Glibc)
import Glibc
#endif
import Images
import JSONKit
import LinuxKit

/// `swiftainer pull`: manifest (through an index, the one for this platform), config, then
/// every layer the store lacks — several at a time, each streamed from the registry straight
/// into the unpacker (a pipe between the transfer thread and the unpacking one: no copy of the
/// blob on disk), its digest and diff id checked on the way. Layers appear in the store only
/// when complete and the image record last, so an interrupted pull leaves no half image (its
/// scratch directory goes with the next store operation) and the next pull picks up the
/// layers that did finish.
public final class Puller {
    public let store: ImageStore
    public let reference: RegistryReference
    /// Layers fetched at once (Docker's default is 3).
    public var concurrency = 3
    public var insecureRegistries: [String] = []
    public var certificatesDirectories: [String] = ["/etc/docker/certs.d"]
    /// Progress lines, Docker's words; called from several threads, one line at a time.
    public var report: (String) -> Void = { _ in }
    /// A layer's state changed ("Pulling fs layer", "Pull complete"…), or, with `bytes`, how
    /// much of it has arrived (`total`: its blob's size when the manifest says). Called under
    /// the same lock as `report`. By default, state lines go to `report` as "<id>: <state>".
    public var layerProgress: ((_ id: String, _ state: String, _ bytes: UInt64?, _ total: UInt64?) -> Void)?
    /// Attempts per layer when the registry fails (5xx, a reset connection).
    public var attempts = 3

    private let reportLock = Mutex()

    public init(store: ImageStore, reference: RegistryReference) {
        self.store = store
        self.reference = reference
    }

    private func say(_ line: String) { reportLock.withLock { report(line) } }

    private func layerState(_ digest: String, _ state: String, bytes: UInt64? = nil, total: UInt64? = nil) {
        reportLock.withLock {
            if let layerProgress {
                layerProgress(Self.short(digest), state, bytes, total)
            } else if bytes == nil {
                report("\(Self.short(digest)): \(state)")
            }
        }
    }

    public func pull() throws -> ImageRecord {
        store.removeAbandonedScratch()
        let client = try RegistryClient(reference, insecureRegistries: insecureRegistries, certificatesDirectories: certificatesDirectories)
        say("\(reference.tag ?? reference.digest ?? "latest"): Pulling from \(reference.domain == "docker.io" ? reference.path : reference.localName)")
        let top = try client.manifest(reference.manifestReference)
        let manifest = try resolve(top, client)
        for layer in manifest.layers { try LayerMediaType.check(layer.mediaType, digest: layer.digest) }
        let config = try client.smallBlob(manifest.config.digest)
        let diffIDs = try ImageStore.diffIDs(ofConfig: config, layerCount: manifest.layers.count, source: reference.description)
        let chains = Digest.chainIDs(diffIDs)
        let imageID = Digest.sha256(config)
        let existed = (try? store.resolve(imageID)) != nil
        var missing: [Int] = []
        for (index, layer) in manifest.layers.enumerated() {
            if store.hasKeptLayer(chain: chains[index]) {
                layerState(layer.digest, "Already exists")
            } else if !missing.contains(where: { chains[$0] == chains[index] }) {
                missing.append(index)
                layerState(layer.digest, "Pulling fs layer")
            }
        }
        try fetchLayers(missing, manifest: manifest, diffIDs: diffIDs, chains: chains, client: client)
        let record = try store.storeImage(config: config, tags: reference.localReference.map { [$0] } ?? [],
                                          repoDigest: "\(reference.localName)@\(top.digest)", source: reference.description)
        say("Digest: \(top.digest)")
        let shown = reference.localReference?.description ?? reference.description
        say(existed ? "Status: Image is up to date for \(shown)" : "Status: Downloaded newer image for \(shown)")
        return record
    }

    /// The image manifest itself: from an index, the entry for this platform.
    private func resolve(_ fetched: (bytes: [UInt8], mediaType: String, digest: String), _ client: RegistryClient) throws -> OCIManifest {
        switch fetched.mediaType {
        case OCIMediaType.index, OCIMediaType.dockerManifestList:
            let index = try JSON.decode(OCIIndex.self, from: fetched.bytes)
            guard let chosen = index.manifests.first(where: { $0.platform.map(Platform.isNative) ?? false }) else {
                let offered = index.manifests.compactMap { $0.platform.map { "\($0.os)/\($0.architecture)" } }.joined(separator: ", ")
                throw RegistryError("no image for \(Platform.native) (the index offers \(offered.isEmpty ? "none" : offered))")
            }
            let inner = try client.manifest(chosen.digest)
            guard inner.mediaType == OCIMediaType.manifest || inner.mediaType == OCIMediaType.dockerManifest else {
                throw RegistryError("an index inside an index is not supported")
            }
            return try decodeManifest(inner.bytes)
        default:
            return try decodeManifest(fetched.bytes)
        }
    }

    private func decodeManifest(_ bytes: [UInt8]) throws -> OCIManifest {
        do { return try JSON.decode(OCIManifest.self, from: bytes) } catch {
            throw RegistryError("manifest: \(JSON.describe(error))")
        }
    }

    /// Docker's 12-character layer name in progress lines.
    static func short(_ digest: String) -> String { String(digest.dropFirst("sha256:".count).prefix(12)) }

    /// Up to `concurrency` threads, each with its own connection, take layers off one queue.
    private func fetchLayers(_ indices: [Int], manifest: OCIManifest, diffIDs: [String], chains: [String], client: RegistryClient) throws {
        try onConnections(indices, concurrency: concurrency, client) { connection, index in
            try self.fetchLayer(manifest.layers[index], diffID: diffIDs[index], chain: chains[index], connection)
        }
    }

    /// One layer, retried from the start when the registry fails mid-way.
    private func fetchLayer(_ layer: OCIDescriptor, diffID: String, chain: String, _ client: RegistryClient) throws {
        var attempt = 1
        while true {
            do {
                try streamLayer(layer, diffID: diffID, chain: chain, client)
                self.layerState(layer.digest, "Download complete")
                self.layerState(layer.digest, "Pull complete")
                return
            } catch let error as RegistryError where attempt < attempts && Self.isRetryable(error) {
                self.layerState(layer.digest, "Retrying in \(attempt) second\(attempt == 1 ? "" : "s") (\(error))")
                sleep(UInt32(attempt))
                attempt += 1
            }
        }
    }

    /// A transfer that died (a reset connection, a timeout) or a 5xx answer is worth another
    /// try; a 4xx or a digest mismatch is not.
    static func isRetryable(_ error: RegistryError) -> Bool {
        let text = error.description
        return text.contains("HTTP 5") || text.contains("Recv failure") || text.contains("reset") || text.contains("transfer closed")
            || text.contains("timed out") || text.contains("Failure when receiving") || text.contains("Server returned nothing")
    }

    /// The transfer thread writes the blob into a pipe; this thread unpacks from it.
    private func streamLayer(_ layer: OCIDescriptor, diffID: String, chain: String, _ client: RegistryClient) throws {
        let (read, write) = try FileDescriptor.pipe()
        var transferError: Error?
        // How much has arrived, reported at most every 100 ms (a terminal redraws on each).
        var received: UInt64 = 0
        var reported = 0.0
        let total = layer.size.map { UInt64(max(0, $0)) }
        let transfer = try JoinableThread {
            do {
                try client.streamBlob(layer.digest) { chunk in
                    try write.writeAll(chunk, what: "layer pipe")
                    received += UInt64(chunk.count)
                    let now = Clock.monotonicSeconds()
                    if now - reported >= 0.1 {
                        reported = now
                        self.layerState(layer.digest, "Downloading", bytes: received, total: total)
                    }
                }
            } catch {
                transferError = error
            }
            write.close()
        }
        var unpackError: Error?
        do {
            try store.storeLayer(FileByteStream(read), digest: layer.digest, diffID: diffID, chain: chain)
        } catch {
            unpackError = error
        }
        read.close() // a transfer still writing gets EPIPE and stops
        transfer.join()
        // The registry's or the connection's failure explains a truncated stream better. A
        // broken pipe only says that the unpacker stopped reading first: because it failed
        // (its error explains), or because the layer turned out to be stored already (another
        // pull finished it meanwhile) — then nothing failed.
        if let transferError = transferError as? RegistryError { throw transferError }
        if let unpackError { throw unpackError }
    }
}

/// Runs `body` for each item on up to `concurrency` threads, each with a connection of its own
/// (a sibling of `client`, sharing what it learned), taking items off one queue; the first
/// failure stops the others from taking more and is rethrown. Pull and push share it.
func onConnections<Item>(_ items: [Item], concurrency: Int, _ client: RegistryClient,
                         _ body: @escaping (RegistryClient, Item) throws -> Void) throws {
    guard !items.isEmpty else { return }
    let queue = Mutex()
    var next = 0
    var failure: Error?
    let work = {
        let connection: RegistryClient
        do { connection = try client.sibling() } catch {
            queue.withLock { failure = failure ?? error }
            return
        }
        while true {
            let item: Item? = queue.withLock {
                guard failure == nil, next < items.count else { return nil }
                defer { next += 1 }
                return items[next]
            }
            guard let item else { return }
            do { try body(connection, item) } catch {
                queue.withLock { failure = failure ?? error }
                return
            }
        }
    }
    let threads = try (0..<max(1, min(concurrency, items.count))).map { _ in try JoinableThread(work) }
    threads.forEach { $0.join() }
    if let failure { throw failure }
}
