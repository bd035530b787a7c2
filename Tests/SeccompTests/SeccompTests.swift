#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import OCI
import TestSupport
import Testing
@testable import Seccomp

@Suite struct DockerProfileTests {
    func parse(_ json: String) throws -> DockerProfile { try DockerProfile.parse(Array(json.utf8), source: "test.json") }

    func error(_ json: String) -> String {
        do { _ = try parse(json); return "" } catch { return "\(error)" }
    }

    @Test func malformedProfilesNameTheFieldAtFault() {
        #expect(error("{not json") == "seccomp profile test.json: invalid JSON at line 1, column 2: unexpected 'n', expected a member name in quotes")
        #expect(error(#"{"defaultAction": "SCMP_ACT_BOGUS"}"#) == "seccomp profile test.json: defaultAction: unknown action 'SCMP_ACT_BOGUS'")
        #expect(error(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}"#)
                == "seccomp profile test.json: syscalls[0].action: unknown action 'SCMP_ACT_NOPE'")
        #expect(error(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#)
                == "seccomp profile test.json: syscalls[0].args[0].op: unknown operator 'SCMP_CMP_ALMOST'")
        #expect(error(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#)
                == "seccomp profile test.json: syscalls[0].args[0].index: 7 is out of range (0-5)")
        #expect(error(#"{"syscalls": []}"#) == "seccomp profile test.json: missing field 'defaultAction'")
        #expect(error(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ERRNO"}]}"#)
                .hasPrefix("seccomp profile test.json: syscalls[0].names: "))
    }

    @Test func includesAndExcludesFollowCapabilitiesArchAndKernel() throws {
        let profile = try parse("""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
          {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
          {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
          {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
          {"name": "getpid", "action": "SCMP_ACT_ALLOW"}
        ]}
        """)
        let plain = profile.resolve(capabilities: ["CAP_CHOWN"], kernel: KernelVersion("6.1.0-13-amd64")!, nativeArch: "SCMP_ARCH_X86_64")
        #expect(plain.syscalls?.map(\.names) == [["clone"], ["arch_prctl"], ["ptrace"], ["getpid"]])
        let admin = profile.resolve(capabilities: ["CAP_SYS_ADMIN"], kernel: KernelVersion("4.4")!, nativeArch: "SCMP_ARCH_AARCH64")
        #expect(admin.syscalls?.map(\.names) == [["mount"], ["getpid"]])
    }

    @Test func archMapSelectsTheNativeFamily() throws {
        let profile = try parse(#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}, {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}]}"#)
        #expect(profile.resolve(capabilities: [], nativeArch: "SCMP_ARCH_X86_64").architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    }

    @Test func kernelVersionsCompareNumerically() {
        #expect(KernelVersion("4.8")! < KernelVersion("4.10")!)
        #expect(KernelVersion("6.1.5-13-amd64")! > KernelVersion("6.1")!)
        #expect(KernelVersion("6.1.0-13-amd64")! == KernelVersion("6.1")!)
        #expect(!(KernelVersion("5.0")! < KernelVersion("5")!))
        #expect(KernelVersion("x.y") == nil)
    }

    @Test func builtInDefaultIsTheFileInTheRepository() throws {
        #expect(try DockerProfile.builtInDefault() == DockerProfile.parse(defaultProfileFile(), source: "profiles/seccomp-default.json"),
                "profiles/seccomp-default.json changed: run scripts/gen-default-profile")
    }

    @Test func builtInDefaultHasDockersPolicy() throws {
        let profile = try DockerProfile.builtInDefault()
        #expect(profile.defaultAction == "SCMP_ACT_ERRNO")
        let confined = profile.resolve(capabilities: Set(CapabilityNames.dockerDefault))
        let allowed = Set((confined.syscalls ?? []).filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil }.flatMap(\.names))
        for dangerous in ["mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "kexec_load",
                          "init_module", "bpf", "perf_event_open", "reboot", "swapon", "open_by_handle_at", "userfaultfd"] {
            #expect(!allowed.contains(dangerous), "\(dangerous) allowed by default")
        }
        for everyday in ["read", "write", "openat", "execve", "clone3", "exit_group", "futex", "getpid"] where everyday != "clone3" {
            #expect(allowed.contains(everyday), "\(everyday) denied by default")
        }
        let admin = profile.resolve(capabilities: Set(CapabilityNames.dockerDefault + ["CAP_SYS_ADMIN"]))
        let adminAllowed = Set((admin.syscalls ?? []).filter { $0.action == "SCMP_ACT_ALLOW" }.flatMap(\.names))
        #expect(adminAllowed.isSuperset(of: ["mount", "umount2", "unshare", "setns"]))
    }
}

