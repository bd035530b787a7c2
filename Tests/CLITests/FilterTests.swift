import Testing
@testable import Engine
import Images
import LinuxKit

/// --filter for ps, images, events and prune, as Docker documents them, without root: the
/// parsers and the matching over records.
@Suite struct FilterTests {
    static func container(_ name: String, id: String, image: String = "busybox", created: String, status: ContainerRecord.Status = .exited,
                   exitCode: Int32? = 0, labels: [String: String]? = nil, exposed: [String]? = nil) -> ContainerListEntry {
        var record = ContainerRecord(id: id, name: name, image: image, imageID: "sha256:" + String(repeating: "ab", count: 32), command: ["sh"],
                                     created: created, status: status, exitCode: exitCode, error: nil, startedAt: nil, finishedAt: nil, autoRemove: false)
        record.labels = labels
        record.exposedPorts = exposed
        return ContainerListEntry(record: record, state: status == .created ? "created" : "exited", health: "none", mounts: [("/srv/data", "/data")])
    }

    let web = FilterTests.sample("web", "aaa111", "2026-12-01T10:00:00Z", labels: ["tier": "front", "team": "a"], exposed: ["80/tcp"])
    let db = FilterTests.sample("db", "bbb222", "2026-12-01T11:00:00Z", exitCode: 3, labels: ["tier": "back"])

    static func sample(_ name: String, _ id: String, _ created: String, exitCode: Int32 = 0, labels: [String: String], exposed: [String]? = nil) -> ContainerListEntry {
        container(name, id: id, created: created, exitCode: exitCode, labels: labels, exposed: exposed)
    }

    func matching(_ specs: [String]) throws -> [String] {
        let all = [web, db]
        let filter = try ContainerFilter(specs) { reference in
            guard let found = all.first(where: { $0.record.name == reference }) else { throw EngineError.containerNotFound(reference) }
            return found.record
        }
        return all.filter { filter.matches($0) }.map(\.record.name)
    }

    @Test(arguments: [
        (["name=web"], ["web"]), (["name=^w"], ["web"]), (["name=eb$"], ["web"]), (["name=^db$"], ["db"]), (["name=e"], ["web"]),
        (["id=bbb"], ["db"]), (["label=tier"], ["web", "db"]), (["label=tier=back"], ["db"]),
        (["label=tier", "label=team=a"], ["web"]),            // labels all apply
        (["name=web", "name=db"], ["web", "db"]),             // one key's values are alternatives
        (["exited=3"], ["db"]), (["exited=0"], ["web"]), (["status=exited", "name=web"], ["web"]), (["status=running"], []),
        (["ancestor=busybox"], ["web", "db"]), (["ancestor=busybox:latest"], ["web", "db"]), (["ancestor=abababab"], ["web", "db"]),
        (["ancestor=alpine"], []), (["before=db"], ["web"]), (["since=web"], ["db"]), (["health=none"], ["web", "db"]),
        (["expose=80"], ["web"]), (["expose=80/udp"], []), (["expose=70-90/tcp"], ["web"]), (["volume=/data"], ["web", "db"]),
        (["volume=/srv/data"], ["web", "db"]), (["volume=/other"], []), (["network=bridge"], ["web", "db"]),
    ])
    func psFiltersMatchAsDockersDo(specs: [String], expected: [String]) throws {
        #expect(try matching(specs) == expected, "\(specs)")
    }

    @Test(arguments: ["colour=red", "status=sleeping", "health=fine", "exited=x", "publish=99999", "expose=80/icmp", "noequals", "=x", "before=nosuch"])
    func badPsFiltersAreRefused(spec: String) {
        #expect(throws: EngineError.self) { try matching([spec]) }
    }

    @Test func statusAndExitedFiltersListStoppedContainersWithoutAll() throws {
        #expect(try ContainerFilter(["status=exited"]) { _ in throw EngineError.containerNotFound("") }.selectsStopped)
        #expect(try !ContainerFilter(["label=x"]) { _ in throw EngineError.containerNotFound("") }.selectsStopped)
    }

