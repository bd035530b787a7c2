#if canImport(Glibc)
import Glibc
#endif
import JSONKit
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
    public static func run(_ hooks: [Hook]?, phase: String, state: State, firstIndex: Int = 0) throws {
        guard let hooks, !hooks.isEmpty else { return }
        let input = try JSON.encode(state)
        for (offset, hook) in hooks.enumerated() {
            let index = firstIndex + offset
            DebugLog.log("hook \(phase)[\(index)]: \(hook.path)")
            let result: ExternalCommand.Output
            do {
                result = try ExternalCommand.run(hook.path, argv: hook.args ?? [hook.path], environment: hook.env ?? [],
                                                 input: Array(input), captureOutput: false, timeout: hook.timeout.map(Double.init))
            } catch {
                throw RuntimeError("hook \(hook.path)", error)
            }
            guard result.status == 0 && !result.timedOut else {
                let why = result.timedOut ? "timed out after \(hook.timeout ?? 0) s" : "exited with status \(result.status)"
                throw RuntimeError("\(phase) hook \(index) (\(hook.path)) \(why)")
            }
        }
    }

    /// For poststart and poststop: a failure is a warning, and the hooks after it still run.
    public static func runReportingFailures(_ hooks: [Hook]?, phase: String, state: State) {
        for (index, hook) in (hooks ?? []).enumerated() {
            do { try run([hook], phase: phase, state: state, firstIndex: index) } catch {
                fputs("swiftainer: warning: \(error)\n", stderr)
            }
        }
    }
}
