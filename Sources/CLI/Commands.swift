#if canImport(Glibc)
import Glibc
#endif
import Engine
import Containers
import Images
import JSONKit
import Registry
import LinuxKit
import OCI
import Runtime

/// One subcommand: its flags and what it does. Returns the process exit status.
struct Command {
    let name: String
    let usage: String
    let summary: String
    let options: [OptionSpec]
    var stopAtFirstPositional = false
    /// Internal commands (the monitor) are left out of the help.
    var hidden = false
    let run: (ParsedArguments, Context) throws -> Int32
}

/// What every command gets: the global options, resolved.
struct Context {
    let paths: Paths
    /// OCI commands keep their state here: `--root` itself when given (as runc and crun read
    /// it), else <state>/oci.
    let ociStateRoot: String
    /// The core over the OCI state root. Its seccomp cache is the data root's (SWIFTAINER_ROOT
    /// or /var/lib/swiftainer), never inside the state root an OCI caller's --root names.
    var ociRuntime: ContainerRuntime { ContainerRuntime(stateRoot: ociStateRoot, seccompCache: Paths().seccompCache) }
    /// The verbs runc and Docker share (start, kill, pause, exec, ps) have the OCI runtime's
    /// meaning: decided by how swiftainer was invoked (SwiftainerCLI.isOCIMode), never by
    /// looking the id up.
    var ociMode = false
    var engine: Engine { Engine(paths: paths) }
}

func out(_ text: String) {
    fputs(text, stdout)
}

enum Commands {
    static let all: [Command] = [run, pull, push, login, logout, importImage, save, load, images, tag, history, rmi, ps, rm, stats, version] + LifecycleCommands.all
        + SystemCommands.all + OCICommands.all.filter { verb in !LifecycleCommands.all.contains { $0.name == verb.name } }

    static let stats = Command(
        name: "stats", usage: "stats [--no-stream] [--format TEMPLATE] [CONTAINER...]",
        summary: "Show CPU, memory, network and pids of running containers",
        options: [OptionSpec(["--no-stream"], nil, "Print one snapshot and exit instead of refreshing"),
                  OptionSpec(["--format"], "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template"),
                  OptionSpec(["--no-trunc"], nil, "Do not truncate output")]
    ) { args, context in
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        let named = try args.positionals.map { try engine.containers.find($0) }
        for record in named where record.status != .running {
            throw EngineError.invalidOption("container \(record.name) is not running")
        }
        let format = try ListFormat(args.value("format"), defaultTable: "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.PIDs}}",
                                    typeName: "*formatter.statsContext")
        let streaming = !args.has("no-stream")
        repeat {
            let records = named.isEmpty ? engine.containers.all().filter { $0.status == .running } : named
            let rows: [JSONValue] = try engine.sampleStats(records, interval: streaming ? 1.0 : 0.5).map { row in
                let memoryPercent = row.memoryLimit > 0 ? Double(row.memoryUsage) / Double(row.memoryLimit) * 100 : 0
                let network = row.networkReceived.map { "\(humanSize($0)) / \(humanSize(row.networkSent ?? 0))" } ?? "--"
                let id = args.has("no-trunc") ? (records.first { $0.id.hasPrefix(row.id) }?.id ?? row.id) : row.id
                let fields = ["CPUPerc": percent(row.cpuPercent), "Container": id, "ID": id, "MemPerc": percent(memoryPercent),
                              "MemUsage": "\(binarySize(row.memoryUsage)) / \(binarySize(row.memoryLimit))", "Name": row.name, "NetIO": network, "PIDs": "\(row.pids)"]
                return .object(statsHeaders.map { ($0.field, .string(fields[$0.field] ?? "")) })
            }
            // Streaming redraws in place, as docker stats does.
            out((streaming ? "\u{1b}[2J\u{1b}[H" : "") + (try format.render(rows, headers: statsHeaders)))
            fflush(stdout)
        } while streaming
        return 0
    }

    /// stats' columns and their headers, in the order of Docker's `{{json .}}`.
    static let statsHeaders: [(field: String, header: String)] = [
        ("CPUPerc", "CPU %"), ("Container", "CONTAINER"), ("ID", "CONTAINER ID"), ("MemPerc", "MEM %"), ("MemUsage", "MEM USAGE / LIMIT"),
        ("Name", "NAME"), ("NetIO", "NET I/O"), ("PIDs", "PIDS"),
    ]

