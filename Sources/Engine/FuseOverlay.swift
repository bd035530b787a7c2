#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import OCI
import Runtime

/// Rootless where the kernel refuses overlayfs in a user namespace (kernels before 5.11, or
/// one that turns it off): fuse-overlayfs (Debian's) mounts the container's root in the
/// user's mount namespace before the container is made, and the container's own mount
/// namespace starts with it, bound as a plain directory root. Its daemon ends when the mount
/// goes (`unmount`, at the run's end).
enum FuseOverlay {
    /// `SWIFTAINER_ROOTLESS_OVERLAY=fuse-overlayfs` asks for it (tests, and hosts where the
    /// kernel's overlay misbehaves); otherwise it is used when the kernel's is refused.
    static let variable = "SWIFTAINER_ROOTLESS_OVERLAY"

    static func isNeeded(state: String) -> Bool {
        guard Rootless.isActive else { return false }
        if getenv(variable).map({ String(cString: $0) }) == "fuse-overlayfs" { return true }
        return !kernelOverlayWorks(state: state)
    }

    /// One overlay mount tried in a scratch directory, once per boot (the answer is kept in
    /// the state directory, which is on tmpfs).
    static func kernelOverlayWorks(state: String) -> Bool {
        let answer = state + "/kernel-overlay"
        if let known = try? Files.readString(answer) { return known.hasPrefix("yes") }
        let scratch = state + "/overlay-probe-\(getpid())"
        defer { _ = try? Files.removeTree(scratch) }
        var works = false
        if (try? ["lower", "upper", "work", "merged"].forEach { try Files.makeDirectories(scratch + "/" + $0, mode: 0o700) }) != nil {
            works = (try? Mounts.mount(source: "overlay", target: scratch + "/merged", type: "overlay", flags: 0,
                                       data: "lowerdir=\(scratch)/lower,upperdir=\(scratch)/upper,workdir=\(scratch)/work" + Rootless.overlayMountOptions)) != nil
            if works { _ = umount2(scratch + "/merged", Int32(MNT_DETACH)) }
        }
        try? Files.writeAtomically(answer, works ? "yes\n" : "no\n", mode: 0o600, durability: .volatile)
        return works
    }

    /// Mounts the layers the spec's overlay annotations name at its root, and takes the
    /// annotations out: the init then binds the mounted tree.
    static func mount(_ spec: inout Spec, rootfs: String) throws {
        guard let lower = spec.annotations?[SwiftainerAnnotation.overlayLower], let upper = spec.annotations?[SwiftainerAnnotation.overlayUpper],
              let work = spec.annotations?[SwiftainerAnnotation.overlayWork] else { return }
        try mount(at: rootfs, lowers: lower.split(separator: ":").map(String.init), upper: (upper, work))
        for key in [SwiftainerAnnotation.overlayLower, SwiftainerAnnotation.overlayUpper, SwiftainerAnnotation.overlayWork] {
            spec.annotations?[key] = nil
        }
    }

    /// `lowers` (top first, absolute) at `target`, read-only without `upper` — what
    /// ContainerFiles mounts for `cp` and `export` of a stopped container, whose writable layer
    /// fuse-overlayfs wrote in its own way (opaque directories as `.wh..wh..opq` files, which
    /// the kernel's overlay would show as files).
    static func mount(at target: String, lowers: [String], upper: (directory: String, work: String)?) throws {
        guard let program = ExternalCommand.find("fuse-overlayfs") else {
            throw EngineError.invalidOption("rootless: the kernel refuses overlayfs in a user namespace and fuse-overlayfs is missing (Debian package fuse-overlayfs)")
        }
        let options = "lowerdir=" + lowers.joined(separator: ":") + (upper.map { ",upperdir=\($0.directory),workdir=\($0.work)" } ?? "")
        let result = try ExternalCommand.run(program, argv: ["fuse-overlayfs", "-o", options, target], timeout: 30)
        guard result.status == 0 else {
            throw EngineError.invalidOption("fuse-overlayfs: \(result.stderr.trimmingWhitespace)\(Rootless.deviceHint("/dev/fuse"))")
        }
    }

    /// Lets the mount go (its daemon exits with it); nothing happens where none is mounted.
    static func unmount(rootfs: String) {
        _ = umount2(rootfs, Int32(MNT_DETACH))
    }
}
