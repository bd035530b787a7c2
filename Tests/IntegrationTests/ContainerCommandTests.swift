#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Docker's container commands through the real binary: create/start, --format and --filter
/// on ps, images and inspect, the management groups, rename, port, prune.
@Suite(.serialized, requiresRoot) struct ContainerCommandTests {
    func cleanup(_ names: String...) {
        for name in names { _ = Harness.run(["rm", "-f", name]) }
    }

    @Test func createThenStartAttachedRunsTheImageWithTheFlags() throws {
        let name = "created-\(getpid())"
        defer { cleanup(name) }
        let created = Harness.run(["create", "--name", name, "-e", "GREETING=hello", "-l", "made=by-create", "busybox", "sh", "-c", "echo $GREETING from $(hostname); exit 4"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 64)
        // Created, and still so after other commands reconcile: no process, not a dead run.
        #expect(Harness.run(["ps", "-a", "--filter", "name=^\(name)$", "--format", "{{.State}}|{{.Status}}"]).stdout == "created|Created\n")
        _ = Harness.run(["ps"])
        #expect(Harness.inspect(name, "State")["Status"] as? String == "created")
        let started = Harness.run(["start", "-a", name])
        #expect(started.status == 4, "\(started.stderr)")
        #expect(started.stdout.hasPrefix("hello from "), "\(started.stdout)")
        #expect(Harness.inspect(name, "State")["ExitCode"] as? Int == 4)
        // Started again, detached this time.
        #expect(Harness.run(["start", name]).status == 0)
        #expect(Harness.eventually { Harness.run(["logs", name]).stdout.components(separatedBy: "hello from").count == 3 })
    }

    @Test func startInteractiveFeedsStdinOfAContainerCreatedWithI() {
        let name = "created-i-\(getpid())"
        defer { cleanup(name) }
        #expect(Harness.run(["create", "-i", "--name", name, "busybox", "sh", "-c", "read line; echo got:$line"]).status == 0)
        let started = Harness.run(["start", "-a", "-i", name], stdin: "typed\n")
        #expect(started.status == 0, "\(started.stderr)")
        #expect(started.stdout == "got:typed\n")
        // A bad create leaves nothing behind.
        let bad = Harness.run(["create", "--name", name + "-bad", "--memory", "abc", "busybox"])
        #expect(bad.status == 125)
        #expect(!Harness.containerExists(named: name + "-bad"))
    }

    @Test func psFormatAndFiltersSelectAndShapeRows() {
        let up = "ps-up-\(getpid())", down = "ps-down-\(getpid())"
        defer { cleanup(up, down) }
        #expect(Harness.run(["run", "-d", "--name", up, "-l", "tier=front", "-l", "team=a", "busybox", "sleep", "60"]).status == 0)
        #expect(Harness.run(["run", "--name", down, "-l", "tier=back", "busybox", "sh", "-c", "exit 3"]).status == 3)
        let names = { (args: [String]) in Set(Harness.run(["ps"] + args + ["--format", "{{.Names}}"]).stdout.split(separator: "\n").map(String.init)) }
        #expect(names([]).contains(up) && !names([]).contains(down), "default: running only")
        #expect(names(["-a"]).isSuperset(of: [up, down]))
        // status (and exited) filters show stopped containers without -a, as Docker's.
        #expect(names(["--filter", "status=exited"]).contains(down) && !names(["--filter", "status=exited"]).contains(up))
        #expect(names(["--filter", "exited=3"]) .contains(down))
        #expect(!names(["--filter", "exited=2"]).contains(down))
        #expect(names(["--filter", "label=tier=front"]) == [up])
        // Label filters all apply; values of another key are alternatives.
        #expect(names(["--filter", "label=tier=front", "--filter", "label=team=b"]).isEmpty)
        #expect(names(["-a", "--filter", "name=\(up)", "--filter", "name=\(down)"]) == [up, down])
        #expect(names(["-a", "--filter", "ancestor=busybox", "--filter", "name=ps-"]).isSuperset(of: [up, down]))
        #expect(names(["-a", "--filter", "ancestor=nosuchimage"]).isEmpty)
        #expect(names(["-a", "--filter", "since=\(up)"]).contains(down))
        #expect(!names(["-a", "--filter", "before=\(up)"]).contains(down))
        #expect(names(["-a", "--filter", "health=none", "--filter", "name=\(up)"]) == [up])
        // Shapes: a table with Docker's headers, json rows, -q with filters.
        let table = Harness.run(["ps", "--filter", "name=\(up)", "--format", "table {{.Names}}\\t{{.Status}}\\t{{.Labels}}"]).stdout.split(separator: "\n")
        #expect(table.first?.hasPrefix("NAMES") == true && table.first?.contains("STATUS") == true && table.first?.contains("LABELS") == true, "\(table)")
        #expect(table.count == 2 && table[1].contains("Up ") && table[1].contains("team=a,tier=front"), "\(table)")
        let json = Harness.run(["ps", "--filter", "name=\(up)", "--format", "json"]).stdout
        let row = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(row?["Names"] as? String == up && row?["State"] as? String == "running" && row?["Image"] as? String == "busybox", "\(json)")
        #expect(Harness.run(["ps", "-q", "--no-trunc", "--filter", "name=\(up)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 64)
        // The default output is the same template path: Docker's columns.
        let header = Harness.run(["ps"]).stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.hasPrefix("CONTAINER ID   IMAGE ") && header.components(separatedBy: "   ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], "\(header)")
    }

    @Test(arguments: [
        (["ps", "--format", "{{.Nmes}}"], "can't evaluate field Nmes"),
        (["ps", "--format", "{{.Names"], "template parsing error"),
        (["ps", "--filter", "colour=red"], "invalid filter 'colour'"),
        (["ps", "--filter", "status=sleeping"], "invalid filter 'status=sleeping'"),
        (["ps", "--filter", "before=no-such-container"], "no such container"),
        (["images", "--filter", "dangling=maybe"], "invalid filter 'dangling=maybe'"),
        (["inspect", "-f", "{{if}}", "busybox"], "missing value for if"),
        (["container", "frob"], "'container frob' is not a swiftainer command"),
    ])
    func badFormatsAndFiltersAreOneLineAnd125(arguments: [String], message: String) {
        let result = Harness.run(arguments)
        #expect(result.status == 125)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func inspectFormatReadsFieldsOfContainersAndImages() {
        let name = "inspect-f-\(getpid())"
        defer { cleanup(name) }
        #expect(Harness.run(["run", "-d", "--name", name, "-e", "A=1", "busybox", "sleep", "60"]).status == 0)
        let pid = Harness.run(["inspect", "-f", "{{.State.Pid}}", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int32(pid).map { $0 > 0 && kill($0, 0) == 0 } == true, "\(pid)")
        #expect(Harness.run(["inspect", "--format", "{{.Name}} {{.State.Status}} {{json .Config.Cmd}}", name]).stdout == "/\(name) running [\"sleep\",\"60\"]\n")
        #expect(Harness.run(["inspect", "-f", "{{range .Config.Env}}{{if eq . \"A=1\"}}found{{end}}{{end}}", name]).stdout == "found\n")
        #expect(Harness.run(["inspect", "-f", "{{.NoSuchField}}", name]).stdout == "<no value>\n")
        #expect(Harness.run(["inspect", "--type", "image", "-f", "{{.Id}}", "busybox"]).stdout.hasPrefix("sha256:"))
        // Each missing name is a line on stderr and status 1; the ones found are still shown.
        let mixed = Harness.run(["inspect", "-f", "{{.Name}}", name, "no-such-thing"])
        #expect(mixed.status == 1 && mixed.stdout == "/\(name)\n" && mixed.stderr.contains("no-such-thing"), "\(mixed)")
        #expect(Harness.run(["inspect", "--type", "container", "busybox"]).status == 1)
        // The groups' inspect looks up its own kind only.
        #expect(Harness.run(["image", "inspect", "-f", "{{.Id}}", "busybox"]).stdout.hasPrefix("sha256:"))
        #expect(Harness.run(["container", "inspect", "busybox"]).status == 1)
        #expect(Harness.run(["container", "inspect", "-f", "{{.Name}}", name]).stdout == "/\(name)\n")
        #expect(Harness.run(["image", "inspect", name]).status == 1)
    }

    @Test func imagesFormatAndFilters() {
        let tag = "localhost/format-test:v\(getpid())"
        defer { _ = Harness.run(["rmi", tag]) }
        #expect(Harness.run(["tag", "busybox", tag]).status == 0)
        let listed = Harness.run(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=localhost/format-*"]).stdout
        #expect(listed == tag + "\n", "\(listed)")
        #expect(Harness.run(["image", "ls", "--format", "{{.Repository}}", "localhost/format-test"]).stdout == "localhost/format-test\n")
        #expect(Harness.run(["images", "-q", "--filter", "dangling=true", "--filter", "reference=localhost/format-*"]).stdout.isEmpty)
        let table = Harness.run(["images", "--format", "table {{.Repository}}\\t{{.ID}}", "--filter", "reference=busybox"]).stdout.split(separator: "\n")
        #expect(table.first == "REPOSITORY   IMAGE ID", "\(table)")
    }

    @Test func renameTakesOnlyAFreeValidName() {
        let name = "rename-\(getpid())", other = "rename-other-\(getpid())"
        defer { cleanup(name, name + "-new", other) }
        #expect(Harness.run(["run", "-d", "--name", name, "busybox", "sleep", "60"]).status == 0)
        #expect(Harness.run(["create", "--name", other, "busybox", "true"]).status == 0)
        let taken = Harness.run(["rename", name, other])
        #expect(taken.status == 125 && taken.stderr.contains("already in use"))
        #expect(Harness.run(["rename", name, "../escape"]).status == 125)
        #expect(Harness.run(["rename", name, name + "-new"]).status == 0)
        #expect(Harness.containerExists(named: name + "-new") && !Harness.containerExists(named: name))
        // The supervisor's later writes keep the new name.
        #expect(Harness.run(["stop", "-t", "1", name + "-new"]).status == 0)
        #expect(Harness.containerExists(named: name + "-new"), "\(Harness.run(["ps", "-a"]).stdout)")
    }

    @Test func portShowsPublishedPorts() {
        let name = "port-\(getpid())"
        defer { cleanup(name) }
        #expect(Harness.run(["run", "-d", "--name", name, "-p", "127.0.0.1:18481:80", "-p", "18482:81/udp", "busybox", "sleep", "60"]).status == 0)
        let all = Harness.run(["port", name]).stdout
        #expect(all.contains("80/tcp -> 127.0.0.1:18481\n") && all.contains("81/udp -> 0.0.0.0:18482\n"), "\(all)")
        #expect(Harness.run(["port", name, "80"]).stdout == "127.0.0.1:18481\n")
        #expect(Harness.run(["port", name, "81/udp"]).stdout == "0.0.0.0:18482\n")
        let missing = Harness.run(["port", name, "82"])
        #expect(missing.status == 125 && missing.stderr.contains("no public port '82/tcp'"))
        #expect(Harness.run(["ps", "--filter", "publish=18481", "--format", "{{.Names}}"]).stdout == "\(name)\n")
        #expect(Harness.run(["ps", "--filter", "expose=80/tcp", "--filter", "name=\(name)", "--format", "{{.Names}}"]).stdout == "\(name)\n")
    }

    @Test func containerPruneTakesStoppedContainersByLabelAndLeavesRunningOnes() {
        let root = Harness.scratchRoot("prune")
        defer { Harness.removeScratchRoot(root) }
        #expect(Harness.run(["run", "-d", "--name", "up", "--network", "none", "busybox", "sleep", "60"], root: root).status == 0)
        #expect(Harness.run(["create", "--name", "made", "--network", "none", "-l", "keep=yes", "busybox", "true"], root: root).status == 0)
        #expect(Harness.run(["run", "--name", "ended", "--network", "none", "busybox", "true"], root: root).status == 0)
        // -l / -n look at every state, newest first (a store of its own: no other suite's
        // container is newer).
        #expect(Harness.run(["ps", "-l", "--format", "{{.Names}}"], root: root).stdout == "ended\n")
        #expect(Harness.run(["ps", "-n", "2", "--format", "{{.Names}}"], root: root).stdout == "ended\nmade\n")
        let kept = Harness.run(["container", "prune", "-f", "--filter", "label!=keep"], root: root)
        #expect(kept.stdout.contains("Total containers removed: 1"), "\(kept)")
        #expect(Harness.run(["ps", "-a", "--format", "{{.Names}}"], root: root).stdout.split(separator: "\n").sorted() == ["made", "up"])
        #expect(Harness.run(["container", "prune", "-f", "--filter", "until=1h"], root: root).stdout.contains("removed: 0"))
        #expect(Harness.run(["system", "prune", "-f"], root: root).stdout.contains("removed: 1"))
        #expect(Harness.run(["container", "ls", "-a", "-q"], root: root).stdout.split(separator: "\n").count == 1)
        #expect(Harness.run(["container", "prune", "--filter", "colour=red"], root: root).status == 125)
        // image prune's filters: a label the image does not have keeps it.
        #expect(Harness.run(["rm", "-f", "up"], root: root).status == 0)
        #expect(Harness.run(["image", "prune", "-a", "-f", "--filter", "label=nope"], root: root).stdout.contains("Total reclaimed space: 0B"))
        #expect(Harness.run(["images", "-q"], root: root).stdout.split(separator: "\n").count == 1)
        #expect(Harness.run(["image", "prune", "-a", "-f", "--filter", "until=1h"], root: root).stdout.contains("reclaimed space: 0B"), "made within the hour")
        let later = "until=\(Int(Date().timeIntervalSince1970) + 60)"
        #expect(Harness.run(["image", "prune", "-a", "-f", "--filter", later], root: root).stdout.contains("Untagged: busybox:latest"))
        #expect(Harness.run(["images", "-q"], root: root).stdout.isEmpty)
        _ = Harness.run(["rm", "-f", "up"], root: root)
    }

    /// A scratch directory on the host for cp's files.
    func hostDirectory(_ name: String) -> String {
        let path = Harness.root + "/cp-\(name)"
        try? FileManager.default.removeItem(atPath: path)
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(arguments: [false, true])
    func cpResolvesContainerPathsInsideTheContainer(running: Bool) throws {
        let name = "cp-\(running ? "up" : "down")-\(getpid())"
        let host = hostDirectory(name)
        defer { cleanup(name); try? FileManager.default.removeItem(atPath: host) }
        // A symlink to /etc inside the container: every path through it is the container's.
        let setup = "mkdir -p /data/sub && echo one > /data/sub/a && ln -s /etc /data/etclink && echo in-container > /etc/marker"
        #expect(Harness.run(["run", "--name", name] + (running ? ["-d"] : []) + ["busybox", "sh", "-c", setup + (running ? "; sleep 60" : "")]).status == 0)
        if running { #expect(Harness.eventually { Harness.run(["exec", name, "cat", "/etc/marker"]).stdout == "in-container\n" }) }
        // Out of the container: a directory into an existing directory, contents with /., a file.
        #expect(Harness.run(["cp", "\(name):/data", host + "/"]).status == 0)
        #expect((try? String(contentsOfFile: host + "/data/sub/a", encoding: .utf8)) == "one\n")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: host + "/data/etclink")) == "/etc", "copied as a link, not followed")
        #expect(Harness.run(["cp", "\(name):/data/sub/.", host + "/contents"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: host + "/contents/a"))
        #expect(Harness.run(["cp", "\(name):/data/etclink/marker", host + "/marker"]).status == 0)
        #expect((try? String(contentsOfFile: host + "/marker", encoding: .utf8)) == "in-container\n", "through the container's /etc, not the host's")
        let followed = Harness.run(["cp", "-L", "\(name):/data/etclink", host + "/etc-copy"])
        #expect(followed.status == 0, "\(followed.stderr)")
        #expect(FileManager.default.fileExists(atPath: host + "/etc-copy/marker"))
        // Into the container: through its symlink, it lands in the container's /etc.
        try FileManager.default.createDirectory(atPath: host + "/in/deep", withIntermediateDirectories: true)
        try "hello\n".write(toFile: host + "/in/deep/f", atomically: true, encoding: .utf8)
        #expect(chown(host + "/in/deep/f", 1234, 1234) == 0)
        #expect(Harness.run(["cp", host + "/in", "\(name):/data/etclink/"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "/etc/in"), "written to the host's /etc")
        #expect(Harness.run(["cp", "-a", host + "/in", "\(name):/kept"]).status == 0)
        // A path that climbs out of the root stays at the container's root, as the kernel's
        // resolution inside a root does.
        let marker = "escape-\(getpid())-\(running)"
        #expect(Harness.run(["cp", host + "/in/deep/f", "\(name):/../../../../tmp/\(marker)"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/\(marker)"), "written to the host's /tmp")
        // A tar stream both ways.
        let tarred = Harness.shell("tar -C \(host) -cf - in | \(Harness.binary) --root \(Harness.root) cp - \(name):/tmp && \(Harness.binary) --root \(Harness.root) cp \(name):/tmp/in - | tar -tvf -")
        #expect(tarred.status == 0 && tarred.stdout.contains("in/deep/f"), "\(tarred.stdout) \(tarred.stderr)")
        // What the container sees (the stopped one through a later run of its layer: export).
        let listing = Harness.shell("\(Harness.binary) --root \(Harness.root) export \(name) | tar -tvf -").stdout
        #expect(listing.contains("etc/in/deep/f") && listing.contains("tmp/in/deep/f") && listing.contains("tmp/\(marker)"), "\(listing)")
        #expect(listing.split(separator: "\n").contains { $0.contains("kept/deep/f") && $0.contains("1234/1234") }, "cp -a keeps owners: \(listing)")
        #expect(listing.split(separator: "\n").contains { $0.contains("etc/in/deep/f") && $0.contains("0/0") }, "without -a root owns: \(listing)")
        #expect(!listing.contains("proc/1/"), "export has no mounts")
        // Bad paths: one line, 125, nothing made.
        let missing = Harness.run(["cp", "\(name):/no/such", host + "/x"])
        #expect(missing.status == 125 && missing.stderr.contains("/no/such") && !FileManager.default.fileExists(atPath: host + "/x"))
        #expect(Harness.run(["cp", host + "/in", "\(name):/data/sub/a/"]).status == 125, "a directory onto a file")
        #expect(Harness.run(["cp", "\(name):/data", "nosuch-\(getpid()):/x"]).status == 125)
        #expect(Harness.hostMountsMentioning(name).isEmpty && Harness.hostMountsMentioning("/rootfs").allSatisfy { !$0.contains(Harness.root) })
    }

    @Test func diffListsTheWritableLayersChanges() {
        let name = "diff-\(getpid())"
        defer { cleanup(name) }
        #expect(Harness.run(["run", "--name", name, "busybox", "sh", "-c", "mkdir /new && echo x > /new/f && echo y >> /etc/passwd && rm /bin/ls"]).status == 0)
        let diff = Harness.run(["diff", name]).stdout.split(separator: "\n").map(String.init)
        for line in ["C /bin", "D /bin/ls", "A /new", "A /new/f", "C /etc", "C /etc/passwd"] {
            #expect(diff.contains(line), "\(line) in \(diff)")
        }
        #expect(diff == diff.sorted { $0.dropFirst(2) < $1.dropFirst(2) }, "path order")
        #expect(Harness.run(["container", "diff", "no-such-\(getpid())"]).status == 125)
    }

    @Test func eventsAreLoggedByEachProcessAndFollowedLive() throws {
        let root = Harness.scratchRoot("events")
        defer { Harness.removeScratchRoot(root) }
        // Followed live from before the container exists.
        let follower = Harness.start(Harness.binary, ["--root", root, "events", "--filter", "container=ev", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}{{.Actor.Attributes.signal}}"],
                                     environment: [:], stdin: nil)
        defer { follower.signal(SIGKILL); _ = follower.finish() }
        usleep(300_000)
        #expect(Harness.run(["run", "-d", "--name", "ev", "--network", "none", "busybox", "sleep", "60"], root: root).status == 0)
        #expect(Harness.run(["exec", "ev", "true"], root: root).status == 0)
        #expect(Harness.run(["pause", "ev"], root: root).status == 0 && Harness.run(["unpause", "ev"], root: root).status == 0)
        #expect(Harness.run(["stop", "-t", "0", "ev"], root: root).status == 0)
        #expect(Harness.run(["rm", "ev"], root: root).status == 0)
        let expected = ["create ", "start ", "exec_create: true ", "exec_start: true ", "exec_die 0", "pause ", "unpause ", "kill 15", "kill 9", "die 137", "stop ", "destroy "]
        #expect(Harness.eventually(10) { follower.stdout.split(separator: "\n").map(String.init) == expected }, "\(follower.stdout)")
        // Replayed with --since, bounded by --until, filtered by event.
        let replay = Harness.run(["events", "--since", "5m", "--until", "0s", "--filter", "event=die", "--filter", "type=container", "--format", "json"], root: root)
        let lines = replay.stdout.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("\"Action\":\"die\"") && lines[0].contains("\"exitCode\":\"137\""), "\(replay)")
        let text = Harness.run(["system", "events", "--since", "5m", "--until", "0s", "--filter", "event=create"], root: root).stdout
        #expect(text.contains(" container create ") && text.contains("name=ev"), "\(text)")
        // Images too.
        #expect(Harness.run(["tag", "busybox", "localhost/evt:1"], root: root).status == 0)
        #expect(Harness.run(["rmi", "localhost/evt:1"], root: root).status == 0)
        let images = Harness.run(["events", "--since", "5m", "--until", "0s", "--filter", "type=image", "--format", "{{.Action}} {{.Actor.Attributes.name}}"], root: root).stdout
        #expect(images == "tag localhost/evt:1\nuntag localhost/evt:1\n", "\(images)")
        #expect(Harness.run(["events", "--filter", "colour=red"], root: root).status == 125)
    }

    @Test func infoAndSystemDFDescribeTheStore() {
        let root = Harness.scratchRoot("info")
        defer { Harness.removeScratchRoot(root) }
        #expect(Harness.run(["run", "--name", "writer", "--network", "none", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big"], root: root).status == 0)
        #expect(Harness.run(["info", "--format", "{{.Containers}} {{.ContainersStopped}} {{.Images}} {{.DockerRootDir}} {{.OSType}}"], root: root).stdout
                == "1 1 1 \(root) linux\n")
        let info = Harness.run(["info"], root: root).stdout
        #expect(info.contains(" Cgroup Driver: cgroupfs") && info.contains(" Storage Driver: overlay2") && info.contains("  seccomp"), "\(info)")
        let df = Harness.run(["system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Reclaimable}}"], root: root).stdout.split(separator: "\n").map(String.init)
        #expect(df.count == 4 && df[0] == "Images|1|1|0B (0%)" && df[1].hasPrefix("Containers|1|0|100kB") && df[2] == "Local Volumes|0|0|0B", "\(df)")
        let verbose = Harness.run(["system", "df", "-v"], root: root).stdout
        #expect(verbose.contains("Containers space usage:") && verbose.contains("writer"), "\(verbose)")
    }

    @Test func commandsOfADaemonOrAnotherProductSaySo() {
        for name in ["build", "search", "swarm", "checkpoint", "plugin"] {
            let result = Harness.run([name, "x"])
            #expect(result.status == 125 && result.stderr.contains("\(name): not supported: "), "\(result.stderr)")
        }
    }

    @Test func updateRestartChangesThePolicyOfARunningContainer() {
        let name = "update-restart-\(getpid())"
        defer { cleanup(name, name + "-rm") }
        #expect(Harness.run(["run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1; exit 3"]).status == 0)
        let updated = Harness.run(["update", "--restart", "on-failure:2", name])
        #expect(updated.status == 0, "\(updated.stderr)")
        // The supervisor that ran it when the policy changed applies the new one.
        let state = { Harness.run(["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.RestartCount}} {{.State.Running}}", name]).stdout }
        #expect(Harness.eventually(30) { state() == "on-failure:2 2 false\n" }, "\(state())")
        #expect(Harness.run(["run", "-d", "--rm", "--name", name + "-rm", "busybox", "sleep", "30"]).status == 0)
        let refused = Harness.run(["update", "--restart", "always", name + "-rm"])
        #expect(refused.status == 1 && refused.stderr.contains("AutoRemove"), "\(refused.stderr)")
        #expect(Harness.run(["update", "--restart", "sometimes", name]).status == 125)
    }

    /// An image imported from an uncompressed tarball has an id that is also its layer blob's
    /// digest: commit (and push) once read that blob as the image's config.
    @Test func commitOfAnImageImportedFromAPlainTarball() throws {
        let name = "commit-plain-\(getpid())", image = "plain-\(getpid())", tag = "committed-plain-\(getpid())"
        let archive = "/tmp/swiftainer-plain-\(getpid()).tar"
        defer { cleanup(name); _ = Harness.run(["rmi", tag, image]); unlink(archive) }
        try #require(Harness.shell("gzip -dc \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz > \(archive)").status == 0)
        try #require(Harness.run(["import", archive, image]).status == 0)
        #expect(Harness.run(["run", "--name", name, image, "sh", "-c", "echo added > /added"]).status == 0)
        let committed = Harness.run(["commit", name, tag])
        #expect(committed.status == 0, "\(committed.stderr)")
        #expect(Harness.run(["run", "--rm", tag, "cat", "/added"]).stdout == "added\n")
    }

    @Test func commitMakesALayerWithTheContainersChangesAndConfig() {
        let name = "commit-\(getpid())", tag = "localhost/committed-\(getpid()):1"
        defer { cleanup(name); _ = Harness.run(["rmi", tag]) }
        // A file added, one deleted (a whiteout), a directory replaced (opaque).
        #expect(Harness.run(["run", "--name", name, "-e", "FROM_RUN=1", "busybox", "sh", "-c",
                             "mkdir /app && echo v1 > /app/data && rm /bin/ls && rm -rf /usr && mkdir /usr && echo only > /usr/only"]).status == 0)
        let committed = Harness.run(["commit", "-m", "first", "-a", "tester", "-c", "CMD [\"cat\", \"/app/data\"]", "-c", "ENV MODE=prod", "-c", "EXPOSE 8080",
                                     "-c", "LABEL stage=test", name, tag])
        #expect(committed.status == 0 && committed.stdout.hasPrefix("sha256:"), "\(committed.stderr)")
        #expect(Harness.run(["run", "--rm", tag]).stdout == "v1\n", "the changed CMD")
        let inside = Harness.run(["run", "--rm", tag, "sh", "-c", "ls /bin/ls 2>&1; ls /usr; echo $MODE $FROM_RUN"]).stdout
        #expect(inside.contains("No such file") && inside.contains("only\n") && !inside.contains("local") && inside.contains("prod 1"), "\(inside)")
        let config = Harness.run(["inspect", "-f", "{{.Config.Labels.stage}} {{json .Config.ExposedPorts}} {{len .RootFS.Layers}}", tag]).stdout
        #expect(config == "test {\"8080/tcp\":{}} 2\n", "\(config)")
        #expect(Harness.run(["history", tag]).stdout.contains("first"))
        #expect(Harness.run(["image", "inspect", "-f", "{{.Author}}|{{.Comment}}", tag]).stdout == "tester|first\n")
        // Bad input: nothing made.
        let before = Harness.run(["images", "-q"]).stdout
        #expect(Harness.run(["commit", "-c", "FROB x", name, tag + "-bad"]).status == 125)
        #expect(Harness.run(["commit", name, "Bad:Name"]).status == 125)
        #expect(Harness.run(["commit", "no-such-\(getpid())"]).status == 125)
        #expect(Harness.run(["images", "-q"]).stdout == before)
    }
}
