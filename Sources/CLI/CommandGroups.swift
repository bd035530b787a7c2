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
            [("ls", named("ps")), ("list", named("ps")), ("ps", named("ps")), ("prune", LifecycleCommands.containerPrune), ("rm", named("rm")), ("remove", named("rm"))]
            + ["attach", "commit", "cp", "create", "diff", "exec", "export", "inspect", "kill", "logs", "pause", "port", "rename", "restart", "run", "start", "stats", "stop", "top", "unpause", "update", "wait"]
                .compactMap { name in Commands.all.first { $0.name == name }.map { (name, $0) } }),
        CommandGroup(name: "image", summary: "Manage images", subcommands:
            [("ls", named("images")), ("list", named("images")), ("rm", named("rmi")), ("remove", named("rmi")), ("prune", Commands.imagePrune)]
            + ["history", "import", "inspect", "load", "pull", "push", "save", "tag"].map { ($0, named($0)) }),
        CommandGroup(name: "system", summary: "Manage swiftainer", subcommands: [("prune", LifecycleCommands.systemPrune)]),
    ]
}
