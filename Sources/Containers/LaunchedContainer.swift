#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Cgroups
import LinuxKit
import Runtime

/// A container process this process created: started and waited for here (`run`, the
/// monitor, exec), or handed to a FIFO for a later OCI `start`.
///
/// A caller that waits needs the signals it forwards (SIGINT, SIGTERM, SIGCHLD, …) blocked from
/// just before the clone until the wait takes them over through a signalfd: this type blocks
/// them in `launch` and unblocks them when `wait` returns or the launch is `abandon`ed, so no
/// caller repeats that dance.
public final class LaunchedContainer {
    let created: CreatedContainer
    /// Where the container's limits are; nil for an exec into a container (joined, not owned).
    public let cgroup: ContainerCgroup?
    private var signalsBlocked: Bool

    public var pid: pid_t { created.pid }
    /// The console's master side when process.terminal is true.
    public var consoleMaster: FileDescriptor? { created.consoleMaster }

    private init(created: CreatedContainer, cgroup: ContainerCgroup?, signalsBlocked: Bool) {
        self.created = created
        self.cgroup = cgroup
        self.signalsBlocked = signalsBlocked
    }

    static func launch(_ request: LaunchRequest, cgroup: ContainerCgroup?) throws -> LaunchedContainer {
        do {
            return LaunchedContainer(created: try Launcher.create(request), cgroup: cgroup, signalsBlocked: request.blocksHandledSignals)
        } catch {
            if request.blocksHandledSignals { ProcessMonitor.unblockHandledSignals() }
            throw error
        }
    }

    /// Lets the process exec; throws the init's error (126/127 for a command that cannot run).
    public func start() throws {
        do { try created.start() } catch {
            unblockSignals()
            throw error
        }
    }

    /// OCI create: tells the init its container is recorded, so it may wait for `start`.
    func commit() throws { try created.channel.send(.committed) }

    /// Runs until the process exits, relaying its output (`outputs` pipes, or the console) to
    /// `sink` and, with `relayInput`, our stdin to its console; forwards the signals we get.
    /// `consoleHandedOver`: the console went to a console socket; its reader is someone else.
    public func wait(relayInput: Bool, consoleHandedOver: Bool = false, outputs: [(fd: FileDescriptor, stream: ProcessMonitor.Stream)] = [],
                     sink: @escaping ProcessMonitor.Sink = ProcessMonitor.passThrough) throws -> ExitStatus {
        defer { unblockSignals() }
        return try ProcessMonitor.wait(pid: created.pid, console: consoleHandedOver ? nil : created.consoleMaster, relayInput: relayInput,
                                       outputs: outputs, sink: sink)
    }

    /// Gives up on a launch that failed half-way: the process killed and reaped, the signals
    /// unblocked. The caller removes what it made around it (cgroup, network, state).
    public func abandon() {
        created.kill()
        unblockSignals()
    }

    private func unblockSignals() {
        guard signalsBlocked else { return }
        ProcessMonitor.unblockHandledSignals()
        signalsBlocked = false
    }
}

/// The console's master side, handed to whoever listens on a console socket (SCM_RIGHTS), as
/// runc does for containerd's shim and conmon.
enum Console {
    static func send(_ master: FileDescriptor, to path: String) throws {
        try UnixSocket.send(Array("console".utf8), passing: master, on: try UnixSocket.connect(path), what: path)
    }
}
