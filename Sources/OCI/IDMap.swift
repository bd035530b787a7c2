/// One direction (uids or gids) of a user namespace's mapping, as the lines of
/// `/proc/PID/uid_map` say it: ranges of ids inside the namespace and where they are in its
/// parent. The kernel's rules: a line maps `size` ids from `containerID` on to `hostID` on; ids
/// no range covers are unmapped (seen as the overflow id, 65534).
/// Its lines are the OCI runtime spec's linux.uidMappings entries, which say the same thing.
public struct IDMap: Equatable, Sendable, CustomStringConvertible {
    public var ranges: [IDMapping]

    public init(_ ranges: [IDMapping]) { self.ranges = ranges }

    /// The text of a `uid_map`/`gid_map` file ("INSIDE OUTSIDE COUNT" per line); nil when a
    /// line is not three numbers.
    public init?(procText: String) {
        var ranges: [IDMapping] = []
        for line in procText.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 3, let inside = UInt32(fields[0]), let outside = UInt32(fields[1]), let count = UInt32(fields[2]) else { return nil }
            ranges.append(IDMapping(containerID: inside, hostID: outside, size: count))
        }
        self.ranges = ranges
    }

    /// Where `id` of the namespace is in its parent.
    public func outside(_ id: UInt32) -> UInt32? {
        for range in ranges where id >= range.containerID && UInt64(id) < UInt64(range.containerID) + UInt64(range.size) {
            return range.hostID + (id - range.containerID)
        }
        return nil
    }

    /// Which id of the namespace `id` of its parent is.
    public func inside(_ id: UInt32) -> UInt32? {
        for range in ranges where id >= range.hostID && UInt64(id) < UInt64(range.hostID) + UInt64(range.size) {
            return range.containerID + (id - range.hostID)
        }
        return nil
    }

    /// Ids `0..<size` of the namespace are mapped (how the rootless namespace's are: the user,
    /// then the subordinate ranges) — the number of ids a nested namespace can map.
    public var contiguousSize: UInt32 {
        var size: UInt64 = 0
        while let range = ranges.first(where: { UInt64($0.containerID) == size && $0.size > 0 }) { size += UInt64(range.size) }
        return UInt32(min(size, UInt64(UInt32.max)))
    }

    /// Podman's `--userns keep-id`, for a nested namespace in a parent whose ids `0..<parentSize`
    /// are mapped and whose 0 is the user: `id` inside is the parent's 0 (the user), ids below
    /// it are the parent's 1…id, ids above it are themselves. Every id of the parent stays in
    /// use, so the image's ids keep a place; nil when `id` does not fit below `parentSize`.
    public static func keepingID(_ id: UInt32, parentSize: UInt32) -> IDMap? {
        guard parentSize >= 2, id < parentSize else { return nil }
        var ranges: [IDMapping] = []
        if id > 0 { ranges.append(IDMapping(containerID: 0, hostID: 1, size: id)) }
        ranges.append(IDMapping(containerID: id, hostID: 0, size: 1))
        if id + 1 < parentSize { ranges.append(IDMapping(containerID: id + 1, hostID: id + 1, size: parentSize - id - 1)) }
        return IDMap(ranges)
    }

    /// Every id is itself in the parent.
    public var isIdentity: Bool { ranges.allSatisfy { $0.containerID == $0.hostID } }

    /// The map file's text, one line per range.
    public var description: String { ranges.map { "\($0.containerID) \($0.hostID) \($0.size)" }.joined(separator: "\n") }
}

/// A user namespace's two maps: where its file owners are in its parent.
public struct IDMaps: Equatable, Sendable {
    public var uid: IDMap
    public var gid: IDMap

    public init(uid: IDMap, gid: IDMap) {
        self.uid = uid
        self.gid = gid
    }

    public var isIdentity: Bool { uid.isIdentity && gid.isIdentity }

    /// The parent's owner of a file the namespace sees as `uid`:`gid`; nil when either is unmapped.
    public func outside(uid: UInt32, gid: UInt32) -> (uid: UInt32, gid: UInt32)? {
        guard let u = self.uid.outside(uid), let g = self.gid.outside(gid) else { return nil }
        return (u, g)
    }

    /// How the namespace sees a file the parent has owned by `uid`:`gid`: unmapped ids are
    /// the overflow id 65534, as the kernel shows them.
    public func inside(uid: UInt32, gid: UInt32) -> (uid: UInt32, gid: UInt32) {
        (self.uid.inside(uid) ?? 65534, self.gid.inside(gid) ?? 65534)
    }
}
