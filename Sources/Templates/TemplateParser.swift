/// The subset of Go's text/template that Docker users write in --format and inspect -f:
/// `{{.Field.Sub}}`, `{{.}}`, `{{$var}}`, pipelines (`{{.Names | upper}}`), function calls,
/// `{{if}}/{{else if}}/{{else}}/{{end}}`, `{{range}}` (with `$i, $e :=`), `{{with}}`,
/// variables (`:=`, `=`), parenthesized pipelines, comments and the `{{-`/`-}}` trim markers.
/// `define`/`template`/`block` are left out: no Docker format uses them.

/// Where in the template source: Go's errors say "template: :LINE:COL: …".
struct SourcePosition: Sendable {
    var line: Int
    var column: Int
}

indirect enum TemplateNode: Sendable {
    case text(String)
    case action(Pipeline)
    /// if, range, with: the pipeline, the body, and the else branch (an `else if` is an else
    /// branch holding one `if`).
    case branch(BranchKind, Pipeline, [TemplateNode], [TemplateNode]?)
}

enum BranchKind: String, Sendable { case `if`, range, with }

struct Pipeline: Sendable {
    /// `$x :=` declares, `$x =` assigns; range may declare two (`$i, $e :=`).
    var variables: [String] = []
    var declares = true
    var commands: [TemplateCommand] = []
    var position: SourcePosition
    /// The action's source text, for error messages ("executing at <.Foo>").
    var source: String
}

struct TemplateCommand: Sendable {
    var operands: [Operand]
}

indirect enum Operand: Sendable {
    case dot
    /// `.A.B` on dot.
    case field([String])
    /// `$`, `$x`, `$x.A.B`.
    case variable(String, [String])
    /// A function name.
    case function(String)
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    /// `(pipeline).A.B`.
    case group(Pipeline, [String])
}

public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Splits the template into text and actions, then parses each action.
struct TemplateParser {
    private let source: [Character]
    private var index = 0
    private var line = 1
    private var column = 1

    static let functions: Set<String> = ["json", "index", "len", "printf", "print", "println", "upper", "lower", "title", "join",
                                         "split", "pad", "truncate", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "slice"]

    init(_ text: String) { source = Array(text) }

    static func parse(_ text: String) throws -> [TemplateNode] {
        var parser = TemplateParser(text)
        let (nodes, terminator) = try parser.parseList(endings: [])
        if let terminator { throw parser.error(at: terminator.position, "unexpected {{\(terminator.keyword)}}") }
        return nodes
    }

    private struct Terminator {
        var keyword: String
        var rest: String
        var position: SourcePosition
    }

    private func error(at position: SourcePosition, _ message: String) -> TemplateError {
        TemplateError("template: :\(position.line):\(position.column): \(message)")
    }

