import JSONKit
import Images
import LinuxKit
import Network
import OCI
import Runtime
import Containers

/// `inspect`: containers in the shape of Docker's `docker inspect` (the fields swiftainer has),
/// images in the shape of `docker image inspect`.
public struct ContainerInspection: Codable {
    public struct State: Codable {
        public var Status: String
        public var Running: Bool
        public var Paused: Bool
        public var Restarting: Bool
        public var Health: HealthState?
        public var OOMKilled: Bool
        public var Dead: Bool
        public var Pid: Int32
        public var ExitCode: Int32
        public var Error: String
        public var StartedAt: String
        public var FinishedAt: String
    }
    public struct Config: Codable {
        public var Hostname: String
        public var User: String
        public var Env: [String]
        public var Cmd: [String]
        public var WorkingDir: String
        public var Tty: Bool
        public var Image: String
        public var Labels: [String: String]
        public var StopSignal: String?
        public var StopTimeout: Int?
    }
    public struct HostConfig: Codable {
        public var AutoRemove: Bool
        public var Privileged: Bool
        public var ReadonlyRootfs: Bool
        public var Memory: Int64
        public var MemorySwap: Int64
        public var PidsLimit: Int64
        public var NanoCpus: Int64
        public var CapAdd: [String]
        public var Binds: [String]
        public var LogConfig: LogDriver
        public var RestartPolicy: Restart
    }
    public struct Restart: Codable {
        public var Name: String
        public var MaximumRetryCount: Int
    }
    public struct LogDriver: Codable {
        public var `Type`: String
        public var Config: [String: String]
    }
    public struct MountPoint: Codable {
        public var `Type`: String
        /// A volume's name and driver (Docker's; nil for binds and tmpfs).
        public var Name: String?
        public var Source: String
        public var Destination: String
        public var Driver: String?
        public var RW: Bool
    }
    public struct NetworkSettings: Codable {
        public var Mode: String
        public var SandboxKey: String
        public var IPAddress: String
        public var IPPrefixLen: Int
        public var Gateway: String
        public var MacAddress: String
        public var GlobalIPv6Address: String
        public var GlobalIPv6PrefixLen: Int
        public var IPv6Gateway: String
        /// "80/tcp" -> [{HostIp, HostPort}], as Docker shows published ports.
        public var Ports: [String: [[String: String]]]
        /// Each network it is on, by name: its first and those connected to it (addresses
        /// while it runs), as Docker lists them.
        public var Networks: [String: Endpoint]
    }
    public struct Endpoint: Codable {
        public var Aliases: [String]?
        public var NetworkID: String
        public var Gateway: String
        public var IPAddress: String
        public var IPPrefixLen: Int
        public var MacAddress: String
        public var GlobalIPv6Address: String
        public var GlobalIPv6PrefixLen: Int
        public var IPv6Gateway: String
        public var DNSNames: [String]?
    }
    public var Id: String
    public var Created: String
    public var Path: String
    public var Args: [String]
    public var State: State
    public var Image: String
    public var ImageName: String
    public var Name: String
    public var RestartCount: Int
    public var LogPath: String
    public var Config: Config
    public var HostConfig: HostConfig
    public var Mounts: [MountPoint]
    public var NetworkSettings: NetworkSettings
}

extension Engine {
    /// What `inspect --type` narrows the lookup to.
    public enum InspectType: String {
        case any, container, image
    }

    /// The object `inspect` shows for one reference: a container before an image of the same
    /// name, as Docker resolves one.
    public func inspectValue(_ reference: String, type: InspectType = .any) throws -> JSONValue {
        if type != .image, let record = try? containers.find(reference) {
            return try JSON.encodeValue(inspection(of: record))
        }
        if type != .container, let image = try? resolveLocally(reference) {
            return try JSON.encodeValue(imageInspection(of: image))
        }
        throw EngineError.invalidOption("no such \(type == .any ? "object" : type.rawValue): \(reference)")
    }

