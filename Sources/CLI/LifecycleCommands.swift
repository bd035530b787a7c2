#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Engine
import Containers
import JSONKit
import LinuxKit
import OCI
import Runtime
import Templates

/// Docker's container lifecycle verbs. `start`, `kill`, `pause` and `exec` are also OCI
/// runtime verbs: in OCI mode (SwiftainerCLI.isOCIMode: invoked as `swiftainer-runtime`, or
/// with an OCI caller's global options) they have the OCI meaning and its errors, which OCI
/// callers parse; otherwise Docker's.
enum LifecycleCommands {
    static let all: [Command] = [start, stop, restart, kill, pause, unpause, update, wait, logs, exec, inspect, top, rename, port, cp, diff, export, attach, commit, monitor, monitorFinish, healthMonitor, networkGC, networkCycle, networkDNS]

    /// Runs `body` for each container named, as Docker does: prints the name on success, the
    /// error on failure, and exits 1 if any failed.
    static func each(_ references: [String], verb: String, _ body: (String) throws -> Void) -> Int32 {
        var status: Int32 = 0
        for reference in references {
            do {
                try body(reference)
                out(reference + "\n")
            } catch {
                fputs("swiftainer: \(verb) \(Printable.escaped(reference)): \(SwiftainerCLI.oneLine(error))\n", stderr)
                status = 1
            }
        }
        return status
    }

    static func requireContainers(_ args: ParsedArguments, _ verb: String) throws {
        if args.positionals.isEmpty { throw UsageError("\"\(verb)\" requires at least 1 argument: CONTAINER") }
    }

    /// -t; nil: each container's own --stop-timeout, else 10 s.
    static func timeout(_ args: ParsedArguments) throws -> Double? {
        guard let text = args.value("time") else { return nil }
        // Docker's -t is whole seconds; -1 waits for as long as the container takes.
        let seconds = try FlagValues.integer(text, flag: "--time", in: -1...Int64(Int32.max))
        return seconds < 0 ? .infinity : Double(seconds)
    }

    static let start = Command(
        name: "start", usage: "start CONTAINER... | start --all [--filter restart-policy=always|unless-stopped|on-failure]... (Docker) | start ID (OCI)",
        summary: "Start stopped containers (or an OCI container created by 'create')",
        options: [OptionSpec(["-a", "--attach"], nil, "Attach STDOUT/STDERR and forward signals", key: "attach"), OptionSpec(["-i", "--interactive"], nil, "Attach container's STDIN"),
                  OptionSpec(["--detach-keys"], "string", "Override the key sequence for detaching a container (default ctrl-p,ctrl-q)"),
                  OptionSpec(["--all"], nil, "Start every stopped container (filtered by --filter)", key: "all"), OptionSpec(["--filter"], "filter", "With --all: restart-policy=always|unless-stopped|on-failure|no (repeatable)")]
    ) { args, context in
        if context.ociMode { return try OCICommands.start.run(args, context) }
        let engine = context.engine
        if args.has("attach") || args.has("interactive") {
            // Docker's start -a/-i: one container, this client attached until it ends.
            guard args.positionals.count == 1, !args.has("all") else { throw UsageError("you cannot start and attach multiple containers at once") }
            let keys = try args.value("detach-keys").map { try DockerFlagValues.detachKeys($0) } ?? DockerFlagValues.defaultDetachKeys
            return try engine.startAttached(args.positionals[0], stdin: args.has("interactive"), detachKeys: keys)
        }
        if args.has("all") {
            // Podman's `start --all`: what a boot-time unit runs, since no daemon restarts
            // containers after a reboot (see the README).
            guard args.positionals.isEmpty else { throw UsageError("start --all takes no container names") }
            var policies: [RestartPolicy.Name] = []
            for filter in args.values["filter"] ?? [] {
                guard filter.hasPrefix("restart-policy="), let name = RestartPolicy.Name(rawValue: String(filter.dropFirst("restart-policy=".count))) else {
                    throw UsageError("invalid filter \(Printable.escaped(filter)): start --all takes restart-policy=always|unless-stopped|on-failure|no")
                }
                policies.append(name)
            }
            return each(engine.startable(restartPolicies: policies), verb: "start") { try engine.start($0) }
        }
        try requireContainers(args, "start")
        return each(args.positionals, verb: "start") { try engine.start($0) }
    }