    private var position: SourcePosition { SourcePosition(line: line, column: column) }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where index < source.count {
            if source[index] == "\n" { line += 1; column = 1 } else { column += 1 }
            index += 1
        }
    }

    private func starts(with text: String, at offset: Int) -> Bool {
        var i = offset
        for character in text {
            guard i < source.count, source[i] == character else { return false }
            i += 1
        }
        return true
    }

    /// Nodes up to one of `endings` ({{end}}, {{else …}}) or the end of the source.
    private mutating func parseList(endings: Set<String>) throws -> ([TemplateNode], Terminator?) {
        var nodes: [TemplateNode] = []
        var text = ""
        while index < source.count {
            guard starts(with: "{{", at: index) else {
                text.append(source[index])
                advance()
                continue
            }
            let start = position
            advance(2)
            // "{{- " trims the whitespace before the action.
            if starts(with: "- ", at: index) || starts(with: "-\t", at: index) || starts(with: "-\n", at: index) {
                while let last = text.last, last.isWhitespace { text.removeLast() }
                advance(1)
            }
            if !text.isEmpty { nodes.append(.text(text)); text = "" }
            let body = try readAction(start: start)
            let trimmed = body.text.trimmingSpaces
            if trimmed.hasPrefix("/*") {
                guard trimmed.hasSuffix("*/") else { throw error(at: start, "unclosed comment") }
            } else {
                let (keyword, rest) = Self.splitKeyword(trimmed)
                switch keyword {
                case "end", "else":
                    guard endings.contains(keyword) else { throw error(at: start, "unexpected {{\(keyword)}}") }
                    skipTrimmedWhitespace(body.trimRight)
                    return (nodes, Terminator(keyword: keyword, rest: rest, position: start))
                case "if", "range", "with":
                    skipTrimmedWhitespace(body.trimRight)
                    nodes.append(try parseBranch(BranchKind(rawValue: keyword)!, rest, at: start))
                    continue
                case "define", "template", "block", "break", "continue":
                    throw error(at: start, "{{\(keyword)}} is not supported")
                default:
                    if trimmed.isEmpty { throw error(at: start, "missing value for command") }
                    var action = ActionParser(trimmed, position: start)
                    nodes.append(.action(try action.parsePipeline()))
                }
            }
            skipTrimmedWhitespace(body.trimRight)
        }
        if !text.isEmpty { nodes.append(.text(text)) }
        return (nodes, nil)
    }

    private mutating func skipTrimmedWhitespace(_ trim: Bool) {
        guard trim else { return }
        while index < source.count, source[index].isWhitespace { advance() }
    }

    private mutating func parseBranch(_ kind: BranchKind, _ rest: String, at start: SourcePosition) throws -> TemplateNode {
        guard !rest.isEmpty else { throw error(at: start, "missing value for \(kind.rawValue)") }
        var action = ActionParser(rest, position: start)
        let pipeline = try action.parsePipeline(allowsTwoVariables: kind == .range)
        let (body, terminator) = try parseList(endings: ["end", "else"])
        guard let terminator else { throw error(at: start, "unexpected EOF: {{\(kind.rawValue)}} has no {{end}}") }
        if terminator.keyword == "end" { return .branch(kind, pipeline, body, nil) }
        // {{else}} or {{else if …}} / {{else with …}}: the latter is an else branch holding one
        // branch, whose {{end}} closes both.
        let (elseKeyword, elseRest) = Self.splitKeyword(terminator.rest)
        if elseKeyword == "if" || elseKeyword == "with" {
            let nested = try parseBranch(BranchKind(rawValue: elseKeyword)!, elseRest, at: terminator.position)
            return .branch(kind, pipeline, body, [nested])
        }
        guard terminator.rest.isEmpty else { throw error(at: terminator.position, "unexpected \"\(terminator.rest)\" in else") }
        let (elseBody, end) = try parseList(endings: ["end"])
        guard end != nil else { throw error(at: start, "unexpected EOF: {{\(kind.rawValue)}} has no {{end}}") }
        return .branch(kind, pipeline, body, elseBody)
    }

    private static func splitKeyword(_ text: String) -> (String, String) {
        let keyword = String(text.prefix { $0.isLetter })
        guard !keyword.isEmpty else { return ("", text) }
        let rest = text.dropFirst(keyword.count)
        // "endx" is an identifier, not the keyword end.
        if let next = rest.first, !next.isWhitespace && next != "(" && next != "$" && next != "." && next != "\"" { return ("", text) }
        return (keyword, String(rest).trimmingSpaces)
    }

    /// The text of one action up to its "}}" (quotes respected), and whether it ends in " -}}".
    private mutating func readAction(start: SourcePosition) throws -> (text: String, trimRight: Bool) {
        var text = ""
        var quote: Character?
        while index < source.count {
            let character = source[index]
            if let open = quote {
                text.append(character)
                advance()
                if character == "\\" && open == "\"" && index < source.count {
                    text.append(source[index])
                    advance()
                } else if character == open {
                    quote = nil
                }
                continue
            }
            if character == "\"" || character == "`" {
                quote = character
            } else if starts(with: "}}", at: index) {
                advance(2)
                if text.hasSuffix(" -") || text.hasSuffix("\t-") || text.hasSuffix("\n-") {
                    return (String(text.dropLast()), true)
                }
                return (text, false)
            }
            // Actions may span lines (Go 1.16 and later).
            text.append(character)
            advance()
        }
        throw error(at: start, quote == nil ? "unclosed action" : "unterminated quoted string")
    }
}

/// One action's pipeline: `$x := .A | printf "%s" | upper`.
struct ActionParser {
    private let text: [Character]
    private var index = 0
    private let position: SourcePosition
    private let source: String

    init(_ text: String, position: SourcePosition) {
        self.text = Array(text)
        self.position = position
        source = text
    }

    private func error(_ message: String) -> TemplateError {
        TemplateError("template: :\(position.line):\(position.column): \(message)")
    }

    mutating func parsePipeline(allowsTwoVariables: Bool = false) throws -> Pipeline {
        let pipeline = try pipelineBody(allowsTwoVariables: allowsTwoVariables)
        skipSpaces()
        if index < text.count { throw error("unexpected \"\(String(text[index...]))\" in command") }
        return pipeline
    }