    static let run = Command(
        name: "run", usage: "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        summary: "Create and run a new container from an image",
        options: RunFlags.options,
        stopAtFirstPositional: true
    ) { args, context in
        // `run --bundle DIR ID`, or `run ID` in OCI mode (the bundle is the current directory,
        // as runc's), is the OCI runtime's run; otherwise Docker's.
        if context.ociMode || args.value("bundle") != nil {
            let id = try args.onlyPositional("run [--bundle DIR]", "ID")
            var options = ContainerRuntime.RunOptions()
            options.noPivot = args.has("no-pivot")
            options.pidFile = args.value("pid-file")
            options.keep = args.has("keep")
            options.detach = args.has("detach")
            options.consoleSocket = args.value("console-socket")
            options.preservedFDs = try OCICommands.preservedFDs(args)
            if options.keep && options.detach { throw UsageError("--keep and --detach cannot be used together") }
            return try context.ociRuntime.run(id: id, bundle: args.value("bundle") ?? ".", options)
        }
        let options = try RunFlags.runOptions(args)
        if options.detach {
            out(try context.engine.runDetached(options) + "\n")
            return 0
        }
        // -it, and --sig-proxy=false: attached to a supervised container, so ctrl-p ctrl-q (or,
        // unproxied, ^C) can leave it running, as Docker's client leaves its daemon's.
        if (options.tty && options.interactive) || !options.signalProxy { return try context.engine.runAttached(options) }
        return try context.engine.run(options)
    }

