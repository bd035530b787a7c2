#if canImport(Glibc)
import Glibc
#endif
import Engine
import JSONKit
import LinuxKit
import Templates

/// `volume create|ls|inspect|rm|prune`: Docker's local volumes.
enum VolumeCommands {
    /// -o/--label KEY=VALUE arguments as a dictionary.
    static func pairs(_ values: [String], flag: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for value in values {
            let (key, text) = try DockerFlagValues.keyValue(value, flag: flag, valueOptional: true)
            result[key] = text
        }
        return result
    }

    static let create = Command(
        name: "volume create", usage: "volume create [OPTIONS] [VOLUME]", summary: "Create a volume",
        options: [OptionSpec(["-d", "--driver"], "string", "Specify volume driver name (local)", key: "driver"),
                  OptionSpec(["--label"], "list", "Set metadata for a volume (repeatable)"),
                  OptionSpec(["--name"], "string", "Specify volume name"),
                  OptionSpec(["-o", "--opt"], "map", "Set driver specific options: type, device, o (repeatable)", key: "opt")]
    ) { args, context in
        guard args.positionals.count <= 1 else { throw UsageError("\"volume create\" accepts at most 1 argument: VOLUME") }
        if let name = args.value("name"), let positional = args.positionals.first, name != positional {
            throw UsageError("conflicting options: either specify --name or provide positional arg, not both")
        }
        if let driver = args.value("driver"), driver != "local" { throw UsageError("volume driver \(Printable.escaped(driver)) is not available: swiftainer has the local driver") }
        try Engine.requireRoot()
        let name = args.value("name") ?? args.positionals.first ?? Random.hex(bytes: 32)
        let (record, created) = try context.engine.volumes.create(name, labels: try pairs(args.values["label"] ?? [], flag: "--label"),
                                                                  options: try pairs(args.values["opt"] ?? [], flag: "--opt"))
        if created { context.engine.volumeEvent("create", name: record.Name) }
        out(record.Name + "\n")
        return 0
    }

    static let headers: [(field: String, header: String)] = [
        ("Driver", "DRIVER"), ("Labels", "LABELS"), ("Links", "LINKS"), ("Mountpoint", "MOUNTPOINT"), ("Name", "VOLUME NAME"), ("Scope", "SCOPE"), ("Size", "SIZE"),
    ]

    static let list = Command(
        name: "volume ls", usage: "volume ls [OPTIONS]", summary: "List volumes",
        options: [OptionSpec(["-f", "--filter"], "filter", "Provide filter values (dangling=true|false, driver=, label=KEY[=VALUE], name=)", key: "filter"),
                  OptionSpec(["--format"], "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template"),
                  OptionSpec(["-q", "--quiet"], nil, "Only display volume names")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"volume ls\" accepts no arguments") }
        let engine = context.engine
        let filter = try VolumeFilter(args.values["filter"] ?? [])
        let users = engine.volumeUsers()
        let shown = engine.volumes.all().filter { filter.matches($0, users: users[$0.Name] ?? []) }.sorted { $0.Name < $1.Name }
        if args.has("quiet") {
            out(shown.map { $0.Name + "\n" }.joined())
            return 0
        }
        let format = try ListFormat(args.value("format"), defaultTable: "table {{.Driver}}\\t{{.Name}}", typeName: "*formatter.volumeContext")
        let rows: [JSONValue] = shown.map { volume in
            let fields = ["Driver": volume.Driver, "Labels": volume.Labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                          "Links": "\(users[volume.Name]?.count ?? 0)", "Mountpoint": volume.Mountpoint, "Name": volume.Name, "Scope": volume.Scope,
                          "Size": humanSize(Files.diskUsage(volume.Mountpoint))]
            return .object(headers.map { ($0.field, .string(fields[$0.field] ?? "")) })
        }
        out(try format.render(rows, headers: headers))
        return 0
    }

    static let inspect = Command(
        name: "volume inspect", usage: "volume inspect [OPTIONS] VOLUME [VOLUME...]", summary: "Display detailed information on one or more volumes",
        options: [OptionSpec(["-f", "--format"], "string", "Format output using a custom template: 'json' or a Go template", key: "format")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"volume inspect\" requires at least 1 argument: VOLUME") }
        return try ObjectInspection(format: args.value("format")).print(args.positionals) { try JSON.encodeValue(try context.engine.volumes.load($0)) }
    }

    static let remove = Command(
        name: "volume rm", usage: "volume rm [-f] VOLUME [VOLUME...]", summary: "Remove one or more volumes",
        options: [OptionSpec(["-f", "--force"], nil, "Force the removal of one or more volumes (a missing one is not an error)")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"volume rm\" requires at least 1 argument: VOLUME") }
        try Engine.requireRoot()
        let engine = context.engine
        if geteuid() == 0 { engine.containers.reconcile() }
        return LifecycleCommands.each(args.positionals, verb: "volume rm") { name in
            do {
                try engine.volumes.remove(name, users: engine.users(ofVolume: name))
                engine.volumeEvent("destroy", name: name)
            } catch VolumeError.notFound(_) where args.has("force") {}
        }
    }

    static let prune = Command(
        name: "volume prune", usage: "volume prune [-a] [-f] [--filter label=…]", summary: "Remove unused local volumes (anonymous ones; every unused one with -a)",
        options: [OptionSpec(["-a", "--all"], nil, "Remove all unused volumes, not just anonymous ones"), OptionSpec(["-f", "--force"], nil, "Do not prompt for confirmation"),
                  OptionSpec(["--filter"], "filter", "Provide filter values (label=KEY[=VALUE], label!=KEY[=VALUE])")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"volume prune\" accepts no arguments") }
        let filter = try PruneFilter(args.values["filter"] ?? [])
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        var removed: [String] = []
        var reclaimed: UInt64 = 0
        let users = engine.volumeUsers()
        for volume in engine.volumes.all() where (args.has("all") || volume.isAnonymous) && users[volume.Name] == nil
            && filter.matches(created: volume.CreatedAt, labels: volume.Labels) {
            let size = Files.diskUsage(volume.Mountpoint)
            if (try? engine.volumes.remove(volume.Name, users: [])) != nil {
                engine.volumeEvent("destroy", name: volume.Name)
                removed.append(volume.Name)
                reclaimed += size
            }
        }
        out((removed.isEmpty ? "" : "Deleted Volumes:\n" + removed.map { $0 + "\n" }.joined() + "\n") + "Total reclaimed space: \(humanSize(reclaimed))\n")
        return 0
    }

    /// Hidden: the image's directory copied into a new volume, in a mount namespace of its own
    /// (Engine.copyUp starts it).
    static let copyUp = Command(name: "volume-copyup", usage: "volume-copyup LOWERS PATH DATA", summary: "", options: [], hidden: true) { args, _ in
        guard args.positionals.count == 3 else { throw UsageError("volume-copyup is internal: it is started by run and create") }
        try Engine.copyUpInPrivateNamespace(lowers: args.positionals[0].split(separator: ":").map(String.init), path: args.positionals[1], data: args.positionals[2])
        return 0
    }
}
