/// The state a runtime reports for `state ID` (runtime-spec runtime.md).
public struct State: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// `paused` is runc's addition (its cgroup frozen), which containerd understands.
        case creating, created, running, paused, stopped
    }
    public var ociVersion: String
    public var id: String
    public var status: Status
    public var pid: Int32?
    public var bundle: String
    public var annotations: [String: String]?

    public init(id: String, status: Status, pid: Int32?, bundle: String, annotations: [String: String]?) {
        ociVersion = Spec.version
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.annotations = annotations
    }
}

/// What a seccomp listener receives (runtime-spec "containerProcessState"), with the notify fd
/// attached: `fds` names the fds in the order they come.
public struct ContainerProcessState: Codable, Equatable, Sendable {
    public var ociVersion: String
    public var fds: [String]
    public var pid: Int32
    public var metadata: String
    public var state: State

    public init(pid: Int32, metadata: String?, state: State) {
        ociVersion = Spec.version
        fds = ["seccompFd"]
        self.pid = pid
        self.metadata = metadata ?? ""
        self.state = state
    }
}
