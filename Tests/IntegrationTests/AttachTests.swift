#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// `run -it` is a client attached to a supervised container (Engine/Attach.swift, waiter.c's
/// attach protocol): the detach keys leave the container running, -a picks the streams shown,
/// --sig-proxy=false lets a signal end the client and not the container.
@Suite(.serialized, requiresRoot) struct AttachTests {
    func isRunning(_ name: String) -> Bool {
        Harness.inspect(name, "State")["Running"] as? Bool == true
    }

    @Test func defaultDetachKeysLeaveTheContainerRunning() throws {
        let name = "attach-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let session = try PtySession(Harness.binary, ["run", "--name", name, "-it", "busybox", "sh"],
                                     environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "# "), "no prompt: \(session.output)")
        // The window size crossed the socket to the container's console.
        session.type("stty size; echo marker-$((2*21))\n")
        #expect(session.read(until: "marker-42"), "\(session.output)")
        #expect(session.output.contains("24 80"), "\(session.output)")
        session.type("\u{10}\u{11}")
        #expect(session.finish(within: 15) == 0, "detaching is not an error")
        var after = termios()
        tcgetattr(session.master, &after)
        #expect(after.c_lflag & tcflag_t(ICANON | ECHO) == tcflag_t(ICANON | ECHO), "terminal restored on detach")
        #expect(isRunning(name), "the container ended with its client")
        let exec = Harness.run(["exec", name, "echo", "still-here"])
        #expect(exec.stdout == "still-here\n", "\(exec.stderr)")
        // What it printed while attached is in its log.
        #expect(Harness.run(["logs", name]).stdout.contains("marker-42"))
    }

    @Test func detachKeysCanBeChangedAndKeepOtherInputIntact() throws {
        let name = "attach-keys-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let session = try PtySession(Harness.binary, ["run", "--name", name, "--detach-keys", "ctrl-x,x", "-it", "busybox", "sh"],
                                     environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "# "), "no prompt: \(session.output)")
        // ctrl-p ctrl-q no longer detaches; a lone x (not after ctrl-x) is typed as usual.
        session.type("\u{10}\u{11}")
        session.type("echo xx-$((40+2))\n")
        #expect(session.read(until: "xx-42"), "\(session.output)")
        #expect(isRunning(name))
        session.type("\u{18}x")
        #expect(session.finish(within: 15) == 0)
        #expect(isRunning(name), "ctrl-x x did not detach")
    }

    @Test func aShellExitEndsTheRunWithItsStatus() throws {
        let session = try PtySession(Harness.binary, ["run", "--rm", "-it", "busybox", "sh"], environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "# "), "no prompt: \(session.output)")
        session.type("exit 5\n")
        #expect(session.finish(within: 15) == 5)
    }

    @Test func attachPicksTheStreamsShown() {
        let script = "echo to-out; echo to-err >&2"
        let out = Harness.run(["run", "--rm", "--network", "none", "-a", "stdout", "busybox", "sh", "-c", script])
        #expect(out.status == 0)
        #expect(out.stdout == "to-out\n" && !out.stderr.contains("to-err"), "\(out)")
        let err = Harness.run(["run", "--rm", "--network", "none", "-a", "STDERR", "busybox", "sh", "-c", script])
        #expect(err.stdout.isEmpty && err.stderr.contains("to-err"), "\(err)")
        // Without -a stdin, -i gives the container nothing of ours.
        let noInput = Harness.run(["run", "--rm", "--network", "none", "-i", "-a", "stdout", "busybox", "sh", "-c", "cat; echo end"],
                                  stdin: "typed\n")
        #expect(noInput.stdout == "end\n", "\(noInput)")
    }

    @Test func unproxiedSignalEndsTheClientNotTheContainer() {
        let name = "attach-unproxied-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let client = Harness.startSwiftainer(["run", "--name", name, "--network", "none", "--sig-proxy=false", "busybox", "sh", "-c",
                                              "trap 'echo caught; exit 9' INT; echo ready; sleep 2; echo finished"])
        #expect(Harness.eventually { client.stdout.contains("ready") }, "\(client.stdout)")
        client.signal(SIGINT)
        let result = client.finish(within: 15)
        #expect(result.status == 130, "\(result)")
        #expect(Harness.eventually(15) { Harness.inspect(name, "State")["Status"] as? String == "exited" })
        let logs = Harness.run(["logs", name]).stdout
        #expect(logs.contains("finished") && !logs.contains("caught"), "the signal reached the container: \(logs)")
    }

    /// A MiB each way through an attached run whose container reads late: input waits for it
    /// (nothing dropped), output keeps flowing meanwhile (neither side blocks the other).
    @Test func attachedInputWaitsForTheContainerAndIsNotLost() {
        let line = String(repeating: "0123456789abcdef", count: 4) + "\n"   // 65 bytes
        let input = String(repeating: line, count: 16_132)                    // 1 048 580 bytes
        let result = Harness.run(["run", "--rm", "--network", "none", "--sig-proxy=false", "-i", "busybox", "sh", "-c",
                                  "sleep 1; cat; echo done"], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.utf8.count == input.utf8.count + 5, "\(result.stdout.utf8.count) bytes came back")
        #expect(result.stdout == input + "done\n")
    }

    @Test func proxiedSignalReachesAnAttachedTerminalContainer() throws {
        let session = try PtySession(Harness.binary, ["run", "--rm", "-it", "busybox", "sh", "-c",
                                                      "trap 'echo caught-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done"],
                                     environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "ready"), "\(session.output)")
        session.signal(SIGTERM)
        #expect(session.read(until: "caught-term"), "\(session.output)")
        #expect(session.finish(within: 15) == 7)
    }
}

