#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Layered images built once per test run by real tools (umoci, from the fixture rootfs), for
/// the image and registry suites: an OCI layout with
///   base  the fixture rootfs (one layer)
///   v2    a layer deleting /etc/os-release and /home, adding /opt/new/file
///   v3    v2 with a config: Entrypoint /bin/echo, Cmd from-image, Env, WorkingDir, User daemon
///   solo  base with a layer of its own (random bytes: no other image shares it)
/// Servers the tests started (registries, a token service): ended, reaped and their output
/// files removed when the test process exits.
nonisolated(unsafe) var testServers: [Harness.Running] = []

enum TestImages {
    /// The suites' scratch directory, made on first use and removed (with the servers the
    /// tests started) when the test process exits.
    static let work: String = {
        let directory = "/tmp/swiftainer-images-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        atexit {
            // SIGKILL: a child spawned with the signal mask the test process has may block SIGTERM.
            for server in testServers {
                server.signal(SIGKILL)
                _ = server.finish(within: 5)
            }
            try? FileManager.default.removeItem(atPath: "/tmp/swiftainer-images-\(getpid())")
        }
        return directory
    }()

    static let layout: String? = {
        guard Harness.isRoot else { return nil }
        let built = Harness.shell("""
            set -e
            cd \(work)
            umoci init --layout img
            umoci new --image img:base
            umoci unpack --image img:base bundle >/dev/null
            tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C bundle/rootfs
            umoci repack --image img:base bundle
            rm -rf bundle
            umoci unpack --image img:base bundle >/dev/null
            rm -rf bundle/rootfs/etc/os-release bundle/rootfs/home
            mkdir -p bundle/rootfs/opt/new && echo layered > bundle/rootfs/opt/new/file
            umoci repack --image img:v2 bundle
            rm -rf bundle
            umoci unpack --image img:base bundle >/dev/null
            head -c 4096 /dev/urandom > bundle/rootfs/solo
            umoci repack --image img:solo bundle
            rm -rf bundle
            umoci config --image img:v2 --tag v3 --config.entrypoint /bin/echo --config.cmd from-image \\
                --config.env PATH=/bin:/usr/bin --config.env GREETING=hello --config.workingdir /opt/new --config.user daemon
            """)
        guard built.status == 0 else {
            Issue.record("building the test images with umoci failed: \(built.stderr)")
            return nil
        }
        return work + "/img"
    }()

    /// A TCP port nothing listens on right now (the kernel's pick).
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }
}
