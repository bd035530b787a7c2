#if canImport(Glibc)
import Glibc
#endif
import Engine
import Images
import JSONKit
import LinuxKit
import Templates

/// `network create|ls|inspect|rm|prune`: user-defined bridge networks, where containers
/// resolve each other by name.
enum NetworkCommands {
    /// The modes every host has, listed as Docker lists its predefined networks.
    static let builtIn: [(name: String, driver: String)] = [("bridge", "bridge"), ("host", "host"), ("none", "null")]

    static func builtInID(_ name: String) -> String { Engine.builtInNetworkID(name) }

    static let create = Command(
        name: "network create", usage: "network create [OPTIONS] NETWORK", summary: "Create a network",
        options: [OptionSpec(["-d", "--driver"], "string", "Driver to manage the Network (bridge)", key: "driver"),
                  OptionSpec(["--gateway"], "list", "IPv4 or IPv6 Gateway for the master subnet (one per family)"),
                  OptionSpec(["--internal"], nil, "Restrict external access to the network"),
                  OptionSpec(["--ip-range"], "string", "Allocate container ip from a sub-range (IPv4)"),
                  OptionSpec(["--label"], "list", "Set metadata on a network (repeatable)"),
                  OptionSpec(["--subnet"], "list", "Subnet in CIDR format that represents a network segment, one per family (default: a free /24 of 10.90.0.0/16, and with --ipv6 a /64 of a random fd00::/8 prefix)"),
                  OptionSpec(["--ipv6"], nil, "Enable IPv6 networking (dual stack)"),
                  OptionSpec(["-o", "--opt"], "map", "Set driver specific options [refused: the bridge takes none yet]", key: "opt")]
    ) { args, context in
        let name = try args.onlyPositional("network create", "NETWORK")
        if let driver = args.value("driver"), driver != "bridge" { throw UsageError("plugin \"\(Printable.escaped(driver))\" not found: swiftainer's networks are bridges") }
        if let option = args.values["opt"]?.first { throw UsageError("-o \(Printable.escaped(option)): the bridge driver takes no options yet") }
        try Engine.requireRoot()
        var request = NetworkRequest(name: name)
        request.subnets = args.values["subnet"] ?? []
        request.gateways = args.values["gateway"] ?? []
        request.isInternal = args.has("internal")
        request.ipRange = args.value("ip-range")
        request.ipv6 = args.has("ipv6")
        request.labels = try VolumeCommands.pairs(args.values["label"] ?? [], flag: "--label")
        let record = try context.engine.networks.create(request)
        context.engine.emitNetworkEvent("create", record)
        out(record.Id + "\n")
        return 0
    }

    static let headers: [(field: String, header: String)] = [
        ("CreatedAt", "CREATED AT"), ("Driver", "DRIVER"), ("ID", "NETWORK ID"), ("IPv6", "IPV6"), ("Internal", "INTERNAL"), ("Labels", "LABELS"),
        ("Name", "NAME"), ("Scope", "SCOPE"),
    ]

