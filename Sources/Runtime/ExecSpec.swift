import OCI

/// The spec for a process that joins a running container (`exec`): the container's own spec
/// with `process` replaced, and every namespace the container created named by its
/// /proc/<init pid>/ns path, so the init joins them instead of creating new ones. Its
/// capabilities, seccomp profile and no_new_privs come with the container's spec unless the
/// caller's process says otherwise; mounts, hostname and limits already exist and are left.
public enum ExecSpec {
    public static func make(container: Spec, initPid: Int32, process: Process) -> Spec {
        var spec = container
        spec.process = process
        spec.mounts = []
        spec.hooks = nil
        // Joining, the init never creates a working directory or mounts a root.
        spec.annotations = nil
        var linux = spec.linux ?? Linux()
        linux.namespaces = (linux.namespaces ?? []).map { namespace in
            guard namespace.path == nil, let name = JoinedNamespaces.procName(namespace.type) else { return namespace }
            var joined = namespace
            joined.path = "/proc/\(initPid)/ns/\(name)"
            return joined
        }
        linux.resources = nil
        linux.sysctl = nil
        linux.uidMappings = nil
        linux.gidMappings = nil
        spec.linux = linux
        return spec
    }
}
