#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit

/// `login` and `logout`: credentials checked against the registry, kept where Docker keeps
/// them (DockerCredentials.path, `auths`), so that both tools share one login.
public enum RegistryLogin {
    /// Docker's key for a registry in `auths` (Docker Hub has a historical one).
    public static func key(for domain: String) -> String { domain == "docker.io" ? "https://index.docker.io/v1/" : domain }

    /// Asks the registry (`GET /v2/`) whether these credentials open it.
    public static func verify(domain: String, user: String, password: String, insecureRegistries: [String], certificatesDirectories: [String]) throws {
        let reference = try RegistryReference(parsing: domain + "/login-check")
        let client = try RegistryClient(reference, insecureRegistries: insecureRegistries, certificatesDirectories: certificatesDirectories,
                                        credentials: (user, password))
        let (response, refusal) = try client.request("GET", "/")
        guard response.status == 200 else {
            throw RegistryError(response.status == 401 ? "unauthorized: incorrect username or password" : "\(domain): \(refusal)")
        }
    }

    /// Writes (or with nil, removes) the entry for `domain`, keeping everything else in the file.
    /// Returns whether an entry was there before.
    @discardableResult
    public static func update(domain: String, credentials: (user: String, password: String)?) throws -> Bool {
        let path = DockerCredentials.path
        var top: [(key: String, value: JSONValue)] = []
        if let bytes = try? Files.read(path) {
            guard case .object(let fields) = try JSON.parse(bytes) else { throw RegistryError("\(path): not a JSON object") }
            top = fields
        }
        var auths: [(key: String, value: JSONValue)] = []
        if let index = top.firstIndex(where: { $0.key == "auths" }) {
            if case .object(let entries) = top[index].value { auths = entries }
            top.remove(at: index)
        }
        let key = key(for: domain)
        let existed = auths.contains { $0.key == key }
        auths.removeAll { $0.key == key }
        if let credentials {
            auths.append((key, .object([("auth", .string(Base64.encode(Array("\(credentials.user):\(credentials.password)".utf8))))])))
        }
        top.insert(("auths", .object(auths)), at: 0)
        try Files.makeDirectories(Files.dirname(of: path), mode: 0o700)
        // 0600: the file holds passwords.
        try Files.writeAtomically(path, JSON.write(.object(top), format: .document), mode: 0o600)
        return existed
    }
}
