#if canImport(Glibc)
import Glibc
#endif
import Images
import JSONKit
import LinuxKit

/// One event, in Docker's shape (what `docker events --format '{{json .}}'` prints).
public struct Event: Codable, Equatable {
    public struct Actor: Codable, Equatable {
        public var ID: String
        public var Attributes: [String: String]
    }
    public var status: String?
    public var id: String?
    public var from: String?
    public var `Type`: String
    public var Action: String
    public var Actor: Actor
    public var scope: String
    public var time: Int
    public var timeNano: Int
}

/// The event log: no daemon holds events, so whichever process makes a change appends a line
/// (O_APPEND: one write per event, so lines from concurrent writers never interleave) to
/// <data>/events.json, and `events` reads and follows it. Bounded: past `limit` bytes the
/// file becomes events.json.1 (the one before is dropped), so two files at most.
public struct EventLog {
    public let path: String
    public static let limit = 1 << 20

    public init(path: String) { self.path = path }

    /// One write for all of `events` (lines of one write never interleave with another's).
    public func append(_ events: [Event]) {
        var lines: [UInt8] = []
        for event in events {
            guard let encoded = try? JSON.encode(event) else { continue }
            lines += encoded + [0x0A]
        }
        guard !lines.isEmpty else { return }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        // Rotation under an exclusive lock of the file, so two writers do not both rename.
        if fstat(fd, &info) == 0, Int(info.st_size) + lines.count > Self.limit, flock(fd, LOCK_EX) == 0 {
            var current = stat()
            // Still the file at `path` (nobody rotated it while we waited)?
            if stat(path, &current) == 0, current.st_ino == info.st_ino {
                Glibc.rename(path, path + ".1")
            }
            flock(fd, LOCK_UN)
            let fresh = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            if fresh >= 0 {
                _ = lines.withUnsafeBytes { write(fresh, $0.baseAddress, $0.count) }
                close(fresh)
                return
            }
        }
        _ = lines.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The events of both files, oldest first, with the position reached in the current one.
    public func readAll() -> (events: [Event], inode: UInt64, offset: Int) {
        var events = Self.parse((try? Files.read(path + ".1")) ?? [])
        var info = stat()
        let bytes = (try? Files.read(path)) ?? []
        events += Self.parse(bytes)
        let inode = stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
        return (events, inode, Self.completeLength(bytes))
    }

    /// Events appended since (`inode`, `offset`); a rotation starts the new file from 0.
    public func read(after inode: UInt64, offset: Int) -> (events: [Event], inode: UInt64, offset: Int) {
        var info = stat()
        guard stat(path, &info) == 0 else { return ([], inode, offset) }
        if UInt64(info.st_ino) != inode {
            // Rotated: the rest of the old file (now .1), then the new one from its start.
            let old = (try? Files.read(path + ".1")) ?? []
            let rest = offset < old.count ? Array(old[offset...]) : []
            let current = (try? Files.read(path)) ?? []
            return (Self.parse(rest) + Self.parse(current), UInt64(info.st_ino), Self.completeLength(current))
        }
        guard Int(info.st_size) > offset, let fd = try? FileDescriptor.open(path, O_RDONLY | O_CLOEXEC) else { return ([], inode, offset) }
        defer { fd.close() }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) - offset)
        let count = bytes.withUnsafeMutableBytes { pread(fd.raw, $0.baseAddress, $0.count, off_t(offset)) }
        guard count > 0 else { return ([], inode, offset) }
        let complete = Self.completeLength(Array(bytes[..<count]))
        return (Self.parse(Array(bytes[..<complete])), inode, offset + complete)
    }

    /// Up to the last newline: a line being written is read once it is whole.
    static func completeLength(_ bytes: [UInt8]) -> Int {
        (bytes.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
    }

    static func parse(_ bytes: [UInt8]) -> [Event] {
        bytes[..<completeLength(bytes)].split(separator: 0x0A).compactMap { try? JSON.decode(Event.self, from: Array($0)) }
    }
}

extension Engine {
    public var eventLog: EventLog { EventLog(path: paths.data + "/events.json") }

    /// Appends a container event; never fails the operation it reports.
    func containerEvent(_ action: String, _ record: ContainerRecord, _ extra: [String: String] = [:]) {
        containerEvents([action], record, extra)
    }

    /// Several events of one container at once (exec_create and exec_start), in one write.
    func containerEvents(_ actions: [String], _ record: ContainerRecord, _ extra: [String: String] = [:]) {
        var attributes = (record.labels ?? [:]).merging(["image": record.image, "name": record.name]) { $1 }
        attributes.merge(extra) { $1 }
        eventLog.append(actions.map { event(type: "container", action: $0, id: record.id, from: record.image, attributes: attributes) })
    }

