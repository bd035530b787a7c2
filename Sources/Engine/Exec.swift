#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI
import Runtime
import Containers

/// `exec` flags, parsed.
public struct ExecOptions: Equatable {
    public var command: [String] = []
    public var interactive = false
    public var tty = false
    public var env: [String] = []
    public var workingDir: String?
    public var user: String?
    public var privileged = false

    public init() {}
}

extension Engine {
    /// `exec`: runs a process in a running container, through the same init as `run`, which
    /// joins the container's namespaces (setns), cgroup, capabilities and seccomp filter.
    /// Returns the process's exit status.
    public func exec(_ reference: String, _ options: ExecOptions) throws -> Int32 {
        try Self.requireRoot()
        guard !options.command.isEmpty else { throw EngineError.invalidOption("exec needs a command to run") }
        let record = try containers.find(reference)
        guard let pid = record.livePid else { throw EngineError.notRunning(record.name) }
        if isPaused(record) { throw EngineError.invalidOption("container \(record.name) is paused, unpause the container before exec") }
        let container = try ContainerRuntime.readSpec(bundle: paths.container(record.id))
        var process = container.process ?? Process(terminal: false, args: [], env: [], cwd: "/", noNewPrivileges: false)
        process.args = options.command
        process.terminal = options.tty
        process.consoleSize = nil
        var env = process.env ?? []
        for entry in options.env {
            env = SpecBuilder.merge(env, entry, hostEnvironment: ProcessInfoLinux.environment)
        }
        if options.tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        process.env = env
        if let workingDir = options.workingDir {
            guard workingDir.hasPrefix("/") else { throw EngineError.invalidOption("exec -w \(workingDir): the working directory must be absolute") }
            process.cwd = workingDir
        }
        if let user = options.user {
            // The container's own view of its files, through its init's root.
            let (resolved, _) = try UserDatabase(rootfs: "/proc/\(pid)/root").resolve(user)
            process.user = resolved
        }
        if options.privileged {
            process.capabilities = Capabilities(all: CapabilityNames.all.filter(CapabilityNames.isAvailable))
        }
        var request = ExecRequest(process: process)
        request.stdin = options.interactive ? .inherit : .null
        request.withoutSeccomp = options.privileged
        request.containerSpec = container
        let command = options.command.joined(separator: " ")
        containerEvents(["exec_create: " + command, "exec_start: " + command], record)
        let status = try containers.runtime.exec(id: record.id, request)
        containerEvent("exec_die", record, ["exitCode": "\(status)"])
        return status
    }
}
