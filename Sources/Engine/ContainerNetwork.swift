#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import Netlink
import Network
import OCI

/// The engine's side of networking: name files at create, the bridge at start, teardown at exit.
extension Engine {
    /// The host-wide default bridge. Its address book lives in /run whatever --root says: the
    /// bridge is one per host, so every store on the host must share one IPAM.
    public static let bridge = BridgeNetwork(stateDirectory: "/run/swiftainer/networks/" + BridgeNetwork.defaultName)

    /// /etc/hosts, /etc/hostname and /etc/resolv.conf written in the container's directory and
    /// bind-mounted: the hosts file gets the container's address once the bridge gives it one.
    /// `networkResolver`: on a user-defined network, its resolver's address (the gateway) is the
    /// container's only nameserver, as Docker's embedded DNS is; the resolver forwards other
    /// names to the --dns servers.
    func nameFileMounts(_ dir: String, _ options: RunOptions, hostname: String, name: String, extraHosts extra: [String],
                        networkResolver: String? = nil) throws -> [Mount] {
        let hosts = options.network == .host ? ((try? Files.readString("/etc/hosts")) ?? "") + extra.map { $0 + "\n" }.joined()
            : NameFiles.hosts(hostname: hostname, name: name, addresses: [], extra: extra)
        // Rootless on the default network: slirp4netns's nameserver, which forwards to the host's.
        let userMode = Rootless.isActive && options.network == .bridge ? "nameserver \(UserModeNetwork.nameserver)\n" : nil
        let hostResolv = networkResolver.map { "nameserver \($0)\n" } ?? userMode ?? ((try? Files.readString("/etc/resolv.conf")) ?? "")
        let resolv = NameFiles.resolvConf(host: hostResolv, dns: networkResolver == nil ? options.dns : [], search: options.dnsSearch, options: options.dnsOptions)
        var mounts: [Mount] = []
        for (file, content) in [("hosts", hosts), ("hostname", hostname + "\n"), ("resolv.conf", resolv)] {
            try Files.writeAtomically(dir + "/" + file, content, mode: 0o644, durability: options.autoRemove ? .volatile : .synced)
            mounts.append(Mount(destination: "/etc/" + file, type: "bind", source: dir + "/" + file, options: ["rbind", "rprivate"]))
        }
        return mounts
    }

    /// --add-host entries as hosts lines; "host-gateway" is the gateway of the container's
    /// network (`gateway`: a user-defined one's; nil: the default bridge's), the host's
    /// address as the container reaches it (Docker's meaning).
    static func extraHosts(_ options: RunOptions, gateway: String? = nil) -> [String] {
        options.addHosts.map { entry in
            let address = entry.address == "host-gateway" ? gateway ?? bridge.gateway.description : entry.address
            return "\(address) \(entry.name)"
        }
    }

    /// The network a container's first network mode names: the default bridge, a user-defined
    /// one, or nil for host, none and container:NAME.
    func bridgeNetwork(forMode mode: String?) throws -> BridgeNetwork? {
        guard let mode, !mode.hasPrefix("container:"), mode != "host", mode != "none" else { return nil }
        if mode == RunOptions.NetworkMode.bridge.rawValue { return Self.bridge }
        do {
            return Self.bridgeNetwork(try networks.load(mode))
        } catch {
            throw EngineError.invalidOption("network \(mode) not found: it was removed after the container was made")
        }
    }

