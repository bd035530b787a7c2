#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The runtime-spec command line on a bundle, as Podman or containerd would call it.
@Suite(.serialized, requiresRoot) struct OCICommandLineTests {
    /// A bundle: the fixture unpacked as rootfs and a config.json for `args`.
    func bundle(_ args: [String], terminal: Bool = false) throws -> String {
        let dir = "/tmp/swiftainer-bundle-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        let untar = Harness.shell("tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C \(dir)/rootfs")
        #expect(untar.status == 0, "\(untar.stderr)")
        let config: [String: Any] = [
            "ociVersion": "1.0.2",
            "process": ["terminal": terminal, "user": ["uid": 0, "gid": 0], "args": args,
                        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
                        "capabilities": ["bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]]],
            "root": ["path": "rootfs"],
            "hostname": "oci-box",
            "mounts": [["destination": "/proc", "type": "proc", "source": "proc"],
                       ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]]],
            "linux": ["namespaces": [["type": "pid"], ["type": "mount"], ["type": "uts"], ["type": "ipc"], ["type": "network"]],
                      "resources": ["pids": ["limit": 20]]],
        ]
        try writeConfig(dir, config)
        return dir
    }

    func readConfig(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
    }

    func writeConfig(_ dir: String, _ config: [String: Any]) throws {
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
    }

    func oci(_ arguments: [String]) -> Harness.Result {
        Harness.execute(Harness.runtime, ["--root", Harness.root + "/oci"] + arguments, environment: [:], stdin: nil)
    }

