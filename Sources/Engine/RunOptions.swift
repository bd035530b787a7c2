import Images
import OCI
import Runtime

/// `swiftainer run` flags, parsed.
public struct RunOptions: Equatable {
    public enum NetworkMode: String, Equatable { case none, host }

    public var image: String = ""
    public var command: [String] = []
    public var name: String?
    public var autoRemove = false
    public var interactive = false
    public var tty = false
    public var env: [String] = []
    public var workingDir: String?
    public var hostname: String?
    public var network: NetworkMode = .none
    public var noPivot = false

    public init() {}
}

/// Turns run options and an image into the OCI spec the runtime consumes.
public enum SpecBuilder {
    public static func spec(for options: RunOptions, image: ImageRecord, containerID: String,
                            hostEnvironment: [String: String], hostHostname: String) -> Spec {
        let args = options.command.isEmpty ? image.config.cmd : options.command
        var env = image.config.env
        for entry in options.env {
            env = merge(env, entry, hostEnvironment: hostEnvironment)
        }
        if !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) {
            env.append("HOSTNAME=\(options.hostname ?? defaultHostname(options, containerID, hostHostname))")
        }
        if options.tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=/root") }
        var spec = Spec.linuxDefault(
            args: args, env: env, cwd: options.workingDir ?? image.config.workingDir, rootPath: "rootfs",
            terminal: options.tty, hostname: options.hostname ?? defaultHostname(options, containerID, hostHostname),
            networkNamespace: options.network != .host)
        spec.annotations = [SwiftainerAnnotation.createWorkingDirectory: "true"]
        return spec
    }

    /// The short id, as Docker names a container's host; the host's name with --network host.
    static func defaultHostname(_ options: RunOptions, _ id: String, _ hostHostname: String) -> String {
        options.network == .host ? hostHostname : String(id.prefix(12))
    }

    /// `-e K=V` sets K; `-e K` copies K from the caller's environment (dropped when unset).
    static func merge(_ env: [String], _ entry: String, hostEnvironment: [String: String]) -> [String] {
        let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
        var value = entry
        if !entry.contains("=") {
            guard let hostValue = hostEnvironment[entry] else { return env }
            value = "\(entry)=\(hostValue)"
        }
        return env.filter { !$0.hasPrefix(key + "=") } + [value]
    }
}
