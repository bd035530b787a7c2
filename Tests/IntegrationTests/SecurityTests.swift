#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

@Suite(.serialized, requiresRoot) struct SecurityTests {
    func status(_ field: String, _ extra: [String] = []) -> String {
        let result = Harness.run(["run", "--rm"] + extra + ["busybox", "grep", "^\(field):", "/proc/self/status"])
        return result.stdout.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? result.stderr
    }

    func profile(_ json: String) throws -> String {
        let path = "/tmp/swiftainer-profile-\(getpid())-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// CVE-2021-30465's race: a container that shares a volume with another keeps swapping a
    /// directory on the volume for a symlink to /tmp, while the other starts with a mount
    /// below that directory. A runtime that looks the destination up and then mounts by path
    /// can be made to create (and mount on) the host's /tmp/TAG; resolved and mounted by fd, the
    /// mount always lands inside the starting container.
    @Test func aVolumeSwappedToASymlinkWhileAnotherContainerStartsNeverReachesTheHost() throws {
        let volume = "/tmp/swiftainer-race-\(getpid())"
        let tag = "swiftainer-race-tag-\(getpid())"
        try? FileManager.default.removeItem(atPath: volume)
        try FileManager.default.createDirectory(atPath: volume + "/a", withIntermediateDirectories: true)
        defer {
            _ = Harness.run(["rm", "-f", "race-swapper"])
            try? FileManager.default.removeItem(atPath: volume)
            try? FileManager.default.removeItem(atPath: "/tmp/" + tag)
        }
        // Swapped by rename, never removed: removing a directory that is a mount point in
        // another mount namespace detaches that mount, which would hide where it landed.
        let swapper = """
            i=0; while :; do
              mkdir /data/n$i; mv /data/a /data/o$i; mv /data/n$i /data/a
              ln -s /tmp /data/l$i; mv /data/a /data/p$i; mv /data/l$i /data/a
              i=$((i+1))
            done
            """
        _ = Harness.detach("race-swapper", ["-v", volume + ":/data", "busybox", "sh", "-c", swapper])
        var mounted = 0
        for _ in 0..<40 {
            // Exit 0: the tmpfs is in this container (wherever the swaps put it); 125: the
            // destination vanished under the lookup ("resolve … ENOENT") and the start was refused.
            let result = Harness.run(["run", "--rm", "--network", "none", "-v", volume + ":/data", "--tmpfs", "/data/a/" + tag,
                                      "busybox", "grep", "-q", "/\(tag) ", "/proc/self/mountinfo"])
            #expect(result.status == 0 || result.status == 125, "\(result.stderr)")
            if result.status == 0 { mounted += 1 }
            #expect(!FileManager.default.fileExists(atPath: "/tmp/" + tag), "the mount reached the host's /tmp")
        }
        #expect(mounted > 0, "no start succeeded while the volume was being swapped")
    }

    @Test func defaultCapabilitiesAreDockers() {
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
        for set in ["CapBnd", "CapEff", "CapPrm", "CapInh"] {
            #expect(status(set) == "00000000a80425fb", "\(set)")
        }
        #expect(status("CapAmb") == "0000000000000000")
        #expect(status("CapEff", ["--cap-drop", "ALL"]) == "0000000000000000")
        #expect(status("CapBnd", ["--cap-drop", "ALL"]) == "0000000000000000")
        #expect(status("CapEff", ["--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD"]) == "00000000a00435fb") // + NET_ADMIN (bit 12), - MKNOD (bit 27)
    }

    @Test func seccompIsOnByDefaultAndCanBeTurnedOff() {
        #expect(status("Seccomp") == "2")
        #expect(status("Seccomp", ["--security-opt", "seccomp=unconfined"]) == "0")
        #expect(status("NoNewPrivs") == "0")
        #expect(status("NoNewPrivs", ["--security-opt", "no-new-privileges"]) == "1")
    }

    @Test func defaultProfileDeniesWhatReachesBeyondTheContainer() {
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c",
                                  "unshare -m true 2>&1; mount -t tmpfs t /mnt 2>&1; umount /proc 2>&1; echo done"])
        #expect(result.stdout.contains("unshare(0x20000): Operation not permitted"), "\(result.stdout)")
        #expect(result.stdout.contains("mount: permission denied"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("done\n"))
    }

    @Test func capSysAdminAllowsMount() {
        let result = Harness.run(["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                                  "mount -t tmpfs t /mnt && grep -c ' /mnt ' /proc/self/mountinfo"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "1\n")
    }

    @Test func customProfileDeniesMkdir() throws {
        let path = try profile(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#)
        defer { unlink(path) }
        let denied = Harness.run(["run", "--rm", "--security-opt", "seccomp=\(path)", "busybox", "sh", "-c", "mkdir /x; echo $?"])
        #expect(denied.stdout == "1\n")
        #expect(denied.stderr.contains("Operation not permitted"))
        let allowed = Harness.run(["run", "--rm", "busybox", "sh", "-c", "mkdir /x; echo $?"])
        #expect(allowed.stdout == "0\n")
    }

    /// Issue #14.6: SECCOMP_FILTER_FLAG_LOG reaches the kernel: the denied getcwd of `pwd` is
    /// audited (type=1326) with it, and not without it; an unknown flag is refused.
    @Test func seccompFlagsReachTheKernel() throws {
        func audited() -> Int {
            Harness.shell("dmesg").stdout.split(separator: "\n").filter { $0.contains("type=1326") && $0.contains("comm=\"pwd\"") && $0.contains("syscall=79") }.count
        }
        let rule = #""syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]"#
        let quiet = try profile(#"{"defaultAction": "SCMP_ACT_ALLOW", "# + rule + "}")
        let logged = try profile(#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"], "# + rule + "}")
        let bogus = try profile(#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}"#)
        defer { for path in [quiet, logged, bogus] { unlink(path) } }
        let before = audited()
        #expect(Harness.run(["run", "--rm", "--network", "none", "--security-opt", "seccomp=\(quiet)", "busybox", "pwd"]).status != 0)
        #expect(audited() == before, "a filter without SECCOMP_FILTER_FLAG_LOG was audited")
        #expect(Harness.run(["run", "--rm", "--network", "none", "--security-opt", "seccomp=\(logged)", "busybox", "pwd"]).status != 0)
        #expect(Harness.eventually(5) { audited() > before }, "SECCOMP_FILTER_FLAG_LOG did not reach the kernel")
        let refused = Harness.run(["run", "--rm", "--security-opt", "seccomp=\(bogus)", "busybox", "true"])
        #expect(refused.status == 125 && refused.stderr.contains("unknown flag 'SECCOMP_FILTER_FLAG_BOGUS'"), "\(refused.stderr)")
    }

    /// A profile that denies what the init itself still needs after loading it (memory,
    /// exit_group): the init crashes, and `run` must end with it instead of hanging (the Swift
    /// backtracer used to fill the unread stderr pipe and block there).
    @Test func aProfileThatStarvesTheInitDoesNotHangRun() throws {
        let path = try profile(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}"#)
        defer { unlink(path) }
        let name = "starved-\(getpid())"
        let result = Harness.start(Harness.binary, ["run", "--rm", "--name", name, "--network", "none", "--security-opt", "seccomp=\(path)", "busybox", "true"],
                                   environment: ["SWIFTAINER_ROOT": Harness.root], stdin: nil).finish(within: 30)
        #expect(result.status != 0 && result.status != 137, "killed by the harness after 30 s means it hung: \(result.status) \(result.stderr)")
        #expect(!Harness.containerExists(named: name))
    }

    @Test func killActionEndsTheProcessWithSIGSYS() throws {
        let path = try profile(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "getpid", "action": "SCMP_ACT_KILL"}]}"#)
        defer { unlink(path) }
        let result = Harness.run(["run", "--rm", "--security-opt", "seccomp=\(path)", "busybox", "sh", "-c", "echo $$"])
        #expect(result.status == 159)
    }

    @Test func theBuiltInDefaultFileBehavesLikeTheDefault() {
        let file = Harness.repository + "/profiles/seccomp-default.json"
        let withFile = Harness.run(["run", "--rm", "--security-opt", "seccomp=\(file)", "busybox", "sh", "-c",
                                    "grep Seccomp: /proc/self/status; unshare -m true 2>&1"])
        let builtIn = Harness.run(["run", "--rm", "busybox", "sh", "-c", "grep Seccomp: /proc/self/status; unshare -m true 2>&1"])
        #expect(withFile.stdout == builtIn.stdout)
        #expect(builtIn.stdout.contains("Operation not permitted"))
    }

    @Test(arguments: [
        ("{not json", "invalid JSON"),
        (#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#, "defaultAction: unknown action 'SCMP_ACT_SOMETIMES'"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_MAYBE"}]}]}"#, "unknown operator"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#, "index: 7 is out of range"),
    ])
    func malformedProfilesAreRefusedBeforeAnythingStarts(json: String, message: String) throws {
        let path = try profile(json)
        defer { unlink(path) }
        let name = "refused-\(getpid())"
        let result = Harness.run(["run", "--name", name, "--security-opt", "seccomp=\(path)", "busybox", "true"])
        #expect(result.status == 125)
        #expect(result.stderr.contains(message) && result.stderr.contains(path), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!Harness.containerExists(named: name), "a refused run left a container behind")
    }

    @Test func procIsMaskedAndReadOnly() {
        let result = Harness.run(["run", "--rm", "busybox", "sh", "-c",
                                  "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/timer_list 2>/dev/null | wc -c; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo wrote || echo ro; ls /sys/firmware | wc -l"])
        #expect(result.stdout == "0\n0\nro\n0\n", "\(result.stdout)")
    }

    @Test func readOnlyRoot() {
        let result = Harness.run(["run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x 2>&1; touch /dev/shm/ok && echo shm-writable"])
        #expect(result.stdout.contains("Read-only file system"))
        #expect(result.stdout.contains("shm-writable"))
    }

    @Test func privilegedGetsEverythingSwiftainerHolds() {
        let own = ((try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? "")
            .split(separator: "\n").first { $0.hasPrefix("CapBnd:") }?.split(separator: "\t").last.map(String.init)
        #expect(status("CapEff", ["--privileged"]) == own)
        #expect(status("Seccomp", ["--privileged"]) == "0")
    }

    @Test func runtimeBinaryIsReadOnlyToTheContainer() {
        // CVE-2019-5736: the init refuses to start unless the kernel reports its own binary on a
        // read-only mount; --debug shows the check.
        let result = Harness.run(["--debug", "run", "--rm", "busybox", "true"])
        #expect(result.status == 0)
        #expect(result.stderr.contains("runtime binary is on a read-only mount"), "\(result.stderr)")
        let hostNetwork = Harness.run(["run", "--rm", "--network", "host", "busybox", "true"])
        #expect(hostNetwork.status == 0)
    }
}