    func inspection(of record: ContainerRecord) -> ContainerInspection {
        let spec = try? ContainerRuntime.readSpec(bundle: paths.container(record.id))
        let process = spec?.process
        let resources = spec?.linux?.resources
        let userMounts = spec.map { self.userMounts(of: $0) } ?? []
        let running = record.isRunning
        let network = record.networkMode ?? "none"
        var user = ""
        if let owner = process?.user, owner.uid != 0 || owner.gid != 0 { user = "\(owner.uid):\(owner.gid)" }
        let status = stateName(of: record)
        let paused = status == "paused"
        let never = "0001-01-01T00:00:00Z"
        let state = ContainerInspection.State(
            Status: status, Running: running, Paused: paused, Restarting: !running && record.restarting == true, Health: health(of: record), OOMKilled: record.oomKilled ?? false, Dead: record.status == .running && !running,
            Pid: record.livePid ?? 0, ExitCode: record.exitCode ?? 0, Error: record.error ?? "",
            StartedAt: record.startedAt ?? never, FinishedAt: record.finishedAt ?? never)
        let config = ContainerInspection.Config(
            Hostname: spec?.hostname ?? "", User: user, Env: process?.env ?? [], Cmd: record.command,
            WorkingDir: process?.cwd ?? "/", Tty: process?.terminal ?? false, Image: record.image,
            Labels: record.labels ?? [:], StopSignal: record.stopSignal, StopTimeout: record.stopTimeout)
        let binds: [String] = userMounts.filter { $0.type == "bind" }.map { mount in
            let readOnly = (mount.options ?? []).contains("ro")
            return "\(mount.source ?? ""):\(mount.destination)" + (readOnly ? ":ro" : "")
        }
        let quota: Int64 = resources?.cpu?.quota ?? 0
        let host = ContainerInspection.HostConfig(
            AutoRemove: record.autoRemove, Privileged: spec?.linux?.maskedPaths?.isEmpty == true,
            ReadonlyRootfs: spec?.root?.readonly ?? false, Memory: resources?.memory?.limit ?? 0,
            MemorySwap: resources?.memory?.swap ?? 0, PidsLimit: resources?.pids?.limit ?? 0,
            NanoCpus: quota * 10_000, CapAdd: process?.capabilities?.bounding ?? [], Binds: binds,
            LogConfig: .init(Type: record.logConfig?.driver ?? "json-file", Config: record.logConfig?.options ?? [:]),
            RestartPolicy: .init(Name: (record.restartPolicy ?? .no).name.rawValue, MaximumRetryCount: record.restartPolicy?.maximumRetryCount ?? 0))
        let mounts: [ContainerInspection.MountPoint] = userMounts.map { mount in
            let readOnly = (mount.options ?? []).contains("ro")
            // A bind of a volume's _data is that volume, as Docker shows it.
            let volumesRoot = volumes.root + "/"
            if let source = mount.source, source.hasPrefix(volumesRoot) {
                let name = String(source.dropFirst(volumesRoot.count).prefix { $0 != "/" })
                return ContainerInspection.MountPoint(Type: "volume", Name: name, Source: source, Destination: mount.destination, Driver: "local", RW: !readOnly)
            }
            return ContainerInspection.MountPoint(Type: mount.type ?? "bind", Source: mount.source ?? "",
                                                  Destination: mount.destination, RW: !readOnly)
        }
        let sandbox = running && network != "host" ? "/proc/\(record.livePid ?? 0)/ns/net" : ""
        return ContainerInspection(
            Id: record.id, Created: record.created, Path: record.command.first ?? "", Args: Array(record.command.dropFirst()),
            State: state, Image: record.imageID, ImageName: record.image, Name: "/" + record.name,
            RestartCount: record.restartCount ?? 0, LogPath: paths.log(record.id),
            Config: config, HostConfig: host, Mounts: mounts,
            NetworkSettings: networkSettings(record, mode: network, sandbox: sandbox, running: running))
    }

    private func networkSettings(_ record: ContainerRecord, mode: String, sandbox: String, running: Bool) -> ContainerInspection.NetworkSettings {
        let attachment = running ? record.network : nil
        var ports: [String: [[String: String]]] = [:]
        // The host ports chosen for -P / `-p 80` while it runs; what was asked for otherwise.
        for port in attachment?.ports ?? record.ports ?? [] {
            ports["\(port.containerPort)/\(port.proto)", default: []].append(["HostIp": port.hostIP ?? "0.0.0.0", "HostPort": "\(port.hostPort)"])
        }
        return ContainerInspection.NetworkSettings(
            Mode: mode, SandboxKey: sandbox, IPAddress: attachment?.address ?? "", IPPrefixLen: attachment?.prefixLength ?? 0,
            Gateway: attachment?.gateway ?? "", MacAddress: attachment?.mac ?? "",
            GlobalIPv6Address: attachment?.address6 ?? "", GlobalIPv6PrefixLen: attachment?.prefixLength6 ?? 0, IPv6Gateway: attachment?.gateway6 ?? "", Ports: ports,
            Networks: endpoints(record, running: running))
    }

    /// The networks of `NetworkSettings.Networks`: none for host, none and container:NAME.
    private func endpoints(_ record: ContainerRecord, running: Bool) -> [String: ContainerInspection.Endpoint] {
        guard let mode = record.networkMode, mode != "host", mode != "none", !mode.hasPrefix("container:") else { return [:] }
        func endpoint(_ network: String, _ attachment: BridgeAttachment?, aliases: [String]?) -> ContainerInspection.Endpoint {
            let id = network == "bridge" ? Self.builtInNetworkID("bridge") : (try? networks.load(network).Id) ?? ""
            // Docker's DNS names on a user-defined network: name, short id, aliases.
            let names = network == "bridge" ? nil : [record.name, record.shortID] + (aliases ?? [])
            return ContainerInspection.Endpoint(Aliases: aliases, NetworkID: id, Gateway: attachment?.gateway ?? "", IPAddress: attachment?.address ?? "",
                                                IPPrefixLen: attachment?.prefixLength ?? 0, MacAddress: attachment?.mac ?? "",
                                                GlobalIPv6Address: attachment?.address6 ?? "", GlobalIPv6PrefixLen: attachment?.prefixLength6 ?? 0,
                                                IPv6Gateway: attachment?.gateway6 ?? "", DNSNames: names)
        }
        var result = [mode: endpoint(mode, running ? record.network : nil, aliases: record.networkAliases)]
        for connection in record.networkConnections ?? [] {
            let attachment = running ? record.extraNetworks?.first { $0.network == connection.network } : nil
            result[connection.network] = endpoint(connection.network, attachment, aliases: connection.aliases)
        }
        return result
    }
}
