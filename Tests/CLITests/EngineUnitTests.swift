#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Engine
@testable import CLI
import Images
import LinuxKit
import OCI
import Runtime
import JSONKit
import TestSupport

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

    @Test func logWriterRotatesBetweenEntriesAndTheReaderFollowsThrough() throws {
        let path = temporaryFile()
        defer { for suffix in ["", ".1", ".2", ".1.gz", ".2.gz"] { unlink(path + suffix) } }
        let config = try LogConfig.parse(driver: nil, options: ["max-size=300", "max-file=3", "compress=true"])
        let writer = try ContainerLogWriter(path: path, config: config, clock: { "2026-11-23T00:00:00.000000001Z" })
        var (first, position) = try ContainerLogReader.readAll(path: path)
        #expect(first.isEmpty)
        var followed: [String] = []
        for n in 0..<40 {
            write(writer, .stdout, "entry-\(n)\n")
            let (more, next) = try ContainerLogReader.read(path, from: position)
            followed += more.map(\.log)
            position = next
        }
        writer.close()
        // Each file holds whole entries and stays within max-size; the oldest are gone.
        #expect(FileManager.default.fileExists(atPath: path + ".1.gz") && FileManager.default.fileExists(atPath: path + ".2.gz"))
        #expect(!FileManager.default.fileExists(atPath: path + ".1") && !FileManager.default.fileExists(atPath: path + ".3.gz"))
        #expect(try Files.read(path).count <= 300)
        let all = try ContainerLogReader.readAll(path: path).entries.map(\.log)
        #expect(all.last == "entry-39\n" && all.count < 40 && all.count > 6, "\(all)")
        #expect(all == (40 - all.count..<40).map { "entry-\($0)\n" })
        // A follower reading after each write missed nothing across the rotations.
        #expect(followed == (0..<40).map { "entry-\($0)\n" })
    }

    @Test func restartPoliciesAndTheirBackoff() throws {
        #expect(try RestartPolicy.parse("no") == .no)
        #expect(try RestartPolicy.parse("on-failure:5") == RestartPolicy(name: .onFailure, maximumRetryCount: 5))
        #expect(try RestartPolicy.parse("unless-stopped").name == .unlessStopped)
        for bad in ["sometimes", "always:2", "on-failure:-1", "on-failure:x"] {
            #expect(throws: EngineError.self, "\(bad)") { try RestartPolicy.parse(bad) }
        }
        let limited = RestartPolicy(name: .onFailure, maximumRetryCount: 2)
        #expect(limited.restarts(exitCode: 1, restarts: 1, stoppedByUser: false))
        #expect(!limited.restarts(exitCode: 1, restarts: 2, stoppedByUser: false))
        #expect(!limited.restarts(exitCode: 0, restarts: 0, stoppedByUser: false))
        #expect(RestartPolicy(name: .always, maximumRetryCount: 0).restarts(exitCode: 0, restarts: 100, stoppedByUser: false))
        #expect(!RestartPolicy(name: .always, maximumRetryCount: 0).restarts(exitCode: 1, restarts: 0, stoppedByUser: true))
        #expect(!RestartPolicy.no.restarts(exitCode: 1, restarts: 0, stoppedByUser: false))
        // 100 ms, doubled, capped at a minute, back to 100 ms after 10 s up.
        var delays: [Int] = []
        var previous: Int?
        for _ in 0..<12 {
            previous = RestartPolicy.nextDelay(previousMilliseconds: previous, ranSeconds: 0.5)
            delays.append(previous!)
        }
        #expect(Array(delays.prefix(4)) == [100, 200, 400, 800] && delays.last == 60_000)
        #expect(RestartPolicy.nextDelay(previousMilliseconds: 60_000, ranSeconds: 10) == 100)
    }

    @Test func healthStateFollowsDockersRules() {
        let ok = HealthState.Probe(Start: "s", End: "e", ExitCode: 0, Output: "")
        let bad = HealthState.Probe(Start: "s", End: "e", ExitCode: 1, Output: "")
        var state = HealthState.initial
        // In the start period failures do not count; the first success ends it.
        state = state.recording(bad, retries: 2, inStartPeriod: true)
        #expect(state.Status == "starting" && state.FailingStreak == 0)
        state = state.recording(ok, retries: 2, inStartPeriod: true)
        #expect(state.Status == "healthy" && state.FailingStreak == 0)
        state = state.recording(bad, retries: 2, inStartPeriod: true)
        #expect(state.Status == "healthy" && state.FailingStreak == 1, "after a success the start period is over")
        state = state.recording(bad, retries: 2, inStartPeriod: false)
        #expect(state.Status == "unhealthy" && state.FailingStreak == 2)
        for _ in 0..<6 { state = state.recording(ok, retries: 2, inStartPeriod: false) }
        #expect(state.Status == "healthy" && state.FailingStreak == 0 && state.Log.count == 5)
    }

    @Test func usernsModesParseAsPodmansKeepID() throws {
        #expect(try DockerFlagValues.userNamespaceMode("") == .host)
        #expect(try DockerFlagValues.userNamespaceMode("host") == .host)
        #expect(try DockerFlagValues.userNamespaceMode("keep-id") == .keepID(uid: nil, gid: nil))
        #expect(try DockerFlagValues.userNamespaceMode("keep-id:uid=200,gid=210") == .keepID(uid: 200, gid: 210))
        #expect(try DockerFlagValues.userNamespaceMode("keep-id:gid=7") == .keepID(uid: nil, gid: 7))
        for bad in ["private", "keep-id:", "keep-id:uid", "keep-id:uid=-1", "keep-id:size=5", "auto"] {
            #expect(throws: EngineError.self, "\(bad)") { try DockerFlagValues.userNamespaceMode(bad) }
        }
    }

    @Test func healthchecksMergeOverTheImagesAndDurationsParseAsGos() throws {
        let image = HealthConfig(test: ["CMD", "check"], interval: 10_000_000_000, retries: 5)
        let merged = Engine.healthcheck(image: image, flags: HealthConfig(interval: 1_000_000_000), disabled: false)
        #expect(merged == HealthConfig(test: ["CMD", "check"], interval: 1_000_000_000, retries: 5))
        #expect(Engine.healthcheck(image: image, flags: nil, disabled: true) == nil)
        #expect(Engine.healthcheck(image: HealthConfig(test: ["NONE"]), flags: nil, disabled: false) == nil)
        #expect(Engine.healthcheck(image: nil, flags: HealthConfig(test: ["CMD-SHELL", "true"]), disabled: false)?.test == ["CMD-SHELL", "true"])
        #expect(try DockerFlagValues.duration("1m30s", flag: "--x") == 90_000_000_000)
        #expect(try DockerFlagValues.duration("250ms", flag: "--x") == 250_000_000)
        #expect(try DockerFlagValues.duration("1.5h", flag: "--x") == 5_400_000_000_000)
        #expect(try DockerFlagValues.duration("0", flag: "--x") == 0)
        for bad in ["", "5", "5x", "m", "1s2"] {
            #expect(throws: EngineError.self, "\(bad)") { try DockerFlagValues.duration(bad, flag: "--x") }
        }
        #expect(DockerFlagValues.durationText(nanoseconds: 300_000_000) == "300ms")
        #expect(DockerFlagValues.durationText(nanoseconds: 90_000_000_000) == "1m30s")
        #expect(DockerFlagValues.durationText(nanoseconds: 1_500_000_000) == "1.5s")
        #expect(DockerFlagValues.durationText(nanoseconds: 7_200_000_000_000) == "2h0m0s")
    }

    @Test func logDriversAndTheirOptions() throws {
        #expect(try LogConfig.parse(driver: nil, options: []) == .jsonFile)
        let local = try LogConfig.parse(driver: "local", options: [])
        #expect(local.maxSize == 20 * 1024 * 1024 && local.maxFiles == 5 && local.compress)
        let sized = try LogConfig.parse(driver: "json-file", options: ["max-size=10m", "max-file=2"])
        #expect(sized.maxSize == 10 * 1024 * 1024 && sized.maxFiles == 2 && !sized.compress && sized.options == ["max-size": "10m", "max-file": "2"])
        #expect(!(try LogConfig.parse(driver: "none", options: [])).keepsLog)
        for (driver, options) in [("gelf", [String]()), ("json-file", ["max-file=2"]), ("json-file", ["max-size=0"]), ("none", ["max-size=1m"]), ("json-file", ["tag=x"])] {
            #expect(throws: EngineError.self, "\(driver) \(options)") { try LogConfig.parse(driver: driver, options: options) }
        }
    }

    /// An entry as JSONKit writes it: the reference for the C writer's lines.
    static func line(_ entry: LogEntry) throws -> String {
        String(decoding: try JSON.encode(entry), as: UTF8.self) + "\n"
    }

    /// The C writer (CLinux/json_log.c) against Swift's own reading of the same bytes: lines
    /// split at newlines and at 16 KiB, each decoded as Swift decodes UTF-8 (ill-formed parts
    /// become U+FFFD) and quoted by JSONKit — byte for byte, over random chunks of random
    /// bytes biased to quotes, controls and broken UTF-8.
    @Test func theCLogWriterWritesWhatJSONKitWouldForAnyBytes() throws {
        var random = SplitMix(seed: 0x5eed_1096)
        let alphabet: [UInt8] = [0x22, 0x5C, 0x0A, 0x0A, 0x09, 0x00, 0x1F, 0x7F, 0x41, 0x20, 0xC3, 0xA9, 0xE2, 0x82, 0xAC,
                                 0xF0, 0x9F, 0x98, 0x80, 0xED, 0xA0, 0x80, 0xC0, 0xF5, 0xFF, 0x80, 0xBF, 0xE0, 0xF4, 0x90]
        for _ in 0..<fuzzIterations(default: 200) {
            let path = temporaryFile()
            defer { unlink(path) }
            let writer = try ContainerLogWriter(path: path, clock: { "T" })
            var expected = ""
            var pending: [ProcessMonitor.Stream: [UInt8]] = [:]
            for _ in 0..<Int(random.next() % 6) + 1 {
                let stream: ProcessMonitor.Stream = random.next() % 2 == 0 ? .stdout : .stderr
                let long = random.next() % 20 == 0
                let count = long ? ContainerLogWriter.maxLine + Int(random.next() % 3000) : Int(random.next() % 40)
                let chunk = (0..<count).map { _ in long && random.next() % 4 != 0 ? 0x61 : alphabet[Int(random.next() % UInt64(alphabet.count))] }
                chunk.withUnsafeBytes { writer.append(stream, $0) }
                var buffer = pending[stream, default: []] + chunk
                while let end = buffer.firstIndex(of: 0x0A).map({ $0 + 1 }) ?? (buffer.count >= ContainerLogWriter.maxLine ? ContainerLogWriter.maxLine : nil) {
                    expected += try Self.line(LogEntry(log: String(decoding: buffer[..<end], as: UTF8.self), stream: stream.rawValue, time: "T"))
                    buffer.removeFirst(end)
                }
                pending[stream] = buffer
            }
            writer.flush()
            writer.close()
            for stream in [ProcessMonitor.Stream.stdout, .stderr] where !(pending[stream] ?? []).isEmpty {
                expected += try Self.line(LogEntry(log: String(decoding: pending[stream]!, as: UTF8.self), stream: stream.rawValue, time: "T"))
            }
            let written = String(decoding: try Files.read(path), as: UTF8.self)
            #expect(written == expected)
            if written != expected { return }
        }
    }

    @Test func readerSkipsAHalfWrittenLastLine() throws {
        let path = temporaryFile()
        defer { unlink(path) }
        let first = try Self.line(LogEntry(log: "a\n", stream: "stdout", time: "t"))
        try (first + #"{"log":"b"#).write(toFile: path, atomically: false, encoding: .utf8)
        let (entries, next) = try ContainerLogReader.read(path: path, from: 0)
        #expect(entries.map(\.log) == ["a\n"])
        #expect(next == first.utf8.count)
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
        // A name is a volume's, a path alone an anonymous volume.
        var named = RunOptions.Volume(source: "named", destination: "/data", readOnly: true, propagation: "rprivate")
        named.nocopy = true
        #expect(try RunOptions.parseVolume("named:/data:ro,nocopy") == named)
        #expect(try RunOptions.parseVolume("/a") == .init(source: "", destination: "/a", readOnly: false, propagation: "rprivate"))
        // Conflicting modes are refused (issue #14.10: "ro,rw" ended writable); names are never paths.
        for bad in ["../up:/data", "a:/data", "na me:/d", "/a:relative", "/a:/", "/a:/b:bogus", "/a:/b:ro:x", ":/b", "/d:/x:ro,rw", "/d:/x:rw,ro",
                    "/d:/x:ro,ro", "/d:/x:shared,slave", "/d:/x:ro,", "/d:/x:nocopy", "relative"] {
            #expect(throws: EngineError.self, "\(bad)") { try RunOptions.parseVolume(bad) }
        }
        var options = RunOptions()
        options.volumes = ["/h:/c:ro"]
        options.tmpfs = ["/run:size=1m,mode=1777"]
        let mounts = try options.volumeMounts()
        #expect(mounts[0] == Mount(destination: "/c", type: "bind", source: "/h", options: ["rbind", "ro", "rprivate"]))
        #expect(mounts[1] == Mount(destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "size=1m", "mode=1777"]))
    }

    /// Issue #14.3, .4, .10: sizes, counts and CPU values parse strictly, with overflow checks
    /// and ranges, and say what is wrong in one line instead of trapping.
    @Test func sizesAreDockersUnitsWithoutOverflow() throws {
        let sizes: [(String, Int64)] = [("1048576", 1 << 20), ("64m", 64 << 20), ("64M", 64 << 20), ("64mb", 64 << 20), ("64MiB", 64 << 20),
                                        ("64 m", 64 << 20), ("1.5g", 3 << 29), ("512k", 512 << 10), ("100b", 100), ("2t", 2 << 40),
                                        ("8191p", 8191 << 50), ("0.5k", 512), ("9223372036854775807", Int64.max), ("007m", 7 << 20)]
        for (text, bytes) in sizes { #expect(try FlagValues.bytes(text, flag: "--memory") == bytes, "\(text)") }
        #expect(try FlagValues.bytes("-1", flag: "--memory-swap", unlimited: true) == -1)
        for bad in ["0x10m", "1e9", "inf", "nan", "", "-1", "m", "1.m", ".5m", "1..2m", "1mm", "1x", "+5m", " 5m", "1ib", "5  m", "١٢m"] {
            #expect(throws: EngineError.self, "\(bad)") { try FlagValues.bytes(bad, flag: "--memory") }
        }
        for huge in ["8589934592g", "99999999999999999999g", "9223372036854775807k", "8192p", "9223372036854775808"] {
            #expect(throws: EngineError.self, "\(huge)") { try FlagValues.bytes(huge, flag: "--memory") }
            do { _ = try FlagValues.bytes(huge, flag: "--memory") } catch { #expect("\(error)".contains("too large"), "\(error)") }
        }
        // Twice a huge limit (Docker's default swap) is unlimited, not an overflow.
        var options = RunOptions()
        options.memory = Int64.max - 1
        #expect(try options.resources()?.memory?.swap == -1)
    }

    @Test func cpusFollowDockersRange() throws {
        #expect(try FlagValues.cpuQuota("0.01", onlineCPUs: 2) == 1000)
        #expect(try FlagValues.cpuQuota("1.5", onlineCPUs: 2) == 150_000)
        #expect(try FlagValues.cpuQuota("2", onlineCPUs: 2) == 200_000)
        #expect(try FlagValues.cpuQuota("0", onlineCPUs: 2) == nil, "0 is Docker's 'no limit'")
        for bad in ["0.000001", "0.005", "0.0099", "2.01", "3", "99999999999999999999"] {
            do {
                _ = try FlagValues.cpuQuota(bad, onlineCPUs: 2)
                Issue.record("--cpus \(bad) was accepted")
            } catch {
                #expect("\(error)" == "--cpus: range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available", "\(bad): \(error)")
            }
        }
        for bad in ["nan", "inf", "1e-1", "0x1", "-1", "", "1,5"] {
            #expect(throws: EngineError.self, "\(bad)") { try FlagValues.cpuQuota(bad, onlineCPUs: 2) }
        }
        #expect(try FlagValues.integer("-1", flag: "--pids-limit", in: Int64(-1)...100) == -1)
        for bad in ["-2", "101", "1e2", "0x10", "99999999999999999999", "", "-", "+1", "1.0"] {
            #expect(throws: EngineError.self, "\(bad)") { try FlagValues.integer(bad, flag: "--pids-limit", in: Int64(-1)...100) }
        }
    }

    @Test func environmentEntriesNeedAName() throws {
        #expect(try RunOptions.validatedEnvironment(["A=1", "B", "C=", "D==x"]) == ["A=1", "B", "C=", "D==x"])
        for bad in ["=", "=value", ""] {
            do {
                _ = try RunOptions.validatedEnvironment(["OK=1", bad])
                Issue.record("-e '\(bad)' was accepted")
            } catch {
                #expect("\(error)" == "invalid environment variable: \(bad)")
            }
        }
    }

    @Test func controlCharactersAreEscapedInMessages() {
        #expect(Printable.escaped("plain name") == "plain name")
        #expect(Printable.escaped("a\nb\tc\r") == "a\\nb\\tc\\r")
        #expect(Printable.escaped("\u{1b}[31mred\u{7f}\u{85}\u{0}") == "\\u{1b}[31mred\\u{7f}\\u{85}\\u{0}")
        #expect(Printable.escaped("héllo ✓") == "héllo ✓")
    }

    @Test func detachKeysParseAsDockersAndAreFilteredFromInput() throws {
        #expect(try DockerFlagValues.detachKeys("ctrl-p,ctrl-q") == [16, 17])
        #expect(try DockerFlagValues.detachKeys("ctrl-@,ctrl-[,a") == [0, 27, 97])
        #expect(try DockerFlagValues.detachKeys("") == [])
        for bad in ["ctrl-1", "ab", "ctrl-", ",", "ctrl-p,"] {
            #expect(throws: (any Error).self, "\(bad)") { try DockerFlagValues.detachKeys(bad) }
        }
        var session = AttachSession(socket: FileDescriptor(-1), streams: .all, detachKeys: [16, 17], sigProxy: true, terminal: false, forward: { _ in })
        // A sequence broken off is passed on whole; one split across reads still detaches.
        #expect(session.filterDetachKeys(Array("a\u{10}b".utf8)) == (Array("a\u{10}b".utf8), false))
        #expect(session.filterDetachKeys([65, 16]) == ([65], false))
        #expect(session.filterDetachKeys([17, 66]) == ([], true))
        var repeated = AttachSession(socket: FileDescriptor(-1), streams: .all, detachKeys: [16, 17], sigProxy: true, terminal: false, forward: { _ in })
        #expect(repeated.filterDetachKeys([16, 16, 17]) == ([16], true))
    }
}

@Suite struct PullDisplayTests {
    @Test func barsFillWithTheBytesThatArrived() {
        #expect(PullDisplay.bar(0, 1000, width: 10) == "[>         ]  0B/1kB")
        #expect(PullDisplay.bar(500, 1000, width: 10) == "[=====>    ]  500B/1kB")
        #expect(PullDisplay.bar(1000, 1000, width: 10) == "[==========]  1kB/1kB")
        #expect(PullDisplay.bar(2048, nil, width: 10) == "2.05kB", "without a size, only the bytes")
    }
}

@Suite struct LogFollowTests {
    /// A follower several rotations behind reads the rest of its file (found by inode) and
    /// every file rotated after it, not only PATH.1.
    @Test func aFollowerSeveralRotationsBehindMissesNothing() throws {
        let path = "/tmp/swiftainer-unit-\(getpid())-follow"
        defer { for suffix in ["", ".1", ".2", ".3"] { unlink(path + suffix) } }
        func lines(_ numbers: ClosedRange<Int>) -> String {
            numbers.map { "{\"log\":\"line-\($0)\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-02T00:00:00Z\"}\n" }.joined()
        }
        try lines(1...2).write(toFile: path, atomically: false, encoding: .utf8)
        var (entries, position) = try ContainerLogReader.readAll(path: path)
        #expect(entries.map(\.log) == ["line-1\n", "line-2\n"])
        // The writer goes on, then rotates twice before the follower looks again.
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data(lines(3...3).utf8))
        handle.closeFile()
        rename(path, path + ".1")
        try lines(4...5).write(toFile: path, atomically: false, encoding: .utf8)
        rename(path + ".1", path + ".2")
        rename(path, path + ".1")
        try lines(6...6).write(toFile: path, atomically: false, encoding: .utf8)
        (entries, position) = try ContainerLogReader.read(path, from: position)
        #expect(entries.map(\.log) == ["line-3\n", "line-4\n", "line-5\n", "line-6\n"])
        (entries, _) = try ContainerLogReader.read(path, from: position)
        #expect(entries.isEmpty)
    }
}

/// Rootless (#21): the ids asked of newuidmap/newgidmap are exactly the user's lines of
/// /etc/subuid and /etc/subgid, by name or by uid, one after another from id 1 inside.
@Suite struct RootlessMapTests {
    let subuid = """
        alice:100000:65536
        bob:165536:65536
        1001:300000:1000
        alice:400000:10
        broken:x:5
        carol:500000:0
        """

    @Test func rangesAreTheUsersOwnByNameOrUid() {
        #expect(RootlessNamespace.subordinateRanges(subuid, user: "alice", id: 1000).map { [$0.start, $0.count] } == [[100000, 65536], [400000, 10]])
        #expect(RootlessNamespace.subordinateRanges(subuid, user: "dave", id: 1001).map { [$0.start, $0.count] } == [[300000, 1000]])
        #expect(RootlessNamespace.subordinateRanges(subuid, user: "carol", id: 1002).isEmpty, "a zero-length range is none")
        #expect(RootlessNamespace.subordinateRanges(subuid, user: "broken", id: 1003).isEmpty)
        #expect(RootlessNamespace.subordinateRanges("eve:4294967290:100", user: "eve", id: 1).isEmpty, "a range past the id space")
    }

    @Test func mapsPutTheUserAtZeroAndTheRangesAfterIt() {
        let ranges = RootlessNamespace.subordinateRanges(subuid, user: "alice", id: 1000)
        #expect(RootlessNamespace.mapArguments(own: 1000, ranges: ranges) == ["0", "1000", "1", "1", "100000", "65536", "65537", "400000", "10"])
        #expect(RootlessNamespace.mapArguments(own: 1000, ranges: []) == ["0", "1000", "1"])
    }
}
