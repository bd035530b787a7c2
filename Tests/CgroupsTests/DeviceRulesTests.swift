import Testing
@testable import Cgroups
import OCI

/// The eBPF device program, run by a tiny interpreter of the instructions it uses, against the
/// answers the rules should give. (The kernel runs it for real in the cgroup v2 VM tests.)
@Suite struct DeviceRulesTests {
    /// Executes `program` for (type 1 block / 2 char, access bits m=1 r=2 w=4, major, minor).
    func run(_ program: [DeviceRules.Instruction], type: UInt32, access: UInt32, major: UInt32, minor: UInt32) -> UInt64 {
        var r = [UInt64](repeating: 0, count: 11)
        let context: [UInt32] = [access << 16 | type, major, minor]
        var pc = 0
        while pc < program.count {
            let i = program[pc]
            let imm = UInt64(bitPattern: Int64(i.imm))
            switch i.code {
            case 0x61: r[Int(i.dst)] = UInt64(context[Int(i.off) / 4])
            case 0x57: r[Int(i.dst)] &= imm
            case 0x77: r[Int(i.dst)] >>= imm
            case 0xbf: r[Int(i.dst)] = r[Int(i.src)]
            case 0xb7: r[Int(i.dst)] = imm
            case 0x55: if r[Int(i.dst)] != imm { pc += Int(i.off) }
            case 0x95: return r[0]
            default: Issue.record("unexpected opcode \(i.code)"); return 99
            }
            pc += 1
        }
        Issue.record("fell off the end of the program")
        return 99
    }

    /// The kernel's verifier refuses a program with instructions no path reaches.
    func expectAllReachable(_ program: [DeviceRules.Instruction]) {
        var reached = Set<Int>()
        var pending = [0]
        while let pc = pending.popLast() {
            guard pc < program.count, reached.insert(pc).inserted else { continue }
            let i = program[pc]
            if i.code == 0x95 { continue }
            pending.append(pc + 1)
            if i.code == 0x55 { pending.append(pc + 1 + Int(i.off)) }
        }
        #expect(reached.count == program.count, "unreachable: \(Set(0..<program.count).subtracting(reached).sorted())")
    }

    @Test func everyInstructionIsReachable() throws {
        expectAllReachable(try DeviceRules.program(DeviceRules.dockerDefault + DeviceRules.openable))
        expectAllReachable(try DeviceRules.program([DeviceRule(allow: true, type: "a", major: nil, minor: nil, access: "rwm")]))
        expectAllReachable(try DeviceRules.program([DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: "r")]))
        expectAllReachable(try DeviceRules.program([]))
    }

    @Test func dockerDefaultsAllowMknodAndTheStandardNodesOnly() throws {
        let program = try DeviceRules.program(DeviceRules.dockerDefault + DeviceRules.openable)
        #expect(run(program, type: 2, access: 2 | 4, major: 1, minor: 3) == 1, "read/write /dev/null")
        #expect(run(program, type: 2, access: 2, major: 136, minor: 7) == 1, "a pty")
        #expect(run(program, type: 1, access: 1, major: 8, minor: 0) == 1, "mknod of a disk")
        #expect(run(program, type: 1, access: 2, major: 8, minor: 0) == 0, "read a disk")
        #expect(run(program, type: 2, access: 2, major: 1, minor: 11) == 0, "read /dev/kmsg")
        #expect(run(program, type: 2, access: 1 | 2, major: 1, minor: 11) == 0, "mknod and read together")
    }

    @Test func laterRulesWinAndEmptyMeansDenied() throws {
        let rules = [DeviceRule(allow: true, type: "a", major: nil, minor: nil, access: "rwm"),
                     DeviceRule(allow: false, type: "b", major: 8, minor: nil, access: "w")]
        let program = try DeviceRules.program(rules)
        #expect(run(program, type: 1, access: 4, major: 8, minor: 1) == 0)
        #expect(run(program, type: 1, access: 2, major: 8, minor: 1) == 1)
        #expect(run(program, type: 2, access: 4, major: 8, minor: 1) == 1)
        #expect(run(try DeviceRules.program([]), type: 2, access: 2, major: 1, minor: 3) == 0)
        #expect(throws: CgroupError.self) { try DeviceRules.program([DeviceRule(allow: true, type: "x", major: nil, minor: nil, access: "r")]) }
        #expect(throws: CgroupError.self) { try DeviceRules.program([DeviceRule(allow: true, type: "c", major: nil, minor: nil, access: "q")]) }
        #expect(DeviceRules.v1Line(DeviceRule(allow: true, type: "c", major: 136, minor: nil, access: "rwm")) == "c 136:* rwm")
        #expect(DeviceRules.Instruction.move(0, 1).bytes == [0xb7, 0, 0, 0, 1, 0, 0, 0])
    }
}
