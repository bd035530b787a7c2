#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import LinuxKit
import OCI

/// OCI lifecycle hooks: each hook's program runs with its args and env, the container's state
/// JSON on stdin, within its timeout. Where they run (see the README):
///   prestart, createRuntime  the runtime, once the init reports its namespaces and root ready
///   createContainer          the init, in the container's namespaces, after its root is set up
///   startContainer           the init, after "start", just before the process is executed
///   poststart                the runtime, after the process started
///   poststop                 the runtime, when the container is deleted (or `run` returns)
/// A failing prestart/createRuntime/createContainer/startContainer hook fails the container;
/// a failing poststart or poststop hook is reported and otherwise ignored, as the spec says.
public enum HookRunner {
    public static func run(_ hooks: [Hook]?, phase: String, state: State) throws {
        guard let hooks, !hooks.isEmpty else { return }
        let input = try JSONEncoder().encode(state)
        for (index, hook) in hooks.enumerated() {
            DebugLog.log("hook \(phase)[\(index)]: \(hook.path)")
            let status = try execute(hook, input: Array(input))
            guard status == 0 else {
                let why = status < 0 ? "timed out after \(hook.timeout ?? 0) s" : "exited with status \(status)"
                throw RuntimeError("\(phase) hook \(index) (\(hook.path)) \(why)")
            }
        }
    }

    /// For poststart and poststop: failures are warnings.
    public static func runReportingFailures(_ hooks: [Hook]?, phase: String, state: State) {
        do { try run(hooks, phase: phase, state: state) } catch {
            fputs("swiftainer: warning: \(error)\n", stderr)
        }
    }

    /// The hook's exit status (128+signal when killed), or -1 when it timed out and was killed.
    static func execute(_ hook: Hook, input: [UInt8]) throws -> Int32 {
        let (readEnd, writeEnd) = try FileDescriptor.pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, readEnd.raw, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = (hook.args ?? [hook.path]).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = (hook.env ?? []).map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, hook.path, &actions, nil, argv, envp)
        readEnd.close()
        guard rc == 0 else {
            writeEnd.close()
            throw RuntimeError("hook \(hook.path): \(SystemError(errno: rc, call: "posix_spawn", detail: hook.path).message)")
        }
        // The state is a few hundred bytes: it fits the pipe, so this never waits on the hook.
        withBrokenPipesIgnored { try? writeEnd.writeAll(input, what: "hook stdin") }
        writeEnd.close()
        let deadline = hook.timeout.map { Clock.monotonicSeconds() + Double($0) }
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return ExitStatus(waitStatus: status).code }
            if reaped < 0 && errno != EINTR { throw SystemError.last("waitpid", hook.path) }
            if let deadline, Clock.monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return -1
            }
            usleep(2_000)
        }
    }
}
