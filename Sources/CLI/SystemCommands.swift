#if canImport(Glibc)
import Glibc
#endif
import Engine
import JSONKit
import LinuxKit
import Templates

/// `info` and `system df`: what the machine and the store hold, as Docker prints them.
enum SystemCommands {
    static let all: [Command] = [info, events, unshare, VolumeCommands.copyUp]

    /// `unshare [COMMAND [ARG...]]` (Podman's): a command — by default the user's shell — in the
    /// rootless user namespace (joined before any command runs, see RootlessNamespace), as its
    /// root. Files of the store that belong to subordinate ids can be removed there: the way to
    /// delete a rootless store (`swiftainer unshare rm -rf ~/.local/share/swiftainer`).
    static let unshare = Command(
        name: "unshare", usage: "unshare [COMMAND [ARG...]]",
        summary: "Run a command in the rootless user namespace",
        options: [], stopAtFirstPositional: true
    ) { args, _ in
        guard Rootless.isActive else {
            throw UsageError("unshare: only rootless (as an ordinary user); root works in the host's user namespace already")
        }
        let shell = getenv("SHELL").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh"
        let argv = args.positionals.isEmpty ? [shell] : args.positionals
        fflush(stdout)
        var cArguments = argv.map { strdup($0) } + [nil]
        execvp(argv[0], &cArguments)
        let failure = errno
        fputs("swiftainer: unshare: \(Printable.escaped(argv[0])): \(String(cString: strerror(failure)))\n", stderr)
        return failure == ENOENT ? 127 : 126
    }

