#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import Netlink
import OCI

/// The values of Docker's `run` flags that are more than a number or a size, parsed as Docker
/// reads them; each error names the flag and the value.
public enum DockerFlagValues {
    static func invalid(_ flag: String, _ value: String, _ why: String) -> EngineError {
        EngineError.invalidOption("invalid argument \"\(Printable.escaped(value))\" for \"\(flag)\" flag: \(why)")
    }

    /// "KEY=VALUE" (or "KEY" for an empty value where `valueOptional`) → (key, value).
    public static func keyValue(_ text: String, flag: String, valueOptional: Bool = false) throws -> (String, String) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let key = parts.first, !key.isEmpty, parts.count == 2 || valueOptional else {
            throw invalid(flag, text, "expected KEY=VALUE")
        }
        return (key, parts.count == 2 ? parts[1] : "")
    }

    /// The lines of a label or env file that carry something: comments and blank lines skipped.
    public static func fileLines(_ text: String) -> [String] {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map { String($0.drop { $0 == " " || $0 == "\t" }).trimmingSuffix("\r") }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// --ulimit NAME=SOFT[:HARD]: Docker's names (nofile, nproc, core, …), soft ≤ hard.
    public static func ulimit(_ text: String) throws -> Rlimit {
        let (name, value) = try keyValue(text, flag: "--ulimit")
        let names = ["as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
                     "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
                     "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
                     "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK"]
        guard let type = names[name] else { throw invalid("--ulimit", text, "invalid ulimit type: \(name)") }
        func limit(_ part: Substring) throws -> UInt64 {
            if part == "-1" || part == "unlimited" { return UInt64.max }
            guard let number = UInt64(part) else { throw invalid("--ulimit", text, "invalid ulimit value: \(part)") }
            return number
        }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { throw invalid("--ulimit", text, "too many limit value arguments") }
        let soft = try limit(parts[0]), hard = try parts.count == 2 ? limit(parts[1]) : soft
        guard soft <= hard else {
            throw invalid("--ulimit", text, "ulimit soft limit must be less than or equal to hard limit: \(parts[0]) > \(parts[1])")
        }
        return Rlimit(type: type, hard: hard, soft: soft)
    }

    /// --sysctl KEY=VALUE: only the namespaced ones Docker allows (IPC, and net.* when the
    /// container has a network namespace of its own); a host-wide knob is refused.
    public static func sysctl(_ text: String, hostNetwork: Bool) throws -> (String, String) {
        let (key, value) = try keyValue(text, flag: "--sysctl")
        let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                   "kernel.shmmni", "kernel.shm_rmid_forced"]
        if ipc.contains(key) || key.hasPrefix("fs.mqueue.") { return (key, value) }
        if key.hasPrefix("net.") {
            guard !hostNetwork else { throw invalid("--sysctl", text, "sysctl '\(key)' is not allowed in the host network namespace") }
            return (key, value)
        }
        throw invalid("--sysctl", text, "sysctl '\(key)' is not in a separate kernel namespace (allowed: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)")
    }

    /// --ipc, --pid, --uts: "" (a namespace of its own), host, container:NAME; --ipc also
    /// private, shareable and none.
    public static func namespaceMode(_ text: String, flag: String, allowed: Set<String>) throws -> RunOptions.NamespaceMode? {
        if text.hasPrefix("container:") {
            let name = String(text.dropFirst("container:".count))
            guard !name.isEmpty, allowed.contains("container") else { throw invalid(flag, text, "invalid \(flag.dropFirst(2)) mode") }
            return .container(name)
        }
        guard text.isEmpty || allowed.contains(text) else {
            throw invalid(flag, text, "invalid \(flag.dropFirst(2)) mode (\(allowed.sorted().map { $0 == "container" ? "container:NAME" : $0 }.joined(separator: ", ")))")
        }
        switch text {
        case "host": return .host
        case "shareable": return .shareable
        case "private", "none": return .private
        default: return nil
        }
    }

    /// --userns: "" or host, keep-id, keep-id:uid=N,gid=N (Podman's spelling).
    public static func userNamespaceMode(_ text: String) throws -> RunOptions.UserNamespaceMode {
        if text.isEmpty || text == "host" { return .host }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts[0] == "keep-id" else {
            throw invalid("--userns", text, "the user namespace modes are \"host\" and, rootless, \"keep-id[:uid=N,gid=N]\"")
        }
        var uid: UInt32?, gid: UInt32?
        for option in parts.count == 2 ? parts[1].split(separator: ",", omittingEmptySubsequences: false) : [] {
            let pair = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, let id = UInt32(pair[1]), ["uid", "gid"].contains(pair[0]) else {
                throw invalid("--userns", text, "keep-id takes uid=N and gid=N")
            }
            if pair[0] == "uid" { uid = id } else { gid = id }
        }
        return .keepID(uid: uid, gid: gid)
    }

    /// A host device node: its type ("c"/"b") and numbers.
    static func deviceNode(_ path: String, flag: String, value: String) throws -> (type: String, major: Int64, minor: Int64) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw EngineError.invalidOption("\(flag) \(Printable.escaped(value)): error gathering device information while adding custom device \"\(Printable.escaped(path))\": \(String(cString: strerror(errno)))")
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFCHR || kind == S_IFBLK else {
            throw EngineError.invalidOption("\(flag) \(Printable.escaped(value)): \(Printable.escaped(path)) is not a device node")
        }
        let device = UInt64(info.st_rdev)
        let major = Int64((device >> 8) & 0xfff | (device >> 32) & ~0xfff)
        let minor = Int64(device & 0xff | (device >> 12) & ~0xff)
        return (kind == S_IFCHR ? "c" : "b", major, minor)
    }

    /// --device HOST[:CONTAINER][:PERMISSIONS] (rwm, default rwm).
    public static func device(_ text: String) throws -> (device: Device, access: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), parts[0].hasPrefix("/") else { throw invalid("--device", text, "bad format for path: \(text)") }
        var target = parts[0], access = "rwm"
        if parts.count >= 2 {
            if parts.count == 2 && !parts[1].hasPrefix("/") { access = parts[1] } else { target = parts[1] }
            if parts.count == 3 { access = parts[2] }
        }
        guard target.hasPrefix("/"), !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else {
            throw invalid("--device", text, "bad mode specified: \(access)")
        }
        let node = try deviceNode(parts[0], flag: "--device", value: text)
        return (Device(type: node.type, path: target, major: node.major, minor: node.minor), access)
    }

    /// --device-cgroup-rule "TYPE MAJOR:MINOR ACCESS" ("c 1:3 rwm", "b *:* m").
    public static func deviceCgroupRule(_ text: String) throws -> DeviceRule {
        let fields = text.split(separator: " ").map(String.init)
        let numbers = fields.count == 3 ? fields[1].split(separator: ":", omittingEmptySubsequences: false) : []
        guard fields.count == 3, ["a", "b", "c"].contains(fields[0]), numbers.count == 2,
              numbers.allSatisfy({ $0 == "*" || Int64($0) != nil }), fields[2].allSatisfy({ "rwm".contains($0) }), !fields[2].isEmpty else {
            throw invalid("--device-cgroup-rule", text, "invalid device cgroup format (TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm')")
        }
        return DeviceRule(allow: true, type: fields[0], major: Int64(numbers[0]), minor: Int64(numbers[1]), access: fields[2])
    }

    /// --blkio-weight-device PATH:WEIGHT (10…1000).
    public static func weightDevice(_ text: String) throws -> BlockIO.WeightDevice {
        guard let colon = text.lastIndex(of: ":"), let weight = UInt16(text[text.index(after: colon)...]), (10...1000).contains(weight) else {
            throw invalid("--blkio-weight-device", text, "expected PATH:WEIGHT with a weight from 10 to 1000")
        }
        let node = try deviceNode(String(text[..<colon]), flag: "--blkio-weight-device", value: text)
        return BlockIO.WeightDevice(major: node.major, minor: node.minor, weight: weight)
    }

    /// --device-{read,write}-{bps,iops} PATH:RATE (bps: a size, "1mb"; iops: a number).
    public static func throttle(_ text: String, flag: String, bytes: Bool) throws -> BlockIO.ThrottleDevice {
        guard let colon = text.lastIndex(of: ":") else { throw invalid(flag, text, "expected PATH:RATE") }
        let rateText = String(text[text.index(after: colon)...])
        let rate: Int64
        if bytes {
            rate = try FlagValues.bytes(rateText, flag: flag)
        } else {
            guard let number = Int64(rateText), number >= 0 else { throw invalid(flag, text, "invalid rate: \(rateText)") }
            rate = number
        }
        let node = try deviceNode(String(text[..<colon]), flag: flag, value: text)
        return BlockIO.ThrottleDevice(major: node.major, minor: node.minor, rate: UInt64(rate))
    }

    /// --add-host NAME:IP (or NAME=IP); IP may be "host-gateway".
    public static func addHost(_ text: String) throws -> (name: String, address: String) {
        let separator = text.firstIndex(of: "=") ?? text.firstIndex(of: ":")
        guard let separator else { throw invalid("--add-host", text, "bad format for add-host: \"\(text)\"") }
        let name = String(text[..<separator]), address = String(text[text.index(after: separator)...])
        guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" }) else { throw invalid("--add-host", text, "invalid hostname") }
        guard address == "host-gateway" || IPv4Address(address) != nil || isIPv6(address) else {
            throw invalid("--add-host", text, "invalid IP address in add-host: \"\(address)\"")
        }
        return (name, address)
    }

    /// --mac-address: six hex octets separated by ":" or "-"; a unicast address (the low bit of
    /// the first octet clear), as the kernel refuses a multicast one on an interface.
    public static func macAddress(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: text.contains("-") ? "-" : ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        guard bytes.count == 6, bytes[0] & 1 == 0, bytes != [0, 0, 0, 0, 0, 0] else { return nil }
        return bytes
    }

    /// --link-local-ip: an IPv4 address in 169.254.0.0/16 (IPv6 link-local needs IPv6, which the
    /// bridge has not).
    public static func linkLocalAddress(_ text: String) throws -> String {
        if isIPv6(text) {
            throw invalid("--link-local-ip", text, "IPv6 link-local addresses need IPv6, and swiftainer's bridge network is IPv4 only")
        }
        guard let address = IPv4Address(text), address.bytes[0] == 169, address.bytes[1] == 254 else {
            throw invalid("--link-local-ip", text, "\"\(text)\" is not a link-local address (169.254.0.0/16)")
        }
        return address.description
    }

    /// --link NAME[:ALIAS].
    public static func link(_ text: String) throws -> (container: String, alias: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts.last?.isEmpty == false else {
            throw invalid("--link", text, "invalid format for link: \"\(text)\" (NAME[:ALIAS])")
        }
        return (parts[0], parts.count == 2 ? parts[1] : parts[0])
    }

    /// --volumes-from CONTAINER[:ro|rw]; nil: each mount keeps its own mode.
    public static func volumesFrom(_ text: String) throws -> (container: String, readOnly: Bool?) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].isEmpty else { throw invalid("--volumes-from", text, "invalid format (CONTAINER[:ro|rw])") }
        guard parts.count == 2 else { return (parts[0], nil) }
        switch parts[1] {
        case "ro": return (parts[0], true)
        case "rw": return (parts[0], false)
        default: throw invalid("--volumes-from", text, "invalid mode: \(parts[1])")
        }
    }

    /// A Go duration as Docker's flags take it: "30s", "1m30s", "1.5h", "250ms", "0"; units
    /// ns, us (µs), ms, s, m, h. Returns nanoseconds.
    public static func duration(_ text: String, flag: String) throws -> Int64 {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        var negative = false
        if rest.first == "-" || rest.first == "+" { negative = rest.first == "-"; rest = rest.dropFirst() }
        if rest == "0" { return 0 }
        var total = 0.0
        guard !rest.isEmpty else { throw invalid(flag, text, "invalid duration \"\(text)\"") }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { throw invalid(flag, text, "invalid duration \"\(text)\"") }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !$0.isNumber && $0 != "." }
            // Longest match first: "ms" before "m".
            guard let unit = units.filter({ $0.0 == unitText }).first else {
                throw invalid(flag, text, unitText.isEmpty ? "missing unit in duration \"\(text)\"" : "unknown unit \"\(unitText)\" in duration \"\(text)\"")
            }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.1
        }
        guard total < 9.2e18 else { throw invalid(flag, text, "invalid duration \"\(text)\"") }
        return Int64(total) * (negative ? -1 : 1)
    }

    /// Nanoseconds as Go prints a duration: "1m30s", "500ms", "2h0m0s".
    public static func durationText(nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        if nanoseconds < 1_000_000_000 {
            if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
            if nanoseconds % 1_000 == 0 { return "\(nanoseconds / 1_000)µs" }
            return "\(nanoseconds)ns"
        }
        let seconds = nanoseconds / 1_000_000_000, fraction = nanoseconds % 1_000_000_000
        var secondsText = "\(seconds % 60)"
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 9 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            secondsText += "." + digits
        }
        let hours = seconds / 3600, minutes = (seconds / 60) % 60
        if hours > 0 { return "\(hours)h\(minutes)m\(secondsText)s" }
        if minutes > 0 { return "\(minutes)m\(secondsText)s" }
        return secondsText + "s"
    }

    /// Docker's default detach sequence: ctrl-p ctrl-q.
    public static let defaultDetachKeys: [UInt8] = [16, 17]

    /// --detach-keys: comma-separated keys, each one character ("a") or "ctrl-<c>" for c in
    /// a-z, @, [, \\, ], ^, _ (Docker's syntax); "" turns detaching off.
    public static func detachKeys(_ text: String) throws -> [UInt8] {
        if text.isEmpty { return [] }
        return try text.split(separator: ",", omittingEmptySubsequences: false).map { key in
            let lower = key.lowercased()
            if lower.hasPrefix("ctrl-"), lower.count == 6, let c = lower.last?.asciiValue {
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 1
                case UInt8(ascii: "@"): return 0
                case UInt8(ascii: "["), UInt8(ascii: "\\"), UInt8(ascii: "]"), UInt8(ascii: "^"), UInt8(ascii: "_"): return c - 64
                default: break
                }
            } else if key.count == 1, let c = key.first?.asciiValue {
                return c
            }
            throw invalid("--detach-keys", text, "invalid detach key \"\(key)\" (a character, or ctrl-a … ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_)")
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET6, text, &buffer) == 1
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
