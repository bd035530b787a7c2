#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

@Suite(.serialized, requiresRoot) struct RunTests {
    @Test func hostnameIsIsolated() {
        let hostBefore = ProcessInfo.processInfo.hostName
        let result = Harness.run(["run", "--rm", "--hostname", "boxed", "busybox", "hostname"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "boxed\n")
        #expect(ProcessInfo.processInfo.hostName == hostBefore)
        // Default: the short container id.
        let fallback = Harness.run(["run", "--rm", "busybox", "hostname"])
        #expect(fallback.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 12)
    }

    @Test func commandIsPid1AndSeesOnlyContainerProcesses() {
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c", "echo $$; ps -o pid,comm | tail -n +2 | wc -l; ls /proc | grep -c '^[0-9]'"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.first == "1")
        // sh and ps (ps counts itself; wc and tail are part of the pipeline too): far fewer than the host's.
        let visible = Int(lines.last ?? "") ?? 999
        #expect(visible <= 5, "container sees \(visible) pids")
    }

    @Test func mountsInsideAreInvisibleOutside() {
        let before = Harness.hostMountsMentioning(Harness.root + "/containers")
        // Mounting needs CAP_SYS_ADMIN, which containers lack by default.
        let result = Harness.run(["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                                  "mkdir -p /mnt/inner && mount -t tmpfs marker-tmpfs /mnt/inner && grep -c marker-tmpfs /proc/self/mountinfo"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "1\n")
        #expect(Harness.hostMountsMentioning("marker-tmpfs").isEmpty)
        #expect(Harness.hostMountsMentioning(Harness.root + "/containers") == before)
    }

    @Test func hostFilesAreNotVisible() throws {
        let marker = "/tmp/swiftainer-host-marker-\(getpid())"
        _ = FileManager.default.createFile(atPath: marker, contents: Data("host".utf8))
        defer { unlink(marker) }
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c", "cat \(marker); ls /work /opt/swift 2>&1; cat /etc/os-release"])
        #expect(!result.stdout.contains("host\n"))
        #expect(result.stdout.contains("swiftainer busybox fixture"))
        #expect(!result.stdout.contains("usr"), "host directories visible: \(result.stdout)")
    }

    @Test(arguments: [("exit 0", 0), ("exit 3", 3), ("sh -c 'kill -9 $$'; exit $?", 137)] as [(String, Int32)])
    func exitStatusPropagates(script: String, expected: Int32) {
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c", script])
        #expect(result.status == expected, "\(script): \(result.stderr)")
    }

    @Test func missingCommandIs127AndUnexecutableIs126() {
        let missing = Harness.run(["run", "--rm", "busybox", "no-such-command"])
        #expect(missing.status == 127)
        #expect(missing.stderr == "swiftainer: exec: \"no-such-command\": executable file not found in $PATH\n")
        let notExecutable = Harness.run(["run", "--rm", "busybox", "/etc/passwd"])
        #expect(notExecutable.status == 126)
        #expect(notExecutable.stderr.hasPrefix("swiftainer: "))
        let directory = Harness.run(["run", "--rm", "busybox", "/etc"])
        #expect(directory.status == 126)
    }

    @Test func unknownImageIs125() {
        // --pull never: a missing image would otherwise be pulled (from Docker Hub, off this host).
        let result = Harness.run(["run", "--rm", "--pull", "never", "no-such-image:1.0", "true"])
        #expect(result.status == 125)
        #expect(result.stderr == "swiftainer: image not found: no-such-image:1.0\n")
    }

    @Test func writesStayInTheirContainer() throws {
        let first = Harness.run(["run", "--name", "writer-\(getpid())", "busybox", "sh", "-c", "echo secret > /etc/written && cat /etc/written"])
        #expect(first.status == 0 && first.stdout == "secret\n", "\(first.stderr)")
        let second = Harness.run(["run", "--rm", "busybox", "sh", "-c", "cat /etc/written 2>/dev/null || echo absent"])
        #expect(second.stdout == "absent\n")
        let layers = try FileManager.default.contentsOfDirectory(atPath: Harness.root + "/images/layers")
        for layer in layers {
            #expect(!FileManager.default.fileExists(atPath: Harness.root + "/images/layers/\(layer)/etc/written"))
        }
        let removed = Harness.run(["rm", "writer-\(getpid())"])
        #expect(removed.status == 0, "\(removed.stderr)")
    }

    @Test func removeLeavesNothing() {
        let name = "ephemeral-\(getpid())"
        let result = Harness.run(["run", "--rm", "--name", name, "busybox", "true"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!Harness.containerExists(named: name))
        #expect(Harness.hostMountsMentioning(Harness.root + "/containers").isEmpty)
    }

    @Test func environmentAndWorkingDirectory() {
        let result = Harness.run(["run", "--rm", "-e", "GREETING=hi there", "-w", "/srv/app", "busybox", "sh", "-c", "echo \"$GREETING\"; pwd"])
        #expect(result.stdout == "hi there\n/srv/app\n", "\(result.stderr)")
    }

    @Test func interactiveStdinWithoutTTY() {
        let result = Harness.run(["run", "--rm", "-i", "busybox", "sh", "-c", "read line; echo got:$line"], stdin: "hello\n")
        #expect(result.stdout == "got:hello\n")
        let closed = Harness.run(["run", "--rm", "busybox", "sh", "-c", "cat; echo eof"], stdin: "ignored\n")
        #expect(closed.stdout == "eof\n") // without -i, stdin is /dev/null
    }

    @Test func devAndProcAreTheContainersOwn() {
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c",
                                  "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; cat /proc/kcore 2>/dev/null | wc -c; touch /sys/x 2>&1 || echo sys-ro"])
        #expect(result.status == 0, "\(result.stderr)")
        for node in ["null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin", "stdout", "stderr"] {
            #expect(result.stdout.contains(node + " ") || result.stdout.contains(node + "\n"), "/dev lacks \(node): \(result.stdout)")
        }
        #expect(result.stdout.contains("\n4\n0\n"), "/dev/zero or a masked /proc/kcore misbehaves: \(result.stdout)")
        #expect(result.stdout.contains("sys-ro"))
    }
}
