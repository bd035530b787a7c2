#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import OCI

/// Applies process.capabilities and process.user in runc's order: shrink the bounding set
/// (needs CAP_SETPCAP, so first), keep capabilities across setuid, change identity, then set
/// effective/permitted/inheritable, then ambient.
enum CapabilitySetup {
    static func apply(_ capabilities: Capabilities?, user: User) throws {
        let lastCap = Int(sw_cap_last())
        if let capabilities {
            let bounding = try mask(capabilities.bounding, "bounding")
            for cap in 0...lastCap where bounding & (1 << UInt64(cap)) == 0 {
                guard sw_cap_bounding_drop(Int32(cap)) == 0 || errno == EINVAL else {
                    throw SystemError.last("prctl(PR_CAPBSET_DROP)", CapabilityNames.all[safe: cap] ?? "\(cap)")
                }
            }
        }
        let changesUser = user.uid != 0
        if changesUser { try check(sw_set_keep_caps(1), "prctl(PR_SET_KEEPCAPS)") }
        try setIdentity(user)
        if changesUser { try check(sw_set_keep_caps(0), "prctl(PR_SET_KEEPCAPS)") }
        guard let capabilities else { return }
        let usable: UInt64 = lastCap >= 63 ? .max : (1 << UInt64(lastCap + 1)) - 1
        // The kernel raises an ambient capability only when it is also permitted and
        // inheritable; specs (crun's default among them) often list it as ambient only.
        let ambient = try mask(capabilities.ambient, "ambient")
        let permitted = try mask(capabilities.permitted, "permitted")
        try check(sw_capset(try mask(capabilities.effective, "effective") & usable,
                            permitted & usable,
                            (try mask(capabilities.inheritable, "inheritable") | (ambient & permitted)) & usable), "capset")
        _ = sw_cap_ambient_clear()
        for name in capabilities.ambient ?? [] {
            guard let number = CapabilityNames.number(name) else { throw RuntimeError("process.capabilities.ambient: unknown capability '\(name)'") }
            // Not permitted means not granted: skipped, as runc and crun do.
            if permitted & (1 << UInt64(number)) == 0 { continue }
            try check(sw_cap_ambient_raise(Int32(number)), "prctl(PR_CAP_AMBIENT_RAISE)", name)
        }
    }

    private static func mask(_ names: [String]?, _ set: String) throws -> UInt64 {
        do { return try CapabilityNames.mask(names ?? []) } catch {
            throw RuntimeError("process.capabilities.\(set): \(error)")
        }
    }

    private static func setIdentity(_ user: User) throws {
        let groups = (user.additionalGids ?? []).map { gid_t($0) }
        try check(setgroups(groups.count, groups), "setgroups")
        try check(setgid(user.gid), "setgid", "\(user.gid)")
        try check(setuid(user.uid), "setuid", "\(user.uid)")
        if let mask = user.umask { umask(mode_t(mask)) }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
