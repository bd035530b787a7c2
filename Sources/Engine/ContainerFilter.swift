import Containers
import Images
#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// One container as `ps` lists and filters it: the record and what is read beside it.
public struct ContainerListEntry {
    public var record: ContainerRecord
    /// Docker's State: created, running, paused, restarting, exited, dead.
    public var state: String
    /// starting, healthy, unhealthy; none without a health check.
    public var health: String
    /// The user mounts (the volume filter matches a source or a destination).
    public var mounts: [(source: String, destination: String)]
}

/// One `--filter KEY=VALUE` argument, its key one the command knows (Docker's "invalid filter").
public enum FilterSpec {
    public static func split(_ spec: String, keys: [String]) throws -> (key: String, value: String) {
        guard let equals = spec.firstIndex(of: "="), equals != spec.startIndex else {
            throw EngineError.invalidOption("invalid filter '\(Printable.escaped(spec))': filters are KEY=VALUE")
        }
        let key = String(spec[..<equals]).lowercased(), value = String(spec[spec.index(after: equals)...])
        guard keys.contains(key) else { throw EngineError.invalidOption("invalid filter '\(Printable.escaped(key))'") }
        return (key, value)
    }
}

/// `ps --filter KEY=VALUE`, Docker's keys and meaning: the values of one key are alternatives,
/// different keys must all match.
public struct ContainerFilter {
    public static let keys = ["ancestor", "before", "exited", "expose", "health", "id", "label", "name", "network", "publish", "since", "status", "volume"]
    static let states = ["created", "restarting", "running", "removing", "paused", "exited", "dead"]
    static let healthStates = ["starting", "healthy", "unhealthy", "none"]

    private var terms: [String: [String]] = [:]
    /// before/since resolved to the creation time of the container they name.
    private var createdBefore: String?
    private var createdAfter: String?

    /// `find` resolves the container named by before= and since=.
    public init(_ specs: [String], find: (String) throws -> ContainerRecord) throws {
        for spec in specs {
            let (key, value) = try FilterSpec.split(spec, keys: Self.keys)
            switch key {
            case "status":
                guard Self.states.contains(value) else {
                    throw EngineError.invalidOption("invalid filter 'status=\(Printable.escaped(value))': status is one of \(Self.states.joined(separator: ", "))")
                }
            case "health":
                guard Self.healthStates.contains(value) else {
                    throw EngineError.invalidOption("invalid filter 'health=\(Printable.escaped(value))': health is one of \(Self.healthStates.joined(separator: ", "))")
                }
            case "exited":
                guard Int32(value) != nil else { throw EngineError.invalidOption("invalid filter 'exited=\(Printable.escaped(value))': an exit code is an integer") }
            case "publish", "expose":
                _ = try Self.portRange(value, key: key)
            case "before": createdBefore = try find(value).created
            case "since": createdAfter = try find(value).created
            default: break
            }
            terms[key, default: []].append(value)
        }
    }

    /// Docker lists containers of every state when a status (or exited) filter asks for them.
    public var selectsStopped: Bool { terms["status"] != nil || terms["exited"] != nil || createdBefore != nil || createdAfter != nil }

    public func matches(_ entry: ContainerListEntry) -> Bool {
        let record = entry.record
        func any(_ key: String, _ test: (String) -> Bool) -> Bool { terms[key].map { $0.contains(where: test) } ?? true }
        if let before = createdBefore, !(record.created < before) { return false }
        if let after = createdAfter, !(record.created > after) { return false }
        return any("status") { $0 == entry.state }
            && any("id") { record.id.hasPrefix($0) }
            && any("name") { Self.nameMatches(record.name, pattern: $0) }
            // Label filters all have to match (Docker's MatchKVList), unlike the other keys.
            && (terms["label"] ?? []).allSatisfy { Self.labelMatches(record.labels ?? [:], $0) }
            && any("ancestor") { Self.imageMatches(record, $0) }
            && any("exited") { record.status == .exited && record.exitCode == Int32($0) }
            && any("health") { $0 == entry.health }
            && any("network") { $0 == (record.networkMode ?? "bridge") }
            && any("volume") { path in (record.volumes ?? []).contains(path) || entry.mounts.contains { $0.source == path || $0.destination == path } }
            && any("publish") { spec in
                guard record.isRunning, let (range, proto) = try? Self.portRange(spec, key: "publish") else { return false }
                return (record.network?.ports ?? []).contains { range.contains(Int($0.hostPort)) && (proto == nil || proto == $0.proto) }
            }
            && any("expose") { spec in
                guard let (range, proto) = try? Self.portRange(spec, key: "expose") else { return false }
                return (record.exposedPorts ?? []).contains { key in
                    let parts = key.split(separator: "/")
                    return Int(parts[0]).map(range.contains) == true && (proto == nil || parts.count < 2 || proto == String(parts[1]))
                }
            }
    }

