#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import LinuxKit
import TestSupport
import Testing
@testable import Images

/// `load` of docker-archive and OCI-layout archives built here byte by byte (issue #15): layers
/// stored by chain id and shared, digests checked, nothing changed by a bad archive.
@Suite struct ImageLoaderTests {
    struct Layer {
        var tar: [UInt8]
        var compressed: [UInt8]
        var diffID: String { Digest.sha256(tar) }
        var digest: String { Digest.sha256(compressed) }

        init(_ build: (inout TarBuilder) -> Void, gzipped: Bool = true) {
            var builder = TarBuilder()
            build(&builder)
            builder.end()
            tar = builder.bytes
            compressed = gzipped ? gzip(tar) : tar
        }
    }

    func config(_ layers: [Layer], cmd: [String] = ["/bin/sh"], entrypoint: [String]? = nil, diffIDs: [String]? = nil) -> [UInt8] {
        let ids = (diffIDs ?? layers.map(\.diffID)).map { "\"\($0)\"" }.joined(separator: ",")
        let entry = entrypoint.map { ",\"Entrypoint\":[" + $0.map { "\"\($0)\"" }.joined(separator: ",") + "]" } ?? ""
        let command = cmd.map { "\"\($0)\"" }.joined(separator: ",")
        return Array("""
            {"architecture":"amd64","os":"linux","created":"2026-01-02T03:04:05Z",
             "config":{"Env":["PATH=/bin","A=1"],"Cmd":[\(command)]\(entry),"WorkingDir":"/srv","User":"daemon","StopSignal":"SIGQUIT",
                       "ExposedPorts":{"80/tcp":{}},"Labels":{"k":"v"}},
             "rootfs":{"type":"layers","diff_ids":[\(ids)]}}
            """.utf8)
    }

    /// A docker-archive: manifest.json, the config as <hex>.json, each layer as <n>/layer.tar.
    func dockerArchive(_ layers: [Layer], config: [UInt8], tags: [String]) -> [UInt8] {
        var tar = TarBuilder()
        let configName = String(Digest.sha256(config).dropFirst(7)) + ".json"
        tar.data(configName, config)
        for (index, layer) in layers.enumerated() { tar.data("\(index)/layer.tar", layer.compressed) }
        let layerNames = layers.indices.map { "\"\($0)/layer.tar\"" }.joined(separator: ",")
        let repoTags = tags.map { "\"\($0)\"" }.joined(separator: ",")
        tar.file("manifest.json", "[{\"Config\":\"\(configName)\",\"RepoTags\":[\(repoTags)],\"Layers\":[\(layerNames)]}]")
        tar.end()
        return tar.bytes
    }

