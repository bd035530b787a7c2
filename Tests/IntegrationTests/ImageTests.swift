#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Layered images (issue #15) made by real tools — umoci builds an OCI layout from the fixture,
/// skopeo writes it as docker-archive and oci-archive — and by a small script where exact
/// layer contents matter (opaque directories, 100 layers); loaded, then run.
@Suite(.serialized, requiresRoot) struct ImageTests {
    static let work = TestImages.work

    /// The layered test images written out by skopeo in both archive formats.
    static let archives: (docker: String, oci: String)? = {
        guard let layout = TestImages.layout else { return nil }
        let written = Harness.shell("""
            set -e
            skopeo copy -q oci:\(layout):v3 docker-archive:\(work)/v3-docker.tar:example.test/layered:docker
            skopeo copy -q oci:\(layout):v3 oci-archive:\(work)/v3-oci.tar:example.test/layered:oci
            """)
        guard written.status == 0 else {
            Issue.record("skopeo copy failed: \(written.stderr)")
            return nil
        }
        return (work + "/v3-docker.tar", work + "/v3-oci.tar")
    }()

    /// zstd-compressed layers (skopeo recompresses the layout's layers) load and run.
    @Test func zstdLayersLoadAndRun() throws {
        let layout = try #require(TestImages.layout)
        let file = "\(Self.work)/v3-zstd.tar"
        let written = Harness.shell("skopeo copy -q --dest-compress --dest-compress-format zstd oci:\(layout):v3 oci-archive:\(file):example.test/zstd:1")
        try #require(written.status == 0, "\(written.stderr)")
        #expect(Harness.shell("tar -xOf \(file) index.json").status == 0)
        let loaded = Harness.run(["load", "-i", file])
        #expect(loaded.status == 0 && loaded.stdout == "Loaded image: example.test/zstd:1\n", "\(loaded.stdout) \(loaded.stderr)")
        defer { _ = Harness.run(["rmi", "example.test/zstd:1"]) }
        #expect(Harness.run(["run", "--rm", "example.test/zstd:1", "zstd", "ok"]).stdout == "zstd ok\n")
    }

    @Test func imagesFromUmociAndSkopeoLoadAndRunWithTheirConfig() throws {
        let archives = try #require(Self.archives)
        for (file, tag) in [(archives.docker, "docker"), (archives.oci, "oci")] {
            let loaded = Harness.run(["load", "-i", file])
            #expect(loaded.status == 0 && loaded.stdout == "Loaded image: example.test/layered:\(tag)\n", "\(loaded.stdout) \(loaded.stderr)")
            let image = "example.test/layered:\(tag)"
            // Entrypoint + Cmd; arguments replace Cmd only.
            #expect(Harness.run(["run", "--rm", image]).stdout == "from-image\n")
            #expect(Harness.run(["run", "--rm", image, "replaced", "cmd"]).stdout == "replaced cmd\n")
            // Env, WorkingDir, User from the config; the deleting layer's whiteouts hide the
            // base layer's files; the added file is there.
            let inside = Harness.run(["run", "--rm", "--entrypoint", "/bin/sh", image, "-c",
                                      "echo $GREETING; pwd; id -un; cat file; ls /etc/os-release /home 2>&1 | wc -l; ls /bin/busybox"])
            #expect(inside.stdout == "hello\n/opt/new\ndaemon\nlayered\n2\n/bin/busybox\n", "\(inside.stdout) \(inside.stderr)")
            #expect(Harness.run(["run", "--rm", "-u", "root", "--entrypoint", "id", image, "-u"]).stdout == "0\n", "-u wins over the image's User")
        }
        // Both archives hold the same layers: stored once.
        let layers = try FileManager.default.contentsOfDirectory(atPath: Harness.root + "/images/layers")
        #expect(layers.count >= 2)
        #expect(Harness.run(["rmi", "example.test/layered:docker", "example.test/layered:oci"]).status == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: Harness.root + "/images/layers")
        #expect(left.count == layers.count - 2, "the two layers of the removed image went: \(layers) -> \(left)")
    }

