#if canImport(Glibc)
import Glibc
#endif
import Images
import JSONKit
import LinuxKit

/// `swiftainer push`: each layer's blob as the store keeps it (the bytes it was pulled, loaded
/// or imported as — so digests stay what they were), then the config, then an OCI manifest
/// naming them. Blobs the registry has already are not sent again.
public final class Pusher {
    public let store: ImageStore
    public let image: ImageRecord
    public let reference: RegistryReference
    public var insecureRegistries: [String] = []
    public var certificatesDirectories: [String] = ["/etc/docker/certs.d"]
    public var report: (String) -> Void = { _ in }
    /// Blobs uploaded at once (Docker's default is 5; 3 as for pulls).
    public var concurrency = 3

    public init(store: ImageStore, image: ImageRecord, reference: RegistryReference) {
        self.store = store
        self.image = image
        self.reference = reference
    }

    /// Pushes; returns the manifest's digest.
    @discardableResult
    public func push() throws -> String {
        guard let tag = reference.tag, reference.digest == nil else { throw RegistryError("push needs a tag, not a digest") }
        let client = try RegistryClient(reference, insecureRegistries: insecureRegistries, certificatesDirectories: certificatesDirectories)
        report("The push refers to repository [\(reference.domain)/\(reference.path)]")
        let (bytes, config, layers) = try store.ociManifest(of: image)
        // The first request answers the authentication challenge once for the siblings.
        _ = try upload(path: store.blobPath(config.digest)!, digest: config.digest, client)
        let reportLock = Mutex()
        try onConnections(layers, concurrency: concurrency, client) { connection, layer in
            let existed = try self.upload(path: layer.path, digest: layer.descriptor.digest, connection)
            reportLock.withLock { self.report("\(String(layer.descriptor.digest.dropFirst(7).prefix(12))): \(existed ? "Layer already exists" : "Pushed")") }
        }
        let (response, refusal) = try client.request("PUT", "/manifests/\(tag)", headers: ["Content-Type: \(OCIMediaType.manifest)"], body: bytes)
        guard response.status == 201 || response.status == 200 else { throw RegistryError("manifest: \(refusal)") }
        let digest = Digest.sha256(bytes)
        report("\(tag): digest: \(digest) size: \(bytes.count)")
        return digest
    }

    /// One blob, unless the registry has it: a monolithic upload (POST for a location, PUT the
    /// bytes with their digest). Returns whether it existed.
    private func upload(path: String, digest: String, _ client: RegistryClient) throws -> Bool {
        if try client.send("HEAD", "/blobs/\(digest)").status == 200 { return true }
        let start = try client.send("POST", "/blobs/uploads/", body: [])
        guard start.status == 202, let location = start.header("Location") else {
            throw RegistryError("blob upload: the registry answered \(start.status) to POST /blobs/uploads/")
        }
        let url = location.hasPrefix("/") ? "\(client.scheme)://\(reference.apiHost)\(location)" : location
        let file = try FileDescriptor.open(path, O_RDONLY)
        defer { file.close() }
        var info = stat()
        try check(fstat(file.raw, &info), "fstat", path)
        let (done, refusal) = try client.request("PUT", url + (url.contains("?") ? "&" : "?") + "digest=" + RegistryClient.percentEncoded(digest),
                                                 headers: ["Content-Type: application/octet-stream"], upload: (file.raw, Int64(info.st_size)))
        guard done.status == 201 else { throw RegistryError("blob \(digest): \(refusal)") }
        return false
    }
}
