#if canImport(Glibc)
import Glibc
#endif
@testable import Containers
import LinuxKit
import OCI
import Runtime
import Testing
import TestSupport

/// The container core's rules, as non-root: the one liveness rule, the one cgroup rule, the
/// claim of an id in a state root.
@Suite struct ContainerCoreTests {
    let me = ProcessIdentity.of(getpid())!
    var gone: ProcessIdentity { ProcessIdentity(pid: getpid(), startTime: me.startTime + 1) } // a recycled pid

    func state(process: ProcessIdentity?, supervisor: ProcessIdentity?) -> ContainerState {
        ContainerState(id: "c", bundle: "/b", created: "t", annotations: nil, cgroupPath: "swiftainer-c", process: process, supervisor: supervisor)
    }

    @Test func aSupervisedContainerLivesWithItsSupervisorAnUnsupervisedOneWithItsInit() {
        #expect(state(process: me, supervisor: nil).isAlive)
        #expect(!state(process: gone, supervisor: nil).isAlive)
        #expect(!state(process: nil, supervisor: nil).isAlive)
        // Supervised: alive while the supervisor is, even once the init ended (the supervisor
        // has yet to record the end); dead with the supervisor, whatever the init record says.
        #expect(state(process: gone, supervisor: me).isAlive)
        #expect(state(process: nil, supervisor: me).isAlive)
        #expect(!state(process: me, supervisor: gone).isAlive)
        // Signals go only to an init that is still the process recorded.
        #expect(state(process: me, supervisor: me).livePid == getpid())
        #expect(state(process: gone, supervisor: me).livePid == nil)
    }

    @Test func cgroupPathsAreTheSpecsAndDefaultToTheIdBelowOurs() throws {
        func path(_ cgroupsPath: String?) throws -> String {
            var spec = Spec.linuxDefault(args: ["true"], env: [], hostname: "h")
            spec.linux?.cgroupsPath = cgroupsPath
            return try ContainerRuntime.cgroupPath(for: spec, id: "abc")
        }
        #expect(try path(nil) == "swiftainer-abc")
        #expect(try ContainerRuntime.cgroupPath(for: nil, id: "abc") == "swiftainer-abc")
        #expect(try path("/kubepods/pod1/abc") == "/kubepods/pod1/abc") // from the cgroup root, as the spec says
        #expect(try path("relative/./x") == "relative/x")
        #expect(throws: RuntimeError.self) { _ = try path("/a/../../escape") }
        #expect(throws: RuntimeError.self) { _ = try path("system.slice:docker:abc") }
    }

    @Test func anIdIsClaimedOnceAndItsStateReadBack() throws {
        let root = TemporaryDirectory(prefix: "swiftainer-core")
        let runtime = ContainerRuntime(stateRoot: root.path + "/state")
        try runtime.claim(id: "c")
        #expect(Files.isDirectory(runtime.directory("c")))
        #expect(throws: RuntimeError.self) { _ = try runtime.load("c") } // claimed, nothing recorded yet
        #expect(throws: RuntimeError.self) { try runtime.claim(id: "c") } // the directory is the claim
        try runtime.claim(id: "c", keepingDirectory: true) // the engine's: a directory without state
        try runtime.save(state(process: me, supervisor: nil))
        #expect(try runtime.load("c").process == me)
        #expect(runtime.status(of: try runtime.load("c")) != .stopped)
        // An id with state is refused, even to a caller that keeps directories.
        #expect(throws: RuntimeError.self) { try runtime.claim(id: "c", keepingDirectory: true) }
        for bad in ["", ".", "..", "a/b"] {
            #expect(throws: RuntimeError.self) { try runtime.claim(id: bad) }
        }
        runtime.release("c", removingState: false)
        #expect(runtime.existing("c") == nil && Files.isDirectory(runtime.directory("c")))
        runtime.release("c", removingState: true)
        #expect(!Files.exists(runtime.directory("c")))
    }

    @Test func aStoppedContainerCannotBeSignalledPausedOrExecedInto() throws {
        let root = TemporaryDirectory(prefix: "swiftainer-core")
        let runtime = ContainerRuntime(stateRoot: root.path)
        try runtime.claim(id: "c")
        try runtime.save(state(process: gone, supervisor: nil))
        #expect(runtime.status(of: try runtime.load("c")) == .stopped)
        #expect(try runtime.state(id: "c").pid == 0)
        #expect(try runtime.processes(id: "c").isEmpty)
        #expect(throws: RuntimeError.self) { try runtime.signal(id: "c", SIGTERM) }
        #expect(throws: RuntimeError.self) { try runtime.pause(id: "c") }
        #expect(throws: RuntimeError.self) { _ = try runtime.exec(id: "c", ExecRequest(process: Process(terminal: false, args: ["true"], env: [], cwd: "/", noNewPrivileges: true))) }
    }
}
