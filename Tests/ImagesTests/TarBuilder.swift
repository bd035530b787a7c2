import CZlib
@testable import Images

/// Builds tar archives byte by byte, including the malformed and malicious ones real tar
/// refuses to write.
struct TarBuilder {
    var bytes: [UInt8] = []

    mutating func header(_ name: String, type: UInt8, size: Int = 0, mode: Int = 0o644, link: String = "",
                         uid: Int = 0, gid: Int = 0, mtime: Int = 1_700_000_000, prefix: String = "",
                         sizeField: [UInt8]? = nil, corruptChecksum: Bool = false) {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ at: Int, _ width: Int) {
            for (i, b) in text.utf8.prefix(width).enumerated() { h[at + i] = b }
        }
        func octal(_ value: Int, _ at: Int, _ width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: width - 1 - digits.count) + digits, at, width - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(uid, 108, 8)
        octal(gid, 116, 8)
        if let sizeField { for (i, b) in sizeField.enumerated() { h[124 + i] = b } } else { octal(size, 124, 12) }
        octal(mtime, 136, 12)
        h[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        put(prefix, 345, 155)
        for i in 148..<156 { h[i] = 0x20 }
        var sum = h.reduce(0) { $0 + Int($1) }
        if corruptChecksum { sum += 1 }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: 6 - digits.count) + digits, 148, 6)
        h[154] = 0
        h[155] = 0x20
        bytes += h
    }

    mutating func data(_ content: [UInt8]) {
        bytes += content
        bytes += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    mutating func file(_ name: String, _ content: String, mode: Int = 0o644) {
        header(name, type: UInt8(ascii: "0"), size: content.utf8.count, mode: mode)
        data(Array(content.utf8))
    }

    mutating func directory(_ name: String, mode: Int = 0o755) { header(name, type: UInt8(ascii: "5"), mode: mode) }
    mutating func symlink(_ name: String, to target: String) { header(name, type: UInt8(ascii: "2"), mode: 0o777, link: target) }
    mutating func hardlink(_ name: String, to target: String) { header(name, type: UInt8(ascii: "1"), link: target) }

    mutating func pax(_ records: [String: String]) {
        var payload: [UInt8] = []
        for (key, value) in records.sorted(by: { $0.key < $1.key }) {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).utf8.count + body.utf8.count != length { length += 1 }
            payload += Array("\(length)\(body)".utf8)
        }
        header("PaxHeaders/x", type: UInt8(ascii: "x"), size: payload.count)
        data(payload)
    }

    mutating func gnuLongName(_ name: String) {
        let payload = Array(name.utf8) + [0]
        header("././@LongLink", type: UInt8(ascii: "L"), size: payload.count)
        data(payload)
    }

    mutating func end() { bytes += [UInt8](repeating: 0, count: 1024) }
}

/// gzip of `data` through zlib (windowBits 31 selects the gzip wrapper).
func gzip(_ data: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    var output = [UInt8](repeating: 0, count: data.count + 1024)
    var input = data
    let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
        output.withUnsafeMutableBufferPointer { outBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            stream.next_out = outBuf.baseAddress
            stream.avail_out = uInt(outBuf.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return outBuf.count - Int(stream.avail_out)
        }
    }
    deflateEnd(&stream)
    return Array(output[0..<produced])
}
