import Netlink

/// `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]`.
public struct PortMapping: Codable, Equatable, Hashable, Sendable {
    public var hostIP: String?
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var proto: String

    public init(hostIP: String? = nil, hostPort: UInt16, containerPort: UInt16, proto: String = "tcp") {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.proto = proto
    }

    public static func parse(_ text: String) throws -> PortMapping {
        var body = Substring(text)
        var proto = "tcp"
        if let slash = body.lastIndex(of: "/") {
            proto = String(body[body.index(after: slash)...]).lowercased()
            body = body[..<slash]
            guard proto == "tcp" || proto == "udp" else { throw NetworkError("-p \(text): protocol must be tcp or udp, not '\(proto)'") }
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func port(_ value: String) throws -> UInt16 {
            guard let number = UInt16(value), number > 0 else { throw NetworkError("-p \(text): invalid port '\(value)' (1-65535)") }
            return number
        }
        // An empty or missing host port is Docker's "any free one": 0 here, chosen at attach.
        func hostPort(_ value: String) throws -> UInt16 { value.isEmpty ? 0 : try port(value) }
        switch parts.count {
        case 1:
            return PortMapping(hostPort: 0, containerPort: try port(parts[0]), proto: proto)
        case 2:
            return PortMapping(hostPort: try hostPort(parts[0]), containerPort: try port(parts[1]), proto: proto)
        case 3:
            let ip = parts[0].isEmpty ? nil : parts[0]
            if let ip { guard IPv4Address(ip) != nil else { throw NetworkError("-p \(text): invalid host IP '\(ip)'") } }
            return PortMapping(hostIP: ip == "0.0.0.0" ? nil : ip, hostPort: try hostPort(parts[1]), containerPort: try port(parts[2]), proto: proto)
        default:
            throw NetworkError("-p \(text): use [[HOSTIP:]HOSTPORT:]CONTAINERPORT[/tcp|/udp]")
        }
    }

    /// "80/tcp", the key Docker's ExposedPorts and `port` use.
    public var containerKey: String { "\(containerPort)/\(proto)" }

    /// An --expose value or an image's ExposedPorts key: "80", "80/udp", or a range
    /// "8000-8010/tcp". Returns the container ports it names.
    public static func exposed(_ text: String) throws -> [(port: UInt16, proto: String)] {
        var body = Substring(text)
        var proto = "tcp"
        if let slash = body.lastIndex(of: "/") {
            proto = String(body[body.index(after: slash)...]).lowercased()
            body = body[..<slash]
        }
        guard proto == "tcp" || proto == "udp" else { throw NetworkError("invalid proto: \(proto) in \(text) (tcp or udp)") }
        let bounds = body.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { UInt16($0) }
        guard let low = bounds.first ?? nil, low > 0, let high = bounds.last ?? nil, high >= low else {
            throw NetworkError("invalid range format for --expose: \(text)")
        }
        return (low...high).map { ($0, proto) }
    }

    public var description: String { "\(hostIP ?? "0.0.0.0"):\(hostPort)->\(containerPort)/\(proto)" }
}
