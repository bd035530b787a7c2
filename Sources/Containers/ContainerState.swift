#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit

/// A process named so that a recycled pid is never mistaken for it: pid + start time.
public struct ProcessIdentity: Codable, Equatable, Sendable {
    public var pid: Int32
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// This process, or nil when /proc cannot say when it started.
    public static func of(_ pid: Int32) -> ProcessIdentity? {
        ProcessInfoLinux.startTime(of: pid).map { ProcessIdentity(pid: pid, startTime: $0) }
    }

    public var isAlive: Bool { ProcessInfoLinux.isAlive(pid: pid, startTime: startTime) }
}

/// What the runtime keeps of one container while it exists, in `<stateRoot>/<id>/`:
/// `state.json` (this), `exec.fifo` while an OCI container waits for `start`, and
/// `supervisor.lock` where a supervisor (a foreground `run`, the detached monitor) holds it.
/// The state root is on tmpfs (/run/swiftainer/…), as runc's and crun's are: a reboot ends
/// every container, and so its state.
public struct ContainerState: Codable, Equatable {
    public var id: String
    public var bundle: String
    public var created: String
    public var annotations: [String: String]?
    /// Below the cgroup swiftainer runs in (`ContainerRuntime.cgroupPath`).
    public var cgroupPath: String
    /// The init, once it exists.
    public var process: ProcessIdentity?
    /// The process that waits for the container and records its end, where there is one. The
    /// init dies with it (PR_SET_PDEATHSIG), so "supervisor gone" means "container gone".
    public var supervisor: ProcessIdentity?

    public init(id: String, bundle: String, created: String, annotations: [String: String]?, cgroupPath: String,
                process: ProcessIdentity? = nil, supervisor: ProcessIdentity? = nil) {
        self.id = id
        self.bundle = bundle
        self.created = created
        self.annotations = annotations
        self.cgroupPath = cgroupPath
        self.process = process
        self.supervisor = supervisor
    }

    /// The one liveness rule, by pid and start time: a supervised container lives as long as
    /// its supervisor (the init dies with it, and when the init ends first, the supervisor
    /// records the end and removes this state — until then the container counts as running,
    /// so nobody reads an exit that is not recorded yet); one without lives as long as its init.
    public var isAlive: Bool {
        if let supervisor { return supervisor.isAlive }
        return process?.isAlive ?? false
    }

    /// The init's pid while the container and the init itself are alive.
    public var livePid: Int32? {
        guard isAlive, let process, process.isAlive else { return nil }
        return process.pid
    }
}
