#if canImport(Glibc)
import Glibc
#endif
import Images
import JSONKit
import LinuxKit

/// Docker's credentials file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
/// `{"auths": {"host:port": {"auth": base64("user:password")}}}` — shared with docker login.
public struct DockerCredentials {
    public static var path: String {
        if let dir = getenv("DOCKER_CONFIG").map({ String(cString: $0) }), !dir.isEmpty { return dir + "/config.json" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/root"
        return home + "/.docker/config.json"
    }

    /// user and password for a registry, if `login` stored them.
    public static func lookup(_ domain: String) -> (user: String, password: String)? {
        struct File: Codable {
            struct Entry: Codable { var auth: String? }
            var auths: [String: Entry]?
        }
        guard let bytes = try? Files.read(path), let auths = (try? JSON.decode(File.self, from: bytes))?.auths else { return nil }
        let keys = domain == "docker.io" ? ["https://index.docker.io/v1/", "docker.io", "index.docker.io"] : [domain, "https://" + domain, "http://" + domain]
        for key in keys {
            guard let encoded = auths[key]?.auth, let decoded = Base64.decode(encoded) else { continue }
            let text = String(decoding: decoded, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { continue }
            return (String(text[..<colon]), String(text[text.index(after: colon)...]))
        }
        return nil
    }
}

/// The OCI distribution API of one repository on one registry: manifests and blobs, with the
/// authentication dance (anonymous or with credentials; Bearer tokens and Basic).
public final class RegistryClient {
    public let reference: RegistryReference
    let http: HTTPClient
    /// https unless plain HTTP is allowed and the registry does not speak TLS.
    private(set) var scheme: String
    private let allowsPlainHTTP: Bool
    private let credentials: (user: String, password: String)?
    /// "Bearer …" or "Basic …", once a challenge has been answered.
    private(set) var authorization: String?

    /// `credentials` nil: those stored for the registry, if any.
    public init(_ reference: RegistryReference, insecureRegistries: [String] = [], certificatesDirectories: [String] = [],
                credentials: (user: String, password: String)? = nil) throws {
        self.reference = reference
        http = try HTTPClient()
        allowsPlainHTTP = reference.allowsPlainHTTP(insecureRegistries: insecureRegistries)
        scheme = "https"
        self.credentials = credentials ?? DockerCredentials.lookup(reference.domain)
        // Docker's certs.d: a registry's own CA in <dir>/<host:port>/ca.crt.
        http.caFile = certificatesDirectories.map { "\($0)/\(reference.domain)/ca.crt" }.first(where: Files.exists)
    }

    /// A second client for the same repository (its own connection, for another thread),
    /// sharing what this one learned: scheme and authorization.
    public func sibling() throws -> RegistryClient {
        let client = try RegistryClient(reference, certificatesDirectories: [])
        client.http.caFile = http.caFile
        client.scheme = scheme
        client.authorization = authorization
        return client
    }

    var base: String { "\(scheme)://\(reference.apiHost)/v2/\(reference.path)" }
    /// The registry itself (`GET /v2/` checks credentials).
    var registryRoot: String { "\(scheme)://\(reference.apiHost)/v2/" }

    /// Sends a request, answering an authentication challenge once, and falling back to plain
    /// HTTP (where allowed) when the registry does not speak TLS.
    /// `path` is below the repository's API (`/manifests/…`), or a whole URL (an upload
    /// location the registry named); `upload` sends a file as the body (rewound for a retry).
    func send(_ method: String, _ path: String, headers: [String] = [], body: [UInt8]? = nil, upload: (fd: Int32, length: Int64)? = nil,
              restart: @escaping () -> Void = {},
              sink: @escaping (Int, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws -> HTTPResponse {
        // Each attempt's body starts afresh (a 401 has a body of its own).
        let attempt = { (method: String, path: String, headers: [String], sink: @escaping (Int, UnsafeRawBufferPointer) throws -> Void) -> HTTPResponse in
            restart()
            if let upload { _ = lseek(upload.fd, 0, SEEK_SET) }
            var all = headers
            if let authorization = self.authorization { all.append("Authorization: " + authorization) }
            let url = path.hasPrefix("http://") || path.hasPrefix("https://") ? path : (path == "/" ? self.registryRoot : self.base + path)
            return try self.http.send(method, url, headers: all, body: body, upload: upload, sink: sink)
        }
        var response: HTTPResponse
        do {
            response = try attempt(method, path, headers, sink)
        } catch let httpsError as RegistryError where httpsError.isTransfer && allowsPlainHTTP && scheme == "https" {
            // TLS is always verified; a registry that may be reached over plain HTTP is tried
            // that way when https fails. If that fails too (or the registry is a TLS server
            // refusing plain HTTP with a 400), the https error is the one that explains.
            DebugLog.log("registry: \(reference.domain) over https failed (\(httpsError)); trying http")
            scheme = "http"
            do {
                response = try attempt(method, path, headers, sink)
            } catch let httpError as RegistryError where httpError.isTransfer {
                scheme = "https"
                throw httpsError
            }
            if response.status == 400 {
                scheme = "https"
                throw httpsError
            }
        }
        if response.status == 401, let challenge = response.header("WWW-Authenticate") {
            try authenticate(challenge)
            response = try attempt(method, path, headers, sink)
        }
        return response
    }

    /// A request whose answer matters by its status and headers: the body is kept only to
    /// give the registry's own words (`describe`) when the status is not the one hoped for.
    func request(_ method: String, _ path: String, headers: [String] = [], body: [UInt8]? = nil,
                 upload: (fd: Int32, length: Int64)? = nil) throws -> (response: HTTPResponse, refusal: String) {
        let collected = BodyCollector(limit: 65536, what: "an error response", truncates: true)
        let response = try send(method, path, headers: headers, body: body, upload: upload, restart: collected.reset, sink: collected.append)
        return (response, Self.describe(status: response.status, body: collected.bytes))
    }

    /// `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` → a token from the realm
    /// (with the stored credentials, if any); `Basic` → the credentials themselves.
    func authenticate(_ challenge: String) throws {
        let (kind, parameters) = Self.parseChallenge(challenge)
        switch kind.lowercased() {
        case "basic":
            guard let credentials else {
                throw RegistryError("\(reference.domain): authentication required: no credentials for it in \(DockerCredentials.path) (docker login \(reference.domain) writes them)")
            }
            authorization = "Basic " + Base64.encode(Array("\(credentials.user):\(credentials.password)".utf8))
        case "bearer":
            guard let realm = parameters["realm"] else { throw RegistryError("\(reference.domain): a Bearer challenge without a realm") }
            var query: [String] = []
            if let service = parameters["service"] { query.append("service=" + Self.percentEncoded(service)) }
            // The scope the registry asked for; none (GET /v2/, a login check) asks for none.
            if let scope = parameters["scope"] { query.append("scope=" + Self.percentEncoded(scope)) }
            let url = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
            var headers: [String] = []
            if let credentials { headers.append("Authorization: Basic " + Base64.encode(Array("\(credentials.user):\(credentials.password)".utf8))) }
            let (response, body) = try http.fetch(url, headers: headers, limit: 1 << 20)
            guard response.status == 200 else {
                throw RegistryError("\(reference.domain): the token service answered \(response.status)\(response.status == 401 ? " (wrong credentials?)" : "")")
            }
            struct Token: Codable { var token: String?; var access_token: String? }
            guard let token = (try? JSON.decode(Token.self, from: body)).flatMap({ $0.token ?? $0.access_token }) else {
                throw RegistryError("\(reference.domain): the token service's answer holds no token")
            }
            authorization = "Bearer " + token
        default:
            throw RegistryError("\(reference.domain): unsupported authentication scheme '\(kind)'")
        }
    }

    static func parseChallenge(_ header: String) -> (String, [String: String]) {
        let kind = String(header.prefix { $0 != " " })
        var parameters: [String: String] = [:]
        var rest = Substring(header.dropFirst(kind.count))
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: " ,")
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "\"") ?? rest.endIndex
                value = String(rest[..<end])
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : ""
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            parameters[key.lowercased()] = value
        }
        return (kind, parameters)
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || "-._~".utf8.contains(byte)
            out += unreserved ? String(UnicodeScalar(byte)) : "%" + String(byte, radix: 16, uppercase: true).leftPaddedHex
        }
        return out
    }

