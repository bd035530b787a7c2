import Images

/// An image reference as Docker normalizes it: `alpine` is `docker.io/library/alpine:latest`,
/// `host:port/team/app:v1` names its registry, `name@sha256:…` pins a manifest digest.
public struct RegistryReference: Equatable, CustomStringConvertible, Sendable {
    /// "docker.io", "127.0.0.1:5000", "registry.example.com".
    public var domain: String
    /// The repository path on that registry: "library/alpine", "team/app".
    public var path: String
    public var tag: String?
    public var digest: String?

    public init(parsing text: String) throws {
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = String(rest[rest.index(after: at)...])
            guard Digest.hex(digest) != nil else { throw RegistryError("invalid reference '\(text)': '\(digest)' is not a sha256 digest") }
            self.digest = digest
            rest = rest[..<at]
        }
        // A colon after the last slash starts the tag; before it, it belongs to a port.
        if let colon = rest.lastIndex(of: ":"), colon > (rest.lastIndex(of: "/") ?? rest.startIndex) || !rest.contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let components = rest.split(separator: "/", omittingEmptySubsequences: false)
        if components.count > 1, let first = components.first, first.contains(".") || first.contains(":") || first == "localhost" {
            domain = String(first)
            path = components.dropFirst().joined(separator: "/")
        } else {
            domain = "docker.io"
            path = components.count == 1 ? "library/" + rest : String(rest)
        }
        if tag == nil && digest == nil { tag = "latest" }
        // The local name must be a valid Docker name too (lowercase, separators).
        _ = try ImageReference(parsing: localName + ":" + (tag ?? "latest"))
    }

    /// The name the store knows it by: Docker's familiar form (docker.io/library/ dropped).
    public var localName: String {
        guard domain == "docker.io" else { return domain + "/" + path }
        return path.hasPrefix("library/") ? String(path.dropFirst("library/".count)) : "docker.io/" + path
    }

    /// The local tag this pull updates (none for a pull by digest alone).
    public var localReference: ImageReference? { tag.map { ImageReference(name: localName, tag: $0) } }

    /// Where the registry's API is: Docker Hub's API has a host of its own.
    public var apiHost: String { domain == "docker.io" ? "registry-1.docker.io" : domain }

    /// What the manifest is fetched by.
    public var manifestReference: String { digest ?? tag ?? "latest" }

    public var description: String {
        localName + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// Docker's rule for plain HTTP: registries on loopback, or listed as insecure.
    public func allowsPlainHTTP(insecureRegistries: [String]) -> Bool {
        let host = domain.split(separator: ":").first.map(String.init) ?? domain
        return host == "localhost" || host.hasPrefix("127.") || host == "[::1]" || insecureRegistries.contains(domain)
    }
}
