#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Issue #14: what a careless user or an attacker types, through the real binary — one line,
/// exit 125, nothing left behind; never a trap (SIGILL, 132) or a silently wrong container.
@Suite(.serialized, requiresRoot) struct HardeningTests {
    /// The error is exactly one line, starting with "swiftainer: ", and the exit is 125.
    func expectRefused(_ arguments: [String], _ fragment: String, status: Int32 = 125, sourceLocation: SourceLocation = #_sourceLocation) {
        let result = Harness.run(arguments)
        #expect(result.status == status, "\(arguments) exited \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("swiftainer: ") && result.stderr.filter { $0 == "\n" }.count == 1,
                "not one line: \(result.stderr.debugDescription)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(fragment), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    /// #14.3, #14.4, #14.10: sizes, CPU values and counts.
    @Test func numericFlagsAreCheckedNotTrapped() {
        let name = "numbers-\(getpid())"
        for size in ["8589934592g", "99999999999999999999g", "9223372036854775807k"] {
            expectRefused(["run", "--rm", "--name", name, "-m", size, "busybox", "true"], "--memory: size '\(size)' is too large")
        }
        expectRefused(["run", "--rm", "-m", "0x10m", "busybox", "true"], "--memory: invalid size '0x10m'")
        expectRefused(["run", "--rm", "-m", "64m", "--memory-swap", "1e3m", "busybox", "true"], "--memory-swap: invalid size")
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        for value in ["0.000001", "0.005", "\(cpus + 1)"] {
            expectRefused(["run", "--rm", "--cpus", value, "busybox", "true"],
                          "--cpus: range of CPUs is from 0.01 to \(cpus).00, as there are only \(cpus) CPUs available")
        }
        expectRefused(["run", "--rm", "--pids-limit", "99999999999999999999", "busybox", "true"], "--pids-limit: invalid value")
        expectRefused(["stop", "-t", "nan", "x"], "--time: invalid value 'nan'")
        #expect(!Harness.containerExists(named: name))
    }

    /// #14.4: the smallest CPU share Docker allows reaches the kernel as a quota, not "unlimited".
    @Test func theSmallestCPUQuotaIsApplied() throws {
        let name = "cpu-min-\(getpid())"
        let id = Harness.detach(name, ["--network", "none", "--cpus", "0.01", "busybox", "sleep", "100"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        let dir = try #require(Harness.groupDirectory(id, "cpu"), "no cpu cgroup for \(id)")
        let quota = Harness.shell("cat \(dir)/cpu.cfs_quota_us \(dir)/cpu.max 2>/dev/null").stdout
        #expect(quota.hasPrefix("1000\n") || quota.hasPrefix("1000 100000"), "\(quota)")
    }

    /// #14.10: environment entries without a name; conflicting volume modes.
    @Test func malformedEnvironmentAndVolumeModesAreRefused() {
        for entry in ["=", "=value", ""] {
            expectRefused(["run", "--rm", "-e", entry, "busybox", "true"], "invalid environment variable: \(entry)")
        }
        let dir = "/tmp/swiftainer-vol-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        expectRefused(["run", "--rm", "-v", "\(dir):/x:ro,rw", "busybox", "true"], "invalid mode: ro,rw")
        let readOnly = Harness.run(["run", "--rm", "-v", "\(dir):/x:rw,rslave,ro", "busybox", "touch", "/x/f"])
        #expect(readOnly.status == 125 && readOnly.stderr.contains("invalid mode"), "\(readOnly.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/f"))
    }

    /// #14.9: names, image references and archive entries with control characters.
    @Test func controlCharactersStayOnOneLine() throws {
        expectRefused(["run", "--rm", "--name", "a\nb", "busybox", "true"], "'a\\nb'")
        expectRefused(["run", "--rm", "busy\nbox\u{1b}[2J", "true"], "busy\\nbox\\u{1b}[2J")
        expectRefused(["rm", "no\nsuch"], "no\\nsuch", status: 1) // Docker's rm exits 1 for a missing container
        // A PAX path with a newline that is also absolute: the unpacker names it, escaped.
        let dir = "/tmp/swiftainer-pax-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = Harness.shell("""
            cd \(dir) && python3 -c 'import tarfile, io
            t = tarfile.open("evil.tar", "w", format=tarfile.PAX_FORMAT)
            i = tarfile.TarInfo("/etc/evil\\nline"); i.size = 1
            t.addfile(i, io.BytesIO(b"x")); t.close()'
            """)
        try #require(made.status == 0, "\(made.stderr)")
        expectRefused(["import", dir + "/evil.tar", "evil"], "/etc/evil\\nline")
    }

    /// #14.11: a root that is not a directory swiftainer can own.
    @Test func rootsThatCannotHoldAStoreAreRefused() {
        for (root, fragment) in [("/etc/hostname", "not a directory"), ("/dev/null", "not a directory"), ("/proc/self", "is on procfs"),
                                 ("/etc/hostname/below", "/etc/hostname is not a directory"), ("", "must not be empty")] {
            for command in [["ps"], ["images"], ["--root", root, "ps"]] {
                let result = Harness.run(command, root: command.first == "--root" ? "/tmp" : root)
                #expect(result.status == 125 && result.stderr.contains(fragment) && result.stdout.isEmpty,
                        "\(command) with root '\(root)': \(result.status) \(result.stderr) \(result.stdout)")
            }
        }
    }

    /// #14.8: import of an endless or empty stream ends (the harness kills what runs 120 s).
    @Test func importOfDevZeroEnds() {
        expectRefused(["import", "/dev/zero", "zero"], "the archive has no entries")
        expectRefused(["import", "--max-size", "1k", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "small"],
                      "the archive unpacks to more than 1024 bytes")
        #expect(!Harness.run(["images"]).stdout.contains("small"))
    }
}
