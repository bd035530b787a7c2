import LinuxKit
import OCI

/// What the runtime spec requires of a bundle's process and devices, checked before anything
/// is created — so that a bad config is a 125 at create, not a truncated argument or a failed
/// chdir in the init (126) or an arithmetic trap.
public enum SpecValidation {
    public static func check(_ spec: Spec) throws {
        if let process = spec.process { try check(process) }
        // As runc: a name for the host needs a UTS namespace of the container's (new or joined),
        // or it would rename the host.
        let hasUTS = spec.linux?.namespaces?.contains { $0.type == "uts" } ?? false
        for (field, value) in [("hostname", spec.hostname), ("domainname", spec.domainname)] where value != nil && !hasUTS {
            throw RuntimeError("config.json: \(field) needs a UTS namespace (linux.namespaces has no \"uts\")")
        }
        for device in spec.linux?.devices ?? [] {
            for (field, number) in [("major", device.major), ("minor", device.minor)] {
                // The kernel's dev_t halves are 32-bit (makedev takes UInt32).
                if let number, !(0...Int64(UInt32.max)).contains(number) {
                    throw RuntimeError("config.json: linux.devices \(Printable.escaped(device.path)): \(field) \(number) is out of range (0 to \(UInt32.max))")
                }
            }
        }
    }

    public static func check(_ process: Process) throws {
        // A C string ends at the first NUL: "tr\0ue" would run `tr`.
        for (index, argument) in (process.args ?? []).enumerated() where argument.utf8.contains(0) {
            throw RuntimeError("config.json: process.args[\(index)] \"\(Printable.escaped(argument))\" contains a NUL byte")
        }
        for (index, entry) in (process.env ?? []).enumerated() where entry.utf8.contains(0) {
            throw RuntimeError("config.json: process.env[\(index)] \"\(Printable.escaped(entry))\" contains a NUL byte")
        }
        guard process.cwd.hasPrefix("/") else {
            throw RuntimeError("config.json: process.cwd \"\(Printable.escaped(process.cwd))\" must be an absolute path")
        }
        guard !process.cwd.utf8.contains(0) else { throw RuntimeError("config.json: process.cwd contains a NUL byte") }
    }
}
