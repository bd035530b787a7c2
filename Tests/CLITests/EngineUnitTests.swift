#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Engine
import LinuxKit
import OCI
import Runtime

/// Engine pieces that need no root: the json-file log, user lookup, -v parsing, inspect shape.
@Suite struct EngineUnitTests {
    func temporaryFile() -> String {
        "/tmp/swiftainer-unit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    func write(_ writer: ContainerLogWriter, _ stream: ProcessMonitor.Stream, _ text: String) {
        Array(text.utf8).withUnsafeBytes { writer.append(stream, $0) }
    }

    @Test func logWriterSplitsLinesPerStreamAndKeepsPartialsUntilFlush() throws {
        let path = temporaryFile()
        defer { unlink(path) }
        let writer = try ContainerLogWriter(path: path, clock: { "2026-11-23T00:00:00.000000001Z" })
        write(writer, .stdout, "one\ntw")
        write(writer, .stderr, "err \"quoted\"\t\n")
        write(writer, .stdout, "o\nthree")
        var (entries, next) = try ContainerLogReader.read(path: path, from: 0)
        #expect(entries.map(\.log) == ["one\n", "err \"quoted\"\t\n", "two\n"])
        #expect(entries.map(\.stream) == ["stdout", "stderr", "stdout"])
        writer.flush()
        writer.close()
        (entries, next) = try ContainerLogReader.read(path: path, from: next)
        #expect(entries == [LogEntry(log: "three", stream: "stdout", time: "2026-11-23T00:00:00.000000001Z")])
        // Exactly Docker's line shape.
        let raw = try String(contentsOfFile: path, encoding: .utf8)
        #expect(raw.hasPrefix(#"{"log":"one\n","stream":"stdout","time":"2026-11-23T00:00:00.000000001Z"}"# + "\n"))
        #expect(raw.contains(#""log":"err \"quoted\"\t\n""#))
    }

    @Test func logWriterBoundsAnEndlessLine() throws {
        let path = temporaryFile()
        defer { unlink(path) }
        let writer = try ContainerLogWriter(path: path)
        write(writer, .stdout, String(repeating: "x", count: ContainerLogWriter.maxLine * 2 + 10))
        let (entries, _) = try ContainerLogReader.read(path: path, from: 0)
        #expect(entries.map(\.log.count) == [ContainerLogWriter.maxLine, ContainerLogWriter.maxLine])
    }

    @Test func readerSkipsAHalfWrittenLastLine() throws {
        let path = temporaryFile()
        defer { unlink(path) }
        try (LogEntry(log: "a\n", stream: "stdout", time: "t").jsonLine + #"{"log":"b"#).write(toFile: path, atomically: false, encoding: .utf8)
        let (entries, next) = try ContainerLogReader.read(path: path, from: 0)
        #expect(entries.map(\.log) == ["a\n"])
        #expect(next == LogEntry(log: "a\n", stream: "stdout", time: "t").jsonLine.utf8.count)
        #expect(try ContainerLogReader.read(path: path + "-missing", from: 0).entries.isEmpty)
    }

    let database = UserDatabase(
        passwd: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n# comment\nbroken:x\napp:x:1000:1000::/home/app:/bin/sh\n",
        group: "root:x:0:\nwheel:x:10:app,other\nstaff:x:50:app\napp:x:1000:\n")

    @Test func userNamesAndNumbersResolveAsDockerDoes() throws {
        let app = try database.resolve("app")
        #expect(app.user.uid == 1000 && app.user.gid == 1000 && app.home == "/home/app")
        #expect(app.user.additionalGids == [10, 50])
        #expect(try database.resolve("app:staff").user.gid == 50)
        #expect(try database.resolve("0").user.uid == 0)
        let unknown = try database.resolve("4242")
        #expect(unknown.user.uid == 4242 && unknown.user.gid == 0 && unknown.home == nil)
        #expect(try database.resolve("4242:77").user.gid == 77)
        #expect(throws: EngineError.self) { try database.resolve("ghost") }
        #expect(throws: EngineError.self) { try database.resolve("app:ghosts") }
        #expect(throws: EngineError.self) { try database.resolve("app:") }
        #expect(throws: EngineError.self) { try database.resolve("") }
    }

    @Test func volumeSyntax() throws {
        #expect(try RunOptions.parseVolume("/srv/data:/data") == .init(source: "/srv/data", destination: "/data", readOnly: false, propagation: "rprivate"))
        #expect(try RunOptions.parseVolume("/srv:/srv:ro,rslave") == .init(source: "/srv", destination: "/srv", readOnly: true, propagation: "rslave"))
        for bad in ["named:/data", "/a", "/a:relative", "/a:/", "/a:/b:bogus", "/a:/b:ro:x", ":/b"] {
            #expect(throws: EngineError.self, "\(bad)") { try RunOptions.parseVolume(bad) }
        }
        var options = RunOptions()
        options.volumes = ["/h:/c:ro"]
        options.tmpfs = ["/run:size=1m,mode=1777"]
        let mounts = try options.volumeMounts()
        #expect(mounts[0] == Mount(destination: "/c", type: "bind", source: "/h", options: ["rbind", "ro", "rprivate"]))
        #expect(mounts[1] == Mount(destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "size=1m", "mode=1777"]))
    }

    @Test func execSpecJoinsEveryNamespaceTheContainerCreated() {
        var container = Spec.linuxDefault(args: ["sleep", "1"], env: [], networkNamespace: false)
        container.linux?.resources = Resources()
        container.annotations = ["org.swiftainer.create-cwd": "true"]
        let process = Process(terminal: true, args: ["sh"], env: ["A=1"], cwd: "/tmp", noNewPrivileges: true)
        let spec = ExecSpec.make(container: container, initPid: 4321, process: process)
        #expect(spec.process == process)
        #expect(spec.linux?.namespaces?.map(\.path) == ["/proc/4321/ns/pid", "/proc/4321/ns/ipc", "/proc/4321/ns/uts", "/proc/4321/ns/mnt"])
        #expect(spec.mounts == [] && spec.linux?.resources == nil && spec.annotations == nil)
        #expect(spec.linux?.maskedPaths == container.linux?.maskedPaths)
    }
}