    /// The registry's error, in its own words ("manifest unknown") where it gave them.
    static func describe(status: Int, body: [UInt8]) -> String {
        struct Errors: Codable { struct Item: Codable { var code: String?; var message: String? }; var errors: [Item]? }
        if let errors = (try? JSON.decode(Errors.self, from: body))?.errors, let first = errors.first {
            return [first.message, first.code.map { "(\($0))" }].compactMap { $0 }.joined(separator: " ")
        }
        return "HTTP \(status)"
    }

    // MARK: manifests

    static let manifestTypes = [OCIMediaType.manifest, OCIMediaType.index, OCIMediaType.dockerManifest, OCIMediaType.dockerManifestList]
    /// The distribution registry's own limit for a manifest.
    static let manifestLimit = 4 << 20

    /// A manifest or index by tag or digest: its bytes, media type and digest (verified when
    /// asked for by digest).
    public func manifest(_ reference: String) throws -> (bytes: [UInt8], mediaType: String, digest: String) {
        let collected = BodyCollector(limit: Self.manifestLimit, what: "the manifest")
        let response = try send("GET", "/manifests/\(reference)", headers: ["Accept: " + Self.manifestTypes.joined(separator: ", ")],
                                restart: collected.reset, sink: collected.append)
        let body = collected.bytes
        guard response.status == 200 else {
            throw RegistryError(response.status == 404 ? "manifest for \(reference) not found: \(Self.describe(status: response.status, body: body))"
                                                       : "manifest \(reference): \(Self.describe(status: response.status, body: body))")
        }
        let digest = Digest.sha256(body)
        if reference.hasPrefix("sha256:"), digest != reference {
            throw RegistryError("manifest \(reference): content does not match its digest (got \(digest))")
        }
        var mediaType = response.header("Content-Type")?.split(separator: ";").first.map { String($0).trimmingWhitespace } ?? ""
        struct Probe: Codable { var mediaType: String?; var schemaVersion: Int? }
        let probe = try? JSON.decode(Probe.self, from: body)
        if probe?.schemaVersion == 1 || mediaType.contains("distribution.manifest.v1") {
            throw RegistryError("schema 1 manifests are not supported (push the image again with a current client)")
        }
        if let declared = probe?.mediaType { mediaType = declared }
        guard Self.manifestTypes.contains(mediaType) else {
            throw RegistryError("unsupported manifest media type '\(mediaType)'")
        }
        return (body, mediaType, digest)
    }