    /// Between the init's "ready" and "start": the container's eth0 on its network, then an
    /// interface on each network it was connected to (eth1, eth2…).
    func connect(_ record: inout ContainerRecord, _ spec: Spec, initPid: pid_t) throws {
        if Rootless.isActive {
            // No bridge for a user: the default network is slirp4netns's (see UserModeNetwork).
            guard record.networkMode == RunOptions.NetworkMode.bridge.rawValue else { return }
            let attachment = try UserModeNetwork.attach(containerID: record.id, pid: initPid, ports: record.ports ?? [], state: paths.state)
            record.network = attachment
            try writeHosts(record, spec)
            return
        }
        guard let network = try bridgeNetwork(forMode: record.networkMode) else { return }
        let attachment: BridgeAttachment
        do {
            attachment = try network.attach(containerID: record.id, requestedAddress: record.requestedAddress.flatMap(IPv4Address.init),
                                                ports: record.ports ?? [], namespacePath: "/proc/\(initPid)/ns/net",
                                                mac: record.requestedMAC.flatMap(DockerFlagValues.macAddress),
                                                linkLocal: (record.linkLocalIPs ?? []).compactMap(IPv4Address.init),
                                                requestedAddress6: record.requestedAddress6.flatMap(IPv6Address.init))
        } catch {
            throw EngineError.invalidOption("network: \(error)")
        }
        record.network = attachment
        if network.isolated {
            // Its name, short id and aliases resolve on the network from now on.
            do {
                try NetworkResolver.update(network, containerID: record.id, entry: Self.resolverEntry(record, attachment, aliases: record.networkAliases))
            } catch {
                Self.disconnect(attachment, containerID: record.id)
                record.network = nil
                throw EngineError.invalidOption("network: DNS records of \(network.name): \(error)")
            }
            NetworkResolver.ensureRunning(network)
        }
        // Networks connected earlier: each as it was asked for; the caller gives back what was
        // attached if one fails (they are on the record as they come).
        for connection in record.networkConnections ?? [] {
            let extra: BridgeAttachment
            do {
                extra = try attachConnection(connection, of: record, pid: initPid, index: Self.freeInterfaceIndex(record.extraNetworks ?? []))
            } catch {
                throw EngineError.invalidOption("network \(connection.network): \(error)")
            }
            record.extraNetworks = (record.extraNetworks ?? []) + [extra]
        }
        try writeHosts(record, spec)
    }

    /// The container's /etc/hosts with its addresses (its first network's, then those of the
    /// networks connected to it), rewritten in place: it is a bind mount of this very inode.
    func writeHosts(_ record: ContainerRecord, _ spec: Spec) throws {
        let addresses = ([record.network] + (record.extraNetworks ?? [])).compactMap { $0?.address }
        let hosts = NameFiles.hosts(hostname: spec.hostname ?? record.shortID, name: record.name, addresses: addresses, extra: record.extraHosts ?? [])
        let fd = try FileDescriptor.open(paths.container(record.id) + "/hosts", O_WRONLY | O_TRUNC)
        defer { fd.close() }
        try fd.writeAll(hosts, what: "hosts file")
    }

    /// The container's line in a network's DNS records.
    static func resolverEntry(_ record: ContainerRecord, _ attachment: BridgeAttachment, aliases: [String]?) -> NetworkResolver.Entry {
        NetworkResolver.Entry(address: attachment.address, address6: attachment.address6, names: [record.name] + (aliases ?? []), upstream: record.dnsServers ?? [])
    }

    /// A running container's interface `eth<index>` on a network it is connected to, with its
    /// DNS records there; nothing is left of it if this throws.
    func attachConnection(_ connection: NetworkConnection, of record: ContainerRecord, pid: pid_t, index: Int) throws -> BridgeAttachment {
        let networkRecord = try networks.load(connection.network)
        let network = Self.bridgeNetwork(networkRecord)
        var digest = SHA256()
        digest.update(Array((record.id + " " + networkRecord.Bridge).utf8))
        var attachment = try network.attach(containerID: record.id, requestedAddress: connection.address.flatMap(IPv4Address.init), ports: [],
                                            namespacePath: "/proc/\(pid)/ns/net", interface: "eth\(index)",
                                            hostInterface: "sw" + SHA256.hex(digest.finalize()).prefix(12),
                                            requestedAddress6: connection.address6.flatMap(IPv6Address.init))
        attachment.network = networkRecord.Name
        do {
            try NetworkResolver.update(network, containerID: record.id, entry: Self.resolverEntry(record, attachment, aliases: connection.aliases))
        } catch {
            network.detach(attachment, containerID: record.id, deleteInterface: true)
            throw error
        }
        NetworkResolver.ensureRunning(network)
        return attachment
    }

