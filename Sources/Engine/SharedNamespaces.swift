import Images
import LinuxKit
import OCI

/// `--ipc|--pid|--uts container:NAME` and `--network container:NAME`: the named container's
/// namespaces, joined by path through its init (the OCI `namespaces[].path` the runtime joins).
extension Engine {
    /// The init pid to join per namespace type ("ipc", "pid", "uts", "network").
    func sharedNamespacePids(_ options: RunOptions) throws -> [String: Int32] {
        var pids: [String: Int32] = [:]
        var wanted: [(type: String, flag: String, name: String)] = []
        for (type, mode) in [("ipc", options.ipc), ("pid", options.pid), ("uts", options.uts)] {
            if case .container(let name)? = mode { wanted.append((type, "--\(type)", name)) }
        }
        if let name = options.networkContainer { wanted.append(("network", "--network", name)) }
        for (type, flag, name) in wanted {
            let record = try containers.find(name)
            guard let pid = record.livePid else {
                throw EngineError.invalidOption("\(flag) container:\(name): cannot join the \(type) namespace of a container that is not running")
            }
            pids[type] = pid
        }
        return pids
    }

    /// --network container:NAME: that container's /etc/hosts, hostname and resolv.conf, as
    /// Docker shares them with the network namespace.
    func sharedNameFileMounts(of name: String) throws -> [Mount] {
        let record = try containers.find(name)
        let dir = paths.container(record.id)
        return ["hosts", "hostname", "resolv.conf"].filter { Files.exists(dir + "/" + $0) }.map {
            Mount(destination: "/etc/" + $0, type: "bind", source: dir + "/" + $0, options: ["rbind", "rprivate", "ro"])
        }
    }

    /// --platform: images here are this machine's platform; another is refused by name, as
    /// Docker refuses an image that does not match.
    static func checkPlatform(_ platform: String, image: String) throws {
        let native = Platform.native
        let accepted = [native, native.split(separator: "/").first.map(String.init) ?? native]
        guard accepted.contains(platform.lowercased()) else {
            throw EngineError.invalidOption("image with reference \(Printable.escaped(image)) was found but does not match the specified platform: wanted \(Printable.escaped(platform)), actual: \(native)")
        }
    }
}

extension UserDatabase {
    /// --group-add: a group name from the image's /etc/group, or a number.
    public func groupID(_ group: String) throws -> UInt32 {
        if let number = UInt32(group) { return number }
        guard let entry = groups.first(where: { $0.name == group }) else {
            throw EngineError.invalidOption("--group-add \(Printable.escaped(group)): unable to find group \(Printable.escaped(group)): no matching entries in group file")
        }
        return entry.id
    }
}