    static let importImage = Command(
        name: "import", usage: "import [--max-size SIZE] FILE NAME[:TAG]",
        summary: "Import a root filesystem tarball (.tar or .tar.gz) as an image",
        options: [OptionSpec(["--max-size"], "bytes", "Refuse a tar stream larger than this, uncompressed (default 32g)")]
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"import\" requires exactly 2 arguments: FILE NAME[:TAG]") }
        try Engine.requireRoot()
        let reference = try ImageReference(parsing: args.positionals[1])
        let limit = try args.value("max-size").map { UInt64(try FlagValues.bytes($0, flag: "--max-size")) } ?? ImageStore.defaultImportLimit
        let record = try context.engine.images.importArchive(path: args.positionals[0], as: reference, limit: limit)
        out(record.id + "\n")
        return 0
    }

    static let pull = Command(
        name: "pull", usage: "pull [-q] NAME[:TAG|@DIGEST]",
        summary: "Download an image from a registry",
        options: [OptionSpec(["-q", "--quiet"], nil, "Suppress the progress output"), OptionSpec(["--platform"], "string", "Pull this platform's image from an index (os/arch[/variant])")]
    ) { args, context in
        let text = try args.onlyPositional("pull", "NAME[:TAG|@DIGEST]")
        if let platform = args.value("platform"), platform != Platform.native {
            throw UsageError("--platform \(Printable.escaped(platform)): only this machine's platform (\(Platform.native)) can be pulled")
        }
        let quiet = args.has("quiet")
        // On a terminal, layers are drawn in place; otherwise one line per change, as Docker does.
        let display = !quiet && isatty(1) != 0 ? PullDisplay() : nil
        try context.engine.pull(text, layerProgress: display.map { display in { display.layer($0, $1, bytes: $2, total: $3) } }) { line in
            if let display {
                display.line(line)
            } else if !quiet {
                out(line + "\n")
                fflush(stdout)
            }
        }
        out((try? RegistryReference(parsing: text)).map { "\($0.domain)/\($0.path)" + ($0.tag.map { ":" + $0 } ?? "") + ($0.digest.map { "@" + $0 } ?? "") } ?? text)
        out("\n")
        return 0
    }

    static let push = Command(
        name: "push", usage: "push [-q] NAME[:TAG]", summary: "Upload an image to a registry",
        options: [OptionSpec(["-q", "--quiet"], nil, "Suppress the progress output")]
    ) { args, context in
        let text = try args.onlyPositional("push", "NAME[:TAG]")
        let quiet = args.has("quiet")
        try context.engine.push(text) { line in
            if !quiet {
                out(line + "\n")
                fflush(stdout)
            }
        }
        if quiet { out(text + "\n") }
        return 0
    }

    static let login = Command(
        name: "login", usage: "login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]",
        summary: "Log in to a registry (credentials kept in Docker's config.json)",
        options: [OptionSpec(["-u", "--username"], "string", "Username", key: "username"), OptionSpec(["-p", "--password"], "string", "Password (visible to other users: prefer --password-stdin)", key: "password"),
                  OptionSpec(["--password-stdin"], nil, "Take the password from standard input")]
    ) { args, context in
        guard args.positionals.count <= 1 else { throw UsageError("\"login\" accepts at most 1 argument: SERVER") }
        guard let user = args.value("username"), !user.isEmpty else {
            throw UsageError("login needs a username (-u): swiftainer does not prompt")
        }
        var password = args.value("password")
        if args.has("password-stdin") {
            guard password == nil else { throw UsageError("--password and --password-stdin are mutually exclusive") }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(0, &buffer, buffer.count)
                if n <= 0 { break }
                bytes += buffer[..<n]
            }
            password = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        } else if password != nil {
            fputs("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n", stderr)
        }
        guard let password, !password.isEmpty else { throw UsageError("login needs a password (--password-stdin or -p)") }
        try context.engine.login(args.positionals.first ?? "", user: user, password: password)
        out("Login Succeeded\n")
        return 0
    }

    static let logout = Command(
        name: "logout", usage: "logout [SERVER]", summary: "Log out from a registry", options: []
    ) { args, context in
        guard args.positionals.count <= 1 else { throw UsageError("\"logout\" accepts at most 1 argument: SERVER") }
        let server = args.positionals.first ?? ""
        let removed = try context.engine.logout(server)
        out(removed ? "Removing login credentials for \(Engine.registryDomain(server))\n" : "Not logged in to \(Engine.registryDomain(server))\n")
        return 0
    }

    /// `image prune`: dangling images, or with -a every image no container uses.
    static let imagePrune = Command(
        name: "image prune", usage: "image prune [-a] [-f] [--filter until=…|label=…]", summary: "Remove unused images",
        options: [OptionSpec(["-a", "--all"], nil, "Remove every image no container uses, not only dangling ones"), OptionSpec(["-f", "--force"], nil, "Do not prompt for confirmation"),
                  OptionSpec(["--filter"], "filter", "Provide filter values (until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE])")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"image prune\" accepts no arguments") }
        let filter = try PruneFilter(args.values["filter"] ?? [])
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        let (lines, reclaimed) = try engine.images.prune(all: args.has("all"), selected: { filter.matches(created: $0.created, labels: $0.config.labels ?? [:]) }) {
            engine.containers.user(ofImage: $0)
        }
        engine.imageRemovalEvents(lines)
        out((lines.isEmpty ? "" : "Deleted Images:\n" + lines.map { $0 + "\n" }.joined() + "\n") + "Total reclaimed space: \(humanSize(reclaimed))\n")
        return 0
    }

    static let save = Command(
        name: "save", usage: "save [-o FILE] [--format docker-archive|oci-archive] IMAGE...",
        summary: "Save images to a tar archive (standard output by default)",
        options: [OptionSpec(["-o", "--output"], "string", "Write to this file instead of standard output", key: "output"), OptionSpec(["--format"], "string", "Archive format: docker-archive (default) or oci-archive")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"save\" requires at least 1 argument: IMAGE") }
        try context.engine.save(args.positionals, to: args.value("output"), format: args.value("format") ?? "docker-archive")
        return 0
    }

    static let load = Command(
        name: "load", usage: "load [-i FILE] [-q]",
        summary: "Load images from a docker-archive or OCI-layout tar archive (standard input by default)",
        options: [OptionSpec(["-i", "--input"], "string", "Read from this tar archive file instead of standard input", key: "input"), OptionSpec(["-q", "--quiet"], nil, "Suppress the load output")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"load\" accepts no arguments") }
        try Engine.requireRoot()
        let path = args.value("input")
        let input = try path.map { try FileDescriptor.open($0, O_RDONLY) } ?? FileDescriptor(0)
        defer { if path != nil { input.close() } }
        if path == nil && isatty(0) != 0 {
            throw UsageError("requested load from stdin, but stdin is empty: use -i FILE or redirect a file")
        }
        let lines = try context.engine.images.load(from: input, source: path ?? "standard input")
        if !args.has("quiet") { out(lines.map { $0 + "\n" }.joined()) }
        return 0
    }

    static let images = Command(
        name: "images", usage: "images [OPTIONS] [REPOSITORY[:TAG]]", summary: "List images",
        options: [OptionSpec(["-a", "--all"], nil, "Show all images (there are no intermediate images to hide: the same list)"),
                  OptionSpec(["--digests"], nil, "Show digests"),
                  OptionSpec(["--filter"], "filter", "Filter output based on conditions provided (KEY=VALUE, repeatable): " + ImageFilter.keys.joined(separator: ", ")),
                  OptionSpec(["--format"], "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template"),
                  OptionSpec(["--no-trunc"], nil, "Don't truncate output"), OptionSpec(["-q", "--quiet"], nil, "Only show image IDs")]
    ) { args, context in
        guard args.positionals.count <= 1 else { throw UsageError("\"images\" accepts at most 1 argument: REPOSITORY[:TAG]") }
        let engine = context.engine
        // A positional REPOSITORY[:TAG] is Docker's shorthand for --filter reference=….
        let specs = (args.values["filter"] ?? []) + args.positionals.map { "reference=" + $0 }
        let filter = try ImageFilter(specs) { try engine.images.resolve($0) }
        let full = args.has("no-trunc")
        let shown = try engine.images.list().compactMap { entry in
            filter.matchingTags(entry.record, tags: entry.tags).map { (record: entry.record, tags: $0) }
        }
        if args.has("quiet") {
            var seen = Set<String>()
            for entry in shown where seen.insert(entry.record.id).inserted { out((full ? entry.record.id : entry.record.shortID) + "\n") }
            return 0
        }
        // --digests: the manifest digest a repository's tag was pulled by (Docker's column).
        let format = try ListFormat(args.value("format"),
                                    defaultTable: "table {{.Repository}}\t{{.Tag}}" + (args.has("digests") ? "\t{{.Digest}}" : "") + "\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
                                    typeName: "*formatter.imageContext")
        var rows: [JSONValue] = []
        for entry in shown {
            let names = entry.tags.isEmpty ? [("<none>", "<none>")] : entry.tags.map { ($0.name, $0.tag) }
            for (name, tag) in names {
                let digest = entry.record.repoDigests?.first { $0.hasPrefix(name + "@") }.map { String($0.dropFirst(name.count + 1)) } ?? "<none>"
                let size = humanSize(entry.record.size)
                let fields: [String: String] = [
                    "Containers": "N/A", "CreatedAt": Clock.goTimeString(rfc3339: entry.record.created),
                    "CreatedSince": Clock.humanAge(sinceRFC3339: entry.record.created), "Digest": digest,
                    "ID": full ? entry.record.id : entry.record.shortID, "Repository": name, "SharedSize": "N/A", "Size": size,
                    "Tag": tag, "UniqueSize": "N/A", "VirtualSize": size,
                ]
                rows.append(.object(imageHeaders.map { ($0.field, .string(fields[$0.field] ?? "")) }))
            }
        }
        out(try format.render(rows, headers: imageHeaders))
        return 0
    }

    /// images' columns and their headers, in the order of Docker's `{{json .}}`.
    static let imageHeaders: [(field: String, header: String)] = [
        ("Containers", "CONTAINERS"), ("CreatedAt", "CREATED AT"), ("CreatedSince", "CREATED"), ("Digest", "DIGEST"), ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"), ("SharedSize", "SHARED SIZE"), ("Size", "SIZE"), ("Tag", "TAG"), ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ]

    static let tag = Command(
        name: "tag", usage: "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        options: []
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"tag\" requires exactly 2 arguments: SOURCE_IMAGE TARGET_IMAGE") }
        try context.engine.tag(args.positionals[0], args.positionals[1])
        return 0
    }

    static let history = Command(
        name: "history", usage: "history [--no-trunc] [-q] IMAGE", summary: "Show the history of an image",
        options: [OptionSpec(["--no-trunc"], nil, "Don't truncate output"), OptionSpec(["-q", "--quiet"], nil, "Only show image IDs"), OptionSpec(["-H", "--human"], nil, "Print sizes and dates in human readable format (default true)")]
    ) { args, context in
        let image = try args.onlyPositional("history", "IMAGE")
        let entries = try context.engine.history(image)
        let full = args.has("no-trunc")
        let shortID = { (id: String) in full || id == "<missing>" ? id : String(id.dropFirst("sha256:".count).prefix(12)) }
        if args.has("quiet") {
            out(entries.map { shortID($0.id) + "\n" }.joined())
            return 0
        }
        var table = Table(header: ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"])
        for entry in entries {
            let command = full || entry.createdBy.count <= 45 ? entry.createdBy : String(entry.createdBy.prefix(44)) + "…"
            table.add([shortID(entry.id), entry.created.isEmpty ? "N/A" : Clock.humanAge(sinceRFC3339: entry.created), Printable.escaped(command),
                       entry.size.map(humanSize) ?? "0B", Printable.escaped(entry.comment)])
        }
        out(table.render())
        return 0
    }

    static let rmi = Command(
        name: "rmi", usage: "rmi [OPTIONS] IMAGE [IMAGE...]", summary: "Remove images",
        options: [OptionSpec(["-f", "--force"], nil, "Remove the image even if a tag of it is in use")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"rmi\" requires at least 1 argument: IMAGE") }
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        for image in args.positionals {
            let lines = try engine.images.remove(image, force: args.has("force")) { engine.containers.user(ofImage: $0) }
            engine.imageRemovalEvents(lines)
            out(lines.map { $0 + "\n" }.joined())
        }
        return 0
    }

    /// ps's " (healthy)", " (unhealthy)", " (health: starting)", as Docker's.
    /// `health`: the entry's status word (none: no check).
    static func healthSuffix(_ health: String) -> String {
        if health == "none" { return "" }
        return health == HealthState.starting ? " (health: starting)" : " (\(health))"
    }

    static let ps = Command(
        name: "ps", usage: "ps [OPTIONS]", summary: "List containers",
        options: [OptionSpec(["-a", "--all"], nil, "Show all containers (default shows just running)"),
                  OptionSpec(["--filter"], "filter", "Filter output based on conditions provided (KEY=VALUE, repeatable): " + ContainerFilter.keys.joined(separator: ", ")),
                  OptionSpec(["-f", "--format"], "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template (OCI mode: table or json)", key: "format"),
                  OptionSpec(["-n", "--last"], "int", "Show n last created containers (includes all states)", key: "last"),
                  OptionSpec(["-l", "--latest"], nil, "Show the latest created container (includes all states)"),
                  OptionSpec(["--no-trunc"], nil, "Don't truncate output"), OptionSpec(["-q", "--quiet"], nil, "Only display container IDs"),
                  OptionSpec(["-s", "--size"], nil, "Display total file sizes")]
    ) { args, context in
        // The OCI runtime's `ps ID` (runc's), listing the container's pids.
        if context.ociMode { return try OCICommands.processes(args, context) }
        guard args.positionals.isEmpty else { throw UsageError("\"ps\" accepts no arguments") }
        let engine = context.engine
        if geteuid() == 0 { engine.containers.reconcile() }
        let filter = try ContainerFilter(args.values["filter"] ?? []) { try engine.containers.find($0) }
        var last = try args.value("last").map { Int(try FlagValues.integer($0, flag: "--last", in: -1...Int64(Int32.max))) } ?? -1
        if args.has("latest") { last = 1 }
        // Newest first, as Docker lists them; -n/-l look at every state.
        var records = engine.containers.all()
        if last >= 0 { records = Array(records.prefix(last)) }
        let showAll = args.has("all") || last >= 0 || filter.selectsStopped
        // The mounts are read from each container's config only when asked for.
        let needsMounts = (args.values["filter"] ?? []).contains { $0.hasPrefix("volume=") } || (args.value("format") ?? "").contains("Mounts")
            || ["json", "{{json .}}"].contains(args.value("format") ?? "")
        let entries = records.filter { showAll || $0.status == .running || $0.restarting == true }
            .map { engine.listEntry($0, withMounts: needsMounts) }
            .filter { filter.matches($0) }
        let full = args.has("no-trunc")
        if args.has("quiet") {
            out(entries.map { (full ? $0.record.id : $0.record.shortID) + "\n" }.joined())
            return 0
        }
        let size = args.has("size")
        let format = try ListFormat(args.value("format"),
                                    defaultTable: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}" + (size ? "\t{{.Size}}" : ""),
                                    typeName: "*formatter.ContainerContext")
        let rows = entries.map { containerRow($0, engine: engine, full: full, size: size) }
        out(try format.render(rows, headers: containerHeaders))
        return 0
    }

    /// ps's columns and their headers, in the order of Docker's `{{json .}}` (alphabetical).
    static let containerHeaders: [(field: String, header: String)] = [
        ("Command", "COMMAND"), ("CreatedAt", "CREATED AT"), ("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"), ("Mounts", "MOUNTS"), ("Names", "NAMES"), ("Networks", "NETWORKS"), ("Ports", "PORTS"),
        ("RunningFor", "CREATED"), ("Size", "SIZE"), ("State", "STATE"), ("Status", "STATUS"),
    ]

    /// One container as ps's template sees it: every column a string, as Docker's.
    static func containerRow(_ entry: ContainerListEntry, engine: Engine, full: Bool, size: Bool) -> JSONValue {
        let record = entry.record
        var command = record.command.joined(separator: " ")
        if !full && command.count > 20 { command = String(command.prefix(19)) + "…" }
        let status = entry.state == "paused" ? record.statusText + " (Paused)" : record.statusText + healthSuffix(entry.health)
        let labels = (record.labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        var sizeText = "0B"
        if size {
            // The writable layer, and the image under it ("virtual"), as Docker's -s.
            let writable = Files.diskUsage(engine.paths.container(record.id) + "/upper")
            let image = (try? engine.images.resolve(record.imageID))?.size ?? 0
            sizeText = "\(humanSize(writable)) (virtual \(humanSize(writable + image)))"
        }
        let fields: [String: String] = [
            "Command": JSON.quoted(command), "CreatedAt": Clock.goTimeString(rfc3339: record.created), "ID": full ? record.id : record.shortID,
            "Image": record.image, "Labels": labels, "LocalVolumes": "\(record.volumes?.count ?? 0)", "Mounts": mountsColumn(entry, full: full), "Names": record.name,
            "Networks": record.networkMode ?? "bridge", "Ports": record.portsText, "RunningFor": Clock.humanAge(sinceRFC3339: record.created),
            "Size": sizeText, "State": entry.state, "Status": status,
        ]
        return .object(containerHeaders.map { ($0.field, .string(fields[$0.field] ?? "")) })
    }

    /// Docker's Mounts column: each mount's source, cut to 15 characters unless --no-trunc.
    static func mountsColumn(_ entry: ContainerListEntry, full: Bool) -> String {
        entry.mounts.map { mount in
            let source = mount.source
            return full || source.count <= 15 ? source : String(source.prefix(14)) + "…"
        }.joined(separator: ",")
    }

    static let rm = Command(
        name: "rm", usage: "rm [OPTIONS] CONTAINER [CONTAINER...]", summary: "Remove one or more containers",
        options: [OptionSpec(["-f", "--force"], nil, "Force the removal of a running container (uses SIGKILL)"),
                  OptionSpec(["-v", "--volumes"], nil, "Remove anonymous volumes associated with the container")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"rm\" requires at least 1 argument: CONTAINER") }
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        var status: Int32 = 0
        for reference in args.positionals {
            do {
                try engine.remove(reference, force: args.has("force"), volumes: args.has("volumes"))
                out(reference + "\n")
            } catch {
                fputs("swiftainer: \(SwiftainerCLI.oneLine(error))\n", stderr)
                status = 1
            }
        }
        return status
    }

    static let version = Command(
        name: "version", usage: "version", summary: "Show the swiftainer version", options: []
    ) { _, _ in
        out("swiftainer version \(swiftainerVersion)\nOCI runtime spec \(Spec.version)\n")
        return 0
    }
}

let swiftainerVersion = "0.1.0"