    func status(_ id: String) -> String? {
        let state = oci(["state", id])
        guard state.status == 0, let json = try? JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any] else { return nil }
        return json["status"] as? String
    }

    @Test func createStartStateDelete() throws {
        let dir = try bundle(["sh", "-c", "hostname > /tmp/name; sleep 30 & wait"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "oci-\(getpid())"
        let created = oci(["create", "--bundle", dir, "--pid-file", dir + "/pid", id])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(status(id) == "created")
        let state = oci(["state", id]).stdout
        let pid = try String(contentsOfFile: dir + "/pid", encoding: .utf8)
        #expect(state.contains("\"pid\": \(pid)"), "\(state)")
        #expect(state.contains("\"bundle\": \"\(dir)\""), "\(state)")
        #expect(oci(["create", "--bundle", dir, id]).stderr.contains("already exists"))
        #expect(oci(["start", id]).status == 0)
        #expect(status(id) == "running")
        let pids = oci(["ps", "--format", "json", id])
        #expect(pids.status == 0, "\(pids.stderr)")
        let listed = (try? JSONSerialization.jsonObject(with: Data(pids.stdout.utf8)) as? [Int]) ?? []
        #expect(listed.contains(Int(pid) ?? -1) && listed.count >= 2, "the init (sh) and its sleep: \(pids.stdout)")
        #expect(oci(["delete", id]).status != 0, "a running container needs --force")
        #expect(oci(["kill", id, "KILL"]).status == 0)
        #expect(Harness.eventually { status(id) == "stopped" })
        #expect(oci(["delete", id]).status == 0)
        #expect(oci(["state", id]).stderr == "swiftainer: container \(id) does not exist\n")
    }

    @Test func deleteForceEndsACreatedOrRunningContainer() throws {
        let dir = try bundle(["sleep", "30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "oci-force-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        #expect(oci(["delete", "--force", id]).status == 0)
        #expect(oci(["state", id]).status != 0)
    }

    @Test func startReportsAMissingCommand() throws {
        let dir = try bundle(["/no/such/binary"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "oci-missing-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        let started = oci(["start", id])
        #expect(started.status == 127, "\(started.stderr)")
        #expect(started.stderr.contains("/no/such/binary"))
        #expect(oci(["delete", "--force", id]).status == 0)
    }

    @Test func startReportsAnExecFailureAfterSetup() throws {
        // Passes the lookup (exists, executable), fails in execve itself: the report must still
        // reach `start` through the FIFO.
        let dir = try bundle(["/bin/not-really-elf"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data([0x7f, 0x45, 0x4c, 0x46, 0x21]).write(to: URL(fileURLWithPath: dir + "/rootfs/bin/not-really-elf"))
        chmod(dir + "/rootfs/bin/not-really-elf", 0o755)
        let id = "oci-noexec-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        let started = oci(["start", id])
        #expect(started.status == 126, "\(started.stderr)")
        #expect(started.stderr == "swiftainer: exec: \"/bin/not-really-elf\": Exec format error\n")
        #expect(oci(["delete", "--force", id]).status == 0)
    }

    @Test func runOnABundleIsTheForegroundPath() throws {
        let dir = try bundle(["sh", "-c", "hostname; exit 4"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = oci(["run", "--bundle", dir, "oci-run-\(getpid())"])
        #expect(result.status == 4, "\(result.stderr)")
        #expect(result.stdout == "oci-box\n")
        #expect(oci(["state", "oci-run-\(getpid())"]).status != 0, "run leaves no state behind")
    }

    /// linux.rootfsPropagation: each value starts the container, and its root mount carries the
    /// propagation asked for (mountinfo's optional fields), never the host's peer group.
    @Test(arguments: [("shared", "shared:"), ("rshared", "shared:"), ("unbindable", "unbindable"), ("runbindable", "unbindable"),
                      ("slave", ""), ("rslave", ""), ("private", ""), ("rprivate", "")])
    func rootfsPropagationIsAppliedToTheContainersRoot(_ propagation: String, _ tag: String) throws {
        let dir = try bundle(["awk", "$5 == \"/\"", "/proc/self/mountinfo"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        var linux = config["linux"] as! [String: Any]
        linux["rootfsPropagation"] = propagation
        config["linux"] = linux
        try writeConfig(dir, config)
        let result = oci(["run", "--bundle", dir, "oci-propagation-\(propagation)-\(getpid())"])
        #expect(result.status == 0, "\(propagation): \(result.stderr)")
        let fields = result.stdout.split(separator: " - ").first.map { $0.split(separator: " ").dropFirst(6) } ?? []
        if tag.isEmpty {
            #expect(!fields.contains { $0.hasPrefix("shared:") || $0 == "unbindable" }, "\(propagation): \(result.stdout)")
        } else {
            #expect(fields.contains { $0.hasPrefix(tag) }, "\(propagation): \(result.stdout)")
        }
        // Whatever was shared is a peer group of the container's own, not the host's root's.
        let hostGroups = Set(((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n")
            .flatMap { $0.split(separator: " - ").first?.split(separator: " ").dropFirst(6).filter { $0.hasPrefix("shared:") } ?? [] })
        #expect(fields.allSatisfy { !hostGroups.contains($0) }, "\(propagation): \(result.stdout)")
    }

    @Test func listShowsTheStateRootAsRuncDoes() throws {
        let dir = try bundle(["sleep", "30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "oci-list-\(getpid())"
        defer { _ = oci(["delete", "--force", id]) }
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        #expect(oci(["list", "-q"]).stdout.split(separator: "\n").contains(Substring(id)))
        let table = oci(["list"]).stdout
        #expect(table.hasPrefix("ID") && table.contains("PID") && table.contains("OWNER"), "\(table)")
        let row = try #require(table.split(separator: "\n").first { $0.hasPrefix(id + " ") })
        #expect(row.contains("created") && row.contains(dir) && row.contains("root"), "\(row)")
        #expect(oci(["start", id]).status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(oci(["list", "--format", "json"]).stdout.utf8)) as? [[String: Any]])
        let entry = try #require(json.first { $0["id"] as? String == id })
        #expect(entry["status"] as? String == "running" && entry["bundle"] as? String == dir)
        #expect(entry["rootfs"] as? String == dir + "/rootfs" && (entry["pid"] as? Int ?? 0) > 0 && entry["ociVersion"] as? String == "1.0.2")
        #expect(oci(["list", "--format", "yaml"]).status == 125)
    }

    @Test func specWritesARunnableBundleAndNeverOverwrites() throws {
        let dir = "/tmp/swiftainer-spec-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(Harness.shell("tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C \(dir)/rootfs").status == 0)
        #expect(oci(["spec", "--bundle", dir]).status == 0)
        let again = oci(["spec", "--bundle", dir])
        #expect(again.status == 125 && again.stderr.contains("exists"), "\(again.stderr)")
        var config = try readConfig(dir)
        var process = config["process"] as! [String: Any]
        #expect(process["terminal"] as? Bool == true && (process["args"] as? [String]) == ["sh"])
        #expect(((config["root"] as? [String: Any])?["readonly"] as? Bool) == true)
        process["terminal"] = false
        process["args"] = ["sh", "-c", "grep CapEff /proc/self/status; touch /x 2>/dev/null || echo read-only"]
        config["process"] = process
        try writeConfig(dir, config)
        let result = oci(["run", "--bundle", dir, "oci-spec-\(getpid())"])
        #expect(result.status == 0, "\(result.stderr)")
        // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10): runc's defaults.
        #expect(result.stdout.contains("CapEff:\t0000000020000420") && result.stdout.contains("read-only"), "\(result.stdout)")
        let rootless = "/tmp/swiftainer-spec-rootless-\(getpid())"
        try FileManager.default.createDirectory(atPath: rootless, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: rootless) }
        #expect(oci(["spec", "--rootless", "--bundle", rootless]).status == 0)
        let user = try readConfig(rootless)
        let linux = try #require(user["linux"] as? [String: Any])
        let types = (linux["namespaces"] as? [[String: Any]])?.compactMap { $0["type"] as? String } ?? []
        #expect(types.contains("user") && !types.contains("network"), "\(types)")
        #expect(((linux["uidMappings"] as? [[String: Any]])?.first?["hostID"] as? Int) == Int(geteuid()))
    }

    @Test func runKeepsWritesThePidFileDetachesAndExecAddsCapabilities() throws {
        let dir = try bundle(["sh", "-c", "exit 3"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let kept = "oci-keep-\(getpid())"
        let run = oci(["run", "--keep", "--pid-file", dir + "/pid", "--bundle", dir, kept])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(Int((try? String(contentsOfFile: dir + "/pid", encoding: .utf8)) ?? "") ?? 0 > 0)
        #expect(status(kept) == "stopped", "kept after it exited")
        #expect(oci(["delete", kept]).status == 0)
        #expect(oci(["state", kept]).status != 0)
        // -d: create and start, then return; exec --cap adds to every set.
        let sleeper = try bundle(["sleep", "30"])
        defer { try? FileManager.default.removeItem(atPath: sleeper) }
        let detached = "oci-detached-\(getpid())"
        defer { _ = oci(["delete", "--force", detached]) }
        let started = Harness.execute(Harness.runtime, ["--root", Harness.root + "/oci", "run", "-d", "--bundle", sleeper, detached],
                                      environment: [:], stdin: nil)
        #expect(started.status == 0, "\(started.stderr)")
        #expect(status(detached) == "running")
        let plain = oci(["exec", detached, "grep", "CapEff", "/proc/self/status"]).stdout
        let added = oci(["exec", "--cap", "CAP_NET_ADMIN", detached, "grep", "CapEff", "/proc/self/status"]).stdout
        #expect(plain.contains("0000000000000020"), "\(plain)") // the bundle's CAP_KILL only
        #expect(added.contains("0000000000001020"), "\(added)") // + CAP_NET_ADMIN (12)
        #expect(oci(["exec", "--cap", "CAP_NOPE", detached, "true"]).status == 125)
    }

    /// runc's process conveniences: a missing cwd is made (before a read-only root is), HOME
    /// comes from the container's passwd, domainname is set in the container's UTS namespace,
    /// and a container asking for no_new_privs keeps it for what is exec'd into it.
    @Test func cwdHomeDomainnameAndNoNewPrivilegesAsRuncHasThem() throws {
        let dir = try bundle(["sh", "-c", "pwd; echo home=$HOME; cat /proc/sys/kernel/domainname; grep NoNewPrivs /proc/self/status; sleep 30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        var process = config["process"] as! [String: Any]
        process["cwd"] = "/srv/made/here"
        process["noNewPrivileges"] = true
        config["process"] = process
        config["root"] = ["path": "rootfs", "readonly": true]
        config["domainname"] = "example.test"
        try writeConfig(dir, config)
        let id = "oci-conveniences-\(getpid())"
        defer { _ = oci(["delete", "--force", id]) }
        let run = Harness.start(Harness.runtime, ["--root", Harness.root + "/oci", "run", "--bundle", dir, id], environment: [:], stdin: nil)
        defer { run.signal(SIGKILL); _ = run.finish() }
        #expect(Harness.eventually { run.stdout.contains("NoNewPrivs") }, "\(run.stdout)")
        #expect(run.stdout.hasPrefix("/srv/made/here\nhome=/root\nexample.test\nNoNewPrivs:\t1\n"), "\(run.stdout)")
        let exec = oci(["exec", id, "grep", "NoNewPrivs", "/proc/self/status"])
        #expect(exec.stdout == "NoNewPrivs:\t1\n", "\(exec.stdout) \(exec.stderr)")
        // Without a UTS namespace there is nowhere to put a domainname: refused before anything runs.
        var linux = config["linux"] as! [String: Any]
        linux["namespaces"] = [["type": "pid"], ["type": "mount"]]
        config["linux"] = linux
        config["hostname"] = nil
        try writeConfig(dir, config)
        let refused = oci(["run", "--bundle", dir, id + "-nouts"])
        #expect(refused.status == 125 && refused.stderr.contains("domainname needs a UTS namespace"), "\(refused.stderr)")
    }

    /// A bundle that asks for no namespaces at all (and so mounts no /proc of its own) is
    /// created and waits for start like any other: `state` says created, with the init's pid.
    @Test func aBundleWithoutNamespacesIsCreatedThenStarted() throws {
        let dir = try bundle(["sleep", "30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        var linux = config["linux"] as! [String: Any]
        linux["namespaces"] = [] as [Any]
        config["linux"] = linux
        config["mounts"] = [] as [Any]
        config["hostname"] = nil
        try writeConfig(dir, config)
        let id = "oci-nons-\(getpid())"
        defer { _ = oci(["delete", "--force", id]) }
        let created = oci(["create", "--bundle", dir, id])
        #expect(created.status == 0, "\(created.stderr)")
        let state = try #require(try JSONSerialization.jsonObject(with: Data(oci(["state", id]).stdout.utf8)) as? [String: Any])
        #expect(state["status"] as? String == "created" && (state["pid"] as? Int ?? 0) > 0, "\(state)")
        #expect(oci(["start", id]).status == 0)
        #expect(status(id) == "running")
    }

    /// A create that fails after its init exists (here: the console socket is not there to
    /// take the pty) leaves no process, no state and no cgroup.
    @Test func aCreateFailingAfterLaunchLeavesNoCgroup() throws {
        let dir = try bundle(["sh"], terminal: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        config["mounts"] = (config["mounts"] as! [[String: Any]]) + [["destination": "/dev/pts", "type": "devpts", "source": "devpts",
                                                                      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666"]]]
        try writeConfig(dir, config)
        let id = "oci-nosocket-\(getpid())"
        let created = oci(["create", "--bundle", dir, "--console-socket", dir + "/no-such.sock", id])
        #expect(created.status == 125 && created.stderr.contains("no-such.sock"), "\(created.stderr)")
        #expect(oci(["state", id]).status != 0)
        #expect(!Harness.cgroupExists(id), "the cgroup of a failed create was left behind")
    }

    @Test func featuresDescribeThisRuntime() throws {
        let result = oci(["features"])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["ociVersionMax"] as? String == "1.0.2")
        let linux = try #require(json["linux"] as? [String: Any])
        #expect((linux["namespaces"] as? [String])?.contains("pid") == true)
        let seccomp = try #require(linux["seccomp"] as? [String: Any])
        #expect((seccomp["actions"] as? [String])?.contains("SCMP_ACT_ERRNO") == true)
    }

    /// Adds hooks to a bundle's config.json; each appends its phase to `log` and saves its stdin.
    func addHooks(_ dir: String, log: String) throws {
        var config = try readConfig(dir)
        func hook(_ phase: String, _ script: String? = nil) -> [[String: Any]] {
            [["path": "/bin/sh", "args": ["sh", "-c", script ?? "cat > \(log)-\(phase).json; echo \(phase) >> \(log)"]]]
        }
        config["hooks"] = ["prestart": hook("prestart"), "createRuntime": hook("createRuntime"), "poststart": hook("poststart"),
                           "poststop": hook("poststop"),
                           // These two run inside the container: they leave their mark in its /tmp.
                           "createContainer": hook("createContainer", "echo createContainer >> /tmp/marks"),
                           "startContainer": hook("startContainer", "echo startContainer >> /tmp/marks")]
        try writeConfig(dir, config)
    }

    @Test func hooksRunInTheirPhasesWithTheState() throws {
        let dir = try bundle(["sh", "-c", "cat /tmp/marks; sleep 30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/hooks"
        try addHooks(dir, log: log)
        let id = "hooks-\(getpid())"
        #expect(oci(["create", "--bundle", dir, "--pid-file", dir + "/pid", id]).status == 0)
        func phases() -> [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        #expect(phases() == ["prestart", "createRuntime"])
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: log + "-createRuntime.json"))) as? [String: Any]
        let pid = Int(try String(contentsOfFile: dir + "/pid", encoding: .utf8)) ?? -1
        #expect(state?["id"] as? String == id && state?["pid"] as? Int == pid && state?["bundle"] as? String == dir)
        #expect(state?["status"] as? String == "created", "as runc sends it: \(String(describing: state))")
        #expect(oci(["start", id]).status == 0)
        #expect(phases() == ["prestart", "createRuntime", "poststart"])
        // The container-side hooks ran in the container before its process: it read their marks.
        #expect(Harness.eventually { oci(["exec", id, "cat", "/tmp/marks"]).stdout == "createContainer\nstartContainer\n" })
        #expect(oci(["kill", id, "KILL"]).status == 0)
        #expect(Harness.eventually { status(id) == "stopped" })
        #expect(oci(["delete", id]).status == 0)
        #expect(phases() == ["prestart", "createRuntime", "poststart", "poststop"])
        let stopped = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: log + "-poststop.json"))) as? [String: Any]
        #expect(stopped?["status"] as? String == "stopped")
    }

    @Test func failingCreateRuntimeHookFailsCreateAndLeavesNothing() throws {
        let dir = try bundle(["true"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        config["hooks"] = ["createRuntime": [["path": "/bin/sh", "args": ["sh", "-c", "exit 3"]]]]
        try writeConfig(dir, config)
        let id = "badhook-\(getpid())"
        let created = oci(["create", "--bundle", dir, id])
        #expect(created.status == 125 && created.stderr.contains("createRuntime hook 0 (/bin/sh) exited with status 3"), "\(created.status) \(created.stderr)")
        #expect(status(id) == nil)
    }

    @Test func anInitWhoseCreateDiedDoesNotLinger() throws {
        let dir = try bundle(["true"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        // The hook notes the init's pid and kills `create` (its parent) before it records anything.
        config["hooks"] = ["createRuntime": [["path": "/bin/sh", "args": ["sh", "-c", "sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' > \(dir)/init.pid; kill -9 $PPID"]]]]
        try writeConfig(dir, config)
        let id = "orphan-\(getpid())"
        let created = oci(["create", "--bundle", dir, id])
        #expect(created.status == 137)
        let pid = Int32((try? String(contentsOfFile: dir + "/init.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        #expect(pid > 0)
        // Never told its container was recorded, the init gives up instead of waiting on the FIFO.
        #expect(Harness.eventually { kill(pid, 0) != 0 }, "init \(pid) still waits")
        #expect(oci(["delete", "--force", id]).status == 0)
        // The killed create could not remove its (empty) groups: this test does.
        for controller in ["", "memory", "pids", "cpu", "cpuacct"] {
            if let group = Harness.groupDirectory(id, controller) { rmdir(group) }
        }
    }

    @Test func execRunsInTheRunningContainer() throws {
        let dir = try bundle(["sh", "-c", "echo inside > /tmp/file; sleep 30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "exec-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        #expect(oci(["start", id]).status == 0)
        #expect(Harness.eventually { oci(["exec", id, "cat", "/tmp/file"]).stdout == "inside\n" })
        #expect(oci(["exec", id, "hostname"]).stdout == "oci-box\n")
        #expect(oci(["exec", id, "sh", "-c", "exit 6"]).status == 6)
        #expect(oci(["exec", id, "nosuchcommand"]).status == 127)
        let process = dir + "/process.json"
        try #"{"args": ["sh", "-c", "echo $GREETING from $(pwd); exit 2"], "env": ["PATH=/bin", "GREETING=hello"], "cwd": "/tmp", "user": {"uid": 0, "gid": 0}}"#
            .write(toFile: process, atomically: true, encoding: .utf8)
        let fromFile = oci(["exec", "--process", process, id])
        #expect(fromFile.status == 2 && fromFile.stdout == "hello from /tmp\n", "\(fromFile.stderr)")
        // -d: returns once it runs, and the process outlives the exec command (conmon's use).
        let detached = oci(["exec", "-d", "--pid-file", dir + "/exec.pid", id, "sleep", "20"])
        #expect(detached.status == 0, "\(detached.stderr)")
        let execPid = Int32(try String(contentsOfFile: dir + "/exec.pid", encoding: .utf8)) ?? -1
        #expect(kill(execPid, 0) == 0, "the detached process runs after exec returned")
        let listed = oci(["ps", "--format", "json", id]).stdout
        #expect(listed.contains("\(execPid)"), "it is in the container's cgroup: \(listed)")
        #expect(oci(["delete", "--force", id]).status == 0)
        #expect(Harness.eventually { kill(execPid, 0) != 0 }, "it dies with the container")
    }

    /// runc's --preserve-fds N: the caller's fds 3 .. 3+N-1 are the process's 3 .. 3+N-1 (and
    /// nothing else of the runtime's is left open), for run, create + start, and exec.
    @Test func preservedFdsReachTheProcessOnRunCreateAndExec() throws {
        let dir = try bundle(["sh", "-c", "cat <&3; echo written >&4; echo $(ls /proc/self/fd)"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in", output = dir + "/out"
        try "from-three\n".write(toFile: input, atomically: true, encoding: .utf8)
        let runtime = "\(Harness.runtime) --root \(Harness.root)/oci"
        let id = "fds-\(getpid())"
        // The shell's own fds above 4 are closed: only what the test opens is passed on.
        let closeOthers = "for fd in 5 6 7 8 9; do eval \"exec $fd>&-\"; done; "
        let ran = Harness.shell(closeOthers + "exec 3<\(input) 4>\(output); \(runtime) run --bundle \(dir) --preserve-fds 2 \(id)")
        #expect(ran.status == 0, "\(ran.stderr)")
        // ls's own directory fd is 5; no sync socket, FIFO or runtime fd beyond.
        #expect(ran.stdout == "from-three\n0 1 2 3 4 5\n", "\(ran.stdout)")
        #expect((try? String(contentsOfFile: output, encoding: .utf8)) == "written\n")

        var config = try readConfig(dir)
        var process = config["process"] as! [String: Any]
        process["args"] = ["sh", "-c", "cat <&3 > /tmp/got; sleep 30"]
        config["process"] = process
        try writeConfig(dir, config)
        let created = Harness.shell(closeOthers + "exec 3<\(input); \(runtime) create --bundle \(dir) --preserve-fds 1 \(id)")
        #expect(created.status == 0, "\(created.stderr)")
        defer { _ = oci(["delete", "--force", id]) }
        #expect(oci(["start", id]).status == 0)
        #expect(Harness.eventually { oci(["exec", id, "cat", "/tmp/got"]).stdout == "from-three\n" })
        let exec = Harness.shell(closeOthers + "exec 3<\(input); \(runtime) exec --preserve-fds 1 \(id) sh -c 'cat <&3; ls /proc/self/fd/4 2>&1'")
        #expect(exec.status == 1 && exec.stdout.hasPrefix("from-three\n"), "\(exec.stdout) \(exec.stderr)")
        // Asking for more than is open names the fd.
        let tooMany = Harness.shell(closeOthers + "exec 3<\(input); \(runtime) exec --preserve-fds 3 \(id) true")
        #expect(tooMany.status == 125 && tooMany.stderr.contains("--preserve-fds 3: fd 4 is not open"), "\(tooMany.stderr)")
    }

    /// runc's pause/resume: the state says "paused", the processes stop, delete --force still works.
    @Test func pauseAndResume() throws {
        let dir = try bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "pause-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        #expect(oci(["pause", id]).status != 0, "a created container is not running")
        #expect(oci(["start", id]).status == 0)
        let counter = dir + "/rootfs/tmp/n"
        func value() -> String { (try? String(contentsOfFile: counter, encoding: .utf8)) ?? "" }
        #expect(Harness.eventually { !value().isEmpty })
        let pause = oci(["pause", id])
        #expect(pause.status == 0, "\(pause.stderr)")
        #expect(status(id) == "paused")
        let frozenAt = value()
        usleep(400_000)
        #expect(value() == frozenAt)
        #expect(oci(["resume", id]).status == 0)
        #expect(status(id) == "running")
        #expect(Harness.eventually { value() != frozenAt })
        #expect(oci(["resume", id]).status != 0, "not paused")
        #expect(oci(["pause", id]).status == 0)
        #expect(oci(["delete", "--force", id]).status == 0)
        #expect(status(id) == nil)
    }

    @Test func userNamespaceMapsRootToAnUnprivilegedHostID() throws {
        let dir = try bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; touch /made-inside; sleep 30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A user-namespaced bundle's rootfs belongs to the ids its root maps to.
        #expect(Harness.shell("chown -R 100000:100000 \(dir)/rootfs").status == 0)
        var config = try readConfig(dir)
        var linux = config["linux"] as! [String: Any]
        linux["namespaces"] = [["type": "user"], ["type": "pid"], ["type": "mount"], ["type": "uts"], ["type": "ipc"], ["type": "network"]]
        let withoutMaps = linux
        linux["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        linux["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        config["linux"] = linux
        try writeConfig(dir, config)
        let id = "userns-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        #expect(oci(["start", id]).status == 0)
        let pid = Int32(String(describing: (try? JSONSerialization.jsonObject(with: Data(oci(["state", id]).stdout.utf8)) as? [String: Any])?["pid"] ?? 0)) ?? 0
        // The kernel's view: the init runs as host uid 100000, and is root inside.
        let procStatus = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        #expect(procStatus.contains("Uid:\t100000\t100000\t100000\t100000"), "\(procStatus.split(separator: "\n").filter { $0.hasPrefix("Uid") })")
        #expect(Harness.eventually { FileManager.default.fileExists(atPath: dir + "/rootfs/made-inside") })
        let owner = (try? FileManager.default.attributesOfItem(atPath: dir + "/rootfs/made-inside"))?[.ownerAccountID] as? Int
        #expect(owner == 100000, "a file root made inside is owned by the mapped id on the host")
        // exec joins the same user namespace.
        let inside = oci(["exec", id, "sh", "-c", "id -u; readlink /proc/self/ns/user"])
        let hostView = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/user")) ?? "?"
        #expect(inside.stdout == "0\n\(hostView)\n", "\(inside.stdout) \(inside.stderr)")

        // A second container joins that user namespace by path, with no maps of its own (a
        // pod's containers sharing one): its new namespaces belong to it, so it is root there
        // for mounts and its network, and the same host id outside.
        let joiner = try bundle(["sh", "-c", "id -u; readlink /proc/self/ns/user; hostname; cat /proc/self/uid_map"])
        defer { try? FileManager.default.removeItem(atPath: joiner) }
        #expect(Harness.shell("chown -R 100000:100000 \(joiner)/rootfs").status == 0)
        var joinerConfig = try readConfig(joiner)
        var joinerLinux = joinerConfig["linux"] as! [String: Any]
        joinerLinux["namespaces"] = [["type": "user", "path": "/proc/\(pid)/ns/user"], ["type": "pid"], ["type": "mount"],
                                     ["type": "uts"], ["type": "ipc"], ["type": "network"]]
        joinerConfig["linux"] = joinerLinux
        try writeConfig(joiner, joinerConfig)
        let joined = oci(["run", "--bundle", joiner, id + "-joiner"])
        #expect(joined.status == 0, "\(joined.stderr)")
        let lines = joined.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(Array(lines.prefix(3)) == ["0", hostView, "oci-box"], "\(joined.stdout)")
        #expect(lines.dropFirst(3).first == "0 100000 65536", "\(joined.stdout)")
        #expect(oci(["delete", "--force", id]).status == 0)
        // A user namespace path that is not one fails by name.
        joinerLinux["namespaces"] = [["type": "user", "path": "/proc/self/ns/nope"], ["type": "mount"], ["type": "uts"]]
        joinerConfig["linux"] = joinerLinux
        try writeConfig(joiner, joinerConfig)
        let bad = oci(["run", "--bundle", joiner, id + "-bad"])
        #expect(bad.status == 125 && bad.stderr.contains("user namespace /proc/self/ns/nope"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: Harness.groupDirectory(id + "-bad", "pids") ?? "/"), "no cgroup is left")

        // Without maps: a clear error, and nothing left.
        config["linux"] = withoutMaps
        try writeConfig(dir, config)
        let refused = oci(["create", "--bundle", dir, id + "-nomaps"])
        #expect(refused.status == 125 && refused.stderr.contains("linux.uidMappings"), "\(refused.stderr)")
        #expect(status(id + "-nomaps") == nil)
    }

    @Test func rlimitsOOMScoreAndSysctlReachTheProcess() throws {
        let dir = try bundle(["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try readConfig(dir)
        var process = config["process"] as! [String: Any]
        process["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 321, "hard": 654]]
        process["oomScoreAdj"] = 345
        config["process"] = process
        var linux = config["linux"] as! [String: Any]
        // The container's own network and IPC namespaces: the host's values stay as they are.
        linux["sysctl"] = ["net.ipv4.ip_forward": "1", "kernel.msgmax": "4321"]
        config["linux"] = linux
        try writeConfig(dir, config)
        let hostMsgmax = (try? String(contentsOfFile: "/proc/sys/kernel/msgmax", encoding: .utf8)) ?? ""
        let result = oci(["run", "--bundle", dir, "limits-\(getpid())"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "321\n654\n345\n1\n4321\n", "\(result.stdout)")
        #expect(((try? String(contentsOfFile: "/proc/sys/kernel/msgmax", encoding: .utf8)) ?? "") == hostMsgmax)

        process["rlimits"] = [["type": "RLIMIT_BOGUS", "soft": 1, "hard": 1]]
        config["process"] = process
        try writeConfig(dir, config)
        let bad = oci(["run", "--bundle", dir, "badlimit-\(getpid())"])
        #expect(bad.status == 125 && bad.stderr.contains("RLIMIT_BOGUS"), "\(bad.stderr)")
    }

    @Test func errorsNameWhatIsWrong() throws {
        #expect(oci(["create", "--bundle", "/nonexistent", "x"]).stderr == "swiftainer: bundle /nonexistent: cannot read config.json\n")
        #expect(oci(["start", "never-created"]).stderr == "swiftainer: container never-created does not exist\n")
        let dir = try bundle(["true"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{\"ociVersion\": \"1.0.2\", \"process\": {\"cwd\": 5}}".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let bad = oci(["create", "--bundle", dir, "bad-\(getpid())"])
        #expect(bad.status == 125)
        #expect(bad.stderr.hasPrefix("swiftainer: \(dir)/config.json: "), "\(bad.stderr)")
        #expect(oci(["state", "bad-\(getpid())"]).status != 0, "a failed create leaves no state")
        let logged = oci(["--log", dir + "/log.json", "--log-format", "json", "start", "never-created"])
        #expect(logged.status != 0)
        let log = (try? String(contentsOfFile: dir + "/log.json", encoding: .utf8)) ?? ""
        #expect(log.hasPrefix("{\"level\":\"error\",\"msg\":\"container never-created does not exist\""), "\(log)")
    }

    /// Issue #14.7: the spec's process rules are checked at create (125, nothing left behind):
    /// a NUL inside an argument or environment entry (a C string would end there: "tr\0ue"
    /// ran `tr`), and a relative cwd (it failed later, at start, as 126).
    @Test func createRefusesNULsAndARelativeCwd() throws {
        let dir = try bundle(["true"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try readConfig(dir)
        let cases: [(String, [String: Any], String)] = [
            ("args", ["args": ["tr\u{0}ue"]], "process.args[0] \"tr\\u{0}ue\" contains a NUL byte"),
            ("env", ["env": ["PATH=/bin", "A=b\u{0}c"]], "process.env[1] \"A=b\\u{0}c\" contains a NUL byte"),
            ("cwd", ["cwd": "tmp"], "process.cwd \"tmp\" must be an absolute path"),
        ]
        for (label, change, message) in cases {
            var config = original
            var process = config["process"] as! [String: Any]
            process.merge(change) { $1 }
            config["process"] = process
            try writeConfig(dir, config)
            let id = "invalid-\(label)-\(getpid())"
            let create = oci(["create", "--bundle", dir, id])
            #expect(create.status == 125, "\(label): \(create.stderr)")
            #expect(create.stderr == "swiftainer: config.json: \(message)\n", "\(create.stderr)")
            #expect(oci(["state", id]).status != 0, "a refused create leaves no state")
            let run = oci(["run", "--bundle", dir, id])
            #expect(run.status == 125 && run.stderr.contains(message), "\(run.stderr)")
        }
        // Numbers the kernel's types cannot hold are refused by name, not trapped on.
        var config = original
        var linux = config["linux"] as! [String: Any]
        linux["devices"] = [["path": "/dev/huge", "type": "c", "major": 1 << 40, "minor": 1]]
        config["linux"] = linux
        try writeConfig(dir, config)
        let huge = oci(["run", "--bundle", dir, "huge-\(getpid())"])
        #expect(huge.status == 125 && huge.stderr.contains("major 1099511627776 is out of range"), "\(huge.stderr)")
    }

    /// Issue #16.2: which meaning `start`, `kill`, `exec` have is decided by how swiftainer is
    /// invoked — `swiftainer-runtime`, or an OCI caller's global options — never by whether an
    /// id exists somewhere.
    @Test func theOCIMeaningIsChosenByInvocationNotByGuessing() throws {
        let dir = try bundle(["sleep", "30"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "mode-\(getpid())"
        #expect(oci(["create", "--bundle", dir, id]).status == 0)
        defer { _ = oci(["delete", "--force", id]) }
        // As plain `swiftainer`, start and kill are Docker's: no engine container has this name.
        let docker = Harness.execute(Harness.binary, ["--root", Harness.root + "/oci", "start", id], environment: [:], stdin: nil)
        #expect(docker.status == 1 && docker.stderr.contains("no such container"), "\(docker.stderr)")
        #expect(status(id) == "created")
        // With the global options OCI callers pass (containerd's shim: --log), the OCI verb.
        let log = dir + "/runtime.log"
        let shim = Harness.execute(Harness.binary, ["--root", Harness.root + "/oci", "--log", log, "--log-format", "json", "start", id], environment: [:], stdin: nil)
        #expect(shim.status == 0, "\(shim.stderr)")
        #expect(Harness.eventually { status(id) == "running" })
        #expect(oci(["kill", id, "KILL"]).status == 0)
        // Without a bundle, plain `create` is Docker's: its argument is an image.
        let create = Harness.execute(Harness.binary, ["--root", Harness.root, "create", "--pull", "never", "other-\(getpid())"], environment: [:], stdin: nil)
        #expect(create.status == 125 && create.stderr.contains("other-\(getpid())") && create.stderr.contains("image"), "\(create.stderr)")
        #expect(status("other-\(getpid())") == nil)
    }
}
