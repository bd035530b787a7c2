#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Detached containers and the Docker verbs around them (issue #6), against the real binary.
@Suite(.serialized, requiresRoot) struct DetachedTests {
    /// `run -d` with a unique name; returns the full id printed.
    func detach(_ name: String, _ arguments: [String]) -> String { Harness.detach(name, arguments) }
    func inspectState(_ name: String) -> [String: Any] { Harness.inspect(name, "State") }

    /// Nothing of the container is left: state directory, cgroup, host mounts. (The supervisor
    /// of an --rm container removes its directory first and its cgroup and state right after.)
    func expectGone(_ id: String, _ name: String) {
        #expect(!FileManager.default.fileExists(atPath: Harness.root + "/containers/" + id))
        #expect(Harness.eventually(5) { !FileManager.default.fileExists(atPath: Harness.root + "/run/containers/" + id) }, "runtime state of \(name) left behind")
        #expect(Harness.eventually(5) { !Harness.cgroupExists(id) }, "cgroup of \(name) left behind")
        #expect(Harness.hostMountsMentioning(id).isEmpty)
        #expect(!Harness.run(["ps", "-a"]).stdout.contains(name))
    }

    @Test func detachedLoopLogsFollowStopRemove() {
        let name = "loop-\(getpid())"
        let id = detach(name, ["busybox", "sh", "-c", "i=0; while true; do echo line $i; echo oops $i >&2; i=$((i+1)); sleep 0.2; done"])
        #expect(Harness.run(["ps"]).stdout.contains(name))
        #expect(inspectState(name)["Running"] as? Bool == true)
        #expect(Harness.cgroupExists(id))
        #expect(Harness.eventually { Harness.run(["logs", name]).stdout.contains("line 3\n") })

        let logs = Harness.run(["logs", name])
        #expect(logs.stdout.hasPrefix("line 0\nline 1\nline 2\n"), "\(logs.stdout)")
        #expect(logs.stderr.hasPrefix("oops 0\noops 1\n"), "stderr stays stderr: \(logs.stderr)")
        let tailed = Harness.run(["logs", "--tail", "2", "-t", name])
        let tail = (tailed.stdout + tailed.stderr).split(separator: "\n")
        #expect(tail.count == 2 && tail.allSatisfy { $0.contains("Z line ") || $0.contains("Z oops ") } == true, "\(tail)")
        // The file itself is Docker's json-file shape.
        let raw = (try? String(contentsOfFile: Harness.root + "/containers/\(id)/\(id)-json.log", encoding: .utf8)) ?? ""
        let first = raw.split(separator: "\n").first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(first?["log"] == "line 0\n" && first?["stream"] == "stdout" && first?["time"]?.hasSuffix("Z") == true, "\(raw.prefix(200))")

        // logs -f keeps printing new lines and ends when the container stops.
        let follower = Harness.startSwiftainer(["logs", "-f", name])
        let seen = Harness.run(["logs", name]).stdout.split(separator: "\n").count
        #expect(Harness.eventually { follower.stdout.split(separator: "\n").count > seen + 2 })

        // PID 1 ignores SIGTERM without a handler: stop waits out -t, then SIGKILL (137).
        let started = Date()
        let stop = Harness.run(["stop", "-t", "1", name])
        #expect(stop.status == 0 && stop.stdout == name + "\n", "\(stop.stderr)")
        #expect(Date().timeIntervalSince(started) < 8)
        let followed = follower.finish()
        #expect(followed.status == 0)
        let ps = Harness.run(["ps", "-a"])
        #expect(ps.stdout.contains("Exited (137)"), "\(ps.stdout)")
        #expect(!Harness.run(["ps"]).stdout.contains(name))
        #expect(!Harness.cgroupExists(id))
        #expect(Harness.run(["wait", name]).stdout == "137\n")

        #expect(Harness.run(["rm", name]).status == 0)
        expectGone(id, name)
    }

    @Test func stopDeliversSigtermFirst() {
        let name = "polite-\(getpid())"
        let id = detach(name, ["busybox", "sh", "-c", "trap 'echo bye; exit 143' TERM; echo up; while true; do sleep 0.1; done"])
        #expect(Harness.eventually { Harness.run(["logs", name]).stdout.contains("up") })
        #expect(Harness.run(["stop", name]).status == 0)
        #expect(Harness.run(["logs", name]).stdout == "up\nbye\n")
        #expect(inspectState(name)["ExitCode"] as? Int == 143)
        // start runs it again in the same container; restart stops and starts it.
        #expect(Harness.run(["start", name]).status == 0)
        #expect(inspectState(name)["Running"] as? Bool == true)
        #expect(Harness.run(["restart", "-t", "5", name]).status == 0)
        #expect(inspectState(name)["Running"] as? Bool == true)
        #expect(Harness.run(["kill", "-s", "TERM", name]).status == 0)
        #expect(Harness.run(["wait", name]).stdout == "143\n")
        #expect(Harness.run(["logs", name]).stdout.components(separatedBy: "up\n").count == 4, "three runs logged")
        #expect(Harness.run(["rm", name]).status == 0)
        expectGone(id, name)
    }

