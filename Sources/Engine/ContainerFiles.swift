#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Containers
import Images
import LinuxKit
import OCI
import Runtime

/// The container's files from the host: `cp`, `diff`, `export`.
///
/// A running container's root is its init's (/proc/PID/root), with its mounts, as `docker cp`
/// sees it. A stopped one's is its overlay — the image's layers under its writable layer —
/// mounted in a mount namespace private to this process, so nothing is ever left mounted on
/// the host, whatever happens to the process. Paths inside are resolved by RootedDirectory:
/// a symlink in the container (to /etc, say) resolves inside the container, never to the
/// host's files.
extension Engine {
    enum RootAccess {
        /// Read-only; a running container's mounts included (cp from it).
        case read
        /// Read-only, the image and its writable layer only, never its mounts (export).
        case layers
        /// Writable (cp into it): a stopped container's writable layer, held against a start.
        case write
    }

    func withContainerRoot<T>(_ record: ContainerRecord, _ access: RootAccess, _ body: (RootedDirectory) throws -> T) throws -> T {
        if access != .layers, record.isRunning, let pid = record.livePid {
            return try body(try RootedDirectory(path: "/proc/\(pid)/root"))
        }
        // Writing into a stopped container's layer: no start may mount it meanwhile.
        let supervision = access == .write ? containers.takeOverSupervision(record.id) : nil
        defer { supervision?.unlock() }
        if access == .write && supervision == nil {
            // Started meanwhile: the running container's root, if it is up by now.
            let current = try containers.load(record.id)
            guard current.isRunning else { throw EngineError.invalidOption("container \(record.name) is being started: try again") }
            return try withContainerRoot(current, access, body)
        }
        let spec = try ContainerRuntime.readSpec(bundle: paths.container(record.id))
        let annotations = spec.annotations ?? [:]
        guard let lower = annotations[SwiftainerAnnotation.overlayLower], let upper = annotations[SwiftainerAnnotation.overlayUpper],
              let work = annotations[SwiftainerAnnotation.overlayWork] else {
            throw EngineError.invalidOption("container \(record.name) has no layered root filesystem")
        }
        try Self.enterPrivateMountNamespace()
        let mountPoint = paths.container(record.id) + "/rootfs"
        // Overlay's options must fit in a page: layers of a stack share one directory (the
        // store's l/ of short links), named relative to it as the run path does.
        // Read-only, the writable layer is the top lower layer (its whiteouts still hide what
        // it deleted) and a running container's overlay is not disturbed.
        let lowers = lower.split(separator: ":").map(String.init)
        try Self.mountOverlay(at: mountPoint, lowers: access == .write ? lowers : [upper] + lowers,
                              upper: access == .write ? (upper, work) : nil)
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        return try body(try RootedDirectory(path: mountPoint))
    }

    /// An overlay of `lowers` (top first) at `target`, read-only without `upper`. Its options
    /// must fit in a page: the image's layers share one directory (the store's l/ of short
    /// links) and are named relative to it, as the run path names them.
    static func mountOverlay(at target: String, lowers: [String], upper: (directory: String, work: String)?) throws {
        // Rootless where containers run on fuse-overlayfs: their writable layers are its.
        if FuseOverlay.isNeeded(state: Paths().state) { return try FuseOverlay.mount(at: target, lowers: lowers, upper: upper) }
        let previous = try FileDescriptor.open(".", O_PATH | O_DIRECTORY)
        defer { previous.close() }
        // The top lower may be a container's writable layer, elsewhere: named absolutely.
        let shared = lowers.count > 1 ? Files.dirname(of: lowers[lowers.count - 1]) : nil
        var names = lowers
        if let shared, lowers.filter({ Files.dirname(of: $0) == shared }).count > 1 {
            guard chdir(shared) == 0 else { throw SystemError.last("chdir", shared) }
            names = lowers.map { Files.dirname(of: $0) == shared ? String($0.dropFirst(shared.count + 1)) : $0 }
        }
        // Relative host paths mean again what they meant once the mount is made.
        defer { _ = fchdir(previous.raw) }
        let options = "lowerdir=" + names.joined(separator: ":") + (upper.map { ",upperdir=\($0.directory),workdir=\($0.work)" } ?? "")
            + Rootless.overlayMountOptions
        try Mounts.mount(source: "overlay", target: target, type: "overlay", flags: upper == nil ? UInt(MS_RDONLY) : 0, data: options)
    }

