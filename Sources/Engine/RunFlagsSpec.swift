import OCI

/// The `run` flags that only set fields of the spec (the process, its namespaces, its devices
/// and mounts), applied after SpecBuilder's defaults. Flags naming another container (`--ipc
/// container:NAME`, …) reach this already resolved to that container's init pid.
extension SpecBuilder {
    static func applyFlags(_ options: RunOptions, to spec: inout Spec, containerID: String, sharedNamespaces: [String: Int32]) {
        for (key, value) in options.annotations { spec.annotations?[key] = value }
        if let domainname = options.domainname { spec.domainname = domainname }
        if let oomScoreAdj = options.oomScoreAdj { spec.process?.oomScoreAdj = oomScoreAdj }
        if !options.ulimits.isEmpty {
            // A --ulimit replaces the default of the same type.
            let types = Set(options.ulimits.map(\.type))
            let kept = (spec.process?.rlimits ?? []).filter { !types.contains($0.type) }
            spec.process?.rlimits = kept + options.ulimits
        }
        if !options.sysctls.isEmpty {
            var sysctl = spec.linux?.sysctl ?? [:]
            for (key, value) in options.sysctls { sysctl[key] = value }
            spec.linux?.sysctl = sysctl
        }
        // --ipc/--pid/--uts host: the host's namespace (none of its own); container:NAME: that
        // container's, by its init's /proc entry (Engine resolved the name).
        for (type, mode) in [("ipc", options.ipc), ("pid", options.pid), ("uts", options.uts)] {
            guard let mode else { continue }
            switch mode {
            case .host: spec.linux?.namespaces?.removeAll { $0.type == type }
            case .container:
                guard let pid = sharedNamespaces[type] else { continue }
                let others = (spec.linux?.namespaces ?? []).filter { $0.type != type }
                spec.linux?.namespaces = others + [Namespace(type: type, path: "/proc/\(pid)/ns/\(type)")]
            case .private, .shareable: break
            }
        }
        if let pid = sharedNamespaces["network"] {
            let others = (spec.linux?.namespaces ?? []).filter { $0.type != "network" }
            spec.linux?.namespaces = others + [Namespace(type: "network", path: "/proc/\(pid)/ns/net")]
        }
        // Without a UTS namespace of its own the container cannot have a hostname of its own.
        if !(spec.linux?.namespaces ?? []).contains(where: { $0.type == "uts" && $0.path == nil }) {
            spec.hostname = nil
            spec.domainname = nil
        }
        if let parent = options.cgroupParent {
            spec.linux?.cgroupsPath = (parent.hasSuffix("/") ? String(parent.dropLast()) : parent) + "/" + containerID
        }
        if !options.devices.isEmpty || !options.deviceCgroupRules.isEmpty {
            let devices = spec.linux?.devices ?? []
            spec.linux?.devices = devices + options.devices.map(\.device)
            var resources = spec.linux?.resources ?? Resources()
            resources.devices = (resources.devices ?? []) + options.devices.map {
                DeviceRule(allow: true, type: $0.device.type, major: $0.device.major, minor: $0.device.minor, access: $0.access)
            } + options.deviceCgroupRules
            spec.linux?.resources = resources
        }
        if let shmSize = options.shmSize {
            spec.mounts = spec.mounts?.map { mount in
                guard mount.destination == "/dev/shm" else { return mount }
                var mount = mount
                mount.options = (mount.options ?? []).filter { !$0.hasPrefix("size=") } + ["size=\(shmSize / 1024)k"]
                return mount
            }
        }
    }
}
