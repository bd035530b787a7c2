import JSONKit
import OCI

/// A seccomp profile in Docker's JSON format (moby/profiles/seccomp): what
/// `--security-opt seccomp=FILE` takes. Turned into OCI `linux.seccomp` by `resolve`, which
/// applies each rule's includes/excludes for the container's capabilities, arch and kernel.
public struct DockerProfile: Codable, Equatable, Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchMap]?
    public var syscalls: [Rule]?
    public var flags: [String]?
    /// Docker's names for the seccomp listener (as the OCI spec's).
    public var listenerPath: String?
    public var listenerMetadata: String?

    public struct ArchMap: Codable, Equatable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    public struct Rule: Codable, Equatable, Sendable {
        public var names: [String]?
        /// The older single-name form.
        public var name: String?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [Arg]?
        public var includes: Filter?
        public var excludes: Filter?
        public var comment: String?
    }

    public struct Arg: Codable, Equatable, Sendable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
    }

    public struct Filter: Codable, Equatable, Sendable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }
}

public struct SeccompError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension DockerProfile {
    /// Parses a profile; errors name the source and the JSON path of the bad field.
    public static func parse(_ data: [UInt8], source: String) throws -> DockerProfile {
        guard data.count <= SeccompLimits.fileBytes else {
            throw SeccompError("seccomp profile \(source): \(data.count) bytes, more than the \(SeccompLimits.fileBytes) a profile may have")
        }
        do {
            let profile = try JSON.decode(DockerProfile.self, from: data)
            try profile.validate(source: source)
            return profile
        } catch let error as DecodingError {
            throw SeccompError("seccomp profile \(source): \(JSON.describe(error))")
        }
    }

    /// The built-in default: profiles/seccomp-default.json, compiled into the binary as a value
    /// by scripts/gen-default-profile (a unit test keeps the two equal).
    public static func builtInDefault() throws -> DockerProfile {
        try defaultProfile.validate(source: "(built-in default)")
        return defaultProfile
    }

    /// Rejects what no container could run with, before anything is started.
    func validate(source: String) throws {
        func fail(_ field: String, _ problem: String) -> SeccompError {
            SeccompError("seccomp profile \(source): \(field): \(problem)")
        }
        guard SeccompActions.isKnown(defaultAction) else {
            throw fail("defaultAction", "unknown action '\(defaultAction)'")
        }
        do { _ = try SeccompFlags.value(flags, field: "flags", listener: listenerPath != nil) } catch let error as SeccompError {
            throw SeccompError("seccomp profile \(source): \(error.message)")
        }
        let names = (syscalls ?? []).reduce(0) { $0 + ($1.names?.count ?? 0) + ($1.name == nil ? 0 : 1) }
        guard names <= SeccompLimits.names else {
            throw fail("syscalls", "\(names) syscall names, more than the \(SeccompLimits.names) a profile may have")
        }
        for (index, rule) in (syscalls ?? []).enumerated() {
            let field = "syscalls[\(index)]"
            guard SeccompActions.isKnown(rule.action) else { throw fail(field + ".action", "unknown action '\(rule.action)'") }
            if (rule.names ?? []).isEmpty && rule.name == nil { throw fail(field, "names is empty") }
            for (argIndex, arg) in (rule.args ?? []).enumerated() {
                guard arg.index < 6 else { throw fail("\(field).args[\(argIndex)].index", "\(arg.index) is out of range (0-5)") }
                guard SeccompOperators.value(of: arg.op) != nil else {
                    throw fail("\(field).args[\(argIndex)].op", "unknown operator '\(arg.op)'")
                }
            }
            if let minKernel = rule.includes?.minKernel, KernelVersion(minKernel) == nil {
                throw fail(field + ".includes.minKernel", "'\(minKernel)' is not a kernel version")
            }
        }
    }

    /// The OCI seccomp section for a container with these bounding capabilities on this kernel.
    public func resolve(capabilities: Set<String>, kernel: KernelVersion = .running, nativeArch: String = SeccompArch.native) -> OCI.Seccomp {
        var arches = architectures ?? []
        for map in archMap ?? [] where map.architecture == nativeArch {
            arches = [map.architecture] + (map.subArchitectures ?? [])
        }
        var rules: [SeccompSyscall] = []
        for rule in syscalls ?? [] {
            if let includes = rule.includes {
                if let caps = includes.caps, !caps.allSatisfy(capabilities.contains) { continue }
                if let ruleArches = includes.arches, !ruleArches.contains(where: { SeccompArch.matches($0, nativeArch) }) { continue }
                if let minKernel = includes.minKernel.flatMap(KernelVersion.init), kernel < minKernel { continue }
            }
            if let excludes = rule.excludes {
                if let caps = excludes.caps, caps.contains(where: capabilities.contains) { continue }
                if let ruleArches = excludes.arches, ruleArches.contains(where: { SeccompArch.matches($0, nativeArch) }) { continue }
            }
            let names = (rule.names ?? []) + (rule.name.map { [$0] } ?? [])
            let args = rule.args?.map { SeccompArg(index: $0.index, value: $0.value, valueTwo: $0.valueTwo, op: $0.op) }
            rules.append(SeccompSyscall(names: names, action: rule.action, errnoRet: rule.errnoRet, args: args))
        }
        var seccomp = OCI.Seccomp(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet,
                                  architectures: arches.isEmpty ? nil : arches, flags: flags, syscalls: rules)
        seccomp.listenerPath = listenerPath
        seccomp.listenerMetadata = listenerMetadata
        return seccomp
    }
}

/// A kernel release compared by its leading numbers: "4.8" <= "6.1.0-13-amd64".
public struct KernelVersion: Comparable, Sendable {
    public let parts: [Int]

    public init?(_ text: String) {
        let numbers = text.split(whereSeparator: { !$0.isNumber }).prefix(3).compactMap { Int($0) }
        guard !numbers.isEmpty, text.first?.isNumber == true else { return nil }
        parts = numbers
    }

    public static var running: KernelVersion {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return KernelVersion(release) ?? KernelVersion("0")!
    }

    /// 6.1 and 6.1.0 are the same release.
    public static func == (lhs: KernelVersion, rhs: KernelVersion) -> Bool { !(lhs < rhs) && !(rhs < lhs) }

    public static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        for i in 0..<max(lhs.parts.count, rhs.parts.count) {
            let a = i < lhs.parts.count ? lhs.parts[i] : 0
            let b = i < rhs.parts.count ? rhs.parts[i] : 0
            if a != b { return a < b }
        }
        return false
    }
}

#if canImport(Glibc)
import Glibc
#endif
