#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import OCI
@testable import Runtime
import Testing

/// The runtime's pure parts: mount options, capability plans, the sync protocol's bytes,
/// clone flags and user-namespace maps.
@Suite struct MechanismTests {
    @Test func mountOptionsSplitIntoFlagsPropagationDataAndAttributes() {
        let volume = MountOptions(["rbind", "ro", "nosuid", "rprivate", "size=1m"])
        #expect(volume.isBind && volume.isRecursive)
        #expect(volume.flags == UInt(MS_RDONLY | MS_NOSUID))
        #expect(volume.propagation == [UInt(MS_PRIVATE | MS_REC)])
        #expect(volume.dataString == "size=1m")
        #expect(volume.mountAttributes.set == UInt64(SW_MOUNT_ATTR_RDONLY | SW_MOUNT_ATTR_NOSUID))
        #expect(volume.mountAttributes.clear == 0)

        let relaxed = MountOptions(["bind", "rw", "exec", "noatime"])
        #expect(!relaxed.isRecursive)
        #expect(relaxed.mountAttributes.set == UInt64(SW_MOUNT_ATTR_NOATIME))
        #expect(relaxed.mountAttributes.clear == UInt64(SW_MOUNT_ATTR_RDONLY | SW_MOUNT_ATTR_NOEXEC | SW_MOUNT_ATTR__ATIME))
        // The last of a flag and its opposite wins.
        #expect(MountOptions(["ro", "rw"]).flags & UInt(MS_RDONLY) == 0)
    }

    @Test func capabilityPlansDropTheBoundingSetAndRaiseOnlyPermittedAmbient() throws {
        var capabilities = Capabilities(all: ["CAP_CHOWN", "CAP_KILL"])
        capabilities.ambient = ["CAP_KILL", "CAP_NET_RAW"]
        let plan = try #require(try CapabilitySetup.plan(capabilities, lastCap: 40))
        #expect(plan.boundingDrops == (0...40).filter { $0 != 0 && $0 != 5 })
        #expect(plan.permitted == 1 << 0 | 1 << 5)
        #expect(plan.effective == plan.permitted)
        #expect(plan.ambient == [5]) // CAP_NET_RAW is not permitted: skipped, as runc does
        #expect(try CapabilitySetup.plan(nil, lastCap: 40) == nil)
        capabilities.bounding = ["CAP_NO_SUCH"]
        #expect(throws: RuntimeError.self) { _ = try CapabilitySetup.plan(capabilities, lastCap: 40) }
    }

    @Test func syncMessagesRoundTripAndTruncatedOnesAreRejected() {
        let messages: [SyncMessage] = [.configure([1, 2, 3]), .terminal, .ready, .start, .committed,
                                       .failed(code: 127, message: "exec: no such file"),
                                       .seccompFilter(flags: 0x5, program: [0x20, 0, 0, 0, 4, 0, 0, 0])]
        for message in messages {
            #expect(SyncMessage.decode(message.encoded) == message)
        }
        #expect(SyncMessage.decode([5, 1]) == nil)
        #expect(SyncMessage.decode([6]) == nil)
        #expect(SyncMessage.decode([]) == nil)
        #expect(SyncMessage.decode([99]) == nil)
    }

    @Test func cloneFlagsCreateOnlyTheNamespacesWithoutAPath() throws {
        var spec = Spec.linuxDefault(args: ["/bin/true"], env: [], hostname: "h")
        spec.linux?.namespaces = [Namespace(type: "pid"), Namespace(type: "mount"), Namespace(type: "network", path: "/proc/1/ns/net")]
        #expect(try Launcher.cloneFlags(for: spec) == Int32(SW_CLONE_NEWPID) | Int32(SW_CLONE_NEWNS))
        spec.linux?.namespaces = [Namespace(type: "time")]
        #expect(throws: RuntimeError.self) { _ = try Launcher.cloneFlags(for: spec) }
    }

    @Test func userNamespaceMapsAreOneLinePerMappingAndRequired() throws {
        var spec = Spec.linuxDefault(args: ["/bin/true"], env: [], hostname: "h")
        spec.linux?.uidMappings = [IDMapping(containerID: 0, hostID: 100000, size: 65536)]
        spec.linux?.gidMappings = [IDMapping(containerID: 0, hostID: 100000, size: 1), IDMapping(containerID: 1, hostID: 200001, size: 10)]
        let maps = try UserNamespaceMaps(spec)
        #expect(maps.uid == "0 100000 65536\n")
        #expect(maps.gid == "0 100000 1\n1 200001 10\n")
        spec.linux?.gidMappings = nil
        #expect(throws: RuntimeError.self) { _ = try UserNamespaceMaps(spec) }
    }
}
