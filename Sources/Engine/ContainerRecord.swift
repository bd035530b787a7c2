import Images
import Network
import LinuxKit

/// One container as `ps` and `inspect` see it; stored as container.json in its directory,
/// always written whole (write-temp-then-rename).
public struct ContainerRecord: Codable, Equatable {
    public enum Status: String, Codable {
        case created, running, exited
    }

    public var id: String
    public var name: String
    public var image: String
    public var imageID: String
    public var command: [String]
    public var created: String
    public var status: Status
    /// The container's init, in the host's pid namespace, and its start time (so a recycled
    /// pid is never signalled by mistake).
    public var pid: Int32?
    public var pidStartTime: UInt64?
    /// The process that supervises the container (`swiftainer run` in the foreground), with its
    /// start time: if it is gone while the record says running, the container died with it.
    public var monitorPid: Int32?
    public var monitorStartTime: UInt64?
    public var exitCode: Int32?
    public var error: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var autoRemove: Bool
    /// Set when the kernel's OOM killer ended a process of the container (memory.events /
    /// memory.oom_control counted a kill).
    public var oomKilled: Bool?

    /// Started with -d (or by `start`): supervised by a `swiftainer monitor` process.
    public var detached: Bool?
    /// How many times `start`/`restart` ran it again after the first run.
    public var restartCount: Int?
    /// bridge, none or host; with the bridge, what was asked (--ip, -p) and, while it runs,
    /// what it holds (address, veth, published ports).
    /// The signal `stop` sends first (the image's StopSignal; nil: SIGTERM).
    public var stopSignal: String?
    public var networkMode: String?
    public var requestedAddress: String?
    public var ports: [PortMapping]?
    public var network: BridgeAttachment?

    public var shortID: String { String(id.prefix(12)) }

    /// Running as far as the kernel can tell: the record says so and its supervisor lives.
    public var isRunning: Bool { status == .running && isMonitorAlive }

    /// The init's pid while it is the process the record names.
    public var livePid: Int32? {
        guard isRunning, let pid, let pidStartTime, ProcessInfoLinux.isAlive(pid: pid, startTime: pidStartTime) else { return nil }
        return pid
    }

    public var isMonitorAlive: Bool {
        guard let monitorPid, let monitorStartTime else { return false }
        return ProcessInfoLinux.isAlive(pid: monitorPid, startTime: monitorStartTime)
    }

    /// `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`, as `docker ps` prints STATUS.
    public var statusText: String {
        switch status {
        case .created: return "Created"
        case .running:
            return "Up " + (startedAt.map { Clock.humanDuration(sinceRFC3339: $0) } ?? "")
        case .exited:
            return "Exited (\(exitCode ?? -1)) " + (finishedAt.map { Clock.humanAge(sinceRFC3339: $0) } ?? "")
        }
    }
}
