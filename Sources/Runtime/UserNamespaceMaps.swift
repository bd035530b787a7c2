#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI

/// linux.uidMappings / gidMappings, written by the parent to /proc/PID/{uid,gid}_map of a child
/// in a new user namespace before it execs (each file takes one write of every line).
struct UserNamespaceMaps {
    let uid: String
    let gid: String

    init(_ spec: Spec) throws {
        func lines(_ mappings: [IDMapping]?, _ field: String) throws -> String {
            guard let mappings, !mappings.isEmpty else {
                throw RuntimeError("config.json: a new user namespace needs linux.\(field) (container ids mapped to host ids)")
            }
            guard mappings.count <= 340 else { throw RuntimeError("config.json: linux.\(field) has more than 340 lines") }
            return mappings.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
        }
        uid = try lines(spec.linux?.uidMappings, "uidMappings")
        gid = try lines(spec.linux?.gidMappings, "gidMappings")
    }

    func write(to pid: pid_t) throws {
        for (file, text) in [("uid_map", uid), ("gid_map", gid)] {
            let path = "/proc/\(pid)/\(file)"
            do {
                let fd = try FileDescriptor.open(path, O_WRONLY)
                defer { fd.close() }
                try fd.writeAll(text, what: path)
            } catch {
                throw RuntimeError("user namespace: writing \(path) (\(text.split(separator: "\n").joined(separator: ", ")))", error)
            }
        }
    }
}