@Suite struct SeccompCompilerTests {
    @Test func compilesTheDefaultProfileToBPF() throws {
        var skipped: [String] = []
        let seccomp = try DockerProfile.builtInDefault().resolve(capabilities: Set(CapabilityNames.dockerDefault))
        let bpf = try SeccompCompiler.compile(seccomp, skipped: &skipped)
        #expect(bpf.count % 8 == 0)
        #expect(bpf.count / 8 > 100 && bpf.count / 8 <= 4096)
    }

    @Test func unknownSyscallNamesAreSkippedNotFatal() throws {
        var skipped: [String] = []
        let seccomp = OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
            SeccompSyscall(names: ["mkdir", "no_such_syscall_anywhere"], action: "SCMP_ACT_ERRNO")])
        let bpf = try SeccompCompiler.compile(seccomp, skipped: &skipped)
        #expect(skipped == ["no_such_syscall_anywhere"])
        #expect(!bpf.isEmpty)
    }

    /// Issue #14.6: flags are the kernel's bits; unknown and unsupported names are refused.
    @Test func flagsAreHonouredOrRefusedByName() throws {
        #expect(try SeccompFlags.value(nil, field: "flags") == 0)
        #expect(try SeccompFlags.value(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], field: "flags") == 7)
        #expect(throws: SeccompError("flags[1]: unknown flag 'SECCOMP_FILTER_FLAG_BOGUS' (supported: SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_TSYNC)")) {
            try SeccompFlags.value(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_BOGUS"], field: "flags")
        }
        // The listener's flags need a listener (seccomp user notification).
        for name in ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_NEW_LISTENER"] {
            do {
                _ = try SeccompFlags.value([name], field: "flags")
                Issue.record("\(name) was accepted")
            } catch {
                #expect("\(error)".contains("\(name) needs a seccomp listener"), "\(error)")
            }
        }
        #expect(try SeccompFlags.value(["SECCOMP_FILTER_FLAG_NEW_LISTENER"], field: "flags", listener: true) == 8)
        // In a Docker profile and in an OCI config alike.
        let profile = #"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}"#
        #expect(throws: SeccompError.self) { try DockerProfile.parse(Array(profile.utf8), source: "p.json") }
        var skipped: [String] = []
        #expect(throws: SeccompError.self) {
            try SeccompCompiler.compile(OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_BOGUS"]), skipped: &skipped)
        }
    }

    /// SCMP_ACT_NOTIFY: allowed on a rule with a listener; not as the default, not without a
    /// listener, not on the syscall the runtime hands the fd over with.
    @Test func notifyNeedsAListenerAndIsNeverTheDefault() throws {
        func seccomp(_ names: [String], listener: String?, defaultAction: String = "SCMP_ACT_ALLOW") -> OCI.Seccomp {
            var seccomp = OCI.Seccomp(defaultAction: defaultAction, syscalls: [SeccompSyscall(names: names, action: "SCMP_ACT_NOTIFY")])
            seccomp.listenerPath = listener
            return seccomp
        }
        #expect(try SeccompNotify.listener(for: seccomp(["mkdir"], listener: "/run/agent.sock")) == "/run/agent.sock")
        #expect(try SeccompNotify.listener(for: OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW")) == nil)
        #expect(throws: SeccompError.self) { try SeccompNotify.listener(for: seccomp(["mkdir"], listener: nil)) }
        #expect(throws: SeccompError.self) { try SeccompNotify.listener(for: seccomp(["mkdir"], listener: "agent.sock")) }
        #expect(throws: SeccompError.self) { try SeccompNotify.listener(for: seccomp(["sendmsg"], listener: "/run/agent.sock")) }
        #expect(throws: SeccompError.self) {
            try SeccompNotify.listener(for: seccomp(["mkdir"], listener: "/run/agent.sock", defaultAction: "SCMP_ACT_NOTIFY"))
        }
        var skipped: [String] = []
        let program = try SeccompCompiler.compile(seccomp(["mkdir"], listener: "/run/agent.sock"), skipped: &skipped)
        // SECCOMP_RET_USER_NOTIF (0x7fc00000) is one of the program's return values.
        var returns: [UInt32] = []
        for offset in stride(from: 0, to: program.count, by: 8) where program[offset] == 0x06 { // BPF_RET | BPF_K
            let k = program[(offset + 4)..<(offset + 8)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            returns.append(k)
        }
        #expect(returns.contains(0x7fc0_0000), "\(returns)")
    }

    /// Issue #14.5: a profile's size is bounded, and repeated names compile once.
    @Test func oversizedProfilesAreRefusedAndRepeatsCompileOnce() throws {
        let many = Array(repeating: "\"read\"", count: SeccompLimits.names + 1).joined(separator: ",")
        let profile = #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["# + many + #"], "action": "SCMP_ACT_ALLOW"}]}"#
        #expect(throws: SeccompError("seccomp profile big.json: syscalls: 10001 syscall names, more than the 10000 a profile may have")) {
            try DockerProfile.parse(Array(profile.utf8), source: "big.json")
        }
        #expect(throws: SeccompError.self) {
            try DockerProfile.parse([UInt8](repeating: 0x20, count: SeccompLimits.fileBytes + 1), source: "huge.json")
        }
        var skipped: [String] = []
        let oci = { (names: [String]) in OCI.Seccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [SeccompSyscall(names: names, action: "SCMP_ACT_ALLOW")]) }
        #expect(throws: SeccompError.self) { try SeccompCompiler.compile(oci(Array(repeating: "read", count: SeccompLimits.names + 1)), skipped: &skipped) }
        let once = try SeccompCompiler.compile(oci(["read", "write", "bogus_name"]), skipped: &skipped)
        skipped = []
        let repeated = try SeccompCompiler.compile(oci(Array(repeating: ["read", "write", "bogus_name"], count: 3000).flatMap { $0 }), skipped: &skipped)
        #expect(once == repeated)
        #expect(skipped == ["bogus_name"], "an unknown name is reported once")
    }

    @Test func ociErrorsNameTheField() {
        var skipped: [String] = []
        #expect(throws: SeccompError("linux.seccomp.syscalls[0].args[0].op: unknown operator 'EQ'")) {
            try SeccompCompiler.compile(OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
                SeccompSyscall(names: ["read"], action: "SCMP_ACT_ERRNO", args: [SeccompArg(index: 0, value: 0, op: "EQ")])]), skipped: &skipped)
        }
        #expect(throws: SeccompError("linux.seccomp.defaultAction: unknown action 'ALLOW'")) {
            try SeccompCompiler.compile(OCI.Seccomp(defaultAction: "ALLOW"), skipped: &skipped)
        }
    }

    @Test func sameArgumentTwiceMeansEitherCondition() throws {
        // personality(0) or personality(8): two rules, both compile.
        var skipped: [String] = []
        let seccomp = OCI.Seccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [
            SeccompSyscall(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [
                SeccompArg(index: 0, value: 0, op: "SCMP_CMP_EQ"), SeccompArg(index: 0, value: 8, op: "SCMP_CMP_EQ")])])
        #expect(try !SeccompCompiler.compile(seccomp, skipped: &skipped).isEmpty)
    }
}

