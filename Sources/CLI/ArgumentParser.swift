/// A small Docker-style argument parser: `-i -t` or `-it`, `-e K=V` or `-eK=V`,
/// `--name N` or `--name=N`, `--` to end options. Parsing stops at the first positional
/// argument when asked (so `run IMAGE CMD -x` leaves `-x` to CMD).
public struct OptionSpec: Sendable {
    public let names: [String]          // "-e", "--env"
    public let takesValue: Bool
    public let key: String              // the name results are filed under
    /// What `--help` shows: the value's kind ("bytes", "list", "duration") and one line.
    public var valueName: String?
    public var help: String
    /// The heading `--help` lists the option under (nil: "Options").
    public var group: String?
    /// Accepted by the parser but refused when used, with this reason (a flag of Docker's that
    /// Linux or this design cannot honour): `--help` shows it, the command throws it.
    public var refusal: String?
    /// A flag of Docker's that swiftainer means to honour and does not yet: refused when used,
    /// shown as such by `--help` and counted as missing by scripts/docker-parity.
    public var notYetImplemented = false

    public init(_ names: [String], takesValue: Bool = false, key: String? = nil) {
        self.names = names
        self.takesValue = takesValue
        self.key = key ?? names.last!.trimmingPrefix("--")
        self.valueName = takesValue ? "string" : nil
        self.help = ""
    }

    /// An option described for `--help`: a value of kind `value` (nil: a switch).
    public init(_ names: [String], _ value: String?, _ help: String, key: String? = nil, group: String? = nil, refusal: String? = nil,
                notYet: Bool = false) {
        self.init(names, takesValue: value != nil, key: key)
        self.valueName = value
        self.help = help
        self.group = group
        self.refusal = refusal
        self.notYetImplemented = notYet
    }

    /// "-m, --memory bytes" as `--help` starts the option's line.
    var synopsis: String {
        let short = names.first { !$0.hasPrefix("--") }
        let long = names.filter { $0.hasPrefix("--") }.joined(separator: ", ")
        let flag = short.map { "\($0), " + long } ?? "    " + long
        return flag + (valueName.map { " " + $0 } ?? "")
    }
}

/// The known option nearest to an unknown one, for "did you mean": the smallest edit
/// distance, if it is small next to the name (Docker's cobra suggests the same way).
func nearestOption(to name: String, in options: [OptionSpec]) -> String? {
    let candidates = options.flatMap(\.names).filter { $0.hasPrefix("--") == name.hasPrefix("--") }
    let scored = candidates.map { ($0, editDistance(name, $0)) }.min { $0.1 < $1.1 }
    guard let (best, distance) = scored, distance <= max(2, name.count / 3) else {
        // A prefix of a longer name ("--mem" for "--memory") is as good a guess.
        return candidates.first { $0.hasPrefix(name) && name.count >= 4 }
    }
    return best
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

public struct ParsedArguments: Equatable {
    public var values: [String: [String]] = [:]
    public var flags: Set<String> = []
    public var positionals: [String] = []

    public func value(_ key: String) -> String? { values[key]?.last }
    public func has(_ key: String) -> Bool { flags.contains(key) }
}

public struct UsageError: Error, CustomStringConvertible, Equatable {
    public let message: String
    /// A second line pointing at the help ("See 'swiftainer run --help'."), as Docker prints.
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message + (hint.map { "\n" + $0 } ?? "") }
}

public func parseArguments(_ arguments: [String], options: [OptionSpec], stopAtFirstPositional: Bool) throws -> ParsedArguments {
    var result = ParsedArguments()
    var index = 0
    func find(_ name: String) -> OptionSpec? { options.first { $0.names.contains(name) } }
    func take(_ spec: OptionSpec, _ value: String) {
        result.values[spec.key, default: []].append(value)
    }

    while index < arguments.count {
        let argument = arguments[index]
        index += 1
        if argument == "--" {
            result.positionals += arguments[index...]
            break
        }
        if argument.hasPrefix("--") {
            let body = argument.dropFirst(2)
            let name = "--" + (body.split(separator: "=", maxSplits: 1).first ?? "")
            guard let spec = find(name) else {
                throw UsageError("unknown flag: \(name)" + (nearestOption(to: name, in: options).map { "; did you mean \($0)?" } ?? ""))
            }
            if spec.takesValue {
                if let equals = body.firstIndex(of: "=") {
                    take(spec, String(body[body.index(after: equals)...]))
                } else {
                    guard index < arguments.count else { throw UsageError("flag needs an argument: \(name)") }
                    take(spec, arguments[index])
                    index += 1
                }
            } else {
                if let equals = body.firstIndex(of: "=") {
                    let value = body[body.index(after: equals)...]
                    guard let bool = ["true": true, "false": false][String(value)] else {
                        throw UsageError("invalid value \"\(value)\" for flag \(name): expected true or false")
                    }
                    if bool { result.flags.insert(spec.key) } else { result.flags.remove(spec.key) }
                    // Kept as said, for switches whose default is true (--sig-proxy=false).
                    result.values[spec.key] = [String(value)]
                } else {
                    result.flags.insert(spec.key)
                }
            }
            continue
        }
        if argument.hasPrefix("-") && argument.count > 1 {
            // A cluster of short options: -it, -e K=V, -eK=V, -itd.
            var letters = argument.dropFirst()[...]
            while let letter = letters.first {
                letters = letters.dropFirst()
                let name = "-\(letter)"
                guard let spec = find(name) else { throw UsageError("unknown shorthand flag: '\(letter)' in \(argument)") }
                if spec.takesValue {
                    if !letters.isEmpty {
                        take(spec, String(letters.hasPrefix("=") ? letters.dropFirst() : letters))
                    } else {
                        guard index < arguments.count else { throw UsageError("flag needs an argument: '\(letter)' in \(name)") }
                        take(spec, arguments[index])
                        index += 1
                    }
                    break
                }
                result.flags.insert(spec.key)
            }
            continue
        }
        result.positionals.append(argument)
        if stopAtFirstPositional {
            result.positionals += arguments[index...]
            break
        }
    }
    return result
}

extension String {
    func trimmingPrefix(_ prefix: String) -> String { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self }
}

extension ParsedArguments {
    /// The one positional argument `verb` takes, or the usage error that names it
    /// ("\"start\" requires exactly 1 argument: ID").
    func onlyPositional(_ verb: String, _ what: String) throws -> String {
        guard positionals.count == 1 else { throw UsageError("\"\(verb)\" requires exactly 1 argument: \(what)") }
        return positionals[0]
    }
}
