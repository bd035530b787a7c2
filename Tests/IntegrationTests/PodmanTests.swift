#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Podman, a real OCI client, driving swiftainer as its runtime (conmon in between), set up as
/// ../shared/PEERS.md says for this host: cgroupfs, file events, no network, vfs storage of its
/// own, and rlimits this session may set. scripts/install-deps installs podman.
@Suite(.serialized, requiresRoot) struct PodmanTests {
    static let home = Harness.root + "/podman"
    static let imported: Bool = {
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try? """
        [containers]
        netns = "none"
        [engine]
        cgroup_manager = "cgroupfs"
        events_logger = "file"
        """.write(toFile: home + "/containers.conf", atomically: true, encoding: .utf8)
        let result = podman(["import", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "localhost/swiftainer-busybox:latest"])
        return result.status == 0
    }()

    static var global: [String] {
        ["--root", home + "/graph", "--runroot", home + "/run", "--storage-driver", "vfs", "--runtime", Harness.runtime]
    }
    /// Rlimits this session may set, and conmon left in podman's own cgroup: podman's cgroupfs
    /// manager would otherwise create /libpod_parent/conmon at the root of every hierarchy.
    static let limits = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", "--cgroups", "no-conmon",
                         // Podman's cgroupfs parent is /libpod_parent, from the cgroup root: below ours instead.
                         "--cgroup-parent", Harness.ownCgroup + "/swiftainer-podman"]

    @discardableResult
    static func podman(_ arguments: [String]) -> Harness.Result {
        Harness.execute("/usr/bin/podman", global + arguments, environment: ["CONTAINERS_CONF": home + "/containers.conf"], stdin: nil)
    }

    @Test func runEchoesAndPropagatesExitCodes() {
        #expect(Self.imported, "podman import of the fixture failed")
        let hello = Self.podman(["run", "--rm"] + Self.limits + ["localhost/swiftainer-busybox", "echo", "hello"])
        #expect(hello.status == 0, "\(hello.stderr)")
        #expect(hello.stdout == "hello\n")
        let failing = Self.podman(["run", "--rm"] + Self.limits + ["localhost/swiftainer-busybox", "sh", "-c", "exit 7"])
        #expect(failing.status == 7, "\(failing.stderr)")
    }

    @Test func detachedLogsStopAndRemove() {
        #expect(Self.imported)
        let name = "swiftainer-podman-\(getpid())"
        let started = Self.podman(["run", "-d", "--name", name] + Self.limits + ["localhost/swiftainer-busybox", "sh", "-c",
                                   "trap 'exit 0' TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"])
        #expect(started.status == 0, "\(started.stderr)")
        defer { Self.podman(["rm", "-f", name]) }
        #expect(Harness.eventually { Self.podman(["logs", name]).stdout.contains("line 2") })
        #expect(Self.podman(["ps", "--format", "{{.Names}}"]).stdout.contains(name))
        // podman exec: conmon runs `swiftainer exec -d --pid-file … --process …` and waits.
        let exec = Self.podman(["exec", name, "sh", "-c", "hostname; ls /proc | grep -c '^[0-9]'; exit 5"])
        #expect(exec.status == 5, "\(exec.stderr)")
        #expect(exec.stdout.split(separator: "\n").count == 2, "\(exec.stdout)")
        let stopped = Self.podman(["stop", "-t", "5", name])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(Self.podman(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]).stdout.contains("\(name) Exited (0)"))
        #expect(Self.podman(["rm", name]).status == 0)
    }

    @Test func interactiveTerminalThroughTheConsoleSocket() throws {
        #expect(Self.imported)
        let session = try PtySession("/usr/bin/podman", Self.global + ["run", "--rm", "-it"] + Self.limits + ["localhost/swiftainer-busybox", "/bin/sh"],
                                     environment: ["CONTAINERS_CONF": Self.home + "/containers.conf"])
        #expect(session.read(until: "# "), "\(session.output)")
        session.type("tty; echo pod-$((6*7))\n")
        #expect(session.read(until: "pod-42"), "\(session.output)")
        #expect(session.output.contains("/dev/pts/0"))
        session.type("exit 6\n")
        #expect(session.finish() == 6)
    }
}
