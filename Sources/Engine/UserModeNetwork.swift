#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit
import Network

/// Rootless networking: a user cannot put a veth on the host's bridge, so each container's
/// network namespace gets a tap device (`eth0`) served by slirp4netns (Debian's package), a
/// user-mode TCP/IP stack in a process of the container's supervisor: the container's
/// connections become the user's sockets on the host, and published ports are sockets
/// slirp4netns listens on (`add_hostfwd` through its API socket).
///
/// Its fixed plan (slirp's defaults): the container is 10.0.2.100/24, the gateway 10.0.2.2,
/// the nameserver 10.0.2.3 (slirp forwards it to the host's). `--disable-host-loopback`
/// keeps the host's 127.0.0.1 out of reach, as the bridge's loopback guard does.
///
/// The cost: a copy through user space for every packet, and a process per container; a
/// connection's source address on the host is the user's, not the container's.
enum UserModeNetwork {
    static let address = "10.0.2.100", gateway = "10.0.2.2", nameserver = "10.0.2.3"
    static let hostInterface = "slirp4netns"

    static func socketPath(state: String, containerID: String) -> String { state + "/slirp/" + containerID.prefix(12) + ".sock" }

    /// Starts slirp4netns for the network namespace of `pid` and publishes `ports`.
    static func attach(containerID: String, pid: pid_t, ports requested: [PortMapping], state: String) throws -> BridgeAttachment {
        guard let slirp = ExternalCommand.find("slirp4netns") else {
            throw EngineError.invalidOption("rootless networking needs slirp4netns (Debian package slirp4netns; scripts/install-deps installs it), or --network none|host")
        }
        try Files.makeDirectories(state + "/slirp", mode: 0o700)
        let socket = socketPath(state: state, containerID: containerID)
        unlink(socket)
        let (ready, readyWriter) = try FileDescriptor.pipe()
        defer { ready.close() }
        // Ended by pid (see detach): an --exit-fd would close when a detached run's monitor
        // becomes its C waiter (exec closes it).
        let spawned: pid_t
        do {
            defer { readyWriter.close() }
            spawned = try DetachedProcess.spawn(
                path: slirp, arguments: ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd=3",
                                         "--api-socket", socket, "\(pid)", "eth0"],
                stderrPath: state + "/slirp/" + containerID.prefix(12) + ".log", passing: [readyWriter.raw])
        } catch {
            throw EngineError.invalidOption("slirp4netns: \(error)")
        }
        guard ready.awaitByte(milliseconds: 5000) != nil else {
            kill(spawned, SIGKILL)
            let log = (try? Files.readString(state + "/slirp/" + containerID.prefix(12) + ".log"))?.split(separator: "\n").last.map(String.init) ?? ""
            throw EngineError.invalidOption("slirp4netns did not configure the container's network\(log.isEmpty ? "" : ": " + log)\(Rootless.deviceHint("/dev/net/tun"))")
        }
        var attachment = BridgeAttachment(address: address, prefixLength: 24, gateway: gateway, mac: "", hostInterface: hostInterface, ports: [])
        attachment.userModePid = spawned
        do {
            attachment.ports = try requested.map { try publish($0, socket: socket) }
            return attachment
        } catch {
            detach(attachment, containerID: containerID)
            throw error
        }
    }

    /// Ends the container's slirp4netns: by its pid, once its command line shows it is the
    /// one serving this container (its API socket names the container).
    static func detach(_ attachment: BridgeAttachment, containerID: String) {
        guard let pid = attachment.userModePid, pid > 1 else { return }
        let command = ((try? Files.read("/proc/\(pid)/cmdline")) ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard command.first?.hasSuffix("slirp4netns") == true,
              let socket = command.first(where: { $0.hasSuffix("/slirp/" + containerID.prefix(12) + ".sock") }) else { return }
        kill(pid, SIGTERM)
        unlink(socket)
    }

    /// One published port through slirp4netns's API; host port 0 takes a free one.
    static func publish(_ port: PortMapping, socket: String) throws -> PortMapping {
        var port = port
        if port.hostPort == 0 { port.hostPort = try freePort(port.proto) }
        let hostAddress = port.hostIP ?? "0.0.0.0"
        let request = "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\(JSON.quoted(port.proto)),\"host_addr\":\(JSON.quoted(hostAddress)),"
            + "\"host_port\":\(port.hostPort),\"guest_addr\":\"\(address)\",\"guest_port\":\(port.containerPort)}}"
        let connection: FileDescriptor
        do { connection = try UnixSocket.connect(socket) } catch { throw EngineError.invalidOption("-p \(port.description): slirp4netns API: \(error)") }
        defer { connection.close() }
        try connection.writeAll(request, what: "slirp4netns API")
        shutdown(connection.raw, Int32(SHUT_WR))
        let text = String(decoding: (try? connection.readAll(limit: 1 << 20)) ?? [], as: UTF8.self)
        guard text.contains("\"return\"") else {
            let low = port.hostPort < 1024 ? " (ports below net.ipv4.ip_unprivileged_port_start need root)" : ""
            throw EngineError.invalidOption("-p \(port.description): slirp4netns refused: \(text.trimmingWhitespace)\(low)")
        }
        return port
    }

    /// A port the kernel says is free now (bound to port 0, then let go).
    static func freePort(_ proto: String) throws -> UInt16 {
        let fd = Glibc.socket(AF_INET, (proto == "udp" ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket", "free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        guard rc == 0 else { throw SystemError.last("bind", "free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