    /// Docker matches names as a regular expression; the forms scripts use are a substring
    /// with optional ^ and $ anchors, which is what is matched here.
    static func nameMatches(_ name: String, pattern: String) -> Bool {
        var body = pattern
        let anchoredStart = body.hasPrefix("^"), anchoredEnd = body.hasSuffix("$") && !body.hasSuffix("\\$")
        if anchoredStart { body.removeFirst() }
        if anchoredEnd { body.removeLast() }
        if anchoredStart && anchoredEnd { return name == body }
        if anchoredStart { return name.hasPrefix(body) }
        if anchoredEnd { return name.hasSuffix(body) }
        return body.isEmpty || name.contains(body)
    }

    public static func labelMatches(_ labels: [String: String], _ spec: String) -> Bool {
        guard let equals = spec.firstIndex(of: "=") else { return labels[spec] != nil }
        return labels[String(spec[..<equals])] == String(spec[spec.index(after: equals)...])
    }

    /// By name (a missing tag is latest), or by image id or its prefix.
    static func imageMatches(_ record: ContainerRecord, _ spec: String) -> Bool {
        // "busybox" and "busybox:latest" name one image (a tag is after the last slash).
        func tagged(_ name: String) -> String { name.split(separator: "/").last?.contains(":") == true ? name : name + ":latest" }
        let bareID = record.imageID.hasPrefix("sha256:") ? String(record.imageID.dropFirst(7)) : record.imageID
        return (!spec.hasPrefix("sha256:") && tagged(record.image) == tagged(spec)) || record.imageID == spec
            || (spec.count >= 4 && (bareID.hasPrefix(spec) || record.imageID.hasPrefix(spec)))
    }

    /// "80", "80/tcp", "8000-8080/udp".
    static func portRange(_ spec: String, key: String) throws -> (ClosedRange<Int>, String?) {
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
        let proto = parts.count > 1 ? String(parts[1]) : nil
        let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count <= 2, proto.map({ ["tcp", "udp", "sctp"].contains($0) }) ?? true,
              let low = bounds.first ?? nil, let high = bounds.last ?? nil, bounds.count <= 2,
              (1...65535).contains(low), (low...65535).contains(high) else {
            throw EngineError.invalidOption("invalid filter '\(key)=\(Printable.escaped(spec))': a port is PORT[-PORT][/PROTO]")
        }
        return (low...high, proto)
    }
}

extension Engine {
    /// Docker's State word for the container (inspect's State.Status, ps's filter).
    public func stateName(of record: ContainerRecord) -> String {
        let running = record.isRunning
        if running { return isPaused(record) ? "paused" : "running" }
        if record.restarting == true { return "restarting" }
        return record.status == .created ? "created" : record.status == .running ? "dead" : "exited"
    }

    public func listEntry(_ record: ContainerRecord, withMounts: Bool) -> ContainerListEntry {
        var mounts: [(source: String, destination: String)] = []
        if withMounts, let spec = try? ContainerRuntime.readSpec(bundle: paths.container(record.id)) {
            mounts = userMounts(of: spec).map { ($0.source ?? "", $0.destination) }
        }
        return ContainerListEntry(record: record, state: stateName(of: record), health: health(of: record)?.Status ?? "none", mounts: mounts)
    }
}

