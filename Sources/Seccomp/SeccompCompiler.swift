#if canImport(Glibc)
import Glibc
#endif
import CSeccomp
import LinuxKit
import OCI

public enum SeccompActions {
    static let names = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
                        "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"]

    static func isKnown(_ name: String) -> Bool { names.contains(name) }

    /// libseccomp's action value; ERRNO and TRACE carry `errnoRet` (EPERM when absent).
    static func value(_ name: String, errnoRet: UInt32?) -> UInt32? {
        switch name {
        case "SCMP_ACT_ALLOW": return SCMP_ACT_ALLOW
        case "SCMP_ACT_ERRNO": return sw_scmp_act_errno(UInt16(truncatingIfNeeded: errnoRet ?? UInt32(EPERM)))
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return SCMP_ACT_KILL_THREAD
        case "SCMP_ACT_KILL_PROCESS": return SCMP_ACT_KILL_PROCESS
        case "SCMP_ACT_TRAP": return SCMP_ACT_TRAP
        case "SCMP_ACT_LOG": return SCMP_ACT_LOG
        case "SCMP_ACT_TRACE": return sw_scmp_act_trace(UInt16(truncatingIfNeeded: errnoRet ?? UInt32(EPERM)))
        case "SCMP_ACT_NOTIFY": return SCMP_ACT_NOTIFY
        default: return nil
        }
    }
}

public enum SeccompOperators {
    static func value(of op: String) -> scmp_compare? {
        switch op {
        case "SCMP_CMP_NE": return SCMP_CMP_NE
        case "SCMP_CMP_LT": return SCMP_CMP_LT
        case "SCMP_CMP_LE": return SCMP_CMP_LE
        case "SCMP_CMP_EQ": return SCMP_CMP_EQ
        case "SCMP_CMP_GE": return SCMP_CMP_GE
        case "SCMP_CMP_GT": return SCMP_CMP_GT
        case "SCMP_CMP_MASKED_EQ": return SCMP_CMP_MASKED_EQ
        default: return nil
        }
    }
}

public enum SeccompArch {
    /// Docker's name for the architecture this binary runs on.
    public static var native: String {
        #if arch(x86_64)
        return "SCMP_ARCH_X86_64"
        #elseif arch(arm64)
        return "SCMP_ARCH_AARCH64"
        #else
        return "SCMP_ARCH_NATIVE"
        #endif
    }

    /// Profiles name arches as SCMP_ARCH_X86_64 (profile level) or x86_64/amd64 (in includes).
    static func matches(_ name: String, _ native: String) -> Bool {
        let aliases = ["amd64": "SCMP_ARCH_X86_64", "x86_64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64",
                       "aarch64": "SCMP_ARCH_AARCH64", "x86": "SCMP_ARCH_X86", "386": "SCMP_ARCH_X86", "x32": "SCMP_ARCH_X32"]
        return (aliases[name] ?? name) == native
    }

    /// libseccomp's token: "SCMP_ARCH_X86_64" -> seccomp_arch_resolve_name("x86_64").
    static func token(_ name: String) -> UInt32? {
        let short = name.hasPrefix("SCMP_ARCH_") ? String(name.dropFirst("SCMP_ARCH_".count)).lowercased() : name.lowercased()
        let token = seccomp_arch_resolve_name(short)
        return token == 0 ? nil : token
    }
}