    /// `rename`: the container's DNS records on its user-defined networks carry its new name.
    func renameInResolvers(_ record: ContainerRecord) {
        var attached = (record.extraNetworks ?? []).map { attachment in
            (attachment, record.networkConnections?.first { $0.network == attachment.network }?.aliases)
        }
        if let primary = record.network { attached.append((primary, record.networkAliases)) }
        for (attachment, aliases) in attached where attachment.bridge != nil {
            try? NetworkResolver.update(Self.bridgeNetwork(of: attachment), containerID: record.id,
                                        entry: Self.resolverEntry(record, attachment, aliases: aliases))
        }
    }

    /// Gives back what `connect` took; safe to call twice.
    func disconnect(_ record: inout ContainerRecord) {
        // Networks connected during the run are on the record on disk, not on the one the
        // supervisor loaded when the run began.
        let extra = (try? containers.load(record.id))?.extraNetworks ?? record.extraNetworks ?? []
        for attachment in extra { Self.disconnect(attachment, containerID: record.id) }
        if !extra.isEmpty { record.extraNetworks = [] }
        guard let attachment = record.network else { return }
        Self.disconnect(attachment, containerID: record.id)
        record.network = nil
    }

    /// Detaches; when the bridge is left empty, a detached `swiftainer network-gc` removes the
    /// NAT table a moment later unless another container arrived in between.
    static func disconnect(_ attachment: BridgeAttachment, containerID: String, deleteInterface: Bool = false) {
        if attachment.hostInterface == UserModeNetwork.hostInterface { return UserModeNetwork.detach(attachment, containerID: containerID) }
        let network = bridgeNetwork(of: attachment)
        if network.isolated { try? NetworkResolver.update(network, containerID: containerID, entry: nil) }
        guard network.detach(attachment, containerID: containerID, deleteInterface: deleteInterface) else { return }
        _ = try? DetachedProcess.spawn(path: "/proc/self/exe", arguments: ["swiftainer", "network-gc"] + (attachment.bridge.map { [$0] } ?? []),
                                       stderrPath: "/dev/null", passing: [])
    }

    /// The body of `swiftainer network-cycle NETNS` (a benchmark aid): attaches the network
    /// namespace at `path` to the bridge as a container would be, and detaches it again.
    /// Runs `iterations` cycles and returns the time each setup took, in seconds: measured
    /// inside this process because that is where `run` does it (no process of its own).
    public static func networkCycle(namespacePath path: String, iterations: Int) throws -> [Double] {
        var times: [Double] = []
        for _ in 0..<max(1, iterations) {
            let id = "bench" + Random.hex(bytes: 8)
            let start = Clock.monotonicSeconds()
            let attachment = try bridge.attach(containerID: id, requestedAddress: nil, ports: [], namespacePath: path)
            times.append(Clock.monotonicSeconds() - start)
            bridge.detach(attachment, containerID: id, deleteInterface: true)
        }
        return times
    }

    /// The body of `swiftainer network-gc`.
    /// `bridgeName`: a user-defined network's bridge (its table is named after it); nil: the default.
    public static func collectIdleNetwork(after seconds: Double, bridgeName: String? = nil) throws {
        usleep(UInt32(seconds * 1_000_000))
        guard let bridgeName else { return try bridge.removeNATIfIdle() }
        try BridgeNetwork(stateDirectory: "/run/swiftainer/networks/" + bridgeName, name: bridgeName, subnet: BridgeNetwork.defaultSubnet,
                          portsDirectory: bridge.portsDirectory, isolated: true).removeNATIfIdle()
    }

    /// The body of `swiftainer network-dns STATE_DIR GATEWAY`.
    /// fd 3, when it is a pipe, is the starter's: it hears when the resolver listens.
    public static func runNetworkResolver(stateDirectory: String, gateway: String) throws {
        guard let address = IPv4Address(gateway) else { throw EngineError.invalidOption("network-dns: \(gateway) is not an IPv4 address") }
        var info = stat()
        let readyFD: Int32? = fstat(3, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO ? 3 : nil
        try NetworkResolver.run(stateDirectory: stateDirectory, gateway: address, readyFD: readyFD)
    }
}
