import JSONKit

/// Go's template builtins (and, or, not, len, index, slice, print, printf, println, eq, ne,
/// lt, le, gt, ge) and Docker's additions (json, join, split, title, lower, upper, pad,
/// truncate).
enum TemplateFunctions {
    struct Failure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func call(_ name: String, _ arguments: [TemplateValue]) throws -> TemplateValue {
        func count(_ expected: Int) throws {
            guard arguments.count == expected else { throw Failure("wrong number of args: want \(expected) got \(arguments.count)") }
        }
        func string(_ position: Int) throws -> String {
            guard case .value(.string(let text)) = arguments[position] else {
                throw Failure("argument \(position + 1) must be a string, not \(arguments[position].printed)")
            }
            return text
        }
        func integer(_ position: Int) throws -> Int {
            guard case .value(.number(let text)) = arguments[position], let value = Int(text) else {
                throw Failure("argument \(position + 1) must be an integer, not \(arguments[position].printed)")
            }
            return value
        }
        switch name {
        case "json":
            try count(1)
            // Go's json.Marshal of a nil interface is null.
            return .value(.string(String(decoding: JSON.write(arguments[0].json ?? .null), as: UTF8.self)))
        case "upper": try count(1); return .value(.string(try string(0).uppercased()))
        case "lower": try count(1); return .value(.string(try string(0).lowercased()))
        case "title":
            try count(1)
            var result = ""
            var atWordStart = true
            for character in try string(0) {
                result += atWordStart ? character.uppercased() : String(character)
                atWordStart = !(character.isLetter || character.isNumber || character == "_" || character == "'")
            }
            return .value(.string(result))
        case "join":
            try count(2)
            // A nil slice (JSON null) joins to "" in Go: Docker prints nothing.
            if case .value(.null) = arguments[0] { return .value(.string("")) }
            guard case .value(.array(let elements)) = arguments[0] else { throw Failure("join needs a list, not \(arguments[0].printed)") }
            return .value(.string(elements.map(TemplateValue.print).joined(separator: try string(1))))
        case "split":
            try count(2)
            let text = try string(0), separator = try string(1)
            return .value(.array(split(text, separator).map { .string($0) }))
        case "pad":
            try count(3)
            let left = try integer(1), right = try integer(2)
            return .value(.string(String(repeating: " ", count: max(0, left)) + arguments[0].printed + String(repeating: " ", count: max(0, right))))
        case "truncate":
            try count(2)
            let text = arguments[0].printed, length = try integer(1)
            return .value(.string(text.count > length ? String(text.prefix(max(0, length))) : text))
        case "len":
            try count(1)
            switch arguments[0] {
            case .value(.string(let text)): return .value(.number(String(text.utf8.count)))
            case .value(.array(let elements)): return .value(.number(String(elements.count)))
            case .value(.object(let members)): return .value(.number(String(members.count)))
            default: throw Failure("len of \(arguments[0].printed)")
            }
        case "index":
            guard !arguments.isEmpty else { throw Failure("wrong number of args: want at least 1 got 0") }
            var current = arguments[0]
            for key in arguments.dropFirst() {
                switch (current, key) {
                case (.value(.object(let members)), .value(.string(let name))):
                    current = members.last { $0.key == name }.map { .value($0.value) } ?? .missing
                case (.value(.array(let elements)), .value(.number(let text))):
                    guard let position = Int(text), elements.indices.contains(position) else { throw Failure("index out of range: \(text)") }
                    current = .value(elements[position])
                case (.missing, _), (.value(.null), _):
                    return .missing
                default:
                    throw Failure("can't index item of type \(current.printed) with \(key.printed)")
                }
            }
            return current
        case "slice":
            guard (1...3).contains(arguments.count) else { throw Failure("wrong number of args: want 1 to 3 got \(arguments.count)") }
            let start = arguments.count > 1 ? try integer(1) : 0
            switch arguments[0] {
            case .value(.string(let text)):
                let bytes = Array(text.utf8)
                let end = arguments.count > 2 ? try integer(2) : bytes.count
                guard 0 <= start, start <= end, end <= bytes.count else { throw Failure("slice index out of range") }
                return .value(.string(String(decoding: bytes[start..<end], as: UTF8.self)))
            case .value(.array(let elements)):
                let end = arguments.count > 2 ? try integer(2) : elements.count
                guard 0 <= start, start <= end, end <= elements.count else { throw Failure("slice index out of range") }
                return .value(.array(Array(elements[start..<end])))
            default: throw Failure("can't slice item of type \(arguments[0].printed)")
            }
        case "print":
            // Go's fmt.Sprint: a space between operands when neither is a string.
            var result = ""
            for (position, argument) in arguments.enumerated() {
                if position > 0, !isString(arguments[position - 1]), !isString(argument) { result += " " }
                result += argument.printed
            }
            return .value(.string(result))
        case "println":
            return .value(.string(arguments.map(\.printed).joined(separator: " ") + "\n"))
        case "printf":
            guard !arguments.isEmpty else { throw Failure("wrong number of args: want at least 1 got 0") }
            return .value(.string(Printf.format(try string(0), Array(arguments.dropFirst()))))
        case "not":
            try count(1)
            return .value(.bool(!arguments[0].isTrue))
        case "and":
            guard !arguments.isEmpty else { throw Failure("wrong number of args: want at least 1 got 0") }
            return arguments.first { !$0.isTrue } ?? arguments[arguments.count - 1]
        case "or":
            guard !arguments.isEmpty else { throw Failure("wrong number of args: want at least 1 got 0") }
            return arguments.first { $0.isTrue } ?? arguments[arguments.count - 1]
        case "eq":
            guard arguments.count >= 2 else { throw Failure("missing argument for comparison") }
            for other in arguments.dropFirst() where try compare(arguments[0], other) == 0 { return .value(.bool(true)) }
            return .value(.bool(false))
        case "ne":
            try count(2)
            return .value(.bool(try compare(arguments[0], arguments[1]) != 0))
        case "lt", "le", "gt", "ge":
            try count(2)
            let order = try compare(arguments[0], arguments[1], ordered: true)
            let result = name == "lt" ? order < 0 : name == "le" ? order <= 0 : name == "gt" ? order > 0 : order >= 0
            return .value(.bool(result))
        default:
            throw Failure("function \"\(name)\" not defined")
        }
    }

