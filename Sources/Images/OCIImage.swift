import JSONKit
import LinuxKit

/// The OCI image config (application/vnd.oci.image.config.v1+json, which Docker's config is
/// too): what an image says about how to run it, and the diff ids of its layers.
public struct OCIImageConfig: Codable, Equatable, Sendable {
    public var created: String?
    /// Docker's: who made the image (`commit --author`).
    public var author: String?
    public var architecture: String?
    public var os: String?
    public var config: Execution?
    public var rootfs: RootFS
    public var history: [History]?

    public init(created: String?, architecture: String?, os: String?, config: Execution?, rootfs: RootFS, history: [History]?) {
        self.created = created
        self.architecture = architecture
        self.os = os
        self.config = config
        self.rootfs = rootfs
        self.history = history
    }

    public struct Execution: Codable, Equatable, Sendable {
        public var user: String?
        public var exposedPorts: [String: Empty]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var volumes: [String: Empty]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?
        /// Docker's extension of the image config (HEALTHCHECK).
        public var healthcheck: HealthConfig?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
            case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal", healthcheck = "Healthcheck"
        }
    }

    /// `{}` in ExposedPorts and Volumes.
    public struct Empty: Codable, Equatable, Sendable {
        public init() {}
    }

    public struct RootFS: Codable, Equatable, Sendable {
        public var type: String
        public var diffIDs: [String]

        public init(type: String, diffIDs: [String]) {
            self.type = type
            self.diffIDs = diffIDs
        }

        enum CodingKeys: String, CodingKey {
            case type, diffIDs = "diff_ids"
        }
    }

    public struct History: Codable, Equatable, Sendable {
        public var created: String?
        public var createdBy: String?
        public var emptyLayer: Bool?
        public var comment: String?

        public init(created: String?, createdBy: String?, emptyLayer: Bool?, comment: String?) {
            self.created = created
            self.createdBy = createdBy
            self.emptyLayer = emptyLayer
            self.comment = comment
        }

        enum CodingKeys: String, CodingKey {
            case created, createdBy = "created_by", emptyLayer = "empty_layer", comment
        }
    }

    /// What `run` takes from it, in the store's own record.
    public var runConfig: ImageConfig {
        let execution = config
        var result = ImageConfig(env: execution?.env ?? [], cmd: execution?.cmd ?? [], workingDir: execution?.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
        result.entrypoint = execution?.entrypoint
        result.user = execution?.user.flatMap { $0.isEmpty ? nil : $0 }
        result.stopSignal = execution?.stopSignal
        result.labels = execution?.labels
        result.exposedPorts = execution?.exposedPorts.map { $0.keys.sorted() }
        result.volumes = execution?.volumes.map { $0.keys.sorted() }
        result.healthcheck = execution?.healthcheck
        return result
    }
}

/// Digests as the OCI image spec writes them: "sha256:<64 lowercase hex>".
public enum Digest {
    public static func sha256(_ bytes: [UInt8]) -> String {
        var hash = SHA256()
        hash.update(bytes)
        return "sha256:" + SHA256.hex(hash.finalize())
    }

    /// The hex of a well-formed sha256 digest, or nil (other algorithms are not supported).
    public static func hex(_ digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = digest.dropFirst(7)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        return String(hex)
    }

    /// The chain ids of a layer stack (bottom first): the first is its diff id, each next one
    /// sha256("<parent chain id> <diff id>") — the identity of a layer *with everything under
    /// it*, which is what an unpacked overlay lower directory is shared by.
    public static func chainIDs(_ diffIDs: [String]) -> [String] {
        var chains: [String] = []
        for diff in diffIDs {
            guard let parent = chains.last else {
                chains.append(diff)
                continue
            }
            chains.append(sha256(Array("\(parent) \(diff)".utf8)))
        }
        return chains
    }
}

/// A stream that hashes what passes through it: the compressed bytes of a layer blob, checked
/// against its descriptor's digest while it is being unpacked (no second read).
public struct HashingStream<Source: ByteStream>: ByteStream {
    public var source: Source
    private var hash = SHA256()
    public private(set) var count: UInt64 = 0

    public init(_ source: Source) { self.source = source }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try source.read(into: buffer)
        if n > 0 {
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            count += UInt64(n)
        }
        return n
    }

    public var digest: String {
        var copy = hash
        return "sha256:" + SHA256.hex(copy.finalize())
    }
}

/// Media types of manifests and indexes (OCI's and Docker's v2 schema 2 names).
public enum OCIMediaType {
    public static let manifest = "application/vnd.oci.image.manifest.v1+json"
    public static let index = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
}

public struct OCIDescriptor: Codable, Equatable, Sendable {
    public var mediaType: String?
    public var digest: String
    public var size: Int64?
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String?, digest: String, size: Int64?, annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }
}

public struct Platform: Codable, Equatable, Sendable {
    public var architecture: String
    public var os: String
    public var variant: String?

    /// This machine, as image indexes name it.
    public static var native: String {
        #if arch(x86_64)
        return "linux/amd64"
        #elseif arch(arm64)
        return "linux/arm64"
        #else
        return "linux/unknown"
        #endif
    }

    public static func isNative(_ platform: Platform) -> Bool { "\(platform.os)/\(platform.architecture)" == native }
}

public struct OCIIndex: Codable, Equatable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var manifests: [OCIDescriptor]

    public init(schemaVersion: Int?, mediaType: String?, manifests: [OCIDescriptor]) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.manifests = manifests
    }
}

public struct OCIManifest: Codable, Equatable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var config: OCIDescriptor
    public var layers: [OCIDescriptor]

    public init(schemaVersion: Int?, mediaType: String?, config: OCIDescriptor, layers: [OCIDescriptor]) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
    }
}
