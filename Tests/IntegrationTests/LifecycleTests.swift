#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import Testing

@Suite(.serialized, requiresRoot) struct LifecycleTests {
    /// Pids of processes whose command line contains `marker`.
    func pids(matching marker: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
        }
    }

    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func signalsReachTheContainer(signal: Int32) {
        let running = Harness.startSwiftainer(["run", "--rm", "busybox", "sh", "-c",
                                               "trap 'echo caught; exit 7' TERM INT HUP; echo ready; while true; do sleep 0.05; done"])
        #expect(Harness.eventually { running.stdout.contains("ready") })
        running.signal(signal)
        let result = running.finish()
        #expect(result.status == 7, "\(result.stderr)")
        #expect(result.stdout == "ready\ncaught\n")
    }

    @Test func containerKilledFromOutsideExits137() {
        let marker = "sleep 31\(getpid() % 1000)"
        let running = Harness.startSwiftainer(["run", "--rm", "busybox", "sh", "-c", marker])
        #expect(Harness.eventually { !pids(matching: marker).filter { $0 != running.pid }.isEmpty })
        for pid in pids(matching: marker) where pid != running.pid { kill(pid, SIGKILL) }
        let result = running.finish()
        #expect(result.status == 137, "\(result.stderr)")
    }

    @Test func killingRunKillsTheContainerAndALaterCommandCleansUp() {
        let name = "doomed-\(getpid())"
        let marker = "sleep 32\(getpid() % 1000)"
        let running = Harness.startSwiftainer(["run", "--rm", "--name", name, "busybox", "sh", "-c", marker])
        #expect(Harness.eventually { Harness.run(["ps"]).stdout.contains(name) })
        running.signal(SIGKILL)
        _ = running.finish()
        // PR_SET_PDEATHSIG: the container dies with its supervisor.
        #expect(Harness.eventually { pids(matching: marker).isEmpty })
        #expect(Harness.hostMountsMentioning(Harness.root + "/containers").isEmpty)
        // The next command notices and removes the --rm container (or, when a command of
        // another test holds its lock to do the same at that moment, the one after).
        #expect(Harness.eventually(5) { !Harness.run(["ps", "-a"]).stdout.contains(name) })
        #expect(!Harness.containerExists(named: name))
    }

    @Test func containerWithoutRmStaysListedUntilRemoved() {
        let name = "kept-\(getpid())"
        let result = Harness.run(["run", "--name", name, "busybox", "sh", "-c", "exit 4"])
        #expect(result.status == 4)
        let ps = Harness.run(["ps", "-a"])
        #expect(ps.stdout.contains(name) && ps.stdout.contains("Exited (4)"), "\(ps.stdout)")
        #expect(!Harness.run(["ps"]).stdout.contains(name))
        let clash = Harness.run(["run", "--name", name, "busybox", "true"])
        #expect(clash.status == 125)
        #expect(clash.stderr.contains("already in use"))
        #expect(Harness.run(["rm", name]).status == 0)
        #expect(!Harness.run(["ps", "-a"]).stdout.contains(name))
    }

    @Test func interactiveShellThroughAPty() throws {
        let session = try PtySession(Harness.binary, ["run", "--rm", "-it", "busybox", "/bin/sh"],
                                     environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "# "), "no prompt: \(session.output)")
        session.type("tty; echo answer-$((6*7))\n")
        #expect(session.read(until: "answer-42"), "\(session.output)")
        #expect(session.output.contains("/dev/pts/0"), "the console is the container's own pty: \(session.output)")
        var during = termios()
        tcgetattr(session.master, &during)
        #expect(during.c_lflag & tcflag_t(ICANON) == 0, "raw mode while the container runs")
        session.type("exit 9\n")
        #expect(session.finish() == 9)
        var after = termios()
        tcgetattr(session.master, &after)
        #expect(after.c_lflag & tcflag_t(ICANON | ECHO) == tcflag_t(ICANON | ECHO), "terminal restored on exit")
    }

    /// --init: PID 1 is the reaper, the command is PID 2 and its status is the container's.
    @Test func initKeepsPIDOneAndPassesTheStatusOn() {
        let result = Harness.run(["run", "--rm", "--network", "none", "--init", "busybox", "sh", "-c", "echo $$; exit 7"])
        #expect(result.status == 7, "\(result.stderr)")
        #expect(result.stdout == "2\n")
        let missing = Harness.run(["run", "--rm", "--network", "none", "--init", "busybox", "/no/such/command"])
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("/no/such/command"), "\(missing.stderr)")
    }

    /// Without --init, `sleep` as PID 1 ignores SIGTERM and `stop` has to kill it (137); with
    /// it, the reaper forwards SIGTERM (143). Orphans reparented to PID 1 are reaped.
    @Test func initForwardsStopAndReapsOrphans() {
        let name = "init-\(getpid())"
        _ = Harness.detach(name, ["--network", "none", "--init", "busybox", "sh", "-c",
                                  "sh -c 'sleep 0.1 &'; sleep 0.6; ps -o stat,comm; echo listed; exec sleep 100"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        #expect(Harness.eventually { Harness.run(["logs", name]).stdout.contains("listed") })
        let listing = Harness.run(["logs", name]).stdout
        #expect(!listing.split(separator: "\n").contains { $0.hasPrefix("Z") }, "a zombie was left: \(listing)")
        let stop = Harness.run(["stop", "-t", "30", name])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(Harness.inspect(name, "State")["ExitCode"] as? Int == 143)
    }

    /// On a terminal the command is the foreground process group: the shell reads the console
    /// and ^C interrupts its child once.
    @Test func initWithATerminal() throws {
        let session = try PtySession(Harness.binary, ["run", "--rm", "-it", "--network", "none", "--init", "busybox", "/bin/sh"],
                                     environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "# "), "no prompt: \(session.output)")
        session.type("sleep 30\n")
        usleep(300_000)
        session.type("\u{3}")
        session.type("echo pid-$$\n")
        #expect(session.read(until: "pid-2"), "\(session.output)")
        session.type("exit 9\n")
        #expect(session.finish() == 9)
    }

    /// A user is rootless with a store of its own; root's store is refused in one line before
    /// anything is made (no user namespace, no state directory).
    @Test func nonRootIsToldClearly() {
        let result = Harness.execute("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Harness.binary,
                                                         "run", "--rm", "busybox", "true"],
                                     environment: ["SWIFTAINER_ROOT": Harness.root], stdin: nil)
        #expect(result.status == 125)
        #expect(result.stderr.hasPrefix("swiftainer: store \(Harness.root) belongs to uid 0: rootless"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/swiftainer-run-65534"))
    }

    @Test func importErrorsLeaveTheStoreAlone() throws {
        // Ids and tags, not the table: its CREATED column ticks while the test runs.
        func store() -> String {
            Harness.run(["images", "-q", "--no-trunc"]).stdout
                + ((try? String(contentsOfFile: Harness.root + "/images/repositories.json", encoding: .utf8)) ?? "")
        }
        let before = store()
        let fixture = Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture))
        let truncated = "/tmp/swiftainer-truncated-\(getpid()).tar.gz"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        defer { unlink(truncated) }
        let result = Harness.run(["import", truncated, "broken:1"])
        #expect(result.status == 125)
        #expect(result.stderr.contains("truncated"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(store() == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: Harness.root + "/images/tmp").isEmpty)
    }

    @Test func imagesAndRmi() {
        let fixture = Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz"
        #expect(Harness.run(["import", fixture, "extra:3.20"]).status == 0)
        let images = Harness.run(["images"]).stdout
        #expect(images.hasPrefix("REPOSITORY   TAG"))
        #expect(images.contains("extra") && images.contains("3.20"))
        #expect(Harness.run(["run", "--rm", "extra:3.20", "true"]).status == 0)
        let removed = Harness.run(["rmi", "extra:3.20"])
        #expect(removed.stdout == "Untagged: extra:3.20\n", "shares its layer with busybox, so only the tag goes")
        #expect(Harness.run(["run", "--rm", "--pull", "never", "extra:3.20", "true"]).status == 125)
    }
}
