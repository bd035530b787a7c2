#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// --restart (#18): the supervisor starts the container again with Docker's backoff, counts
/// RestartCount, shows "Restarting" between runs, and `stop`/`kill` end the policy.
@Suite(.serialized, requiresRoot) struct RestartPolicyTests {
    /// The whole inspect object (RestartCount is top-level).
    static func top(_ name: String) -> [String: Any] {
        let objects = (try? JSONSerialization.jsonObject(with: Data(Harness.run(["inspect", name]).stdout.utf8))) as? [[String: Any]]
        return objects?.first ?? [:]
    }

    func count(_ name: String) -> Int { Self.top(name)["RestartCount"] as? Int ?? -1 }
    func status(_ name: String) -> String { (Self.top(name)["State"] as? [String: Any])?["Status"] as? String ?? "" }

    @Test func onFailureRestartsWithDoublingBackoffUpToItsCount() {
        let name = "restart-fail-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        // Each run prints the system uptime (centiseconds) as it starts, then fails.
        _ = Harness.detach(name, ["--network", "none", "--restart", "on-failure:3", "busybox", "sh", "-c", "cut -d' ' -f1 /proc/uptime; exit 3"])
        #expect(Harness.eventually(15) { status(name) == "exited" && count(name) == 3 })
        usleep(700_000) // a fourth start would have come by now
        let starts = Harness.run(["logs", name]).stdout.split(separator: "\n").compactMap { Double($0) }
        #expect(starts.count == 4 && count(name) == 3, "\(starts)")
        guard starts.count == 4 else { return }
        // 100, 200, 400 ms of backoff between the runs, plus a start's own time (which varies
        // by tens of ms): each gap at least its backoff, the third 300 ms longer than the
        // first within 100 ms, none near the next step's.
        let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
        #expect(gaps[0] >= 0.09 && gaps[1] >= 0.19 && gaps[2] >= 0.39, "\(gaps)")
        #expect(gaps[2] - gaps[0] >= 0.2 && gaps[2] < 1.5, "\(gaps)")
        #expect(Harness.run(["ps", "-a"]).stdout.split(separator: "\n").contains { $0.hasSuffix(name) && $0.contains("Exited (3)") })
        let policy = (Self.top(name)["HostConfig"] as? [String: Any])?["RestartPolicy"] as? [String: Any]
        #expect(policy?["Name"] as? String == "on-failure" && policy?["MaximumRetryCount"] as? Int == 3)
        // A clean exit is not a failure: no restart.
        let clean = "restart-clean-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", clean]) }
        _ = Harness.detach(clean, ["--network", "none", "--restart", "on-failure", "busybox", "true"])
        #expect(Harness.run(["wait", clean]).stdout == "0\n")
        usleep(400_000)
        #expect(count(clean) == 0 && status(clean) == "exited")
    }

    @Test func alwaysShowsRestartingUntilStopped() {
        let name = "restart-always-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        _ = Harness.detach(name, ["--network", "none", "--restart", "always", "busybox", "sh", "-c", "exit 1"])
        // Between two runs, for the backoff.
        #expect(Harness.eventually(15) {
            Harness.run(["ps", "-a"]).stdout.split(separator: "\n").contains { $0.hasSuffix(name) && $0.contains("Restarting (1)") }
        })
        #expect(status(name) == "restarting" || count(name) >= 1)
        #expect(Harness.run(["stop", name]).status == 0)
        let stopped = count(name)
        usleep(1_500_000)
        #expect(count(name) == stopped && status(name) == "exited", "restarted after stop")
        #expect(!Harness.run(["ps", "-a"]).stdout.contains("Restarting"), "ps still says Restarting")
        // `start` puts the policy back in force.
        #expect(Harness.run(["start", name]).status == 0)
        #expect(Harness.eventually(10) { count(name) > stopped })
    }

    @Test func killEndsThePolicyAndAForegroundRunHandsItOver() {
        let killed = "restart-kill-\(getpid())", foreground = "restart-fg-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", killed, foreground]) }
        _ = Harness.detach(killed, ["--network", "none", "--restart", "unless-stopped", "busybox", "sleep", "60"])
        #expect(Harness.run(["kill", killed]).status == 0)
        #expect(Harness.eventually { status(killed) == "exited" })
        usleep(500_000)
        #expect(status(killed) == "exited" && count(killed) == 0)
        // The foreground run returns the first exit; the restarts go on in the background.
        let run = Harness.run(["run", "--name", foreground, "--network", "none", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 5"])
        #expect(run.status == 5 && run.stdout == "run\n")
        #expect(Harness.eventually(10) { count(foreground) == 2 && status(foreground) == "exited" })
        #expect(Harness.run(["logs", foreground]).stdout == "run\nrun\nrun\n")
    }

    /// After a reboot no daemon restarts anything: `start --all --filter restart-policy=…` is
    /// what a boot unit runs. In a store of its own, so other suites' containers stay put.
    @Test func startAllPicksContainersByRestartPolicy() throws {
        let root = "/tmp/swiftainer-startall-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", "always", "stopped", "plain"], root: root); _ = Harness.shell("rm -rf \(root)") }
        #expect(Harness.run(["import", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "busybox"], root: root).status == 0)
        for (name, policy) in [("always", "always"), ("stopped", "unless-stopped"), ("plain", "no")] {
            #expect(Harness.run(["run", "-d", "--name", name, "--network", "none", "--restart", policy, "busybox", "sleep", "60"], root: root).status == 0)
        }
        // "stopped" is stopped by the user; the other two end as a reboot ends them (no stop).
        #expect(Harness.run(["stop", "-t", "0", "stopped"], root: root).status == 0)
        for name in ["always", "plain"] {
            let pid = Harness.run(["inspect", name], root: root).stdout.split(separator: "\n").first { $0.contains("\"Pid\"") }?
                .filter(\.isNumber) ?? ""
            let monitor = Harness.shell("ps -o ppid= -p \(pid)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            kill(pid_t(monitor) ?? -1, SIGKILL) // the supervisor dies; its container dies with it
        }
        #expect(Harness.eventually { !Harness.run(["ps"], root: root).stdout.contains("sleep") })
        let started = Harness.run(["start", "--all", "--filter", "restart-policy=always", "--filter", "restart-policy=unless-stopped"], root: root)
        #expect(started.status == 0 && started.stdout.split(separator: "\n").count == 1, "\(started.stdout) \(started.stderr)")
        let running = Harness.run(["ps"], root: root).stdout
        #expect(running.contains(" always\n") && !running.contains(" stopped\n") && !running.contains(" plain\n"), "\(running)")
        #expect(Harness.run(["start", "--all", "--filter", "color=red"], root: root).status == 125)
    }
}
