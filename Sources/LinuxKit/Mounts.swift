#if canImport(Glibc)
import Glibc
#endif

/// mount(2) and friends; errors name the operation, source, target and flags, as runc's mountError does.
public enum Mounts {
    public static func mount(source: String, target: String, type: String, flags: UInt, data: String? = nil) throws {
        let rc: Int32
        if let data {
            rc = Glibc.mount(source, target, type, flags, data)
        } else {
            rc = Glibc.mount(source, target, type, flags, nil)
        }
        if rc != 0 {
            let what = "\(type.isEmpty ? "" : type + " ")\(source) on \(target) (flags 0x\(String(flags, radix: 16))\(data.map { ", " + $0 } ?? ""))"
            throw SystemError.last("mount", what)
        }
    }

    public static func bind(_ source: String, _ target: String, recursive: Bool = true, readOnly: Bool = false, extraFlags: UInt = 0) throws {
        let bindFlags = UInt(MS_BIND) | (recursive ? UInt(MS_REC) : 0)
        try mount(source: source, target: target, type: "", flags: bindFlags)
        if readOnly || extraFlags != 0 {
            // A bind mount ignores most flags at creation: they take effect on a remount.
            let remount = UInt(MS_BIND | MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0) | extraFlags
            try mount(source: "", target: target, type: "", flags: remount)
        }
    }

    public static func setPropagation(_ target: String, _ flags: UInt) throws {
        try mount(source: "", target: target, type: "", flags: flags)
    }

    public static func unmount(_ target: String, flags: Int32 = 0) throws {
        try check(umount2(target, flags), "umount2", target)
    }

    /// Mount points at or below `prefix`, from /proc/self/mountinfo (deepest first, so they
    /// can be unmounted in order).
    public static func mountPoints(under prefix: String) -> [String] {
        guard let text = try? Files.readString("/proc/self/mountinfo") else { return [] }
        var points: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            let point = unescapeMountinfo(String(fields[4]))
            if point == prefix || point.hasPrefix(prefix.hasSuffix("/") ? prefix : prefix + "/") {
                points.append(point)
            }
        }
        return points.sorted { $0.count > $1.count }
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo (three octal digits).
    public static func unescapeMountinfo(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        let utf8 = Array(text.utf8)
        var bytes: [UInt8] = []
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
