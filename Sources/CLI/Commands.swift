#if canImport(Glibc)
import Glibc
#endif
import Engine
import FoundationEssentials
import Images
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
    let run: (ParsedArguments, Context) throws -> Int32
}

/// What every command gets: the global options, resolved.
struct Context {
    let paths: Paths
    var engine: Engine { Engine(paths: paths) }
}

func out(_ text: String) {
    fputs(text, stdout)
}

enum Commands {
    static let all: [Command] = [run, importImage, images, rmi, ps, rm, version]

    static let run = Command(
        name: "run", usage: "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        summary: "Create and run a new container from an image",
        options: [
            OptionSpec(["-i", "--interactive"]), OptionSpec(["-t", "--tty"]), OptionSpec(["--rm"]),
            OptionSpec(["--name"], takesValue: true), OptionSpec(["-e", "--env"], takesValue: true),
            OptionSpec(["-w", "--workdir"], takesValue: true), OptionSpec(["-h", "--hostname"], takesValue: true),
            OptionSpec(["--network", "--net"], takesValue: true, key: "network"), OptionSpec(["--no-pivot"]),
            OptionSpec(["--security-opt"], takesValue: true), OptionSpec(["--cap-add"], takesValue: true),
            OptionSpec(["--cap-drop"], takesValue: true), OptionSpec(["--privileged"]), OptionSpec(["--read-only"]),
        ],
        stopAtFirstPositional: true
    ) { args, context in
        var options = RunOptions()
        guard let image = args.positionals.first else { throw UsageError("\"run\" requires at least 1 argument: IMAGE") }
        options.image = image
        options.command = Array(args.positionals.dropFirst())
        options.name = args.value("name")
        options.autoRemove = args.has("rm")
        options.interactive = args.has("interactive")
        options.tty = args.has("tty")
        options.env = args.values["env"] ?? []
        options.workingDir = args.value("workdir")
        options.hostname = args.value("hostname")
        options.noPivot = args.has("no-pivot")
        options.capAdd = args.values["cap-add"] ?? []
        options.capDrop = args.values["cap-drop"] ?? []
        options.privileged = args.has("privileged")
        options.readOnly = args.has("read-only")
        for option in args.values["security-opt"] ?? [] { try options.addSecurityOption(option) }
        if let workdir = options.workingDir, !workdir.hasPrefix("/") {
            throw UsageError("the working directory '\(workdir)' is invalid: it needs to be an absolute path")
        }
        if let network = args.value("network") {
            guard let mode = RunOptions.NetworkMode(rawValue: network) else {
                throw UsageError("network \(network) not found (supported: none, host)")
            }
            options.network = mode
        }
        return try context.engine.run(options)
    }

    static let importImage = Command(
        name: "import", usage: "import FILE NAME[:TAG]",
        summary: "Import a root filesystem tarball (.tar or .tar.gz) as an image", options: []
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"import\" requires exactly 2 arguments: FILE NAME[:TAG]") }
        try Engine.requireRoot()
        let reference = try ImageReference(parsing: args.positionals[1])
        let record = try context.engine.images.importArchive(path: args.positionals[0], as: reference)
        out(record.id + "\n")
        return 0
    }

    static let images = Command(
        name: "images", usage: "images [OPTIONS]", summary: "List images",
        options: [OptionSpec(["-q", "--quiet"]), OptionSpec(["--no-trunc"])]
    ) { args, context in
        let entries = try context.engine.images.list()
        let full = args.has("no-trunc")
        if args.has("quiet") {
            var seen = Set<String>()
            for entry in entries where seen.insert(entry.record.id).inserted { out((full ? entry.record.id : entry.record.shortID) + "\n") }
            return 0
        }
        var table = Table(header: ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"])
        for entry in entries {
            let id = full ? entry.record.id : entry.record.shortID
            let row = { (name: String, tag: String) in
                [name, tag, id, Clock.humanAge(sinceRFC3339: entry.record.created), humanSize(entry.record.size)]
            }
            if entry.tags.isEmpty { table.add(row("<none>", "<none>")) }
            for tag in entry.tags { table.add(row(tag.name, tag.tag)) }
        }
        out(table.render())
        return 0
    }

    static let rmi = Command(
        name: "rmi", usage: "rmi [OPTIONS] IMAGE [IMAGE...]", summary: "Remove images",
        options: [OptionSpec(["-f", "--force"])]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"rmi\" requires at least 1 argument: IMAGE") }
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        for image in args.positionals {
            let lines = try engine.images.remove(image, force: args.has("force")) { engine.containers.user(ofImage: $0) }
            out(lines.map { $0 + "\n" }.joined())
        }
        return 0
    }

    static let ps = Command(
        name: "ps", usage: "ps [OPTIONS]", summary: "List containers",
        options: [OptionSpec(["-a", "--all"]), OptionSpec(["-q", "--quiet"]), OptionSpec(["--no-trunc"])]
    ) { args, context in
        let engine = context.engine
        if geteuid() == 0 { engine.containers.reconcile() }
        let records = engine.containers.all().filter { args.has("all") || $0.status == .running }
        let full = args.has("no-trunc")
        if args.has("quiet") {
            out(records.map { (full ? $0.id : $0.shortID) + "\n" }.joined())
            return 0
        }
        var table = Table(header: ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"])
        for record in records {
            var command = record.command.joined(separator: " ")
            if !full && command.count > 20 { command = String(command.prefix(19)) + "…" }
            table.add([full ? record.id : record.shortID, record.image, "\"\(command)\"",
                       Clock.humanAge(sinceRFC3339: record.created), record.statusText, record.name])
        }
        out(table.render())
        return 0
    }

    static let rm = Command(
        name: "rm", usage: "rm [OPTIONS] CONTAINER [CONTAINER...]", summary: "Remove one or more containers",
        options: [OptionSpec(["-f", "--force"])]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"rm\" requires at least 1 argument: CONTAINER") }
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        var status: Int32 = 0
        for reference in args.positionals {
            do {
                try engine.remove(reference, force: args.has("force"))
                out(reference + "\n")
            } catch {
                fputs("swiftainer: \(error)\n", stderr)
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
