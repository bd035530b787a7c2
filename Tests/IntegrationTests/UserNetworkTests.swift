#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// User-defined networks (#20): a bridge, subnet, NAT table and resolver per network;
/// containers on one reach each other by name and alias, other networks reach neither name
/// nor address; nothing outlives the network.
@Suite(.serialized, requiresRoot) struct UserNetworkTests {
    func run(_ arguments: [String]) -> Harness.Result { Harness.run(arguments) }
    func shell(_ network: String, _ script: String) -> Harness.Result { run(["run", "--rm", "--network", network, "busybox", "sh", "-c", script]) }

    @Test func containersOnANetworkFindEachOtherByNameAndAliasAndNobodyElseDoes() throws {
        let app = "app-\(getpid())", other = "other-\(getpid())", server = "srv-\(getpid())"
        defer {
            _ = run(["rm", "-f", server])
            _ = run(["network", "rm", app, other])
        }
        let created = run(["network", "create", "--label", "tier=test", app])
        #expect(created.status == 0 && created.stdout.count == 65, "\(created.stderr)")
        #expect(run(["network", "create", "--internal", other]).status == 0)
        let bridge = run(["network", "inspect", "-f", "{{index .Options \"com.docker.network.bridge.name\"}}", app]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let subnet = run(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", app]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(bridge.hasPrefix("swbr") && subnet.hasPrefix("10.90."), "\(bridge) \(subnet)")
        #expect(run(["run", "-d", "--name", server, "--network", app, "--network-alias", "db", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]).status == 0)
        let address = run(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", server]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(run(["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", app]).stdout.hasPrefix("\(server) \(address)/"))
        // By name, by alias, by short id; reverse too.
        let id = run(["inspect", "-f", "{{.Id}}", server]).stdout.prefix(12)
        let found = shell(app, "cat /etc/resolv.conf; timeout 5 wget -qO- http://\(server):8080/hostname; timeout 5 wget -qO- http://db:8080/hostname; nslookup \(id) | grep -c '\(address)'; nslookup \(address) | grep -c \(server)")
        #expect(found.status == 0, "\(found.stderr)")
        let lines = found.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "nameserver " + subnet.replacingOccurrences(of: ".0/24", with: ".1"), "\(found.stdout)")
        #expect(lines.filter { $0 == String(id) }.count == 2 && lines.suffix(2) == ["1", "1"], "\(found.stdout)")
        // Another network: neither the name nor the address; the default bridge neither.
        let isolated = shell(other, "nslookup \(server) >/dev/null 2>&1 && echo resolved; timeout 3 wget -qO- http://\(address):8080/hostname || echo unreachable")
        #expect(isolated.stdout == "unreachable\n", "\(isolated.stdout) \(isolated.stderr)")
        #expect(run(["run", "--rm", "busybox", "sh", "-c", "timeout 3 wget -qO- http://\(address):8080/hostname || echo unreachable"]).stdout == "unreachable\n")
        // In use: refused, one line, status 1.
        let refused = run(["network", "rm", app])
        #expect(refused.status == 1 && refused.stderr.contains("active endpoints"), "\(refused.stderr)")
        #expect(run(["network", "ls", "--filter", "label=tier=test", "--format", "{{.Name}} {{.Driver}}"]).stdout == "\(app) bridge\n")
        // Gone with the network: bridge, table, state, resolver.
        #expect(run(["rm", "-f", server]).status == 0)
        #expect(run(["network", "rm", app]).status == 0)
        #expect(Harness.shell("ip link show \(bridge)").status != 0, "bridge \(bridge) left")
        #expect(!Harness.shell("nft list tables").stdout.contains("swiftainer_\(bridge)"))
        #expect(!FileManager.default.fileExists(atPath: "/run/swiftainer/networks/\(bridge)"))
        #expect(Harness.eventually(5) { Harness.shell("pgrep -f '[n]etwork-dns /run/swiftainer/networks/\(bridge) '").status != 0 }, "resolver of \(bridge) left")
    }

    @Test func twentyContainersJoiningAtOnceAllResolveEachOther() {
        let net = "many-\(getpid())"
        let names = (0..<20).map { "many\(getpid())-\($0)" }
        defer {
            _ = run(["rm", "-f"] + names)
            _ = run(["network", "rm", net])
        }
        #expect(run(["network", "create", net]).status == 0)
        let starts = names.map { Harness.startSwiftainer(["run", "-d", "--name", $0, "--network", net, "busybox", "sleep", "300"]) }
        #expect(starts.map { $0.finish().status }.allSatisfy { $0 == 0 })
        let script = names.map { "nslookup \($0) >/dev/null || echo missing-\($0)" }.joined(separator: "; ")
        let result = run(["exec", names[0], "sh", "-c", script])
        #expect(result.stdout.isEmpty, "\(result.stdout)")
    }

    @Test(arguments: [
        (["network", "create", "bridge"], "reserved"),
        (["network", "create", "../x"], "invalid network name"),
        (["network", "create", "--subnet", "10.89.5.0/24", "clash\(getpid())"], "overlaps"),
        (["network", "create", "--subnet", "nonsense", "bad\(getpid())"], "invalid subnet"),
        (["network", "create", "--subnet", "fd00:99::/64", "v6\(getpid())"], "needs --ipv6"),
        (["run", "--rm", "--ip6", "fd00:99::5", "busybox", "true"], "has no IPv6"),
        (["network", "rm", "bridge"], "pre-defined"),
        (["run", "--rm", "--network", "no-such-net", "busybox", "true"], "not found"),
        (["network", "connect", "no-such-net-\(getpid())", "y"], "not found"),
    ])
    func badNetworkRequestsAreOneLine(arguments: [String], message: String) {
        let result = run(arguments)
        #expect(result.status != 0 && result.stderr.contains(message) && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    /// NAT out of a user network to "the internet" (a namespace the test makes), none out of an
    /// --internal one; published ports reach a container on a user network.
    @Test func outboundNATPublishedPortsAndInternalNetworks() throws {
        let busybox = ["/usr/bin/busybox", "/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "busybox"
        let open = "open-\(getpid())", closed = "closed-\(getpid())", web = "uweb-\(getpid())"
        let internet = try Harness.InternetWebServer("uinet", net: "198.51.100")
        defer {
            _ = run(["rm", "-f", web])
            _ = run(["network", "rm", open, closed])
            internet.stop()
        }
        #expect(run(["network", "create", open]).status == 0)
        #expect(run(["network", "create", "--internal", closed]).status == 0)
        let out = shell(open, "for i in 1 2 3 4 5; do timeout 3 wget -qO- \(internet.url)/ && exit 0; sleep 0.2; done; exit 1")
        #expect(out.stdout == "outside\n", "\(out.stdout) \(out.stderr)")
        let sealed = shell(closed, "timeout 3 wget -qO- \(internet.url)/ || echo no-way-out")
        #expect(sealed.stdout == "no-way-out\n", "\(sealed.stdout)")
        // A published port on a user network.
        let port = 31000 + Int(getpid() % 1000)
        #expect(run(["run", "-d", "--name", web, "--network", open, "-p", "127.0.0.1:\(port):80", "--hostname", "inside", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]).status == 0)
        #expect(Harness.eventually { Harness.shell("timeout 3 \(busybox) wget -qO- http://127.0.0.1:\(port)/hostname").stdout == "inside\n" })
        #expect(run(["port", web, "80"]).stdout == "127.0.0.1:\(port)\n")
    }

    /// `network connect` gives a running container an interface on another network (its names
    /// resolve there, it reaches that network's containers); `disconnect` takes it away; the
    /// run's end gives it back.
    @Test func connectAndDisconnectARunningContainer() {
        let front = "front-\(getpid())", back = "back-\(getpid())", api = "api-\(getpid())", db = "db-\(getpid())"
        defer {
            _ = run(["rm", "-f", api, db])
            _ = run(["network", "rm", front, back])
        }
        #expect(run(["network", "create", front]).status == 0 && run(["network", "create", back]).status == 0)
        #expect(run(["run", "-d", "--name", db, "--network", back, "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]).status == 0)
        #expect(run(["run", "-d", "--name", api, "--network", front, "busybox", "sleep", "300"]).status == 0)
        let before = run(["exec", api, "sh", "-c", "timeout 3 wget -qO- http://\(db):8080/hostname || echo unreachable"]).stdout
        #expect(before == "unreachable\n", "\(before)")
        let connected = run(["network", "connect", "--alias", "apiv2", back, api])
        #expect(connected.status == 0, "\(connected.stderr)")
        let after = run(["exec", api, "sh", "-c", "ip -o -4 addr show eth1 | grep -c inet; timeout 3 wget -qO- http://\(db):8080/hostname"]).stdout
        #expect(after.hasPrefix("1\n") && after.count > 2, "\(after)")
        #expect(run(["exec", db, "nslookup", "apiv2"]).status == 0, "the alias resolves on the connected network")
        // Its /etc/hosts names it at its new address too, as Docker's does.
        let address = run(["exec", api, "sh", "-c", "ip -o -4 addr show eth1 | sed 's/.*inet \\([0-9.]*\\).*/\\1/'"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let hostname = run(["exec", api, "hostname"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!address.isEmpty && run(["exec", api, "cat", "/etc/hosts"]).stdout.contains("\(address)\t\(hostname) \(api)\n"), "\(address)")
        #expect(run(["network", "inspect", "-f", "{{len .Containers}}", back]).stdout == "2\n")
        #expect(run(["network", "rm", back]).status == 1, "in use through the connection")
        #expect(run(["network", "connect", back, api]).status == 125, "connected twice")
        let disconnected = run(["network", "disconnect", back, api])
        #expect(disconnected.status == 0, "\(disconnected.stderr)")
        #expect(run(["exec", api, "sh", "-c", "ip link show eth1 >/dev/null 2>&1 && echo still"]).stdout.isEmpty)
        #expect(!run(["exec", api, "cat", "/etc/hosts"]).stdout.contains(address + "\t"), "the address it left stays in /etc/hosts")
        #expect(run(["exec", db, "nslookup", "apiv2"]).status != 0)
        #expect(run(["network", "disconnect", front, api]).status == 125, "its first network stays")
        // Connected again, then the run ends: the address goes back and the network is free.
        #expect(run(["network", "connect", back, api]).status == 0)
        #expect(run(["rm", "-f", api]).status == 0)
        #expect(Harness.eventually(5) { run(["network", "inspect", "-f", "{{len .Containers}}", back]).stdout == "1\n" })
        #expect(run(["rm", "-f", db]).status == 0)
        #expect(Harness.eventually(5) { run(["network", "rm", back]).status == 0 })
    }

    /// A stopped container connected to a network is on it from its start on, and again after
    /// a restart; a rename shows in the network's DNS; a disconnect while stopped holds.
    @Test func connectionsOfAStoppedContainerApplyAtEachStart() {
        let front = "sfront-\(getpid())", back = "sback-\(getpid())", api = "sapi-\(getpid())", db = "sdb-\(getpid())"
        defer {
            _ = run(["rm", "-f", api, "\(api)-new", db])
            _ = run(["network", "rm", front, back])
        }
        #expect(run(["network", "create", front]).status == 0 && run(["network", "create", back]).status == 0)
        #expect(run(["run", "-d", "--name", db, "--network", back, "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]).status == 0)
        #expect(run(["create", "--name", api, "--network", front, "busybox", "sleep", "300"]).status == 0)
        let connected = run(["network", "connect", "--alias", "apiv2", back, api])
        #expect(connected.status == 0, "\(connected.stderr)")
        #expect(run(["network", "rm", back]).status == 1, "in use by a stopped container's connection")
        #expect(run(["start", api]).status == 0)
        let reach = "ip -o -4 addr show eth1 | grep -c inet; timeout 3 wget -qO- http://\(db):8080/hostname >/dev/null && echo reached"
        #expect(run(["exec", api, "sh", "-c", reach]).stdout == "1\nreached\n")
        #expect(run(["exec", db, "nslookup", "apiv2"]).status == 0, "the alias given to a stopped container's connection")
        let listed = run(["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{if $v.IPAddress}}addressed{{end}}:{{range $v.Aliases}}{{.}}{{end}} {{end}}", api]).stdout
        #expect(listed == "\(back):addressed:apiv2 \(front):addressed: \n", "\(listed)")
        // A restart attaches it again; a rename is seen by the network's resolver.
        #expect(run(["restart", "-t", "1", api]).status == 0)
        #expect(run(["exec", api, "sh", "-c", reach]).stdout == "1\nreached\n")
        #expect(run(["rename", api, "\(api)-new"]).status == 0)
        #expect(run(["exec", db, "nslookup", "\(api)-new"]).status == 0, "the new name resolves")
        #expect(run(["exec", db, "nslookup", api]).status != 0, "the old name is gone")
        // Disconnected while stopped: not attached at the next start, the network is free.
        #expect(run(["stop", "-t", "1", "\(api)-new"]).status == 0)
        #expect(run(["network", "disconnect", back, "\(api)-new"]).status == 0)
        #expect(run(["network", "disconnect", back, "\(api)-new"]).status == 125, "not connected any more")
        #expect(run(["start", "\(api)-new"]).status == 0)
        #expect(run(["exec", "\(api)-new", "sh", "-c", "ip link show eth1 >/dev/null 2>&1 || echo none"]).stdout == "none\n")
        #expect(run(["network", "inspect", "-f", "{{len .Containers}}", back]).stdout == "1\n")
    }

    /// Names the network does not know go to the container's --dns servers (here a dnsmasq in
    /// a namespace the test makes), while its resolv.conf names the network's resolver, so the
    /// network's names still resolve, from the first moment of the network's first container;
    /// host-gateway is the network's gateway.
    @Test func otherNamesAreForwardedToTheContainersDNSServers() throws {
        let net = "fwd-\(getpid())", first = "fwdfirst-\(getpid())"
        let ns = "swt-dns-\(getpid())", link = "swtd\(getpid() % 100000)"
        defer {
            _ = run(["network", "rm", net])
            Harness.removeInternet(ns: ns, link: link)
        }
        let setup = Harness.makeInternet(ns: ns, link: link, net: "198.51.100")
        try #require(setup.status == 0, "\(setup.stderr)")
        // In the foreground (-k), answering one name, reading no host files.
        let upstream = Harness.start("/usr/sbin/ip", ["netns", "exec", ns, "/usr/sbin/dnsmasq", "-k", "--no-resolv", "--no-hosts", "--listen-address=198.51.100.2",
                                                      "--bind-interfaces", "--address=/upstream.example/233.252.0.7", "--pid-file=", "--user=root"],
                                     environment: [:], stdin: nil)
        defer { upstream.signal(SIGKILL); _ = upstream.finish() }
        #expect(Harness.eventually(5) { Harness.shell("ip netns exec \(ns) ss -lun | grep -q 198.51.100.2:53").status == 0 }, "dnsmasq did not start")
        let created = run(["network", "create", "--subnet", "10.90.250.0/24", net])
        try #require(created.status == 0, "\(created.stderr)")
        let result = run(["run", "--rm", "--name", first, "--network", net, "--dns", "198.51.100.2", "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                          "grep nameserver /etc/resolv.conf; grep -w gw /etc/hosts; nslookup upstream.example | grep -c 233.252.0.7; nslookup \(first) | grep -c '^Address: 10.90.250.2$'"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
                    == ["nameserver 10.90.250.1", "10.90.250.1 gw", "1", "1"], "\(result.stdout)")
    }

    /// Dual stack: containers on an --ipv6 network get an address of its IPv6 subnet (or the
    /// one --ip6 asks for), reach each other over IPv6, resolve AAAA and ip6.arpa names; another
    /// IPv6 network cannot reach them; the IPv6 table goes with the network.
    @Test func dualStackNetworks() throws {
        let net = "dual-\(getpid())", other = "dual2-\(getpid())", server = "dsrv-\(getpid())"
        defer {
            _ = run(["rm", "-f", server])
            _ = run(["network", "rm", net, other, "dual3-\(getpid())"])
        }
        let created = run(["network", "create", "--ipv6", "--subnet", "fd5e:\(String(getpid() % 0xffff, radix: 16))::/64", net])
        try #require(created.status == 0, "\(created.stderr)")
        #expect(run(["network", "create", "--ipv6", other]).status == 0)
        let clash = run(["network", "create", "--ipv6", "--subnet", "fd5e:\(String(getpid() % 0xffff, radix: 16))::/48", "dual3-\(getpid())"])
        #expect(clash.status != 0 && clash.stderr.contains("overlaps"), "\(clash.stderr)")
        let subnet6 = run(["network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", net]).stdout
        let prefix = "fd5e:\(String(getpid() % 0xffff, radix: 16))::"
        #expect(subnet6.hasPrefix("true 10.90.") && subnet6.hasSuffix(" \(prefix)/64 \n"), "\(subnet6)")
        #expect(run(["network", "ls", "--filter", "name=\(net)", "--format", "{{.IPv6}}"]).stdout == "true\n")
        let started = run(["run", "-d", "--name", server, "--network", net, "--ip6", prefix + "80", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"])
        try #require(started.status == 0, "\(started.stderr)")
        #expect(run(["inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} via {{.NetworkSettings.IPv6Gateway}}", server]).stdout
                    == "\(prefix)80/64 via \(prefix)1\n")
        let script = """
            ip -6 addr show eth0 | grep -c 'inet6 \(prefix)'; ip -6 route | grep -c '^default via \(prefix)1'
            nslookup -type=aaaa \(server) | grep -c '^Address: \(prefix)80$'
            nslookup \(prefix)80 | grep -c 'name = \(server)'
            timeout 5 wget -qO- 'http://[\(prefix)80]:8080/hostname' >/dev/null && echo reached
            """
        let dual = run(["run", "--rm", "--network", net, "busybox", "sh", "-c", script])
        #expect(dual.stdout == "1\n1\n1\n1\nreached\n", "\(dual.stdout) \(dual.stderr)")
        let isolated = run(["run", "--rm", "--network", other, "busybox", "sh", "-c", "timeout 3 wget -qO- 'http://[\(prefix)80]:8080/hostname' || echo unreachable"])
        #expect(isolated.stdout == "unreachable\n", "\(isolated.stdout)")
        #expect(run(["run", "--rm", "--network", net, "--ip6", prefix + "80", "busybox", "true"]).stderr.contains("already in use"))
        let bridge = run(["network", "inspect", "-f", "{{index .Options \"com.docker.network.bridge.name\"}}", net]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Harness.shell("nft list tables").stdout.contains("table ip6 swiftainer_\(bridge)"))
        #expect(run(["rm", "-f", server]).status == 0)
        #expect(run(["network", "rm", net]).status == 0)
        #expect(!Harness.shell("nft list tables").stdout.contains("swiftainer_\(bridge)"))
    }

    /// --ip-range: addresses come from the range; --ip may still name one outside it.
    @Test func ipRangeBoundsTheAddressesHandedOut() throws {
        let net = "range-\(getpid())"
        defer { _ = run(["network", "rm", net]) }
        let created = run(["network", "create", "--subnet", "10.90.241.0/24", "--ip-range", "10.90.241.128/26", net])
        try #require(created.status == 0, "\(created.stderr)")
        #expect(run(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.IPRange}}{{end}}", net]).stdout == "10.90.241.128/26\n")
        let inside = run(["run", "--rm", "--network", net, "busybox", "sh", "-c", "ip -o -4 addr show eth0 | grep -o 'inet [0-9.]*'"])
        #expect(inside.stdout == "inet 10.90.241.129\n", "\(inside.stdout) \(inside.stderr)")
        let fixed = run(["run", "--rm", "--network", net, "--ip", "10.90.241.5", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | grep -o 'inet [0-9.]*'"])
        #expect(fixed.stdout == "inet 10.90.241.5\n", "\(fixed.stdout) \(fixed.stderr)")
        let outside = run(["network", "create", "--subnet", "10.90.242.0/24", "--ip-range", "10.90.243.0/26", "bad-\(getpid())"])
        #expect(outside.status != 0 && outside.stderr.contains("--ip-range"), "\(outside.stderr)")
    }
}
