import Containers
import Images
import Network
import LinuxKit

/// One container as `ps` and `inspect` see it; stored as container.json in its directory,
/// always written whole (write-temp-then-rename).
/// A user-defined network a container is connected to with `network connect`.
public struct NetworkConnection: Codable, Equatable, Sendable {
    public var network: String
    public var aliases: [String]?
    /// --ip and --ip6: the addresses asked for on it.
    public var address: String?
    public var address6: String?
}

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
    /// Seconds `stop` waits before SIGKILL (--stop-timeout; nil: 10, Docker's default).
    public var stopTimeout: Int?
    /// -l/--label-file over the image's labels.
    public var labels: [String: String]?
    /// --add-host entries, "IP NAME", kept for when /etc/hosts is written again at start.
    public var extraHosts: [String]?
    public var networkMode: String?
    public var requestedAddress: String?
    /// --mac-address ("92:d0:c6:0a:29:33") and --link-local-ip, asked for at create.
    public var requestedMAC: String?
    public var linkLocalIPs: [String]?
    /// The image's ExposedPorts, --expose and the container side of -p: "80/tcp".
    public var exposedPorts: [String]?
    /// --log-driver/--log-opt; nil: json-file without rotation.
    public var logConfig: LogConfig?
    /// --restart; nil: no. `restarting`: ended, and its supervisor waits `restartDelayMs` to
    /// start it again (ps: "Restarting").
    public var restartPolicy: RestartPolicy?
    public var restarting: Bool?
    public var restartDelayMs: Int?
    /// The health check it runs (image's HEALTHCHECK and --health-* merged); nil: none.
    public var healthcheck: HealthConfig?
    public var ports: [PortMapping]?
    public var network: BridgeAttachment?
    /// Made by Docker's `create`: in state created until a `start`, not a run that died
    /// before its process began (which reconcile marks exited).
    public var waitsForStart: Bool?
    /// The volumes it mounts, and of those the anonymous ones made for it.
    public var volumes: [String]?
    public var anonymousVolumes: [String]?
    /// --network-alias names on its user-defined network.
    public var networkAliases: [String]?
    /// Networks connected while it runs (`network connect`): eth1, eth2…; given back when
    /// the run ends, as its first network is.
    public var extraNetworks: [BridgeAttachment]?
    /// The networks it is connected to besides its first (`network connect`, running or
    /// not): kept across runs, attached at each start (Docker's habit).
    public var networkConnections: [NetworkConnection]?
    /// --dns servers: on a user-defined network its resolver forwards to them (the
    /// container's resolv.conf names the resolver).
    public var dnsServers: [String]?
    /// --ip6 on a dual-stack network.
    public var requestedAddress6: String?

    /// The container core's state of it (init, supervisor, cgroup), from the runtime state
    /// root on tmpfs; nil when no run of it is in progress. Filled in by ContainerStore.load,
    /// never written with the record: it does not survive a reboot, and must not seem to.
    public var runtime: ContainerState?

    enum CodingKeys: String, CodingKey {
        case id, name, image, imageID, command, created, status, exitCode, error, startedAt, finishedAt, autoRemove, oomKilled
        case detached, restartCount, stopSignal, stopTimeout, labels, extraHosts, networkMode, requestedAddress, ports, network
        case requestedMAC, linkLocalIPs, exposedPorts, logConfig, restartPolicy, restarting, restartDelayMs, healthcheck, waitsForStart, volumes, anonymousVolumes, networkAliases, extraNetworks
        case networkConnections, dnsServers, requestedAddress6
    }

    public var shortID: String { String(id.prefix(12)) }

    /// The ports `ps` shows, as Docker shows them: while it runs, the published ones (with the
    /// host ports chosen for -P and `-p 80`) and the exposed ones nobody published ("80/tcp").
    public var portsText: String {
        guard isRunning else { return "" }
        let published = network?.ports ?? []
        let unpublished = (exposedPorts ?? []).filter { key in !published.contains { $0.containerKey == key } }
        return (published.map(\.description) + unpublished).joined(separator: ", ")
    }

    /// Running as far as the kernel can tell: the record says so and the core's liveness rule
    /// (init and supervisor alive, by pid and start time) agrees.
    public var isRunning: Bool { status == .running && runtime?.isAlive == true }

    /// The init's pid while it runs.
    public var livePid: Int32? { isRunning ? runtime?.livePid : nil }

    /// `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`, as `docker ps` prints STATUS.
    public var statusText: String {
        switch status {
        case .created: return "Created"
        case .running:
            return "Up " + (startedAt.map { Clock.humanDuration(sinceRFC3339: $0) } ?? "")
        case .exited where restarting == true:
            return "Restarting (\(exitCode ?? -1)) " + (finishedAt.map { Clock.humanAge(sinceRFC3339: $0) } ?? "")
        case .exited:
            return "Exited (\(exitCode ?? -1)) " + (finishedAt.map { Clock.humanAge(sinceRFC3339: $0) } ?? "")
        }
    }
}
