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
        try header(name, type: UInt8(ascii: "0"), size: size, mode: mode, mtime: mtime)
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

    private mutating func header(_ name: String, type: UInt8, size: UInt64, mode: UInt32, mtime: Int64) throws {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count <= 100, !nameBytes.contains(0) else { throw TarError.badPaxRecord("name too long for ustar: \(name)") }
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { for (index, byte) in bytes.enumerated() { block[offset + index] = byte } }
        func octal(_ value: UInt64, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(UInt64(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)                // uid
        put(octal(0, width: 8), at: 116)                // gid
        put(octal(size, width: 12), at: 124)
        put(octal(UInt64(max(0, mtime)), width: 12), at: 136)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148) // checksum, counted as spaces
        block[156] = type
        put(Array("ustar\u{0}00".utf8), at: 257)
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
