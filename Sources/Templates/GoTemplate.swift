import JSONKit

/// A parsed Go template, executed over JSON values (what `inspect` prints, or a list row as
/// an object of its columns). Output follows Go's fmt: strings bare, numbers as written,
/// arrays `[a b]`, objects `map[k:v]` with sorted keys, a missing key `<no value>`.
public struct GoTemplate: Sendable {
    /// What a field that the value does not have means.
    public enum MissingField: Sendable {
        /// Go's default for maps: the field is `<no value>` (Docker's inspect, which falls
        /// back to the raw JSON map).
        case noValue
        /// Go's for a map of strings: a missing key is "" (Docker's events: Attributes).
        case empty
        /// Go's for structs: an error naming the type (Docker's list commands: `ps`,
        /// `images`). The string is the type name Docker's error shows.
        case error(typeName: String)
    }

    let nodes: [TemplateNode]
    public var missingField: MissingField

    public init(_ text: String, missingField: MissingField = .noValue) throws {
        nodes = try TemplateParser.parse(text)
        self.missingField = missingField
    }

    public func execute(_ data: JSONValue) throws -> String {
        var executor = Executor(root: data, missingField: missingField)
        try executor.run(nodes, dot: .value(data))

        return executor.output
    }
}

/// A value during execution: JSON, or the absence Go prints as `<no value>`.
enum TemplateValue {
    case value(JSONValue)
    case missing

    var json: JSONValue? {
        if case .value(let value) = self { return value }
        return nil
    }

    /// Go's truth: false, 0, nil, empty strings, arrays and maps are false.
    var isTrue: Bool {
        switch self {
        case .missing: return false
        case .value(let value):
            switch value {
            case .null: return false
            case .bool(let flag): return flag
            case .number(let text): return (Double(text) ?? 0) != 0
            case .string(let text): return !text.isEmpty
            case .array(let elements): return !elements.isEmpty
            case .object(let members): return !members.isEmpty
            }
        }
    }

    /// How `{{.}}` prints it.
    var printed: String {
        switch self {
        case .missing: return "<no value>"
        case .value(let value): return Self.print(value)
        }
    }

    static func print(_ value: JSONValue) -> String {
        switch value {
        case .null: return "<nil>"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let text): return text
        case .string(let text): return text
        case .array(let elements): return "[" + elements.map(print).joined(separator: " ") + "]"
        case .object(let members):
            return "map[" + members.sorted { $0.key < $1.key }.map { "\($0.key):\(print($0.value))" }.joined(separator: " ") + "]"
        }
    }
}

struct Executor {
    let root: JSONValue
    let missingField: GoTemplate.MissingField
    var output = ""
    /// Variables in scope, innermost last; `$` is the root.
    private var variables: [(name: String, value: TemplateValue)]

    init(root: JSONValue, missingField: GoTemplate.MissingField) {
        self.root = root
        self.missingField = missingField
        variables = [("$", .value(root))]
    }

