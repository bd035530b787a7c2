#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// A CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, in a directory of its
/// own; optionally with TLS (a self-signed certificate for 127.0.0.1) and htpasswd users.
final class TestRegistry {
    let port: UInt16
    let directory: String
    let process: Harness.Running
    var address: String { "127.0.0.1:\(port)" }
    var certificate: String { directory + "/cert.pem" }
    var tokenRealm = ""

    /// A token service for the registry: grants whatever scope is asked for, logs each
    /// request (with whether it carried credentials), signs RS256 JWTs with openssl.
    static let tokenServer = """
        import base64, http.server, json, subprocess, sys, time, urllib.parse
        directory, port = sys.argv[1], int(sys.argv[2])
        der = subprocess.run(["openssl", "x509", "-in", directory + "/token.crt", "-outform", "DER"], capture_output=True, check=True).stdout
        def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=")
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                try:
                    self.answer()
                except Exception:
                    import traceback
                    body = traceback.format_exc().encode()
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
            def answer(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                access = []
                for scope in query.get("scope", []):
                    kind, name, actions = scope.split(":")
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
                claims = {"iss": "swiftainer-test", "sub": "", "aud": query.get("service", [""])[0], "exp": now + 600,
                          "nbf": now - 60, "iat": now, "jti": str(now), "access": access}
                signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(claims).encode())
                signed = subprocess.run(["openssl", "dgst", "-sha256", "-sign", directory + "/token.key"], input=signing_input, capture_output=True)
                if signed.returncode != 0: raise Exception(signed.stderr.decode())
                signature = signed.stdout
                body = json.dumps({"token": (signing_input + b"." + b64(signature)).decode()}).encode()
                with open(directory + "/token.log", "a") as log:
                    log.write("%s %s\\n" % (query.get("scope", [""])[0], "credentials" if self.headers.get("Authorization") else "anonymous"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args): pass
        http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """

