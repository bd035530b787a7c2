/// One archive member, with PAX and GNU long-name extensions already applied.
public struct TarEntry: Equatable {
    public enum Kind: Equatable {
        case regular, hardLink, symbolicLink, characterDevice, blockDevice, directory, fifo
    }
    public var path: String
    public var kind: Kind
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var mtime: Int64
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32

    public init(path: String, kind: Kind, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, size: UInt64 = 0, mtime: Int64 = 0,
                linkTarget: String = "", deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
    }
}

public enum TarError: Error, CustomStringConvertible, Equatable {
    case truncated(entry: String?)
    case badChecksum(offset: UInt64)
    case badNumber(field: String, offset: UInt64)
    case unsupportedType(entry: String, type: UInt8)
    case oversizedHeader(kind: String, size: UInt64)
    case badPaxRecord(String)
    case trailingData(limit: UInt64)
    case empty

    public var description: String {
        switch self {
        case .truncated(let entry):
            return "truncated tar archive" + (entry.map { " (in entry '\($0)')" } ?? "")
        case .badChecksum(let offset):
            return "corrupt tar archive: header checksum mismatch at byte \(offset)"
        case .badNumber(let field, let offset):
            return "corrupt tar archive: invalid \(field) field in header at byte \(offset)"
        case .unsupportedType(let entry, let type):
            return "unsupported tar entry type '\(Character(Unicode.Scalar(type)))' for '\(entry)'"
        case .oversizedHeader(let kind, let size):
            return "tar \(kind) of \(size) bytes exceeds the limit"
        case .trailingData(let limit):
            return "more than \(limit) bytes follow the end-of-archive marker: not a tar archive"
        case .empty:
            return "the archive has no entries (it starts with the end-of-archive marker)"
        case .badPaxRecord(let record):
            return "corrupt tar archive: malformed PAX record '\(record.prefix(60))'"
        }
    }
}

/// A streaming ustar/PAX/GNU tar reader. Call `next()` for each entry, then `readData`
/// (or nothing: the rest of an entry's data is skipped on the next `next()`).
public struct TarReader<Source: ByteStream> {
    public var source: Source
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var eof = false
    private var offset: UInt64 = 0             // bytes consumed from the archive
    private var remainingData: UInt64 = 0       // of the current entry
    private var remainingPadding: UInt64 = 0
    private var currentPath: String?
    private var globalPax: [String: String] = [:]

    /// Long names and PAX headers larger than this are refused (a malicious archive could
    /// otherwise make us allocate without bound).
    public static var metadataLimit: UInt64 { 1 << 20 }

    public init(_ source: Source, bufferSize: Int = 256 * 1024) {
        self.source = source
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    }