    static let events = Command(
        name: "events", usage: "events [--since TIME] [--until TIME] [--filter KEY=VALUE]... [--format TEMPLATE]",
        summary: "Get real time events from the container engine",
        options: [OptionSpec(["-f", "--filter"], "filter", "Filter output based on conditions provided: " + EventFilter.keys.joined(separator: ", "), key: "filter"),
                  OptionSpec(["--format"], "string", "Format output using a custom template: 'json' or a Go template"),
                  OptionSpec(["--since"], "string", "Show all events created since timestamp (Unix, RFC 3339 or a duration before now)"),
                  OptionSpec(["--until"], "string", "Stream events until this timestamp")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"events\" accepts no arguments") }
        let filter = try EventFilter(args.values["filter"] ?? [])
        let since = try args.value("since").map { try PruneFilter.time($0) }
        let until = try args.value("until").map { try PruneFilter.time($0) }
        let format = args.value("format")
        let template = try format.flatMap { $0 == "json" ? nil : $0 }.map { text in
            do { return try GoTemplate(text.replacingTypedEscapes, missingField: .empty) } catch { throw UsageError("template parsing error: \(error)") }
        }
        var failure: Error?
        context.engine.events(since: since, until: until, filter: filter) { event in
            guard failure == nil else { return }
            do {
                let value = try JSON.encodeValue(event)
                if let template {
                    out(try template.execute(value) + "\n")
                } else if format == "json" {
                    out(String(decoding: JSON.write(value), as: UTF8.self) + "\n")
                } else {
                    // Docker's line: time, type, action, id, (attributes sorted by key).
                    let when = Clock.rfc3339(timespec(tv_sec: event.timeNano / 1_000_000_000, tv_nsec: event.timeNano % 1_000_000_000))
                    let attributes = event.Actor.Attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                    out("\(when) \(event.Type) \(event.Action) \(event.Actor.ID)" + (attributes.isEmpty ? "" : " (\(attributes))") + "\n")
                }
                fflush(stdout)
            } catch {
                failure = error
            }
        }
        if let failure { throw UsageError("\(failure)") }
        return 0
    }

    /// A whole-object --format (info's): `json`, or a Go template over the object.
    static func render<T: Encodable>(_ value: T, format: String) throws -> String {
        let json = try JSON.encodeValue(value)
        if format == "json" { return String(decoding: JSON.write(json), as: UTF8.self) + "\n" }
        let template: GoTemplate
        do { template = try GoTemplate(format.replacingTypedEscapes) } catch { throw UsageError("template parsing error: \(error)") }
        do { return try template.execute(json) + "\n" } catch { throw UsageError("\(error)") }
    }

    static let info = Command(
        name: "info", usage: "info [--format TEMPLATE]", summary: "Display system-wide information",
        options: [OptionSpec(["-f", "--format"], "string", "Format output using a custom template: 'json' or a Go template", key: "format")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"info\" accepts no arguments") }
        let info = context.engine.systemInfo(serverVersion: swiftainerVersion)
        if let format = args.value("format") {
            out(try render(info, format: format))
            return 0
        }
        var text = "Server:\n"
        text += " Containers: \(info.Containers)\n  Running: \(info.ContainersRunning)\n  Paused: \(info.ContainersPaused)\n  Stopped: \(info.ContainersStopped)\n"
        text += " Images: \(info.Images)\n Server Version: \(info.ServerVersion)\n Storage Driver: \(info.Driver)\n"
        text += info.DriverStatus.map { "  \($0[0]): \($0[1])\n" }.joined()
        text += " Logging Driver: \(info.LoggingDriver)\n Cgroup Driver: \(info.CgroupDriver)\n Cgroup Version: \(info.CgroupVersion)\n"
        text += " Runtimes: \(info.Runtimes.keys.sorted().joined(separator: " "))\n Default Runtime: \(info.DefaultRuntime)\n"
        // "name=seccomp,profile=builtin" is printed as Docker prints it: the name, then its
        // settings indented below it.
        text += " Security Options:\n"
        for option in info.SecurityOptions {
            let parts: [[String]] = option.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
            text += "  " + (parts.first?.last ?? option) + "\n"
            for setting in parts.dropFirst() where setting.count == 2 {
                text += "   " + setting[0].prefix(1).uppercased() + setting[0].dropFirst() + ": " + setting[1] + "\n"
            }
        }
        text += " Kernel Version: \(info.KernelVersion)\n Operating System: \(info.OperatingSystem)\n OSType: \(info.OSType)\n"
        text += " Architecture: \(info.Architecture)\n CPUs: \(info.NCPU)\n Total Memory: \(binarySize(info.MemTotal))\n Name: \(info.Name)\n"
        text += " ID: \(info.ID)\n Docker Root Dir: \(info.DockerRootDir)\n State Dir: \(info.StateDir)\n"
        out(text)
        return 0
    }

    /// `system df [-v]`: sizes and what could be reclaimed.
    static let systemDF = Command(
        name: "system df", usage: "system df [-v] [--format TEMPLATE]", summary: "Show disk usage",
        options: [OptionSpec(["-v", "--verbose"], nil, "Show detailed information on space usage"),
                  OptionSpec(["--format"], "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"system df\" accepts no arguments") }
        let usage = try context.engine.diskUsage()
        if args.has("verbose") {
            var text = "Images space usage:\n\n"
            var images = Table(header: ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"])
            for (record, tags, users) in usage.images {
                for (name, tag) in tags.isEmpty ? [("<none>", "<none>")] : tags.map({ ($0.name, $0.tag) }) {
                    images.add([name, tag, record.shortID, Clock.humanAge(sinceRFC3339: record.created), humanSize(record.size), "0B", humanSize(record.size), "\(users)"])
                }
            }
            text += images.render() + "\nContainers space usage:\n\n"
            var containers = Table(header: ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"])
            for (record, size) in usage.containers {
                var command = record.command.joined(separator: " ")
                if command.count > 20 { command = String(command.prefix(19)) + "…" }
                containers.add([record.shortID, record.image, JSON.quoted(command), "0", humanSize(size), Clock.humanAge(sinceRFC3339: record.created), record.statusText, record.name])
            }
            text += containers.render() + "\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n\nBuild cache usage: 0B\n"
            out(text)
            return 0
        }
        let format = try ListFormat(args.value("format"), defaultTable: "table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}",
                                    typeName: "*formatter.diskUsageImagesContext")
        let rows: [JSONValue] = usage.rows.map { row in
            let share = row.size > 0 ? " (\(Int(Double(row.reclaimable) / Double(row.size) * 100))%)" : ""
            let fields = ["Active": "\(row.active)", "Reclaimable": humanSize(row.reclaimable) + (row.kind == "Build Cache" ? "" : share),
                          "Size": humanSize(row.size), "TotalCount": "\(row.total)", "Type": row.kind]
            return .object(diskUsageHeaders.map { ($0.field, .string(fields[$0.field] ?? "")) })
        }
        out(try format.render(rows, headers: diskUsageHeaders))
        return 0
    }

    static let diskUsageHeaders: [(field: String, header: String)] = [
        ("Active", "ACTIVE"), ("Reclaimable", "RECLAIMABLE"), ("Size", "SIZE"), ("TotalCount", "TOTAL"), ("Type", "TYPE"),
    ]
}
