#if canImport(Glibc)
import Glibc
#endif
import Images
import JSONKit
import LinuxKit
import Registry

/// Images from registries, for `pull` and for `run` of an image that is not here yet.
extension Engine {
    /// Docker's `--pull` for run and create.
    public enum PullPolicy: String, Sendable { case missing, always, never }

    /// `<root>/daemon.json`, as Docker's: `{"insecure-registries": ["host:port"]}` lists the
    /// registries that may be reached over plain HTTP besides those on loopback.
    var insecureRegistries: [String] {
        struct Settings: Codable {
            var insecureRegistries: [String]?
            enum CodingKeys: String, CodingKey { case insecureRegistries = "insecure-registries" }
        }
        guard let bytes = try? Files.read(paths.data + "/daemon.json") else { return [] }
        return (try? JSON.decode(Settings.self, from: bytes))?.insecureRegistries ?? []
    }

    /// Pulls `text` (Docker's reference syntax) into the store; progress lines go to `report`.
    @discardableResult
    public func pull(_ text: String, report: @escaping (String) -> Void) throws -> ImageRecord {
        try Self.requireRoot()
        let reference: RegistryReference
        do { reference = try RegistryReference(parsing: text) } catch {
            throw EngineError.invalidOption("\(error)")
        }
        let puller = Puller(store: images, reference: reference)
        puller.insecureRegistries = insecureRegistries
        // Docker's certs.d (a registry's CA in <dir>/<host:port>/ca.crt), ours first.
        puller.certificatesDirectories = [paths.data + "/certs.d", "/etc/docker/certs.d"]
        puller.report = report
        do {
            return try withBrokenPipesIgnored { try puller.pull() }
        } catch {
            throw EngineError.pullFailed(reference: reference.description, reason: "\(error)")
        }
    }

    /// The image `run` and `create` use, pulled first when the policy says so.
    func image(for text: String, policy: PullPolicy) throws -> ImageRecord {
        if policy != .always, let local = try? resolveLocally(text) { return local }
        // Not a name a registry could have (an id prefix, a malformed name): the local error.
        guard policy != .never, (try? RegistryReference(parsing: text)) != nil else { return try images.resolve(text) }
        if policy == .missing { fputs("Unable to find image '\(Printable.escaped(text))' locally\n", stderr) }
        let record = try pull(text) { fputs($0 + "\n", stderr) }
        return record
    }

    /// A name as typed, or as Docker normalizes it (docker.io/library/alpine is alpine).
    func resolveLocally(_ text: String) throws -> ImageRecord {
        do { return try images.resolve(text) } catch {
            guard let reference = try? RegistryReference(parsing: text), let local = reference.localReference else { throw error }
            return try images.resolve(local.description)
        }
    }
}