/// Compiles OCI `linux.seccomp` to a classic BPF program with libseccomp. Runs in the parent,
/// before the clone; the init only loads the bytes (no libseccomp in the child).
public enum SeccompCompiler {
    /// The BPF program (8 bytes an instruction). `skipped` gets the syscall names that neither
    /// the kernel headers nor libseccomp know (skipped, as Docker does).
    public static func compile(_ seccomp: OCI.Seccomp, skipped: inout [String]) throws -> [UInt8] {
        guard let defaultAction = SeccompActions.value(seccomp.defaultAction, errnoRet: seccomp.defaultErrnoRet) else {
            throw SeccompError("linux.seccomp.defaultAction: unknown action '\(seccomp.defaultAction)'")
        }
        _ = try SeccompFlags.value(seccomp.flags, field: "linux.seccomp.flags", listener: try SeccompNotify.listener(for: seccomp) != nil)
        let nameCount = (seccomp.syscalls ?? []).reduce(0) { $0 + $1.names.count }
        guard nameCount <= SeccompLimits.names else {
            throw SeccompError("linux.seccomp.syscalls: \(nameCount) syscall names, more than the \(SeccompLimits.names) a profile may have")
        }
        guard let context = seccomp_init(defaultAction) else { throw SeccompError("seccomp_init failed") }
        defer { seccomp_release(context) }
        for name in seccomp.architectures ?? [] {
            guard let token = SeccompArch.token(name) else { throw SeccompError("linux.seccomp.architectures: unknown architecture '\(name)'") }
            let rc = seccomp_arch_add(context, token)
            if rc != 0 && rc != -EEXIST { throw SeccompError("seccomp_arch_add(\(name)): \(SystemError(errno: -rc, call: "seccomp_arch_add").message)") }
        }
        // libseccomp scans the rules a syscall already has on every add, so a name repeated
        // thousands of times made compiling quadratic: each distinct rule is added once, and
        // each name resolved once.
        var numbers: [String: Int32] = [:]
        var added = Set<RuleKey>()
        var skippedNames = Set<String>()
        for (index, rule) in (seccomp.syscalls ?? []).enumerated() {
            guard let action = SeccompActions.value(rule.action, errnoRet: rule.errnoRet) else {
                throw SeccompError("linux.seccomp.syscalls[\(index)].action: unknown action '\(rule.action)'")
            }
            // A rule that does what the default does adds nothing (libseccomp refuses it).
            if action == defaultAction { continue }
            let conditions = try (rule.args ?? []).enumerated().map { argIndex, arg -> scmp_arg_cmp in
                guard arg.index < 6 else { throw SeccompError("linux.seccomp.syscalls[\(index)].args[\(argIndex)].index: \(arg.index) is out of range (0-5)") }
                guard let op = SeccompOperators.value(of: arg.op) else {
                    throw SeccompError("linux.seccomp.syscalls[\(index)].args[\(argIndex)].op: unknown operator '\(arg.op)'")
                }
                return scmp_arg_cmp(arg: arg.index, op: op, datum_a: arg.value, datum_b: arg.valueTwo ?? 0)
            }
            // Conditions on different arguments AND together in one rule; several conditions on
            // the same argument mean OR (runc's reading), so each becomes a rule of its own.
            let sameArgumentTwice = Set(conditions.map(\.arg)).count != conditions.count
            let groups = sameArgumentTwice ? conditions.map { [$0] } : [conditions]
            for name in rule.names {
                let number = numbers[name] ?? seccomp_syscall_resolve_name(name)
                numbers[name] = number
                if number == __NR_SCMP_ERROR {
                    if skippedNames.insert(name).inserted { skipped.append(name) }
                    continue
                }
                for group in groups {
                    guard added.insert(RuleKey(number: number, action: action, conditions: group)).inserted else { continue }
                    let rc = group.withUnsafeBufferPointer {
                        seccomp_rule_add_array(context, action, number, UInt32($0.count), $0.baseAddress)
                    }
                    if rc != 0 {
                        throw SeccompError("linux.seccomp.syscalls[\(index)] (\(name)): seccomp_rule_add: \(SystemError(errno: -rc, call: "").message)")
                    }
                }
            }
        }
        return try export(context)
    }

    /// One rule as libseccomp gets it, for finding repeats.
    struct RuleKey: Hashable {
        var number: Int32
        var action: UInt32
        var conditions: [UInt64]

        init(number: Int32, action: UInt32, conditions: [scmp_arg_cmp]) {
            self.number = number
            self.action = action
            self.conditions = conditions.flatMap { [UInt64($0.arg), UInt64($0.op.rawValue), $0.datum_a, $0.datum_b] }
        }
    }

    private static func export(_ context: scmp_filter_ctx) throws -> [UInt8] {
        // libseccomp 2.5 exports only to a file descriptor. A pipe holds 64 KiB and the kernel
        // takes at most 4096 instructions (32 KiB), so the write cannot block.
        var fds: [Int32] = [-1, -1]
        try check(pipe(&fds), "pipe")
        let reader = FileDescriptor(fds[0])
        let writer = FileDescriptor(fds[1])
        _ = fcntl(reader.raw, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writer.raw, F_SETFD, FD_CLOEXEC)
        let rc = seccomp_export_bpf(context, writer.raw)
        writer.close()
        guard rc == 0 else { throw SeccompError("seccomp_export_bpf: \(SystemError(errno: -rc, call: "").message)") }
        return try reader.readAll()
    }
}
