#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The bridge network (issue #4), checked from the outside: addresses the kernel reports,
/// pings, TCP replies, NAT as seen by a server, and what is left on the host afterwards.
/// Traffic stays on this machine: the bridge, containers, and a namespace these tests make.
@Suite(.serialized, requiresRoot) struct NetworkTests {
    static let busybox = ["/usr/bin/busybox", "/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "busybox"

    func detach(_ name: String, _ arguments: [String]) -> String { Harness.detach(name, arguments) }
    func address(of name: String) -> String { Harness.inspect(name, "NetworkSettings")["IPAddress"] as? String ?? "" }

    func addressOwner(_ ip: String) -> String? {
        try? String(contentsOfFile: "/run/swiftainer/networks/swiftainer0/addresses/\(ip)", encoding: .utf8)
    }

    /// Links on the host whose name is the container's host-side veth.
    func hostLinks(_ id: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).filter { $0 == "sw" + id.prefix(12) }
    }

    /// A web server container answering `text` on port 80.
    let webServer = ["busybox", "sh", "-c", "mkdir -p /www && echo \"$REPLY\" > /www/index.html && exec httpd -f -p 80 -h /www"]

    @Test func containerSeesItsOwnAddressRouteAndNames() {
        let result = Harness.run(["run", "--rm", "--name", "netview-\(getpid())", "--dns", "192.0.2.53", "busybox", "sh", "-c",
                                  "ip -4 -o addr show eth0; ip route; ip link show lo | grep -c UP; cat /etc/hosts /etc/resolv.conf /etc/hostname"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("eth0    inet 10.89."), "\(result.stdout)")
        #expect(result.stdout.contains("default via 10.89.0.1 dev eth0"))
        #expect(result.stdout.contains("127.0.0.1\tlocalhost"))
        #expect(result.stdout.contains(" netview-\(getpid())\n"), "the hosts file names the container: \(result.stdout)")
        #expect(result.stdout.contains("nameserver 192.0.2.53\n"))
        let none = Harness.run(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net"])
        #expect(none.stdout == "lo\n", "\(none.stdout)")
        let host = Harness.run(["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"])
        #expect(host.stdout.contains("swiftainer0") || host.stdout.split(separator: "\n").count > 1, "\(host.stdout)")
        let bad = Harness.run(["run", "--rm", "--network", "none", "-p", "8080:80", "busybox", "true"])
        #expect(bad.status == 125 && bad.stderr.contains("need the bridge network"))
    }

    @Test func containersReachEachOtherAndTheHostReachesThem() {
        let name = "web-\(getpid())"
        let id = detach(name, ["-e", "REPLY=hello from \(name)"] + webServer)
        let ip = address(of: name)
        #expect(ip.hasPrefix("10.89."), "no address in inspect: \(ip)")
        #expect(!hostLinks(id).isEmpty, "the host side of the veth pair exists")
        // Another container: ping and HTTP by address.
        let client = Harness.run(["run", "--rm", "busybox", "sh", "-c", "ping -c 1 -W 2 \(ip) >/dev/null && echo pinged && wget -qO- http://\(ip)/"])
        #expect(client.stdout == "pinged\nhello from \(name)\n", "\(client.stdout) \(client.stderr)")
        // The host, by address (TCP through the bridge).
        #expect(Harness.eventually { Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://\(ip)/").stdout == "hello from \(name)\n" })

        #expect(Harness.run(["rm", "-f", name]).status == 0)
        #expect(Harness.eventually { hostLinks(id).isEmpty }, "veth left behind")
        #expect(addressOwner(ip) != id, "address not given back")
    }

    @Test func publishedPortsReachTheContainerAndAreReleased() {
        let port = 20000 + Int(getpid() % 20000)
        let name = "pub-\(getpid())"
        let id = detach(name, ["-e", "REPLY=published", "-p", "127.0.0.1:\(port):80", "-p", "\(port + 1):80"] + webServer)
        #expect(Harness.run(["ps"]).stdout.contains("127.0.0.1:\(port)->80/tcp"))
        #expect(Harness.eventually { Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(port)/").stdout == "published\n" })
        #expect(Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(port + 1)/").stdout == "published\n")
        // The same host port for a second container is refused, and leaves nothing behind.
        let clash = Harness.run(["run", "--rm", "--name", "clash-\(getpid())", "-p", "\(port + 1):80", "busybox", "true"])
        #expect(clash.status == 125 && clash.stderr.contains("\(port + 1)"), "\(clash.stderr)")
        #expect(!Harness.containerExists(named: "clash-\(getpid())"))
        #expect(Harness.run(["rm", "-f", name]).status == 0)
        #expect(Harness.eventually { hostLinks(id).isEmpty })
        // Released: nothing answers there now.
        #expect(Harness.shell("timeout 2 \(Self.busybox) wget -qO- http://127.0.0.1:\(port + 1)/").status != 0)
        let ruleset = Harness.shell("nft list table ip swiftainer 2>/dev/null").stdout
        #expect(!ruleset.contains(": \(port)") && !ruleset.contains(". \(port + 1) :"), "\(ruleset)")
    }

    @Test func outboundTrafficIsMasqueradedAsTheHost() throws {
        // "The internet": a namespace behind a veth pair on the host, 203.0.113.0/24, with a web
        // server whose CGI script answers the client address it sees.
        let ns = "swt-inet-\(getpid())", link = "swti\(getpid() % 100000)"
        let www = "/tmp/swiftainer-inet-\(getpid())"
        defer {
            Harness.removeInternet(ns: ns, link: link)
            _ = Harness.shell("rm -rf \(www)")
        }
        try FileManager.default.createDirectory(atPath: www + "/cgi-bin", withIntermediateDirectories: true)
        try "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"seen=$REMOTE_ADDR\"\n".write(toFile: www + "/cgi-bin/ip", atomically: true, encoding: .utf8)
        chmod(www + "/cgi-bin/ip", 0o755)
        let setup = Harness.makeInternet(ns: ns, link: link)
        try #require(setup.status == 0, "\(setup.stderr)")
        let server = Harness.start("/usr/sbin/ip", ["netns", "exec", ns, Self.busybox, "httpd", "-f", "-p", "203.0.113.2:8000", "-h", www],
                                   environment: [:], stdin: nil)
        defer {
            server.signal(SIGKILL)
            _ = server.finish()
        }
        // No route back to 10.89.0.0/16 exists in that namespace: only NAT makes this work.
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c",
                                  "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -qO- http://203.0.113.2:8000/cgi-bin/ip && exit 0; sleep 0.2; done; exit 1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "seen=203.0.113.1\n", "the server sees the host's address: \(result.stdout)")
    }

    @Test func twentyParallelContainersGetDistinctReachableAddresses() {
        let prefix = "net\(getpid())-"
        let runs = (0..<20).map { Harness.startSwiftainer(["run", "-d", "--name", "\(prefix)\($0)", "busybox", "sleep", "1000"]) }
        let ids = runs.map { $0.finish().stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(Set(ids).count == 20)
        let names = (0..<20).map { "\(prefix)\($0)" }
        let addresses = names.map(address(of:))
        #expect(Set(addresses).count == 20 && addresses.allSatisfy { $0.hasPrefix("10.89.") }, "\(addresses)")
        for ip in addresses {
            #expect(Harness.shell("\(Self.busybox) ping -c 1 -W 2 \(ip)").status == 0, "\(ip) unreachable")
        }
        let stopped = Harness.run(["stop", "-t", "1"] + names)
        #expect(stopped.status == 0, "\(stopped.stderr)")
        let removed = Harness.run(["rm"] + names)
        #expect(removed.status == 0, "\(removed.stderr)")
        for id in ids { #expect(Harness.eventually { hostLinks(id).isEmpty }, "veth of \(id) left") }
        // Given back (another suite's container may hold the address again by now, never ours).
        for (ip, id) in zip(addresses, ids) { #expect(addressOwner(ip) != id) }
    }

    @Test func fixedAddressWithIP() {
        let octet = 100 + Int(getpid() % 150)
        let ip = "10.89.\(octet).\(octet)"
        let name = "fixed-\(getpid())"
        _ = detach(name, ["--ip", ip, "busybox", "sleep", "1000"])
        #expect(address(of: name) == ip)
        let inside = Harness.run(["exec", name, "ip", "-4", "-o", "addr", "show", "eth0"])
        #expect(inside.stdout.contains("inet \(ip)/16"), "\(inside.stdout)")
        let clash = Harness.run(["run", "--rm", "--ip", ip, "busybox", "true"])
        #expect(clash.status == 125 && clash.stderr.contains("already in use"), "\(clash.stderr)")
        let outside = Harness.run(["run", "--rm", "--ip", "192.0.2.77", "busybox", "true"])
        #expect(outside.status == 125 && outside.stderr.contains("not a usable address"), "\(outside.stderr)")
        #expect(Harness.run(["rm", "-f", name]).status == 0)
    }

    @Test func natTableGoesWithTheLastContainer() {
        #expect(Harness.run(["run", "--rm", "busybox", "true"]).status == 0)
        // Removed a moment after the bridge is empty, unless other tests' containers are on it.
        #expect(Harness.eventually(15) {
            let bridgePorts = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net/swiftainer0/brif")) ?? []).count
            return bridgePorts > 0 || Harness.shell("nft list table ip swiftainer").status != 0
        })
    }

    /// A container started again before the kernel has torn down its previous run's host-side
    /// veth (restart right after stop, on a busy host): the leftover, which carries the
    /// container's own id in its name, is replaced instead of failing the start with EEXIST.
    @Test func aStartReplacesItsOwnPreviousVeth() throws {
        let name = "veth-again-\(getpid())"
        let id = detach(name, ["busybox", "sleep", "1000"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        #expect(Harness.run(["stop", "-t", "1", name]).status == 0)
        let leftover = "sw" + id.prefix(12), peer = "swpeer\(getpid() % 100000)"
        #expect(Harness.eventually { hostLinks(id).isEmpty })
        try #require(Harness.shell("ip link add \(leftover) type veth peer name \(peer)").status == 0)
        defer { _ = Harness.shell("ip link del \(leftover) 2>/dev/null; ip link del \(peer) 2>/dev/null") }
        let started = Harness.run(["start", name])
        #expect(started.status == 0, "\(started.stderr)")
        #expect(Harness.inspect(name, "State")["Running"] as? Bool == true)
        #expect(Harness.shell("ip link show \(peer)").status != 0, "the stale pair was not deleted")
    }

    /// Issue #14.12: what a `run` killed in its first milliseconds leaves in the host-wide
    /// address book — an address for a container that never came to be, a writer's temporary
    /// file — is freed by the next container's allocation.
    @Test func addressesOfContainersThatNeverRanAreFreed() throws {
        let directory = "/run/swiftainer/networks/swiftainer0/addresses"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let octet = 200 + Int(getpid() % 50)
        let orphan = "10.89.\(octet).\(octet)"
        let deadWriter = "\(directory)/.last.tmp-\(Int32.max - 3)"
        try String(repeating: "e", count: 64).write(toFile: "\(directory)/\(orphan)", atomically: false, encoding: .utf8)
        try "7\n".write(toFile: deadWriter, atomically: false, encoding: .utf8)
        defer { unlink("\(directory)/\(orphan)"); unlink(deadWriter) }
        #expect(Harness.run(["run", "--rm", "busybox", "true"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/\(orphan)"), "the orphaned address is still held")
        #expect(!FileManager.default.fileExists(atPath: deadWriter), "the dead writer's temporary file is still there")
    }

    /// Issue #14.2: a published port is refused, with Docker's one-line message, whenever its
    /// address and protocol overlap a port another container holds (0.0.0.0 overlaps every
    /// address); the first holder keeps the traffic.
    @Test func overlappingPublishedPortsAreRefused() throws {
        let port = 30000 + Int(getpid() % 10000)
        let first = "ports-a-\(getpid())", second = "ports-b-\(getpid())"
        _ = detach(first, ["-e", "REPLY=first", "-p", "\(port):80", "-p", "127.0.0.1:\(port + 1):80", "-p", "10.89.0.1:\(port + 2):80"] + webServer)
        defer { _ = Harness.run(["rm", "-f", first, second]) }
        for (spec, shown) in [("127.0.0.1:\(port):80", "127.0.0.1:\(port)"), ("\(port + 1):80", "0.0.0.0:\(port + 1)"),
                              ("\(port + 2):80", "0.0.0.0:\(port + 2)"), ("10.89.0.1:\(port):80", "10.89.0.1:\(port)"),
                              ("127.0.0.1:\(port + 1):81", "127.0.0.1:\(port + 1)")] {
            let clash = Harness.run(["run", "--rm", "-p", spec, "busybox", "true"])
            #expect(clash.status == 125, "-p \(spec) was accepted")
            #expect(clash.stderr == "swiftainer: network: Bind for \(shown) failed: port is already allocated\n", "\(clash.stderr)")
        }
        // Another address on a port held only for one address, and another protocol, are fine.
        _ = detach(second, ["-e", "REPLY=second", "-p", "127.0.0.1:\(port + 2):80", "-p", "\(port):80/udp"] + webServer)
        #expect(Harness.eventually { Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(port)/").stdout == "first\n" })
        #expect(Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(port + 1)/").stdout == "first\n")
        #expect(Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(port + 2)/").stdout == "second\n")
        #expect(Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://10.89.0.1:\(port + 2)/").stdout == "first\n")
        // Within one run too; and a port a host process holds, or an address the host lacks: one line.
        let twice = Harness.run(["run", "--rm", "-p", "\(port + 3):80", "-p", "127.0.0.1:\(port + 3):81", "busybox", "true"])
        #expect(twice.status == 125 && twice.stderr.contains("Bind for 127.0.0.1:\(port + 3) failed: port is already allocated"), "\(twice.stderr)")
        let listener = try LoopbackListener(port: UInt16(port + 4), type: SOCK_STREAM)
        let busy = Harness.run(["run", "--rm", "-p", "\(listener.port):80", "busybox", "true"])
        #expect(busy.status == 125 && busy.stderr.contains("in use by a process on this host") && busy.stderr.filter { $0 == "\n" }.count == 1, "\(busy.stderr)")
        let foreign = Harness.run(["run", "--rm", "-p", "192.0.2.99:\(port + 5):80", "busybox", "true"])
        #expect(foreign.status == 125 && foreign.stderr.contains("not an address of this host"), "\(foreign.stderr)")
        // Given back with the container: the same port is free for the next one.
        #expect(Harness.run(["rm", "-f", first]).status == 0)
        let again = Harness.run(["run", "--rm", "-p", "\(port + 1):80", "busybox", "true"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    /// -P and `-p 80` (#18): random host ports from the kernel's ephemeral range, shown by ps
    /// and inspect and reaching the container; --expose without -P is shown, not published.
    @Test func publishAllPicksFreeEphemeralPorts() throws {
        let name = "puball-\(getpid())", quiet = "expose-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name, quiet]) }
        _ = detach(name, ["-e", "REPLY=random", "--expose", "80", "--expose", "7000-7001/udp", "-P", "-p", "127.0.0.1::80"] + webServer)
        let ports = Harness.inspect(name, "NetworkSettings")["Ports"] as? [String: [[String: String]]] ?? [:]
        #expect(Set(ports.keys) == ["80/tcp", "7000/udp", "7001/udp"], "\(ports)")
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let hostPorts = ports.values.flatMap { $0 }.compactMap { Int($0["HostPort"] ?? "") }
        #expect(hostPorts.count == 3 && Set(hostPorts).count == 3 && hostPorts.allSatisfy { range[0]...range[1] ~= $0 }, "\(ports)")
        let web = try #require(ports["80/tcp"]?.first?["HostPort"])
        #expect(ports["80/tcp"]?.first?["HostIp"] == "127.0.0.1", "-p 127.0.0.1::80 wins over -P for port 80: \(ports)")
        #expect(Harness.run(["ps"]).stdout.contains("127.0.0.1:\(web)->80/tcp"))
        #expect(Harness.eventually { Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(web)/").stdout == "random\n" })
        _ = detach(quiet, ["--expose", "9000", "busybox", "sleep", "60"])
        let line = Harness.run(["ps"]).stdout.split(separator: "\n").first { $0.hasSuffix(quiet) } ?? ""
        #expect(line.contains("9000/tcp") && !line.contains("->9000"), "\(line)")
    }

    /// --mac-address, --link-local-ip and --link (#18): what the container's eth0 and hosts
    /// file say, and the linked container reached by its alias.
    @Test func macLinkLocalAndLinksReachTheContainer() {
        let target = "linked-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", target]) }
        _ = detach(target, ["-e", "REPLY=linked"] + webServer)
        let result = Harness.run(["run", "--rm", "--mac-address", "92:d0:c6:0a:29:33", "--link-local-ip", "169.254.10.10",
                                  "--link", "\(target):web", "busybox", "sh", "-c",
                                  "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0 | grep -c 169.254.10.10/16; "
                                  + "grep -cw web /etc/hosts; wget -qO- http://web/"])
        #expect(result.stdout == "92:d0:c6:0a:29:33\n1\n1\nlinked\n", "\(result.stdout) \(result.stderr)")
        let stopped = Harness.run(["run", "--rm", "--link", "absent-\(getpid())", "busybox", "true"])
        #expect(stopped.status == 125 && stopped.stderr.contains("absent-\(getpid())"), "\(stopped.stderr)")
        for (flag, value) in [("--mac-address", "01:00:5e:00:00:01"), ("--mac-address", "zz"), ("--link-local-ip", "10.0.0.1"), ("--link-local-ip", "fe80::1")] {
            let bad = Harness.run(["run", "--rm", flag, value, "busybox", "true"])
            #expect(bad.status == 125 && bad.stderr.contains(flag), "\(flag) \(value): \(bad.stderr)")
        }
    }

    /// Issue #14.1 (CVE-2020-8558 class): services bound to the host's 127.0.0.1 must not be
    /// reachable from a container — neither by connecting to the gateway nor by raw frames sent
    /// to the gateway's MAC with a 127.0.0.1 destination (CAP_NET_RAW is in Docker's default
    /// set) — while `-p 127.0.0.1:P:C` keeps working from the host.
    @Test func hostLoopbackServicesAreUnreachableFromContainers() throws {
        let port = UInt16(21000 + Int(getpid() % 9000))
        let udp = try LoopbackListener(port: port, type: SOCK_DGRAM)
        let tcp = try LoopbackListener(port: port, type: SOCK_STREAM)
        let name = "lo-attack-\(getpid())"
        _ = detach(name, ["-p", "127.0.0.1:\(port + 1):80", "-e", "REPLY=still published"] + webServer)
        defer { _ = Harness.run(["rm", "-f", name]) }
        let pid = Harness.inspect(name, "State")["Pid"] as? Int ?? 0
        let ip = address(of: name)
        try #require(pid > 0 && !ip.isEmpty)
        // The published loopback port works (from the host, through DNAT and route_localnet).
        #expect(Harness.eventually { Harness.shell("timeout 3 \(Self.busybox) wget -qO- http://127.0.0.1:\(port + 1)/").stdout == "still published\n" })
        // A normal connect to the gateway's address does not reach a 127.0.0.1-only listener.
        let connect = Harness.run(["exec", name, "sh", "-c", "echo x | timeout 3 nc 10.89.0.1 \(port) && echo connected"])
        #expect(!connect.stdout.contains("connected"), "\(connect.stdout)")
        // Raw frames from inside the container's network namespace: UDP and a TCP SYN.
        let gatewayMAC = try String(contentsOfFile: "/sys/class/net/swiftainer0/address", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for proto in ["udp", "tcp"] {
            let sent = Harness.execute("/usr/bin/nsenter", ["--net=/proc/\(pid)/ns/net", "python3", "-c", Self.loopbackProbe, gatewayMAC, ip, "\(port)", proto],
                                       environment: ["PATH": "/usr/bin:/bin"], stdin: nil)
            try #require(sent.status == 0 && sent.stdout == "sent\n", "the probe could not send: \(sent.stderr)")
        }
        #expect(udp.receivedDatagram(within: 1.5) == nil, "a UDP datagram from the container reached 127.0.0.1:\(port)")
        #expect(tcp.pendingHandshakes() == 0, "a TCP SYN from the container reached 127.0.0.1:\(port)")
    }

    /// Builds Ethernet + IPv4 + UDP/TCP-SYN frames by hand and sends them on eth0, five times,
    /// to the gateway's MAC with the destination 127.0.0.1: what CAP_NET_RAW allows.
    static let loopbackProbe = """
        import socket, struct, sys, time
        gateway_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
        src, dst = socket.inet_aton(sys.argv[2]), socket.inet_aton("127.0.0.1")
        port, proto = int(sys.argv[3]), sys.argv[4]
        def checksum(data):
            if len(data) % 2: data += b"\\0"
            s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
            s = (s >> 16) + (s & 0xffff); s += s >> 16
            return ~s & 0xffff
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        s.bind(("eth0", 0))
        sport = 40000 + port % 20000
        if proto == "udp":
            l4, number = struct.pack("!HHHH", sport, port, 17, 0) + b"raw-hello", 17
            l4 = l4[:6] + struct.pack("!H", checksum(src + dst + struct.pack("!BBH", 0, 17, len(l4)) + l4)) + l4[8:]
        else:
            l4, number = struct.pack("!HHIIBBHHH", sport, port, 12345, 0, 5 << 4, 0x02, 65535, 0, 0), 6
            l4 = l4[:16] + struct.pack("!H", checksum(src + dst + struct.pack("!BBH", 0, 6, len(l4)) + l4)) + l4[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, number, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        for _ in range(5):
            s.send(gateway_mac + s.getsockname()[4] + b"\\x08\\x00" + ip + l4)
            time.sleep(0.05)
        print("sent")
        """
}

/// A socket bound to 127.0.0.1 on the host, for the loopback-exposure test.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init(port: UInt16, type: __socket_type) throws {
        self.port = port
        fd = socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(rc == 0, "bind 127.0.0.1:\(port): errno \(errno)")
        if type == SOCK_STREAM { try #require(listen(fd, 16) == 0) }
    }

    deinit { close(fd) }

    func receivedDatagram(within seconds: Double) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// Connections in SYN-RECV or completed for this listener: a SYN that got through leaves one.
    func pendingHandshakes() -> Int {
        let hexPort = String(port, radix: 16, uppercase: true)
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        let synRecv = table.split(separator: "\n").filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(":" + String(repeating: "0", count: max(0, 4 - hexPort.count)) + hexPort) && fields[3] == "03"
        }.count
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return synRecv + (poll(&poller, 1, 0) == 1 ? 1 : 0)
    }
}
