import Containers
import LinuxKit
import OCI

/// Flags that take something from another container: `--link` (its address, as a hosts entry)
/// and `--volumes-from` (its bind mounts and volumes).
extension Engine {
    /// --link NAME[:ALIAS]: Docker's legacy links as it writes them today, a hosts line
    /// "ADDRESS ALIAS ID NAME" for a running container on the bridge.
    func linkHosts(_ options: RunOptions) throws -> [String] {
        try options.links.map { link in
            let other = try containers.find(link.container)
            guard other.isRunning, let address = other.network?.address else {
                throw EngineError.invalidOption("--link \(link.container): cannot link to a container that is not running on the bridge network")
            }
            var names = [link.alias]
            for name in [other.shortID, other.name] where !names.contains(name) { names.append(name) }
            return "\(address) " + names.joined(separator: " ")
        }
    }

    /// --volumes-from CONTAINER[:ro|rw]: that container's bind mounts (volumes included), each
    /// read-only or not as the flag says or as it was there. Mounts of the container's own
    /// (the default ones, its /etc name files) are not the user's and are not taken.
    func volumesFromMounts(_ options: RunOptions) throws -> [Mount] {
        var mounts: [Mount] = []
        for (name, readOnly) in options.volumesFrom {
            let other = try containers.find(name)
            let spec: Spec
            do { spec = try ContainerRuntime.readSpec(bundle: paths.container(other.id)) } catch {
                throw EngineError.invalidOption("--volumes-from \(name): \(error)")
            }
            for mount in userMounts(of: spec) where mount.type == "bind" || mount.type == "none" {
                var copy = mount
                if let readOnly {
                    copy.options = (mount.options ?? []).filter { $0 != "ro" && $0 != "rw" } + [readOnly ? "ro" : "rw"]
                }
                mounts.removeAll { $0.destination == copy.destination }
                mounts.append(copy)
            }
        }
        return mounts
    }

    /// The mounts the user asked for (-v, --mount, --tmpfs, --volumes-from): the spec's mounts
    /// without the defaults and without binds of containers' own files (its /etc/hosts, or
    /// those of the container whose network it shares).
    func userMounts(of spec: Spec) -> [Mount] {
        // The runtime's own mounts: /proc, /dev…, and the container's cgroup at /sys/fs/cgroup.
        let defaults = Set(Spec.defaultMounts.map(\.destination) + [Spec.cgroupMount(readOnly: true).destination])
        let store = paths.containers + "/"
        return (spec.mounts ?? []).filter { mount in
            !defaults.contains(mount.destination) && !(mount.source ?? "").hasPrefix(store)
        }
    }
}
