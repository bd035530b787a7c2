#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// Writes a ustar archive to a file descriptor: what `save` needs (short names, regular
/// files and directories, sizes known up front). Names over 100 bytes are refused rather than
/// written in an extension format no caller here needs.
public struct TarWriter {
    let output: FileDescriptor
    private(set) var written: UInt64 = 0

    public init(_ output: FileDescriptor) { self.output = output }

    /// One regular file of `size` bytes; `body` writes exactly those bytes through `emit`.
    public mutating func file(_ name: String, size: UInt64, mode: UInt32 = 0o644, mtime: Int64 = 0,
                              body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try entry(TarEntry(path: name, kind: .regular, mode: mode, size: size, mtime: mtime), body: body)
    }

    public mutating func file(_ name: String, _ bytes: [UInt8], mode: UInt32 = 0o644, mtime: Int64 = 0) throws {
        try file(name, size: UInt64(bytes.count), mode: mode, mtime: mtime) { emit in try bytes.withUnsafeBytes { try emit($0) } }
    }

    public mutating func directory(_ name: String, mtime: Int64 = 0) throws {
        try header(name.hasSuffix("/") ? name : name + "/", type: UInt8(ascii: "5"), size: 0, mode: 0o755, mtime: mtime)
    }

    /// The end-of-archive marker: two zero blocks.
    public mutating func finish() throws {
        try output.writeAll([UInt8](repeating: 0, count: 1024), what: "tar end")
        written += 1024
    }

    /// Any entry, as read from a file system: names and link targets of any length and large
    /// ids or sizes go in a PAX extended header before it. `body` writes `entry.size` bytes of
    /// a regular file's content through `emit`.
    public mutating func entry(_ entry: TarEntry, body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void = { _ in }) throws {
        var name = entry.path
        if entry.kind == .directory && !name.hasSuffix("/") { name += "/" }
        var records: [(String, String)] = []
        if name.utf8.count > 100 || name.utf8.contains(0) { records.append(("path", name)) }
        if entry.linkTarget.utf8.count > 100 { records.append(("linkpath", entry.linkTarget)) }
        if entry.uid > 0o7777777 { records.append(("uid", String(entry.uid))) }
        if entry.gid > 0o7777777 { records.append(("gid", String(entry.gid))) }
        if entry.size > 0o77777777777 { records.append(("size", String(entry.size))) }
        if !records.isEmpty {
            // "LEN key=value\n", where LEN counts itself.
            var pax: [UInt8] = []
            for (key, value) in records {
                let body = " \(key)=\(value)\n"
                var length = body.utf8.count + 1
                while String(length).utf8.count + body.utf8.count > length { length += 1 }
                pax += Array((String(length) + body).utf8)
            }
            try header(String("PaxHeaders/" + name.suffix(80)), type: UInt8(ascii: "x"), size: UInt64(pax.count), mode: 0o644, mtime: entry.mtime)
            try output.writeAll(pax, what: "tar PAX header of \(name)")
            written += UInt64(pax.count)
            try pad()
        }
        let type: UInt8
        switch entry.kind {
        case .regular: type = UInt8(ascii: "0")
        case .hardLink: type = UInt8(ascii: "1")
        case .symbolicLink: type = UInt8(ascii: "2")
        case .characterDevice: type = UInt8(ascii: "3")
        case .blockDevice: type = UInt8(ascii: "4")
        case .directory: type = UInt8(ascii: "5")
        case .fifo: type = UInt8(ascii: "6")
        }
        let size = entry.kind == .regular ? entry.size : 0
        try header(String(decoding: name.utf8.prefix(100), as: UTF8.self), type: type, size: min(size, 0o77777777777), mode: entry.mode & 0o7777,
                   mtime: entry.mtime, uid: min(entry.uid, 0o7777777), gid: min(entry.gid, 0o7777777),
                   link: String(decoding: entry.linkTarget.utf8.prefix(100), as: UTF8.self), device: (entry.deviceMajor, entry.deviceMinor), truncating: true)
        guard size > 0 else { return }
        var count: UInt64 = 0
        try body { chunk in
            count += UInt64(chunk.count)
            guard count <= size else { throw TarError.truncated(entry: name) }
            try output.writeAll(chunk, what: "tar entry \(name)")
        }
        guard count == size else { throw TarError.truncated(entry: name) }
        written += size
        try pad()
    }

    private mutating func header(_ name: String, type: UInt8, size: UInt64, mode: UInt32, mtime: Int64, uid: UInt32 = 0, gid: UInt32 = 0,
                                 link: String = "", device: (UInt32, UInt32) = (0, 0), truncating: Bool = false) throws {
        var nameBytes = Array(name.utf8)
        if truncating { nameBytes = Array(nameBytes.prefix(100)).map { $0 == 0 ? UInt8(ascii: "_") : $0 } }
        guard nameBytes.count <= 100, !nameBytes.contains(0) else { throw TarError.badPaxRecord("name too long for ustar: \(name)") }
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { for (index, byte) in bytes.enumerated() { block[offset + index] = byte } }
        func octal(_ value: UInt64, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(UInt64(mode), width: 8), at: 100)
        put(octal(UInt64(uid), width: 8), at: 108)
        put(octal(UInt64(gid), width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(UInt64(max(0, mtime)), width: 12), at: 136)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148) // checksum, counted as spaces
        block[156] = type
        put(Array(link.utf8.prefix(100)), at: 157)
        put(Array("ustar\u{0}00".utf8), at: 257)
        if type == UInt8(ascii: "3") || type == UInt8(ascii: "4") {
            put(octal(UInt64(device.0), width: 8), at: 329)
            put(octal(UInt64(device.1), width: 8), at: 337)
        }
        let checksum = block.reduce(0) { $0 + UInt64($1) }
        put(octal(checksum, width: 7) + [UInt8(ascii: " ")], at: 148)
        try output.writeAll(block, what: "tar header \(name)")
        written += 512
    }

    private mutating func pad() throws {
        let remainder = Int(written % 512)
        guard remainder != 0 else { return }
        try output.writeAll([UInt8](repeating: 0, count: 512 - remainder), what: "tar padding")
        written += UInt64(512 - remainder)
    }
}