    static let stop = Command(
        name: "stop", usage: "stop [-t SECONDS] CONTAINER...",
        summary: "Stop running containers: SIGTERM, then SIGKILL after the timeout",
        options: [OptionSpec(["-t", "--time", "--timeout"], "int", "Seconds to wait before killing the container (default: its --stop-timeout, or 10)", key: "time")]
    ) { args, context in
        try requireContainers(args, "stop")
        let results = context.engine.stop(args.positionals, timeout: try timeout(args))
        var status: Int32 = 0
        for (reference, error) in results {
            if let error {
                fputs("swiftainer: stop \(Printable.escaped(reference)): \(SwiftainerCLI.oneLine(error))\n", stderr)
                status = 1
            } else {
                out(reference + "\n")
            }
        }
        return status
    }

    static let restart = Command(
        name: "restart", usage: "restart [-t SECONDS] CONTAINER...", summary: "Stop and start containers again",
        options: [OptionSpec(["-t", "--time", "--timeout"], "int", "Seconds to wait before killing the container (default: its --stop-timeout, or 10)", key: "time")]
    ) { args, context in
        try requireContainers(args, "restart")
        let seconds = try timeout(args)
        let engine = context.engine
        return each(args.positionals, verb: "restart") { try engine.restart($0, timeout: seconds) }
    }

    static let kill = Command(
        name: "kill", usage: "kill [-s SIGNAL] CONTAINER... (Docker) | kill [--all] ID [SIGNAL] (OCI)",
        summary: "Send a signal to containers (Docker's default KILL, the OCI default TERM)",
        options: [OptionSpec(["-s", "--signal"], "string", "Signal to send to the container (default KILL; OCI mode TERM)", key: "signal"), OptionSpec(["-a", "--all"], nil, "OCI: send the signal to every process of the container", key: "all")]
    ) { args, context in
        if context.ociMode { return try OCICommands.kill.run(args, context) }
        try requireContainers(args, "kill")
        let name = args.value("signal") ?? "KILL"
        guard let signal = Signals.parse(name) else { throw UsageError("invalid signal '\(name)'") }
        let engine = context.engine
        return each(args.positionals, verb: "kill") { try engine.kill($0, signal: signal) }
    }

    static let pause = Command(
        name: "pause", usage: "pause CONTAINER... (Docker) | pause ID (OCI)",
        summary: "Freeze every process of containers (the cgroup freezer)", options: []
    ) { args, context in
        if context.ociMode { return try OCICommands.pause.run(args, context) }
        try requireContainers(args, "pause")
        let engine = context.engine
        return each(args.positionals, verb: "pause") { try engine.pause($0) }
    }

    static let unpause = Command(
        name: "unpause", usage: "unpause CONTAINER...", summary: "Let the processes of paused containers run again", options: []
    ) { args, context in
        try requireContainers(args, "unpause")
        let engine = context.engine
        return each(args.positionals, verb: "unpause") { try engine.unpause($0) }
    }

    static let wait = Command(
        name: "wait", usage: "wait CONTAINER...", summary: "Block until containers stop, then print their exit codes", options: []
    ) { args, context in
        try requireContainers(args, "wait")
        let engine = context.engine
        var status: Int32 = 0
        for reference in args.positionals {
            do { out("\(try engine.wait(reference))\n") } catch {
                fputs("swiftainer: wait \(Printable.escaped(reference)): \(SwiftainerCLI.oneLine(error))\n", stderr)
                status = 1
            }
        }
        return status
    }

    static let logs = Command(
        name: "logs", usage: "logs [-f] [--tail N] [-t] CONTAINER", summary: "Show a container's output",
        options: [OptionSpec(["-f", "--follow"], nil, "Follow log output", key: "follow"), OptionSpec(["-n", "--tail"], "string", "Number of lines to show from the end of the logs (default \"all\")", key: "tail"),
                  OptionSpec(["-t", "--timestamps"], nil, "Show timestamps", key: "timestamps")]
    ) { args, context in
        let container = try args.onlyPositional("logs", "CONTAINER")
        var tail: Int?
        if let text = args.value("tail"), text != "all" {
            guard let value = Int(text), value >= 0 else { throw UsageError("--tail: invalid number '\(text)'") }
            tail = value
        }
        let timestamps = args.has("timestamps")
        try context.engine.logs(container, tail: tail, follow: args.has("follow")) { entries in
            for entry in entries {
                let text = (timestamps ? entry.time + " " : "") + entry.log
                _ = text.withCString { fputs($0, entry.stream == "stderr" ? stderr : stdout) }
            }
            fflush(stdout)
            fflush(stderr)
        }
        return 0
    }

