import Images
import JSONKit
import LinuxKit

/// `inspect IMAGE` in the shape of `docker image inspect` (the fields swiftainer has).
public struct ImageInspection: Codable {
    public struct Config: Codable {
        public var User: String
        public var ExposedPorts: [String: [String: String]]?
        public var Env: [String]
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var Volumes: [String: [String: String]]?
        public var WorkingDir: String
        public var Labels: [String: String]?
        public var StopSignal: String?
    }
    public struct RootFS: Codable {
        public var `Type`: String
        public var Layers: [String]
    }
    public var Id: String
    public var RepoTags: [String]
    public var RepoDigests: [String]
    public var Created: String
    /// From the image config: who made it and the last step's comment (`commit -a`, `-m`).
    public var Author: String
    public var Comment: String
    public var Size: UInt64
    public var Architecture: String
    public var Os: String
    public var Config: Config
    public var RootFS: RootFS
}

/// One line of `history`: what the image's config says made each step.
public struct ImageHistoryEntry {
    public var id: String
    public var created: String
    public var createdBy: String
    public var size: UInt64?
    public var comment: String
}

extension Engine {
    func imageInspection(of record: ImageRecord) throws -> ImageInspection {
        let tags = try images.list().first { $0.record.id == record.id }?.tags.map(\.description) ?? []
        let config = record.config
        let set = { (keys: [String]?) in keys.map { Dictionary(uniqueKeysWithValues: $0.map { ($0, [String: String]()) }) } }
        let platform = Platform.native.split(separator: "/").map(String.init)
        let blob = images.configBlob(of: record).flatMap { try? JSON.decode(OCIImageConfig.self, from: $0) }
        return ImageInspection(
            Id: record.id, RepoTags: tags, RepoDigests: record.repoDigests ?? [], Created: record.created,
            Author: blob?.author ?? "", Comment: blob?.history?.last?.comment ?? "", Size: record.size,
            Architecture: platform.last ?? "", Os: platform.first ?? "linux",
            Config: .init(User: config.user ?? "", ExposedPorts: set(config.exposedPorts), Env: config.env, Entrypoint: config.entrypoint,
                          Cmd: config.cmd, Volumes: set(config.volumes), WorkingDir: config.workingDir == "/" ? "" : config.workingDir,
                          Labels: config.labels, StopSignal: config.stopSignal),
            RootFS: .init(Type: "layers", Layers: record.diffIDs))
    }

    /// `tag SOURCE TARGET`: TARGET names the same image.
    public func tag(_ source: String, _ target: String) throws {
        try Self.requireRoot()
        let record = try resolveLocally(source)
        let reference: ImageReference
        do { reference = try ImageReference(parsing: target) } catch { throw EngineError.invalidOption("\(error)") }
        try images.tag(record, as: reference)
        imageEvent("tag", id: record.id, name: reference.description)
    }

    /// `history IMAGE`: the config's history, newest first, each step with the layer it made.
    public func history(_ text: String) throws -> [ImageHistoryEntry] {
        let record = try resolveLocally(text)
        guard let bytes = images.configBlob(of: record), let config = try? JSON.decode(OCIImageConfig.self, from: bytes),
              let steps = config.history, !steps.isEmpty else {
            // An imported root filesystem: one step, the import.
            return [ImageHistoryEntry(id: record.id, created: record.created, createdBy: "", size: record.size, comment: "Imported from \(record.source)")]
        }
        var layerIndex = 0
        var entries: [ImageHistoryEntry] = []
        let chains = record.chainIDs
        for step in steps {
            var size: UInt64? = 0
            if step.emptyLayer != true, layerIndex < chains.count {
                size = images.layerInfo(chain: chains[layerIndex])?.size ?? 0
                layerIndex += 1
            }
            entries.append(ImageHistoryEntry(id: "<missing>", created: step.created ?? "", createdBy: step.createdBy ?? "", size: size, comment: step.comment ?? ""))
        }
        entries = entries.reversed()
        if !entries.isEmpty { entries[0].id = record.id }
        return entries
    }
}
