#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import TestSupport
import Testing
@testable import Images

/// Property test: corrupted archives (plain and gzipped) never crash the reader or unpacker,
/// fail only with the reader's, gzip's or the unpacker's own errors, and never write outside
/// the root. Seeded, so a failure replays.
@Suite struct TarFuzzTests {
    func seedArchive() -> [UInt8] {
        var tar = TarBuilder()
        tar.directory("./dir/")
        tar.file("./dir/file", "content of the file")
        tar.symlink("./dir/link", to: "file")
        tar.hardlink("./dir/hard", to: "./dir/file")
        tar.pax(["path": "./dir/" + String(repeating: "long", count: 40)])
        tar.file("ignored", "pax")
        tar.gnuLongName("./dir/" + String(repeating: "gnu", count: 50))
        tar.file("ignored", "gnu")
        tar.end()
        return tar.bytes
    }

    @Test func corruptedArchivesFailCleanlyAndStayInside() throws {
        var random = SplitMix(seed: 0x7a2_f022)
        let plain = seedArchive()
        let zipped = gzip(plain)
        let dir = TemporaryDirectory()
        try Files.makeDirectories(dir.path + "/outside")
        for iteration in 0..<fuzzIterations(default: 600) {
            var bytes = iteration % 3 == 0 ? zipped : plain
            for _ in 0..<(1 + Int(random.next() % 6)) {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes[at] = [0x2e, 0x2f, 0x00, 0x35, 0x32, 0x31][Int(random.next() % 6)] // ./ NUL types
                default: bytes = Array(bytes[0..<max(1, at)])
                }
            }
            let root = dir.path + "/root-\(iteration)"
            try Files.makeDirectories(root)
            let rootFD = try FileDescriptor.open(root, O_RDONLY | O_DIRECTORY)
            var reader = TarReader(DecompressingStream(MemoryByteStream(bytes)), bufferSize: 700)
            var unpacker = Unpacker(rootFD: rootFD.raw, applyOwnership: false)
            do {
                try unpacker.unpack(&reader)
            } catch is TarError {
            } catch is CompressionError {
            } catch is UnpackError {
            } catch {
                Issue.record("iteration \(iteration): unexpected error \(error)")
            }
            unpacker.close()
            reader.source.close()
            reader.close()
            rootFD.close()
            try Files.removeTree(root)
        }
        #expect(try Files.listDirectory(dir.path + "/outside").isEmpty)
        #expect(try Files.listDirectory(dir.path) == ["outside"])
    }
}
