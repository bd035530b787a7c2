#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import Netlink
import Network

/// Name resolution on a user-defined network, daemonless: each network's containers are
/// listed in its state directory (`dns-records`: "ID ADDRESS[,ADDRESS6] UPSTREAM NAME ALIAS…" per line,
/// rewritten under `dns-records.lock` by connect and disconnect), and a resolver process of the
/// network (`swiftainer network-dns BRIDGE GATEWAY`) answers on the gateway's port 53, UDP and
/// TCP: A, AAAA and PTR for those names, short ids and aliases, the rest forwarded to the asking
/// container's --dns servers (UPSTREAM, comma-separated, "-" for none), or else the host's
/// nameservers — as Docker's embedded DNS does. The first container to connect starts it (unless its lock says one runs); it
/// ends once the records have been empty for two seconds.
enum NetworkResolver {
    static func recordsPath(_ network: BridgeNetwork) -> String { network.stateDirectory + "/dns-records" }

    /// What a container's line says: its address on the network, the names it answers to
    /// there, and the nameservers its other queries go to (empty: the host's).
    struct Entry {
        var address: String
        var address6: String?
        var names: [String]
        var upstream: [String]
    }

    /// Adds (or, with `entry` nil, removes) the container's line.
    static func update(_ network: BridgeNetwork, containerID: String, entry: Entry?) throws {
        // A removal from a network removed meanwhile: nothing to do, and nothing to make again.
        guard entry != nil || Files.exists(network.stateDirectory) else { return }
        try Files.makeDirectories(network.stateDirectory, mode: 0o700)
        let lock = try FileLock(path: recordsPath(network) + ".lock")
        defer { lock.unlock() }
        var lines = ((try? Files.readString(recordsPath(network))) ?? "").split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix(containerID + " ") }
        if let entry {
            let upstream = entry.upstream.isEmpty ? "-" : entry.upstream.joined(separator: ",")
            let addresses = entry.address + (entry.address6.map { "," + $0 } ?? "")
            lines.append(([containerID, addresses, upstream] + entry.names).joined(separator: " "))
        }
        try Files.writeAtomically(recordsPath(network), lines.map { $0 + "\n" }.joined(), mode: 0o644, durability: .volatile)
    }

    /// Starts the network's resolver unless one holds its lock, and waits (a second at most)
    /// until it listens: the container about to start may ask it a name at once.
    static func ensureRunning(_ network: BridgeNetwork) {
        guard let probe = try? FileLock.tryLock(path: network.stateDirectory + "/dns.lock") else { return }
        probe.unlock()
        guard let (ready, readyWriter) = try? FileDescriptor.pipe() else { return }
        defer { ready.close() }
        let spawned = try? DetachedProcess.spawn(path: "/proc/self/exe", arguments: ["swiftainer", "network-dns", network.stateDirectory, network.gateway.description],
                                                 stderrPath: network.stateDirectory + "/dns.log", passing: [readyWriter.raw])
        readyWriter.close()
        guard spawned != nil else { return }
        // A byte once bound; end-of-file if it exits first (another won the lock, or it failed
        // and said why in dns.log).
        _ = ready.awaitByte(milliseconds: 1000)
    }

    /// Ends the network's resolver (`network rm`), waiting until it has let go of its lock.
    static func stop(_ network: BridgeNetwork) {
        let lockPath = network.stateDirectory + "/dns.lock"
        if let free = try? FileLock.tryLock(path: lockPath) { free.unlock(); return }
        guard let text = try? Files.readString(network.stateDirectory + "/dns.pid"), let pid = pid_t(text.trimmingWhitespace), pid > 1 else { return }
        // Only our resolver: its command line names this network's state directory.
        let command = ((try? Files.read("/proc/\(pid)/cmdline")) ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard command.contains("network-dns"), command.contains(network.stateDirectory) else { return }
        kill(pid, SIGTERM)
        // Up to 5 s: a network made right after this one may get the same gateway address,
        // which its resolver cannot bind while this one still holds it (a loaded host, the VM).
        for _ in 0..<125 {
            if let free = try? FileLock.tryLock(path: lockPath) { free.unlock(); return }
            usleep(40_000)
        }
    }

    struct Record {
        var id: String
        var address: String
        var address6: String?
        var names: [String]
        var upstream: [String]
    }

    static func records(_ path: String) -> [Record] {
        ((try? Files.readString(path)) ?? "").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 4 else { return nil }
            let addresses = fields[1].split(separator: ",").map(String.init)
            return Record(id: fields[0], address: addresses[0], address6: addresses.count > 1 ? addresses[1] : nil, names: fields.dropFirst(3).map { $0.lowercased() } + [String(fields[0].prefix(12))],
                          upstream: fields[2] == "-" ? [] : fields[2].split(separator: ",").map(String.init))
        }
    }

    /// The records of the other networks the container at `address` is on too (connected with
    /// `network connect`): it resolves their names as well, as with Docker.
    static func recordsOfOtherNetworks(of address: String?, _ records: [Record], stateDirectory: String) -> [Record] {
        guard let address, let id = records.first(where: { $0.address == address })?.id else { return [] }
        let parent = Files.dirname(of: stateDirectory)
        return Files.listDirectoryOrEmpty(parent).filter { parent + "/" + $0 != stateDirectory }.flatMap { name -> [Record] in
            let others = Self.records(parent + "/" + name + "/dns-records")
            return others.contains { $0.id == id } ? others : []
        }
    }

    /// The answer for one query, from the records or the nameservers: the asking container's
    /// (`peer`, its address) --dns servers, else the host's (`upstream`).
    static func respond(_ query: [UInt8], records local: [Record], upstream: [String], peer: String? = nil, stateDirectory: String = "") -> [UInt8]? {
        guard let question = DNSQuestion(parsing: query) else { return nil }
        let reverse = question.reverseAddress
        func holds(_ record: Record, _ address: String?) -> Bool { address != nil && (record.address == address || record.address6 == address) }
        let known = local.contains { $0.names.contains(question.name) || holds($0, reverse) }
        let records = known ? local : local + recordsOfOtherNetworks(of: peer, local, stateDirectory: stateDirectory)
        if question.type == DNSQuestion.typePTR, let record = records.first(where: { holds($0, reverse) }) {
            return question.answer(query, records: [DNSQuestion.encodeName(record.names[0])])
        }
        let matches = records.filter { $0.names.contains(question.name) }
        if !matches.isEmpty {
            // A known name: its addresses of the type asked (none: an empty answer, not an error).
            let addresses: [[UInt8]]
            switch question.type {
            case DNSQuestion.typeA: addresses = matches.compactMap { IPv4Address($0.address)?.bytes }
            case DNSQuestion.typeAAAA: addresses = matches.compactMap { $0.address6.flatMap(IPv6Address.init)?.bytes }
            default: addresses = []
            }
            return question.answer(query, records: addresses)
        }
        let asking = local.first { $0.address == peer }?.upstream ?? []
        for server in asking.isEmpty ? upstream : asking {
            if let reply = forward(query, to: server) { return reply }
        }
        return question.answer(query, records: [], code: .serverFailure)
    }

    /// One UDP exchange with a nameserver, a second at most.
    static func forward(_ query: [UInt8], to server: String) -> [UInt8]? {
        guard let address = IPv4Address(server) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = in_port_t(53).bigEndian
        target.sin_addr.s_addr = address.value.bigEndian
        let sent = query.withUnsafeBytes { bytes in
            withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard sent == query.count else { return nil }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 1000) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(buffer[..<count]) : nil
    }

    /// The host's nameservers (loopback ones too: this process is in the host's namespace).
    static func upstreamServers() -> [String] {
        ((try? Files.readString("/etc/resolv.conf")) ?? "").split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return fields.count >= 2 && fields[0] == "nameserver" && IPv4Address(String(fields[1])) != nil ? String(fields[1]) : nil
        }
    }

    static func bound(_ type: Int32, _ gateway: IPv4Address) throws -> Int32 {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket", "resolver") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(53).bigEndian
        address.sin_addr.s_addr = gateway.value.bigEndian
        // A resolver of a network just removed may still be letting go of the address: up to
        // 10 s (it is in the background; giving up leaves the network without names).
        var rc: Int32 = -1
        for _ in 0..<100 {
            rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if rc == 0 || errno != EADDRINUSE { break }
            usleep(100_000)
        }
        guard rc == 0 else {
            close(fd)
            throw SystemError.last("bind", "\(gateway):53")
        }
        if type == Int32(SOCK_STREAM.rawValue) { listen(fd, 16) }
        return fd
    }

    /// The body of `swiftainer network-dns STATE_DIR GATEWAY`; `readyFD` is written to and
    /// closed once it listens.
    static func run(stateDirectory: String, gateway: IPv4Address, readyFD: Int32?) throws {
        guard let held = try FileLock.tryLock(path: stateDirectory + "/dns.lock") else { return } // one runs already
        // For `network rm`, which ends it.
        try Files.writeAtomically(stateDirectory + "/dns.pid", "\(getpid())\n", mode: 0o600, durability: .volatile)
        let udp = try bound(Int32(SOCK_DGRAM.rawValue), gateway)
        let tcp = try bound(Int32(SOCK_STREAM.rawValue), gateway)
        if let readyFD {
            _ = write(readyFD, "r", 1)
            close(readyFD)
        }
        let path = stateDirectory + "/dns-records"
        let upstream = upstreamServers()
        var records = Self.records(path)
        // Each rewrite is a new file (written beside, renamed): its inode tells, where the
        // coarse mtime of two rewrites within one tick would not.
        var seenInode: ino_t = 0
        var idleSeconds = 0.0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var fds = [pollfd(fd: udp, events: Int16(POLLIN), revents: 0), pollfd(fd: tcp, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, 500)
            // The records as they are now; none at all: the network is gone.
            var info = stat()
            if stat(stateDirectory, &info) != 0 { return }
            if stat(path, &info) == 0, info.st_ino != seenInode {
                seenInode = info.st_ino
                records = Self.records(path)
            }
            if ready <= 0 {
                idleSeconds = records.isEmpty ? idleSeconds + 0.5 : 0
                if idleSeconds >= 2 {
                    // Decided under the records lock: a container connecting now either comes
                    // before (and keeps this one) or after (and finds the lock free).
                    let lock = try FileLock(path: path + ".lock")
                    if Self.records(path).isEmpty {
                        held.unlock()
                        lock.unlock()
                        return
                    }
                    lock.unlock()
                    idleSeconds = 0
                }
                continue
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                var peer = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let count = buffer.withUnsafeMutableBytes { bytes in
                    withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, bytes.baseAddress, bytes.count, 0, $0, &length) } }
                }
                let peerAddress = IPv4Address(UInt32(bigEndian: peer.sin_addr.s_addr)).description
                if count > 0, let reply = respond(Array(buffer[..<count]), records: records, upstream: upstream, peer: peerAddress, stateDirectory: stateDirectory) {
                    _ = reply.withUnsafeBytes { bytes in
                        withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, bytes.baseAddress, bytes.count, 0, $0, length) } }
                    }
                }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                serveTCP(tcp, records: records, upstream: upstream, stateDirectory: stateDirectory)
            }
        }
    }

    /// One TCP query (length-prefixed, RFC 1035 4.2.2), within a second.
    static func serveTCP(_ listener: Int32, records: [Record], upstream: [String], stateDirectory: String) {
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let client = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) } }
        guard client >= 0 else { return }
        defer { close(client) }
        var patience = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &patience, socklen_t(MemoryLayout<timeval>.size))
        func readExactly(_ count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            var have = 0
            while have < count {
                let n = bytes.withUnsafeMutableBytes { recv(client, $0.baseAddress! + have, count - have, 0) }
                if n <= 0 { return nil }
                have += n
            }
            return bytes
        }
        guard let prefix = readExactly(2), let query = readExactly(Int(prefix[0]) << 8 | Int(prefix[1])),
              let reply = respond(query, records: records, upstream: upstream, peer: IPv4Address(UInt32(bigEndian: peer.sin_addr.s_addr)).description,
                                  stateDirectory: stateDirectory) else { return }
        let framed = [UInt8(reply.count >> 8), UInt8(reply.count & 0xff)] + reply
        _ = framed.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
