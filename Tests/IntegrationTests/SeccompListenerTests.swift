#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import Testing

/// A seccomp agent as runc's tests use one: listens on a unix socket, takes the notify fd and
/// the container's process state, and answers notified syscalls with an errno.
final class SeccompAgent {
    let path: String
    private let socket: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(socket, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(socket)
        unlink(path)
    }

    private static func wait(_ fd: Int32, seconds: Int32) -> Int16 {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, seconds * 1000) == 1 ? entry.revents : 0
    }

    /// The next runtime's hand-over: the process state as JSON and the notify fd.
    func accept(within seconds: Int32 = 20) -> (state: [String: Any], notify: Int32)? {
        guard Self.wait(socket, seconds: seconds) & Int16(POLLIN) != 0 else { return nil }
        let connection = Glibc.accept(socket, nil, nil)
        guard connection >= 0 else { return nil }
        defer { close(connection) }
        var bytes = [UInt8](repeating: 0, count: 65536)
        var fd: Int32 = -1
        let n = bytes.withUnsafeMutableBytes { sw_recv_fd(connection, &fd, $0.baseAddress, $0.count) }
        guard n > 0, fd >= 0,
              let state = try? JSONSerialization.jsonObject(with: Data(bytes[0..<n])) as? [String: Any] else { return nil }
        return (state, fd)
    }

    /// Answers every notification on `notify` with -`errno` until the filter's last process is
    /// gone; returns the syscall numbers answered.
    static func answer(_ notify: Int32, errno error: Int32) -> [Int32] {
        var answered: [Int32] = []
        while true {
            let events = wait(notify, seconds: 20)
            guard events & Int16(POLLIN) != 0 else { break } // POLLHUP: no process left, or timeout
            // struct seccomp_notif (80 bytes): id u64, pid u32, flags u32, data { nr i32, arch u32, ip u64, args[6] u64 }.
            var request = [UInt8](repeating: 0, count: 80)
            let received = request.withUnsafeMutableBytes { ioctl(notify, 0xC050_2100, $0.baseAddress!) } // SECCOMP_IOCTL_NOTIF_RECV
            guard received == 0 else { continue }
            let id = request.withUnsafeBytes { $0.load(fromByteOffset: 0, as: UInt64.self) }
            answered.append(request.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int32.self) })
            // struct seccomp_notif_resp (24 bytes): id u64, val s64, error s32, flags u32.
            var response = [UInt8](repeating: 0, count: 24)
            response.withUnsafeMutableBytes {
                $0.storeBytes(of: id, toByteOffset: 0, as: UInt64.self)
                $0.storeBytes(of: -error, toByteOffset: 16, as: Int32.self)
            }
            _ = response.withUnsafeMutableBytes { ioctl(notify, 0xC018_2101, $0.baseAddress!) } // SECCOMP_IOCTL_NOTIF_SEND
        }
        return answered
    }
}

/// linux.seccomp.listenerPath: seccomp user notification through the OCI runtime.
@Suite(.serialized, requiresRoot) struct SeccompListenerTests {
    let commandLine = OCICommandLineTests()

    func notifyingBundle(_ args: [String], listener: String?) throws -> String {
        let dir = try commandLine.bundle(args)
        var config = try commandLine.readConfig(dir)
        var linux = config["linux"] as! [String: Any]
        var seccomp: [String: Any] = ["defaultAction": "SCMP_ACT_ALLOW",
                                      "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"]]]
        if let listener {
            seccomp["listenerPath"] = listener
            seccomp["listenerMetadata"] = "agent-test"
        }
        linux["seccomp"] = seccomp
        config["linux"] = linux
        try commandLine.writeConfig(dir, config)
        return dir
    }

    @Test func theListenerGetsTheNotifyFdAndTheStateAndAnswersTheSyscalls() throws {
        let socketPath = "/tmp/swiftainer-agent-\(getpid()).sock"
        let agent = try SeccompAgent(path: socketPath)
        let dir = try notifyingBundle(["sh", "-c", "mkdir /tmp/made; echo rc=$?"], listener: socketPath)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "notify-\(getpid())"
        let running = Harness.start(Harness.runtime, ["--root", Harness.root + "/oci", "run", "--bundle", dir, id], environment: [:], stdin: nil)
        let handOver = agent.accept()
        let answered = handOver.map { SeccompAgent.answer($0.notify, errno: ENOSPC) } ?? []
        let result = running.finish()
        let state = try #require(handOver?.state, "the runtime connected and sent the notify fd: \(result.stderr)")
        close(handOver?.notify ?? -1)
        #expect(state["fds"] as? [String] == ["seccompFd"])
        #expect(state["metadata"] as? String == "agent-test")
        #expect(state["ociVersion"] as? String != nil)
        let inner = state["state"] as? [String: Any]
        #expect(inner?["id"] as? String == id)
        #expect((state["pid"] as? Int ?? 0) > 0 && state["pid"] as? Int == inner?["pid"] as? Int, "\(state)")
        // mkdir (83) or mkdirat (258) went to the agent, which said ENOSPC.
        #expect(answered.contains { $0 == 83 || $0 == 258 }, "\(answered)")
        #expect(result.status == 0 && result.stdout == "rc=1\n", "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("No space left on device"), "\(result.stderr)")
    }

    /// A listener that is not there fails the launch by name, before anything exists; a
    /// notifying profile without a listener is refused.
    @Test func aMissingListenerFailsCleanlyAndNotifyWithoutOneIsRefused() throws {
        let missing = "/tmp/swiftainer-no-agent-\(getpid()).sock"
        let dir = try notifyingBundle(["true"], listener: missing)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = "noagent-\(getpid())"
        let failed = commandLine.oci(["run", "--bundle", dir, id])
        #expect(failed.status == 125, "\(failed.stderr)")
        #expect(failed.stderr.contains("linux.seccomp.listenerPath \(missing): connect") && failed.stderr.contains("ENOENT"), "\(failed.stderr)")
        #expect(!commandLine.oci(["list", "-q"]).stdout.contains(id), "no state is left")
        #expect(!FileManager.default.fileExists(atPath: Harness.groupDirectory(id, "pids") ?? "/"), "no cgroup is left")

        let unheard = try notifyingBundle(["true"], listener: nil)
        defer { try? FileManager.default.removeItem(atPath: unheard) }
        let refused = commandLine.oci(["run", "--bundle", unheard, id])
        #expect(refused.status == 125 && refused.stderr.contains("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath"), "\(refused.stderr)")
    }
}