    /// Builds a docker-archive of `layers` (name -> file contents, with `.wh.` names as they are)
    /// on top of the fixture rootfs, tagged `tag`.
    func craft(_ tag: String, layers: [[(String, String)]], config extra: String = "") throws -> String {
        let path = "\(Self.work)/\(tag.replacingOccurrences(of: ":", with: "-").replacingOccurrences(of: "/", with: "_")).tar"
        try FileManager.default.createDirectory(atPath: Self.work, withIntermediateDirectories: true)
        let spec = try JSONSerialization.data(withJSONObject: layers.map { $0.map { [$0.0, $0.1] } })
        let script = """
            import gzip, hashlib, io, json, sys, tarfile
            fixture, out, tag, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
            layers = [gzip.open(fixture).read()]
            for files in json.loads(sys.stdin.read()):
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
                    for name, content in files:
                        info = tarfile.TarInfo(name)
                        if name.endswith("/"):
                            info.type = tarfile.DIRTYPE; info.mode = 0o755
                            t.addfile(info)
                        else:
                            data = content.encode(); info.size = len(data); info.mode = 0o644
                            t.addfile(info, io.BytesIO(data))
                layers.append(buf.getvalue())
            diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
            config = json.dumps({"architecture": "amd64", "os": "linux",
                                 "config": dict({"Env": ["PATH=/bin:/usr/bin"], "Cmd": ["/bin/sh"]}, **json.loads(extra or "{}")),
                                 "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            with tarfile.open(out, "w") as t:
                def add(name, data):
                    info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
                add(config_name, config)
                for i, l in enumerate(layers):
                    add("%d/layer.tar" % i, l)
                add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [tag],
                                                  "Layers": ["%d/layer.tar" % i for i in range(len(layers))]}]).encode())
            """
        let made = Harness.execute("/usr/bin/python3", ["-c", script, Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", path, tag, extra],
                                   environment: [:], stdin: String(decoding: spec, as: UTF8.self))
        try #require(made.status == 0, "\(made.stderr)")
        return path
    }

    @Test func opaqueDirectoriesAndReplacedDirectoriesHideTheLowerLayers() throws {
        let file = try craft("example.test/opaque:1", layers: [
            [("data/", ""), ("data/a", "a"), ("data/b", "b"), ("keep/", ""), ("keep/x", "x"), ("gone/", ""), ("gone/y", "y")],
            [("data/", ""), ("data/.wh..wh..opq", ""), ("data/c", "c"), ("keep/z", "z"), (".wh.gone", ""), ("gone/", ""), ("gone/new", "n")],
        ])
        #expect(Harness.run(["load", "-i", file]).status == 0)
        defer { _ = Harness.run(["rmi", "example.test/opaque:1"]) }
        let listing = Harness.run(["run", "--rm", "example.test/opaque:1", "sh", "-c", "ls /data | tr '\\n' ' '; echo; ls /keep | tr '\\n' ' '; echo; ls /gone"])
        #expect(listing.stdout == "c \nx z \nnew\n", "\(listing.stdout) \(listing.stderr)")
    }

    /// 100 layers: their paths as absolute lowerdirs would exceed the page overlay's options
    /// must fit in; the short links, mounted from their directory, do not.
    @Test func aHundredLayersRun() throws {
        let layers = (0..<100).map { [("layers/", ""), ("layers/\($0)", "layer \($0)\n")] }
        let file = try craft("example.test/deep:100", layers: layers)
        let loaded = Harness.run(["load", "-i", file])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        defer { _ = Harness.run(["rmi", "example.test/deep:100"]) }
        let result = Harness.run(["run", "--rm", "example.test/deep:100", "sh", "-c", "ls /layers | wc -l; cat /layers/0 /layers/99"])
        #expect(result.stdout == "100\nlayer 0\nlayer 99\n", "\(result.stdout) \(result.stderr)")
    }

    @Test func anImageWithoutACommandIsRefusedByName() throws {
        let file = try craft("example.test/nocmd:1", layers: [], config: #"{"Cmd": null}"#)
        #expect(Harness.run(["load", "-i", file]).status == 0)
        defer { _ = Harness.run(["rmi", "example.test/nocmd:1"]) }
        let result = Harness.run(["run", "--rm", "example.test/nocmd:1"])
        #expect(result.status == 125 && result.stderr.contains("no command specified"), "\(result.stderr)")
    }

    /// The image's HEALTHCHECK runs (with --health-* over its fields), --no-healthcheck turns it
    /// off; its ExposedPorts are what -P publishes.
    @Test func imageHealthcheckAndExposedPorts() throws {
        let file = try craft("example.test/health:1", layers: [[("app/", "")]],
                             config: #"{"Healthcheck": {"Test": ["CMD", "/bin/sh", "-c", "echo from-image"], "Interval": 30000000000, "Retries": 3}, "ExposedPorts": {"8080/tcp": {}}}"#)
        #expect(Harness.run(["load", "-i", file]).status == 0)
        let checked = "imghealth-\(getpid())", unchecked = "imgnohealth-\(getpid())"
        defer { _ = Harness.run(["rm", "-f", checked, unchecked]); _ = Harness.run(["rmi", "-f", "example.test/health:1"]) }
        _ = Harness.detach(checked, ["--health-interval", "100ms", "-P", "example.test/health:1", "sleep", "60"])
        #expect(Harness.eventually(10) { Harness.run(["ps"]).stdout.split(separator: "\n").contains { $0.hasSuffix(checked) && $0.contains("(healthy)") } })
        let health = Harness.inspect(checked, "State")["Health"] as? [String: Any]
        #expect(((health?["Log"] as? [[String: Any]])?.last?["Output"] as? String) == "from-image\n", "\(String(describing: health))")
        let ports = Harness.inspect(checked, "NetworkSettings")["Ports"] as? [String: Any]
        #expect(ports?.keys.sorted() == ["8080/tcp"], "\(String(describing: ports))")
        _ = Harness.detach(unchecked, ["--network", "none", "--no-healthcheck", "example.test/health:1", "sleep", "60"])
        usleep(300_000)
        #expect(Harness.inspect(unchecked, "State")["Health"] == nil)
        #expect(Harness.run(["ps"]).stdout.split(separator: "\n").first { $0.hasSuffix(unchecked) }?.contains("(health") == false)
    }

    /// The image's StopSignal is what `stop` sends; `tag`, `inspect` and `history` show the
    /// image as Docker does.
    @Test func stopSignalTagInspectAndHistory() throws {
        let file = try craft("example.test/signals:1", layers: [[("app/", ""), ("app/run", "x")]],
                             config: #"{"StopSignal": "SIGUSR1", "Labels": {"team": "runtime"}, "ExposedPorts": {"8080/tcp": {}}}"#)
        #expect(Harness.run(["load", "-i", file]).status == 0)
        defer { _ = Harness.run(["rmi", "-f", "example.test/signals:1", "example.test/signals:again"]) }
        let name = "stopsignal-\(getpid())"
        _ = Harness.detach(name, ["example.test/signals:1", "sh", "-c", "trap 'echo got usr1; exit 7' USR1; echo ready; while true; do sleep 0.1; done"])
        defer { _ = Harness.run(["rm", "-f", name]) }
        #expect(Harness.eventually { Harness.run(["logs", name]).stdout.contains("ready") })
        #expect(Harness.run(["stop", "-t", "10", name]).status == 0)
        #expect(Harness.run(["wait", name]).stdout == "7\n", "SIGUSR1, not SIGTERM then SIGKILL")
        #expect(Harness.run(["logs", name]).stdout.contains("got usr1"))

        #expect(Harness.run(["tag", "example.test/signals:1", "example.test/signals:again"]).status == 0)
        let inspected = try JSONSerialization.jsonObject(with: Data(Harness.run(["inspect", "example.test/signals:again"]).stdout.utf8)) as? [[String: Any]]
        let image = try #require(inspected?.first)
        #expect((image["RepoTags"] as? [String])?.sorted() == ["example.test/signals:1", "example.test/signals:again"])
        let config = image["Config"] as? [String: Any]
        #expect(config?["StopSignal"] as? String == "SIGUSR1" && (config?["Labels"] as? [String: String]) == ["team": "runtime"])
        #expect((config?["ExposedPorts"] as? [String: Any])?.keys.sorted() == ["8080/tcp"])
        #expect(((image["RootFS"] as? [String: Any])?["Layers"] as? [String])?.count == 2)
        #expect((image["Id"] as? String)?.hasPrefix("sha256:") == true)
        let history = Harness.run(["history", "-q", "example.test/signals:1"])
        #expect(history.status == 0 && history.stdout.split(separator: "\n").count >= 1, "\(history.stdout) \(history.stderr)")
        let bad = Harness.run(["tag", "example.test/signals:1", "Not/Valid"])
        #expect(bad.status == 125 && bad.stderr.contains("invalid image reference"), "\(bad.stderr)")
    }

    /// save writes a docker-archive that other tools read (skopeo, podman load), load reads
    /// what podman save writes, and a save/load round trip keeps the image id.
    @Test func saveAndLoadInterchangeWithPodmanAndSkopeo() throws {
        let archives = try #require(Self.archives)
        #expect(Harness.run(["load", "-i", archives.docker]).status == 0)
        defer { _ = Harness.run(["rmi", "-f", "example.test/layered:docker"]) }
        let saved = "\(Self.work)/saved.tar"
        let save = Harness.run(["save", "-o", saved, "example.test/layered:docker"])
        #expect(save.status == 0, "\(save.stderr)")
        let inspected = Harness.shell("skopeo inspect docker-archive:\(saved)")
        #expect(inspected.status == 0 && inspected.stdout.contains("\"Architecture\": \"amd64\""), "\(inspected.stderr)")
        // Podman, in a store of its own, loads it, runs nothing, and saves it back in both formats.
        let home = "\(Self.work)/podman"
        let podman = { (arguments: [String]) in
            Harness.execute("/usr/bin/podman", ["--root", home + "/graph", "--runroot", home + "/run", "--storage-driver", "vfs",
                                                "--cgroup-manager", "cgroupfs", "--events-backend", "file"] + arguments, environment: [:], stdin: nil)
        }
        let loaded = podman(["load", "-i", saved])
        #expect(loaded.status == 0 && loaded.stdout.contains("example.test/layered:docker"), "\(loaded.stdout) \(loaded.stderr)")
        for format in ["docker-archive", "oci-archive"] {
            let file = "\(Self.work)/podman-\(format).tar"
            let written = podman(["save", "--format", format, "-o", file, "example.test/layered:docker"])
            #expect(written.status == 0, "\(written.stderr)")
            let root = "\(Self.work)/store-\(format)"
            let result = Harness.run(["load", "-i", file], root: root)
            #expect(result.status == 0, "\(format): \(result.stderr)")
            let image = result.stdout.hasPrefix("Loaded image: ") ? String(result.stdout.dropFirst("Loaded image: ".count).dropLast()) : ""
            let ran = Harness.run(["run", "--rm", image.isEmpty ? "none" : image, "from", format], root: root)
            #expect(ran.stdout == "from \(format)\n", "\(format) \(image): \(ran.stdout) \(ran.stderr)")
        }
        // The round trip through our own save keeps the image id.
        let before = Harness.run(["inspect", "example.test/layered:docker"]).stdout
        let root = "\(Self.work)/store-roundtrip"
        #expect(Harness.run(["load", "-i", saved], root: root).status == 0)
        let after = Harness.run(["inspect", "example.test/layered:docker"], root: root).stdout
        let id = { (json: String) in json.split(separator: "\n").first { $0.contains("\"Id\"") } }
        #expect(id(before) != nil && id(before) == id(after), "\(String(describing: id(before))) vs \(String(describing: id(after)))")
        // The OCI image layout: skopeo reads it; it loads back and runs.
        let oci = "\(Self.work)/saved-oci.tar"
        #expect(Harness.run(["save", "--format", "oci-archive", "-o", oci, "example.test/layered:docker"]).status == 0)
        let ociInspected = Harness.shell("skopeo inspect oci-archive:\(oci)")
        #expect(ociInspected.status == 0 && ociInspected.stdout.contains("\"Architecture\": \"amd64\""), "\(ociInspected.stderr)")
        let ociRoot = "\(Self.work)/store-oci-roundtrip"
        let ociLoaded = Harness.run(["load", "-i", oci], root: ociRoot)
        #expect(ociLoaded.stdout == "Loaded image: example.test/layered:docker\n", "\(ociLoaded.stdout) \(ociLoaded.stderr)")
        #expect(Harness.run(["run", "--rm", "example.test/layered:docker", "oci", "layout"], root: ociRoot).stdout == "oci layout\n")
        // Without -o, to standard output (a file here, not a terminal).
        let toStdout = Harness.shell("SWIFTAINER_ROOT=\(Harness.root) \(Harness.binary) save example.test/layered:docker | tar -tf - | grep -c layer.tar")
        #expect(toStdout.stdout == "2\n", "\(toStdout.stdout) \(toStdout.stderr)")
    }

    /// image prune: unused images go with their layers and blobs; one a container uses stays.
    /// (A store of its own: prune -a would take the fixture the other suites run.)
    @Test func imagePruneKeepsWhatContainersUse() throws {
        let root = "\(Self.work)/store-prune"
        let file = try craft("example.test/prune:1", layers: [[("prune-me/", ""), ("prune-me/x", "unique \(getpid())\n")]])
        #expect(Harness.run(["load", "-i", file], root: root).status == 0)
        func stored(_ directory: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/images/\(directory)")) ?? []) }
        #expect(stored("layers").count == 2 && stored("blobs/sha256").count == 3)
        let name = "prune-user-\(getpid())"
        let started = Harness.run(["run", "-d", "--name", name, "--network", "none", "example.test/prune:1", "sleep", "100"], root: root)
        #expect(started.status == 0, "\(started.stderr)")
        let kept = Harness.run(["image", "prune", "-a", "-f"], root: root)
        #expect(kept.status == 0 && Harness.run(["image", "ls"], root: root).stdout.contains("example.test/prune"), "\(kept.stdout) \(kept.stderr)")
        #expect(Harness.run(["rm", "-f", name], root: root).status == 0)
        let pruned = Harness.run(["image", "prune", "-a", "-f"], root: root)
        #expect(pruned.status == 0 && pruned.stdout.contains("Untagged: example.test/prune:1") && pruned.stdout.contains("Total reclaimed space:"), "\(pruned.stdout)")
        #expect(!Harness.run(["images"], root: root).stdout.contains("example.test/prune"))
        #expect(stored("layers").isEmpty && stored("blobs/sha256").isEmpty && stored("layerinfo").isEmpty && stored("l").isEmpty,
                "\(stored("layers")) \(stored("blobs/sha256")) \(stored("layerinfo")) \(stored("l"))")
    }
}
