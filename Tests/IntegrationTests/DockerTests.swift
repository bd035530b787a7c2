#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Docker Engine (Debian's docker.io: dockerd 20.10 with containerd's runc shim) driving
/// swiftainer as a runtime, as a user would set it up: `--add-runtime swiftainer=…` and
/// `docker run --runtime swiftainer`. The daemon is private — its own data and exec roots and
/// socket, no iptables, no bridge, vfs storage, containers' cgroups below our own — started
/// once for the suite and stopped when the test process exits.
@Suite(.serialized, requiresRoot) struct DockerTests {
    static let dir = Harness.root + "/docker"
    static let socket = dir + "/docker.sock"
    nonisolated(unsafe) static var started: Harness.Running?

    static let daemon: Harness.Running? = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") else { return nil }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let running = Harness.start("/usr/sbin/dockerd", [
            "--data-root", dir + "/data", "--exec-root", dir + "/exec", "-H", "unix://" + socket, "--pidfile", dir + "/docker.pid",
            "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs", "--userland-proxy=false",
            "--add-runtime", "swiftainer=" + Harness.runtime, "--cgroup-parent", Harness.ownCgroup + "/swiftainer-docker",
        ], environment: [:], stdin: nil)
        started = running
        atexit {
            guard let daemon = DockerTests.started else { return }
            // Containers first, while the daemon can still end them; then the daemon and the
            // containerd it started (SIGKILL: a child may have inherited a blocked SIGTERM).
            let ids = DockerTests.docker(["ps", "-aq"]).stdout.split(separator: "\n").map(String.init)
            if !ids.isEmpty { DockerTests.docker(["rm", "-f"] + ids) }
            daemon.signal(SIGKILL)
            _ = daemon.finish(within: 10)
            _ = Harness.shell("pkill -KILL -f '\(DockerTests.dir)/exec/containerd/containerd.toml'")
            // dockerd makes its data root a private mount of itself: gone with the daemon.
            for point in ["/data", "/exec"] { umount2(DockerTests.dir + point, Int32(MNT_DETACH)) }
        }
        guard Harness.eventually(30, { docker(["info"]).status == 0 }) else { return nil }
        return running
    }()

    static let image: Bool = {
        guard daemon != nil else { return false }
        return docker(["import", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "swiftainer-busybox:latest"]).status == 0
    }()

    @discardableResult
    static func docker(_ arguments: [String], stdin: String? = nil) -> Harness.Result {
        Harness.execute("/usr/bin/docker", ["-H", "unix://" + socket] + arguments, environment: [:], stdin: stdin)
    }

    /// `docker run` on swiftainer, never pulling (no traffic leaves this machine).
    static func run(_ arguments: [String]) -> [String] {
        ["run", "--pull", "never", "--runtime", "swiftainer", "--network", "none"] + arguments
    }

    @Test func runPassesOutputAndExitCodes() throws {
        try #require(Self.image, "dockerd did not start or the image did not import (see \(Self.dir))")
        let hello = Self.docker(Self.run(["--rm", "swiftainer-busybox", "sh", "-c", "echo hello from docker; exit 3"]))
        #expect(hello.status == 3, "\(hello.stderr)")
        #expect(hello.stdout == "hello from docker\n")
        let initProcess = Self.docker(Self.run(["--rm", "--init", "swiftainer-busybox", "ps", "-o", "comm"]))
        #expect(initProcess.stdout.contains("ps") && initProcess.status == 0, "\(initProcess.stdout) \(initProcess.stderr)")
        let readOnly = Self.docker(Self.run(["--rm", "--read-only", "--cap-drop", "ALL", "swiftainer-busybox", "sh", "-c",
                                             "touch /x 2>/dev/null && echo writable; grep CapEff /proc/self/status"]))
        #expect(readOnly.stdout == "CapEff:\t0000000000000000\n", "\(readOnly.stdout) \(readOnly.stderr)")
    }

    /// `docker run -it`: containerd's shim hands swiftainer a console socket; twenty in a row,
    /// each through a real pty, must start, print their tty and exit with their status.
    @Test func interactiveTerminalTwentyTimesInARow() throws {
        try #require(Self.image, "dockerd did not start or the image did not import (see \(Self.dir))")
        for attempt in 1...20 {
            let session = try PtySession("/usr/bin/docker", ["-H", "unix://" + Self.socket] + Self.run(["--rm", "-it", "swiftainer-busybox", "sh"]),
                                         environment: [:])
            #expect(session.read(until: "# ", seconds: 20), "attempt \(attempt): no prompt: \(session.output)")
            session.type("tty; exit 4\n")
            #expect(session.read(until: "/dev/pts/"), "attempt \(attempt): \(session.output)")
            #expect(session.finish() == 4, "attempt \(attempt): \(session.output)")
        }
    }

    @Test func detachedLogsExecTopPauseStatsUpdateStopRemove() throws {
        try #require(Self.image, "dockerd did not start or the image did not import (see \(Self.dir))")
        let name = "swiftainer-docker-\(getpid())"
        let started = Self.docker(Self.run(["-d", "--name", name, "-m", "64m", "swiftainer-busybox", "sh", "-c",
                                            "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"]))
        #expect(started.status == 0, "\(started.stderr)")
        defer { Self.docker(["rm", "-f", name]) }
        #expect(Harness.eventually { Self.docker(["logs", name]).stdout.contains("line 2") })
        let exec = Self.docker(["exec", name, "sh", "-c", "echo from exec; exit 6"])
        #expect(exec.status == 6 && exec.stdout == "from exec\n", "\(exec.stdout) \(exec.stderr)")
        #expect(Self.docker(["top", name]).stdout.contains("sleep") || Self.docker(["top", name]).stdout.contains("sh"))
        #expect(Self.docker(["pause", name]).status == 0)
        #expect(Self.docker(["inspect", "--format", "{{.State.Status}}", name]).stdout == "paused\n")
        #expect(Self.docker(["unpause", name]).status == 0)
        let stats = Self.docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", name])
        #expect(stats.status == 0 && stats.stdout.contains("64MiB"), "\(stats.stdout) \(stats.stderr)")
        let update = Self.docker(["update", "--memory", "96m", "--memory-swap", "192m", "--pids-limit", "40", name])
        #expect(update.status == 0, "\(update.stderr)")
        let limit = Self.docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", name]).stdout
        #expect(limit.contains("96MiB"), "\(limit)")
        let stop = Self.docker(["stop", "-t", "1", name])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(Self.docker(["inspect", "--format", "{{.State.Status}}", name]).stdout == "exited\n")
        #expect(Self.docker(["rm", name]).status == 0)
        #expect(!Self.docker(["ps", "-a"]).stdout.contains(name))
    }

    @Test func outOfMemoryIs137() throws {
        try #require(Self.image, "dockerd did not start or the image did not import (see \(Self.dir))")
        let result = Self.docker(Self.run(["--rm", "-m", "32m", "--memory-swap", "32m", "swiftainer-busybox", "sh", "-c",
                                           "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]))
        #expect(result.status == 137, "\(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("survived"))
    }
}