    static let exec = Command(
        name: "exec", usage: "exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...] (Docker) | "
            + "exec [--process FILE] [-t] [-d] [--pid-file F] [--console-socket S] [--cwd DIR] ID [COMMAND...] (OCI)",
        summary: "Run a command in a running container",
        options: [OptionSpec(["-i", "--interactive"], nil, "Keep STDIN open even if not attached"), OptionSpec(["-t", "--tty"], nil, "Allocate a pseudo-TTY"), OptionSpec(["-e", "--env"], "list", "Set environment variables"),
                  OptionSpec(["-w", "--workdir"], "string", "Working directory inside the container"), OptionSpec(["-u", "--user"], "string", "Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
                  OptionSpec(["--privileged"], nil, "Give extended privileges to the command"),
                  OptionSpec(["-p", "--process"], "string", "OCI: path to a process.json to run", key: "process"), OptionSpec(["-d", "--detach"], nil, "Detached mode: run the command in the background", key: "detach"),
                  OptionSpec(["--pid-file"], "string", "OCI: write the process's pid to this file"), OptionSpec(["--console-socket"], "string", "OCI: send the pty master to this unix socket"),
                  OptionSpec(["--cwd"], "string", "OCI: working directory of the process"), OptionSpec(["--cap"], "list", "OCI: add a capability to the process"), OptionSpec(["--no-new-privs"], nil, "OCI: set no_new_privs for the process"),
                  OptionSpec(["--preserve-fds"], "int", "OCI: pass N more file descriptors (3 .. N+2) to the process")],
        stopAtFirstPositional: true
    ) { args, context in
        if context.ociMode { return try ociExec(args, context) }
        guard args.positionals.count >= 2 else { throw UsageError("\"exec\" requires at least 2 arguments: CONTAINER COMMAND") }
        var options = ExecOptions()
        options.command = Array(args.positionals.dropFirst())
        options.interactive = args.has("interactive")
        options.tty = args.has("tty")
        options.env = try RunOptions.validatedEnvironment(args.values["env"] ?? [])
        options.workingDir = args.value("workdir")
        options.user = args.value("user")
        options.privileged = args.has("privileged")
        return try context.engine.exec(args.positionals[0], options)
    }

    /// runc's exec: the process from --process, or the command with --cwd/--env/--user/--tty.
    static func ociExec(_ args: ParsedArguments, _ context: Context) throws -> Int32 {
        let id = args.positionals[0]
        let runtime = OCICommands.runtime(context)
        var process: Process
        if let file = args.value("process") {
            process = try ExecRequest.readProcess(file)
        } else {
            guard args.positionals.count >= 2 else { throw UsageError("\"exec\" needs --process FILE or a command after the ID") }
            // Defaults from the container's own process: environment, user, capabilities.
            let base = try ContainerRuntime.readSpec(bundle: try runtime.load(id).bundle).process
            process = base ?? Process(terminal: false, args: [], env: [], cwd: "/", noNewPrivileges: false)
            process.args = Array(args.positionals.dropFirst())
            process.terminal = args.has("tty")
            process.consoleSize = nil
            if let cwd = args.value("cwd") { process.cwd = cwd }
            process.env = (process.env ?? []) + (args.values["env"] ?? [])
            if let user = args.value("user") {
                let parts = user.split(separator: ":").map { UInt32($0) }
                guard let uid = parts.first ?? nil, parts.count <= 2, parts.allSatisfy({ $0 != nil }) else {
                    throw UsageError("--user must be UID[:GID] for an OCI container")
                }
                process.user = User(uid: uid, gid: parts.count == 2 ? parts[1]! : 0)
            }
        }
        // runc's --cap: added to every set the process has (bounding, effective, permitted, inheritable).
        for name in args.values["cap"] ?? [] {
            let cap = name.uppercased().hasPrefix("CAP_") ? name.uppercased() : "CAP_" + name.uppercased()
            guard CapabilityNames.number(cap) != nil else { throw UsageError("--cap \(Printable.escaped(name)): unknown capability") }
            var capabilities = process.capabilities ?? Capabilities(all: [])
            for keyPath in [\Capabilities.bounding, \.effective, \.permitted, \.inheritable] where !(capabilities[keyPath: keyPath] ?? []).contains(cap) {
                capabilities[keyPath: keyPath] = (capabilities[keyPath: keyPath] ?? []) + [cap]
            }
            process.capabilities = capabilities
        }
        if args.has("no-new-privs") { process.noNewPrivileges = true }
        var request = ExecRequest(process: process)
        request.detach = args.has("detach")
        request.pidFile = args.value("pid-file")
        request.consoleSocket = args.value("console-socket")
        request.preservedFDs = try OCICommands.preservedFDs(args)
        return try runtime.exec(id: id, request)
    }

    static let inspect = inspectCommand(name: "inspect", only: nil)

    /// `inspect`, and `container inspect` / `image inspect`, which look up one kind only.
    static func inspectCommand(name: String, only: Engine.InspectType?) -> Command { Command(
        name: name, usage: "\(name) [OPTIONS] " + (only.map { $0.rawValue.uppercased() + " [\($0.rawValue.uppercased())...]" } ?? "CONTAINER|IMAGE [CONTAINER|IMAGE...]"),
        summary: only.map { "Display detailed information on one or more \($0.rawValue)s" } ?? "Return low-level information on containers or images",
        options: [OptionSpec(["-f", "--format"], "string", "Format output using a custom template: 'json' or a Go template (each object's output on its own line)", key: "format"),
                  OptionSpec(["--type"], "string", "Only look up this type of object: container or image"),
                  OptionSpec(["-s", "--size"], nil, "Display total file sizes if the type is container")]
    ) { args, context in
        try requireContainers(args, "inspect")
        let engine = context.engine
        guard let type = only ?? Engine.InspectType(rawValue: args.value("type") ?? "any"), type != .any || args.value("type") == nil else {
            throw UsageError("--type \(Printable.escaped(args.value("type") ?? "")): not a type swiftainer can inspect (container or image)")
        }
        let inspection = try ObjectInspection(format: args.value("format"))
        if geteuid() == 0 { engine.containers.reconcile() }
        return try inspection.print(args.positionals) { try engine.inspectValue($0, type: type) }
    } }

    static let top = Command(
        name: "top", usage: "top CONTAINER", summary: "Show the processes of a running container", options: []
    ) { args, context in
        let container = try args.onlyPositional("top", "CONTAINER")
        var table = Table(header: ["UID", "PID", "CMD"])
        for process in try context.engine.processes(container) {
            table.add([process.user, "\(process.pid)", process.command])
        }
        out(table.render())
        return 0
    }

    static let attach = Command(
        name: "attach", usage: "attach [OPTIONS] CONTAINER", summary: "Attach local standard input, output, and error streams to a running container",
        options: [OptionSpec(["--detach-keys"], "string", "Override the key sequence for detaching a container (default ctrl-p,ctrl-q)"),
                  OptionSpec(["--no-stdin"], nil, "Do not attach STDIN"),
                  OptionSpec(["--sig-proxy"], nil, "Proxy all received signals to the process (default true; --sig-proxy=false)")]
    ) { args, context in
        let reference = try args.onlyPositional("attach", "CONTAINER")
        let keys = try args.value("detach-keys").map { try DockerFlagValues.detachKeys($0) } ?? DockerFlagValues.defaultDetachKeys
        let proxy = try args.value("sig-proxy").map { text -> Bool in
            guard let value = Bool(text) else { throw UsageError("invalid argument \"\(Printable.escaped(text))\" for \"--sig-proxy\" flag: must be true or false") }
            return value
        } ?? true
        return try context.engine.attach(reference, stdin: !args.has("no-stdin"), sigProxy: proxy, detachKeys: keys)
    }

    static let commit = Command(
        name: "commit", usage: "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", summary: "Create a new image from a container's changes",
        options: [OptionSpec(["-a", "--author"], "string", "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")", key: "author"),
                  OptionSpec(["-c", "--change"], "list", "Apply Dockerfile instruction to the created image (repeatable)", key: "change"),
                  OptionSpec(["-m", "--message"], "string", "Commit message", key: "message"),
                  OptionSpec(["-p", "--pause"], nil, "Pause container during commit (default true; --pause=false)", key: "pause")]
    ) { args, context in
        guard (1...2).contains(args.positionals.count) else { throw UsageError("\"commit\" requires at least 1 and at most 2 arguments: CONTAINER [REPOSITORY[:TAG]]") }
        var options = Engine.CommitOptions()
        options.reference = args.positionals.count == 2 ? args.positionals[1] : nil
        options.message = args.value("message")
        options.author = args.value("author")
        options.changes = args.values["change"] ?? []
        if let pause = args.value("pause") {
            guard let value = Bool(pause) else { throw UsageError("invalid argument \"\(Printable.escaped(pause))\" for \"-p, --pause\" flag: must be true or false") }
            options.pause = value
        }
        out(try context.engine.commit(args.positionals[0], options) + "\n")
        return 0
    }

    static let cp = Command(
        name: "cp", usage: "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  |  cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        summary: "Copy files/folders between a container and the local filesystem",
        options: [OptionSpec(["-a", "--archive"], nil, "Archive mode (copy all uid/gid information)"), OptionSpec(["-L", "--follow-link"], nil, "Always follow symbol link in SRC_PATH"),
                  OptionSpec(["-q", "--quiet"], nil, "Suppress progress output during copy (there is none without a terminal)")]
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"cp\" requires exactly 2 arguments: SRC_PATH DEST_PATH") }
        let source = Engine.CopyEndpoint(parsing: args.positionals[0]), destination = Engine.CopyEndpoint(parsing: args.positionals[1])
        if source == .stream && destination == .stream { throw UsageError("cp: source and destination cannot both be standard streams") }
        try context.engine.copy(from: source, to: destination, followLink: args.has("follow-link"), archive: args.has("archive"))
        return 0
    }

    static let diff = Command(
        name: "diff", usage: "diff CONTAINER", summary: "Inspect changes to files or directories on a container's filesystem", options: []
    ) { args, context in
        let reference = try args.onlyPositional("diff", "CONTAINER")
        out(try context.engine.diff(reference).map { "\($0.kind) \($0.path)\n" }.joined())
        return 0
    }

    static let export = Command(
        name: "export", usage: "export [-o FILE] CONTAINER", summary: "Export a container's filesystem as a tar archive",
        options: [OptionSpec(["-o", "--output"], "string", "Write to a file, instead of STDOUT", key: "output")]
    ) { args, context in
        let reference = try args.onlyPositional("export", "CONTAINER")
        guard let path = args.value("output") else {
            guard isatty(1) == 0 else { throw UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect") }
            try context.engine.export(reference, to: FileDescriptor(1))
            return 0
        }
        // Written beside, renamed into place: a failed export leaves no partial archive.
        let temporary = path + ".swiftainer-partial"
        let file = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644)
        do {
            defer { file.close() }
            try context.engine.export(reference, to: file)
        } catch {
            unlink(temporary)
            throw error
        }
        guard Glibc.rename(temporary, path) == 0 else {
            unlink(temporary)
            throw SystemError.last("rename", path)
        }
        return 0
    }

    static let rename = Command(
        name: "rename", usage: "rename CONTAINER NEW_NAME", summary: "Rename a container", options: []
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"rename\" requires exactly 2 arguments: CONTAINER NEW_NAME") }
        try context.engine.renameContainer(args.positionals[0], to: args.positionals[1])
        return 0
    }

    static let port = Command(
        name: "port", usage: "port CONTAINER [PRIVATE_PORT[/PROTO]]", summary: "List port mappings or a specific mapping for the container", options: []
    ) { args, context in
        guard (1...2).contains(args.positionals.count) else { throw UsageError("\"port\" requires 1 or 2 arguments: CONTAINER [PRIVATE_PORT[/PROTO]]") }
        let engine = context.engine
        if geteuid() == 0 { engine.containers.reconcile() }
        let ports = try engine.publishedPorts(args.positionals[0], privatePort: args.positionals.count == 2 ? args.positionals[1] : nil)
        // With a private port Docker prints only the host side.
        out(ports.map { (args.positionals.count == 2 ? $0.host : "\($0.key) -> \($0.host)") + "\n" }.joined())
        return 0
    }

    /// `container prune` and `system prune`: every stopped container (until=, label= filters).
    static let containerPrune = Command(
        name: "container prune", usage: "container prune [-f] [--filter until=TIME|label=KEY[=VALUE]|label!=KEY[=VALUE]]", summary: "Remove all stopped containers",
        options: [OptionSpec(["-f", "--force"], nil, "Do not prompt for confirmation"), OptionSpec(["--filter"], "filter", "Provide filter values (until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE])")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"container prune\" accepts no arguments") }
        let filter = try PruneFilter(args.values["filter"] ?? [])
        let removed = try context.engine.prune(filter)
        out((removed.isEmpty ? "" : "Deleted Containers:\n" + removed.map { $0 + "\n" }.joined()) + "Total containers removed: \(removed.count)\n")
        return 0
    }

    /// `system prune`: stopped containers, and with -a unused images too.
    static let systemPrune = Command(
        name: "system prune", usage: "system prune [-a] [-f] [--filter until=…|label=…]", summary: "Remove stopped containers (and with -a unused images)",
        options: [OptionSpec(["-f", "--force"], nil, "Do not prompt for confirmation"), OptionSpec(["-a", "--all"], nil, "Also remove every image no container uses"),
                  OptionSpec(["--filter"], "filter", "Provide filter values (until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE])")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"system prune\" accepts no arguments") }
        let filter = try PruneFilter(args.values["filter"] ?? [])
        let engine = context.engine
        let removed = try engine.prune(filter)
        out((removed.isEmpty ? "" : "Deleted Containers:\n" + removed.map { $0 + "\n" }.joined()) + "Total containers removed: \(removed.count)\n")
        if args.has("all") {
            let (lines, reclaimed) = try engine.images.prune(all: true, selected: { filter.matches(created: $0.created, labels: $0.config.labels ?? [:]) }) {
                engine.containers.user(ofImage: $0)
            }
            engine.imageRemovalEvents(lines)
            out((lines.isEmpty ? "" : "Deleted Images:\n" + lines.map { $0 + "\n" }.joined() + "\n") + "Total reclaimed space: \(humanSize(reclaimed))\n")
        }
        return 0
    }

    /// Hidden: removes the bridge's NAT table when no container is on it any more; spawned by
    /// the last container to leave, waits a moment first.
    static let networkGC = Command(name: "network-gc", usage: "network-gc [BRIDGE]", summary: "", options: [], hidden: true) { args, _ in
        try Engine.collectIdleNetwork(after: 2, bridgeName: args.positionals.first)
        return 0
    }

    /// Hidden: a user-defined network's resolver, started by the first container to connect.
    static let networkDNS = Command(name: "network-dns", usage: "network-dns STATE_DIR GATEWAY", summary: "", options: [], hidden: true) { args, _ in
        guard args.positionals.count == 2 else { throw UsageError("network-dns is internal: it is started by a container connecting to a network") }
        _ = chdir("/")
        try Engine.runNetworkResolver(stateDirectory: args.positionals[0], gateway: args.positionals[1])
        return 0
    }

    /// Hidden benchmark aid: one container's network setup and teardown on an existing
    /// network namespace (scripts/bench compares it with the same steps done by `ip`).
    static let networkCycle = Command(name: "network-cycle", usage: "network-cycle [--iterations N] NETNS-PATH", summary: "",
                                      options: [OptionSpec(["--iterations"], takesValue: true)], hidden: true) { args, _ in
        let namespacePath = try args.onlyPositional("network-cycle", "NETNS-PATH")
        try Engine.requireRoot()
        let times = try Engine.networkCycle(namespacePath: namespacePath, iterations: Int(args.value("iterations") ?? "1") ?? 1)
        // One line per setup, in milliseconds, for scripts/bench.
        out(times.map { String(format3($0 * 1000)) + "\n" }.joined())
        return 0
    }

    /// Hidden: the supervisor of a detached container, started by `run -d` and `start`.
    static let monitor = Command(
        name: "monitor", usage: "monitor ID [--restarted]", summary: "", options: [OptionSpec(["--restarted"]), OptionSpec(["--attach-fd"], takesValue: true)], hidden: true
    ) { args, context in
        // fd 3 is the report pipe `run -d` and `start` read; a restart has none.
        let restarted = args.has("restarted")
        guard args.positionals.count == 1, restarted || fcntl(3, F_GETFD) >= 0 else {
            throw UsageError("monitor is internal: it is started by 'swiftainer run -d' and 'start'")
        }
        _ = chdir("/")
        signal(SIGPIPE, SIG_IGN)
        // fd 4, when open, is the container's supervisor lock handed over by `run -d`.
        // --attach-fd: an attached client's socket (run -it), after the lock.
        let attachFD = args.value("attach-fd").flatMap { Int32($0) }.flatMap { $0 >= 4 && fcntl($0, F_GETFD) >= 0 ? $0 : nil }
        let lock = fcntl(4, F_GETFD) >= 0 && attachFD != 4 ? FileLock(inherited: 4) : nil
        if let attachFD { _ = fcntl(attachFD, F_SETFD, FD_CLOEXEC) }
        _ = sw_close_range_from(UInt32((attachFD ?? 4) + 1))
        let report = fcntl(3, F_GETFD) >= 0 ? FileDescriptor(3) : nil
        return context.engine.monitor(id: args.positionals[0], report: report, inheritedLock: lock, restarted: restarted,
                                      attach: attachFD.map(FileDescriptor.init))
    }
}

