#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The same bundle run by runc (the reference OCI runtime, Debian's 1.1.5) and by swiftainer:
/// a probe inside reports what a process sees — identity, capabilities, no_new_privs, the
/// environment, cwd, umask, rlimits, /dev, every mount with its type and read-only state —
/// and the two reports must agree. Where swiftainer differs on purpose, the difference is
/// named here and checked for what it is instead:
/// - process.capabilities.ambient: runc 1.1.5 raises an ambient capability only when the spec
///   also lists it inheritable (so none, with `runc spec`'s config); swiftainer, as crun,
///   raises the ambient capabilities the spec lists that are also permitted.
/// - maskedPaths/readonlyPaths: swiftainer's read-only binds are also nosuid, nodev, noexec.
/// - /sys/fs/cgroup: runc places the container in every v1 hierarchy and leaves the tmpfs
///   under them writable; swiftainer shows the hierarchies it placed the container in (a
///   subset), and the tmpfs read-only too.
@Suite(.serialized, requiresRoot) struct RuncComparisonTests {
    static let probe = """
        echo "id: $(id)"
        grep -E '^(CapPrm|CapEff|CapBnd|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
        echo "hostname: $(hostname)"
        echo "cwd: $(pwd) umask: $(umask)"
        echo "nofile: $(ulimit -n) $(ulimit -Hn) oom: $(cat /proc/self/oom_score_adj)"
        env | sort | sed 's/^/env: /'
        ls -ln /dev | awk 'NR > 1 { print "dev:", $1, $3, $4, $5, $6, $NF }'
        awk '{ print "mount:", $5, $(NF-2), $6 }' /proc/self/mountinfo | sort
        """

    /// A bundle from `runc spec` (the reference's own default), running the probe.
    func bundle(_ configure: (inout [String: Any]) -> Void) throws -> String {
        let dir = "/tmp/swiftainer-runc-cmp-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        #expect(Harness.shell("tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C \(dir)/rootfs").status == 0)
        try Self.probe.write(toFile: dir + "/rootfs/probe.sh", atomically: true, encoding: .utf8)
        let spec = Harness.execute("/usr/sbin/runc", ["spec", "--bundle", dir], environment: [:], stdin: nil)
        #expect(spec.status == 0, "\(spec.stderr)")
        let commandLine = OCICommandLineTests()
        var config = try commandLine.readConfig(dir)
        var process = config["process"] as! [String: Any]
        process["terminal"] = false
        process["args"] = ["sh", "/probe.sh"]
        config["process"] = process
        var linux = config["linux"] as! [String: Any]
        // Both below our own cgroup (runc's default is the root of every hierarchy).
        linux["cgroupsPath"] = Harness.ownCgroup + "/swiftainer-runc-cmp-\(getpid())"
        config["linux"] = linux
        configure(&config)
        try commandLine.writeConfig(dir, config)
        return dir
    }

    /// The probe's report from each runtime, as lines.
    func reports(_ dir: String) -> (runc: [String], swiftainer: [String]) {
        let id = "cmp-\(getpid())"
        let scratch = dir + "-state"
        let runc = Harness.execute("/usr/sbin/runc", ["--root", scratch + "/runc", "run", "--bundle", dir, id], environment: [:], stdin: nil)
        #expect(runc.status == 0, "runc: \(runc.stderr)")
        let ours = Harness.execute(Harness.runtime, ["--root", scratch + "/swiftainer", "run", "--bundle", dir, id], environment: [:], stdin: nil)
        #expect(ours.status == 0, "swiftainer: \(ours.stderr)")
        try? FileManager.default.removeItem(atPath: scratch)
        func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }
        return (lines(runc.stdout), lines(ours.stdout))
    }

    /// The reports with the named differences taken out (and checked for what they are).
    func compared(_ runc: [String], _ ours: [String], ambientDiffers: Bool) {
        func isCgroupView(_ line: String) -> Bool { line.hasPrefix("mount: /sys/fs/cgroup") }
        func isCapabilityOf(_ sets: [String], _ line: String) -> Bool { sets.contains { line.hasPrefix($0 + ":") } }
        let capabilityDifference = ambientDiffers ? ["CapInh", "CapAmb", "CapPrm", "CapEff"] : ["CapInh", "CapAmb"]
        // "ro,nosuid,nodev,noexec,relatime" → "ro": the read-only state is what must agree.
        func normalized(_ line: String) -> String {
            guard line.hasPrefix("mount: ") else { return line }
            var fields = line.split(separator: " ").map(String.init)
            if let options = fields.last { fields[fields.count - 1] = String(options.prefix(2)) }
            return fields.joined(separator: " ")
        }
        let theirs = runc.filter { !isCgroupView($0) && !isCapabilityOf(capabilityDifference, $0) }.map(normalized)
        let mine = ours.filter { !isCgroupView($0) && !isCapabilityOf(capabilityDifference, $0) }.map(normalized)
        #expect(mine == theirs, "differences: runc only \(theirs.filter { !mine.contains($0) }), swiftainer only \(mine.filter { !theirs.contains($0) })")
        // /sys/fs/cgroup: ours is a read-only subset of runc's hierarchies.
        let theirViews = Set(runc.filter(isCgroupView).map { $0.split(separator: " ")[1] })
        let myViews = ours.filter(isCgroupView)
        #expect(!myViews.isEmpty && myViews.allSatisfy { $0.hasSuffix(" ro") || $0.contains(" ro,") }, "\(myViews)")
        #expect(Set(myViews.map { $0.split(separator: " ")[1] }).isSubset(of: theirViews), "\(myViews) vs \(theirViews)")
        // The capabilities both have agree on the bounding set.
        #expect(runc.first { $0.hasPrefix("CapBnd:") } == ours.first { $0.hasPrefix("CapBnd:") })
    }

    @Test func runcsDefaultBundleLooksTheSameFromInside() throws {
        let dir = try bundle { _ in }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (runc, ours) = reports(dir)
        #expect(runc.count > 20, "\(runc)")
        compared(runc, ours, ambientDiffers: false)
    }

    /// A non-root user with extra groups and a umask, a cwd that does not exist yet, no HOME,
    /// an OOM score, a writable root.
    @Test func aNonRootProcessWithAMissingCwdLooksTheSameFromInside() throws {
        let dir = try bundle { config in
            var process = config["process"] as! [String: Any]
            process["user"] = ["uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o027]
            process["cwd"] = "/made/here"
            process["oomScoreAdj"] = 100
            config["process"] = process
            var root = config["root"] as! [String: Any]
            root["readonly"] = false
            config["root"] = root
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (runc, ours) = reports(dir)
        #expect(ours.contains("cwd: /made/here umask: 0027") && ours.contains("env: HOME=/"), "\(ours)")
        compared(runc, ours, ambientDiffers: true)
        // The ambient capabilities: raised by swiftainer (permitted and listed), not by runc 1.1.5.
        #expect(ours.contains("CapAmb:\t0000000020000420"), "\(ours.filter { $0.hasPrefix("Cap") })")
    }
}