    public mutating func close() {
        buffer.deallocate()
        buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    /// Ensures at least `count` bytes are buffered (count <= buffer size); false at EOF.
    private mutating func ensure(_ count: Int) throws -> Bool {
        if end - start >= count { return true }
        if start > 0 {
            let live = end - start
            if live > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: live) }
            start = 0
            end = live
        }
        while end - start < count && !eof {
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if n == 0 { eof = true }
            end += n
        }
        return end - start >= count
    }

    private mutating func consume(_ count: Int) {
        start += count
        offset += UInt64(count)
    }

    /// Skips `count` bytes of the archive.
    private mutating func skip(_ count: UInt64) throws {
        var left = count
        while left > 0 {
            if start == end { guard try ensure(1) else { throw TarError.truncated(entry: currentPath) } }
            let n = Int(min(left, UInt64(end - start)))
            consume(n)
            left -= UInt64(n)
        }
    }

    /// Reads and discards what follows the end-of-archive marker — the rest of the last tar
    /// record (GNU tar pads to a 10 KiB record by default, larger with `-b`) and, for gzip, the
    /// trailer that proves the stream complete. More than `trailingLimit` bytes (default 1 MiB)
    /// there is not an archive: `/dev/zero` would otherwise be read forever.
    public mutating func drainSource(trailingLimit: UInt64 = 1 << 20) throws {
        var trailing = UInt64(end - start)
        start = 0
        end = 0
        while !eof {
            guard trailing <= trailingLimit else { throw TarError.trailingData(limit: trailingLimit) }
            let n = try source.read(into: buffer)
            if n == 0 { eof = true }
            trailing += UInt64(n)
        }
        guard trailing <= trailingLimit else { throw TarError.trailingData(limit: trailingLimit) }
    }

    /// Reads the current entry's data into `into`; returns 0 when the entry is exhausted.
    public mutating func readData(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remainingData > 0 else { return 0 }
        if start == end { guard try ensure(1) else { throw TarError.truncated(entry: currentPath) } }
        let n = Int(min(remainingData, UInt64(end - start), UInt64(target.count)))
        target.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
        consume(n)
        remainingData -= UInt64(n)
        return n
    }

    private mutating func readAllData(limit: UInt64, kind: String) throws -> [UInt8] {
        guard remainingData <= limit else { throw TarError.oversizedHeader(kind: kind, size: remainingData) }
        var out = [UInt8](repeating: 0, count: Int(remainingData))
        var filled = 0
        while filled < out.count {
            let n = try out.withUnsafeMutableBytes { try readData(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            filled += n
        }
        return out
    }

    /// The next entry, or nil at the end of the archive.
    public mutating func next() throws -> TarEntry? {
        try skip(remainingData + remainingPadding)
        remainingData = 0
        remainingPadding = 0
        var pax: [String: String] = [:]
        var gnuLongName: String?
        var gnuLongLink: String?

        while true {
            let headerOffset = offset
            guard try ensure(512) else {
                // A missing end-of-archive marker is tolerated only on a block boundary with
                // no pending extension header, as GNU tar does.
                if end - start == 0 && pax.isEmpty && gnuLongName == nil && gnuLongLink == nil { return nil }
                throw TarError.truncated(entry: gnuLongName ?? pax["path"])
            }
            // Copied out: later reads may move the buffer's contents.
            let headerBytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[start..<(start + 512)]))
            if headerBytes.allSatisfy({ $0 == 0 }) {
                consume(512)
                return nil
            }
            let entry = try headerBytes.withUnsafeBytes { header in
                try parseHeader(header, at: headerOffset, pax: &pax, gnuLongName: &gnuLongName, gnuLongLink: &gnuLongLink)
            }
            if let entry { return entry }
        }
    }

    /// Handles one header: extension headers update the pending state and return nil.
    private mutating func parseHeader(_ header: UnsafeRawBufferPointer, at headerOffset: UInt64, pax: inout [String: String],
                                      gnuLongName: inout String?, gnuLongLink: inout String?) throws -> TarEntry? {
            try verifyChecksum(header, at: headerOffset)
            let typeflag = header[156]
            let size = try number(header, 124, 12, "size", headerOffset)
            consume(512)
            remainingData = size
            remainingPadding = (512 - size % 512) % 512

            switch typeflag {
            case UInt8(ascii: "x"):
                pax.merge(try parsePax(try readAllData(limit: Self.metadataLimit, kind: "PAX header"))) { $1 }
                try skip(remainingPadding); remainingPadding = 0
                return nil
            case UInt8(ascii: "g"):
                globalPax.merge(try parsePax(try readAllData(limit: Self.metadataLimit, kind: "PAX global header"))) { $1 }
                try skip(remainingPadding); remainingPadding = 0
                return nil
            case UInt8(ascii: "L"):
                gnuLongName = cString(try readAllData(limit: Self.metadataLimit, kind: "GNU long name"))
                try skip(remainingPadding); remainingPadding = 0
                return nil
            case UInt8(ascii: "K"):
                gnuLongLink = cString(try readAllData(limit: Self.metadataLimit, kind: "GNU long link name"))
                try skip(remainingPadding); remainingPadding = 0
                return nil
            default:
                break
            }

            let attributes = globalPax.merging(pax) { $1 }
            let isUstar = header[257..<262].elementsEqual("ustar".utf8) && header[263] == UInt8(ascii: "0")
            var path = field(header, 0, 100)
            if isUstar {
                let prefix = field(header, 345, 155)
                if !prefix.isEmpty { path = prefix + "/" + path }
            }
            path = attributes["path"] ?? gnuLongName ?? path
            currentPath = path
            let linkTarget = attributes["linkpath"] ?? gnuLongLink ?? field(header, 157, 100)

            let kind: TarEntry.Kind
            switch typeflag {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): kind = path.hasSuffix("/") ? .directory : .regular
            case UInt8(ascii: "1"): kind = .hardLink
            case UInt8(ascii: "2"): kind = .symbolicLink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default: throw TarError.unsupportedType(entry: path, type: typeflag)
            }
            if let paxSize = attributes["size"] {
                guard let value = UInt64(paxSize) else { throw TarError.badPaxRecord("size=\(paxSize)") }
                remainingData = value
                remainingPadding = (512 - value % 512) % 512
            }
            // Links, directories and devices carry no data, whatever the size field says.
            if kind != .regular {
                remainingPadding = 0
                try skip(remainingData + (512 - remainingData % 512) % 512)
                remainingData = 0
            }
            let mode = UInt32(truncatingIfNeeded: try number(header, 100, 8, "mode", headerOffset)) & 0o7777
            let headerUID = UInt32(truncatingIfNeeded: try number(header, 108, 8, "uid", headerOffset))
            let headerGID = UInt32(truncatingIfNeeded: try number(header, 116, 8, "gid", headerOffset))
            let headerMtime = Int64(bitPattern: try number(header, 136, 12, "mtime", headerOffset))
            let isDevice = kind == .characterDevice || kind == .blockDevice
            return TarEntry(
                path: path,
                kind: kind,
                mode: mode,
                uid: try attributes["uid"].map { try paxNumber($0, "uid") } ?? headerUID,
                gid: try attributes["gid"].map { try paxNumber($0, "gid") } ?? headerGID,
                size: remainingData,
                mtime: attributes["mtime"].flatMap { Int64($0.split(separator: ".").first ?? "") } ?? headerMtime,
                linkTarget: linkTarget,
                deviceMajor: isDevice ? UInt32(truncatingIfNeeded: try number(header, 329, 8, "devmajor", headerOffset)) : 0,
                deviceMinor: isDevice ? UInt32(truncatingIfNeeded: try number(header, 337, 8, "devminor", headerOffset)) : 0
            )
    }

    private func verifyChecksum(_ header: UnsafeRawBufferPointer, at headerOffset: UInt64) throws {
        let recorded = try number(header, 148, 8, "checksum", headerOffset)
        var unsigned: UInt64 = 0
        var signed: Int64 = 0
        for i in 0..<512 {
            let byte = (148..<156).contains(i) ? UInt8(ascii: " ") : header[i]
            unsigned += UInt64(byte)
            signed += Int64(Int8(bitPattern: byte))
        }
        // Some historic tars summed signed chars; accept either.
        guard recorded == unsigned || Int64(bitPattern: recorded) == signed else {
            throw TarError.badChecksum(offset: headerOffset)
        }
    }

    private func paxNumber(_ text: String, _ name: String) throws -> UInt32 {
        guard let value = UInt32(text) else { throw TarError.badPaxRecord("\(name)=\(text)") }
        return value
    }
}

