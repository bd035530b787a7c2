#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import Testing
@testable import LinuxKit

@Suite struct LinuxKitTests {
    @Test func boundingSetMatchesWhatTheKernelReports() throws {
        let status = try Files.readString("/proc/self/status")
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") })
        let reported = try #require(UInt64(line.dropFirst("CapBnd:".count).trimmingWhitespace, radix: 16))
        #expect(ProcessInfoLinux.capabilityBoundingSet == reported)
    }

    @Test func environmentAndWorkingDirectoryComeFromThisProcess() {
        setenv("SWIFTAINER_TEST_VALUE", "a=b", 1)
        #expect(ProcessInfoLinux.environment["SWIFTAINER_TEST_VALUE"] == "a=b")
        #expect(ProcessInfoLinux.currentDirectory == String(cString: getcwd(nil, 0)))
    }

    @Test func exitStatusFollowsShellConventions() {
        #expect(ExitStatus(waitStatus: 3 << 8).code == 3)
        #expect(ExitStatus(waitStatus: SIGKILL).code == 137)
        #expect(ExitStatus(waitStatus: SIGTERM) == .signaled(SIGTERM))
    }

    @Test func signalNamesAndNumbers() {
        #expect(Signals.parse("TERM") == SIGTERM)
        #expect(Signals.parse("sigkill") == SIGKILL)
        #expect(Signals.parse("9") == 9)
        #expect(Signals.parse("NOPE") == nil)
        #expect(Signals.parse("0") == nil)
    }

    @Test func mountinfoEscapesAreDecoded() {
        #expect(Mounts.unescapeMountinfo("/mnt/with\\040space") == "/mnt/with space")
        #expect(Mounts.unescapeMountinfo("/plain") == "/plain")
        #expect(Mounts.unescapeMountinfo("/trailing\\") == "/trailing\\")
    }

    @Test func rfc3339RoundTrips() {
        let now = Clock.now()
        #expect(Clock.epochSeconds(rfc3339: Clock.rfc3339(now)) == now.tv_sec)
        #expect(Clock.rfc3339(timespec(tv_sec: 0, tv_nsec: 5)) == "1970-01-01T00:00:00.000000005Z")
    }

    @Test func systemErrorsNameCallPathAndErrno() {
        let error = SystemError(errno: ENOENT, call: "open", detail: "/nope")
        #expect(error.description == "open /nope: No such file or directory (ENOENT)")
    }

    @Test func atomicWriteReplacesWholeFiles() throws {
        let path = "/tmp/swiftainer-linuxkit-\(getpid())"
        defer { unlink(path) }
        try Files.writeAtomically(path, "first")
        try Files.writeAtomically(path, "second")
        #expect(try Files.readString(path) == "second")
        #expect(!Files.exists(path + ".tmp-\(getpid())"))
    }

    @Test func startTimeIdentifiesLiveProcesses() {
        let me = getpid()
        let start = ProcessInfoLinux.startTime(of: me)
        #expect(start != nil)
        #expect(ProcessInfoLinux.isAlive(pid: me, startTime: start!))
        #expect(!ProcessInfoLinux.isAlive(pid: me, startTime: start! + 1))
    }
}

@Suite struct RemoveTreeTests {
    @Test func concurrentRemovalOfTheSameTreeSucceedsForEveryone() throws {
        // Two removers race over one tree, as a --rm run and another command's reconcile can.
        for round in 0..<30 {
            let root = "/tmp/swiftainer-rmtree-\(getpid())-\(round)"
            for dir in 0..<20 {
                try Files.makeDirectories(root + "/d\(dir)/sub")
                for file in 0..<5 { try Files.writeAtomically(root + "/d\(dir)/sub/f\(file)", "x") }
            }
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                do { try Files.removeTree(root) } catch { failures.withLock { $0.append("\(error)") } }
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            #expect(!Files.exists(root))
        }
    }
}
