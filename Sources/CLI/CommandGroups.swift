/// Docker's management commands (`container ls`, `image rm`, `system prune`…): each
/// subcommand is a command that exists once — the top-level one where Docker has both
/// (`container ls` is `ps`, `image rm` is `rmi`), or the group's own (`image prune`).
struct CommandGroup {
    let name: String
    let summary: String
    /// Subcommand name → the command that serves it.
    let subcommands: [(name: String, command: Command)]

    func command(_ name: String) -> Command? { subcommands.first { $0.name == name }?.command }

    var help: String {
        var text = "Usage: swiftainer \(name) COMMAND\n\n\(summary)\n\nCommands:\n"
        for (subcommand, command) in subcommands { text += "  " + subcommand.padding(10) + command.summary + "\n" }
        return text + "\nRun 'swiftainer \(name) COMMAND --help' for more information on a command.\n"
    }

    static func named(_ name: String) -> Command {
        guard let command = Commands.all.first(where: { $0.name == name }) else { fatalError("no command \(name)") }
        return command
    }

    static let all: [CommandGroup] = [
        CommandGroup(name: "container", summary: "Manage containers", subcommands:
            [("ls", named("ps")), ("list", named("ps")), ("ps", named("ps")), ("prune", LifecycleCommands.containerPrune), ("rm", named("rm")), ("remove", named("rm")),
             ("inspect", LifecycleCommands.inspectCommand(name: "container inspect", only: .container))]
            + ["attach", "commit", "cp", "create", "diff", "exec", "export", "kill", "logs", "pause", "port", "rename", "restart", "run", "start", "stats", "stop", "top", "unpause", "update", "wait"]
                .compactMap { name in Commands.all.first { $0.name == name }.map { (name, $0) } }),
        CommandGroup(name: "image", summary: "Manage images", subcommands:
            [("ls", named("images")), ("list", named("images")), ("rm", named("rmi")), ("remove", named("rmi")), ("prune", Commands.imagePrune),
             ("inspect", LifecycleCommands.inspectCommand(name: "image inspect", only: .image))]
            + ["history", "import", "load", "pull", "push", "save", "tag"].map { ($0, named($0)) }),
        CommandGroup(name: "network", summary: "Manage networks", subcommands:
            [("connect", NetworkCommands.connect), ("create", NetworkCommands.create), ("disconnect", NetworkCommands.disconnect), ("inspect", NetworkCommands.inspect), ("ls", NetworkCommands.list), ("list", NetworkCommands.list),
             ("prune", NetworkCommands.prune), ("rm", NetworkCommands.remove), ("remove", NetworkCommands.remove)]),
        CommandGroup(name: "volume", summary: "Manage volumes", subcommands:
            [("create", VolumeCommands.create), ("inspect", VolumeCommands.inspect), ("ls", VolumeCommands.list), ("list", VolumeCommands.list),
             ("prune", VolumeCommands.prune), ("rm", VolumeCommands.remove), ("remove", VolumeCommands.remove)]),
        CommandGroup(name: "system", summary: "Manage swiftainer", subcommands: [("df", SystemCommands.systemDF), ("events", named("events")), ("info", named("info")), ("prune", LifecycleCommands.systemPrune)]),
    ]

    /// Docker's commands that need a daemon, a service or another product: one clear line
    /// each, instead of "not a command".
    static let unsupported: [String: String] = [
        "build": "building images is not supported yet: build with buildah or docker and load the result ('swiftainer load')",
        "builder": "there is no build cache: swiftainer does not build images",
        "search": "search needs Docker Hub's search API, which swiftainer does not use: browse the registry instead",
        "checkpoint": "checkpoint/restore (CRIU) is not supported",
        "context": "contexts select a remote daemon: swiftainer is daemonless and local",
        "manifest": "manifest lists are not edited by swiftainer: use skopeo or docker manifest",
        "plugin": "plugins are a Docker Engine feature: swiftainer has none",
        "trust": "content trust (Notary) is not supported",
        "config": "configs are a swarm feature: swiftainer has no swarm mode",
        "node": "nodes are a swarm feature: swiftainer has no swarm mode",
        "secret": "secrets are a swarm feature: swiftainer has no swarm mode",
        "service": "services are a swarm feature: swiftainer has no swarm mode",
        "stack": "stacks are a swarm feature: swiftainer has no swarm mode",
        "swarm": "swarm mode is not supported: swiftainer runs containers on this machine only",
    ]
}
