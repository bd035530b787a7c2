#if canImport(Glibc)
import Glibc
#endif
import Engine
import Images
import JSONKit
import LinuxKit
import Runtime

public enum SwiftainerCLI {
    static let globalOptions = [
        OptionSpec(["--root"], takesValue: true), OptionSpec(["--debug", "-D"], key: "debug"),
        OptionSpec(["--help"]), OptionSpec(["-v", "--version"], key: "version"),
        // What OCI callers pass before every verb (containerd's shim: --root --log --log-format).
        OptionSpec(["--log"], takesValue: true), OptionSpec(["--log-format"], takesValue: true),
        OptionSpec(["--systemd-cgroup"]),
    ]

    /// Parses the command line, runs the command, and returns the exit status. Errors are one
    /// line on stderr, `swiftainer: <message>`, with Docker's status codes.
    public static func main(_ arguments: [String]) -> Int32 {
        // The re-exec'd container init: before anything else, so it starts as fast as it can.
        if arguments.count == 2 && arguments[1] == "init" { ContainerInit.main() }
        // The holder of a rootless user's namespaces: it must unshare while single-threaded.
        if arguments.count == 2 && arguments[1] == "rootless-pause" { RootlessNamespace.runPause() }
        do {
            let global = try parseArguments(Array(arguments.dropFirst()), options: globalOptions, stopAtFirstPositional: true)
            DebugLog.enabled = global.has("debug")
            errorLog = global.value("log").map { ($0, global.value("log-format") == "json") }
            if global.has("systemd-cgroup") {
                throw UsageError("--systemd-cgroup is not supported: swiftainer manages cgroupfs directly")
            }
            if global.has("version") { return try Commands.version.run(global, try context(global)) }
            guard let name = global.positionals.first, !global.has("help"), name != "help" else {
                out(help())
                return global.positionals.isEmpty && !global.has("help") ? 1 : 0
            }
            var rest = Array(global.positionals.dropFirst())
            let command: Command
            if let group = CommandGroup.all.first(where: { $0.name == name }) {
                guard let sub = rest.first, sub != "--help" else {
                    out(group.help)
                    return rest.isEmpty ? 1 : 0
                }
                if group.command(sub) == nil, let reason = CommandGroup.unsupported[sub] {
                    throw UsageError("\(name) \(sub): not supported: \(reason)")
                }
                guard let found = group.command(sub) else {
                    throw UsageError("'\(name) \(Printable.escaped(sub))' is not a swiftainer command; see 'swiftainer \(name) --help'")
                }
                command = found
                rest.removeFirst()
            } else if let found = Commands.all.first(where: { $0.name == name }) {
                command = found
            } else if let reason = CommandGroup.unsupported[name] {
                throw UsageError("\(name): not supported: \(reason)")
            } else {
                throw UsageError("'\(Printable.escaped(name))' is not a swiftainer command; see 'swiftainer --help'")
            }
            if rest.first == "--help" {
                out(commandHelp(command))
                return 0
            }
            let parsed: ParsedArguments
            do {
                parsed = try parseArguments(rest, options: command.options, stopAtFirstPositional: command.stopAtFirstPositional)
            } catch let error as UsageError {
                throw UsageError(error.message, hint: "See 'swiftainer \(command.name) --help'.")
            }
            // An ordinary user works in the user namespace of its own (see RootlessNamespace).
            try RootlessNamespace.enter(root: try Paths.requestedRoot(global.value("root")))
            var context = try context(global)
            context.ociMode = isOCIMode(program: arguments.first ?? "", global)
            return try command.run(parsed, context)
        } catch {
            return report(error)
        }
    }

    /// The name OCI callers (Podman, containerd, Docker Engine) are given for swiftainer: a
    /// symlink to the binary that scripts/setup makes next to it.
    static let runtimeName = "swiftainer-runtime"

