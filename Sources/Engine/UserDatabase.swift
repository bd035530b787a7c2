#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI
import Runtime

/// `-u USER[:GROUP]` resolved against the image's /etc/passwd and /etc/group, as Docker does:
/// names must exist there; numbers need not (a uid without a passwd entry gets gid 0).
/// Supplementary groups are those that list the user as a member.
public struct UserDatabase {
    public struct Entry: Equatable {
        public var name: String
        public var id: UInt32
        public var gid: UInt32
        public var home: String
        public var members: [String]
    }

    public var users: [Entry]
    public var groups: [Entry]

    public init(passwd: String, group: String) {
        users = Self.parse(passwd, minimumFields: 7) { fields in
            guard let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return Entry(name: fields[0], id: uid, gid: gid, home: fields[5], members: [])
        }
        groups = Self.parse(group, minimumFields: 4) { fields in
            guard let gid = UInt32(fields[2]) else { return nil }
            return Entry(name: fields[0], id: gid, gid: gid, home: "",
                         members: fields[3].split(separator: ",").map { $0.trimmingWhitespace })
        }
    }

    /// The files of a root filesystem on the host; a missing file is an empty database.
    /// Paths are resolved inside `rootfs`, so an image's symlinks cannot point us at the host's.
    public init(rootfs: String) {
        self.init(layers: [rootfs])
    }

    /// The same for an image's layers, top first: each file from the topmost layer that has it.
    public init(layers: [String]) {
        self.init(passwd: Self.file("/etc/passwd", in: layers) ?? "", group: Self.file("/etc/group", in: layers) ?? "")
    }

    /// A file of an image, from the topmost of its layers (top first) that has it; nil when none does.
    static func file(_ path: String, in layers: [String]) -> String? {
        for layer in layers {
            guard let file = try? RootedDirectory(path: layer).open(path, flags: O_RDONLY) else { continue }
            return String(decoding: (try? file.readAll()) ?? [], as: UTF8.self)
        }
        return nil
    }

    private static func parse(_ text: String, minimumFields: Int, _ make: ([String]) -> Entry?) -> [Entry] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard !line.hasPrefix("#"), fields.count >= minimumFields else { return nil }
            return make(fields)
        }
    }

    /// The OCI user for `spec` ("name", "uid", "name:group", "uid:gid") and its home directory.
    public func resolve(_ spec: String) throws -> (user: User, home: String?) {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let userPart = parts.first, !userPart.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw EngineError.invalidOption("invalid user '\(spec)': use USER, UID, USER:GROUP or UID:GID")
        }
        let entry: Entry?
        let uid: UInt32
        if let number = UInt32(userPart) {
            entry = users.first { $0.id == number }
            uid = number
        } else {
            guard let found = users.first(where: { $0.name == userPart }) else {
                throw EngineError.invalidOption("unable to find user \(userPart): no matching entries in passwd file")
            }
            entry = found
            uid = found.id
        }
        var gid = entry?.gid ?? 0
        if parts.count == 2 {
            if let number = UInt32(parts[1]) {
                gid = number
            } else {
                guard let group = groups.first(where: { $0.name == parts[1] }) else {
                    throw EngineError.invalidOption("unable to find group \(parts[1]): no matching entries in group file")
                }
                gid = group.id
            }
        }
        var user = User(uid: uid, gid: gid)
        if let name = entry?.name {
            let additional = groups.filter { $0.members.contains(name) && $0.id != gid }.map(\.id)
            if !additional.isEmpty { user.additionalGids = additional }
        }
        return (user, entry?.home)
    }
}
