#if canImport(Glibc)
import Glibc
#endif
import Cgroups
import JSONKit
import LinuxKit
import OCI

/// `exec` on an OCI container (runc's and crun's): a process described by `--process FILE`
/// (an OCI `process` object) or by a command, in the running container's namespaces and
/// cgroup, through the same init as `create` (ExecSpec names the namespaces by path).
public struct OCIExecRequest {
    public var process: Process
    public var detach = false
    public var pidFile: String?
    public var consoleSocket: String?

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

extension OCIRuntime {
    /// Runs the process; returns its exit status, or 0 at once with `detach` (the process then
    /// outlives this command, as conmon expects when it runs `exec -d`).
    public func exec(id: String, _ request: OCIExecRequest) throws -> Int32 {
        let record = try load(id)
        guard ProcessInfoLinux.isAlive(pid: record.pid, startTime: record.pidStartTime), !Files.exists(fifo(id)) else {
            throw RuntimeError("container \(id) is not running")
        }
        guard request.process.args?.isEmpty == false else { throw RuntimeError("exec: process.args must name a command") }
        if request.process.terminal == true && request.consoleSocket == nil && request.detach {
            throw RuntimeError("exec: process.terminal with --detach needs --console-socket")
        }
        let container = try Self.readSpec(bundle: record.bundle)
        let spec = ExecSpec.make(container: container, initPid: record.pid, process: request.process)
        defer { ProcessMonitor.unblockHandledSignals() }
        var launch = LaunchRequest(containerID: id, bundle: record.bundle, spec: spec, stdin: .inherit, debug: DebugLog.enabled,
                                   cgroup: cgroup(of: record), joinsExistingCgroup: true)
        launch.outlivesCaller = request.detach
        launch.blocksHandledSignals = true
        let created = try Launcher.create(launch)
        if let console = created.consoleMaster, let socket = request.consoleSocket {
            try sendConsole(console, to: socket)
        }
        try created.start()
        if let pidFile = request.pidFile { try Files.writeAtomically(absolute(pidFile), "\(created.pid)") }
        if request.detach { return 0 }
        let terminal = request.process.terminal == true && request.consoleSocket == nil ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        let console = request.consoleSocket == nil ? created.consoleMaster : nil
        return try ProcessMonitor.wait(pid: created.pid, console: console, relayInput: console != nil).code
    }
}