    /// An OCI image layout: oci-layout, index.json → manifest → config and layer blobs.
    /// `tamper` replaces what is stored under a layer's digest.
    func ociArchive(_ layers: [Layer], config: [UInt8], name: String?, layerMediaType: String = "application/vnd.oci.image.layer.v1.tar+gzip",
                    tamper: ((Layer) -> [UInt8])? = nil) -> [UInt8] {
        var tar = TarBuilder()
        tar.file("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")
        func blob(_ bytes: [UInt8], as digest: String? = nil) { tar.data("blobs/sha256/" + (digest ?? Digest.sha256(bytes)).dropFirst(7), bytes) }
        blob(config)
        for layer in layers { blob(tamper?(layer) ?? layer.compressed, as: layer.digest) }
        let layerDescriptors = layers.map { "{\"mediaType\":\"\(layerMediaType)\",\"digest\":\"\($0.digest)\",\"size\":\($0.compressed.count)}" }
        let manifest = Array("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(Digest.sha256(config))","size":\(config.count)},
             "layers":[\(layerDescriptors.joined(separator: ","))]}
            """.utf8)
        blob(manifest)
        let annotations = name.map { ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"\($0)\"}" } ?? ""
        tar.file("index.json", "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"\(Digest.sha256(manifest))\",\"size\":\(manifest.count)\(annotations)}]}")
        tar.end()
        return tar.bytes
    }

    func load(_ store: ImageStore, _ archive: [UInt8], in dir: TemporaryDirectory, name: String = "archive.tar") throws -> [String] {
        let path = dir.path + "/" + name
        try Files.writeAtomically(path, archive)
        let fd = try FileDescriptor.open(path, O_RDONLY)
        defer { fd.close() }
        return try store.load(from: fd, source: path)
    }

    let base = Layer { tar in
        tar.directory("bin/")
        tar.file("bin/tool", "base tool", mode: 0o755)
        tar.directory("etc/")
        tar.file("etc/os-release", "ID=base\n")
        tar.directory("var/cache/")
        tar.file("var/cache/old", "stale")
    }
    let app = Layer { tar in
        tar.directory("srv/")
        tar.file("srv/app", "the app")
    }

    @Test func chainIDsFollowTheImageSpec() {
        let a = "sha256:" + String(repeating: "a", count: 64), b = "sha256:" + String(repeating: "b", count: 64)
        #expect(Digest.chainIDs([a]) == [a])
        #expect(Digest.chainIDs([a, b]) == [a, Digest.sha256(Array("\(a) \(b)".utf8))])
        #expect(Digest.hex(a) == String(repeating: "a", count: 64))
        for bad in ["sha512:" + String(repeating: "a", count: 128), "sha256:ABC", "sha256:" + String(repeating: "g", count: 64)] {
            #expect(Digest.hex(bad) == nil, "\(bad)")
        }
    }

    @Test func dockerArchiveLoadsWithItsConfigAndTags() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        let image = config([base, app], cmd: ["serve"], entrypoint: ["/bin/tool"])
        let lines = try load(store, dockerArchive([base, app], config: image, tags: ["example.com/team/app:1.0", "app:latest"]), in: dir)
        #expect(lines == ["Loaded image: example.com/team/app:1.0", "Loaded image: app:latest"])
        let record = try store.resolve("app:latest")
        #expect(record.id == Digest.sha256(image), "the image id is the config's digest")
        #expect(record.layers == [base.diffID, app.diffID])
        #expect(record.config.entrypoint == ["/bin/tool"] && record.config.cmd == ["serve"] && record.config.workingDir == "/srv")
        #expect(record.config.user == "daemon" && record.config.stopSignal == "SIGQUIT" && record.config.exposedPorts == ["80/tcp"])
        #expect(record.config.labels == ["k": "v"] && record.config.env == ["PATH=/bin", "A=1"])
        let directories = store.layerDirectories(of: record)
        #expect(try Files.readString(directories[0] + "/srv/app") == "the app")
        #expect(try Files.readString(directories[1] + "/etc/os-release") == "ID=base\n")
        #expect(record.size == UInt64("base tool".utf8.count + "ID=base\n".utf8.count + "stale".utf8.count + "the app".utf8.count))
        // The overlay lower directories: short links in one directory, top first.
        let lowers = store.lowerDirectories(of: record)
        #expect(lowers.count == 2 && lowers.allSatisfy { Files.dirname(of: $0) == store.root + "/l" })
        #expect(try Files.readString(lowers[0] + "/srv/app") == "the app")
        #expect(try Files.read(store.root + "/blobs/sha256/" + record.hex) == image)
    }

    @Test func ociLayoutLoadsAndSharesLayersWithOtherImages() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        _ = try load(store, dockerArchive([base], config: config([base]), tags: ["base:1"]), in: dir)
        let before = try Files.listDirectory(store.root + "/layers").sorted()
        let plain = Layer({ tar in tar.file("srv/plain", "uncompressed") }, gzipped: false)
        let lines = try load(store, ociArchive([base, plain], config: config([base, plain]), name: "example.com/app:2",
                                               layerMediaType: "application/vnd.oci.image.layer.v1.tar"), in: dir)
        #expect(lines == ["Loaded image: example.com/app:2"])
        let after = try Files.listDirectory(store.root + "/layers").sorted()
        #expect(after.count == before.count + 1, "the base layer is shared, only the new one was added")
        // An untagged image (a bare tag as its ref.name names no repository) loads by id.
        let untagged = try load(store, ociArchive([base], config: config([base], cmd: ["other"]), name: "3.20"), in: dir)
        #expect(untagged == ["Loaded image ID: " + Digest.sha256(config([base], cmd: ["other"]))])
        // rmi: a layer another image stands on stays; the rest goes.
        _ = try store.remove("example.com/app:2", force: false) { _ in nil }
        #expect(try Files.listDirectory(store.root + "/layers").sorted() == before)
        #expect(try store.resolve("base:1").layers == [base.diffID])
    }

    @Test func badArchivesAreRefusedAndChangeNothing() throws {
        let dir = TemporaryDirectory()
        let store = ImageStore(root: dir.path + "/images")
        _ = try load(store, dockerArchive([base], config: config([base]), tags: ["good:1"]), in: dir)
        func snapshot() -> [String] {
            ["layers", "configs", "l", "blobs/sha256", "tmp", "layerinfo"].flatMap { sub in
                ((try? Files.listDirectory(store.root + "/" + sub)) ?? []).sorted().map { sub + "/" + $0 }
            } + [(try? Files.readString(store.root + "/repositories.json")) ?? ""]
        }
        let before = snapshot()
        let swapped = Layer { tar in
            tar.directory("srv/")
            tar.file("srv/app", "the apq")
        }
        var brokenZstd = app
        brokenZstd.compressed = [0x28, 0xb5, 0x2f, 0xfd] + Array("this is not a zstd frame".utf8)
        let cases: [(String, [UInt8], String)] = [
            ("diff id", dockerArchive([base, swapped], config: config([base, app]), tags: ["bad:1"]), "content does not match its digest"),
            ("count", dockerArchive([base, app], config: config([base]), tags: ["bad:2"]), "the config lists 1 layers, the manifest 2"),
            ("zstd", ociArchive([brokenZstd], config: config([app]), name: "bad:3", layerMediaType: "application/vnd.oci.image.layer.v1.tar+zstd"), "corrupt zstd:"),
            ("media type", ociArchive([app], config: config([app]), name: "bad:4", layerMediaType: "text/plain"), "unknown media type 'text/plain'"),
            ("no manifest", { var tar = TarBuilder(); tar.file("hello", "x"); tar.end(); return tar.bytes }(), "neither manifest.json"),
        ]
        for (label, archive, message) in cases {
            do {
                _ = try load(store, archive, in: dir, name: label + ".tar")
                Issue.record("\(label): loaded")
            } catch {
                #expect("\(error)".contains(message), "\(label): \(error)")
            }
            #expect(snapshot() == before, "\(label): the store changed")
        }
        // A blob whose bytes do not match the digest it is stored under.
        let archive = ociArchive([app], config: config([app]), name: "bad:5") { _ in swapped.compressed }
        do {
            _ = try load(store, archive, in: dir, name: "swapped.tar")
            Issue.record("a blob that does not match its digest was loaded")
        } catch {
            #expect("\(error)".contains("does not match its digest"), "\(error)")
        }
        #expect(snapshot() == before)
    }
}

extension TarBuilder {
    mutating func data(_ name: String, _ content: [UInt8]) {
        header(name, type: UInt8(ascii: "0"), size: content.count)
        data(content)
    }
}

/// A store written before layers were shared (layers/<diff id>, a record without `layers`)
/// keeps working: the image resolves, lists, stacks as one lower directory, and is removed.
@Suite struct LegacyStoreTests {
    @Test func imagesImportedBeforeTheLayeredStoreStillWork() throws {
        let dir = TemporaryDirectory()
        let root = dir.path + "/images"
        let hex = String(repeating: "ab", count: 32)
        try Files.makeDirectories(root + "/layers/\(hex)/etc")
        try Files.makeDirectories(root + "/configs")
        try Files.writeAtomically(root + "/layers/\(hex)/etc/os-release", "ID=old\n")
        try Files.writeAtomically(root + "/configs/\(hex).json", """
            {"id": "sha256:\(hex)", "created": "2026-11-20T10:00:00Z", "size": 7, "source": "old.tar.gz",
             "config": {"env": ["PATH=/bin"], "cmd": ["/bin/sh"], "workingDir": "/"}}
            """)
        try Files.writeAtomically(root + "/repositories.json", #"{"old:1": "sha256:\#(hex)"}"#)
        let store = ImageStore(root: root)
        let record = try store.resolve("old:1")
        #expect(record.layers == nil && record.diffIDs == ["sha256:\(hex)"] && record.size == 7)
        #expect(try store.list().map(\.record.id) == ["sha256:\(hex)"])
        let lowers = store.lowerDirectories(of: record)
        #expect(try lowers.count == 1 && Files.readString(lowers[0] + "/etc/os-release") == "ID=old\n")
        #expect(throws: ImageError.self) { try store.ociManifest(of: record) }
        #expect(try store.remove("old:1", force: false) { _ in nil } == ["Untagged: old:1", "Deleted: sha256:\(hex)"])
        #expect(!Files.exists(root + "/layers/\(hex)"))
    }

    /// Importing the same content again gives an older layer the blob push and save need,
    /// without replacing its directory.
    @Test func reimportingGivesAnOldLayerItsBlob() throws {
        let dir = TemporaryDirectory()
        let root = dir.path + "/images"
        var tar = TarBuilder()
        tar.file("etc/os-release", "ID=old\n")
        tar.end()
        let hex = String(Digest.sha256(tar.bytes).dropFirst(7))
        try Files.makeDirectories(root + "/layers/\(hex)/etc")
        try Files.writeAtomically(root + "/layers/\(hex)/etc/os-release", "ID=old\n")
        try Files.writeAtomically(root + "/layers/\(hex)/marker", "the old directory")
        let store = ImageStore(root: root)
        let path = dir.path + "/old.tar.gz"
        try Files.writeAtomically(path, gzip(tar.bytes))
        let record = try store.importArchive(path: path, as: ImageReference(name: "old", tag: "2"))
        #expect(record.id == "sha256:\(hex)")
        #expect(try store.ociManifest(of: record).layers.count == 1, "the layer has its blob now")
        #expect(Files.exists(root + "/layers/\(hex)/marker"), "the old directory was kept")
    }

    /// The same for a load: a layer with a directory but no blob is not taken as kept.
    @Test func loadingGivesAnOldLayerItsBlob() throws {
        let dir = TemporaryDirectory()
        let root = dir.path + "/images"
        let loader = ImageLoaderTests()
        let base = loader.base
        let hex = String(base.diffID.dropFirst(7))
        try Files.makeDirectories(root + "/layers/\(hex)")
        try Files.writeAtomically(root + "/layers/\(hex)/marker", "the old directory")
        let store = ImageStore(root: root)
        #expect(store.hasLayer(chain: base.diffID) && !store.hasKeptLayer(chain: base.diffID))
        _ = try loader.load(store, loader.dockerArchive([base], config: loader.config([base]), tags: ["again:1"]), in: dir)
        #expect(store.hasKeptLayer(chain: base.diffID))
        #expect(Files.exists(root + "/layers/\(hex)/marker"), "the old directory was kept")
    }
}
