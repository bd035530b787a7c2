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

@Suite struct SHA256Tests {
    func hex(_ bytes: [UInt8], portable: Bool) -> String {
        var hash = SHA256(portable: portable)
        hash.update(bytes)
        return SHA256.hex(hash.finalize())
    }

    @Test(arguments: [false, true])
    func knownVectors(portable: Bool) {
        #expect(hex([], portable: portable) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8), portable: portable) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8), portable: portable)
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000), portable: portable)
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The SHA-extension code and the portable code agree on every length around block edges
    /// and on random data (on a CPU without the extensions both sides are portable).
    @Test func hardwareAndPortableAgree() {
        var random = SplitMixLite(seed: 0x5a_256)
        for length in Array(0...200) + [1000, 4096, 65_537] {
            let data = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(hex(data, portable: false) == hex(data, portable: true), "length \(length)")
        }
    }

    @Test func usesTheSHAExtensionsExactlyWhenTheCPUHasThem() throws {
        let flags = try Files.readString("/proc/cpuinfo").split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let words = Set(flags.split(separator: " "))
        #expect(SHA256.hasHardwareSupport == (words.contains("sha_ni") && words.contains("sse4_1") && words.contains("ssse3")))
    }

    @Test func chunkedUpdatesEqualOneUpdate() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var whole = SHA256()
        whole.update(data)
        var pieces = SHA256()
        var index = 0
        for size in [1, 63, 64, 65, 7, 300] where index < data.count {
            pieces.update(Array(data[index..<min(data.count, index + size)]))
            index += size
        }
        pieces.update(Array(data[min(index, data.count)...]))
        let wholeDigest = SHA256.hex(whole.finalize())
        #expect(wholeDigest == SHA256.hex(pieces.finalize()))
        #expect(wholeDigest != hex([], portable: false))
    }
}

/// xorshift64*, enough for test data (LinuxKitTests does not depend on TestSupport).
private struct SplitMixLite {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_f491_4f6c_dd1d
    }
}
