#if canImport(Glibc)
import Glibc
#endif
import CSeccomp
import JSONKit
import LinuxKit
import OCI

/// Compiled BPF programs on disk, keyed by what determines them: the OCI seccomp section, the
/// libseccomp version and the architecture. Compiling Docker's profile costs ~16 ms here; a
/// cached program is one small file read (crun >= 1.10 does the same).
public struct SeccompCache {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func key(for seccomp: OCI.Seccomp) throws -> String {
        var hash = SHA256()
        hash.update(try JSON.encode(seccomp, format: .sortedKeys))
        let version = seccomp_version().pointee
        hash.update(Array("libseccomp \(version.major).\(version.minor).\(version.micro) \(SeccompArch.native)".utf8))
        return SHA256.hex(hash.finalize())
    }

    /// The cached program, or `compile`'s result, stored for next time (atomically; a cache
    /// that cannot be written only costs speed).
    public func filter(for seccomp: OCI.Seccomp, compile: (OCI.Seccomp) throws -> [UInt8]) throws -> [UInt8] {
        let path = directory + "/" + (try key(for: seccomp)) + ".bpf"
        if let cached = try? Files.read(path), !cached.isEmpty, cached.count % 8 == 0 {
            DebugLog.log("seccomp: cached program \(path)")
            return cached
        }
        let program = try compile(seccomp)
        do {
            try Files.makeDirectories(directory, mode: 0o700)
            try Files.writeAtomically(path, program, mode: 0o600, durability: .volatile) // rebuilt when lost
        } catch {
            DebugLog.log("seccomp: cannot cache the program: \(error)")
        }
        return program
    }
}
