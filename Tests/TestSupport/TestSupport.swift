#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// A fresh directory under /tmp, removed with everything in it when the value goes away.
public final class TemporaryDirectory {
    public let path: String

    public init(prefix: String = "swiftainer-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? Files.removeTree(path) }
}

/// A small seeded generator (SplitMix64) for property tests: the same seed replays a failure.
public struct SplitMix {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// scripts/fuzz raises property-test iteration counts through SWIFTAINER_FUZZ_ITERATIONS.
public func fuzzIterations(default count: Int) -> Int {
    getenv("SWIFTAINER_FUZZ_ITERATIONS").flatMap { Int(String(cString: $0)) } ?? count
}
