/// What a container's /sys/fs/cgroup shows: its own cgroup, never the host's tree. Built by the
/// runtime from the group it prepared, carried to the container's init, which mounts it.
public struct CgroupView: Codable, Equatable, Sendable {
    /// One v1 hierarchy: its name under /sys/fs/cgroup ("memory", "cpu,cpuacct") and the
    /// container's directory in it on the host.
    public struct Hierarchy: Codable, Equatable, Sendable {
        public var name: String
        public var directory: String

        public init(name: String, directory: String) {
            self.name = name
            self.directory = directory
        }

        /// The controllers a comma-joined name stands for, each shown as a symlink to it
        /// ("cpu" -> "cpu,cpuacct"), as a v1 host lays them out.
        public var aliases: [String] {
            let parts = name.split(separator: ",").map(String.init)
            return parts.count > 1 ? parts : []
        }
    }

    /// cgroup v2: the container's directory in the unified hierarchy.
    public var unified: String?
    /// cgroup v1 (also hybrid hosts): the hierarchies the container was placed in.
    public var hierarchies: [Hierarchy]

    public init(unified: String?, hierarchies: [Hierarchy]) {
        self.unified = unified
        self.hierarchies = hierarchies
    }
}