    func imageEvent(_ action: String, id: String, name: String) {
        emit(type: "image", action: action, id: id, from: nil, attributes: ["name": name])
    }

    /// A network made, removed, or a container connected to or disconnected from it.
    func networkEvent(_ action: String, id: String, name: String, container: String? = nil) {
        emit(type: "network", action: action, id: id, from: nil, attributes: ["name": name, "type": "bridge"].merging(container.map { ["container": $0] } ?? [:]) { $1 })
    }

    /// A volume made or removed (Docker's "create" and "destroy" of type volume).
    public func volumeEvent(_ action: String, name: String) {
        emit(type: "volume", action: action, id: name, from: nil, attributes: ["driver": "local"])
    }

    private func emit(type: String, action: String, id: String, from: String?, attributes: [String: String]) {
        eventLog.append([event(type: type, action: action, id: id, from: from, attributes: attributes)])
    }

    private func event(type: String, action: String, id: String, from: String?, attributes: [String: String]) -> Event {
        let now = Clock.now()
        let nanoseconds = Int(now.tv_sec) * 1_000_000_000 + Int(now.tv_nsec)
        // The legacy status/id/from fields are Docker's for containers (and images).
        return Event(status: action, id: id, from: from, Type: type, Action: action, Actor: .init(ID: id, Attributes: attributes),
                     scope: "local", time: Int(now.tv_sec), timeNano: nanoseconds)
    }
}

/// `events --filter`: type, event (action), container, image, label; values of a key are
/// alternatives, keys all apply.
public struct EventFilter {
    public static let keys = ["container", "event", "image", "label", "network", "type", "volume"]
    private var terms: [String: [String]] = [:]

    public init(_ specs: [String]) throws {
        for spec in specs {
            let (key, value) = try FilterSpec.split(spec, keys: Self.keys)
            terms[key, default: []].append(value)
        }
    }

    public func matches(_ event: Event) -> Bool {
        func any(_ key: String, _ test: (String) -> Bool) -> Bool { terms[key].map { $0.contains(where: test) } ?? true }
        let name = event.Actor.Attributes["name"] ?? ""
        return any("type") { $0 == event.Type }
            // "exec_start" is how Docker's filter names "exec_start: sh"; health_status likewise.
            && any("event") { $0 == event.Action || event.Action.hasPrefix($0 + ":") }
            && any("container") { event.Type == "container" && ($0 == name || (!$0.isEmpty && event.Actor.ID.hasPrefix($0))) }
            && any("image") { $0 == event.from || $0 == event.Actor.Attributes["image"] || (event.Type == "image" && ($0 == name || event.Actor.ID.hasPrefix($0))) }
            && any("volume") { event.Type == "volume" && $0 == event.Actor.ID }
            && any("network") { event.Type == "network" && ($0 == event.Actor.Attributes["name"] || event.Actor.ID.hasPrefix($0)) }
            && (terms["label"] ?? []).allSatisfy { ContainerFilter.labelMatches(event.Actor.Attributes, $0) }
    }
}

extension Engine {
    /// `rmi` and `image prune` report "Untagged: NAME" and "Deleted: ID" lines: each is an
    /// untag or delete event.
    public func imageRemovalEvents(_ lines: [String]) {
        for line in lines {
            if line.hasPrefix("Untagged: ") {
                let name = String(line.dropFirst("Untagged: ".count))
                imageEvent("untag", id: (try? resolveLocally(name))?.id ?? name, name: name)
            } else if line.hasPrefix("Deleted: ") {
                let id = String(line.dropFirst("Deleted: ".count))
                imageEvent("delete", id: id, name: id)
            }
        }
    }

    /// `events`: the logged events from `since` (nil: only those from now on) up to `until`
    /// (nil: follow until killed), filtered, each handed to `emit` as it comes.
    public func events(since: Int?, until: Int?, filter: EventFilter, emit: (Event) -> Void) {
        let log = eventLog
        var (past, inode, offset) = log.readAll()
        if since == nil { past = [] }
        func deliver(_ events: [Event]) -> Bool {
            for event in events where filter.matches(event) && event.time >= (since ?? 0) {
                if let until, event.time > until { return false }
                emit(event)
            }
            return true
        }
        guard deliver(past) else { return }
        while true {
            if let until, Clock.now().tv_sec > until { return }
            let (more, nextInode, nextOffset) = log.read(after: inode, offset: offset)
            (inode, offset) = (nextInode, nextOffset)
            guard deliver(more) else { return }
            usleep(100_000)
        }
    }
}