/// A NUL-terminated (or full-width) header field as a string.
private func field(_ header: UnsafeRawBufferPointer, _ at: Int, _ width: Int) -> String {
    let slice = header[at..<(at + width)]
    let end = slice.firstIndex(of: 0) ?? slice.endIndex
    return String(decoding: header[at..<end], as: UTF8.self)
}

private func cString(_ bytes: [UInt8]) -> String {
    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
}

/// Octal ASCII (space or NUL padded), or GNU base-256 when the high bit of the first byte is set.
func number(_ header: UnsafeRawBufferPointer, _ at: Int, _ width: Int, _ name: String, _ headerOffset: UInt64) throws -> UInt64 {
    let bytes = header[at..<(at + width)]
    if let first = bytes.first, first & 0x80 != 0 {
        guard first & 0x40 == 0 else { throw TarError.badNumber(field: name, offset: headerOffset) } // negative
        var value: UInt64 = UInt64(first & 0x3f)
        for byte in bytes.dropFirst() {
            guard value >> 56 == 0 else { throw TarError.badNumber(field: name, offset: headerOffset) }
            value = value << 8 | UInt64(byte)
        }
        return value
    }
    var value: UInt64 = 0
    var seenDigit = false
    var done = false
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            guard !done, value >> 60 == 0 else { throw TarError.badNumber(field: name, offset: headerOffset) }
            value = value << 3 | UInt64(byte - UInt8(ascii: "0"))
            seenDigit = true
        case UInt8(ascii: " "), 0:
            if seenDigit { done = true }
        default:
            throw TarError.badNumber(field: name, offset: headerOffset)
        }
    }
    return value
}

/// PAX extended header records: "<length> <key>=<value>\n".
func parsePax(_ data: [UInt8]) throws -> [String: String] {
    var result: [String: String] = [:]
    var index = 0
    while index < data.count {
        guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
              let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
              length > space - index, index + length <= data.count, data[index + length - 1] == UInt8(ascii: "\n")
        else { throw TarError.badPaxRecord(String(decoding: data[index...].prefix(60), as: UTF8.self)) }
        let record = data[(space + 1)..<(index + length - 1)]
        guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else {
            throw TarError.badPaxRecord(String(decoding: record, as: UTF8.self))
        }
        result[String(decoding: record[record.startIndex..<equals], as: UTF8.self)] =
            String(decoding: record[(equals + 1)...], as: UTF8.self)
        index += length
    }
    return result
}
