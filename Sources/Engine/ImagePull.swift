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
    public func pull(_ text: String, layerProgress: ((String, String, UInt64?, UInt64?) -> Void)? = nil,
                     report: @escaping (String) -> Void) throws -> ImageRecord {
        try Self.requireRoot()
        let reference: RegistryReference
        do { reference = try RegistryReference(parsing: text) } catch {
            throw EngineError.invalidOption("\(error)")
        }
        let puller = Puller(store: images, reference: reference)
        puller.insecureRegistries = insecureRegistries
        // Docker's certs.d (a registry's CA in <dir>/<host:port>/ca.crt), ours first.
        puller.certificatesDirectories = certificatesDirectories
        puller.report = report
        puller.layerProgress = layerProgress
        do {
            let record = try withBrokenPipesIgnored { try puller.pull() }
            imageEvent("pull", id: record.id, name: text)
            return record
        } catch {
            throw EngineError.registryFailed(verb: "pull", reference: reference.description, reason: "\(error)")
        }
    }

    /// The image `run` and `create` use, pulled first when the policy says so.
    /// `quiet` (run -q): no pull messages.
    func image(for text: String, policy: PullPolicy, quiet: Bool = false) throws -> ImageRecord {
        if policy != .always, let local = try? resolveLocally(text) { return local }
        // Not a name a registry could have (an id prefix, a malformed name): the local error.
        guard policy != .never, (try? RegistryReference(parsing: text)) != nil else { return try images.resolve(text) }
        if policy == .missing && !quiet { fputs("Unable to find image '\(Printable.escaped(text))' locally\n", stderr) }
        return try pull(text) { if !quiet { fputs($0 + "\n", stderr) } }
    }

    /// A name as typed, or as Docker normalizes it (docker.io/library/alpine is alpine).
    func resolveLocally(_ text: String) throws -> ImageRecord {
        do { return try images.resolve(text) } catch {
            guard let reference = try? RegistryReference(parsing: text), let local = reference.localReference else { throw error }
            return try images.resolve(local.description)
        }
    }
}

extension Engine {
    var certificatesDirectories: [String] { [paths.data + "/certs.d", "/etc/docker/certs.d"] }

    /// `push NAME[:TAG]`: the image the name resolves to, to the registry the name points at.
    @discardableResult
    public func push(_ text: String, report: @escaping (String) -> Void) throws -> String {
        try Self.requireRoot()
        let reference: RegistryReference
        do { reference = try RegistryReference(parsing: text) } catch { throw EngineError.invalidOption("\(error)") }
        let image: ImageRecord
        do { image = try resolveLocally(text) } catch {
            throw EngineError.invalidOption("An image does not exist locally with the tag: \(Printable.escaped(text))")
        }
        let pusher = Pusher(store: images, image: image, reference: reference)
        pusher.insecureRegistries = insecureRegistries
        pusher.certificatesDirectories = certificatesDirectories
        pusher.report = report
        do {
            let digest = try withBrokenPipesIgnored { try pusher.push() }
            try? images.addRepoDigest("\(reference.localName)@\(digest)", to: image)
            return digest
        } catch {
            throw EngineError.registryFailed(verb: "push", reference: reference.description, reason: "\(error)")
        }
    }

    /// `login`: checks the credentials with the registry, then stores them.
    public func login(_ server: String, user: String, password: String) throws {
        let domain = Self.registryDomain(server)
        do {
            try RegistryLogin.verify(domain: domain, user: user, password: password, insecureRegistries: insecureRegistries,
                                     certificatesDirectories: certificatesDirectories)
            try RegistryLogin.update(domain: domain, credentials: (user, password))
        } catch {
            throw EngineError.invalidOption("login \(Printable.escaped(domain)): \(error)")
        }
    }

    /// `logout`: forgets the stored credentials; false when there were none.
    public func logout(_ server: String) throws -> Bool {
        try RegistryLogin.update(domain: Self.registryDomain(server), credentials: nil)
    }

    /// "https://host:port/", "host:port" or nothing (Docker Hub) as the registry's domain.
    public static func registryDomain(_ server: String?) -> String {
        guard var text = server, !text.isEmpty else { return "docker.io" }
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) { text.removeFirst(scheme.count) }
        text = String(text.prefix { $0 != "/" })
        return ["index.docker.io", "registry-1.docker.io"].contains(text) ? "docker.io" : text
    }
}

extension Engine {
    /// `save`: to `path` (written aside and renamed, so a failed save leaves no partial file),
    /// or to standard output when it is not a terminal.
    public func save(_ references: [String], to path: String?, format: String = "docker-archive") throws {
        guard format == "docker-archive" || format == "oci-archive" else {
            throw EngineError.invalidOption("save --format \(Printable.escaped(format)): docker-archive or oci-archive")
        }
        let write = { (chosen: [(record: ImageRecord, tags: [ImageReference])], output: FileDescriptor) throws in
            if format == "oci-archive" { try self.images.saveOCIArchive(chosen, to: output) } else { try self.images.save(chosen, to: output) }
        }
        var chosen: [(record: ImageRecord, tags: [ImageReference])] = []
        for text in references {
            let record = try resolveLocally(text)
            // Saved by name: that tag goes with it; by id: every tag it has.
            let all = try images.list().first { $0.record.id == record.id }?.tags ?? []
            let typed = [(try? ImageReference(parsing: text)), (try? RegistryReference(parsing: text))?.localReference].compactMap { $0 }
            let named = all.filter(typed.contains)
            let tags = named.isEmpty ? all : named
            if let index = chosen.firstIndex(where: { $0.record.id == record.id }) {
                chosen[index].tags += tags.filter { !chosen[index].tags.contains($0) }
            } else {
                chosen.append((record, tags))
            }
        }
        guard let path else {
            guard isatty(1) == 0 else {
                throw EngineError.invalidOption("cowardly refusing to save to a terminal. Use the -o flag or redirect")
            }
            try withBrokenPipesIgnored { try write(chosen, FileDescriptor(1)) }
            return
        }
        let temporary = path + ".tmp-\(getpid())"
        do {
            let output = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { output.close() }
            try write(chosen, output)
            try check(fsync(output.raw), "fsync", temporary)
            try check(rename(temporary, path), "rename", "\(temporary) -> \(path)")
        } catch {
            unlink(temporary)
            throw EngineError.invalidOption("save \(Printable.escaped(path)): \(error)")
        }
    }
}