    @Test func execJoinsTheRunningContainer() {
        let name = "target-\(getpid())"
        let id = detach(name, ["--hostname", "inside", "busybox", "sh", "-c", "echo secret > /tmp/marker; exec sleep 1000"])
        #expect(Harness.eventually { Harness.run(["exec", name, "cat", "/tmp/marker"]).stdout == "secret\n" })
        #expect(Harness.run(["exec", name, "hostname"]).stdout == "inside\n")
        // Its pid namespace: PID 1 is the container's command, and exec's shell is a small pid.
        let pid1 = Harness.run(["exec", name, "cat", "/proc/1/cmdline"]).stdout.replacingOccurrences(of: "\0", with: " ")
        #expect(pid1 == "sleep 1000 ", "\(pid1)")
        let ownPid = Int(Harness.run(["exec", name, "sh", "-c", "echo $$"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(ownPid > 1 && ownPid < 100)
        // Its cgroup: the exec'd process is listed among the container's.
        let cgroupOfExec = Harness.run(["exec", name, "cat", "/proc/self/cgroup"]).stdout
        #expect(cgroupOfExec.contains("swiftainer-\(id)") || !cgroupOfExec.contains("swiftainer"), "\(cgroupOfExec)")
        let procs = (try? String(contentsOfFile: (Harness.groupDirectory(id, "pids") ?? Harness.groupDirectory(id, "") ?? "") + "/cgroup.procs", encoding: .utf8)) ?? ""
        #expect(procs.split(separator: "\n").count == 1, "only the container's init once exec is done: \(procs)")
        // Status, environment, working directory, user, seccomp.
        #expect(Harness.run(["exec", name, "sh", "-c", "exit 5"]).status == 5)
        #expect(Harness.run(["exec", name, "nosuchcommand"]).status == 127)
        #expect(Harness.run(["exec", "-e", "GREETING=hi", "-w", "/tmp", name, "sh", "-c", "echo $GREETING; pwd"]).stdout == "hi\n/tmp\n")
        #expect(Harness.run(["exec", "-u", "nobody", name, "id", "-u"]).stdout == "65534\n")
        #expect(Harness.run(["exec", name, "grep", "Seccomp:", "/proc/self/status"]).stdout.contains("2"))
        #expect(Harness.run(["exec", name, "grep", "CapEff", "/proc/self/status"]).stdout.contains("00000000a80425fb"))
        // Input reaches it with -i.
        #expect(Harness.run(["exec", "-i", name, "cat"], stdin: "piped\n").stdout == "piped\n")
        let notRunning = Harness.run(["exec", "no-such-container-\(getpid())", "true"])
        #expect(notRunning.status == 125 && notRunning.stderr.contains("no-such-container-\(getpid())"), "\(notRunning.stderr)")

        #expect(Harness.run(["rm", "-f", name]).status == 0)
        expectGone(id, name)
        #expect(Harness.run(["exec", name, "true"]).status == 125)
    }

    @Test func execWithATerminal() throws {
        let name = "ttyexec-\(getpid())"
        let id = detach(name, ["-it", "busybox", "sh"])
        let session = try PtySession(Harness.binary, ["exec", "-it", name, "sh"], environment: ["SWIFTAINER_ROOT": Harness.root])
        #expect(session.read(until: "# "), "no prompt: \(session.output)")
        session.type("tty; echo pid-$$\n")
        #expect(session.read(until: "\npid-"), "\(session.output)")
        #expect(session.output.contains("/dev/pts/1"), "a second pty of the container's own devpts: \(session.output)")
        session.type("exit 3\n")
        #expect(session.finish() == 3)
        #expect(inspectState(name)["Running"] as? Bool == true, "the container's own shell keeps running")
        #expect(Harness.run(["rm", "-f", name]).status == 0)
        expectGone(id, name)
    }

    @Test func killedMonitorMeansExitedAndRmCleansUp() {
        let name = "orphan-\(getpid())"
        let id = detach(name, ["-m", "64m", "busybox", "sleep", "1000"])
        // The core's state of the run, on the state root (tmpfs in a default install).
        let state = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Harness.root + "/run/containers/\(id)/state.json")))) as? [String: Any]
        guard let monitor = (state?["supervisor"] as? [String: Any])?["pid"] as? Int,
              let initPid = (state?["process"] as? [String: Any])?["pid"] as? Int else {
            Issue.record("no supervisor and init pids in \(String(describing: state))")
            return
        }
        // Once the container runs, its supervisor is the C waiter (the same process, exec'd):
        // idle, it holds no Swift runtime.
        // `run -d` returns once the process runs; the monitor's exec into the waiter may still
        // be under way then (its cmdline reads empty mid-exec).
        func command() -> String { (try? String(contentsOfFile: "/proc/\(monitor)/cmdline", encoding: .utf8)) ?? "" }
        #expect(Harness.eventually(5) { command().split(separator: "\0").dropFirst().first == "__wait" }, "\(command())")
        kill(pid_t(monitor), SIGKILL)
        // The init dies with its monitor (PR_SET_PDEATHSIG) and the record says so.
        #expect(Harness.eventually { kill(pid_t(initPid), 0) != 0 })
        let ps = Harness.run(["ps", "-a"])
        #expect(ps.stdout.contains(name) && ps.stdout.contains("Exited (137)"), "\(ps.stdout)")
        #expect(!Harness.run(["ps"]).stdout.contains(name))
        #expect(Harness.run(["rm", name]).status == 0)
        expectGone(id, name)
    }

    @Test func twentyDetachedInParallel() {
        let prefix = "par\(getpid())-"
        let runs = (0..<20).map { Harness.startSwiftainer(["run", "-d", "--name", "\(prefix)\($0)", "busybox", "sleep", "1000"]) }
        let ids = runs.map { $0.finish() }.map { $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(Set(ids).count == 20 && ids.allSatisfy { $0.count == 64 }, "\(ids)")
        let listed = Harness.run(["ps", "-q", "--no-trunc"]).stdout.split(separator: "\n").map(String.init)
        #expect(Set(ids).isSubset(of: Set(listed)))
        let names = (0..<20).map { "\(prefix)\($0)" }
        let stop = Harness.run(["stop", "-t", "1"] + names)
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(Harness.run(["rm"] + names).status == 0)
        for (id, name) in zip(ids, names) { expectGone(id, name) }
    }

    @Test func volumesTmpfsAndUser() throws {
        let host = "/tmp/swiftainer-volume-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: host) }
        // A missing source directory is created, as Docker does.
        let write = Harness.run(["run", "--rm", "-v", "\(host):/data", "busybox", "sh", "-c", "echo from-container > /data/file"])
        #expect(write.status == 0, "\(write.stderr)")
        #expect((try? String(contentsOfFile: host + "/file", encoding: .utf8)) == "from-container\n")
        let readOnly = Harness.run(["run", "--rm", "-v", "\(host):/data:ro", "busybox", "sh", "-c", "cat /data/file && echo x > /data/other"])
        #expect(readOnly.status != 0 && readOnly.stdout == "from-container\n" && readOnly.stderr.contains("Read-only file system"))
        #expect(!FileManager.default.fileExists(atPath: host + "/other"))
        #expect(Harness.run(["run", "--rm", "-v", "../data:/data", "busybox", "true"]).stderr.contains("invalid volume name"))

        let tmpfs = Harness.run(["run", "--rm", "--read-only", "--tmpfs", "/scratch:size=2m", "busybox", "sh", "-c",
                                 "echo ok > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts"])
        #expect(tmpfs.stdout.hasPrefix("ok\ntmpfs /scratch tmpfs rw,nosuid,nodev,noexec"), "\(tmpfs.stdout) \(tmpfs.stderr)")
        #expect(tmpfs.stdout.contains("size=2048k"))

        #expect(Harness.run(["run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "id -u; id -g; echo $HOME"]).stdout == "65534\n65534\n/home\n"
                || Harness.run(["run", "--rm", "-u", "nobody", "busybox", "id", "-u"]).stdout == "65534\n")
        #expect(Harness.run(["run", "--rm", "-u", "1234:5678", "busybox", "sh", "-c", "id -u; id -g"]).stdout == "1234\n5678\n")
        let missing = Harness.run(["run", "--rm", "-u", "nosuchuser", "busybox", "true"])
        #expect(missing.status == 125 && missing.stderr.contains("unable to find user nosuchuser"))
    }

    @Test func foregroundRunsAreLoggedToo() {
        let name = "fg-\(getpid())"
        let result = Harness.run(["run", "--name", name, "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 3"])
        #expect(result.status == 3 && result.stdout == "to-out\n" && result.stderr == "to-err\n", "\(result)")
        let logs = Harness.run(["logs", name])
        #expect(logs.stdout == "to-out\n" && logs.stderr == "to-err\n", "\(logs)")
        #expect(Harness.run(["rm", name]).status == 0)
    }

    @Test func runDetachedFailuresAreReportedAndNameConflicts() {
        let name = "bad-\(getpid())"
        let missing = Harness.run(["run", "-d", "--name", name, "busybox", "no-such-binary"])
        #expect(missing.status == 127 && missing.stderr.contains("no-such-binary"), "\(missing.stderr)")
        #expect(Harness.run(["ps", "-a"]).stdout.contains("Exited (127)"))
        let clash = Harness.run(["run", "-d", "--name", name, "busybox", "true"])
        #expect(clash.status == 125 && clash.stderr.contains("already in use"))
        #expect(Harness.run(["rm", name]).status == 0)
        // -d --rm: the container removes itself when it exits.
        let gone = "selfremove-\(getpid())"
        let id = detach(gone, ["--rm", "busybox", "true"])
        #expect(Harness.eventually { !FileManager.default.fileExists(atPath: Harness.root + "/containers/" + id) })
        expectGone(id, gone)
    }
}
