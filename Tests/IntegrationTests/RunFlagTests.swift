#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Docker's `run` flags beyond the basics, through the real binary: what the container sees,
/// what its cgroup holds, and one line and 125 for every bad value, before anything exists.
@Suite(.serialized, requiresRoot) struct RunFlagTests {
    func inside(_ flags: [String], _ script: String) -> Harness.Result {
        Harness.run(["run", "--rm", "--network", "none"] + flags + ["busybox", "sh", "-c", script])
    }

    func scratchFile(_ name: String, _ content: String) throws -> String {
        let path = "/tmp/swiftainer-flags-\(getpid())-\(name)"
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func processFlagsReachTheProcess() throws {
        let envFile = try scratchFile("env", "A=1\n# a comment\n\n  B=from-file\nFROM_HOST\n")
        defer { unlink(envFile) }
        let result = Harness.execute(Harness.binary, ["run", "--rm", "--network", "none", "--env-file", envFile, "-e", "B=from-flag",
                                                      "--domainname", "dom.test", "--ulimit", "nofile=100:200", "--sysctl", "kernel.msgmax=4096",
                                                      "--oom-score-adj", "300", "--group-add", "10", "--group-add", "users", "--shm-size", "8m",
                                                      "busybox", "sh", "-c",
                                                      "echo $A $B $FROM_HOST; cat /proc/sys/kernel/domainname; ulimit -n; ulimit -Hn; "
                                                      + "cat /proc/sys/kernel/msgmax /proc/self/oom_score_adj; id -G; df -k /dev/shm | tail -1"],
                                         environment: ["SWIFTAINER_ROOT": Harness.root, "FROM_HOST": "hosted"], stdin: nil)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "1 from-flag hosted", "\(lines)")
        #expect(Array(lines.dropFirst().prefix(6)) == ["dom.test", "100", "200", "4096", "300", "0 10 100"], "\(lines)")
        #expect(lines.last?.split(separator: " ").dropFirst().first == "8192", "\(lines)")
    }

    @Test func nameResolutionFlagsWriteHostsAndResolvConf() {
        let result = Harness.run(["run", "--rm", "--add-host", "db:10.1.2.3", "--add-host", "gw:host-gateway", "--add-host", "v6=::1",
                                  "--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
                                  "busybox", "sh", "-c", "cat /etc/hosts /etc/resolv.conf"])
        #expect(result.status == 0, "\(result.stderr)")
        for line in ["10.1.2.3\tdb", "10.89.0.1\tgw", "::1\tv6", "nameserver 192.0.2.53", "search example.test", "options ndots:2"] {
            #expect(result.stdout.contains(line + "\n"), "\(line) in \(result.stdout)")
        }
    }

    @Test func metadataFlagsAreRecorded() throws {
        let name = "runflag-meta-\(getpid())"
        let labelFile = try scratchFile("labels", "team=core\n# not a label\nempty\n")
        let cidFile = "/tmp/swiftainer-flags-\(getpid())-cid"
        defer { unlink(labelFile); unlink(cidFile); _ = Harness.run(["rm", "-f", name]) }
        let result = Harness.run(["run", "--name", name, "--network", "none", "-l", "tier=web", "--label-file", labelFile,
                                  "--annotation", "org.example/key=value", "--cidfile", cidFile, "--stop-signal", "SIGUSR1",
                                  "--stop-timeout", "3", "busybox", "true"])
        #expect(result.status == 0, "\(result.stderr)")
        let id = try #require(Harness.containerID(named: name))
        #expect((try? String(contentsOfFile: cidFile, encoding: .utf8)) == id)
        let inspect = Harness.run(["inspect", name]).stdout
        for text in ["\"tier\": \"web\"", "\"team\": \"core\"", "\"empty\": \"\"", "\"StopSignal\": \"SIGUSR1\"", "\"StopTimeout\": 3"] {
            #expect(inspect.contains(text), "\(text) in \(inspect)")
        }
        let config = (try? String(contentsOfFile: Harness.root + "/containers/\(id)/config.json", encoding: .utf8)) ?? ""
        #expect(config.contains("\"org.example/key\": \"value\""))
        // Docker's rule: an existing cid file is not overwritten, and nothing is created.
        let again = Harness.run(["run", "--rm", "--network", "none", "--cidfile", cidFile, "busybox", "true"])
        #expect(again.status == 125 && again.stderr.contains("Container ID file found"), "\(again.stderr)")
    }

