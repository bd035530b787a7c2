#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// `--restart no|on-failure[:N]|always|unless-stopped`, Docker's policies. With no daemon,
/// the container's supervisor (its monitor) applies them: when the process ends it execs a
/// new monitor that waits out the backoff and starts the container again.
public struct RestartPolicy: Codable, Equatable, Sendable {
    public enum Name: String, Codable, Sendable {
        case no, onFailure = "on-failure", always, unlessStopped = "unless-stopped"
    }
    public var name: Name
    /// on-failure's N: restarts at most (0: no limit).
    public var maximumRetryCount: Int

    public static let no = RestartPolicy(name: .no, maximumRetryCount: 0)

    /// Docker's backoff: 100 ms, doubled for each restart, at most a minute; back to 100 ms
    /// once the container stayed up 10 s.
    public static let firstDelayMilliseconds = 100
    public static let maximumDelayMilliseconds = 60_000
    public static let resetAfterSeconds = 10.0

    public static func parse(_ text: String) throws -> RestartPolicy {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let name = Name(rawValue: parts[0].isEmpty ? "no" : parts[0]) else {
            throw EngineError.invalidOption("invalid restart policy: \(Printable.escaped(text)) (no, on-failure[:max-retries], always, unless-stopped)")
        }
        var policy = RestartPolicy(name: name, maximumRetryCount: 0)
        if parts.count == 2 {
            guard name == .onFailure else {
                throw EngineError.invalidOption("invalid restart policy: \(Printable.escaped(text)): maximum retry count can only be used with 'on-failure'")
            }
            guard let count = Int(parts[1]), count >= 0 else {
                throw EngineError.invalidOption("invalid restart policy: \(Printable.escaped(text)): maximum retry count must be a number of at least 0")
            }
            policy.maximumRetryCount = count
        }
        return policy
    }

    /// Whether a container that ended with `exitCode` after `restarts` policy restarts is
    /// started again; a stop by the user (`stop`, `kill`) ends every policy.
    public func restarts(exitCode: Int32, restarts: Int, stoppedByUser: Bool) -> Bool {
        guard !stoppedByUser else { return false }
        switch name {
        case .no: return false
        case .always, .unlessStopped: return true
        case .onFailure: return exitCode != 0 && (maximumRetryCount == 0 || restarts < maximumRetryCount)
        }
    }

    /// The wait before the next start: the previous one doubled, or the first again when the
    /// run lasted `resetAfterSeconds`.
    public static func nextDelay(previousMilliseconds: Int?, ranSeconds: Double) -> Int {
        guard let previous = previousMilliseconds, ranSeconds < resetAfterSeconds else { return firstDelayMilliseconds }
        return min(previous * 2, maximumDelayMilliseconds)
    }
}
