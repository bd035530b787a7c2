#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit
import OCI
import Runtime
import CLinux
import Containers
import Engine

/// The runtime-spec command line, as Podman, containerd and Kubernetes drive runc and crun.
enum OCICommands {
    static let all: [Command] = [create, start, state, kill, pause, resume, delete, features, list, spec]

    static let list = Command(
        name: "list", usage: "list [-q] [--format table|json]", summary: "OCI: the containers in the state root",
        options: [OptionSpec(["-q", "--quiet"], nil, "Display only container IDs", key: "quiet"), OptionSpec(["-f", "--format"], "string", "Select one of: table or json (default \"table\")", key: "format")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"list\" takes no arguments") }
        let runtime = context.ociRuntime
        let states = runtime.list()
        if args.has("quiet") {
            out(states.map { $0.id + "\n" }.joined())
            return 0
        }
        switch args.value("format") ?? "table" {
        case "table":
            var table = Table(header: ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"])
            for state in states {
                let status = runtime.status(of: state)
                table.add([state.id, status == .stopped ? "0" : "\(state.process?.pid ?? 0)", status.rawValue, state.bundle, state.created,
                           owner(of: runtime.directory(state.id))])
            }
            out(table.render())
        case "json":
            let entries = states.map { state in
                let status = runtime.status(of: state)
                let root = (try? ContainerRuntime.readSpec(bundle: state.bundle))?.root?.path
                return ListEntry(ociVersion: Spec.version, id: state.id, pid: status == .stopped ? 0 : state.process?.pid ?? 0,
                                 status: status.rawValue, bundle: state.bundle,
                                 rootfs: root.map { $0.hasPrefix("/") ? $0 : state.bundle + "/" + $0 } ?? "",
                                 created: state.created, owner: owner(of: runtime.directory(state.id)), annotations: state.annotations)
            }
            out(String(decoding: try JSON.encode(entries), as: UTF8.self) + "\n")
        case let other:
            throw UsageError("--format \(Printable.escaped(other)): table or json")
        }
        return 0
    }

    /// runc's `list --format json` entry.
    struct ListEntry: Codable {
        var ociVersion: String
        var id: String
        var pid: Int32
        var status: String
        var bundle: String
        var rootfs: String
        var created: String
        var owner: String
        var annotations: [String: String]?
    }