    static let list = Command(
        name: "network ls", usage: "network ls [OPTIONS]", summary: "List networks",
        options: [OptionSpec(["-f", "--filter"], "filter", "Provide filter values (name=, id=, driver=, label=, type=custom|builtin)", key: "filter"),
                  OptionSpec(["--format"], "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template"),
                  OptionSpec(["--no-trunc"], nil, "Do not truncate the output"), OptionSpec(["-q", "--quiet"], nil, "Only display network IDs")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"network ls\" accepts no arguments") }
        var terms: [String: [String]] = [:]
        for spec in args.values["filter"] ?? [] {
            let (key, value) = try FilterSpec.split(spec, keys: ["driver", "id", "label", "name", "type"])
            terms[key, default: []].append(value)
        }
        struct Row { var id: String; var name: String; var driver: String; var isInternal: Bool; var labels: [String: String]; var created: String; var builtIn: Bool; var ipv6 = false }
        var rows = builtIn.map { Row(id: builtInID($0.name), name: $0.name, driver: $0.driver, isInternal: false, labels: [:], created: "", builtIn: true) }
        rows += context.engine.networks.all().sorted { $0.Name < $1.Name }
            .map { Row(id: $0.Id, name: $0.Name, driver: $0.Driver, isInternal: $0.Internal, labels: $0.Labels, created: $0.Created, builtIn: false, ipv6: $0.ipv6 != nil) }
        func any(_ key: String, _ test: (String) -> Bool) -> Bool { terms[key].map { $0.contains(where: test) } ?? true }
        rows = rows.filter { row in
            any("name") { row.name.contains($0) } && any("id") { row.id.hasPrefix($0) } && any("driver") { $0 == row.driver }
                && any("type") { ($0 == "builtin") == row.builtIn }
                && (terms["label"] ?? []).allSatisfy { ContainerFilter.labelMatches(row.labels, $0) }
        }
        let full = args.has("no-trunc")
        if args.has("quiet") {
            out(rows.map { (full ? $0.id : String($0.id.prefix(12))) + "\n" }.joined())
            return 0
        }
        let format = try ListFormat(args.value("format"), defaultTable: "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}", typeName: "*formatter.networkContext")
        let values: [JSONValue] = rows.map { row in
            let fields = ["CreatedAt": row.created.isEmpty ? "" : Clock.goTimeString(rfc3339: row.created), "Driver": row.driver,
                          "ID": full ? row.id : String(row.id.prefix(12)), "IPv6": "\(row.ipv6)", "Internal": "\(row.isInternal)",
                          "Labels": row.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","), "Name": row.name, "Scope": "local"]
            return .object(headers.map { ($0.field, .string(fields[$0.field] ?? "")) })
        }
        out(try format.render(values, headers: headers))
        return 0
    }

    /// Docker's `network inspect` shape.
    struct Inspection: Codable {
        struct IPAMConfig: Codable { var Subnet: String; var IPRange: String?; var Gateway: String }
        struct IPAMSection: Codable { var Driver: String; var Config: [IPAMConfig] }
        struct Endpoint: Codable { var Name: String; var MacAddress: String; var IPv4Address: String; var IPv6Address: String }
        var Name: String
        var Id: String
        var Created: String
        var Scope: String
        var Driver: String
        var EnableIPv6: Bool
        var IPAM: IPAMSection
        var Internal: Bool
        var Containers: [String: Endpoint]
        var Options: [String: String]
        var Labels: [String: String]
    }

    static func inspection(_ reference: String, engine: Engine) throws -> Inspection {
        let all = engine.containers.all()
        func endpoints(_ mode: String) -> [String: Inspection.Endpoint] {
            var result: [String: Inspection.Endpoint] = [:]
            for record in all where record.isRunning {
                let attachment = record.networkMode == mode ? record.network : (record.extraNetworks ?? []).first { $0.network == mode }
                guard let attachment else { continue }
                result[record.id] = .init(Name: record.name, MacAddress: attachment.mac, IPv4Address: "\(attachment.address)/\(attachment.prefixLength)",
                                          IPv6Address: attachment.address6.map { "\($0)/\(attachment.prefixLength6 ?? 64)" } ?? "")
            }
            return result
        }
        if let builtIn = builtIn.first(where: { $0.name == reference || builtInID($0.name).hasPrefix(reference) && reference.count >= 3 }) {
            let ipam = builtIn.name == "bridge" ? [Inspection.IPAMConfig(Subnet: Engine.bridge.subnet.description, Gateway: Engine.bridge.gateway.description)] : []
            return Inspection(Name: builtIn.name, Id: builtInID(builtIn.name), Created: "", Scope: "local", Driver: builtIn.driver, EnableIPv6: false,
                              IPAM: .init(Driver: "default", Config: ipam), Internal: false, Containers: endpoints(builtIn.name),
                              Options: builtIn.name == "bridge" ? ["com.docker.network.bridge.name": Engine.bridge.name] : [:], Labels: [:])
        }
        let record = try engine.networks.load(reference)
        let ipam6 = record.ipv6.map { [Inspection.IPAMConfig(Subnet: $0.subnet.description, Gateway: $0.gateway.description)] } ?? []
        return Inspection(Name: record.Name, Id: record.Id, Created: record.Created, Scope: "local", Driver: record.Driver, EnableIPv6: record.ipv6 != nil,
                          IPAM: .init(Driver: "default", Config: [.init(Subnet: record.Subnet, IPRange: record.IPRange, Gateway: record.Gateway)] + ipam6), Internal: record.Internal,
                          Containers: endpoints(record.Name), Options: ["com.docker.network.bridge.name": record.Bridge], Labels: record.Labels)
    }

    static let inspect = Command(
        name: "network inspect", usage: "network inspect [OPTIONS] NETWORK [NETWORK...]", summary: "Display detailed information on one or more networks",
        options: [OptionSpec(["-f", "--format"], "string", "Format output using a custom template: 'json' or a Go template", key: "format")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"network inspect\" requires at least 1 argument: NETWORK") }
        return try ObjectInspection(format: args.value("format")).print(args.positionals) { try JSON.encodeValue(try inspection($0, engine: context.engine)) }
    }

    static let connect = Command(
        name: "network connect", usage: "network connect [OPTIONS] NETWORK CONTAINER", summary: "Connect a container to a network",
        options: [OptionSpec(["--alias"], "list", "Add network-scoped alias for the container (repeatable)"), OptionSpec(["--ip"], "string", "IPv4 address (e.g., \"172.30.100.104\")"),
                  OptionSpec(["--ip6"], "string", "IPv6 address (e.g., \"2001:db8::33\"), on a network made with --ipv6")]
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"network connect\" requires exactly 2 arguments: NETWORK CONTAINER") }
        try context.engine.connectNetwork(args.positionals[0], args.positionals[1], aliases: args.values["alias"] ?? [], address: args.value("ip"),
                                          address6: args.value("ip6"))
        return 0
    }

    static let disconnect = Command(
        name: "network disconnect", usage: "network disconnect NETWORK CONTAINER", summary: "Disconnect a container from a network",
        options: [OptionSpec(["-f", "--force"], nil, "Force the container to disconnect from a network")]
    ) { args, context in
        guard args.positionals.count == 2 else { throw UsageError("\"network disconnect\" requires exactly 2 arguments: NETWORK CONTAINER") }
        try context.engine.disconnectNetwork(args.positionals[0], args.positionals[1])
        return 0
    }

    static let remove = Command(
        name: "network rm", usage: "network rm NETWORK [NETWORK...]", summary: "Remove one or more networks",
        options: [OptionSpec(["-f", "--force"], nil, "Do not error if the network does not exist")]
    ) { args, context in
        guard !args.positionals.isEmpty else { throw UsageError("\"network rm\" requires at least 1 argument: NETWORK") }
        return LifecycleCommands.each(args.positionals, verb: "network rm") { reference in
            if builtIn.contains(where: { $0.name == reference }) { throw UsageError("\(reference) is a pre-defined network and cannot be removed") }
            do { try context.engine.removeNetwork(reference) } catch let error as EngineError where args.has("force") && "\(error)".hasSuffix("not found") {}
        }
    }

    static let prune = Command(
        name: "network prune", usage: "network prune [-f] [--filter until=…|label=…]", summary: "Remove all unused networks",
        options: [OptionSpec(["-f", "--force"], nil, "Do not prompt for confirmation"),
                  OptionSpec(["--filter"], "filter", "Provide filter values (until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE])")]
    ) { args, context in
        guard args.positionals.isEmpty else { throw UsageError("\"network prune\" accepts no arguments") }
        let filter = try PruneFilter(args.values["filter"] ?? [])
        try Engine.requireRoot()
        let engine = context.engine
        engine.containers.reconcile()
        var removed: [String] = []
        for record in engine.networks.all() where engine.users(ofNetwork: record).isEmpty && filter.matches(created: record.Created, labels: record.Labels) {
            if (try? engine.removeNetwork(record.Name)) != nil { removed.append(record.Name) }
        }
        out(removed.isEmpty ? "" : "Deleted Networks:\n" + removed.sorted().map { $0 + "\n" }.joined())
        return 0
    }
}
