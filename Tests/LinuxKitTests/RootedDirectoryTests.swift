#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import Testing
import TestSupport

/// Paths resolved inside a root, by the kernel (openat2) and by the fallback walk: both must
/// land on the same object, and neither may leave the root.
@Suite struct RootedDirectoryTests {
    let directory = TemporaryDirectory(prefix: "swiftainer-rooted")
    var root: String { directory.path + "/root" }

    init() throws {
        try Files.makeDirectories(directory.path + "/root/etc")
        try Files.makeDirectories(directory.path + "/outside")
        try Files.writeAtomically(directory.path + "/root/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        try check(symlink("/etc", directory.path + "/root/absolute"), "symlink")
        try check(symlink("../../../../..", directory.path + "/root/up"), "symlink")
        try check(symlink("loop", directory.path + "/root/loop"), "symlink")
        try check(symlink(directory.path + "/outside", directory.path + "/root/host"), "symlink")
    }

    func opened(_ path: String, _ resolver: RootedDirectory.Resolver) throws -> String {
        let fd = try RootedDirectory(path: root, resolver: resolver).open(path)
        return Files.readLink("/proc/self/fd/\(fd.raw)") ?? "?"
    }

    @Test(arguments: [RootedDirectory.Resolver.kernel, .walk])
    func symlinksAndDotDotStayInsideTheRoot(_ resolver: RootedDirectory.Resolver) throws {
        #expect(try opened("/absolute/passwd", resolver) == root + "/etc/passwd")
        #expect(try opened("up/etc", resolver) == root + "/etc")
        #expect(try opened("/../../etc/../etc/./passwd", resolver) == root + "/etc/passwd")
        #expect(try opened("/", resolver) == root)
        // An absolute link to a host directory means that path inside the root: missing there.
        #expect(throws: SystemError.self) { _ = try opened("/host", resolver) }
        do {
            _ = try opened("/loop", resolver)
            Issue.record("a symlink loop resolved")
        } catch let error as SystemError {
            #expect(error.errno == ELOOP)
        }
        do {
            _ = try opened("/etc/passwd/x", resolver)
            Issue.record("a file was walked through")
        } catch let error as SystemError {
            #expect(error.errno == ENOTDIR)
        }
    }

    @Test(arguments: [RootedDirectory.Resolver.kernel, .walk])
    func readFlagsReadTheFileFound(_ resolver: RootedDirectory.Resolver) throws {
        let file = try RootedDirectory(path: root, resolver: resolver).open("/absolute/passwd", flags: O_RDONLY)
        #expect(String(decoding: try file.readAll(), as: UTF8.self).hasPrefix("root:x:0:0"))
    }

    @Test(arguments: [RootedDirectory.Resolver.kernel, .walk])
    func madePathsAreMadeInsideTheRoot(_ resolver: RootedDirectory.Resolver) throws {
        let rooted = try RootedDirectory(path: root, resolver: resolver)
        _ = try rooted.makeDirectories("/host/new/deeper")
        #expect(Files.isDirectory(root + directory.path + "/outside/new/deeper"))
        #expect(!Files.exists(directory.path + "/outside/new"))
        _ = try rooted.makeFile("/up/var/run/file")
        #expect(Files.exists(root + "/var/run/file"))
        let (parent, name) = try rooted.parent(of: "/absolute/group")
        #expect(name == "group")
        #expect(Files.readLink("/proc/self/fd/\(parent.raw)") == root + "/etc")
    }

    @Test func anOpenHandleKeepsNamingTheObjectFoundAfterItsPathIsSwapped() throws {
        let rooted = try RootedDirectory(path: root)
        let etc = try rooted.open("/etc")
        #expect(rename(root + "/etc", root + "/etc.old") == 0)
        #expect(symlink(directory.path + "/outside", root + "/etc") == 0)
        #expect(Files.readLink("/proc/self/fd/\(etc.raw)") == root + "/etc.old")
    }
}

@Suite struct RemoveTreeByDescriptorTests {
    @Test func removesEverythingBelowAndNeverFollowsASymlink() throws {
        let directory = TemporaryDirectory(prefix: "swiftainer-rmtree")
        let tree = directory.path + "/tree"
        try Files.makeDirectories(tree + "/a/b/c")
        try Files.makeDirectories(directory.path + "/outside")
        try Files.writeAtomically(directory.path + "/outside/keep", "x")
        try Files.writeAtomically(tree + "/a/file", "x")
        try Files.writeAtomically(tree + "/a/b/c/deep", "x")
        try check(symlink(directory.path + "/outside", tree + "/a/link"), "symlink")
        try check(mkfifo(tree + "/a/b/fifo", 0o600), "mkfifo")
        try Files.removeTree(tree)
        #expect(!Files.exists(tree))
        #expect(Files.exists(directory.path + "/outside/keep"))
        try Files.removeTree(tree) // gone already: nothing to do
        try Files.writeAtomically(directory.path + "/file", "x")
        try Files.removeTree(directory.path + "/file")
        #expect(!Files.exists(directory.path + "/file"))
    }
}
