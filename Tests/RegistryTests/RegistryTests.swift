import Images
import LinuxKit
import Testing
@testable import Registry

/// The parts of the registry client that need no registry (issue #15): Docker's reference
/// normalization, the authentication challenge, base64.
@Suite struct RegistryTests {
    @Test func referencesNormalizeAsDockerDoes() throws {
        let cases: [(String, String, String, String?, String?, String)] = [
            ("alpine", "docker.io", "library/alpine", "latest", nil, "alpine"),
            ("alpine:3.20", "docker.io", "library/alpine", "3.20", nil, "alpine"),
            ("team/app:v1", "docker.io", "team/app", "v1", nil, "docker.io/team/app"),
            ("127.0.0.1:5000/alpine:3.20", "127.0.0.1:5000", "alpine", "3.20", nil, "127.0.0.1:5000/alpine"),
            ("localhost/a/b", "localhost", "a/b", "latest", nil, "localhost/a/b"),
            ("registry.example.com/x@sha256:" + String(repeating: "a", count: 64), "registry.example.com", "x", nil, "sha256:" + String(repeating: "a", count: 64), "registry.example.com/x"),
        ]
        for (text, domain, path, tag, digest, local) in cases {
            let reference = try RegistryReference(parsing: text)
            #expect(reference.domain == domain && reference.path == path && reference.tag == tag && reference.digest == digest, "\(text)")
            #expect(reference.localName == local, "\(text): \(reference.localName)")
        }
        #expect(try RegistryReference(parsing: "alpine").apiHost == "registry-1.docker.io")
        for bad in ["Alpine", "a@sha256:xyz", "a:b:c", "", "host:5000/a:-x"] {
            #expect(throws: (any Error).self, "\(bad)") { try RegistryReference(parsing: bad) }
        }
        #expect(try RegistryReference(parsing: "127.0.0.1:5000/a").allowsPlainHTTP(insecureRegistries: []))
        #expect(try RegistryReference(parsing: "localhost:5000/a").allowsPlainHTTP(insecureRegistries: []))
        #expect(try !RegistryReference(parsing: "example.com/a").allowsPlainHTTP(insecureRegistries: []))
        #expect(try RegistryReference(parsing: "example.com:8080/a").allowsPlainHTTP(insecureRegistries: ["example.com:8080"]))
    }

    @Test func bearerChallengesParse() {
        let (kind, parameters) = RegistryClient.parseChallenge(#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#)
        #expect(kind == "Bearer")
        #expect(parameters == ["realm": "https://auth.example.com/token", "service": "registry.example.com", "scope": "repository:a/b:pull"])
        #expect(RegistryClient.parseChallenge(#"Basic realm="basic-realm""#).1 == ["realm": "basic-realm"])
        #expect(RegistryClient.percentEncoded("repository:a/b:pull") == "repository%3Aa%2Fb%3Apull")
    }

    @Test func base64RoundTrips() {
        #expect(Base64.encode(Array("user:pass".utf8)) == "dXNlcjpwYXNz")
        #expect(Base64.decode("dXNlcjpwYXNz").map { String(decoding: $0, as: UTF8.self) } == "user:pass")
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.decode("not base64!") == nil)
        #expect(Base64.decode("abc") == nil)
    }

    @Test func registryErrorsUseTheRegistrysWords() {
        let body = Array(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#.utf8)
        #expect(RegistryClient.describe(status: 404, body: body) == "manifest unknown (MANIFEST_UNKNOWN)")
        #expect(RegistryClient.describe(status: 502, body: Array("<html>".utf8)) == "HTTP 502")
        #expect(Puller.isRetryable(RegistryError("blob x: HTTP 503")))
        #expect(!Puller.isRetryable(RegistryError("blob x: manifest unknown (MANIFEST_UNKNOWN)")))
    }
}
