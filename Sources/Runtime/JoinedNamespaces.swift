#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import OCI

/// Namespaces that `linux.namespaces` names by `path` (OCI), which is also how `exec` enters a
/// running container: /proc/<init pid>/ns/<type>.
///
/// The pid namespace is special: setns(2) on one changes only where this process's *children*
/// go, so the parent enters it just around the clone and then returns to its own. Every other
/// namespace is joined by the init itself, first thing, while it is still single-threaded
/// (a multithreaded process cannot join a mount namespace).
public enum JoinedNamespaces {
    /// The /proc/PID/ns entry for an OCI namespace type; nil for types that cannot be joined.
    public static func procName(_ type: String) -> String? {
        ["pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "cgroup": "cgroup", "user": "user"][type]
    }

    static func cloneFlag(_ type: String) -> Int32 {
        switch type {
        case "pid": return Int32(SW_CLONE_NEWPID)
        case "network": return Int32(SW_CLONE_NEWNET)
        case "mount": return Int32(SW_CLONE_NEWNS)
        case "ipc": return Int32(SW_CLONE_NEWIPC)
        case "uts": return Int32(SW_CLONE_NEWUTS)
        case "user": return Int32(SW_CLONE_NEWUSER)
        default: return Int32(SW_CLONE_NEWCGROUP)
        }
    }

    /// This process's pid namespace, to come back to after the clone.
    struct PidNamespaceReturn {
        let original: FileDescriptor
        func restore() {
            _ = sw_setns(original.raw, Int32(SW_CLONE_NEWPID))
            original.close()
        }
    }

    /// The pid namespace the spec names by path, opened; nil when it names none.
    static func openPidNamespace(of spec: Spec) throws -> FileDescriptor? {
        guard let path = spec.linux?.namespaces?.first(where: { $0.type == "pid" })?.path else { return nil }
        do { return try FileDescriptor.open(path, O_RDONLY) } catch {
            throw RuntimeError("linux.namespaces: pid namespace \(path)", error)
        }
    }

    static func enterPidNamespaceForChildren(of spec: Spec) throws -> PidNamespaceReturn? {
        guard let target = try openPidNamespace(of: spec) else { return nil }
        defer { target.close() }
        let path = spec.linux?.namespaces?.first(where: { $0.type == "pid" })?.path ?? ""
        let original = try FileDescriptor.open("/proc/self/ns/pid", O_RDONLY)
        guard sw_setns(target.raw, Int32(SW_CLONE_NEWPID)) == 0 else {
            let error = SystemError.last("setns", path)
            original.close()
            throw RuntimeError("linux.namespaces: cannot join pid namespace", error)
        }
        return PidNamespaceReturn(original: original)
    }

    /// In the init: joins every namespace but pid and user that the spec names by path (the
    /// user namespace was joined by the spawn, before the others were made, so that it owns
    /// them). All are opened before any is joined, because joining the mount namespace changes
    /// what paths mean; the mount namespace goes last for the same reason.
    static func joinInInit(_ spec: Spec, log: (String) -> Void) throws -> Set<String> {
        let named = (spec.linux?.namespaces ?? []).filter { $0.path != nil && $0.type != "pid" && $0.type != "user" }
        let ordered = named.filter { $0.type != "mount" } + named.filter { $0.type == "mount" }
        var opened: [(type: String, path: String, fd: FileDescriptor)] = []
        defer { opened.forEach { $0.fd.close() } }
        for namespace in ordered {
            let path = namespace.path!
            do { opened.append((namespace.type, path, try FileDescriptor.open(path, O_RDONLY))) } catch {
                throw RuntimeError("linux.namespaces: \(namespace.type) namespace \(path)", error)
            }
        }
        for entry in opened {
            log("setns \(entry.type) \(entry.path)")
            guard sw_setns(entry.fd.raw, cloneFlag(entry.type)) == 0 else {
                throw RuntimeError("linux.namespaces: cannot join \(entry.type) namespace", SystemError.last("setns", entry.path))
            }
        }
        return Set(opened.map(\.type))
    }
}
