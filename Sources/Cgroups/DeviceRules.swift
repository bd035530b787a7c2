#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import OCI

/// linux.resources.devices: which device nodes a container may create (m), read (r) and write
/// (w). Rules are read in order and the last one that matches a request decides; nothing
/// matching means denied once any rule is given (the first rule is usually "deny all").
///
/// cgroup v1 writes them to devices.deny / devices.allow; cgroup v2 has no such files, so the
/// rules become an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's group,
/// as runc and crun do.
public enum DeviceRules {
    /// Docker's defaults: any node may be created (mknod), none opened but `openable`.
    public static let dockerDefault: [DeviceRule] = [
        DeviceRule(allow: false, type: "a", major: nil, minor: nil, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: nil, minor: nil, access: "m"),
        DeviceRule(allow: true, type: "b", major: nil, minor: nil, access: "m"),
    ]

    /// The nodes every container's /dev gets (null, zero, full, random, urandom, tty, console,
    /// ptmx, pts/*, net/tun), read and write: appended to any rule list, as runc does, so that
    /// rules cannot lock a container out of its own /dev/null.
    public static let openable: [DeviceRule] = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, nil), (10, 200)]
        .map { DeviceRule(allow: true, type: "c", major: $0.0, minor: $0.1, access: "rwm") }

    /// "c 1:3 rwm", "a *:* rwm": one line for devices.allow or devices.deny.
    static func v1Line(_ rule: DeviceRule) -> String {
        "\(rule.type ?? "a") \(rule.major.map(String.init) ?? "*"):\(rule.minor.map(String.init) ?? "*") \(rule.access ?? "rwm")"
    }

    // MARK: the eBPF program

    /// struct bpf_insn: code u8, dst:4|src:4 u8, off s16, imm s32 (little-endian).
    struct Instruction: Equatable {
        var code: UInt8
        var dst: UInt8 = 0
        var src: UInt8 = 0
        var off: Int16 = 0
        var imm: Int32 = 0

        var bytes: [UInt8] {
            let o = UInt16(bitPattern: off), i = UInt32(bitPattern: imm)
            return [code, (src << 4) | (dst & 0xf), UInt8(o & 0xff), UInt8(o >> 8),
                    UInt8(i & 0xff), UInt8((i >> 8) & 0xff), UInt8((i >> 16) & 0xff), UInt8(i >> 24)]
        }

        static func loadWord(_ dst: UInt8, from src: UInt8, offset: Int16) -> Instruction { Instruction(code: 0x61, dst: dst, src: src, off: offset) }
        static func and(_ dst: UInt8, _ imm: Int32) -> Instruction { Instruction(code: 0x57, dst: dst, imm: imm) }
        static func rightShift(_ dst: UInt8, _ imm: Int32) -> Instruction { Instruction(code: 0x77, dst: dst, imm: imm) }
        static func move(_ dst: UInt8, register src: UInt8) -> Instruction { Instruction(code: 0xbf, dst: dst, src: src) }
        static func move(_ dst: UInt8, _ imm: Int32) -> Instruction { Instruction(code: 0xb7, dst: dst, imm: imm) }
        static func jumpIfNotEqual(_ dst: UInt8, _ imm: Int32, skip: Int16) -> Instruction { Instruction(code: 0x55, dst: dst, off: skip, imm: imm) }
        static let exit = Instruction(code: 0x95)
    }

    /// The program for `rules`. Its context is struct bpf_cgroup_dev_ctx { u32 access_type
    /// (type in the low 16 bits: 1 block, 2 char; access in the high: 1 mknod, 2 read, 4 write);
    /// u32 major; u32 minor }. Rules are tested last to first, the first match decides.
    static func program(_ rules: [DeviceRule]) throws -> [Instruction] {
        var code: [Instruction] = [
            .loadWord(2, from: 1, offset: 0), .and(2, 0xffff),          // r2 = device type
            .loadWord(3, from: 1, offset: 0), .rightShift(3, 16),       // r3 = requested access
            .loadWord(4, from: 1, offset: 4),                           // r4 = major
            .loadWord(5, from: 1, offset: 8),                           // r5 = minor
        ]
        for rule in rules.reversed() {
            var checks: [(register: UInt8, value: Int32)] = []
            switch rule.type ?? "a" {
            case "a": break
            case "b": checks.append((2, 1))
            case "c": checks.append((2, 2))
            default: throw CgroupError("linux.resources.devices: unknown type '\(rule.type ?? "")' (a, b or c)")
            }
            var mask: Int32 = 0
            for letter in rule.access ?? "rwm" {
                switch letter {
                case "m": mask |= 1
                case "r": mask |= 2
                case "w": mask |= 4
                default: throw CgroupError("linux.resources.devices: unknown access '\(letter)' in '\(rule.access ?? "")' (r, w, m)")
                }
            }
            if let major = rule.major, major >= 0 { checks.append((4, Int32(truncatingIfNeeded: major))) }
            if let minor = rule.minor, minor >= 0 { checks.append((5, Int32(truncatingIfNeeded: minor))) }
            // Instructions of this block: type/major/minor tests, the access test (3), the verdict (2).
            var block: [Instruction] = []
            let accessTest = mask != 7
            let length = checks.count + (accessTest ? 3 : 0) + 2
            for check in checks {
                block.append(.jumpIfNotEqual(check.register, check.value, skip: Int16(length - block.count - 1)))
            }
            if accessTest {
                // Every requested access bit must be in the rule's mask.
                block.append(.move(0, register: 3))
                block.append(.and(0, ~mask & 7))
                block.append(.jumpIfNotEqual(0, 0, skip: Int16(length - block.count - 1)))
            }
            block.append(.move(0, rule.allow ? 1 : 0))
            block.append(.exit)
            code += block
            // A rule that matches everything decides every request that gets here: the kernel's
            // verifier rejects the unreachable instructions that would follow.
            if checks.isEmpty && !accessTest { return code }
        }
        code += [.move(0, 0), .exit] // nothing matched: denied
        return code
    }

    /// Loads the program for `rules` and attaches it to the cgroup v2 directory `dir`.
    static func attach(_ rules: [DeviceRule], to dir: String) throws {
        let bytes = try program(rules).flatMap(\.bytes)
        let cgroup = try FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY)
        defer { cgroup.close() }
        var log = [CChar](repeating: 0, count: 64 * 1024)
        let rc = bytes.withUnsafeBytes { insns in
            log.withUnsafeMutableBufferPointer { sw_attach_device_program(cgroup.raw, insns.baseAddress, UInt32(bytes.count / 8), $0.baseAddress, UInt32($0.count)) }
        }
        guard rc == 0 else {
            // The verifier's trace is long; its last line is the reason.
            let verifier = String(cString: log).split(separator: "\n").last.map { String($0).trimmingWhitespace } ?? ""
            throw CgroupError("device rules for \(dir): bpf: \(SystemError(errno: -rc, call: "bpf").message)" + (verifier.isEmpty ? "" : " (\(verifier))"))
        }
    }
}
