#if canImport(Glibc)
import Glibc
#endif
import CLinux
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
        // Servers of test runs that were killed or crashed (atexit never ran: containerd,
        // registries, the token service) go first: a process whose command line names the
        // scratch directory of a test run that no longer exists. Only ours match that name.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let command = String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            for prefix in ["/tmp/swiftainer-it-", "/tmp/swiftainer-images-"] {
                guard let range = command.range(of: prefix) else { continue }
                let digits = command[range.upperBound...].prefix { $0.isNumber }
                if let owner = Int32(digits), kill(owner, 0) != 0 && errno == ESRCH {
                    kill(pid, SIGKILL)
                }
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix("swiftainer-images-") {
            if let pid = Int32(name.dropFirst("swiftainer-images-".count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: "/tmp/" + name)
            }
        }
        // Stores of test runs that were killed (atexit never ran) go first.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix("swiftainer-it-") {
            if let pid = Int32(name.dropFirst("swiftainer-it-".count)), kill(pid, 0) != 0 && errno == ESRCH {
                // A killed run's dockerd left its data root mounted on itself: detached first.
                let points = hostMountsMentioning("/tmp/" + name + "/").compactMap { $0.split(separator: " ").dropFirst(4).first.map(String.init) }
                for point in points.sorted(by: >) where point.hasPrefix("/tmp/" + name + "/") { umount2(point, Int32(MNT_DETACH)) }
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
        _ = cgroupScaffold
        atexit {
            try? FileManager.default.removeItem(atPath: "/tmp/swiftainer-it-\(getpid())")
            for dir in Harness.cgroupScaffold.reversed() { rmdir(dir) }
        }
        return root
    }()

    /// The clients' runc (Docker's, containerd's, Podman's, the comparison's) makes a
    /// container's cgroupsPath — which the tests put below our own memory cgroup — in every v1
    /// hierarchy, also where this process sits at the root, and leaves the intermediate
    /// directories there. Those this run would make (they do not exist at its start) are
    /// removed at exit, deepest first; rmdir refuses any that holds a group or a process.
    static let cgroupScaffold: [String] = {
        guard !ownCgroup.isEmpty, let hierarchies = try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup") else { return [] }
        var missing: [String] = []
        for hierarchy in hierarchies.sorted() {
            var path = "/sys/fs/cgroup/" + hierarchy
            guard FileManager.default.fileExists(atPath: path + "/cgroup.procs") else { continue }
            for component in ownCgroup.split(separator: "/") {
                path += "/" + component
                if !FileManager.default.fileExists(atPath: path) { missing.append(path) }
            }
        }
        return missing
    }()

    /// The name OCI callers use: a `swiftainer-runtime` symlink to the binary (scripts/setup
    /// makes the same next to the release build), which selects the OCI meaning of the verbs.
    static let runtime: String = {
        let directory = root + "/bin"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let link = directory + "/swiftainer-runtime"
        unlink(link)
        precondition(symlink(binary, link) == 0, "symlink \(link): \(String(cString: strerror(errno)))")
        return link
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs swiftainer with `arguments`; output goes through files, so no pipe can fill up.
    /// A store of a test's own (for commands that act on every container, like prune), with
    /// the fixture imported as busybox; inside the run's store, so it goes with it.
    static func scratchRoot(_ name: String) -> String {
        let scratch = root + "/scratch-" + name
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let imported = run(["import", repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "busybox"], root: scratch)
        precondition(imported.status == 0, "importing the fixture into \(scratch) failed: \(imported.stderr)")
        return scratch
    }

    /// Removes what scratchRoot made, with any container left in it.
    static func removeScratchRoot(_ scratch: String) {
        for id in run(["ps", "-a", "-q", "--no-trunc"], root: scratch).stdout.split(separator: "\n") { _ = run(["rm", "-f", String(id)], root: scratch) }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// "The internet" for network tests: a namespace `ns` behind a veth pair on the host
    /// (`link` on the host, NET.1/24; inet0 inside, NET.2/24). Suites run at the same time, so
    /// each uses a documentation network of its own (`net`): two namespaces on one /24 would
    /// take each other's traffic. Undone by the caller with `removeInternet`.
    static func makeInternet(ns: String, link: String, net: String = "203.0.113") -> Result {
        shell("""
            set -e
            ip netns add \(ns)
            ip link add \(link) type veth peer name inet0 netns \(ns)
            ip addr add \(net).1/24 dev \(link) && ip link set \(link) up
            ip -n \(ns) addr add \(net).2/24 dev inet0 && ip -n \(ns) link set inet0 up && ip -n \(ns) link set lo up
            """)
    }

    static func removeInternet(ns: String, link: String) {
        _ = shell("ip netns del \(ns); ip link del \(link) 2>/dev/null")
    }

    /// The test "internet" of makeInternet with a web server in it: busybox httpd on
    /// NET.2:8000 serving "outside\n" at /. `stop()` ends the server and the namespace.
    final class InternetWebServer {
        let ns: String, link: String, www: String
        /// "http://NET.2:8000".
        let url: String
        private var server: Running?

        init(_ name: String, net: String) throws {
            url = "http://\(net).2:8000"
            ns = "swt-\(name)-\(getpid())"
            link = "swt\(name.prefix(3))\(getpid() % 100000)"
            www = "/tmp/swiftainer-\(name)www-\(getpid())"
            try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
            try "outside\n".write(toFile: www + "/index.html", atomically: true, encoding: .utf8)
            let setup = Harness.makeInternet(ns: ns, link: link, net: net)
            guard setup.status == 0 else {
                stop()
                throw HarnessError("the test internet \(ns): \(setup.stderr)")
            }
            let busybox = ["/usr/bin/busybox", "/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "busybox"
            server = Harness.start("/usr/sbin/ip", ["netns", "exec", ns, busybox, "httpd", "-f", "-p", "\(net).2:8000", "-h", www], environment: [:], stdin: nil)
        }

        func stop() {
            server?.signal(SIGKILL)
            _ = server?.finish()
            server = nil
            Harness.removeInternet(ns: ns, link: link)
            _ = Harness.shell("rm -rf \(www)")
        }
    }

    struct HarnessError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func run(_ arguments: [String], root: String? = nil, stdin: String? = nil) -> Result {
        execute(binary, arguments, environment: ["SWIFTAINER_ROOT": root ?? Self.root], stdin: stdin)
    }

    static func shell(_ script: String) -> Result {
        execute("/bin/sh", ["-c", script], environment: [:], stdin: nil)
    }

    static func execute(_ path: String, _ arguments: [String], environment: [String: String], stdin: String?) -> Result {
        start(path, arguments, environment: environment, stdin: stdin).finish()
    }

    /// A child started with posix_spawn and reaped with waitpid. (Foundation's Process waits
    /// for EOF on a socket every descendant inherits, so a daemon the child leaves behind —
    /// conmon, a container — would make it wait forever.)
    final class Running {
        let pid: pid_t
        let outPath: String
        let errPath: String
        private var status: Int32?

        init(pid: pid_t, outPath: String, errPath: String) {
            self.pid = pid
            self.outPath = outPath
            self.errPath = errPath
        }

        var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

        /// Signals the child unless it was already reaped (its pid may belong to another process by then).
        func signal(_ signal: Int32) {
            if status == nil { kill(pid, signal) }
        }

        /// Waits for the child; one still running after `seconds` is killed (status 137), so a
        /// broken container fails its test instead of hanging the suite.
        func finish(within seconds: Double = 120) -> Result {
            if status == nil {
                var raw: Int32 = 0
                let deadline = Date().addingTimeInterval(seconds)
                while true {
                    let reaped = waitpid(pid, &raw, WNOHANG)
                    if reaped == pid || (reaped < 0 && errno != EINTR) { break }
                    if Date() > deadline {
                        kill(pid, SIGKILL)
                        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                        break
                    }
                    usleep(10_000)
                }
                status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            }
            let result = Result(status: status!, stdout: stdout, stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
            unlink(outPath)
            unlink(errPath)
            return result
        }
    }

    static func start(_ path: String, _ arguments: [String], environment: [String: String], stdin: String?, terminal: Int32? = nil) -> Running {
        let id = UUID().uuidString
        let outPath = "/tmp/swiftainer-it-out-\(id)", errPath = "/tmp/swiftainer-it-err-\(id)"
        var inPath = "/dev/null"
        if let stdin {
            inPath = "/tmp/swiftainer-it-in-\(id)"
            _ = FileManager.default.createFile(atPath: inPath, contents: Data(stdin.utf8))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let terminal {
            for fd: Int32 in 0...2 { posix_spawn_file_actions_adddup2(&actions, terminal, fd) }
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        precondition(rc == 0, "posix_spawn \(path): \(String(cString: strerror(rc)))")
        if stdin != nil { unlink(inPath) } // the child holds it open already
        return Running(pid: pid, outPath: outPath, errPath: errPath)
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
            ((try? String(contentsOfFile: root + "/containers/\(id)/container.json", encoding: .utf8)) ?? "").contains("\"name\": \"\(name)\"")
        }
    }

    /// `run -d --name NAME ARGUMENTS...`; the full id it printed.
    static func detach(_ name: String, _ arguments: [String]) -> String {
        let result = run(["run", "-d", "--name", name] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 64, "run -d printed \(result.stdout)")
        return id
    }

    /// One section ("State", "NetworkSettings", …) of `inspect NAME`.
    static func inspect(_ name: String, _ section: String) -> [String: Any] {
        let objects = (try? JSONSerialization.jsonObject(with: Data(run(["inspect", name]).stdout.utf8))) as? [[String: Any]]
        return objects?.first?[section] as? [String: Any] ?? [:]
    }

    /// The cgroup this test process is in (the memory controller's on a hybrid host, the
    /// unified one on cgroup v2), as an absolute path: what the tests give Podman, containerd
    /// and Docker as a cgroup parent, so that containers' groups — placed from the cgroup root,
    /// as the runtime spec says — are never made above the cgroup this host gave us.
    static let ownCgroup: String = {
        let membership = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        let lines = membership.split(separator: "\n").map { $0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false) }
        let memory = lines.first { $0.count == 3 && $0[1].split(separator: ",").contains("memory") }
        let unified = lines.first { $0.count == 3 && $0[0] == "0" }
        let path = String((memory ?? unified)?[2] ?? "/")
        return path == "/" ? "" : path
    }()

    /// The container's group in one hierarchy ("" for cgroup v2): below the cgroup this test
    /// process is in, as /proc/self/cgroup lists it.
    static func groupDirectory(_ id: String, _ controller: String) -> String? {
        let membership = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let matches = controller.isEmpty ? fields[0] == "0" : fields[1].split(separator: ",").contains(Substring(controller))
            guard matches else { continue }
            let own = fields[2] == "/" ? "" : String(fields[2])
            return (controller.isEmpty ? "/sys/fs/cgroup" : "/sys/fs/cgroup/\(controller)") + own + "/swiftainer-\(id)"
        }
        return nil
    }

    /// Whether any hierarchy still has a group for the container.
    static func cgroupExists(_ id: String) -> Bool {
        ["", "memory", "pids", "cpu"].compactMap { groupDirectory(id, $0) }.contains { FileManager.default.fileExists(atPath: $0) }
    }

    /// Whether any container directory (complete or not) still holds a record with this name.
    static func containerExists(named name: String) -> Bool {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root + "/containers")) ?? []
        return ids.contains { id in
            let record = (try? String(contentsOfFile: root + "/containers/\(id)/container.json", encoding: .utf8)) ?? ""
            return record.contains("\"name\": \"\(name)\"")
        }
    }
}

