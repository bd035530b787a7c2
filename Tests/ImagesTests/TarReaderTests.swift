import LinuxKit
import Testing
@testable import Images

@Suite struct TarReaderTests {
    func entries(_ bytes: [UInt8]) throws -> [(TarEntry, [UInt8])] {
        var reader = TarReader(DecompressingStream(MemoryByteStream(bytes)), bufferSize: 1024)
        defer { reader.source.close(); reader.close() }
        var result: [(TarEntry, [UInt8])] = []
        var chunk = [UInt8](repeating: 0, count: 100)
        while let entry = try reader.next() {
            var content: [UInt8] = []
            while true {
                let n = try chunk.withUnsafeMutableBytes { try reader.readData(into: $0) }
                if n == 0 { break }
                content += chunk[0..<n]
            }
            result.append((entry, content))
        }
        return result
    }

    @Test func readsEveryBasicEntryType() throws {
        var tar = TarBuilder()
        tar.directory("./etc/", mode: 0o750)
        tar.file("./etc/passwd", "root:x:0:0::/root:/bin/sh\n", mode: 0o4755)
        tar.symlink("./bin/sh", to: "/bin/busybox")
        tar.hardlink("./etc/passwd2", to: "./etc/passwd")
        tar.header("./dev/null", type: UInt8(ascii: "3"), mode: 0o666)
        tar.header("./fifo", type: UInt8(ascii: "6"))
        tar.end()
        let read = try entries(tar.bytes)
        #expect(read.map(\.0.kind) == [.directory, .regular, .symbolicLink, .hardLink, .characterDevice, .fifo])
        #expect(read[0].0.mode == 0o750)
        #expect(read[1].0.mode == 0o4755)
        #expect(String(decoding: read[1].1, as: UTF8.self) == "root:x:0:0::/root:/bin/sh\n")
        #expect(read[1].0.mtime == 1_700_000_000)
        #expect(read[2].0.linkTarget == "/bin/busybox")
        #expect(read[3].0.linkTarget == "./etc/passwd")
    }

    @Test func gzippedAndPlainArchivesReadTheSame() throws {
        var tar = TarBuilder()
        tar.file("a", String(repeating: "x", count: 5000))
        tar.end()
        let plain = try entries(tar.bytes)
        let zipped = try entries(gzip(tar.bytes))
        #expect(plain.map(\.1) == zipped.map(\.1))
        #expect(zipped[0].1.count == 5000)
    }

    @Test func paxAndGnuLongNamesWin() throws {
        let longName = "./" + String(repeating: "d/", count: 80) + "file"
        var tar = TarBuilder()
        tar.pax(["path": longName, "uid": "123456", "mtime": "1700000001.5"])
        tar.file("truncated-name", "pax")
        tar.gnuLongName(longName + "2")
        tar.file("short", "gnu")
        tar.file("file", "prefixed")
        tar.end()
        var withPrefix = TarBuilder()
        withPrefix.header("file", type: UInt8(ascii: "0"), prefix: "some/prefix/dir")
        withPrefix.end()
        let read = try entries(tar.bytes)
        #expect(read[0].0.path == longName)
        #expect(read[0].0.uid == 123456)
        #expect(read[0].0.mtime == 1_700_000_001)
        #expect(read[1].0.path == longName + "2")
        #expect(read[2].0.path == "file") // extension headers apply to one entry only
        #expect(try entries(withPrefix.bytes)[0].0.path == "some/prefix/dir/file")
    }

    @Test func base256SizeIsDecoded() throws {
        var tar = TarBuilder()
        var field = [UInt8](repeating: 0, count: 12)
        field[0] = 0x80
        field[11] = 3
        tar.header("big", type: UInt8(ascii: "0"), sizeField: field)
        tar.data([1, 2, 3])
        tar.end()
        #expect(try entries(tar.bytes)[0].1 == [1, 2, 3])
    }

    @Test func badChecksumIsReported() throws {
        var tar = TarBuilder()
        tar.header("x", type: UInt8(ascii: "0"), corruptChecksum: true)
        tar.end()
        #expect(throws: TarError.badChecksum(offset: 0)) { try entries(tar.bytes) }
    }

    @Test func truncatedDataIsReported() throws {
        var tar = TarBuilder()
        tar.file("x", String(repeating: "y", count: 2000))
        #expect(throws: TarError.truncated(entry: "x")) { try entries(Array(tar.bytes.prefix(1100))) }
    }

    @Test func truncatedHeaderIsReported() throws {
        var tar = TarBuilder()
        tar.file("x", "y")
        tar.end()
        #expect(throws: TarError.self) { try entries(Array(tar.bytes.prefix(1024 + 100))) }
    }

    @Test func hugeLongNameIsRefused() throws {
        var tar = TarBuilder()
        tar.header("././@LongLink", type: UInt8(ascii: "L"), size: 2 << 20)
        tar.end()
        #expect(throws: TarError.oversizedHeader(kind: "GNU long name", size: 2 << 20)) { try entries(tar.bytes) }
    }

    @Test func malformedPaxRecordIsRefused() throws {
        var tar = TarBuilder()
        let payload = Array("99 path=x\n".utf8)
        tar.header("p", type: UInt8(ascii: "x"), size: payload.count)
        tar.data(payload)
        tar.file("f", "")
        tar.end()
        #expect(throws: TarError.self) { try entries(tar.bytes) }
    }

    @Test func unsupportedTypeIsNamed() throws {
        var tar = TarBuilder()
        tar.header("sparse", type: UInt8(ascii: "S"))
        tar.end()
        #expect(throws: TarError.unsupportedType(entry: "sparse", type: UInt8(ascii: "S"))) { try entries(tar.bytes) }
    }

    @Test func truncatedGzipIsReported() throws {
        var tar = TarBuilder()
        tar.file("x", String(repeating: "abc", count: 10000))
        tar.end()
        let zipped = gzip(tar.bytes)
        #expect(throws: CompressionError.truncated) { try entries(Array(zipped.prefix(zipped.count / 2))) }
    }

    @Test func corruptGzipIsReported() throws {
        var tar = TarBuilder()
        tar.file("x", "hello")
        tar.end()
        var zipped = gzip(tar.bytes)
        for i in 12..<min(40, zipped.count) { zipped[i] ^= 0xa5 }
        #expect {
            try entries(zipped)
        } throws: { error in
            if case .corrupt = error as? CompressionError { return true }
            return false
        }
    }

    @Test func concatenatedGzipMembersAreOneStream() throws {
        var first = TarBuilder()
        first.file("a", "1")
        var second = TarBuilder()
        second.file("b", "2")
        second.end()
        let read = try entries(gzip(first.bytes) + gzip(second.bytes))
        #expect(read.map(\.0.path) == ["a", "b"])
    }
}
