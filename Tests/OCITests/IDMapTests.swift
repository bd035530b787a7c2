import Testing
@testable import OCI

/// User namespace maps: the kernel's lookup rules, and keep-id's nested map (issue #21).
@Suite struct IDMapTests {
    /// The rootless namespace as newuidmap writes it: the user, then a subordinate range.
    let rootless = IDMap(procText: "         0       1001          1\n         1    3000000      65536\n")!

    @Test func parsesProcTextAndLooksUpBothWays() {
        #expect(rootless.ranges == [IDMapping(containerID: 0, hostID: 1001, size: 1), IDMapping(containerID: 1, hostID: 3_000_000, size: 65536)])
        #expect(rootless.outside(0) == 1001 && rootless.outside(1) == 3_000_000 && rootless.outside(65536) == 3_065_535)
        #expect(rootless.outside(65537) == nil)
        #expect(rootless.inside(3_000_999) == 1000 && rootless.inside(1001) == 0 && rootless.inside(1002) == nil)
        #expect(rootless.contiguousSize == 65537)
        #expect(IDMap(procText: "0 1001\n") == nil && IDMap(procText: "a b c\n") == nil)
        // The host's own map, whole: no overflow at the top of the id space.
        let host = IDMap(procText: "0 0 4294967295\n")!
        #expect(host.outside(4_294_967_294) == 4_294_967_294 && host.isIdentity)
    }

    /// keep-id for uid 1001 in a namespace of 65537 ids: 1001 is the parent's 0 (the user), the
    /// ids below it the parent's 1…1001, those above themselves; every parent id used once.
    @Test func keepingAnIDMovesTheIDsBelowItUpByOne() throws {
        let map = try #require(IDMap.keepingID(1001, parentSize: 65537))
        #expect(map.description == "0 1 1001\n1001 0 1\n1002 1002 64535")
        #expect(map.outside(1001) == 0 && map.outside(0) == 1 && map.outside(1000) == 1001 && map.outside(1002) == 1002 && map.outside(65536) == 65536)
        #expect(map.outside(65537) == nil)
        #expect(Set((0..<65537).compactMap { map.outside(UInt32($0)) }).count == 65537)
        // Image files seen through the map and back keep their ids.
        for id: UInt32 in [0, 1, 999, 1000, 1001, 1002, 65536] { #expect(map.inside(map.outside(id)!) == id) }
        #expect(!map.isIdentity)
    }

    @Test func keepingEdgeCases() {
        #expect(IDMap.keepingID(0, parentSize: 65537)?.isIdentity == true)
        #expect(IDMap.keepingID(65536, parentSize: 65537)?.description == "0 1 65536\n65536 0 1")
        #expect(IDMap.keepingID(65537, parentSize: 65537) == nil)
        #expect(IDMap.keepingID(1001, parentSize: 1) == nil, "a single-id namespace has no room for the image's root")
        let maps = IDMaps(uid: IDMap.keepingID(1001, parentSize: 65537)!, gid: IDMap.keepingID(100, parentSize: 65537)!)
        #expect(maps.outside(uid: 0, gid: 0)! == (1, 1) && maps.outside(uid: 1001, gid: 100)! == (0, 0))
        #expect(maps.inside(uid: 0, gid: 0) == (1001, 100) && maps.inside(uid: 70000, gid: 70000) == (65534, 65534))
    }
}