/// A program run on a pseudo-terminal, as a user at a terminal would run it.
final class PtySession {
    let master: Int32
    private let child: Harness.Running
    private(set) var output = ""

    init(_ path: String, _ arguments: [String], environment: [String: String]) throws {
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        guard master >= 0 else { throw POSIXError(.ENXIO) }
        var number: UInt32 = 0
        guard sw_pty_unlock(master) == 0, sw_pty_number(master, &number) == 0 else { throw POSIXError(.ENOTTY) }
        _ = sw_set_winsize(master, 24, 80)
        let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        defer { close(slave) }
        child = Harness.start(path, arguments, environment: environment, stdin: nil, terminal: slave)
    }

    deinit { close(master) }

    /// Reads until `text` has appeared in the output, up to `seconds`.
    func read(until text: String, seconds: Double = 10) -> Bool {
        Harness.eventually(seconds) {
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 1, 20) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = Glibc.read(master, &buffer, buffer.count)
                if n > 0 { output += String(decoding: buffer[0..<n], as: UTF8.self) }
            }
            return output.contains(text)
        }
    }

    func type(_ text: String) {
        _ = text.withCString { write(master, $0, strlen($0)) }
    }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// Waits (up to `seconds`, then kills it) for the program to end and returns its exit status.
    func finish(within seconds: Double = 30) -> Int32 { child.finish(within: seconds).status }
}

/// Integration tests run only as root; the reason is printed when they are skipped.
let requiresRoot = Testing.ConditionTrait.enabled(if: Harness.isRoot, "integration tests need root (namespaces, mounts, overlayfs)")