/// Property test: mutated profiles never crash the parser; they parse or fail with a
/// SeccompError (a seeded generator keeps failures reproducible).
@Suite struct ProfileParserFuzzTests {
    @Test func mutatedProfilesFailCleanly() throws {
        var random = SplitMix(seed: 0x5eed_c0de)
        let base = Array(try defaultProfileFile().prefix(3000)) + Array(#"]}]}"#.utf8)
        let small = Array(#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#.utf8)
        let alphabet = Array(#"{}[]":,0123456789-"#.utf8)
        var parsed = 0
        for iteration in 0..<fuzzIterations(default: 3000) {
            var bytes = iteration % 2 == 0 ? small : base
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                default: bytes = Array(bytes[0..<at])
                }
                if bytes.isEmpty { bytes = [0x7b] }
            }
            do {
                _ = try DockerProfile.parse(bytes, source: "fuzz")
                parsed += 1
            } catch is SeccompError {
            } catch {
                Issue.record("unexpected error type for input \(iteration): \(error)")
            }
        }
        #expect(parsed < fuzzIterations(default: 3000))
    }
}

@Suite struct SeccompCacheTests {
    @Test func compilesOnceAndReusesTheProgram() throws {
        let dir = TemporaryDirectory()
        let cache = SeccompCache(directory: dir.path + "/seccomp")
        let seccomp = OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [SeccompSyscall(names: ["mkdir"], action: "SCMP_ACT_ERRNO")])
        var compilations = 0
        let compile: (OCI.Seccomp) throws -> [UInt8] = { seccomp in
            compilations += 1
            var skipped: [String] = []
            return try SeccompCompiler.compile(seccomp, skipped: &skipped)
        }
        let first = try cache.filter(for: seccomp, compile: compile)
        let second = try cache.filter(for: seccomp, compile: compile)
        #expect(first == second)
        #expect(compilations == 1)
        var other = seccomp
        other.syscalls?[0].names = ["rmdir"]
        #expect(try cache.key(for: other) != cache.key(for: seccomp))
        _ = try cache.filter(for: other, compile: compile)
        #expect(compilations == 2)
    }
}

/// profiles/seccomp-default.json from the repository this test was built from.
private func defaultProfileFile() throws -> [UInt8] {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return Array(try Data(contentsOf: repository.appendingPathComponent("profiles/seccomp-default.json")))
}