    private static func isString(_ value: TemplateValue) -> Bool {
        if case .value(.string) = value { return true }
        return false
    }

    /// -1, 0, 1; only like kinds compare (Go: "incompatible types for comparison").
    private static func compare(_ a: TemplateValue, _ b: TemplateValue, ordered: Bool = false) throws -> Int {
        switch (a.json, b.json) {
        case let (.string(x)?, .string(y)?): return x < y ? -1 : x == y ? 0 : 1
        case let (.number(x)?, .number(y)?):
            let left = Double(x) ?? 0, right = Double(y) ?? 0
            return left < right ? -1 : left == right ? 0 : 1
        case let (.bool(x)?, .bool(y)?) where !ordered: return x == y ? 0 : 1
        case (.null?, .null?) where !ordered: return 0
        case (nil, nil) where !ordered: return 0
        default:
            throw Failure(ordered ? "invalid type for comparison" : "incompatible types for comparison")
        }
    }

    /// Go's strings.Split: an empty separator splits into characters.
    static func split(_ text: String, _ separator: String) -> [String] {
        guard !separator.isEmpty else { return text.map(String.init) }
        var parts: [String] = []
        var rest = Substring(text)
        while let range = rest.range(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

extension Substring {
    /// The first occurrence of `needle` (Foundation-free).
    func range(of needle: String) -> Range<Index>? {
        let pattern = Array(needle)
        guard !pattern.isEmpty else { return nil }
        var start = startIndex
        while start < endIndex {
            var i = start, j = 0
            while j < pattern.count, i < endIndex, self[i] == pattern[j] {
                i = index(after: i)
                j += 1
            }
            if j == pattern.count { return start..<i }
            start = index(after: start)
        }
        return nil
    }
}

/// Go's fmt verbs that templates use: %s %v %d %q %x %X %f %e %g %t %c %%, with flags
/// (`-`, `0`, `+`, space) width and precision. A missing operand prints %!v(MISSING), as Go's.
enum Printf {
    static func format(_ format: String, _ arguments: [TemplateValue]) -> String {
        var output = ""
        var next = 0
        var characters = Array(format)[...]
        while let character = characters.popFirst() {
            guard character == "%" else { output.append(character); continue }
            var leftAlign = false, zeroPad = false, plus = false
            while let flag = characters.first, "-0+ #".contains(flag) {
                if flag == "-" { leftAlign = true } else if flag == "0" { zeroPad = true } else if flag == "+" { plus = true }
                characters.removeFirst()
            }
            var width = 0
            while let digit = characters.first?.wholeNumberValue { width = width * 10 + digit; characters.removeFirst() }
            var precision: Int?
            if characters.first == "." {
                characters.removeFirst()
                var value = 0
                while let digit = characters.first?.wholeNumberValue { value = value * 10 + digit; characters.removeFirst() }
                precision = value
            }
            guard let verb = characters.popFirst() else { output += "%!(NOVERB)"; break }
            if verb == "%" { output += "%"; continue }
            guard next < arguments.count else { output += "%!\(verb)(MISSING)"; continue }
            let argument = arguments[next]
            next += 1
            var text: String
            switch verb {
            case "s", "v":
                text = argument.printed
                if verb == "s", let precision { text = String(text.prefix(precision)) }
            case "q": text = JSON.quoted(argument.printed)
            case "t": text = argument.printed
            case "d":
                if case .value(.number(let number)) = argument, let value = Int(number) ?? Double(number).map({ Int($0) }) {
                    text = (plus && value >= 0 ? "+" : "") + String(value)
                } else {
                    text = "%!d(\(argument.printed))"
                }
            case "x", "X":
                if case .value(.number(let number)) = argument, let value = Int(number) {
                    text = String(value, radix: 16, uppercase: verb == "X")
                } else {
                    text = argument.printed.utf8.map { String($0, radix: 16, uppercase: verb == "X").leftPadded(to: 2, with: "0") }.joined()
                }
            case "c":
                if case .value(.number(let number)) = argument, let value = Int(number), let scalar = Unicode.Scalar(value) {
                    text = String(Character(scalar))
                } else {
                    text = "%!c(\(argument.printed))"
                }
            case "f", "e", "g":
                if case .value(.number(let number)) = argument, let value = Double(number) {
                    text = fixed(value, precision: verb == "f" ? precision ?? 6 : nil)
                    if plus && value >= 0 { text = "+" + text }
                } else {
                    text = "%!\(verb)(\(argument.printed))"
                }
            default:
                text = "%!\(verb)(\(argument.printed))"
            }
            if text.count < width {
                let padding = String(repeating: zeroPad && !leftAlign ? "0" : " ", count: width - text.count)
                text = leftAlign ? text + padding : padding + text
            }
            output += text
        }
        if next < arguments.count {
            output += "%!(EXTRA " + arguments[next...].map { $0.printed }.joined(separator: ", ") + ")"
        }
        return output
    }

    /// Fixed-point without Foundation; nil precision: Swift's shortest representation.
    private static func fixed(_ value: Double, precision: Int?) -> String {
        guard let precision else { return String(value) }
        var scale = 1.0
        for _ in 0..<precision { scale *= 10 }
        let negative = value < 0
        let scaled = (abs(value) * scale).rounded()
        let whole = UInt64(scaled / scale)
        var fraction = String(UInt64(scaled - Double(whole) * scale))
        fraction = String(repeating: "0", count: max(0, precision - fraction.count)) + fraction
        return (negative ? "-" : "") + String(whole) + (precision > 0 ? "." + fraction : "")
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
