// swift-tools-version:6.0
// swiftainer: a Docker-like container runtime for Linux.
// No package dependencies: the toolchain plus Debian's C libraries (zlib, libseccomp, libzstd; libcurl loaded at run time)
// reached through the system-library targets in Modules/.
import PackageDescription

/// Release builds lay out together the functions that a container start executes
/// (Sources/swiftainer/link-order.txt, written by scripts/gen-link-order): the kernel maps a
/// binary's text 64 KiB around each page touched, so hot code scattered over the binary costs
/// resident memory and page faults in both processes of every start.
let packageDirectory = String(#filePath.dropLast("/Package.swift".count))

let package = Package(
    name: "swiftainer",
    products: [
        .executable(name: "swiftainer", targets: ["swiftainer"]),
    ],
    targets: [
        // System libraries (Debian: zlib1g-dev, libseccomp-dev).
        .systemLibrary(name: "CZlib", path: "Modules/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSeccomp", path: "Modules/CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        // zstd-compressed image layers (Debian: libzstd-dev).
        .systemLibrary(name: "CZstd", path: "Modules/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),

        // Only what Swift cannot call: clone with namespace flags, raw syscalls, variadic ioctl/prctl.
        // zlib for compressing rotated container logs (json_log.c).
        .target(name: "CLinux", linkerSettings: [.linkedLibrary("z")]),

        .target(name: "LinuxKit", dependencies: ["CLinux"]),
        // libcurl, dlopen'ed on first use (Debian: libcurl4-openssl-dev for curl.h at build
        // time, libcurl4 at run time): only pull needs HTTP.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("dl")]),
        // Codable <-> JSON without Foundation (the binary starts twice per container).
        .target(name: "JSONKit"),
        // Go's text/template over JSON values: --format and inspect -f.
        .target(name: "Templates", dependencies: ["JSONKit"]),
        .target(name: "OCI", dependencies: ["LinuxKit"]),
        .target(name: "Images", dependencies: ["LinuxKit", "OCI", "JSONKit", "CZlib", "CZstd"]),
        .target(name: "Cgroups", dependencies: ["OCI", "LinuxKit", "CLinux"]),
        .target(name: "Seccomp", dependencies: ["OCI", "LinuxKit", "JSONKit", "CSeccomp"]),
        .target(name: "Runtime", dependencies: ["OCI", "LinuxKit", "JSONKit", "CLinux", "Seccomp", "Cgroups"]),
        // The container core: one handle (create/start/run/exec/signal/pause/delete/state) and
        // one state layout, under both the OCI verbs and the engine.
        .target(name: "Containers", dependencies: ["Runtime", "OCI", "LinuxKit", "JSONKit", "CLinux", "Cgroups"]),
        .target(name: "Netlink", dependencies: ["LinuxKit", "CLinux"]),
        .target(name: "Network", dependencies: ["Netlink", "LinuxKit"]),
        // The OCI distribution API over CCurl: pull images from registries.
        .target(name: "Registry", dependencies: ["Images", "LinuxKit", "JSONKit", "CCurl"]),
        .target(name: "Engine", dependencies: ["Images", "Registry", "Containers", "Runtime", "OCI", "LinuxKit", "JSONKit", "Seccomp", "Cgroups", "Network", "Netlink"]),
        .target(name: "CLI", dependencies: ["Engine", "Registry", "Containers", "Runtime", "Images", "OCI", "LinuxKit", "JSONKit", "Templates"]),
        .executableTarget(
            name: "swiftainer", dependencies: ["CLI"], exclude: ["link-order.txt"],
            // gold, named rather than assumed: the ordering option is gold's (lld spells it differently).
            linkerSettings: [.unsafeFlags(["-use-ld=gold", "-Xlinker", "--section-ordering-file=\(packageDirectory)/Sources/swiftainer/link-order.txt"],
                                          .when(configuration: .release))]),

        // Helpers shared by the test targets (temporary directories, a seeded generator).
        .target(name: "TestSupport", dependencies: ["LinuxKit"], path: "Tests/TestSupport"),
        .testTarget(name: "LinuxKitTests", dependencies: ["LinuxKit", "TestSupport"]),
        .testTarget(name: "JSONKitTests", dependencies: ["JSONKit", "TestSupport"]),
        .testTarget(name: "TemplatesTests", dependencies: ["Templates", "JSONKit"]),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "OCI", "LinuxKit", "TestSupport"]),
        .testTarget(name: "SeccompTests", dependencies: ["Seccomp", "OCI", "TestSupport"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "LinuxKit", "TestSupport"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "Images", "LinuxKit"]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "Engine", "Images", "JSONKit", "TestSupport"]),
        // The runtime's mechanism as non-root: rootfs setup against a recording fake kernel.
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Cgroups", "OCI", "LinuxKit", "CLinux", "TestSupport"]),
        .testTarget(name: "ContainersTests", dependencies: ["Containers", "Runtime", "OCI", "LinuxKit", "TestSupport"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink"]),
        .testTarget(name: "NetworkTests", dependencies: ["Network", "Netlink", "TestSupport"]),
        // Root + real kernel. Depends on the executable so `swift test` builds it.
        .testTarget(name: "IntegrationTests", dependencies: ["swiftainer", "LinuxKit", "CLinux"]),
    ],
    swiftLanguageModes: [.v5]
)

// Release builds: generic types in our code reach their metadata through accessor functions
// rather than mangled names (demangling one at run time looks its conformances up by scanning
// every conformance record in the binary, ~2 ms of each process start through the Codable
// paths); every function gets its own section, so the link order above can place it.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors", "-Xfrontend", "-function-sections"],
                     .when(configuration: .release)),
    ]
}
