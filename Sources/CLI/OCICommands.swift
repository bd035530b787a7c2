#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit
import OCI
import Runtime
import Containers

/// The runtime-spec command line, as Podman, containerd and Kubernetes drive runc and crun.
enum OCICommands {
    static let all: [Command] = [create, start, state, kill, pause, resume, delete, features]

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

    static let create = Command(
        name: "create", usage: "create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--no-pivot] ID",
        summary: "OCI: create a container from a bundle; it waits for start",
        options: [OptionSpec(["-b", "--bundle"], takesValue: true, key: "bundle"), OptionSpec(["--pid-file"], takesValue: true),
                  OptionSpec(["--console-socket"], takesValue: true), OptionSpec(["--no-pivot"]), OptionSpec(["--no-new-keyring"])]
    ) { args, context in
        let id = try args.onlyPositional("create", "ID")
        // runc's default bundle is the current directory; outside OCI mode, Docker's `create`
        // (from an image) is meant unless the bundle is named.
        guard context.ociMode || args.value("bundle") != nil else {
            throw UsageError("create from an image is not supported yet; the OCI runtime's create takes --bundle DIR (or run \(SwiftainerCLI.runtimeName))")
        }
        let bundle = absolute(args.value("bundle") ?? ".")
        let spec = try ContainerRuntime.readSpec(bundle: bundle)
        try SpecValidation.check(spec)
        var request = ContainerRuntime.CreateRequest(id: id, bundle: bundle, spec: spec, start: .onFifo(consoleSocket: args.value("console-socket")))
        request.pidFile = args.value("pid-file")
        request.noPivot = args.has("no-pivot")
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
        options: [OptionSpec(["-a", "--all"], key: "all")]
    ) { args, context in
        guard (1...2).contains(args.positionals.count) else { throw UsageError("\"kill\" requires ID [SIGNAL]") }
        let name = args.positionals.count == 2 ? args.positionals[1] : "TERM"
        guard let signal = Signals.parse(name) else { throw UsageError("invalid signal '\(name)'") }
        try runtime(context).signal(id: args.positionals[0], signal, all: args.has("all"))
        return 0
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : ProcessInfoLinux.currentDirectory + "/" + path
    }

    static let delete = Command(
        name: "delete", usage: "delete [--force] ID", summary: "OCI: delete the container and its state",
        options: [OptionSpec(["-f", "--force"], key: "force")]
    ) { args, context in
        let id = try args.onlyPositional("delete", "ID")
        try runtime(context).delete(id: id, force: args.has("force"))
        return 0
    }
}
