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
    /// What `apply` will do, computed without touching the process (unit-tested as non-root).
    struct Plan: Equatable {
        /// Capability numbers to drop from the bounding set.
        var boundingDrops: [Int]
        var effective: UInt64
        var permitted: UInt64
        var inheritable: UInt64
        /// Raised in order; only those that are also permitted.
        var ambient: [Int]
    }

    /// nil capabilities: the sets are left as they are (only the identity changes).
    static func plan(_ capabilities: Capabilities?, lastCap: Int) throws -> Plan? {
        guard let capabilities else { return nil }
        let bounding = try mask(capabilities.bounding, "bounding")
        let usable: UInt64 = lastCap >= 63 ? .max : (1 << UInt64(lastCap + 1)) - 1
        // The kernel raises an ambient capability only when it is also permitted and
        // inheritable; specs (crun's default among them) often list it as ambient only.
        let ambient = try mask(capabilities.ambient, "ambient")
        let permitted = try mask(capabilities.permitted, "permitted")
        var raised: [Int] = []
        for name in capabilities.ambient ?? [] {
            guard let number = CapabilityNames.number(name) else { throw RuntimeError("process.capabilities.ambient: unknown capability '\(name)'") }
            // Not permitted means not granted: skipped, as runc and crun do.
            if permitted & (1 << UInt64(number)) != 0 { raised.append(number) }
        }
        return Plan(boundingDrops: (0...lastCap).filter { bounding & (1 << UInt64($0)) == 0 },
                    effective: try mask(capabilities.effective, "effective") & usable,
                    permitted: permitted & usable,
                    inheritable: (try mask(capabilities.inheritable, "inheritable") | (ambient & permitted)) & usable,
                    ambient: raised)
    }

    static func apply(_ capabilities: Capabilities?, user: User) throws {
        let plan = try plan(capabilities, lastCap: Int(sw_cap_last()))
        for cap in plan?.boundingDrops ?? [] {
            guard sw_cap_bounding_drop(Int32(cap)) == 0 || errno == EINVAL else {
                throw SystemError.last("prctl(PR_CAPBSET_DROP)", CapabilityNames.all[safe: cap] ?? "\(cap)")
            }
        }
        let changesUser = user.uid != 0
        if changesUser { try check(sw_set_keep_caps(1), "prctl(PR_SET_KEEPCAPS)") }
        try setIdentity(user)
        if changesUser { try check(sw_set_keep_caps(0), "prctl(PR_SET_KEEPCAPS)") }
        guard let plan else { return }
        try check(sw_capset(plan.effective, plan.permitted, plan.inheritable), "capset")
        _ = sw_cap_ambient_clear()
        for number in plan.ambient {
            try check(sw_cap_ambient_raise(Int32(number)), "prctl(PR_CAP_AMBIENT_RAISE)", CapabilityNames.all[safe: number] ?? "\(number)")
        }
    }

    private static func mask(_ names: [String]?, _ set: String) throws -> UInt64 {
        do { return try CapabilityNames.mask(names ?? []) } catch {
            throw RuntimeError("process.capabilities.\(set): \(error)")
        }
    }

    private static func setIdentity(_ user: User) throws {
        let groups = (user.additionalGids ?? []).map { gid_t($0) }
        // A user namespace made without privilege over gids (a single-id map: /proc/self/setgroups
        // says "deny") cannot set groups at all; the process keeps the ones it has, as with
        // runc and crun rootless.
        if setgroups(groups.count, groups) != 0 {
            guard errno == EPERM, (try? Files.readString("/proc/self/setgroups"))?.trimmingWhitespace == "deny" else {
                throw SystemError.last("setgroups")
            }
        }
        try check(setgid(user.gid), "setgid", "\(user.gid)")
        try check(setuid(user.uid), "setuid", "\(user.uid)")
        if let mask = user.umask { umask(mode_t(mask)) }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
