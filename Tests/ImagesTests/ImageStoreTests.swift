#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import TestSupport
import Testing
@testable import Images

@Suite struct ImageStoreTests {
    func archive(_ extra: String = "") -> [UInt8] {
        var tar = TarBuilder()
        tar.directory("./bin/")
        tar.file("./bin/sh", "#!/bin/busybox\(extra)", mode: 0o755)
        tar.file("./etc/os-release", "ID=test\n")
        tar.end()
        return gzip(tar.bytes)
    }

    func write(_ bytes: [UInt8], in dir: TemporaryDirectory, name: String = "image.tar.gz") throws -> String {
        let path = dir.path + "/" + name
        try Files.writeAtomically(path, bytes)
        return path
    }

    /// Everything in the store, to compare before and after a failed import.
    func snapshot(_ store: ImageStore) -> [String] {
        func walk(_ path: String, _ prefix: String) -> [String] {
            ((try? Files.listDirectory(path)) ?? []).flatMap { name -> [String] in
                let full = path + "/" + name
                guard name != "lock" else { return [] }
                return [prefix + name] + (Files.isDirectory(full) ? walk(full, prefix + name + "/") : [])
            }
        }
        let repos = (try? Files.readString(store.root + "/repositories.json")) ?? ""
        return walk(store.root, "") + [repos]
    }

    @Test func importTagsAndResolves() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        let file = try write(archive(), in: dir)
        let record = try store.importArchive(path: file, as: try ImageReference(parsing: "test:1"))
        // The id is the SHA-256 of the uncompressed tar stream.
        var tar = TarBuilder()
        tar.directory("./bin/")
        tar.file("./bin/sh", "#!/bin/busybox", mode: 0o755)
        tar.file("./etc/os-release", "ID=test\n")
        tar.end()
        var hash = SHA256()
        hash.update(tar.bytes)
        #expect(record.id == "sha256:" + SHA256.hex(hash.finalize()))
        #expect(try store.resolve("test:1") == record)
        #expect(try store.resolve(String(record.hex.prefix(12))) == record)
        #expect(throws: ImageError.self) { try store.resolve("test") } // test:latest does not exist
        #expect(try Files.readString(store.layerDirectories(of: record)[0] + "/etc/os-release") == "ID=test\n")
        let listed = try store.list()
        #expect(listed.count == 1 && listed[0].tags.map(\.description) == ["test:1"])
        #expect(try Files.listDirectory(store.root + "/tmp").isEmpty)
    }

    @Test func sameContentTwiceIsOneImageWithTwoTags() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        let file = try write(archive(), in: dir)
        let a = try store.importArchive(path: file, as: ImageReference(name: "a", tag: "latest"))
        let b = try store.importArchive(path: file, as: ImageReference(name: "b", tag: "latest"))
        #expect(a.id == b.id)
        #expect(try store.list().count == 1)
        #expect(try store.remove("a", force: false) { _ in nil } == ["Untagged: a:latest"])
        #expect(try store.remove("b", force: false) { _ in nil } == ["Untagged: b:latest", "Deleted: \(b.id)"])
        #expect(try Files.listDirectory(store.root + "/layers").isEmpty)
    }

    @Test func failedImportsLeaveTheStoreAsItWas() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        try store.importArchive(path: try write(archive(), in: dir), as: ImageReference(name: "good", tag: "latest"))
        let before = snapshot(store)

        let good = archive("-different")
        let truncated = try write(Array(good.prefix(good.count - 20)), in: dir, name: "truncated.tar.gz")
        var malicious = TarBuilder()
        malicious.file("ok", "fine")
        malicious.symlink("evil", to: "/tmp")
        malicious.file("evil/swiftainer-pwned", "escaped")
        malicious.end()
        let evil = try write(gzip(malicious.bytes), in: dir, name: "evil.tar.gz")

        for file in [truncated, evil, dir.path + "/missing.tar.gz"] {
            #expect(throws: ImageError.self) {
                try store.importArchive(path: file, as: ImageReference(name: "good", tag: "latest"))
            }
            #expect(snapshot(store) == before, "store changed after failed import of \(file)")
        }
        #expect(!Files.exists("/tmp/swiftainer-pwned"))
    }

    /// Issue #14.8: an archive that is all end marker, one followed by endless data, and one
    /// larger than the limit are refused quickly, with the store unchanged.
    @Test func emptyEndlessAndOversizedArchivesAreRefused() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        let reference = ImageReference(name: "x", tag: "latest")
        try store.importArchive(path: try write(archive(), in: dir), as: ImageReference(name: "good", tag: "latest"))
        let before = snapshot(store)
        func refusal(_ file: String, limit: UInt64 = ImageStore.defaultImportLimit) -> String {
            defer { #expect(snapshot(store) == before, "store changed after a failed import of \(file)") }
            do {
                _ = try store.importArchive(path: file, as: reference, limit: limit)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        // /dev/zero: the first block is the end marker. It used to be drained forever.
        #expect(refusal("/dev/zero").hasSuffix("the archive has no entries (it starts with the end-of-archive marker)"))
        // 4 MiB of zeros, gzipped: the same, for compressed input.
        let zeros = try write(gzip([UInt8](repeating: 0, count: 4 << 20)), in: dir, name: "zeros.gz")
        #expect(refusal(zeros).contains("has no entries"))
        // A real archive followed by more than 1 MiB of data.
        var tar = TarBuilder()
        tar.file("a", "content")
        tar.end()
        let padded = try write(gzip(tar.bytes + [UInt8](repeating: 0, count: 2 << 20)), in: dir, name: "padded.tar.gz")
        #expect(refusal(padded).contains("more than 1048576 bytes follow the end-of-archive marker"))
        // The limit counts the uncompressed stream.
        let big = try write(archive(String(repeating: "x", count: 100_000)), in: dir, name: "big.tar.gz")
        #expect(refusal(big, limit: 50_000).contains("the archive unpacks to more than 50000 bytes"))
        // Ordinary padding to a 10 KiB record (GNU tar's) is an archive like any other.
        let record = try write(gzip(tar.bytes + [UInt8](repeating: 0, count: 10240 - tar.bytes.count % 10240)), in: dir, name: "record.tar.gz")
        try store.importArchive(path: record, as: reference)
        #expect(try store.resolve("x:latest").size > 0)
    }

    @Test func removingAnImageInUseIsRefused() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        try store.importArchive(path: try write(archive(), in: dir), as: ImageReference(name: "used", tag: "latest"))
        #expect(throws: ImageError.self) { try store.remove("used", force: false) { _ in "happy_turing" } }
        #expect(try store.resolve("used").size > 0)
    }
}

@Suite struct ImageReferenceTests {
    @Test func parsesDockerStyleReferences() throws {
        #expect(try ImageReference(parsing: "alpine").description == "alpine:latest")
        #expect(try ImageReference(parsing: "alpine:3.20").tag == "3.20")
        let registry = try ImageReference(parsing: "localhost:5000/team/app:v1")
        #expect(registry.name == "localhost:5000/team/app")
        #expect(registry.tag == "v1")
        #expect(try ImageReference(parsing: "registry.example:443/app").tag == "latest")
    }

    @Test(arguments: ["", "Alpine", "alpine:", "alpine:-bad", "a//b", "-x", "x-", "name@sha256:abc", "a:b:c",
                      String(repeating: "a", count: 300)])
    func rejectsInvalidReferences(_ text: String) {
        #expect(throws: ImageReference.ParseError.self) { try ImageReference(parsing: text) }
    }
}
