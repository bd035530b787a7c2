import FoundationEssentials
import Testing
@testable import OCI

@Suite struct SpecTests {
    /// The shape `runc spec` writes, trimmed.
    let runcSpec = """
    {
      "ociVersion": "1.0.2-dev",
      "process": {
        "terminal": true,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": true
      },
      "root": {"path": "rootfs", "readonly": true},
      "hostname": "runc",
      "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
      ],
      "linux": {
        "resources": {"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 67108864}, "pids": {"limit": 10}},
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "mount"}],
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
      },
      "annotations": {"a": "b"},
      "unknownFutureField": {"ignored": true}
    }
    """

    @Test func decodesARuncSpec() throws {
        let spec = try JSONDecoder().decode(Spec.self, from: Data(runcSpec.utf8))
        #expect(spec.process?.terminal == true)
        #expect(spec.process?.capabilities?.bounding == ["CAP_AUDIT_WRITE", "CAP_KILL"])
        #expect(spec.process?.rlimits?.first?.hard == 1024)
        #expect(spec.root?.readonly == true)
        #expect(spec.mounts?[1].options?.contains("mode=755") == true)
        #expect(spec.linux?.namespaces?[1].path == "/proc/1/ns/net")
        #expect(spec.linux?.resources?.memory?.limit == 67_108_864)
        #expect(spec.linux?.resources?.pids?.limit == 10)
        #expect(spec.linux?.seccomp?.syscalls?.first?.names == ["read"])
        #expect(spec.annotations == ["a": "b"])
    }

    @Test func roundTripsThroughJSON() throws {
        let spec = Spec.linuxDefault(args: ["/bin/true"], env: ["A=B"], hostname: "h")
        let decoded = try JSONDecoder().decode(Spec.self, from: try JSONEncoder().encode(spec))
        #expect(decoded == spec)
    }

    @Test func stateUsesTheSpecsNames() throws {
        let state = State(id: "c1", status: .running, pid: 42, bundle: "/b", annotations: nil)
        let json = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        #expect(json.contains("\"status\":\"running\""))
        #expect(json.contains("\"ociVersion\":\"1.0.2\""))
        #expect(json.contains("\"pid\":42"))
    }

    @Test func missingRequiredFieldsAreErrors() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Spec.self, from: Data(#"{"process": {"cwd": "/"}}"#.utf8))
        }
    }
}
