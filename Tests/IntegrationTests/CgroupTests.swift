#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Limits as the kernel enforces them. On this hybrid host they go through cgroup v1; the v2
/// files are covered by CgroupsTests on a fake tree (and in the VM harness once it lands).
@Suite(.serialized, requiresRoot) struct CgroupTests {
    static let isUnified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")

    func groupDirectory(_ id: String, _ controller: String) -> String? { Harness.groupDirectory(id, controller) }

    func read(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func leftoverGroups() -> [String] {
        let roots = ["/sys/fs/cgroup"] + ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map { "/sys/fs/cgroup/\($0)" }
        var found: [String] = []
        for root in roots {
            guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
            while let path = walker.nextObject() as? String {
                if path.split(separator: "/").count > 4 { walker.skipDescendants(); continue }
                if path.hasSuffix("/") == false, (path as NSString).lastPathComponent.hasPrefix("swiftainer-") { found.append(root + "/" + path) }
            }
        }
        return found
    }

    @Test func memoryLimitOOMKillsWithExit137() {
        let name = "oom-\(getpid())"
        let result = Harness.run(["run", "--name", name, "-m", "64m", "busybox", "sh", "-c",
                                  "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"])
        #expect(result.status == 137, "\(result.stderr)")
        #expect(!result.stdout.contains("survived"))
        #expect(result.stderr.contains("killed by the OOM killer"), "\(result.stderr)")
        let id = Harness.containerID(named: name) ?? ""
        let record = (try? String(contentsOfFile: Harness.root + "/containers/\(id)/container.json", encoding: .utf8)) ?? ""
        #expect(record.contains("\"oomKilled\": true"), "\(record)")
        _ = Harness.run(["rm", name])
    }

    /// The memory limit, pids limit and cpu shares of a container as its cgroup files say.
    func limits(_ id: String) throws -> (memory: String, pids: String, shares: String) {
        if Self.isUnified {
            let dir = try #require(groupDirectory(id, ""))
            return (read(dir + "/memory.max"), read(dir + "/pids.max"), read(dir + "/cpu.weight"))
        }
        return (read(try #require(groupDirectory(id, "memory")) + "/memory.limit_in_bytes"),
                read(try #require(groupDirectory(id, "pids")) + "/pids.max"),
                read(try #require(groupDirectory(id, "cpu")) + "/cpu.shares"))
    }

    @Test func updateChangesARunningContainersCgroupAndWhatItsNextStartGets() throws {
        let name = "update-\(getpid())"
        let id = Harness.detach(name, ["--network", "none", "-m", "64m", "busybox", "sleep", "1000"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        let updated = Harness.run(["update", "-m", "100m", "--memory-swap", "200m", "--pids-limit", "50", "--cpu-shares", "256", name])
        #expect(updated.status == 0 && updated.stdout == name + "\n", "\(updated.stderr)")
        let now = try limits(id)
        #expect(now.memory == "\(100 << 20)")
        #expect(now.pids == "50")
        #expect(now.shares == (Self.isUnified ? "\(1 + ((256 - 2) * 9999) / 262142)" : "256"))
        let config = try String(contentsOfFile: Harness.root + "/containers/\(id)/config.json", encoding: .utf8)
        #expect(config.contains("\"limit\": \(100 << 20)") && config.contains("\"shares\": 256"), "\(config)")
        // Above the swap limit already set, without a new one: Docker's refusal, nothing changed.
        let refused = Harness.run(["update", "-m", "300m", name])
        #expect(refused.status == 1 && refused.stderr.contains("update the memoryswap at the same time"), "\(refused.stderr)")
        #expect(try limits(id).memory == "\(100 << 20)")
        let noFlags = Harness.run(["update", name])
        #expect(noFlags.status == 125 && noFlags.stderr.contains("one or more flags"), "\(noFlags.stderr)")
        // A stopped container: its next start gets the new limit.
        #expect(Harness.run(["stop", "-t", "0", name]).status == 0)
        #expect(Harness.run(["update", "--pids-limit", "33", name]).status == 0)
        #expect(Harness.run(["start", name]).status == 0)
        #expect(Harness.eventually { (try? self.limits(id).pids) == "33" })
    }

    /// Limits beyond memory/pids/cpu from an OCI bundle reach the kernel's files, and one this
    /// host's cgroup version has no file for is refused before the container exists.
    @Test func reservationSwappinessAndOOMKillerReachTheCgroupOrAreRefused() throws {
        let dir = "/tmp/swiftainer-resources-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(Harness.shell("tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C \(dir)/rootfs").status == 0)
        func oci(_ arguments: [String]) -> Harness.Result {
            Harness.execute(Harness.runtime, ["--root", Harness.root + "/oci"] + arguments, environment: [:], stdin: nil)
        }
        func write(_ memory: String, unified: String? = nil) throws {
            let resources = #"{"memory": \#(memory)"# + (unified.map { #", "unified": \#($0)"# } ?? "") + "}"
            let config = #"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sleep","1000"],"cwd":"/","env":["PATH=/bin"]},"root":{"path":"rootfs"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"}],"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}],"resources":\#(resources)}}"#
            try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        }
        let id = "oci-resources-\(getpid())"
        defer { _ = oci(["delete", "--force", id]) }
        if Self.isUnified {
            try write(#"{"limit": 67108864, "reservation": 33554432}"#, unified: #"{"memory.high": "50331648"}"#)
            let created = oci(["create", "--bundle", dir, id])
            #expect(created.status == 0, "\(created.stderr)")
            let group = try #require(groupDirectory(id, ""))
            #expect(read(group + "/memory.low") == "33554432" && read(group + "/memory.high") == "50331648")
            _ = oci(["delete", "--force", id])
            try write(#"{"swappiness": 10}"#)
            let refused = oci(["create", "--bundle", dir, id])
            #expect(refused.status == 125 && refused.stderr.contains("swappiness"), "\(refused.stderr)")
        } else {
            try write(#"{"limit": 67108864, "reservation": 33554432, "swappiness": 7, "disableOOMKiller": true}"#)
            let created = oci(["create", "--bundle", dir, id])
            #expect(created.status == 0, "\(created.stderr)")
            let group = try #require(groupDirectory(id, "memory"))
            #expect(read(group + "/memory.soft_limit_in_bytes") == "33554432")
            #expect(read(group + "/memory.swappiness") == "7")
            #expect(read(group + "/memory.oom_control").contains("oom_kill_disable 1"))
            _ = oci(["delete", "--force", id])
            try write(#"{"limit": 67108864}"#, unified: #"{"memory.high": "50331648"}"#)
            let refused = oci(["create", "--bundle", dir, id])
            #expect(refused.status == 125 && refused.stderr.contains("unified needs cgroup v2"), "\(refused.stderr)")
        }
        #expect(oci(["state", id]).status != 0, "a refused create leaves no container")
        #expect(!Harness.cgroupExists(id), "nor a cgroup")
    }

    @Test func ociUpdateTakesAResourcesFileAndFlags() throws {
        let id = "oci-update-\(getpid())"
        let dir = "/tmp/swiftainer-update-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        defer {
            _ = Harness.execute(Harness.runtime, ["--root", Harness.root + "/oci", "delete", "--force", id], environment: [:], stdin: nil)
            try? FileManager.default.removeItem(atPath: dir)
        }
        #expect(Harness.shell("tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C \(dir)/rootfs").status == 0)
        let config = #"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sleep","1000"],"cwd":"/","env":["PATH=/bin"]},"root":{"path":"rootfs"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"}],"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}],"resources":{"pids":{"limit":20}}}}"#
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try #"{"memory": {"limit": 83886080}}"#.write(toFile: dir + "/resources.json", atomically: true, encoding: .utf8)
        func oci(_ arguments: [String]) -> Harness.Result {
            Harness.execute(Harness.runtime, ["--root", Harness.root + "/oci"] + arguments, environment: [:], stdin: nil)
        }
        let created = oci(["create", "--bundle", dir, id])
        #expect(created.status == 0, "\(created.stderr)")
        let started = oci(["start", id])
        #expect(started.status == 0, "\(started.stderr)")
        let updated = oci(["update", "-r", dir + "/resources.json", "--pids-limit", "42", id])
        #expect(updated.status == 0, "\(updated.stderr)")
        let now = try limits(id)
        #expect(now.memory == "83886080" && now.pids == "42", "\(now)")
        let stopped = oci(["update", "--pids-limit", "7", "no-such-\(getpid())"])
        #expect(stopped.status != 0 && stopped.stderr.contains("does not exist"), "\(stopped.stderr)")
    }

    @Test func limitsInTheCgroupFilesEqualWhatWasAskedAndTheGroupGoesAway() throws {
        let name = "limits-\(getpid())"
        let running = Harness.startSwiftainer(["run", "--rm", "--name", name, "-m", "96m", "--memory-swap", "128m",
                                               "--pids-limit", "17", "--cpus", "0.25", "--cpu-shares", "512",
                                               "busybox", "sh", "-c", "echo up; sleep 30"])
        defer { running.signal(SIGKILL); _ = running.finish() }
        // Generous: in the cgroup v2 VM (software emulation) twenty containers may be starting at once.
        #expect(Harness.eventually(60) { running.stdout.contains("up") })
        let id = try #require(Harness.containerID(named: name))
        if Self.isUnified {
            let dir = try #require(groupDirectory(id, ""))
            #expect(read(dir + "/memory.max") == "\(96 << 20)")
            #expect(read(dir + "/pids.max") == "17")
            #expect(read(dir + "/cpu.max") == "25000 100000")
        } else {
            #expect(read(try #require(groupDirectory(id, "memory")) + "/memory.limit_in_bytes") == "\(96 << 20)")
            let memsw = try #require(groupDirectory(id, "memory")) + "/memory.memsw.limit_in_bytes"
            if FileManager.default.fileExists(atPath: memsw) { #expect(read(memsw) == "\(128 << 20)") }
            #expect(read(try #require(groupDirectory(id, "pids")) + "/pids.max") == "17")
            #expect(read(try #require(groupDirectory(id, "cpu")) + "/cpu.cfs_quota_us") == "25000")
            #expect(read(try #require(groupDirectory(id, "cpu")) + "/cpu.cfs_period_us") == "100000")
            #expect(read(try #require(groupDirectory(id, "cpu")) + "/cpu.shares") == "512")
            // The container's processes are in it.
            let procs = read(try #require(groupDirectory(id, "pids")) + "/cgroup.procs").split(separator: "\n")
            #expect(!procs.isEmpty)
        }
        running.signal(SIGTERM) // forwarded; sh as PID 1 ignores it
        running.signal(SIGKILL)
        _ = running.finish()
        _ = Harness.run(["ps", "-a"]) // the next command cleans what the killed run left
        #expect(leftoverGroups().filter { $0.contains(id) }.isEmpty, "\(leftoverGroups())")
    }

    @Test func pidsLimitStopsAForkLoopInsideOnly() {
        // busybox sh gives up (exit 2) at the first fork the pids controller refuses.
        let result = Harness.run(["run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
                                  "for i in $(seq 1 30); do sleep 1 & done; wait; echo finished"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(!result.stdout.contains("finished"))
        #expect(result.stderr.contains("can't fork"), "\(result.stderr)")
        // Without the limit the same loop completes: the limit, not the machine, stopped it.
        let unlimited = Harness.run(["run", "--rm", "busybox", "sh", "-c", "for i in $(seq 1 30); do sleep 0.1 & done; wait; echo finished"])
        #expect(unlimited.stdout == "finished\n", "\(unlimited.stderr)")
    }

    @Test func halfACPUGivesAboutHalfTheCPUTime() throws {
        let name = "cpu-\(getpid())"
        // Two seconds of busy loop, then idle while the test reads the group's counters.
        let started = Date()
        let running = Harness.startSwiftainer(["run", "--rm", "--name", name, "--cpus", "0.5", "busybox", "sh", "-c",
                                               "sh -c 'while :; do :; done' & p=$!; sleep 2; kill $p; echo busy-done; sleep 30"])
        defer { running.signal(SIGKILL); _ = running.finish(); _ = Harness.run(["ps"]) }
        #expect(Harness.eventually(30) { running.stdout.contains("busy-done") })
        // The container cannot have run longer than this (a slow VM stretches the 2 s).
        let elapsed = Date().timeIntervalSince(started)
        let id = try #require(Harness.containerID(named: name))
        let v2 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        func field(_ text: String, _ key: String) -> Double {
            text.split(separator: "\n").first { $0.hasPrefix(key + " ") }?.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        let seconds: Double
        let throttled: Double
        if v2 {
            let stat = read(try #require(groupDirectory(id, "")) + "/cpu.stat")
            seconds = field(stat, "usage_usec") / 1e6
            throttled = field(stat, "nr_throttled")
        } else {
            seconds = (Double(read(try #require(groupDirectory(id, "cpuacct")) + "/cpuacct.usage")) ?? 0) / 1e9
            throttled = field(read(try #require(groupDirectory(id, "cpu")) + "/cpu.stat"), "nr_throttled")
        }
        // The kernel throttled the group, and it never got more than half a CPU (plus a period).
        #expect(throttled > 0, "cpu.stat nr_throttled is 0")
        #expect(seconds > 0.3 && seconds <= 0.5 * elapsed + 0.15, "used \(seconds) CPU-seconds in \(elapsed) s")
    }

    /// The device cgroup (v1 devices.allow/deny, v2 an eBPF program): with CAP_MKNOD in Docker's
    /// default set a container can make any node, but open only the standard ones.
    @Test func deviceRulesLetContainersMakeButNotOpenOtherDevices() {
        let script = "mknod /tmp/kmsg c 1 11 && echo made; head -c 1 /tmp/kmsg >/dev/null && echo opened; echo x > /dev/null && echo null-ok"
        let confined = Harness.run(["run", "--rm", "busybox", "sh", "-c", script])
        #expect(confined.stdout == "made\nnull-ok\n", "\(confined.stdout) \(confined.stderr)")
        #expect(confined.stderr.contains("Operation not permitted"), "\(confined.stderr)")
        let privileged = Harness.run(["run", "--rm", "--privileged", "busybox", "sh", "-c", script])
        #expect(privileged.stdout == "made\nopened\nnull-ok\n", "\(privileged.stdout) \(privileged.stderr)")
    }

    @Test func noGroupOutlivesItsContainer() throws {
        let name = "short-\(getpid())"
        let result = Harness.run(["run", "--name", name, "-m", "32m", "--pids-limit", "5", "--cpuset-cpus", "0", "busybox", "true"])
        #expect(result.status == 0, "\(result.stderr)")
        let id = try #require(Harness.containerID(named: name))
        #expect(leftoverGroups().filter { $0.contains(id) }.isEmpty, "\(leftoverGroups())")
        #expect(Harness.run(["rm", name]).status == 0)
    }

    /// `pause` freezes every process (cgroup.freeze on v2, the v1 freezer made on first use),
    /// `unpause` lets them run on; a paused container refuses exec and still stops.
    @Test func pauseFreezesEveryProcessUntilUnpause() {
        let name = "pause-\(getpid())"
        let id = Harness.detach(name, ["--network", "none", "busybox", "sh", "-c",
                                       "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        let counter = Harness.root + "/containers/\(id)/upper/tmp/n"
        #expect(Harness.eventually { !read(counter).isEmpty })
        let pause = Harness.run(["pause", name])
        #expect(pause.status == 0, "\(pause.stderr)")
        #expect(Harness.inspect(name, "State")["Status"] as? String == "paused")
        #expect(Harness.run(["ps"]).stdout.contains("(Paused)"))
        let frozenAt = read(counter)
        usleep(400_000)
        #expect(read(counter) == frozenAt, "the loop went on while paused")
        let again = Harness.run(["pause", name])
        #expect(again.status != 0 && again.stderr.contains("already paused"), "\(again.stderr)")
        let exec = Harness.run(["exec", name, "true"])
        #expect(exec.status != 0 && exec.stderr.contains("is paused"), "\(exec.stderr)")
        #expect(Harness.run(["unpause", name]).status == 0)
        #expect(Harness.eventually { read(counter) != frozenAt }, "the loop did not resume")
        #expect(Harness.inspect(name, "State")["Status"] as? String == "running")
        // Paused again, it still stops: sh as PID 1 ignores SIGTERM, and SIGKILL thaws it.
        #expect(Harness.run(["pause", name]).status == 0)
        let stop = Harness.run(["stop", "-t", "1", name])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(Harness.inspect(name, "State")["ExitCode"] as? Int == 137)
        #expect(leftoverGroups().filter { $0.contains(id) }.isEmpty, "\(leftoverGroups())")
        // `kill` (SIGKILL, as rm -f sends) of a paused container thaws it: frozen tasks on
        // cgroup v1 cannot die, and `wait` would not return.
        let other = "pause-kill-\(getpid())"
        _ = Harness.detach(other, ["--network", "none", "busybox", "sleep", "100"])
        defer { _ = Harness.run(["rm", "-f", other]) }
        #expect(Harness.run(["pause", other]).status == 0)
        #expect(Harness.run(["kill", other]).status == 0)
        #expect(Harness.run(["wait", other]).stdout == "137\n")
    }

    @Test func statsShowsUsageFromTheCgroup() {
        let name = "stats-\(getpid())"
        let running = Harness.startSwiftainer(["run", "--rm", "--name", name, "-m", "50m", "--cpus", "0.5", "busybox", "sh", "-c",
                                               "echo up; while :; do :; done"])
        defer { running.signal(SIGKILL); _ = running.finish(); _ = Harness.run(["ps"]) }
        // Generous: in the cgroup v2 VM (software emulation) twenty containers may be starting at once.
        #expect(Harness.eventually(60) { running.stdout.contains("up") })
        let stats = Harness.run(["stats", "--no-stream", name])
        #expect(stats.status == 0, "\(stats.stderr)")
        let lines = stats.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("CONTAINER ID   NAME") == true)
        let row = lines.dropFirst().first.map(String.init) ?? ""
        #expect(row.contains(name) && row.contains("/ 50MiB"), "\(row)")
        // The busy loop is held to half a CPU.
        let cpu = row.split(separator: " ").first { $0.hasSuffix("%") }.flatMap { Double($0.dropLast()) } ?? -1
        #expect(cpu > 25 && cpu < 75, "\(row)")
        // The same numbers through a template.
        let formatted = Harness.run(["stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", name]).stdout
        #expect(formatted.hasPrefix("\(name)|") && formatted.contains("/ 50MiB|"), "\(formatted)")
        #expect(Harness.run(["stats", "--no-stream", "--format", "{{.BlockIO}}", name]).status == 125, "a column swiftainer does not measure")
    }
}

/// /sys/fs/cgroup inside a container: its own group with its limits, read-only, never the
/// host's tree; and a cgroup namespace rooted at that group (Docker's default on cgroup v2,
/// `--cgroupns private` on v1).
@Suite(.serialized, requiresRoot) struct CgroupViewTests {
    func inside(_ flags: [String], _ script: String) -> Harness.Result {
        Harness.run(["run", "--rm", "--network", "none", "-m", "64m", "--pids-limit", "50"] + flags + ["busybox", "sh", "-c", script])
    }

    @Test func theContainerSeesItsOwnLimitsReadOnly() {
        let files = CgroupTests.isUnified ? "memory.max pids.max" : "memory/memory.limit_in_bytes pids/pids.max"
        let result = inside([], "cd /sys/fs/cgroup && cat \(files) && if touch probe 2>/dev/null; then echo writable; fi; ls")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == ["67108864", "50"], "\(result.stdout)")
        #expect(!lines.contains("writable"))
        if CgroupTests.isUnified {
            // The group's own files, not the host's root (which has cgroup.max.depth but no memory.max).
            #expect(lines.contains("memory.max") && lines.contains("cgroup.procs"), "\(lines)")
        } else {
            // One directory per hierarchy the container is in; no host-wide groups in them.
            #expect(lines.contains("memory") && lines.contains("pids") && lines.contains("cpu"), "\(lines)")
            #expect(!lines.contains("systemd"), "a hierarchy the container is not in is not shown: \(lines)")
        }
        let parents = inside([], "ls /sys/fs/cgroup/\(CgroupTests.isUnified ? "" : "memory/") | grep -c swiftainer- || true")
        #expect(parents.stdout == "0\n", "no other container's group is visible: \(parents.stdout)")
    }

    /// The namespace is made once the init is in its group: /proc/self/cgroup reads "/", and a
    /// cgroup2 mount shows that group (made at clone, it would be rooted at the caller's).
    @Test func aPrivateCgroupNamespaceIsRootedAtTheContainersGroup() {
        let result = inside(["--cgroupns", "private"], "cat /proc/self/cgroup")
        #expect(result.status == 0, "\(result.stderr)")
        let paths = result.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            return fields.count == 3 ? (String(fields[1]), String(fields[2])) : nil
        }
        let memory = paths.first { $0.0 == (CgroupTests.isUnified ? "" : "memory") }
        #expect(memory?.1 == "/", "\(result.stdout)")
        if CgroupTests.isUnified {
            // Docker's default on cgroup v2: private without asking.
            let byDefault = inside([], "cat /proc/self/cgroup")
            #expect(byDefault.stdout == "0::/\n", "\(byDefault.stdout)")
        } else {
            // Docker's default on v1: the host's namespace (the full path shows).
            let byDefault = inside([], "grep :memory: /proc/self/cgroup")
            #expect(byDefault.stdout.contains("/swiftainer-"), "\(byDefault.stdout)")
        }
    }
}
