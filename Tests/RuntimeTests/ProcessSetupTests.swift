#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI
@testable import Runtime
import Testing
import TestSupport

/// What the runtime decides about a process before and around its exec, without root: the exec
/// spec, the PATH lookup and its exit codes, spec validation, and hooks.
@Suite struct ProcessSetupTests {
    @Test func anExecSpecJoinsEveryNamespaceTheContainerCreatedAndNothingElse() {
        var container = Spec.linuxDefault(args: ["sh"], env: ["A=1"], hostname: "h")
        container.linux?.namespaces = [Namespace(type: "pid"), Namespace(type: "mount"), Namespace(type: "network", path: "/run/netns/pod")]
        container.linux?.resources = Resources()
        container.linux?.sysctl = ["net.ipv4.ip_forward": "1"]
        container.annotations = ["org.swiftainer.rootfs.lowerdir": "/x"]
        container.hooks = Hooks()
        let process = Process(terminal: false, args: ["ps"], env: ["B=2"], cwd: "/tmp", noNewPrivileges: true)
        let spec = ExecSpec.make(container: container, initPid: 42, process: process)
        #expect(spec.linux?.namespaces == [Namespace(type: "pid", path: "/proc/42/ns/pid"), Namespace(type: "mount", path: "/proc/42/ns/mnt"),
                                           Namespace(type: "network", path: "/run/netns/pod")])
        #expect(spec.process == process)
        #expect(spec.mounts == [] && spec.hooks == nil && spec.annotations == nil)
        #expect(spec.linux?.resources == nil && spec.linux?.sysctl == nil)
        #expect(spec.linux?.seccomp == container.linux?.seccomp) // the container's filter applies to exec too
        #expect(spec.linux?.maskedPaths == container.linux?.maskedPaths)
    }

    @Test func lookupFindsWhatAShellFindsWithDockersExitCodes() throws {
        let directory = TemporaryDirectory(prefix: "swiftainer-lookup")
        let bin = directory.path + "/bin"
        try Files.makeDirectories(bin)
        try Files.writeAtomically(bin + "/tool", "#!/bin/sh\n", mode: 0o755)
        try Files.writeAtomically(bin + "/data", "not a program\n", mode: 0o644)
        let env = ["PATH=/nonexistent:" + bin]
        #expect(try ExecutableLookup.resolve("tool", env: env) == bin + "/tool")
        #expect(try ExecutableLookup.resolve(bin + "/tool", env: []) == bin + "/tool")
        func code(_ command: String) -> Int32? {
            do { _ = try ExecutableLookup.resolve(command, env: env); return nil } catch let error as RuntimeError { return error.exitCode } catch { return nil }
        }
        #expect(code("missing") == 127)
        #expect(code(bin + "/missing") == 127)
        if geteuid() != 0 { #expect(code("data") == 126) } // root may execute anything with an x bit only; data has none
        #expect(code(bin) == 126) // a directory
        #expect(ExecutableLookup.exitCode(forExecErrno: ENOENT) == 127 && ExecutableLookup.exitCode(forExecErrno: EACCES) == 126)
    }

    @Test func homeComesFromTheContainersPasswdOrIsRoot() {
        let passwd = "# comment\nroot:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnohome:x:7:7:::/bin/sh\n"
        #expect(ProcessSettings.homeDirectory(uid: 0, passwd: passwd) == "/root")
        #expect(ProcessSettings.homeDirectory(uid: 1000, passwd: passwd) == "/home/app")
        #expect(ProcessSettings.homeDirectory(uid: 7, passwd: passwd) == "/")
        #expect(ProcessSettings.homeDirectory(uid: 4242, passwd: passwd) == "/")
        #expect(ProcessSettings.homeDirectory(uid: 0, passwd: nil) == "/")
    }

    @Test func specValidationNamesTheFieldAtFault() {
        func message(_ change: (inout Spec) -> Void) -> String {
            var spec = Spec.linuxDefault(args: ["true"], env: [], hostname: "h")
            change(&spec)
            do { try SpecValidation.check(spec); return "" } catch { return "\(error)" }
        }
        let valid = message { _ in }
        let nulInArgs = message { $0.process?.args = ["tr\u{0}ue"] }
        let nulInEnv = message { $0.process?.env = ["A=1", "B=\u{0}"] }
        let relativeCwd = message { $0.process?.cwd = "tmp" }
        let hugeMajor = message { $0.linux?.devices = [Device(type: "c", path: "/dev/big", major: 1 << 40, minor: 1)] }
        let hostnameWithoutUTS = message { $0.linux?.namespaces = [Namespace(type: "mount")] }
        let domainnameWithoutUTS = message { $0.hostname = nil; $0.domainname = "example"; $0.linux?.namespaces = [Namespace(type: "mount")] }
        #expect(hostnameWithoutUTS.contains("hostname needs a UTS namespace"), "\(hostnameWithoutUTS)")
        #expect(domainnameWithoutUTS.contains("domainname needs a UTS namespace"), "\(domainnameWithoutUTS)")
        #expect(valid == "")
        #expect(nulInArgs.contains("process.args[0]"), "\(nulInArgs)")
        #expect(nulInEnv.contains("process.env[1]"), "\(nulInEnv)")
        #expect(relativeCwd.contains("process.cwd"), "\(relativeCwd)")
        #expect(hugeMajor.contains("major"), "\(hugeMajor)")
    }

    @Test func hooksGetTheStateOnStdinAndFailuresNameThePhase() throws {
        let directory = TemporaryDirectory(prefix: "swiftainer-hooks")
        let output = directory.path + "/state.json"
        let state = State(id: "c1", status: .creating, pid: 7, bundle: "/b", annotations: nil)
        try HookRunner.run([Hook(path: "/bin/sh", args: ["sh", "-c", "cat > \(output)"])], phase: "prestart", state: state)
        let written = try Files.readString(output)
        #expect(written.contains("\"id\":\"c1\"") && written.contains("\"pid\":7"), "\(written)")
        do {
            try HookRunner.run([Hook(path: "/bin/sh", args: ["sh", "-c", "exit 3"])], phase: "createRuntime", state: state)
            Issue.record("a failing hook passed")
        } catch {
            #expect("\(error)".contains("createRuntime hook 0") && "\(error)".contains("status 3"), "\(error)")
        }
        // poststop: a failing hook is reported, and the ones after it still run.
        let after = directory.path + "/after"
        HookRunner.runReportingFailures([Hook(path: "/bin/sh", args: ["sh", "-c", "exit 1"]),
                                         Hook(path: "/bin/sh", args: ["sh", "-c", "echo ran > \(after)"])], phase: "poststop", state: state)
        #expect(Files.exists(after))
        // A hook gets the environment it declares, and nothing of ours.
        setenv("SWIFTAINER_HOOK_LEAK", "1", 1)
        defer { unsetenv("SWIFTAINER_HOOK_LEAK") }
        let environment = directory.path + "/env"
        try HookRunner.run([Hook(path: "/bin/sh", args: ["sh", "-c", "env > \(environment)"], env: ["ONLY=this"])], phase: "prestart", state: state)
        let seen = try Files.readString(environment)
        #expect(seen.contains("ONLY=this") && !seen.contains("SWIFTAINER_HOOK_LEAK"), "\(seen)")
        do {
            try HookRunner.run([Hook(path: "/bin/sh", args: ["sh", "-c", "sleep 5"], timeout: 1)], phase: "startContainer", state: state)
            Issue.record("a hook past its timeout passed")
        } catch {
            #expect("\(error)".contains("timed out"), "\(error)")
        }
    }
}
