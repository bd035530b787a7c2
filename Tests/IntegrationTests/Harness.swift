#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Runs the real `swiftainer` binary (built next to this test bundle) against a private store.
/// Integration tests need root: namespaces, mounts and overlayfs are what they test.
enum Harness {
    static let isRoot = geteuid() == 0
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let binary: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // swift test runs "<build>/swiftainerPackageTests.xctest" (a file on Linux).
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("swiftainer").path
    }()

    /// One store for the whole run, with the fixture imported as `busybox` — built by the
    /// fixture script if it is not there yet.
    static let root: String = {
        // Stores of test runs that were killed (atexit never ran) go first.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix("swiftainer-it-") {
            if let pid = Int32(name.dropFirst("swiftainer-it-".count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: "/tmp/" + name)
            }
        }
        let root = "/tmp/swiftainer-it-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let fixture = repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz"
        if !FileManager.default.fileExists(atPath: fixture) {
            let built = shell(repository + "/rootfs-fixtures/build.sh")
            precondition(built.status == 0, "building the fixture failed: \(built.stderr)")
        }
        let imported = run(["import", fixture, "busybox"], root: root)
        precondition(imported.status == 0, "importing the fixture failed: \(imported.stderr)")
        atexit { try? FileManager.default.removeItem(atPath: "/tmp/swiftainer-it-\(getpid())") }
        return root
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs swiftainer with `arguments`; output goes through files, so no pipe can fill up.
    static func run(_ arguments: [String], root: String? = nil, stdin: String? = nil) -> Result {
        execute(binary, arguments, environment: ["SWIFTAINER_ROOT": root ?? Self.root], stdin: stdin)
    }

    static func shell(_ script: String) -> Result {
        execute("/bin/sh", ["-c", script], environment: [:], stdin: nil)
    }

    static func execute(_ path: String, _ arguments: [String], environment: [String: String], stdin: String?) -> Result {
        let process = start(path, arguments, environment: environment, stdin: stdin)
        process.process.waitUntilExit()
        return process.finish()
    }

    final class Running {
        let process: Process
        let outPath: String
        let errPath: String
        init(process: Process, outPath: String, errPath: String) {
            self.process = process
            self.outPath = outPath
            self.errPath = errPath
        }
        var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        func finish() -> Result {
            process.waitUntilExit()
            defer { unlink(outPath); unlink(errPath) }
            let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
            return Result(status: status, stdout: stdout, stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
        }
    }

    static func start(_ path: String, _ arguments: [String], environment: [String: String], stdin: String?) -> Running {
        let id = UUID().uuidString
        let outPath = "/tmp/swiftainer-it-out-\(id)", errPath = "/tmp/swiftainer-it-err-\(id)"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        if let stdin {
            let pipe = Pipe()
            process.standardInput = pipe
            try! process.run()
            pipe.fileHandleForWriting.write(Data(stdin.utf8))
            try? pipe.fileHandleForWriting.close()
        } else {
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            try! process.run()
        }
        return Running(process: process, outPath: outPath, errPath: errPath)
    }

    static func startSwiftainer(_ arguments: [String]) -> Running {
        start(binary, arguments, environment: ["SWIFTAINER_ROOT": root], stdin: nil)
    }

    /// Waits until `condition` holds, up to `seconds`.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    static func hostMountsMentioning(_ text: String) -> [String] {
        ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
            .split(separator: "\n").filter { $0.contains(text) }.map(String.init)
    }

    /// The full id of the container with this name, once its record exists.
    static func containerID(named name: String) -> String? {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root + "/containers")) ?? []
        return ids.first { id in
            ((try? String(contentsOfFile: root + "/containers/\(id)/container.json", encoding: .utf8)) ?? "").contains("\"name\" : \"\(name)\"")
        }
    }

    /// Whether any container directory (complete or not) still holds a record with this name.
    static func containerExists(named name: String) -> Bool {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root + "/containers")) ?? []
        return ids.contains { id in
            let record = (try? String(contentsOfFile: root + "/containers/\(id)/container.json", encoding: .utf8)) ?? ""
            return record.contains("\"name\" : \"\(name)\"")
        }
    }
}

/// Integration tests run only as root; the reason is printed when they are skipped.
let requiresRoot = Testing.ConditionTrait.enabled(if: Harness.isRoot, "integration tests need root (namespaces, mounts, overlayfs)")
