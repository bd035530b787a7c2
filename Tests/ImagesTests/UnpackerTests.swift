#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import LinuxKit
import TestSupport
import Testing
@testable import Images

@Suite struct UnpackerTests {
    /// Unpacks into a fresh root (and a sibling "outside" directory that must stay empty).
    func unpack(_ tar: TarBuilder) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        try Files.makeDirectories(dir.path + "/root")
        try Files.makeDirectories(dir.path + "/outside")
        let root = try FileDescriptor.open(dir.path + "/root", O_RDONLY | O_DIRECTORY)
        var reader = TarReader(DecompressingStream(MemoryByteStream(tar.bytes)))
        var unpacker = Unpacker(rootFD: root.raw, applyOwnership: false)
        defer { unpacker.close(); reader.source.close(); reader.close() }
        try unpacker.unpack(&reader)
        return dir
    }

    func expectRefused(_ tar: TarBuilder, _ reasonContains: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let dir = try unpack(tar)
            #expect(try Files.listDirectory(dir.path + "/outside").isEmpty, sourceLocation: sourceLocation)
            Issue.record("archive was unpacked, expected refusal (\(reasonContains))", sourceLocation: sourceLocation)
        } catch let error as UnpackError {
            #expect("\(error)".contains(reasonContains), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        #expect(!Files.exists("/tmp/swiftainer-pwned"), sourceLocation: sourceLocation)
    }

    @Test func unpacksFilesDirectoriesLinksAndModes() throws {
        var tar = TarBuilder()
        tar.directory("./bin/")
        tar.file("./bin/busybox", "#!binary", mode: 0o755)
        tar.symlink("./bin/sh", to: "/bin/busybox")
        tar.hardlink("./bin/busybox2", to: "./bin/busybox")
        tar.directory("./readonly/", mode: 0o555)
        tar.file("./readonly/inside", "created before the directory turned read-only")
        tar.file("./implicit/parent/file", "parents are created")
        tar.end()
        let dir = try unpack(tar)
        let root = dir.path + "/root"
        #expect(try Files.readString(root + "/bin/busybox") == "#!binary")
        var st = stat()
        stat(root + "/bin/busybox", &st)
        #expect(st.st_mode & 0o7777 == 0o755)
        #expect(st.st_nlink == 2)
        #expect(st.st_mtim.tv_sec == 1_700_000_000)
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink(root + "/bin/sh", &buffer, 255)
        #expect(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == "/bin/busybox")
        stat(root + "/readonly", &st)
        #expect(st.st_mode & 0o7777 == 0o555)
        #expect(try Files.readString(root + "/implicit/parent/file") == "parents are created")
    }

    @Test func laterEntriesReplaceEarlierOnes() throws {
        var tar = TarBuilder()
        tar.file("x", "first")
        tar.file("x", "second")
        tar.directory("d/")
        tar.file("d/keep", "kept")
        tar.directory("d/")
        tar.end()
        let dir = try unpack(tar)
        #expect(try Files.readString(dir.path + "/root/x") == "second")
        #expect(try Files.readString(dir.path + "/root/d/keep") == "kept")
    }

    @Test func symlinksInsideTheRootAreFollowed() throws {
        var tar = TarBuilder()
        tar.directory("real/")
        tar.symlink("alias", to: "real")
        tar.symlink("deep", to: "real/../real/./")
        tar.file("alias/file", "through a symlink that stays inside")
        tar.file("deep/file2", "also inside")
        tar.end()
        let dir = try unpack(tar)
        #expect(try Files.readString(dir.path + "/root/real/file") == "through a symlink that stays inside")
        #expect(try Files.readString(dir.path + "/root/real/file2") == "also inside")
    }

    @Test func refusesParentTraversal() {
        var tar = TarBuilder()
        tar.file("../../../../tmp/swiftainer-pwned", "escaped")
        tar.end()
        expectRefused(tar, "'..'")
    }

    @Test func refusesAbsolutePaths() {
        var tar = TarBuilder()
        tar.file("/tmp/swiftainer-pwned", "escaped")
        tar.end()
        expectRefused(tar, "absolute path")
    }

    @Test func refusesWritingThroughAnAbsoluteSymlink() {
        var tar = TarBuilder()
        tar.symlink("evil", to: "/tmp")
        tar.file("evil/swiftainer-pwned", "escaped")
        tar.end()
        expectRefused(tar, "outside the image root")
    }

    @Test func refusesWritingThroughARelativeSymlinkThatClimbsOut() {
        var tar = TarBuilder()
        tar.directory("a/")
        tar.symlink("a/up", to: "../../../../../../tmp")
        tar.file("a/up/swiftainer-pwned", "escaped")
        tar.end()
        expectRefused(tar, "outside the image root")
    }

    @Test func refusesChainedSymlinkEscape() {
        var tar = TarBuilder()
        tar.symlink("one", to: "two")
        tar.symlink("two", to: "/")
        tar.file("one/tmp/swiftainer-pwned", "escaped")
        tar.end()
        expectRefused(tar, "outside the image root")
    }

    @Test func refusesHardLinksOutOfTheRoot() {
        var tar = TarBuilder()
        tar.hardlink("passwd", to: "../../../../etc/passwd")
        tar.end()
        expectRefused(tar, "'..'")
    }

    @Test func aSymlinkEntryItselfMayPointAnywhere() throws {
        // Only writing *through* it is dangerous; the link itself is just data (Alpine has many).
        var tar = TarBuilder()
        tar.symlink("etc-link", to: "/etc")
        tar.end()
        let dir = try unpack(tar)
        var st = stat()
        #expect(lstat(dir.path + "/root/etc-link", &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
        #expect(try Files.listDirectory(dir.path + "/outside").isEmpty)
    }
}