    /// Who made the state directory: a user name from /etc/passwd, or "#UID".
    static func owner(of path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "" }
        let passwd = (try? Files.readString("/etc/passwd")) ?? ""
        for line in passwd.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 2, UInt32(fields[2]) == info.st_uid { return String(fields[0]) }
        }
        return "#\(info.st_uid)"
    }

    static let spec = Command(
        name: "spec", usage: "spec [--bundle DIR] [--rootless]", summary: "OCI: write a default config.json into a bundle",
        options: [OptionSpec(["-b", "--bundle"], "string", "Path to the root of the bundle directory", key: "bundle"), OptionSpec(["--rootless"], nil, "Generate a configuration for a rootless container")]
    ) { args, _ in
        guard args.positionals.isEmpty else { throw UsageError("\"spec\" takes no arguments") }
        let bundle = args.value("bundle") ?? "."
        let path = bundle + "/config.json"
        guard !Files.exists(path) else { throw UsageError("\(path) exists: remove it first or use another bundle directory") }
        let spec = Spec.bundleDefault(rootless: args.has("rootless"), uid: geteuid(), gid: getegid())
        // Not atomic on purpose: O_EXCL, so two `spec` runs cannot both write the file.
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        try fd.writeAll(try JSON.encode(spec, format: .document) + Array("\n".utf8), what: path)
        return 0
    }

    static let pause = Command(name: "pause", usage: "pause ID", summary: "OCI: freeze the container's processes", options: []) { args, context in
        let id = try args.onlyPositional("pause", "ID")
        try runtime(context).pause(id: id)
        return 0
    }

    static let resume = Command(name: "resume", usage: "resume ID", summary: "OCI: thaw a paused container", options: []) { args, context in
        let id = try args.onlyPositional("resume", "ID")
        try runtime(context).resume(id: id)
        return 0
    }

    static let features = Command(name: "features", usage: "features", summary: "OCI: what this runtime supports, as JSON", options: []) { _, _ in
        out(String(decoding: try JSON.encode(ContainerRuntime.features(), format: .document), as: UTF8.self) + "\n")
        return 0
    }

    /// `ps ID`: called as an OCI verb only with an id of an OCI container; `swiftainer ps`
    /// without one is Docker's container list.
    static func processes(_ args: ParsedArguments, _ context: Context) throws -> Int32 {
        let pids = try runtime(context).processes(id: args.positionals[0])
        if args.value("format") == "json" {
            out("[" + pids.map(String.init).joined(separator: ",") + "]\n")
        } else {
            out("PID\n" + pids.map { "\($0)\n" }.joined())
        }
        return 0
    }

    static func runtime(_ context: Context) -> ContainerRuntime { context.ociRuntime }

    /// runc's --preserve-fds N (create, run, exec): fds 3 .. 3+N-1 are passed on.
    static func preservedFDs(_ args: ParsedArguments) throws -> Int {
        try args.value("preserve-fds").map { Int(try FlagValues.integer($0, flag: "--preserve-fds", in: 0...Int64(SW_MAX_PRESERVED_FDS))) } ?? 0
    }

    static let create = Command(
        name: "create", usage: "create [OPTIONS] IMAGE [COMMAND] [ARG...] (Docker) | create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] ID (OCI)",
        summary: "Create a new container from an image, for start (OCI: from a bundle, waiting for start)",
        options: RunFlags.options,
        stopAtFirstPositional: true
    ) { args, context in
        // Docker's create (from an image, every run flag) unless swiftainer runs as an OCI
        // runtime or the bundle is named: never decided by looking the argument up.
        guard context.ociMode || args.value("bundle") != nil else {
            let options = try RunFlags.runOptions(args)
            out(try context.engine.createContainer(options) + "\n")
            return 0
        }
        let id = try args.onlyPositional("create [--bundle DIR]", "ID")
        let bundle = Files.absolute(args.value("bundle") ?? ".")
        let spec = try ContainerRuntime.readSpec(bundle: bundle)
        try SpecValidation.check(spec)
        var request = ContainerRuntime.CreateRequest(id: id, bundle: bundle, spec: spec, start: .onFifo(consoleSocket: args.value("console-socket")))
        request.pidFile = args.value("pid-file")
        request.noPivot = args.has("no-pivot")
        request.preservedFDs = try preservedFDs(args)
        _ = try runtime(context).create(request)
        return 0
    }

    static let start = Command(name: "start", usage: "start ID", summary: "OCI: run the created container's process", options: []) { args, context in
        let id = try args.onlyPositional("start", "ID")
        try runtime(context).start(id: id)
        return 0
    }

    static let state = Command(name: "state", usage: "state ID", summary: "OCI: print the container's state as JSON", options: []) { args, context in
        let id = try args.onlyPositional("state", "ID")
        out(String(decoding: try JSON.encode(try runtime(context).state(id: id), format: .document), as: UTF8.self) + "\n")
        return 0
    }

    static let kill = Command(
        name: "kill", usage: "kill [--all] ID [SIGNAL]", summary: "OCI: send a signal (default TERM) to the container",
        options: [OptionSpec(["-a", "--all"], nil, "Send the signal to every process of the container", key: "all")]
    ) { args, context in
        guard (1...2).contains(args.positionals.count) else { throw UsageError("\"kill\" requires ID [SIGNAL]") }
        let name = args.positionals.count == 2 ? args.positionals[1] : "TERM"
        guard let signal = Signals.parse(name) else { throw UsageError("invalid signal '\(name)'") }
        try runtime(context).signal(id: args.positionals[0], signal, all: args.has("all"))
        return 0
    }

    static let delete = Command(
        name: "delete", usage: "delete [--force] ID", summary: "OCI: delete the container and its state",
        options: [OptionSpec(["-f", "--force"], nil, "Kill the container first if it still runs", key: "force")]
    ) { args, context in
        let id = try args.onlyPositional("delete", "ID")
        try runtime(context).delete(id: id, force: args.has("force"))
        return 0
    }
}