/// `attach`: clients of a running container's attach socket (waiter.c accepts them), several
/// at once, leaving it running when they detach or go.
@Suite(.serialized, requiresRoot) struct ReattachTests {
    @Test func attachGivesTheShellOfADetachedTTYContainerAndDetachLeavesItRunning() throws {
        let name = "reattach-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        #expect(Harness.run(["run", "-d", "-it", "--name", name, "busybox", "sh"]).status == 0)
        for round in 1...2 {
            let session = try PtySession(Harness.binary, ["attach", name], environment: ["SWIFTAINER_ROOT": Harness.root])
            session.type("echo round-$((\(round)*100))\n")
            #expect(session.read(until: "round-\(round * 100)"), "\(session.output)")
            session.type("\u{10}\u{11}")
            #expect(session.finish(within: 15) == 0)
            #expect(Harness.inspect(name, "State")["Running"] as? Bool == true, "detaching ended the container")
        }
        // The last client's leaving ends nothing; exiting the shell ends the container and
        // its client with the shell's status.
        let session = try PtySession(Harness.binary, ["attach", name], environment: ["SWIFTAINER_ROOT": Harness.root])
        session.type("exit 7\n")
        #expect(session.finish(within: 15) == 7)
        #expect(Harness.eventually { Harness.inspect(name, "State")["Status"] as? String == "exited" })
        let stopped = Harness.run(["attach", name])
        #expect(stopped.status == 125 && stopped.stderr.contains("stopped container"), "\(stopped.stderr)")
    }

    @Test func severalClientsSeeTheOutputAndOneFeedsInput() {
        let name = "reattach-many-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        #expect(Harness.run(["run", "-d", "-i", "--name", name, "busybox", "sh", "-c",
                             "while read line; do echo got-$line; [ $line = quit ] && exit 3; done"]).status == 0)
        let watchers = (0..<2).map { _ in Harness.startSwiftainer(["attach", "--no-stdin", "--sig-proxy=false", name]) }
        usleep(300_000)
        let feeder = Harness.start(Harness.binary, ["--root", Harness.root, "attach", name], environment: [:], stdin: "one\nquit\n")
        let fed = feeder.finish(within: 20)
        #expect(fed.status == 3, "\(fed.stderr)")
        for watcher in watchers {
            let seen = watcher.finish(within: 20)
            #expect(seen.status == 3 && seen.stdout == "got-one\ngot-quit\n", "\(seen)")
        }
        #expect(Harness.run(["logs", name]).stdout == "got-one\ngot-quit\n")
    }

    @Test func anUnproxiedSignalEndsTheClientNotTheContainer() {
        let name = "reattach-signal-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        #expect(Harness.run(["run", "-d", "--name", name, "busybox", "sh", "-c", "while true; do echo tick; sleep 0.2; done"]).status == 0)
        let client = Harness.startSwiftainer(["attach", "--sig-proxy=false", name])
        #expect(Harness.eventually { client.stdout.contains("tick") })
        client.signal(SIGTERM)
        #expect(client.finish(within: 10).status == 128 + SIGTERM)
        #expect(Harness.inspect(name, "State")["Running"] as? Bool == true)
    }
}