    mutating func run(_ nodes: [TemplateNode], dot: TemplateValue) throws {
        // Variables declared in a block end with it.
        let scope = variables.count
        defer { variables.removeSubrange(scope...) }
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .action(let pipeline):
                let value = try evaluate(pipeline, dot: dot)
                // A declaration prints nothing.
                if pipeline.variables.isEmpty {
                    if case .missing = value, case .empty = missingField { continue }
                    output += value.printed
                }
            case .branch(let kind, let pipeline, let body, let elseBody):
                try runBranch(kind, pipeline, body, elseBody, dot: dot)
            }
        }
    }

    private mutating func runBranch(_ kind: BranchKind, _ pipeline: Pipeline, _ body: [TemplateNode], _ elseBody: [TemplateNode]?, dot: TemplateValue) throws {
        switch kind {
        case .if, .with:
            let scope = variables.count
            defer { variables.removeSubrange(scope...) }
            let value = try evaluate(pipeline, dot: dot)
            if value.isTrue {
                try run(body, dot: kind == .with ? value : dot)
            } else if let elseBody {
                try run(elseBody, dot: dot)
            }
        case .range:
            // The declarations are evaluated per element, so the pipeline runs without them.
            var bare = pipeline
            bare.variables = []
            let collection = try evaluate(bare, dot: dot)
            var elements: [(key: JSONValue, value: JSONValue)] = []
            switch collection {
            case .missing, .value(.null): break
            case .value(.array(let items)): elements = items.enumerated().map { (.number(String($0.offset)), $0.element) }
            // Go ranges over a map in key order.
            case .value(.object(let members)): elements = members.sorted { $0.key < $1.key }.map { (.string($0.key), $0.value) }
            case .value(.number(let text)):
                guard let count = Int(text), count >= 0 else { throw executionError(pipeline, "range can't iterate over \(text)") }
                elements = (0..<count).map { (.number(String($0)), .number(String($0))) }
            case .value(let other):
                throw executionError(pipeline, "range can't iterate over \(TemplateValue.print(other))")
            }
            if elements.isEmpty {
                if let elseBody { try run(elseBody, dot: dot) }
                return
            }
            for element in elements {
                let scope = variables.count
                defer { variables.removeSubrange(scope...) }
                switch pipeline.variables.count {
                case 1: variables.append((pipeline.variables[0], .value(element.value)))
                case 2:
                    variables.append((pipeline.variables[0], .value(element.key)))
                    variables.append((pipeline.variables[1], .value(element.value)))
                default: break
                }
                try run(body, dot: .value(element.value))
            }
        }
    }

    private func executionError(_ pipeline: Pipeline, _ message: String) -> TemplateError {
        TemplateError("template: :\(pipeline.position.line):\(pipeline.position.column): executing at <\(pipeline.source.trimmingSpaces)>: \(message)")
    }

    mutating func evaluate(_ pipeline: Pipeline, dot: TemplateValue) throws -> TemplateValue {
        var piped: TemplateValue?
        for command in pipeline.commands {
            piped = try evaluate(command, piped: piped, dot: dot, in: pipeline)
        }
        let value = piped ?? .missing
        if !pipeline.variables.isEmpty {
            if pipeline.declares {
                for name in pipeline.variables { variables.append((name, value)) }
            } else {
                guard let slot = variables.lastIndex(where: { $0.name == pipeline.variables[0] }) else {
                    throw executionError(pipeline, "undefined variable: \(pipeline.variables[0])")
                }
                variables[slot].value = value
            }
        }
        return value
    }

    private mutating func evaluate(_ command: TemplateCommand, piped: TemplateValue?, dot: TemplateValue, in pipeline: Pipeline) throws -> TemplateValue {
        let first = command.operands[0]
        if case .function(let name) = first {
            var arguments = try command.operands.dropFirst().map { try evaluate($0, dot: dot, in: pipeline) }
            if let piped { arguments.append(piped) }
            return try call(name, arguments, in: pipeline)
        }
        guard command.operands.count == 1 else { throw executionError(pipeline, "can't give argument to non-function \(describe(first))") }
        guard piped == nil else { throw executionError(pipeline, "can't give argument to non-function \(describe(first))") }
        return try evaluate(first, dot: dot, in: pipeline)
    }

    private func describe(_ operand: Operand) -> String {
        switch operand {
        case .dot: return "."
        case .field(let names): return "." + names.joined(separator: ".")
        case .variable(let name, let names): return ([name] + names).joined(separator: ".")
        case .string(let text): return "\"\(text)\""
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "nil"
        case .function(let name): return name
        case .group: return "(…)"
        }
    }

    private mutating func evaluate(_ operand: Operand, dot: TemplateValue, in pipeline: Pipeline) throws -> TemplateValue {
        switch operand {
        case .dot: return dot
        case .field(let names): return try fields(names, of: dot, in: pipeline)
        case .variable(let name, let names):
            guard let variable = variables.last(where: { $0.name == name }) else { throw executionError(pipeline, "undefined variable: \(name)") }
            return try fields(names, of: variable.value, in: pipeline)
        case .string(let text): return .value(.string(text))
        case .number(let text):
            // 0x1F is a number Go accepts; JSON wants decimal.
            if text.hasPrefix("0x"), let value = Int(text.dropFirst(2), radix: 16) { return .value(.number(String(value))) }
            return .value(.number(text))
        case .bool(let flag): return .value(.bool(flag))
        case .null: return .value(.null)
        case .function(let name): return try call(name, [], in: pipeline)
        case .group(let inner, let names):
            return try fields(names, of: try evaluate(inner, dot: dot), in: pipeline)
        }
    }

    private func fields(_ names: [String], of start: TemplateValue, in pipeline: Pipeline) throws -> TemplateValue {
        var current = start
        for name in names {
            switch current {
            case .missing:
                return .missing
            case .value(.object(let members)):
                if let member = members.last(where: { $0.key == name }) {
                    current = .value(member.value)
                } else if case .error(let typeName) = missingField {
                    throw executionError(pipeline, "can't evaluate field \(name) in type \(typeName)")
                } else {
                    current = .missing
                }
            case .value(.null):
                throw executionError(pipeline, "nil pointer evaluating interface {}.\(name)")
            case .value(let other):
                throw executionError(pipeline, "can't evaluate field \(name) in type \(goType(other))")
            }
        }
        return current
    }

    private func goType(_ value: JSONValue) -> String {
        switch value {
        case .null: return "interface {}"
        case .bool: return "bool"
        case .number: return "float64"
        case .string: return "string"
        case .array: return "[]interface {}"
        case .object: return "map[string]interface {}"
        }
    }

    private func call(_ name: String, _ arguments: [TemplateValue], in pipeline: Pipeline) throws -> TemplateValue {
        do {
            return try TemplateFunctions.call(name, arguments)
        } catch let error as TemplateFunctions.Failure {
            throw executionError(pipeline, "error calling \(name): \(error.message)")
        }
    }
}
