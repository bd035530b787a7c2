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
            _ = Harness.shell("ip netns del \(ns); ip link del \(link) 2>/dev/null; rm -rf \(www)")
        }
        try FileManager.default.createDirectory(atPath: www + "/cgi-bin", withIntermediateDirectories: true)
        try "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"seen=$REMOTE_ADDR\"\n".write(toFile: www + "/cgi-bin/ip", atomically: true, encoding: .utf8)
        chmod(www + "/cgi-bin/ip", 0o755)
        let setup = Harness.shell("""
            set -e
            ip netns add \(ns)
            ip link add \(link) type veth peer name inet0 netns \(ns)
            ip addr add 203.0.113.1/24 dev \(link) && ip link set \(link) up
            ip -n \(ns) addr add 203.0.113.2/24 dev inet0 && ip -n \(ns) link set inet0 up && ip -n \(ns) link set lo up
            """)
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
        #expect(Harness.run(["stop", "-t", "1"] + names).status == 0)
        #expect(Harness.run(["rm"] + names).status == 0)
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
}