    private mutating func pipelineBody(allowsTwoVariables: Bool) throws -> Pipeline {
        var pipeline = Pipeline(position: position, source: source)
        // Declarations: "$x :=", "$x =", "$i, $e :=".
        let save = index
        var names: [String] = []
        while true {
            skipSpaces()
            guard peek == "$" else { break }
            names.append(readVariableName())
            skipSpaces()
            if peek == "," && allowsTwoVariables && names.count == 1 { index += 1; continue }
            break
        }
        skipSpaces()
        if !names.isEmpty && (starts(":=") || (peek == "=" && names.count == 1)) {
            pipeline.declares = starts(":=")
            index += pipeline.declares ? 2 : 1
            pipeline.variables = names
        } else {
            index = save
        }
        while true {
            skipSpaces()
            let command = try parseCommand()
            guard !command.operands.isEmpty else { throw error("missing value for command") }
            pipeline.commands.append(command)
            skipSpaces()
            guard peek == "|" else { break }
            index += 1
        }
        return pipeline
    }

    private mutating func parseCommand() throws -> TemplateCommand {
        var operands: [Operand] = []
        while true {
            skipSpaces()
            guard let character = peek, character != "|", character != ")" else { break }
            operands.append(try parseOperand())
        }
        return TemplateCommand(operands: operands)
    }

    private mutating func parseOperand() throws -> Operand {
        guard let character = peek else { throw error("missing value") }
        switch character {
        case ".":
            let fields = readFields()
            return fields.isEmpty ? .dot : .field(fields)
        case "$":
            let name = readVariableName()
            return .variable(name, readFields())
        case "\"":
            return .string(try readQuoted())
        case "`":
            index += 1
            var value = ""
            while let next = peek, next != "`" { value.append(next); index += 1 }
            guard peek == "`" else { throw error("unterminated raw quoted string") }
            index += 1
            return .string(value)
        case "(":
            index += 1
            let inner = try pipelineBody(allowsTwoVariables: false)
            skipSpaces()
            guard peek == ")" else { throw error("unclosed left paren") }
            index += 1
            return .group(inner, readFields())
        case "-", "+", "0"..."9":
            var number = ""
            while let next = peek, next.isNumber || next == "." || next == "-" || next == "+" || next == "e" || next == "x" {
                number.append(next)
                index += 1
            }
            guard Double(number) != nil || Int(number.replacingPrefix("0x"), radix: 16) != nil else { throw error("bad number syntax: \"\(number)\"") }
            return .number(number)
        default:
            guard character.isLetter || character == "_" else { throw error("unexpected \"\(character)\" in operand") }
            var word = ""
            while let next = peek, next.isLetter || next.isNumber || next == "_" { word.append(next); index += 1 }
            switch word {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "nil": return .null
            default:
                guard TemplateParser.functions.contains(word) else { throw error("function \"\(word)\" not defined") }
                return .function(word)
            }
        }
    }

    private mutating func readFields() -> [String] {
        var fields: [String] = []
        while peek == "." {
            index += 1
            var name = ""
            while let next = peek, next.isLetter || next.isNumber || next == "_" { name.append(next); index += 1 }
            if name.isEmpty { break }
            fields.append(name)
        }
        return fields
    }

    private mutating func readVariableName() -> String {
        var name = "$"
        index += 1
        while let next = peek, next.isLetter || next.isNumber || next == "_" { name.append(next); index += 1 }
        return name
    }

    private mutating func readQuoted() throws -> String {
        index += 1
        var value = ""
        while let character = peek {
            index += 1
            switch character {
            case "\"": return value
            case "\\":
                guard let escaped = peek else { throw error("unterminated quoted string") }
                index += 1
                switch escaped {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "\\": value.append("\\")
                case "\"": value.append("\"")
                default: throw error("invalid syntax: \\\(escaped) in quoted string")
                }
            default: value.append(character)
            }
        }
        throw error("unterminated quoted string")
    }

    private var peek: Character? { index < text.count ? text[index] : nil }

    private func starts(_ prefix: String) -> Bool {
        var i = index
        for character in prefix {
            guard i < text.count, text[i] == character else { return false }
            i += 1
        }
        return true
    }

    private mutating func skipSpaces() {
        while let character = peek, character.isWhitespace { index += 1 }
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }

    func replacingPrefix(_ prefix: String) -> String { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self }
}
