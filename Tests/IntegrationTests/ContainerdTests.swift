#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// containerd 1.6 (Debian) with its runc shim calling swiftainer as `runc`: a private daemon
/// (own root, state and socket, no CRI plugin), the fixture as an OCI image archive made by
/// `podman save`, and `ctr run --runc-binary`. As ../shared/PEERS.md describes.
@Suite(.serialized, requiresRoot) struct ContainerdTests {
    static let dir = Harness.root + "/containerd"
    static var socket: String { dir + "/containerd.sock" }
    nonisolated(unsafe) static var started: Harness.Running?

    /// The daemon, started once for the suite; nil if it did not come up.
    static let daemon: Harness.Running? = {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try? """
        version = 2
        root = "\(dir)/root"
        state = "\(dir)/state"
        disabled_plugins = ["io.containerd.grpc.v1.cri"]
        [grpc]
          address = "\(socket)"
        [ttrpc]
          address = "\(socket).ttrpc"
        """.write(toFile: dir + "/config.toml", atomically: true, encoding: .utf8)
        let running = Harness.start("/usr/bin/containerd", ["--config", dir + "/config.toml"], environment: [:], stdin: nil)
        started = running
        // Stopped when the test process exits (by its pid); its shims are gone by then, as
        // every test removes its task.
        atexit {
            guard let daemon = ContainerdTests.started else { return }
            daemon.signal(SIGTERM)
            _ = daemon.finish()
        }
        guard Harness.eventually(10, { FileManager.default.fileExists(atPath: socket) }) else { return nil }
        return running
    }()

    /// The fixture as an image in the daemon, through Podman's store (PodmanTests imports it).
    static let image: Bool = {
        guard daemon != nil, PodmanTests.imported else { return false }
        let archive = dir + "/busybox-oci.tar"
        guard PodmanTests.podman(["save", "--format", "oci-archive", "-o", archive, "localhost/swiftainer-busybox:latest"]).status == 0 else { return false }
        return ctr(["images", "import", "--snapshotter", "native", archive]).status == 0
    }()

    @discardableResult
    static func ctr(_ arguments: [String]) -> Harness.Result {
        Harness.execute("/usr/bin/ctr", ["-a", socket, "-n", "swiftainer-tests"] + arguments, environment: [:], stdin: nil)
    }

    @Test func ctrRunsAContainerThroughSwiftainer() throws {
        try #require(Self.image, "containerd did not start or the image did not import (see \(Self.dir))")
        let id = "ctr-\(getpid())"
        // ctr's default cgroup is /<namespace>/<id>, from the cgroup root: below ours instead.
        let result = Self.ctr(["run", "--rm", "--snapshotter", "native", "--runc-binary", Harness.runtime,
                               "--cgroup", Harness.ownCgroup + "/swiftainer-ctr/" + id,
                               "localhost/swiftainer-busybox:latest", id, "sh", "-c", "echo hello from containerd; echo $$; exit 3"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stdout == "hello from containerd\n1\n", "\(result.stdout)")
        #expect(!Self.ctr(["containers", "ls", "-q"]).stdout.contains(id), "--rm removed it")
        #expect(Harness.hostMountsMentioning(id).isEmpty)
    }
}
