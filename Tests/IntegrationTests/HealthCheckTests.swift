#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// --health-* (#18): the supervisor's checker runs the test through exec on Docker's
/// schedule; ps shows the state, inspect keeps State.Health with the last five probes.
@Suite(.serialized, requiresRoot) struct HealthCheckTests {
    static func health(_ name: String) -> [String: Any] {
        Harness.inspect(name, "State")["Health"] as? [String: Any] ?? [:]
    }

    static func psStatus(_ name: String) -> String {
        Harness.run(["ps", "-a"]).stdout.split(separator: "\n").first { $0.hasSuffix(" " + name) }.map(String.init) ?? ""
    }

    /// Processes whose command line names this container's checker ("[h]": not the shell
    /// running pgrep, whose own command line holds the pattern).
    static func checkers(_ id: String) -> Int {
        Int(Harness.shell("pgrep -f '[h]ealth-monitor \(id)' | wc -l").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test func aCheckThatFailsThenPassesGoesStartingUnhealthyHealthy() throws {
        let name = "health-flip-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let id = Harness.detach(name, ["--network", "none", "--health-cmd", "echo probing; test -f /tmp/ok", "--health-interval", "200ms",
                                       "--health-retries", "2", "busybox", "sh", "-c", "sleep 2.5; touch /tmp/ok; exec sleep 60"])
        #expect(Self.psStatus(name).contains("(health: starting)"), "\(Self.psStatus(name))")
        #expect(Harness.eventually(10) { Self.psStatus(name).contains("(unhealthy)") }, "\(Self.psStatus(name))")
        let failing = Self.health(name)
        #expect(failing["Status"] as? String == "unhealthy" && (failing["FailingStreak"] as? Int ?? 0) >= 2, "\(failing)")
        #expect(Harness.eventually(10) { Self.psStatus(name).contains("(healthy)") }, "\(Self.psStatus(name))")
        let passing = Self.health(name)
        let log = passing["Log"] as? [[String: Any]] ?? []
        #expect(passing["FailingStreak"] as? Int == 0 && log.count <= 5 && log.last?["ExitCode"] as? Int == 0, "\(passing)")
        #expect(log.last?["Output"] as? String == "probing\n")
        #expect(Self.checkers(id) == 1)
        #expect(Harness.run(["rm", "-f", name]).status == 0)
        #expect(Harness.eventually { Self.checkers(id) == 0 }, "the checker outlived its container")
    }

    @Test func aProbePastItsTimeoutIsKilledAndCountsAsAFailure() {
        let name = "health-slow-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        _ = Harness.detach(name, ["--network", "none", "--health-cmd", "sleep 30", "--health-timeout", "300ms", "--health-interval", "100ms",
                                  "--health-retries", "1", "busybox", "sleep", "60"])
        #expect(Harness.eventually(10) { Self.psStatus(name).contains("(unhealthy)") })
        let log = Self.health(name)["Log"] as? [[String: Any]] ?? []
        #expect(log.first?["ExitCode"] as? Int == -1 && log.first?["Output"] as? String == "Health check exceeded timeout (300ms)", "\(log)")
        // The probe's process went with its exec (nothing sleeps 30 s in the container).
        let inside = Harness.run(["exec", name, "ps", "-o", "args"]).stdout
        #expect(Harness.eventually { !Harness.run(["exec", name, "ps", "-o", "args"]).stdout.contains("sleep 30") }, "\(inside)")
    }

    @Test func failuresInTheStartPeriodDoNotCount() {
        let name = "health-grace-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        _ = Harness.detach(name, ["--network", "none", "--health-cmd", "false", "--health-start-period", "1500ms", "--health-start-interval", "100ms",
                                  "--health-interval", "300ms", "--health-retries", "1", "busybox", "sleep", "60"])
        #expect(Harness.eventually(5) { (Self.health(name)["Log"] as? [Any])?.count ?? 0 >= 3 })
        let early = Self.health(name)
        #expect(early["Status"] as? String == "starting" && early["FailingStreak"] as? Int == 0, "\(early)")
        #expect(Harness.eventually(10) { Self.health(name)["Status"] as? String == "unhealthy" })
    }
}