    @Test func namespacesOfAnotherContainerAreJoinedAndTheHostsOnRequest() throws {
        let name = "runflag-holder-\(getpid())"
        _ = Harness.detach(name, ["--network", "none", "busybox", "sleep", "60"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        let inspect = Harness.run(["inspect", name]).stdout
        let pid = try #require(inspect.split(separator: "\n").first { $0.contains("\"Pid\"") }.flatMap { Int32($0.filter(\.isNumber)) })
        func namespace(_ pid: String, _ type: String) -> String {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(type)")) ?? "?"
        }
        let joined = Harness.run(["run", "--rm", "--ipc", "container:" + name, "--pid", "container:" + name, "--network", "container:" + name,
                                  "busybox", "sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; readlink /proc/self/ns/net; ps -o comm | grep -c sleep"])
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(joined.stdout == ["ipc", "pid", "net"].map { namespace("\(pid)", $0) + "\n" }.joined() + "1\n", "\(joined.stdout)")
        let host = Harness.run(["run", "--rm", "--network", "none", "--pid", "host", "--uts", "host", "--ipc", "host", "busybox", "sh", "-c",
                                "readlink /proc/self/ns/pid; readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc"])
        #expect(host.stdout == ["pid", "uts", "ipc"].map { namespace("self", $0) + "\n" }.joined(), "\(host.stdout) \(host.stderr)")
        let stopped = Harness.run(["run", "--rm", "--ipc", "container:no-such-\(getpid())", "busybox", "true"])
        #expect(stopped.status == 125 && stopped.stderr.contains("no-such"), "\(stopped.stderr)")
    }

    /// A loop device over a scratch file: a block device of the test's own to throttle and
    /// pass in (this host's own disk may not be opened even by root). Detached by the caller.
    func loopDevice() throws -> (path: String, numbers: String, detach: () -> Void) {
        let image = "/tmp/swiftainer-flags-\(getpid())-loop.img"
        #expect(Harness.shell("truncate -s 1M \(image)").status == 0)
        let attached = Harness.shell("losetup -f --show \(image)")
        let path = attached.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard attached.status == 0, path.hasPrefix("/dev/loop") else {
            unlink(image)
            throw POSIXError(.ENODEV)
        }
        var info = stat()
        _ = stat(path, &info)
        let device = UInt64(info.st_rdev)
        let numbers = "\(device >> 8 & 0xfff):\(device & 0xff | device >> 12 & 0xfff00)"
        return (path, numbers, { _ = Harness.shell("losetup -d \(path)"); unlink(image) })
    }

    /// Limits as the cgroup files say (v1 here, v2 in the VM), and devices as the device
    /// cgroup enforces them.
    @Test func resourceFlagsReachTheCgroupAndDevicesTheirRules() throws {
        let disk = try loopDevice()
        defer { disk.detach() }
        let name = "runflag-limits-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", name]) }
        let id = Harness.detach(name, ["--network", "none", "-m", "64m", "--memory-reservation", "32m", "--cpu-period", "50000",
                                       "--cpu-quota", "25000", "--device-read-bps", disk.path + ":1mb", "--device", disk.path + ":/dev/disk:r",
                                       "--device-cgroup-rule", "c 1:8 rwm", "busybox", "sleep", "60"])
        func read(_ path: String?) -> String {
            ((try? String(contentsOfFile: path ?? "/", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if CgroupTests.isUnified {
            let dir = Harness.groupDirectory(id, "")
            #expect(read(dir.map { $0 + "/memory.low" }) == "33554432")
            #expect(read(dir.map { $0 + "/cpu.max" }) == "25000 50000")
            #expect(read(dir.map { $0 + "/io.max" }).contains("rbps=1048576"))
        } else {
            #expect(read(Harness.groupDirectory(id, "memory").map { $0 + "/memory.soft_limit_in_bytes" }) == "33554432")
            #expect(read(Harness.groupDirectory(id, "cpu").map { $0 + "/cpu.cfs_period_us" }) == "50000")
            #expect(read(Harness.groupDirectory(id, "cpu").map { $0 + "/cpu.cfs_quota_us" }) == "25000")
            #expect(read(Harness.groupDirectory(id, "blkio").map { $0 + "/blkio.throttle.read_bps_device" }) == disk.numbers + " 1048576")
        }
        // Read-only by the rule "r": reading works, opening for writing is denied by the device
        // cgroup (dd opens it O_WRONLY and writes nothing).
        let device = Harness.run(["exec", name, "sh", "-c", "head -c 4 /dev/disk | wc -c; dd of=/dev/disk count=0 2>/dev/null && echo opened"])
        #expect(device.stdout == "4\n", "\(device.stdout) \(device.stderr)")
        // The rule opens /dev/random (1:8) for a node made inside.
        let random = Harness.run(["exec", name, "sh", "-c", "mknod /tmp/r c 1 8 && head -c 4 /tmp/r | wc -c"])
        #expect(random.stdout == "4\n", "\(random.stdout) \(random.stderr)")
    }

    @Test func mountFlagBindsAndTmpfs() throws {
        let file = try scratchFile("mount", "from the host\n")
        defer { unlink(file) }
        let result = inside(["--mount", "type=bind,source=\(file),target=/data/file,readonly",
                             "--mount", "type=tmpfs,destination=/scratch,tmpfs-size=1m,tmpfs-mode=1770"],
                            "cat /data/file; echo x > /data/file || echo read-only; df -k /scratch | tail -1; stat -c %a /scratch")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "from the host" && lines.contains("read-only"), "\(lines)")
        #expect(lines.dropLast().last?.split(separator: " ").dropFirst().first == "1024", "\(lines)")
        #expect(lines.last == "1770", "\(lines)")
    }

    /// Every malformed value: 125, one line naming the flag, and no container made.
    /// --volumes-from (#18): the other container's bind mounts, with its modes or the one asked
    /// for, and not its own /etc files.
    @Test func volumesFromTakesTheOtherContainersMounts() throws {
        let source = "runflag-vsrc-\(getpid())"
        let dir = "/tmp/swiftainer-flags-\(getpid())-vol"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "shared\n".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        defer { _ = Harness.run(["rm", "-f", source]); _ = Harness.shell("rm -rf \(dir)") }
        #expect(Harness.run(["run", "--name", source, "--network", "none", "--hostname", "source-host", "-v", "\(dir):/data",
                             "busybox", "true"]).status == 0)
        let writable = inside(["--volumes-from", source], "cat /data/file; echo more >> /data/file && echo wrote; hostname")
        #expect(writable.stdout.hasPrefix("shared\nwrote\n") && !writable.stdout.contains("source-host"), "\(writable.stdout) \(writable.stderr)")
        let readOnly = inside(["--volumes-from", source + ":ro"], "cat /data/file; echo x >> /data/file || echo refused")
        #expect(readOnly.stdout == "shared\nmore\nrefused\n", "\(readOnly.stdout)")
        let missing = inside(["--volumes-from", "absent-\(getpid())"], "true")
        #expect(missing.status == 125 && missing.stderr.contains("absent-\(getpid())"), "\(missing.stderr)")
    }

    @Test(arguments: [
        (["-m", "abc"], "--memory"), (["--cpus", "-1"], "--cpus"), (["--ulimit", "nofile=10:5"], "soft limit"),
        (["--ulimit", "bogus=1"], "--ulimit"), (["--device", "/nonexistent"], "/nonexistent"),
        (["--sysctl", "kernel.panic=1"], "kernel.panic"), (["--mount", "type=bind"], "target is required"),
        (["--mount", "type=bind,target=/x"], "source is required"), (["--oom-score-adj", "2000"], "--oom-score-adj"),
        (["--add-host", "nocolon"], "--add-host"), (["--add-host", "h:999.1.1.1"], "invalid IP"),
        (["--ipc", "sideways"], "--ipc"), (["--uts", "container:x"], "--uts"), (["--userns", "remap"], "--userns"),
        (["--isolation", "hyperv"], "invalid isolation"), (["--runtime", "kata"], "unknown or invalid runtime name: kata"),
        (["--cpu-count", "2"], "Windows"), (["--gpus", "all"], "--gpus"), (["--network-alias", "web"], "user defined networks"),
        (["--memry", "5m"], "did you mean --memory?"), (["--stop-signal", "SIGNOPE"], "--stop-signal"),
        (["--cpu-quota", "500"], "--cpu-quota"), (["--cpus", "1", "--cpu-period", "50000"], "Conflicting options"),
        (["--platform", "linux/s390x"], "does not match the specified platform"), (["--label-file", "/nonexistent"], "--label-file"),
        (["--expose", "90-80"], "--expose"), (["--volumes-from", "x:rx"], "--volumes-from"), (["--link", "a:"], "--link"),
        (["--restart", "sometimes"], "invalid restart policy"), (["--restart", "always:3"], "on-failure"), (["--rm", "--restart", "always"], "Conflicting options"),
        (["--health-interval", "0"], "--health-interval"), (["--health-timeout", "5x"], "--health-timeout"), (["--health-retries", "-1"], "--health-retries"),
        (["--no-healthcheck", "--health-cmd", "true"], "conflicts"), (["--log-opt", "max-size=1k", "--log-driver", "gelf"], "gelf"),
        (["-a", "stdout", "-d"], "Conflicting options: -a and -d"), (["-a", "stdlog"], "-a, --attach"), (["--detach-keys", "ctrl-1"], "--detach-keys"),
        (["--sig-proxy=maybe"], "--sig-proxy"),
    ])
    func badValuesAreRefusedBeforeAnythingIsMade(_ flags: [String], _ expected: String) {
        // Named, so that its absence afterwards is this run's, whatever other suites run meanwhile.
        let name = "bad-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let result = Harness.run(["run", "--name", name, "--network", "none"] + flags + ["busybox", "true"])
        #expect(result.status == 125, "\(flags): \(result.stderr)")
        #expect(result.stderr.contains(expected), "\(flags): \(result.stderr)")
        #expect(result.stderr.hasPrefix("swiftainer: "), "\(result.stderr)")
        #expect(Harness.containerID(named: name) == nil, "\(flags) left a container")
    }
}