    /// Once per process: this process's mounts become its own (and private), so a mount made
    /// for `cp` or `export` is seen by nobody and ends with the process.
    nonisolated(unsafe) private static var ownsMountNamespace = false

    static func enterPrivateMountNamespace() throws {
        guard !ownsMountNamespace else { return }
        guard sw_unshare(Int32(SW_CLONE_NEWNS)) == 0 else { throw SystemError.last("unshare", "mount namespace") }
        try Mounts.mount(source: "none", target: "/", type: "", flags: UInt(MS_REC | MS_PRIVATE))
        ownsMountNamespace = true
    }

    /// The maps of a container with a user namespace of its own (rootless keep-id), which turn
    /// owners on disk into the ones it sees; nil when it sees the ids as they are.
    func ownerMaps(_ record: ContainerRecord) -> IDMaps? {
        (try? ContainerRuntime.readSpec(bundle: paths.container(record.id))).flatMap(Self.ownerMaps(of:))
    }

    static func ownerMaps(of spec: Spec) -> IDMaps? {
        guard spec.linux?.namespaces?.contains(where: { $0.type == "user" && $0.path == nil }) == true,
              let uids = spec.linux?.uidMappings, let gids = spec.linux?.gidMappings else { return nil }
        let maps = IDMaps(uid: IDMap(uids), gid: IDMap(gids))
        return maps.isIdentity ? nil : maps
    }

    // MARK: - export

    /// `export`: the container's file system (image and writable layer, without its mounts)
    /// as a tar stream.
    public func export(_ reference: String, to output: FileDescriptor) throws {
        try Self.requireRoot()
        let record = try containers.find(reference)
        let owners = ownerMaps(record)
        try withContainerRoot(record, .layers) { root in
            let top = try root.open("/", flags: O_RDONLY | O_DIRECTORY)
            defer { top.close() }
            var sink = TarSink(output)
            for name in try Files.listDirectory(top, describing: "/") {
                try FileTreeWalker.walk(parent: top, name: name, as: name, owners: owners, into: &sink)
            }
            try sink.finish()
        }
    }

    // MARK: - diff

    /// `diff`: what the writable layer changed — A(dded), C(hanged), D(eleted) — in path order.
    public func diff(_ reference: String) throws -> [(kind: Character, path: String)] {
        try Self.requireRoot()
        let record = try containers.find(reference)
        let spec = try ContainerRuntime.readSpec(bundle: paths.container(record.id))
        guard let upper = spec.annotations?[SwiftainerAnnotation.overlayUpper], let lower = spec.annotations?[SwiftainerAnnotation.overlayLower] else {
            throw EngineError.invalidOption("container \(record.name) has no layered root filesystem")
        }
        let lowers = try lower.split(separator: ":").map { try RootedDirectory(path: String($0)) }
        let top = try FileDescriptor.open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        defer { top.close() }
        var changes: [(Character, String)] = []
        try diffDirectory(top, path: "", lowers: lowers, underNew: false, into: &changes)
        return changes
    }

