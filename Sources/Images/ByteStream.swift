#if canImport(Glibc)
import Glibc
#endif
import CZlib
import CZstd
import LinuxKit

/// A source of bytes read in chunks; returns 0 at the end.
public protocol ByteStream {
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Bytes from an open file.
public struct FileByteStream: ByteStream {
    let fd: FileDescriptor
    public init(_ fd: FileDescriptor) { self.fd = fd }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try fd.read(into: buffer)
    }
}

/// Bytes from memory (tests, small inputs).
public struct MemoryByteStream: ByteStream {
    let bytes: [UInt8]
    var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n > 0 {
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
        }
        return n
    }
}

public enum CompressionError: Error, CustomStringConvertible, Equatable {
    case truncated
    case corrupt(String)
    case zlib(Int32)
    case tooLarge(limit: UInt64)

    public var description: String {
        switch self {
        case .tooLarge(let limit):
            return "the archive unpacks to more than \(limit) bytes (the import limit; raise it with import --max-size)"
        case .truncated: return "truncated gzip stream (unexpected end of file)"
        case .corrupt(let message): return message.hasPrefix("zstd") ? "corrupt \(message)" : "corrupt gzip data: \(message)"
        case .zlib(let code): return "zlib error \(code)"
        }
    }
}

/// Decompresses gzip (RFC 1952, several members allowed) on the fly; passes other data
/// through unchanged, so plain `.tar` files import too. Feeds every decompressed byte to a
/// SHA-256 so the image id costs no second pass.
public struct DecompressingStream<Source: ByteStream>: ByteStream {
    private var source: Source
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private var sourceDone = false
    private var zstream = z_stream()
    private var mode: Mode = .undecided
    private var digest = SHA256()
    public private(set) var decompressedBytes: UInt64 = 0
    /// What the stream may produce in all; more is an error (a bomb: a few megabytes of gzip
    /// that inflate to terabytes).
    public var limit: UInt64 = .max

    private enum Mode { case undecided, gzip, zstd, plain, finished }
    /// zstd's streaming state, for zstd-compressed layers.
    private var zstd: OpaquePointer?
    /// What the stream was: gzip or zstd (nil: plain, or not decided yet).
    public private(set) var compression: String?
    /// The last zstd frame ended (ZSTD_decompressStream returned 0).
    private var frameComplete = true

    public init(_ source: Source, bufferSize: Int = 256 * 1024) {
        self.source = source
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    }

    /// The input was compressed (not a plain tar passed through).
    public var wasCompressed: Bool { compression != nil }

    /// The stream it decompresses (a HashingStream knows the compressed digest).
    public var compressedSource: Source { source }

    /// The SHA-256 of every byte produced so far, as hex.
    public var digestHex: String {
        var copy = digest
        return SHA256.hex(copy.finalize())
    }

    /// Frees zlib's state and the buffer. Call once when done.
    public mutating func close() {
        if compression == "gzip" { inflateEnd(&zstream) }
        if let zstd { ZSTD_freeDStream(zstd) }
        zstd = nil
        input.deallocate()
        input = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    private mutating func fill() throws {
        if inputStart == inputEnd { inputStart = 0; inputEnd = 0 }
        guard !sourceDone, inputEnd < input.count else { return }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: input[inputEnd...]))
        if n == 0 { sourceDone = true }
        inputEnd += n
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try produce(into: buffer)
        if n > 0 {
            guard UInt64(n) <= limit - min(limit, decompressedBytes) else { throw CompressionError.tooLarge(limit: limit) }
            digest.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            decompressedBytes += UInt64(n)
        }
        return n
    }

    private mutating func produce(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if mode == .undecided {
            while inputEnd - inputStart < 4 && !sourceDone { try fill() }
            if inputEnd - inputStart >= 2 && input[inputStart] == 0x1f && input[inputStart + 1] == 0x8b {
                // 16 + MAX_WBITS: expect a gzip header and trailer.
                let rc = inflateInit2_(&zstream, 31, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
                guard rc == Z_OK else { throw CompressionError.zlib(rc) }
                mode = .gzip
                compression = "gzip"
            } else if inputEnd - inputStart >= 4 && input[inputStart] == 0x28 && input[inputStart + 1] == 0xb5
                        && input[inputStart + 2] == 0x2f && input[inputStart + 3] == 0xfd {
                // The zstd frame magic (RFC 8878).
                guard let stream = ZSTD_createDStream() else { throw CompressionError.corrupt("cannot create a zstd stream") }
                ZSTD_initDStream(stream)
                zstd = stream
                mode = .zstd
                compression = "zstd"
            } else {
                mode = .plain
            }
        }
        switch mode {
        case .plain:
            if inputStart == inputEnd { try fill() }
            let n = min(buffer.count, inputEnd - inputStart)
            if n > 0 {
                buffer.baseAddress!.copyMemory(from: input.baseAddress! + inputStart, byteCount: n)
                inputStart += n
            }
            return n
        case .gzip:
            return try inflateSome(into: buffer)
        case .zstd:
            return try decompressZstd(into: buffer)
        case .finished, .undecided:
            return 0
        }
    }

    private mutating func inflateSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if inputStart == inputEnd { try fill() }
            zstream.next_in = (input.baseAddress! + inputStart).assumingMemoryBound(to: Bytef.self)
            zstream.avail_in = uInt(inputEnd - inputStart)
            zstream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            zstream.avail_out = uInt(buffer.count)
            let rc = inflate(&zstream, Z_NO_FLUSH)
            let consumed = (inputEnd - inputStart) - Int(zstream.avail_in)
            inputStart += consumed
            let produced = buffer.count - Int(zstream.avail_out)
            switch rc {
            case Z_STREAM_END:
                // Another gzip member may follow (concatenated .gz files are valid gzip).
                if inputStart == inputEnd { try fill() }
                if inputStart < inputEnd {
                    inflateReset(&zstream)
                } else {
                    mode = .finished
                }
                if produced > 0 || mode == .finished { return produced }
            case Z_OK:
                if produced > 0 { return produced }
            case Z_BUF_ERROR:
                if produced > 0 { return produced }
                if sourceDone && inputStart == inputEnd { throw CompressionError.truncated }
            case Z_DATA_ERROR:
                let message = zstream.msg.map { String(cString: $0) } ?? "invalid data"
                throw CompressionError.corrupt(message)
            default:
                throw CompressionError.zlib(rc)
            }
            if sourceDone && inputStart == inputEnd && produced == 0 { throw CompressionError.truncated }
        }
    }

    /// zstd frames (several may follow each other); the end of input must end a frame.
    private mutating func decompressZstd(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if inputStart == inputEnd { try fill() }
            if sourceDone && inputStart == inputEnd {
                guard frameComplete else { throw CompressionError.truncated }
                mode = .finished
                return 0
            }
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress! + inputStart, size: inputEnd - inputStart, pos: 0)
            var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress!, size: buffer.count, pos: 0)
            let hint = ZSTD_decompressStream(zstd, &outBuffer, &inBuffer)
            if ZSTD_isError(hint) != 0 { throw CompressionError.corrupt("zstd: " + String(cString: ZSTD_getErrorName(hint))) }
            inputStart += inBuffer.pos
            frameComplete = hint == 0
            if outBuffer.pos > 0 { return outBuffer.pos }
        }
    }
}