/// `images --filter KEY=VALUE`: dangling, label, reference (a glob over NAME[:TAG]), before
/// and since (an image).
public struct ImageFilter {
    public static let keys = ["before", "dangling", "label", "reference", "since"]
    private var terms: [String: [String]] = [:]
    private var createdBefore: String?
    private var createdAfter: String?

    public init(_ specs: [String], find: (String) throws -> ImageRecord) throws {
        for spec in specs {
            let (key, value) = try FilterSpec.split(spec, keys: Self.keys)
            switch key {
            case "dangling":
                guard ["true", "false", "1", "0"].contains(value.lowercased()) else {
                    throw EngineError.invalidOption("invalid filter 'dangling=\(Printable.escaped(value))': dangling is true or false")
                }
            case "before": createdBefore = try find(value).created
            case "since": createdAfter = try find(value).created
            default: break
            }
            terms[key, default: []].append(value)
        }
    }

    /// The tags of the image this filter shows (all of them, or those the reference globs
    /// match); nil when the image is not shown at all.
    public func matchingTags(_ record: ImageRecord, tags: [ImageReference]) -> [ImageReference]? {
        if let before = createdBefore, !(record.created < before) { return nil }
        if let after = createdAfter, !(record.created > after) { return nil }
        if let dangling = terms["dangling"]?.last.map({ ["true", "1"].contains($0.lowercased()) }), dangling != tags.isEmpty { return nil }
        if let labels = terms["label"], !labels.allSatisfy({ ContainerFilter.labelMatches(record.config.labels ?? [:], $0) }) { return nil }
        guard let patterns = terms["reference"] else { return tags }
        let matched = tags.filter { tag in
            patterns.contains { pattern in
                // Docker matches the familiar name, with and without the tag.
                [tag.description, tag.name].contains { (name: String) in fnmatch(pattern, name, 0) == 0 }
            }
        }
        return matched.isEmpty ? nil : matched
    }
}

/// The filters of Docker's prune commands: `until=` (a Unix time, an RFC 3339 time or a
/// duration before now) and `label=` / `label!=` (KEY or KEY=VALUE).
public struct PruneFilter {
    private var until: Int?
    private var labels: [String] = []
    private var withoutLabels: [String] = []

    public init() {}

    public init(_ specs: [String]) throws {
        for spec in specs {
            if spec.hasPrefix("label!=") {
                withoutLabels.append(String(spec.dropFirst("label!=".count)))
            } else if spec.hasPrefix("label=") {
                labels.append(String(spec.dropFirst("label=".count)))
            } else if spec.hasPrefix("until=") {
                until = try Self.time(String(spec.dropFirst("until=".count)))
            } else {
                let key = spec.split(separator: "=", maxSplits: 1).first.map(String.init) ?? spec
                throw EngineError.invalidOption("invalid filter '\(Printable.escaped(key))': prune takes until and label")
            }
        }
    }

    /// Seconds since the epoch.
    public static func time(_ text: String) throws -> Int {
        let whole = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        if let seconds = Int(whole[0]), whole.count == 1 || whole[1].allSatisfy(\.isNumber) { return seconds }
        // A date ("2026-12-01", "2026-12-01T10:00:00Z"): a duration never has a "-" inside.
        if text.dropFirst().contains("-"), let seconds = Clock.epochSeconds(rfc3339: text + (text.contains("T") ? "" : "T00:00:00Z")) { return seconds }
        if let nanoseconds = try? DockerFlagValues.duration(text, flag: "--filter until") {
            return Clock.now().tv_sec - Int(nanoseconds / 1_000_000_000)
        }
        throw EngineError.invalidOption("invalid filter 'until=\(Printable.escaped(text))': a Unix time, an RFC 3339 time or a duration such as 24h")
    }

    public func matches(created: String, labels present: [String: String]) -> Bool {
        if let until, let seconds = Clock.epochSeconds(rfc3339: created), seconds >= until { return false }
        return labels.allSatisfy { ContainerFilter.labelMatches(present, $0) } && !withoutLabels.contains { ContainerFilter.labelMatches(present, $0) }
    }
}