    private func diffDirectory(_ directory: FileDescriptor, path: String, lowers: [RootedDirectory], underNew: Bool, into changes: inout [(Character, String)]) throws {
        for name in try Files.listDirectory(directory, describing: path.isEmpty ? "/" : path) {
            let child = path + "/" + name
            var info = stat()
            guard fstatat(directory.raw, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError.last("fstatat", child) }
            let isWhiteout = info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == 0
            // fuse-overlayfs marks an opaque directory with a `.wh..wh..opq` file and a whiteout
            // named `.wh..opq` (the kernel's overlay, with an xattr): no change of the container's.
            if name.hasPrefix(Unpacker.whiteoutPrefix) && (isWhiteout || name == Unpacker.opaqueMarker) { continue }
            // Overlay's whiteout: a 0/0 character device stands for a deleted path.
            if isWhiteout {
                changes.append(("D", child))
                continue
            }
            let inLower = !underNew && lowers.contains { (try? $0.open(child, flags: O_PATH | O_NOFOLLOW))?.close() != nil }
            changes.append((inLower ? "C" : "A", child))
            if info.st_mode & S_IFMT == S_IFDIR {
                let sub = try FileDescriptor.openAt(directory.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                defer { sub.close() }
                try diffDirectory(sub, path: child, lowers: lowers, underNew: !inLower, into: &changes)
            }
        }
    }

    // MARK: - cp

    /// One side of `cp`: a host path, a container's path, or `-` (a tar stream on stdin/stdout).
    public enum CopyEndpoint: Equatable {
        case host(String)
        case container(String, path: String)
        case stream

        /// Docker's reading of an argument: `NAME:PATH` names a container unless the part
        /// before the colon looks like a path (a local path with a colon is written ./a:b).
        public init(parsing text: String) {
            if text == "-" { self = .stream; return }
            if let colon = text.firstIndex(of: ":"), colon != text.startIndex, !text[..<colon].contains("/") {
                self = .container(String(text[..<colon]), path: String(text[text.index(after: colon)...]))
            } else {
                self = .host(text)
            }
        }
    }

    /// `cp SRC DEST`, Docker's rules: a directory source lands inside an existing directory
    /// destination (or becomes a new one), `SRC/.` copies a directory's contents, a file
    /// overwrites a file. `followLink` (-L): a symlink source is copied as what it points to;
    /// `archive` (-a): owners are kept (otherwise root owns what is written).
    public func copy(from source: CopyEndpoint, to destination: CopyEndpoint, followLink: Bool, archive: Bool,
                     input: FileDescriptor = FileDescriptor(0), output: FileDescriptor = FileDescriptor(1)) throws {
        try Self.requireRoot()
        switch (source, destination) {
        case let (.container(name, path), .host(hostPath)):
            let record = try containers.find(name)
            try withContainerRoot(record, .read) { root in
                let item = try Self.locate(path, in: root, followLink: followLink)
                defer { item.parent.close() }
                let target = Self.withoutTrailingSlashes(Files.absolute(hostPath))
                let destinationParent = try FileDescriptor.open(Files.dirname(of: target), O_PATH | O_DIRECTORY)
                defer { destinationParent.close() }
                try Self.copyItem(item, contentsOnly: Self.wantsContents(path), to: destinationParent, target == "/" ? "." : Files.basename(of: target),
                                  destinationText: hostPath, trailingSlash: hostPath.hasSuffix("/"), keepOwners: archive,
                                  owners: (source: ownerMaps(record), destination: nil))
            }
        case let (.host(hostPath), .container(name, path)):
            let record = try containers.find(name)
            let absolute = Self.withoutTrailingSlashes(Files.absolute(hostPath))
            let sourceParent = try FileDescriptor.open(Files.dirname(of: absolute), O_PATH | O_DIRECTORY)
            defer { sourceParent.close() }
            let item = (parent: sourceParent, name: Files.basename(of: absolute), text: hostPath)
            try withContainerRoot(record, .write) { root in
                // The destination's last component may be a symlink in the container (to a
                // directory, say): followed, inside the container.
                let target = try Self.locate(path, in: root, followLink: true, mustExist: false)
                defer { target.parent.close() }
                try Self.copyItem(item, contentsOnly: Self.wantsContents(hostPath), to: target.parent, target.name,
                                  destinationText: "\(name):\(path)", trailingSlash: path.hasSuffix("/"), keepOwners: archive,
                                  owners: (source: nil, destination: ownerMaps(record)))
            }
        case let (.container(name, path), .stream):
            let record = try containers.find(name)
            try withContainerRoot(record, .read) { root in
                let item = try Self.locate(path, in: root, followLink: followLink)
                defer { item.parent.close() }
                var sink = TarSink(output)
                let top = Self.wantsContents(path) ? "." : (item.name == "/" || item.name.isEmpty ? "." : item.name)
                try FileTreeWalker.walk(parent: item.parent, name: item.name, as: top, owners: ownerMaps(record), into: &sink)
                try sink.finish()
            }
        case let (.stream, .container(name, path)):
            let record = try containers.find(name)
            try withContainerRoot(record, .write) { root in
                // Docker's rule: the destination of a tar stream is an existing directory.
                let directory: FileDescriptor
                do {
                    directory = try root.open(path, flags: O_RDONLY | O_DIRECTORY)
                } catch {
                    throw EngineError.invalidOption("cp: destination \(Printable.escaped(name)):\(Printable.escaped(path)) must be an existing directory in the container: \(error)")
                }
                defer { directory.close() }
                var reader = TarReader(FileByteStream(input))
                var unpacker = Unpacker(rootFD: directory.raw)
                unpacker.ownerMap = ownerMaps(record)
                defer { unpacker.close() }
                try unpacker.unpack(&reader)
                try unpacker.finish()
            }
        case (.container, .container):
            throw EngineError.invalidOption("cp: copying between containers is not supported (Docker neither): copy through the host")
        default:
            throw EngineError.invalidOption("cp: one of the two paths must name a container, as CONTAINER:PATH")
        }
    }

    static func withoutTrailingSlashes(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// A path ending in "/." asks for a directory's contents.
    static func wantsContents(_ path: String) -> Bool { path.hasSuffix("/.") || path == "." }

    /// The parent directory (opened inside the root) and the last component of `path`;
    /// with `followLink`, symlinks at the end are followed — inside the root, by rewriting the
    /// path, never by the host's resolution.
    static func locate(_ path: String, in root: RootedDirectory, followLink: Bool, mustExist: Bool = true) throws -> (parent: FileDescriptor, name: String, text: String) {
        var current = "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        for _ in 0..<40 {
            let parentPath = Files.dirname(of: current), name = Files.basename(of: current)
            if name == "/" || name.isEmpty {
                // The root itself: its "parent" is the root, and "." names it.
                return (try root.open("/", flags: O_PATH | O_DIRECTORY), ".", path)
            }
            let parent: FileDescriptor
            do {
                parent = try root.open(parentPath, flags: O_PATH | O_DIRECTORY)
            } catch let error as SystemError {
                throw EngineError.invalidOption("cp: no such file or directory in the container: \(Printable.escaped(path)) (\(Printable.escaped(parentPath)): \(error.message))")
            }
            var info = stat()
            if fstatat(parent.raw, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                let error = SystemError.last("lstat", path)
                if !mustExist && errno == ENOENT { return (parent, name, path) }
                parent.close()
                throw EngineError.invalidOption("cp: no such file or directory in the container: \(Printable.escaped(path)) (\(error.message))")
            }
            guard followLink, info.st_mode & S_IFMT == S_IFLNK else { return (parent, name, path) }
            let target = try FileTreeWalker.readLink(parent, name, path)
            parent.close()
            current = target.hasPrefix("/") ? target : (parentPath == "/" ? "" : parentPath) + "/" + target
        }
        throw SystemError(errno: ELOOP, call: "cp", detail: path)
    }

    /// Docker's destination rules, for one item from `source` to `name` in `destinationParent`.
    static func copyItem(_ source: (parent: FileDescriptor, name: String, text: String), contentsOnly: Bool, to destinationParent: FileDescriptor,
                         _ name: String, destinationText: String, trailingSlash: Bool, keepOwners: Bool,
                         owners: (source: IDMaps?, destination: IDMaps?)) throws {
        var sourceInfo = stat(), destinationInfo = stat()
        guard fstatat(source.parent.raw, source.name, &sourceInfo, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw EngineError.invalidOption("cp: \(Printable.escaped(source.text)): \(SystemError.last("lstat", source.text).message)")
        }
        let sourceIsDirectory = sourceInfo.st_mode & S_IFMT == S_IFDIR
        let exists = fstatat(destinationParent.raw, name, &destinationInfo, AT_SYMLINK_NOFOLLOW) == 0
        let destinationIsDirectory = exists && destinationInfo.st_mode & S_IFMT == S_IFDIR
        if !exists && trailingSlash && !sourceIsDirectory {
            throw EngineError.invalidOption("cp: destination directory \(Printable.escaped(destinationText)) does not exist")
        }
        if exists && !destinationIsDirectory && sourceIsDirectory {
            throw EngineError.invalidOption("cp: cannot copy a directory to a file: \(Printable.escaped(destinationText))")
        }
        if destinationIsDirectory {
            let directory = try FileDescriptor.openAt(destinationParent.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            defer { directory.close() }
            var sink = DirectorySink(root: directory, keepOwners: keepOwners, owners: owners.destination)
            if contentsOnly && sourceIsDirectory {
                let from = try FileDescriptor.openAt(source.parent.raw, source.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                defer { from.close() }
                for child in try Files.listDirectory(from, describing: source.text) {
                    try FileTreeWalker.walk(parent: from, name: child, as: child, owners: owners.source, into: &sink)
                }
            } else {
                let into = source.name == "." ? Files.basename(of: source.text) : source.name
                try FileTreeWalker.walk(parent: source.parent, name: source.name, as: into, owners: owners.source, into: &sink)
            }
        } else {
            var sink = DirectorySink(root: destinationParent, keepOwners: keepOwners, owners: owners.destination)
            try FileTreeWalker.walk(parent: source.parent, name: source.name, as: name, owners: owners.source, into: &sink)
        }
    }
}
