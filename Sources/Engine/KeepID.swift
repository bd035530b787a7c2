#if canImport(Glibc)
import Glibc
#endif
import Images
import LinuxKit
import OCI

/// Rootless `--userns keep-id` (Podman's option): the container gets a user namespace of its
/// own, nested in the user's, in which the user is their own uid and gid — so that files the
/// container writes to a volume are the user's on the host, and the user's files are the
/// container user's. The container's process runs as that user unless `-u` says otherwise.
///
/// In the user's namespace, 0 is the user and 1… are the subordinate ids; keep-id maps
/// (`IDMap.keepingID`) the container's U to 0, the ids below U to 1…U and the ids above U to
/// themselves. The image is seen through copies of its layers owned for that map
/// (`ImageStore.mappedLowerDirectories`): its root files stay root's, its uid 1000 stays 1000.
/// Where the image has no passwd or group entry for U or G, the container gets copies of the
/// files with one added (the host's name and home for the user), bind-mounted over them.
struct KeepID {
    /// The maps of the container's namespace, in terms of the user's namespace.
    let maps: IDMaps
    /// The user's ids inside the container.
    let containerUID: UInt32
    let containerGID: UInt32
    /// The user as the host knows them: their uid and gid outside, name and home.
    let hostUID: UInt32
    let hostGID: UInt32

    /// `requested`: keep-id's uid= and gid= options (default: the user's ids on the host).
    init(requestedUID: UInt32?, requestedGID: UInt32?) throws {
        guard Rootless.isActive else {
            throw EngineError.invalidOption("--userns keep-id: only rootless (as an ordinary user); as root the container's ids are already the host's")
        }
        // This process is in the user's namespace, which maps 0 to the user.
        func parentMap(_ file: String) throws -> IDMap {
            let path = "/proc/self/" + file
            guard let text = try? Files.readString(path), let map = IDMap(procText: text) else {
                throw EngineError.invalidOption("--userns keep-id: cannot read \(path)")
            }
            return map
        }
        let parentUID = try parentMap("uid_map"), parentGID = try parentMap("gid_map")
        guard let hostUID = parentUID.outside(0), let hostGID = parentGID.outside(0) else {
            throw EngineError.invalidOption("--userns keep-id: your user namespace does not map its root to you")
        }
        self.hostUID = hostUID
        self.hostGID = hostGID
        containerUID = requestedUID ?? hostUID
        containerGID = requestedGID ?? hostGID
        func keeping(_ id: UInt32, _ parent: IDMap, _ kind: String, _ file: String) throws -> IDMap {
            guard let map = IDMap.keepingID(id, parentSize: parent.contiguousSize) else {
                let size = parent.contiguousSize
                throw EngineError.invalidOption(size < 2
                    ? "--userns keep-id: your user namespace maps only your own \(kind) (give your user a range in \(file))"
                    : "--userns keep-id: \(kind) \(id) does not fit in your user namespace's \(size) ids (a larger range in \(file), or keep-id:\(kind)=N below \(size))")
            }
            return map
        }
        maps = IDMaps(uid: try keeping(containerUID, parentUID, "uid", "/etc/subuid"), gid: try keeping(containerGID, parentGID, "gid", "/etc/subgid"))
    }

    /// The container's user namespace and its maps.
    func apply(to spec: inout Spec) {
        let namespaces = (spec.linux?.namespaces ?? []).filter { $0.type != "user" } + [Namespace(type: "user")]
        spec.linux?.namespaces = namespaces
        spec.linux?.uidMappings = maps.uid.ranges
        spec.linux?.gidMappings = maps.gid.ranges
    }

    /// The container's writable layer owned by its root: overlay shows the upper directory's
    /// owner as the owner of `/`, which would otherwise be the user (the namespace's 0).
    func ownWritableLayer(_ upper: String) throws {
        guard let root = maps.outside(uid: 0, gid: 0) else { return }
        try check(chown(upper, root.uid, root.gid), "chown", upper)
    }

    /// The host's name and home of the user (what Podman puts in the container's passwd).
    var hostAccount: (name: String, home: String) {
        guard let entry = getpwuid(hostUID) else { return ("user\(hostUID)", "/") }
        return (String(cString: entry.pointee.pw_name), String(cString: entry.pointee.pw_dir))
    }

    /// The process's user without `-u`: the user's ids, with the home the container's passwd
    /// gives them (the image's entry, else the one added from the host's, else /).
    func defaultUser(_ database: UserDatabase, layers: [String]) -> (user: User, home: String?) {
        let home = database.users.first { $0.id == containerUID }?.home
            ?? (UserDatabase.file("/etc/passwd", in: layers) != nil ? hostAccount.home : nil)
        return (User(uid: containerUID, gid: containerGID), home)
    }

    /// Copies of the image's /etc/passwd and /etc/group with an entry for the user's ids
    /// where the image has none, written to `directory` for bind mounts over the image's;
    /// none where the image has no such file or already names the ids.
    func accountFileMounts(layers: [String], directory: String, durability: Files.Durability) throws -> [Mount] {
        let (name, home) = hostAccount
        let database = UserDatabase(layers: layers)
        let additions: [(file: String, line: String, present: Bool)] = [
            ("passwd", "\(name):*:\(containerUID):\(containerGID):\(name):\(home):/bin/sh", database.users.contains { $0.id == containerUID }),
            ("group", "\(name):x:\(containerGID):", database.groups.contains { $0.id == containerGID }),
        ]
        var mounts: [Mount] = []
        for addition in additions where !addition.present {
            guard let text = UserDatabase.file("/etc/" + addition.file, in: layers) else { continue }
            let path = directory + "/" + addition.file
            try Files.writeAtomically(path, text + (text.isEmpty || text.hasSuffix("\n") ? "" : "\n") + addition.line + "\n", mode: 0o644, durability: durability)
            // The container's root owns it, as it owns the image's own file.
            if let root = maps.outside(uid: 0, gid: 0) { try check(chown(path, root.uid, root.gid), "chown", path) }
            mounts.append(Mount(destination: "/etc/" + addition.file, type: "bind", source: path, options: ["rbind", "rprivate"]))
        }
        return mounts
    }
}
