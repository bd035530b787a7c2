/// A parsed JSON document. Numbers keep their source text, so a 64-bit integer survives
/// the round trip exactly and the decoder decides per field whether it wants an Int or a Double.
/// Objects keep their members in source order (duplicates included; lookups take the last).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a.elementsEqual(b) { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// What a type-mismatch message calls this value.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// How `JSON.encode` lays out its output.
public struct JSONFormat: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Two-space indentation, one member per line, `"key": value`.
    public static let pretty = JSONFormat(rawValue: 1 << 0)
    /// Object members sorted by key, so equal values encode to equal bytes.
    public static let sortedKeys = JSONFormat(rawValue: 1 << 1)
    /// What swiftainer writes for people and files: pretty, keys sorted.
    public static let document: JSONFormat = [.pretty, .sortedKeys]
}

/// Codable to and from JSON bytes without Foundation: the runtime starts twice per container,
/// and FoundationEssentials' coders cost ~0.5 ms and ~3 MB of touched pages per process start.
public enum JSON {
    public static func encode<T: Encodable>(_ value: T, format: JSONFormat = []) throws -> [UInt8] {
        write(try encodeValue(value), format: format)
    }

    /// `text` as a JSON string literal, for lines written by hand in one piece (log lines,
    /// error lines) without building a value first.
    public static func quoted(_ text: String) -> String {
        String(decoding: write(.string(text)), as: UTF8.self)
    }

    /// One line for a decoding error, naming the field at fault:
    /// "syscalls[3].action: expected a string but found a number", "linux: missing field 'x'".
    /// Other errors are described as they describe themselves.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ keys: [CodingKey]) -> String {
            keys.reduce("") { result, key in
                if let index = key.intValue { return result + "[\(index)]" }
                return result.isEmpty ? key.stringValue : result + "." + key.stringValue
            }
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let at = path(context.codingPath)
            return at.isEmpty ? context.debugDescription : "\(at): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            let at = path(context.codingPath)
            return "\(at.isEmpty ? "" : at + ": ")missing field '\(key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }

    public static func write(_ value: JSONValue, format: JSONFormat = []) -> [UInt8] {
        var writer = JSONWriter(format: format)
        writer.write(value)
        return writer.output
    }

    /// The value as a `JSONValue` tree (what `encode` serializes).
    public static func encodeValue<T: Encodable>(_ value: T) throws -> JSONValue {
        try ValueEncoder.encode(value, codingPath: [])
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        try decode(type, from: try parse(bytes))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, codingPath: []).decode(type)
    }

    /// Parses a whole document (RFC 8259: any value at the top, whitespace around it).
    /// Errors are `DecodingError.dataCorrupted` naming the line and column.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        if let result = bytes.withContiguousStorageIfAvailable({ buffer in Result { try JSONParser.parse(buffer) } }) {
            return try result.get()
        }
        return try Array(bytes).withUnsafeBufferPointer { try JSONParser.parse($0) }
    }
}
