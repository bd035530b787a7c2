#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit

/// One volume as `volume inspect` shows it (Docker's shape), stored as volume.json beside its
/// data: <data root>/volumes/NAME/{volume.json, _data/}.
public struct VolumeRecord: Codable, Equatable {
    public var Name: String
    public var Driver: String
    public var Mountpoint: String
    public var CreatedAt: String
    public var Labels: [String: String]
    /// The local driver's options: type, device, o (as `mount -t TYPE -o O DEVICE`).
    public var Options: [String: String]
    public var Scope: String

    /// Docker's label on a volume made for one container (the image's VOLUME, `-v /path`):
    /// `rm -v`, --rm and `volume prune` without -a take those.
    public static let anonymousLabel = "com.docker.volume.anonymous"
    public var isAnonymous: Bool { Labels[Self.anonymousLabel] != nil }
}

public enum VolumeError: Error, CustomStringConvertible {
    case invalidName(String)
    case notFound(String)
    case inUse(String, by: [String])
    case invalidOption(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid volume name '\(Printable.escaped(name))': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters"
        case .notFound(let name): return "no such volume: \(Printable.escaped(name))"
        case .inUse(let name, let users): return "remove \(name): volume is in use - [\(users.joined(separator: ", "))]"
        case .invalidOption(let message): return message
        }
    }
}

/// The local volume driver: a directory per volume under the data root, named by a checked
/// name only (never a path taken as given), created under a lock.
public struct VolumeStore {
    public let root: String
    public init(root: String) { self.root = root }

    /// Docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
    public static func isValidName(_ name: String) -> Bool {
        func alphanumeric(_ scalar: Unicode.Scalar) -> Bool { ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) }
        guard name.utf8.count >= 2, name.utf8.count <= 255, let first = name.unicodeScalars.first, alphanumeric(first) else { return false }
        return name.unicodeScalars.allSatisfy { alphanumeric($0) || "_.-".unicodeScalars.contains($0) }
    }

    func directory(_ name: String) -> String { root + "/" + name }
    public func dataPath(_ name: String) -> String { directory(name) + "/_data" }
    /// Beside the volumes, so no volume can be named like it.
    private var lockPath: String { root + ".lock" }

    /// The local driver's options Docker accepts: type, device, o — and only with a type.
    static func checkOptions(_ options: [String: String]) throws {
        for key in options.keys where !["type", "device", "o"].contains(key) {
            throw VolumeError.invalidOption("invalid option key: \"\(Printable.escaped(key))\" (the local driver takes type, device, o)")
        }
        if !options.isEmpty && options["type"] == nil { throw VolumeError.invalidOption("missing required option: \"type\"") }
        if options["type"] != nil && options["device"] == nil { throw VolumeError.invalidOption("missing required option: \"device\"") }
    }

    /// Makes the volume, or returns the one of that name (Docker's create is idempotent).
    /// `created` says which.
    @discardableResult
    public func create(_ name: String, labels: [String: String] = [:], options: [String: String] = [:], anonymous: Bool = false) throws -> (record: VolumeRecord, created: Bool) {
        guard Self.isValidName(name) else { throw VolumeError.invalidName(name) }
        try Self.checkOptions(options)
        try Files.makeDirectories(root, mode: 0o700)
        let lock = try FileLock(path: lockPath)
        defer { lock.unlock() }
        if let existing = try? load(name) { return (existing, false) }
        let dir = directory(name)
        try check(mkdir(dir, 0o700), "mkdir", dir)
        do {
            // Docker's _data is 0755 root: a container's non-root user reads it.
            try check(mkdir(dataPath(name), 0o755), "mkdir", dataPath(name))
            let record = VolumeRecord(Name: name, Driver: "local", Mountpoint: dataPath(name), CreatedAt: Clock.rfc3339(),
                                      Labels: anonymous ? labels.merging([VolumeRecord.anonymousLabel: ""]) { $1 } : labels,
                                      Options: options, Scope: "local")
            try Files.writeAtomically(dir + "/volume.json", try JSON.encode(record, format: .document), mode: 0o600)
            return (record, true)
        } catch {
            try? Files.removeTree(dir)
            throw error
        }
    }

    public func load(_ name: String) throws -> VolumeRecord {
        guard Self.isValidName(name) else { throw VolumeError.invalidName(name) }
        guard let bytes = try? Files.read(directory(name) + "/volume.json") else { throw VolumeError.notFound(name) }
        return try JSON.decode(VolumeRecord.self, from: bytes)
    }

    public func all() -> [VolumeRecord] {
        ((try? Files.listDirectory(root)) ?? []).filter(Self.isValidName).compactMap { try? load($0) }
    }

    /// A volume with driver options (type=tmpfs, a device, a bind) has its file system
    /// mounted on _data when a container first uses it, as Docker's local driver does; it
    /// stays mounted until the volume is removed.
    public func prepare(_ record: VolumeRecord) throws {
        guard let type = record.Options["type"], let device = record.Options["device"] else { return }
        let data = dataPath(record.Name)
        if Mounts.mountPoints(under: data).contains(data) { return }
        var flags: UInt = 0
        var options = (record.Options["o"] ?? "").split(separator: ",").map(String.init)
        if options.contains("bind") || options.contains("rbind") {
            flags |= UInt(MS_BIND) | (options.contains("rbind") ? UInt(MS_REC) : 0)
            options.removeAll { $0 == "bind" || $0 == "rbind" }
        }
        do {
            try Mounts.mount(source: device, target: data, type: type == "none" ? "" : type, flags: flags,
                             data: options.isEmpty ? nil : options.joined(separator: ","))
        } catch {
            throw VolumeError.invalidOption("volume \(record.Name): mounting \(type) \(device) on \(data): \(error)")
        }
    }

    /// Removes the volume unless a container uses it (`users`: their names).
    public func remove(_ name: String, users: [String]) throws {
        _ = try load(name)
        guard users.isEmpty else { throw VolumeError.inUse(name, by: users) }
        let lock = try FileLock(path: lockPath)
        defer { lock.unlock() }
        let data = dataPath(name)
        for point in Mounts.mountPoints(under: data).sorted(by: >) { try? Mounts.unmount(point, flags: Int32(MNT_DETACH)) }
        try Files.removeTree(directory(name))
    }
}

/// `volume ls --filter`: dangling (used by no container), driver, label, name (a substring).
public struct VolumeFilter {
    public static let keys = ["dangling", "driver", "label", "name"]
    private var terms: [String: [String]] = [:]

    public init(_ specs: [String]) throws {
        for spec in specs {
            let (key, value) = try FilterSpec.split(spec, keys: Self.keys)
            if key == "dangling" && !["true", "false", "1", "0"].contains(value.lowercased()) {
                throw EngineError.invalidOption("invalid filter 'dangling=\(Printable.escaped(value))': dangling is true or false")
            }
            terms[key, default: []].append(value)
        }
    }

    public func matches(_ volume: VolumeRecord, users: [String]) -> Bool {
        func any(_ key: String, _ test: (String) -> Bool) -> Bool { terms[key].map { $0.contains(where: test) } ?? true }
        return any("dangling") { ["true", "1"].contains($0.lowercased()) == users.isEmpty }
            && any("driver") { $0 == volume.Driver }
            && any("name") { volume.Name.contains($0) }
            && (terms["label"] ?? []).allSatisfy { ContainerFilter.labelMatches(volume.Labels, $0) }
    }
}
