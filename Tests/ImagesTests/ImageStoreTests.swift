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
        #expect(try Files.readString(store.rootfsPath(of: record) + "/etc/os-release") == "ID=test\n")
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
