#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Named and anonymous volumes (the local driver): data that outlives containers, Docker's
/// copy-up, --volumes-from, rm -v, refusal while in use, names that are never paths.
@Suite(.serialized, requiresRoot) struct VolumeTests {
    let root = Harness.root

    func volumeExists(_ name: String) -> Bool {
        Harness.run(["volume", "ls", "-q"]).stdout.split(separator: "\n").contains { $0 == name }
    }

    @Test func dataWrittenByOneContainerIsReadByTheNext() {
        let volume = "data-\(getpid())"
        defer { _ = Harness.run(["volume", "rm", "-f", volume]) }
        // Made on first use, as Docker's -v does.
        #expect(Harness.run(["run", "--rm", "--network", "none", "-v", "\(volume):/data", "busybox", "sh", "-c", "echo kept > /data/f"]).status == 0)
        #expect(volumeExists(volume))
        #expect(Harness.run(["run", "--rm", "--network", "none", "--mount", "type=volume,source=\(volume),target=/d,readonly", "busybox",
                             "sh", "-c", "cat /d/f; touch /d/g 2>/dev/null || echo read-only"]).stdout == "kept\nread-only\n")
        let inspect = Harness.run(["volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}}", volume]).stdout
        #expect(inspect == "\(volume) local local \(root)/volumes/\(volume)/_data\n", "\(inspect)")
        #expect(Harness.run(["volume", "create", volume]).stdout == "\(volume)\n", "create is idempotent")
    }

    @Test func aNewVolumeGetsTheImagesContentUnlessNocopy() {
        let copied = "copyup-\(getpid())", empty = "nocopy-\(getpid())"
        defer { _ = Harness.run(["volume", "rm", "-f", copied, empty]) }
        let listing = Harness.run(["run", "--rm", "--network", "none", "-v", "\(copied):/etc", "busybox", "sh", "-c", "ls /etc; stat -c '%u %a' /etc/passwd"]).stdout
        #expect(listing.contains("passwd\n") && listing.contains("group\n") && listing.contains("0 644"), "\(listing)")
        // Copied once: what a container changes stays, the image's content is not copied again.
        #expect(Harness.run(["run", "--rm", "--network", "none", "-v", "\(copied):/etc", "busybox", "rm", "/etc/group"]).status == 0)
        #expect(!Harness.run(["run", "--rm", "--network", "none", "-v", "\(copied):/etc", "busybox", "ls", "/etc"]).stdout.contains("group"))
        #expect(Harness.run(["run", "--rm", "--network", "none", "-v", "\(empty):/etc:nocopy", "busybox", "ls", "/etc/passwd"]).status != 0)
    }

    @Test func anonymousVolumesGoWithRmVAndRmContainers() {
        let name = "anon-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", "-v", name]) }
        let before = Set(Harness.run(["volume", "ls", "-q"]).stdout.split(separator: "\n"))
        #expect(Harness.run(["run", "--name", name, "--network", "none", "-v", "/scratch", "busybox", "sh", "-c", "echo a > /scratch/x"]).status == 0)
        let made = Set(Harness.run(["volume", "ls", "-q"]).stdout.split(separator: "\n")).subtracting(before)
        #expect(made.count == 1)
        let mounts = Harness.run(["inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Name}}{{end}}", name]).stdout
        #expect(mounts == "volume /scratch \(made.first ?? "")\n", "\(mounts)")
        #expect(Harness.run(["volume", "inspect", "-f", "{{json .Labels}}", String(made.first ?? "")]).stdout == "{\"com.docker.volume.anonymous\":\"\"}\n")
        #expect(Harness.run(["rm", "-v", name]).status == 0)
        #expect(Set(Harness.run(["volume", "ls", "-q"]).stdout.split(separator: "\n")) == before)
        // --rm takes them too.
        #expect(Harness.run(["run", "--rm", "--network", "none", "--mount", "type=volume,target=/s", "busybox", "true"]).status == 0)
        #expect(Set(Harness.run(["volume", "ls", "-q"]).stdout.split(separator: "\n")) == before)
    }

    @Test func volumesFromSharesAnotherContainersVolumes() {
        let owner = "vowner-\(getpid())", volume = "shared-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", owner]); _ = Harness.run(["volume", "rm", "-f", volume]) }
        #expect(Harness.run(["run", "--name", owner, "--network", "none", "-v", "\(volume):/shared", "busybox", "sh", "-c", "echo from-owner > /shared/f"]).status == 0)
        #expect(Harness.run(["run", "--rm", "--network", "none", "--volumes-from", owner, "busybox", "cat", "/shared/f"]).stdout == "from-owner\n")
    }

    @Test func aVolumeInUseIsNotRemovedAndPruneTakesOnlyUnused() {
        let root = Harness.scratchRoot("volumes")
        defer { Harness.removeScratchRoot(root) }
        #expect(Harness.run(["volume", "create", "--label", "team=a", "kept"], root: root).status == 0)
        #expect(Harness.run(["volume", "create", "spare"], root: root).status == 0)
        #expect(Harness.run(["create", "--name", "user", "--network", "none", "-v", "kept:/k", "-v", "/anon", "busybox", "true"], root: root).status == 0)
        let refused = Harness.run(["volume", "rm", "kept"], root: root)
        #expect(refused.status == 1 && refused.stderr.contains("volume is in use - [user]"), "\(refused.stderr)")
        #expect(Harness.run(["volume", "ls", "-q", "--filter", "dangling=true"], root: root).stdout == "spare\n")
        #expect(Harness.run(["volume", "ls", "--format", "{{.Name}} {{.Labels}} {{.Links}}", "--filter", "label=team=a"], root: root).stdout == "kept team=a 1\n")
        // Without -a, prune takes unused anonymous volumes only: none are unused yet.
        #expect(Harness.run(["volume", "prune", "-f"], root: root).stdout.contains("reclaimed space: 0B"))
        #expect(Harness.run(["volume", "prune", "-a", "-f"], root: root).stdout.contains("Deleted Volumes:\nspare\n"))
        #expect(Harness.run(["rm", "user"], root: root).status == 0)
        let pruned = Harness.run(["volume", "prune", "-f"], root: root).stdout
        #expect(pruned.contains("Deleted Volumes:") && !pruned.contains("kept"), "\(pruned)")
        #expect(Harness.run(["volume", "ls", "-q"], root: root).stdout == "kept\n")
        #expect(Harness.run(["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"], root: root).stdout.contains("Local Volumes 1 0"))
        // Made and removed, as events of type volume.
        let events = Harness.run(["events", "--since", "5m", "--until", "0s", "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}"], root: root).stdout
        #expect(events.hasPrefix("create kept\ncreate spare\n") && events.contains("destroy spare\n") && !events.contains("destroy kept"), "\(events)")
        #expect(Harness.run(["events", "--since", "5m", "--until", "0s", "--filter", "volume=kept", "--format", "{{.Action}}"], root: root).stdout == "create\n")
    }

    @Test(arguments: [
        (["volume", "create", "../escape"], "invalid volume name"),
        (["volume", "create", "a"], "invalid volume name"),
        (["volume", "create", "-o", "size=1m", "x1"], "invalid option key: \"size\""),
        (["volume", "create", "-o", "o=size=1m", "x3"], "missing required option: \"type\""),
        (["volume", "create", "-d", "nfs", "x2"], "not available"),
        (["run", "--rm", "-v", "../escape:/d", "busybox", "true"], "invalid volume name"),
        (["run", "--rm", "--mount", "type=volume,source=a/b,target=/d", "busybox", "true"], "invalid volume name"),
        (["volume", "inspect", "no-such-volume"], "no such volume"),
    ])
    func badVolumeNamesAndOptionsAreRefused(arguments: [String], message: String) {
        let result = Harness.run(arguments)
        #expect(result.status != 0 && result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/escape"))
    }

    @Test func aTmpfsVolumeIsMountedOnFirstUseAndUnmountedWithTheVolume() {
        let volume = "tmpfs-\(getpid())"
        #expect(Harness.run(["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=4m", volume]).status == 0)
        let df = Harness.run(["run", "--rm", "--network", "none", "-v", "\(volume):/t", "busybox", "sh", "-c", "df -k /t | tail -1"]).stdout
        #expect(df.contains("4096"), "\(df)")
        #expect(!Harness.hostMountsMentioning("/volumes/\(volume)/_data").isEmpty)
        #expect(Harness.run(["volume", "rm", volume]).status == 0)
        #expect(Harness.hostMountsMentioning("/volumes/\(volume)/_data").isEmpty)
    }
}