    /// OCI mode, where `start`, `kill`, `pause`, `exec` and `ps ID` mean what they mean to runc:
    /// swiftainer was invoked as `swiftainer-runtime`, or with the global options only OCI
    /// callers pass (containerd's shim always passes --log). Otherwise they are Docker's.
    /// `create --bundle` and `run --bundle` are the OCI verbs in either mode (the flag says so).
    static func isOCIMode(program: String, _ global: ParsedArguments) -> Bool {
        let name = program.split(separator: "/").last.map(String.init) ?? program
        return name == runtimeName || global.value("log") != nil || global.value("log-format") != nil
    }

    static func context(_ global: ParsedArguments) throws -> Context {
        _ = try Paths.requestedRoot(global.value("root"))
        let paths = Paths(root: global.value("root"))
        return Context(paths: paths, ociStateRoot: global.value("root") ?? paths.state + "/oci")
    }

    /// `--log FILE [--log-format json]`: errors also go there, for callers that read it.
    nonisolated(unsafe) static var errorLog: (path: String, json: Bool)?

    /// Prints the error and maps it to Docker's exit codes: 125 for swiftainer's own failures,
    /// 126/127 when the container's command cannot be run.
    static func report(_ error: Error) -> Int32 {
        let code: Int32
        switch error {
        case let error as RuntimeError: code = error.exitCode
        default: code = 125
        }
        fputs("swiftainer: \(oneLine(error))\n", stderr)
        if let (path, json) = errorLog {
            let message = oneLine(error)
            let line: String
            if json {
                line = "{\"level\":\"error\",\"msg\":\(JSON.quoted(message)),\"time\":\"\(Clock.rfc3339())\"}\n"
            } else {
                line = "swiftainer: \(message)\n"
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd >= 0 {
                _ = line.withCString { write(fd, $0, strlen($0)) }
                close(fd)
            }
        }
        return code
    }

    /// An error as one line, whatever names or file contents it quotes (a usage error keeps its
    /// hint on a second line, as Docker prints it).
    static func oneLine(_ error: Error) -> String {
        if let usage = error as? UsageError {
            return Printable.escaped(usage.message) + (usage.hint.map { "\n" + $0 } ?? "")
        }
        return Printable.escaped("\(error)")
    }

    static func help() -> String {
        var text = """
        Usage: swiftainer [--root DIR] [--debug] COMMAND

        A container runtime for Linux, written in Swift.

        Commands:

        """
        for command in Commands.all where !command.hidden {
            text += "  " + command.name.padding(10) + command.summary + "\n"
        }
        text += "\nManagement Commands:\n"
        for group in CommandGroup.all {
            text += "  " + group.name.padding(10) + group.summary + "\n"
        }
        text += """

        Global options:
          --root DIR   keep images and containers under DIR (default /var/lib/swiftainer; env SWIFTAINER_ROOT),
                       and the runtime state under DIR/run (default /run/swiftainer; env SWIFTAINER_STATE)
          --debug      print each step of the run path to stderr

        """
        return text
    }

    static func commandHelp(_ command: Command) -> String {
        var text = "Usage: swiftainer \(command.usage)\n\n\(command.summary)\n"
        // Under their groups, in the order the groups first appear; ungrouped under "Options".
        var groups: [String] = []
        for option in command.options where !groups.contains(option.group ?? "Options") { groups.append(option.group ?? "Options") }
        let width = min(34, (command.options.map(\.synopsis.count).max() ?? 0) + 4)  // two spaces each side
        for group in groups {
            text += "\n\(group):\n"
            for option in command.options where (option.group ?? "Options") == group {
                var line = "  " + option.synopsis
                line += line.count < width ? String(repeating: " ", count: width - line.count) : "\n" + String(repeating: " ", count: width)
                var help = option.help
                if let refusal = option.refusal { help += " [refused: \(refusal)]" }
                if option.notYetImplemented { help += " [not implemented yet]" }
                text += line + help + "\n"
            }
        }
        return text
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}