    /// A small blob (an image config), verified against its digest.
    public func smallBlob(_ digest: String, limit: Int = 4 << 20) throws -> [UInt8] {
        let collected = BodyCollector(limit: limit, what: "blob \(digest)")
        let response = try send("GET", "/blobs/\(digest)", restart: collected.reset, sink: collected.append)
        let body = collected.bytes
        guard response.status == 200 else { throw RegistryError("blob \(digest): \(Self.describe(status: response.status, body: body))") }
        guard Digest.sha256(body) == digest else {
            throw RegistryError("blob \(digest): content does not match its digest (got \(Digest.sha256(body)))")
        }
        return body
    }

    /// Streams a blob's bytes into `sink` as they arrive (only those of a 200 response).
    public func streamBlob(_ digest: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        let errorBody = BodyCollector(limit: 65536, what: "an error response", truncates: true)
        let response = try send("GET", "/blobs/\(digest)", restart: errorBody.reset) { status, chunk in
            if status == 200 { try sink(chunk) } else { try errorBody.append(status, chunk) }
        }
        guard response.status == 200 else { throw RegistryError("blob \(digest): \(Self.describe(status: response.status, body: errorBody.bytes))") }
    }
}

/// The body of the last response of an exchange: a 401 answered by authenticating, or a
/// redirect, sends a body of its own first, which must not be mixed into the final one.
final class BodyCollector {
    private(set) var bytes: [UInt8] = []
    private var status = 0
    let limit: Int
    let what: String
    let truncates: Bool

    init(limit: Int, what: String, truncates: Bool = false) {
        self.limit = limit
        self.what = what
        self.truncates = truncates
    }

    func reset() {
        bytes = []
        status = 0
    }

    func append(_ status: Int, _ chunk: UnsafeRawBufferPointer) throws {
        if status != self.status {
            bytes = []
            self.status = status
        }
        guard bytes.count + chunk.count <= limit else {
            if truncates {
                bytes.append(contentsOf: chunk.prefix(limit - bytes.count))
                return
            }
            throw RegistryError("\(what) is larger than \(limit) bytes")
        }
        bytes.append(contentsOf: chunk)
    }
}

extension String {
    var leftPaddedHex: String { count < 2 ? "0" + self : self }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