    @Test func imageFiltersSelectTagsByGlobDanglingAndLabel() throws {
        var config = ImageConfig(env: [], cmd: ["sh"], workingDir: "/")
        config.labels = ["org": "x"]
        let record = ImageRecord(id: "sha256:" + String(repeating: "cd", count: 32), created: "2026-12-01T10:00:00Z", size: 1, source: "test", config: config)
        let tags = [try ImageReference(parsing: "busybox:latest"), try ImageReference(parsing: "localhost/app:v1")]
        func shown(_ specs: [String], _ tags: [ImageReference]) throws -> [String]? {
            try ImageFilter(specs) { _ in record }.matchingTags(record, tags: tags)?.map(\.description)
        }
        #expect(try shown(["reference=busy*"], tags) == ["busybox:latest"])
        #expect(try shown(["reference=*:v1"], tags) == ["localhost/app:v1"])
        #expect(try shown(["reference=localhost/*"], tags) == ["localhost/app:v1"])
        #expect(try shown(["reference=nothing*"], tags) == nil)
        #expect(try shown(["dangling=true"], tags) == nil)
        #expect(try shown(["dangling=true"], []) == [])
        #expect(try shown(["dangling=false"], tags)?.count == 2)
        #expect(try shown(["label=org=x"], tags)?.count == 2)
        #expect(try shown(["label=org=y"], tags) == nil)
        #expect(throws: EngineError.self) { try ImageFilter(["dangling=maybe"]) { _ in record } }
        #expect(throws: EngineError.self) { try ImageFilter(["colour=red"]) { _ in record } }
    }

    @Test func pruneFiltersTakeTimesDurationsAndLabels() throws {
        let old = "2020-01-01T00:00:00Z"
        #expect(try PruneFilter(["until=2021-01-01"]).matches(created: old, labels: [:]))
        #expect(try !PruneFilter(["until=2019-06-01T00:00:00Z"]).matches(created: old, labels: [:]))
        #expect(try PruneFilter(["until=1600000000"]).matches(created: old, labels: [:]))
        #expect(try PruneFilter(["until=24h"]).matches(created: old, labels: [:]))
        #expect(try !PruneFilter(["until=24h"]).matches(created: Clock.rfc3339(), labels: [:]))
        #expect(try PruneFilter(["label=keep"]).matches(created: old, labels: ["keep": "1"]))
        #expect(try !PruneFilter(["label!=keep"]).matches(created: old, labels: ["keep": "1"]))
        #expect(try PruneFilter(["label!=keep=2"]).matches(created: old, labels: ["keep": "1"]))
        #expect(throws: EngineError.self) { try PruneFilter(["until=tomorrow"]) }
        #expect(throws: EngineError.self) { try PruneFilter(["status=exited"]) }
    }

    @Test func eventFiltersMatchTypeActionNameAndLabels() throws {
        let event = Event(status: "exec_start: sh", id: "aaa111", from: "busybox", Type: "container", Action: "exec_start: sh",
                          Actor: .init(ID: "aaa111", Attributes: ["name": "web", "image": "busybox", "tier": "front"]),
                          scope: "local", time: 1, timeNano: 1)
        func matches(_ specs: [String]) throws -> Bool { try EventFilter(specs).matches(event) }
        #expect(try matches(["type=container", "event=exec_start"]))
        #expect(try matches(["container=web"]) && matches(["container=aaa"]) && matches(["image=busybox"]))
        #expect(try matches(["label=tier=front"]) && !matches(["label=tier=back"]))
        #expect(try !matches(["type=image"]) && !matches(["event=die"]) && !matches(["container=db"]))
        #expect(try matches(["event=die", "event=exec_start"]))
        #expect(throws: EngineError.self) { try EventFilter(["colour=red"]) }
    }
}
