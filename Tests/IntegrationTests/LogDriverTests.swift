#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// --log-driver and --log-opt (#18): rotation by the supervisor (the waiter of a detached
/// container, the foreground run itself), compressed rotated files, `logs` across them (and
/// following through a rotation), and the none driver.
@Suite(.serialized, requiresRoot) struct LogDriverTests {
    /// A shell loop printing line-0 … line-(count-1).
    func lines(_ count: Int, pause: String = "") -> String {
        "i=0; while [ $i -lt \(count) ]; do echo line-$i; i=$((i+1)); \(pause) done"
    }

    func logFiles(_ id: String) -> [String: Data] {
        let dir = Harness.root + "/containers/\(id)"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("\(id)-json.log") }
        return Dictionary(uniqueKeysWithValues: names.map { ($0.replacingOccurrences(of: "\(id)-json.log", with: "log"), FileManager.default.contents(atPath: dir + "/" + $0) ?? Data()) })
    }

    /// `logs` output is consecutive lines ending at line-(last).
    func isTail(_ output: String, last: Int) -> Bool {
        let numbers = output.split(separator: "\n").compactMap { $0.hasPrefix("line-") ? Int($0.dropFirst(5)) : nil }
        return numbers.last == last && numbers == Array((last - numbers.count + 1)...last)
    }

    @Test func detachedContainerLogsRotateAndLogsReadsAcrossThem() throws {
        let name = "log-rotate-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let id = Harness.detach(name, ["--network", "none", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh", "-c", lines(200)])
        #expect(Harness.run(["wait", name]).stdout == "0\n")
        let files = logFiles(id)
        #expect(Set(files.keys) == ["log", "log.1", "log.2"], "\(files.keys)")
        #expect(files.values.allSatisfy { $0.count <= 1024 && $0.count > 512 }, "\(files.mapValues(\.count))")
        let logs = Harness.run(["logs", name]).stdout
        #expect(isTail(logs, last: 199) && logs.split(separator: "\n").count > 20, "\(logs)")
        let inspect = Harness.inspect(name, "HostConfig")["LogConfig"] as? [String: Any]
        #expect(inspect?["Type"] as? String == "json-file" && (inspect?["Config"] as? [String: String])?["max-size"] == "1k", "\(String(describing: inspect))")
    }

    @Test func foregroundRunCompressesRotatedFiles() throws {
        let name = "log-gzip-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let run = Harness.run(["run", "--name", name, "--network", "none", "--log-opt", "max-size=2k", "--log-opt", "max-file=4",
                               "--log-opt", "compress=true", "busybox", "sh", "-c", lines(300)])
        #expect(run.status == 0 && isTail(run.stdout, last: 299))
        let id = try #require(Harness.containerID(named: name))
        let files = logFiles(id)
        #expect(Set(files.keys) == ["log", "log.1.gz", "log.2.gz", "log.3.gz"], "\(files.keys)")
        #expect(files.filter { $0.key.hasSuffix(".gz") }.values.allSatisfy { $0.prefix(2) == Data([0x1f, 0x8b]) })
        let logs = Harness.run(["logs", name]).stdout
        #expect(isTail(logs, last: 299) && logs.split(separator: "\n").count > 60, "\(logs)")
    }

    @Test func followingReadsThroughRotations() {
        let name = "log-follow-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        // Room for every line (50 files of 1 KiB), so a follower that misses none sees all 150.
        _ = Harness.detach(name, ["--network", "none", "--log-opt", "max-size=1k", "--log-opt", "max-file=50", "busybox", "sh", "-c",
                                  "sleep 1; " + lines(150, pause: "usleep 10000;")])
        let follower = Harness.startSwiftainer(["logs", "-f", name])
        let result = follower.finish(within: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(isTail(result.stdout, last: 149) && result.stdout.split(separator: "\n").count == 150, "\(result.stdout)")
    }

    @Test func theNoneDriverKeepsNothingAndOneFileIsTruncated() throws {
        let none = "log-none-\(getpid())", single = "log-single-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", none, single]) }
        let id = Harness.detach(none, ["--network", "none", "--log-driver", "none", "busybox", "echo", "unseen"])
        _ = Harness.run(["wait", none])
        #expect(logFiles(id).isEmpty)
        let logs = Harness.run(["logs", none])
        #expect(logs.status != 0 && logs.stderr.contains("does not support reading"), "\(logs.stderr)")
        let run = Harness.run(["run", "--name", single, "--network", "none", "--log-opt", "max-size=1k", "busybox", "sh", "-c", lines(100)])
        #expect(run.status == 0)
        let files = logFiles(try #require(Harness.containerID(named: single)))
        #expect(Set(files.keys) == ["log"] && (files["log"]?.count ?? 0) <= 1024, "\(files.mapValues(\.count))")
        #expect(isTail(Harness.run(["logs", single]).stdout, last: 99))
    }

    @Test(arguments: [
        (["--log-driver", "syslog"], "syslog"), (["--log-opt", "max-size=abc"], "max-size"), (["--log-opt", "max-file=0", "--log-opt", "max-size=1m"], "max-file"),
        (["--log-opt", "max-file=3"], "max-size is set"), (["--log-opt", "compress=maybe"], "compress"), (["--log-opt", "color=blue"], "color"),
        (["--log-driver", "none", "--log-opt", "max-size=1m"], "none"), (["--log-opt", "novalue"], "KEY=VALUE"),
    ])
    func badLogOptionsAreRefused(_ flags: [String], _ expected: String) {
        let name = "log-bad-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let result = Harness.run(["run", "--name", name, "--network", "none"] + flags + ["busybox", "true"])
        #expect(result.status == 125 && result.stderr.contains(expected), "\(flags): \(result.stderr)")
        #expect(Harness.containerID(named: name) == nil)
    }
}