    init?(_ name: String, tls: Bool = false, users: [String: String] = [:], tokens: Bool = false) {
        port = TestImages.freePort()
        directory = "\(TestImages.work)/registry-\(name)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(directory)/data
            http:
              addr: 127.0.0.1:\(port)

            """
        if tls {
            let made = Harness.shell("""
                cd \(directory) && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
                  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>&1
                """)
            guard made.status == 0 else {
                Issue.record("openssl: \(made.stdout)")
                return nil
            }
            config += "  tls:\n    certificate: \(directory)/cert.pem\n    key: \(directory)/key.pem\n"
        }
        if !users.isEmpty {
            for (user, password) in users {
                let made = Harness.shell("htpasswd -Bbn \(user) \(password) >> \(directory)/htpasswd")
                guard made.status == 0 else {
                    Issue.record("htpasswd: \(made.stderr)")
                    return nil
                }
            }
            config += "auth:\n  htpasswd:\n    realm: swiftainer-test\n    path: \(directory)/htpasswd\n"
        }
        if tokens {
            let tokenPort = TestImages.freePort()
            let made = Harness.shell("""
                cd \(directory) && openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 2 -subj /CN=token 2>&1
                """)
            guard made.status == 0 else {
                Issue.record("openssl: \(made.stdout)")
                return nil
            }
            tokenRealm = "http://127.0.0.1:\(tokenPort)/token"
            let server = Harness.start("/usr/bin/python3", ["-c", Self.tokenServer, directory, "\(tokenPort)"], environment: [:], stdin: nil)
            testServers.append(server)
            guard Harness.eventually(20, { TestRegistry.accepts(tokenPort) }) else {
                server.signal(SIGKILL)
                Issue.record("the token service did not start: \(server.finish().stderr)")
                return nil
            }
            config += """
                auth:
                  token:
                    realm: \(tokenRealm)
                    service: swiftainer-test-registry
                    issuer: swiftainer-test
                    rootcertbundle: \(directory)/token.crt

                """
        }
        try? config.write(toFile: directory + "/config.yml", atomically: true, encoding: .utf8)
        process = Harness.start("/usr/bin/docker-registry", ["serve", directory + "/config.yml"], environment: [:], stdin: nil)
        testServers.append(process)
        let port = port
        guard Harness.eventually(20, { TestRegistry.accepts(port) }) else {
            Issue.record("the registry on port \(port) did not start")
            return nil
        }
    }

    static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// Puts a tag of the umoci layout into the registry with skopeo.
    func push(_ tag: String, as repository: String, credentials: String? = nil) -> Bool {
        guard let layout = TestImages.layout else { return false }
        let creds = credentials.map { " --dest-creds \($0)" } ?? ""
        let pushed = Harness.shell("skopeo copy -q --dest-tls-verify=false\(creds) oci:\(layout):\(tag) docker://\(address)/\(repository)")
        if pushed.status != 0 { Issue.record("skopeo push: \(pushed.stderr)") }
        return pushed.status == 0
    }

    /// The file holding a blob in the registry's storage.
    func blobFile(_ digest: String) -> String {
        let hex = digest.dropFirst("sha256:".count)
        return "\(directory)/data/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }
}

/// Pulls from real registries (issue #15): plain HTTP on loopback, TLS with a registry's own CA
/// and htpasswd users; layers shared, digests checked, bad pulls change nothing.
@Suite(.serialized, requiresRoot) struct RegistryTests {
    static let plain: TestRegistry? = {
        guard Harness.isRoot, let registry = TestRegistry("plain") else { return nil }
        guard registry.push("v3", as: "test/layered:v3"), registry.push("solo", as: "test/corrupt:1"), registry.push("base", as: "test/base:1") else { return nil }
        return registry
    }()

    /// A store of its own, so that what a pull finds already there is known.
    func freshRoot(_ name: String) -> String {
        let root = "\(TestImages.work)/store-\(name)"
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    func swiftainer(_ arguments: [String], root: String, environment: [String: String] = [:]) -> Harness.Result {
        Harness.execute(Harness.binary, arguments, environment: ["SWIFTAINER_ROOT": root].merging(environment) { $1 }, stdin: nil)
    }

    func layers(_ root: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/images/layers")) ?? []).sorted()
    }

    @Test func pullRunsAndSharesLayers() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("pull")
        let image = "\(registry.address)/test/layered:v3"
        let pulled = swiftainer(["pull", image], root: root)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let lines = pulled.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "v3: Pulling from \(registry.address)/test/layered")
        #expect(lines.filter { $0.hasSuffix(": Pull complete") }.count == 2, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("Digest: sha256:") } && lines.contains("Status: Downloaded newer image for \(image)"))
        #expect(lines.last == image)
        #expect(swiftainer(["run", "--rm", image], root: root).stdout == "from-image\n")
        let inside = swiftainer(["run", "--rm", "--entrypoint", "sh", image, "-c", "cat file; id -un; ls /etc/os-release 2>&1 | wc -l"], root: root)
        #expect(inside.stdout == "layered\ndaemon\n1\n", "\(inside.stdout) \(inside.stderr)")
        // Again: nothing to fetch. The base image shares its only layer: nothing either.
        let again = swiftainer(["pull", image], root: root)
        #expect(again.stdout.contains("Already exists") && again.stdout.contains("Status: Image is up to date for \(image)"), "\(again.stdout)")
        let before = layers(root)
        let base = swiftainer(["pull", "-q", "\(registry.address)/test/base:1"], root: root)
        #expect(base.status == 0 && base.stdout == "\(registry.address)/test/base:1\n", "\(base.stdout) \(base.stderr)")
        #expect(layers(root) == before, "the base layer was stored again")
        // By digest, as the registry names the manifest.
        let digest = try #require(lines.first { $0.hasPrefix("Digest: ") }).dropFirst("Digest: ".count)
        let byDigest = swiftainer(["pull", "\(registry.address)/test/layered@\(digest)"], root: root)
        #expect(byDigest.status == 0, "\(byDigest.stderr)")
        let images = swiftainer(["images", "--digests"], root: root).stdout
        #expect(images.contains("\(registry.address)/test/layered") && images.contains("v3") && images.contains(String(digest)), "\(images)")
        let inspect = swiftainer(["inspect", image], root: root).stdout
        #expect(inspect.contains("\"\(registry.address)/test/layered@\(digest)\""), "RepoDigests: \(inspect)")
    }

    /// push sends the blobs as the store keeps them: the registry then holds the same layer
    /// digests the image was pulled with; an imported root filesystem gets a config made for it.
    @Test func pushRoundTrips() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("push")
        let source = "\(registry.address)/test/layered:v3", target = "\(registry.address)/pushed/app:1"
        #expect(swiftainer(["pull", "-q", source], root: root).status == 0)
        #expect(swiftainer(["tag", source, target], root: root).status == 0)
        let pushed = swiftainer(["push", target], root: root)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let lines = pushed.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "The push refers to repository [\(registry.address)/pushed/app]")
        #expect(lines.filter { $0.hasSuffix(": Layer already exists") || $0.hasSuffix(": Pushed") }.count == 2, "\(lines)")
        let digest = try #require(lines.last?.split(separator: " ").dropFirst(2).first.map(String.init))
        let layers = { (reference: String) in
            Harness.shell("skopeo inspect --tls-verify=false docker://\(reference)").stdout.split(separator: "\n").filter { $0.contains("\"sha256:") && !$0.contains("Digest") }
        }
        #expect(layers(target) == layers(source) && !layers(target).isEmpty, "\(layers(target)) vs \(layers(source))")
        #expect(Harness.shell("skopeo inspect --tls-verify=false docker://\(target)").stdout.contains("\"Digest\": \"\(digest)\""))
        let again = swiftainer(["push", target], root: root)
        #expect(again.stdout.contains("Layer already exists") && again.stdout.contains(digest), "\(again.stdout)")
        // Pulled back into an empty store, it runs.
        let other = freshRoot("push-back")
        #expect(swiftainer(["run", "--rm", target, "round", "trip"], root: other).stdout == "round trip\n")
        // An imported root filesystem.
        #expect(swiftainer(["import", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "\(registry.address)/imported/box:1"], root: root).status == 0)
        #expect(swiftainer(["push", "-q", "\(registry.address)/imported/box:1"], root: root).status == 0)
        #expect(swiftainer(["run", "--rm", "\(registry.address)/imported/box:1", "echo", "imported"], root: freshRoot("push-import")).stdout == "imported\n")
        let missing = swiftainer(["push", "\(registry.address)/nothing/here:1"], root: root)
        #expect(missing.status == 125 && missing.stderr.contains("An image does not exist locally"), "\(missing.stderr)")
    }

    /// On a terminal, pull draws one line per layer and redraws them in place (ANSI cursor
    /// moves), as Docker does; piped, it prints plain lines (pullRunsAndSharesLayers).
    @Test func pullDrawsLayersInPlaceOnATerminal() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("tty")
        let session = try PtySession(Harness.binary, ["pull", "\(registry.address)/test/layered:v3"], environment: ["SWIFTAINER_ROOT": root])
        #expect(session.read(until: "Status: Downloaded newer image", seconds: 30), "\(session.output)")
        #expect(session.finish() == 0)
        #expect(session.output.contains("\u{1b}[2K") && session.output.contains(": Pull complete"), "\(session.output.debugDescription)")
        #expect(session.output.contains("\u{1b}[2A"), "the two layer lines were not redrawn: \(session.output.debugDescription)")
    }

    @Test func twoPullsAtOnceBothSucceedWithOneCopy() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("parallel")
        let image = "\(registry.address)/test/layered:v3"
        let pulls = (0..<2).map { _ in Harness.start(Harness.binary, ["pull", "-q", image], environment: ["SWIFTAINER_ROOT": root], stdin: nil) }
        for pull in pulls {
            let result = pull.finish()
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(layers(root).count == 2)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")) ?? []).isEmpty, "scratch left behind")
    }

    @Test func runPullsAMissingImageUnlessTold() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("run")
        let image = "\(registry.address)/test/layered:v3"
        let never = swiftainer(["run", "--rm", "--pull", "never", image], root: root)
        #expect(never.status == 125 && never.stderr.contains("image not found"), "\(never.stderr)")
        let run = swiftainer(["run", "--rm", image, "pulled", "and", "ran"], root: root)
        #expect(run.status == 0 && run.stdout == "pulled and ran\n", "\(run.stdout) \(run.stderr)")
        #expect(run.stderr.hasPrefix("Unable to find image '\(image)' locally\n"), "\(run.stderr)")
        let bad = swiftainer(["run", "--rm", "--pull", "sometimes", image], root: root)
        #expect(bad.status == 125 && bad.stderr.contains("invalid pull option"))
    }

    @Test func badPullsChangeNothing() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("bad")
        func expectRefused(_ reference: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let before = swiftainer(["images"], root: root).stdout
            let result = swiftainer(["pull", reference], root: root)
            #expect(result.status == 125, "\(reference): \(result.status)", sourceLocation: sourceLocation)
            let errors = result.stderr.split(separator: "\n")
            #expect(errors.count == 1 && errors[0].hasPrefix("swiftainer: pull ") && errors[0].contains(fragment), "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(swiftainer(["images"], root: root).stdout == before, sourceLocation: sourceLocation)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")) ?? []).isEmpty, sourceLocation: sourceLocation)
        }
        expectRefused("\(registry.address)/test/layered:nope", "manifest for nope not found: manifest unknown")
        expectRefused("\(registry.address)/test/nothing:1", "manifest unknown")
        expectRefused("127.0.0.1:\(TestImages.freePort())/x:1", "Couldn't connect to server")
        // A layer blob whose bytes changed in the registry's storage.
        let manifest = Harness.shell("skopeo inspect --raw --tls-verify=false docker://\(registry.address)/test/corrupt:1").stdout
        let digests = manifest.split(separator: "\"").filter { $0.hasPrefix("sha256:") }.map(String.init)
        let top = try #require(digests.last)
        let file = registry.blobFile(top)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 2] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        expectRefused("\(registry.address)/test/corrupt:1", "test/corrupt:1")
        let result = swiftainer(["pull", "\(registry.address)/test/corrupt:1"], root: root)
        #expect(result.stderr.contains("does not match its digest") || result.stderr.contains("corrupt") || result.stderr.contains("gzip"), "\(result.stderr)")
        #expect(layers(root).count <= 1, "only the intact base layer may stay: \(layers(root))")
    }

    @Test func tlsAndCredentials() throws {
        let registry = try #require(TestRegistry("tls", tls: true, users: ["alice": "wonderland"]))
        #expect(registry.push("v3", as: "private/app:1", credentials: "alice:wonderland"))
        let root = freshRoot("tls")
        let image = "\(registry.address)/private/app:1"
        let config = "\(TestImages.work)/docker-config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        // TLS verified against the registry's own CA in the store's certs.d (a loopback
        // registry may also be reached over plain HTTP, which this one refuses).
        let certs = "\(root)/certs.d/\(registry.address)"
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: registry.certificate, toPath: certs + "/ca.crt")
        // No credentials: the registry's 401, one line.
        let anonymous = swiftainer(["pull", image], root: root, environment: ["DOCKER_CONFIG": config])
        #expect(anonymous.status == 125 && anonymous.stderr.contains("authentication required"), "\(anonymous.stderr)")
        // Wrong password.
        try #"{"auths": {"\#(registry.address)": {"auth": "\#(Data("alice:queen".utf8).base64EncodedString())"}}}"#
            .write(toFile: config + "/config.json", atomically: true, encoding: .utf8)
        let wrong = swiftainer(["pull", image], root: root, environment: ["DOCKER_CONFIG": config])
        #expect(wrong.status == 125 && wrong.stderr.contains("UNAUTHORIZED"), "\(wrong.stderr)")
        // The right one, as docker login writes it.
        try #"{"auths": {"\#(registry.address)": {"auth": "\#(Data("alice:wonderland".utf8).base64EncodedString())"}}}"#
            .write(toFile: config + "/config.json", atomically: true, encoding: .utf8)
        let pulled = swiftainer(["pull", "-q", image], root: root, environment: ["DOCKER_CONFIG": config])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(swiftainer(["run", "--rm", image, "over", "tls"], root: root).stdout == "over tls\n")
        // login checks the credentials with the registry and writes them as docker login
        // does; push then uses them; logout removes them.
        let fresh = "\(TestImages.work)/docker-config-login"
        try FileManager.default.createDirectory(atPath: fresh, withIntermediateDirectories: true)
        let loginEnvironment = ["SWIFTAINER_ROOT": root, "DOCKER_CONFIG": fresh]
        let rejected = Harness.execute(Harness.binary, ["login", "-u", "alice", "--password-stdin", registry.address], environment: loginEnvironment, stdin: "queen\n")
        #expect(rejected.status == 125 && rejected.stderr.contains("unauthorized"), "\(rejected.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fresh + "/config.json"), "a refused login wrote credentials")
        let login = Harness.execute(Harness.binary, ["login", "-u", "alice", "--password-stdin", "https://\(registry.address)/"], environment: loginEnvironment, stdin: "wonderland\n")
        #expect(login.status == 0 && login.stdout == "Login Succeeded\n", "\(login.stdout) \(login.stderr)")
        let written = (try? String(contentsOfFile: fresh + "/config.json", encoding: .utf8)) ?? ""
        #expect(written.contains("\"\(registry.address)\"") && written.contains(Data("alice:wonderland".utf8).base64EncodedString()), "\(written)")
        var info = stat()
        #expect(stat(fresh + "/config.json", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(swiftainer(["tag", image, "\(registry.address)/private/pushed:2"], root: root).status == 0)
        let pushed = swiftainer(["push", "\(registry.address)/private/pushed:2"], root: root, environment: ["DOCKER_CONFIG": fresh])
        #expect(pushed.status == 0 && pushed.stdout.contains("2: digest: sha256:"), "\(pushed.stdout) \(pushed.stderr)")
        let logout = swiftainer(["logout", registry.address], root: root, environment: ["DOCKER_CONFIG": fresh])
        #expect(logout.stdout == "Removing login credentials for \(registry.address)\n", "\(logout.stdout) \(logout.stderr)")
        let denied = swiftainer(["push", "\(registry.address)/private/pushed:2"], root: root, environment: ["DOCKER_CONFIG": fresh])
        #expect(denied.status == 125 && denied.stderr.contains("authentication required"), "\(denied.stderr)")
        // Without the CA the certificate is refused.
        let untrusted = freshRoot("untrusted")
        let refused = swiftainer(["pull", image], root: untrusted, environment: ["DOCKER_CONFIG": config])
        #expect(refused.status == 125 && (refused.stderr.contains("certificate") || refused.stderr.contains("SSL")), "\(refused.stderr)")
        registry.process.signal(SIGKILL)
        _ = registry.process.finish()
    }

    /// The Bearer flow: the registry's 401 names a token service; the token it gives (for the
    /// scope asked) opens the repository — anonymously, and with credentials when there are some.
    @Test func bearerTokens() throws {
        let registry = try #require(TestRegistry("token", tokens: true))
        defer {
            registry.process.signal(SIGKILL)
            _ = registry.process.finish()
        }
        #expect(registry.push("v3", as: "test/tokens:1"))
        let root = freshRoot("token")
        let image = "\(registry.address)/test/tokens:1"
        let config = "\(TestImages.work)/docker-config-token"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        let pulled = swiftainer(["pull", image], root: root, environment: ["DOCKER_CONFIG": config])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(swiftainer(["run", "--rm", image, "token", "ok"], root: root).stdout == "token ok\n")
        let log = (try? String(contentsOfFile: registry.directory + "/token.log", encoding: .utf8)) ?? ""
        #expect(log.contains("repository:test/tokens:pull anonymous"), "\(log)")
        // With credentials stored for the registry, the token request carries them.
        try #"{"auths": {"\#(registry.address)": {"auth": "\#(Data("bob:builder".utf8).base64EncodedString())"}}}"#
            .write(toFile: config + "/config.json", atomically: true, encoding: .utf8)
        let again = swiftainer(["pull", "-q", image], root: freshRoot("token2"), environment: ["DOCKER_CONFIG": config])
        #expect(again.status == 0, "\(again.stderr)")
        let after = (try? String(contentsOfFile: registry.directory + "/token.log", encoding: .utf8)) ?? ""
        #expect(after.contains("repository:test/tokens:pull credentials"), "\(after)")
    }

    /// A registry that misbehaves, served by a script from the umoci layout's blobs: a manifest
    /// over 4 MiB; a layer whose transfer is cut half-way once (the retry completes the pull) or
    /// every time (the pull fails, the store as it was).
    static let faultyRegistry = """
        import http.server, json, os, sys
        layout, port = sys.argv[1], int(sys.argv[2])
        index = json.load(open(layout + "/index.json"))
        manifest_digest = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "v3"][0]["digest"]
        def blob(digest): return open(layout + "/blobs/sha256/" + digest.split(":")[1], "rb").read()
        manifest = blob(manifest_digest)
        top_layer = json.loads(manifest)["layers"][-1]["digest"]
        cut = {}
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def send(self, body, kind="application/octet-stream", length=None):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                parts = self.path.split("/")
                if self.path == "/v2/": return self.send(b"{}")
                repo, kind, ref = parts[3], parts[4], parts[5]
                if kind == "manifests":
                    if repo == "huge": return self.send(b" " * (5 << 20), "application/vnd.oci.image.manifest.v1+json")
                    return self.send(manifest, "application/vnd.oci.image.manifest.v1+json")
                data = blob(ref)
                if ref == top_layer and (repo == "always" or (repo == "once" and not cut.get(repo))):
                    cut[repo] = True
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send(data)
            def log_message(self, *args): pass
        http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """

    @Test func misbehavingRegistriesAndAFullDisk() throws {
        let layout = try #require(TestImages.layout)
        let port = TestImages.freePort()
        let server = Harness.start("/usr/bin/python3", ["-c", Self.faultyRegistry, layout, "\(port)"], environment: [:], stdin: nil)
        testServers.append(server)
        defer {
            server.signal(SIGKILL)
            _ = server.finish()
        }
        try #require(Harness.eventually(20) { TestRegistry.accepts(port) }, "the faulty registry did not start")
        let root = freshRoot("faulty")
        func refused(_ reference: String, _ fragment: String, root: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let result = swiftainer(["pull", reference], root: root)
            #expect(result.status == 125, "\(result.status)", sourceLocation: sourceLocation)
            let errors = result.stderr.split(separator: "\n")
            #expect(errors.count == 1 && errors.first?.contains(fragment) == true, "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(!swiftainer(["images"], root: root).stdout.contains("fake/"), sourceLocation: sourceLocation)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")) ?? []).isEmpty, sourceLocation: sourceLocation)
        }
        refused("127.0.0.1:\(port)/fake/huge:1", "the manifest is larger than 4194304 bytes", root: root)
        refused("127.0.0.1:\(port)/fake/always:1", "transfer closed", root: root)
        let once = swiftainer(["pull", "127.0.0.1:\(port)/fake/once:1"], root: root)
        #expect(once.status == 0 && once.stdout.contains("Retrying in 1 second"), "\(once.stdout) \(once.stderr)")
        #expect(swiftainer(["run", "--rm", "127.0.0.1:\(port)/fake/once:1", "after", "retry"], root: root).stdout == "after retry\n")

        // A store on a filesystem that fills up: one line, nothing half-stored, and once
        // there is room the same pull succeeds.
        let small = "\(TestImages.work)/small-disk"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        try #require(Harness.shell("mount -t tmpfs -o size=1m tmpfs \(small)").status == 0)
        defer { _ = Harness.shell("umount -l \(small)") }
        refused("127.0.0.1:\(port)/fake/once:1", "No space left on device", root: small)
        #expect(Harness.shell("mount -o remount,size=64m \(small)").status == 0)
        #expect(swiftainer(["pull", "-q", "127.0.0.1:\(port)/fake/once:1"], root: small).status == 0)
    }

    /// A pull killed half-way leaves no image, and the next pull completes it.
    @Test func aKilledPullLeavesNothingHalfDone() throws {
        let registry = try #require(Self.plain)
        let root = freshRoot("killed")
        let image = "\(registry.address)/test/layered:v3"
        for delay in [2_000, 10_000, 40_000] as [useconds_t] {
            let pull = Harness.start(Harness.binary, ["pull", "-q", image], environment: ["SWIFTAINER_ROOT": root], stdin: nil)
            usleep(delay)
            pull.signal(SIGKILL)
            let killed = pull.finish()
            // Killed before it finished: no image may be listed (its layers may be, complete).
            guard killed.status == 137 else { break } // it finished first: later kills prove nothing
            #expect(swiftainer(["images", "-q"], root: root).stdout.isEmpty, "a killed pull left an image")
        }
        let again = swiftainer(["pull", "-q", image], root: root)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")) ?? []).isEmpty, "the killed pull's scratch stayed")
        #expect(swiftainer(["run", "--rm", image, "whole"], root: root).stdout == "whole\n")
    }
}
