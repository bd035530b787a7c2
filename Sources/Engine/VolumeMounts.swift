#if canImport(Glibc)
import Glibc
#endif
import Images
import LinuxKit
import OCI

/// Volumes in a container's mounts. `-v NAME:/path`, `-v /path`, `--mount type=volume` and the
/// image's VOLUMEs come to `Engine.create` as requests (a mount of type "volume" whose source
/// is the name, "" for anonymous); create makes the volumes that do not exist, copies the
/// image's content into new ones, and turns each request into a bind mount of its _data.
enum VolumeMounts {
    static let requestType = "volume"

    static func request(name: String, destination: String, readOnly: Bool, nocopy: Bool) -> Mount {
        Mount(destination: destination, type: requestType, source: name, options: [readOnly ? "ro" : "rw"] + (nocopy ? ["nocopy"] : []))
    }
}

extension Engine {
    public var volumes: VolumeStore { VolumeStore(root: paths.data + "/volumes") }

    struct ResolvedVolumes {
        var mounts: [Mount]
        /// Every volume the container mounts (what `volume rm` checks).
        var used: [String]
        /// The anonymous ones made for it (what `rm -v` and --rm take).
        var anonymous: [String]
    }

    /// The requests resolved; the image's VOLUMEs that no mount covers become anonymous
    /// volumes, filled from `lowers` (the image's layers as the container sees them). On
    /// failure, the anonymous volumes made so far are removed again.
    func resolveVolumes(_ mounts: [Mount], image: ImageRecord, lowers: [String]) throws -> ResolvedVolumes {
        let store = volumes
        var requests = mounts
        for path in image.config.volumes ?? [] where !mounts.contains(where: { $0.destination == path }) {
            requests.append(VolumeMounts.request(name: "", destination: path, readOnly: false, nocopy: false))
        }
        var result = ResolvedVolumes(mounts: [], used: [], anonymous: [])
        do {
            for mount in requests {
                guard mount.type == VolumeMounts.requestType else {
                    // A bind of another container's volume (--volumes-from) uses it too.
                    if let source = mount.source, source.hasPrefix(store.root + "/") {
                        let name = String(source.dropFirst(store.root.count + 1).prefix { $0 != "/" })
                        if !result.used.contains(name) { result.used.append(name) }
                    }
                    result.mounts.append(mount)
                    continue
                }
                let anonymous = (mount.source ?? "").isEmpty
                let name = anonymous ? Random.hex(bytes: 32) : mount.source!
                let (record, created) = try store.create(name, anonymous: anonymous)
                if created { volumeEvent("create", name: name) }
                if anonymous { result.anonymous.append(name) }
                if !result.used.contains(name) { result.used.append(name) }
                try store.prepare(record)
                let options = mount.options ?? []
                // Docker's copy-up: a new (empty) volume over a directory of the image gets its
                // content, owners and modes, unless nocopy.
                if !options.contains("nocopy") && (created || Files.listDirectoryOrEmpty(store.dataPath(name)).isEmpty) {
                    try copyUp(lowers: lowers, path: mount.destination, into: store.dataPath(name))
                }
                result.mounts.append(Mount(destination: mount.destination, type: "bind", source: store.dataPath(name),
                                           options: ["rbind", options.contains("ro") ? "ro" : "rw", "rprivate"]))
            }
        } catch {
            for name in result.anonymous where (try? store.remove(name, users: [])) != nil { volumeEvent("destroy", name: name) }
            throw error
        }
        return result
    }

    /// The image's directory at `path` copied into a volume's data, through a helper process
    /// (`volume-copyup`) that mounts the image's layers in a mount namespace of its own.
    func copyUp(lowers: [String], path: String, into data: String) throws {
        var argv = ["swiftainer"]
        if let root = paths.rootOverride { argv += ["--root", root] }
        argv += ["volume-copyup", lowers.joined(separator: ":"), path, data]
        let output = try ExternalCommand.run("/proc/self/exe", argv: argv, timeout: 600)
        guard output.status == 0 else {
            throw EngineError.invalidOption("copying \(path) of the image into its volume: \(output.stderr.trimmingWhitespace)")
        }
    }

    /// The body of `volume-copyup LOWERS PATH DATA` (see copyUp).
    public static func copyUpInPrivateNamespace(lowers: [String], path: String, data: String) throws {
        let destination = try FileDescriptor.open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        defer { destination.close() }
        // One layer is a directory as it is; more are merged by overlay (read-only overlay
        // needs two lower layers at least).
        var mountPoint: String?
        if lowers.count > 1 {
            try enterPrivateMountNamespace()
            let point = Files.dirname(of: data) + "/.copyup-\(getpid())"
            try check(mkdir(point, 0o700), "mkdir", point)
            try mountOverlay(at: point, lowers: lowers, upper: nil)
            mountPoint = point
        }
        defer {
            if let mountPoint {
                umount2(mountPoint, Int32(MNT_DETACH))
                rmdir(mountPoint)
            }
        }
        let root = try RootedDirectory(path: mountPoint ?? lowers.first ?? "/nonexistent")
        // Nothing there in the image: nothing to copy.
        guard let source = try? root.open(path, flags: O_RDONLY | O_DIRECTORY) else { return }
        defer { source.close() }
        var sink = DirectorySink(root: destination, keepOwners: true)
        for child in try Files.listDirectory(source, describing: path) {
            try FileTreeWalker.walk(parent: source, name: child, as: child, into: &sink)
        }
        // The volume's top takes the image directory's owner and mode, as Docker's copy-up.
        var info = stat()
        if fstat(source.raw, &info) == 0 {
            _ = fchown(destination.raw, info.st_uid, info.st_gid)
            _ = fchmod(destination.raw, info.st_mode & 0o7777)
        }
    }

    /// Container names using the volume.
    public func users(ofVolume name: String) -> [String] { volumeUsers()[name] ?? [] }

    /// Every volume's users, from one read of the containers (ls and prune ask per volume).
    public func volumeUsers() -> [String: [String]] {
        var users: [String: [String]] = [:]
        for record in containers.all() { for name in record.volumes ?? [] { users[name, default: []].append(record.name) } }
        return users
    }

    /// The anonymous volumes of a removed container (`rm -v`, and --rm), unless another uses them.
    func removeAnonymousVolumes(of record: ContainerRecord) {
        let users = volumeUsers()
        for name in record.anonymousVolumes ?? [] where users[name] == nil {
            if (try? volumes.remove(name, users: [])) != nil { volumeEvent("destroy", name: name) }
        }
    }
}
