import LinuxKit
import OCI

/// Docker's `--mount` syntax: comma-separated KEY=VALUE fields ("type=bind,source=/a,target=/b,
/// readonly"), read as Docker reads them, to an OCI mount.
public enum MountFlag {
    public static func parse(_ text: String) throws -> Mount {
        func fail(_ why: String) -> EngineError {
            EngineError.invalidOption("invalid argument \"\(Printable.escaped(text))\" for \"--mount\" flag: \(why)")
        }
        var fields: [String: String] = [:]
        for field in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts[0].lowercased()
            guard !key.isEmpty else { throw fail("empty field") }
            // A key alone is a true switch ("readonly").
            let value = parts.count == 2 ? parts[1] : "true"
            let canonical = ["src": "source", "dst": "target", "destination": "target", "ro": "readonly"][key] ?? key
            guard fields[canonical] == nil else { throw fail("\(key) given twice") }
            fields[canonical] = value
        }
        let type = fields.removeValue(forKey: "type") ?? "volume"
        guard let target = fields.removeValue(forKey: "target"), !target.isEmpty else { throw fail("target is required") }
        guard target.hasPrefix("/"), target != "/" else { throw fail("the target must be an absolute path, not /") }
        func boolean(_ key: String) throws -> Bool {
            guard let value = fields.removeValue(forKey: key) else { return false }
            switch value.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw fail("invalid value for \(key): \(value)")
            }
        }
        let readOnly = try boolean("readonly")
        switch type {
        case "bind":
            guard let source = fields.removeValue(forKey: "source"), !source.isEmpty else { throw fail("source is required when type is bind") }
            guard source.hasPrefix("/") else { throw fail("the source of a bind mount must be an absolute host path") }
            guard Files.exists(source) else { throw fail("bind source path does not exist: \(source)") }
            let propagation = fields.removeValue(forKey: "bind-propagation") ?? "rprivate"
            guard ["private", "rprivate", "shared", "rshared", "slave", "rslave"].contains(propagation) else {
                throw fail("invalid bind-propagation: \(propagation)")
            }
            let nonRecursive = try boolean("bind-nonrecursive")
            try refuseLeftovers(fields, fail)
            return Mount(destination: target, type: "bind", source: source,
                         options: [nonRecursive ? "bind" : "rbind", readOnly ? "ro" : "rw", propagation])
        case "tmpfs":
            if fields.removeValue(forKey: "source") != nil { throw fail("source is not allowed for tmpfs mounts") }
            var options = ["nosuid", "nodev", "noexec"]
            if let size = fields.removeValue(forKey: "tmpfs-size") {
                options.append("size=\(try FlagValues.bytes(size, flag: "--mount tmpfs-size"))")
            }
            if let mode = fields.removeValue(forKey: "tmpfs-mode") {
                guard let bits = UInt32(mode, radix: 8), bits <= 0o7777 else { throw fail("invalid tmpfs-mode: \(mode)") }
                options.append("mode=" + String(bits, radix: 8))
            }
            if readOnly { options.append("ro") }
            try refuseLeftovers(fields, fail)
            return Mount(destination: target, type: "tmpfs", source: "tmpfs", options: options)
        case "volume":
            // No source: an anonymous volume.
            let name = fields.removeValue(forKey: "source") ?? ""
            guard name.isEmpty || VolumeStore.isValidName(name) else { throw fail("\(VolumeError.invalidName(name))") }
            let nocopy = try boolean("volume-nocopy")
            if let driver = fields.removeValue(forKey: "volume-driver"), driver != "local" { throw fail("unknown volume driver '\(driver)' (local)") }
            try refuseLeftovers(fields, fail)
            return VolumeMounts.request(name: name, destination: target, readOnly: readOnly, nocopy: nocopy)
        default:
            throw fail("unknown mount type '\(type)' (bind, tmpfs, volume)")
        }
    }

    private static func refuseLeftovers(_ fields: [String: String], _ fail: (String) -> EngineError) throws {
        if let key = fields.keys.sorted().first { throw fail("unexpected key '\(key)' in '\(key)=\(fields[key]!)'") }
    }
}
