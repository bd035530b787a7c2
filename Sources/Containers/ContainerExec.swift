#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit
import OCI
import Runtime

/// A process to run in a running container: the one exec path behind Docker's `exec` and
/// runc's. It goes through the same init as `create`, which joins the container's namespaces
/// (ExecSpec names them by path), cgroup, capabilities and seccomp filter.
public struct ExecRequest {
    public var process: Process
    public var stdin: StandardInput = .inherit
    /// Return at once; the process outlives this command (conmon's `exec -d`).
    public var detach = false
    public var pidFile: String?
    public var consoleSocket: String?
    /// Run without the container's seccomp filter (`docker exec --privileged`).
    public var withoutSeccomp = false
    /// The container's spec when the caller has read it already (decoding Docker's seccomp
    /// profile in it is most of an exec's user time); nil reads it from the bundle.
    public var containerSpec: Spec?
    /// --preserve-fds N: this process's fds 3 .. 3+N-1 reach the new process.
    public var preservedFDs = 0

    public init(process: Process) { self.process = process }

    /// The `process` object of a --process file.
    public static func readProcess(_ path: String) throws -> Process {
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { throw RuntimeError("--process \(path): \(error)") }
        do { return try JSON.decode(Process.self, from: bytes) } catch {
            throw RuntimeError("--process \(path): \(JSON.describe(error))")
        }
    }
}

extension ContainerRuntime {
    /// Runs the process; returns its exit status, or 0 at once with `detach`.
    public func exec(id: String, _ request: ExecRequest) throws -> Int32 {
        let state = try load(id)
        switch status(of: state) {
        case .running: break
        case .paused: throw RuntimeError("container \(id) is paused, unpause the container before exec")
        default: throw RuntimeError("container \(id) is not running")
        }
        guard let initPid = state.livePid else { throw RuntimeError("container \(id) is not running") }
        guard request.process.args?.isEmpty == false else { throw RuntimeError("exec: process.args must name a command") }
        if request.process.terminal == true && request.consoleSocket == nil && request.detach {
            throw RuntimeError("exec: process.terminal with --detach needs --console-socket")
        }
        let container = try request.containerSpec ?? Self.readSpec(bundle: state.bundle)
        var spec = ExecSpec.make(container: container, initPid: initPid, process: request.process)
        if request.withoutSeccomp { spec.linux?.seccomp = nil }
        var launch = LaunchRequest(containerID: id, bundle: state.bundle, spec: spec, stdin: request.stdin, debug: DebugLog.enabled,
                                   cgroup: cgroup(of: state).flatMap { Rootless.isActive && !$0.exists ? nil : $0 }, seccompCache: seccompCache, joinsExistingCgroup: true)
        launch.outlivesCaller = request.detach
        launch.blocksHandledSignals = !request.detach
        launch.preservedFDs = request.preservedFDs
        let process = try LaunchedContainer.launch(launch, cgroup: nil)
        do {
            if let console = process.consoleMaster, let socket = request.consoleSocket {
                try Console.send(console, to: socket)
            }
            try process.start()
            if let pidFile = request.pidFile { try Files.writeAtomically(Files.absolute(pidFile), "\(process.pid)", durability: .volatile) }
        } catch {
            process.abandon()
            throw error
        }
        DebugLog.log("exec pid \(process.pid) in container \(id)")
        if request.detach { return 0 }
        let ownConsole = request.consoleSocket == nil && process.consoleMaster != nil
        let terminal = ownConsole && request.stdin == .inherit ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        return try process.wait(relayInput: ownConsole && request.stdin == .inherit, consoleHandedOver: request.consoleSocket != nil).code
    }
}