extension LifecycleCommands {
    /// `update`: Docker's (`update [OPTIONS] CONTAINER...`, running or not, kept for the next
    /// start) or, in OCI mode, runc's (`update [-r FILE] [OPTIONS] ID`, the cgroup of a live
    /// container). Only the limits named change.
    static let update = Command(
        name: "update", usage: "update [-m BYTES] [--memory-swap BYTES] [--cpus N] [-c SHARES] [--cpuset-cpus LIST] [--pids-limit N] CONTAINER... (Docker) | "
            + "update [-r FILE] [--memory BYTES] [--cpu-share N] [--cpu-quota US] [--cpu-period US] [--pids-limit N] ID (OCI)",
        summary: "Change a container's resource limits",
        options: [OptionSpec(["-r", "--resources"], "string", "OCI: a JSON file of linux.resources to apply", key: "resources"),
                  OptionSpec(["-m", "--memory"], "bytes", "Memory limit"), OptionSpec(["--memory-swap"], "bytes", "Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
                  OptionSpec(["--memory-reservation"], "bytes", "Memory soft limit"), OptionSpec(["--cpus"], "decimal", "Number of CPUs"),
                  OptionSpec(["-c", "--cpu-shares"], "int", "CPU shares (relative weight)", key: "cpu-shares"), OptionSpec(["--cpu-share"], "int", "CPU shares (relative weight), as runc spells it", key: "cpu-shares"),
                  OptionSpec(["--cpu-quota"], "int", "Limit CPU CFS (Completely Fair Scheduler) quota"), OptionSpec(["--cpu-period"], "int", "Limit CPU CFS (Completely Fair Scheduler) period"),
                  OptionSpec(["--cpuset-cpus"], "string", "CPUs in which to allow execution (0-3, 0,1)"), OptionSpec(["--cpuset-mems"], "string", "MEMs in which to allow execution (0-3, 0,1)"),
                  OptionSpec(["--pids-limit"], "int", "Tune container pids limit (set -1 for unlimited)"),
                  OptionSpec(["--restart"], "string", "Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)")]
    ) { args, context in
        if context.ociMode {
            let id = try args.onlyPositional("update", "ID")
            var resources = Resources()
            if let file = args.value("resources") {
                let bytes = try file == "-" ? FileDescriptor(dup(0)).readAll() : Files.read(file)
                do { resources = try JSON.decode(Resources.self, from: bytes) } catch {
                    throw UsageError("--resources \(file): \(JSON.describe(error))")
                }
            }
            resources = resources.updated(with: try updatedLimits(args, allowsCPUs: false))
            try context.ociRuntime.update(id: id, resources)
            return 0
        }
        guard !args.positionals.isEmpty else { throw UsageError("\"update\" requires at least 1 argument: CONTAINER") }
        guard args.value("resources") == nil else { throw UsageError("--resources is the OCI runtime's flag; give the limits as flags") }
        let limits = try updatedLimits(args, allowsCPUs: true)
        let restart = try args.value("restart").map { text -> RestartPolicy in
            do { return try RestartPolicy.parse(text) } catch { throw UsageError("\(error)") }
        }
        guard limits != Resources() || restart != nil else { throw UsageError("you must provide one or more flags when using this command") }
        return each(args.positionals, verb: "update") { reference in
            if limits != Resources() { try context.engine.update(reference, limits) }
            if let restart { try context.engine.updateRestartPolicy(reference, restart) }
        }
    }

    /// The limits the flags name, checked as `run` checks them (units, ranges, overflow).
    static func updatedLimits(_ args: ParsedArguments, allowsCPUs: Bool) throws -> Resources {
        var resources = Resources()
        let memory = try args.value("memory").map { try FlagValues.bytes($0, flag: "--memory") }
        if let memory, memory < 6 * 1024 * 1024 { throw UsageError("--memory: the minimum is 6MB") }
        let swap = try args.value("memory-swap").map { try FlagValues.bytes($0, flag: "--memory-swap", unlimited: true) }
        let reservation = try args.value("memory-reservation").map { try FlagValues.bytes($0, flag: "--memory-reservation") }
        if memory != nil || swap != nil || reservation != nil {
            var limits = MemoryResources(limit: memory, swap: swap)
            limits.reservation = reservation
            resources.memory = limits
        }
        var cpu = CPUResources()
        if let cpus = args.value("cpus") {
            guard allowsCPUs else { throw UsageError("--cpus is Docker's flag; the OCI runtime takes --cpu-quota and --cpu-period") }
            // 0 lifts the limit, as with Docker (-1 is the kernel's "no quota").
            cpu.quota = try FlagValues.cpuQuota(cpus, onlineCPUs: ProcessInfoLinux.onlineCPUs) ?? -1
            cpu.period = 100_000
        }
        if let quota = args.value("cpu-quota") { cpu.quota = try FlagValues.integer(quota, flag: "--cpu-quota", in: -1...Int64(Int32.max)) }
        if let period = args.value("cpu-period") { cpu.period = UInt64(try FlagValues.integer(period, flag: "--cpu-period", in: 1000...1_000_000)) }
        if let shares = args.value("cpu-shares") { cpu.shares = UInt64(try FlagValues.integer(shares, flag: "--cpu-shares", in: 2...262_144)) }
        cpu.cpus = args.value("cpuset-cpus")
        cpu.mems = args.value("cpuset-mems")
        if cpu != CPUResources() { resources.cpu = cpu }
        if let pids = args.value("pids-limit") {
            // Docker's: 0 or -1 lift the limit (0 alone would read as "leave it", as runc reads it).
            let limit = try FlagValues.integer(pids, flag: "--pids-limit", in: -1...Int64(Int32.max))
            resources.pids = PidsResources(limit: limit == 0 ? -1 : limit)
        }
        return resources
    }

    /// Hidden: the detached waiter (CLinux/waiter.c) execs this when the container's init has
    /// ended, with the supervisor lock still open as --lock-fd and the init's wait status.
    static let monitorFinish = Command(
        name: "monitor-finish", usage: "monitor-finish ID --lock-fd FD --status STATUS", summary: "",
        options: [OptionSpec(["--lock-fd"], takesValue: true), OptionSpec(["--status"], takesValue: true)], hidden: true
    ) { args, context in
        guard args.positionals.count == 1, let status = Int32(args.value("status") ?? ""),
              let lockFD = Int32(args.value("lock-fd") ?? ""), lockFD >= 3, fcntl(lockFD, F_GETFD) >= 0 else {
            throw UsageError("monitor-finish is internal: the detached container's waiter runs it")
        }
        _ = chdir("/")
        signal(SIGPIPE, SIG_IGN)
        return context.engine.finishMonitor(id: args.positionals[0], waitStatus: status, lock: FileLock(inherited: lockFD))
    }
}

extension LifecycleCommands {
    /// Hidden: a container's health checker, a child of its supervisor (Engine/HealthCheck.swift).
    static let healthMonitor = Command(
        name: "health-monitor", usage: "health-monitor ID INIT-PID", summary: "", options: [], hidden: true
    ) { args, context in
        guard args.positionals.count == 2, let pid = Int32(args.positionals[1]), pid > 0 else {
            throw UsageError("health-monitor is internal: a container's supervisor starts it")
        }
        _ = chdir("/")
        signal(SIGPIPE, SIG_IGN)
        _ = sw_close_range_from(3) // nothing of the supervisor's (pipes, the lock) is held here
        return context.engine.runHealthMonitor(id: args.positionals[0], initPid: pid)
    }
}

/// A number with three decimals, without Foundation's String(format:).
func format3(_ value: Double) -> String {
    let scaled = Int((value * 1000).rounded())
    let fraction = String(abs(scaled) % 1000)
    return "\(scaled / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}
