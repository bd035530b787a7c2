/// The Decoder behind `JSON.decode`: walks a parsed `JSONValue`, throwing the standard
/// `DecodingError`s with the coding path, so callers can name the field at fault.
struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw Unbox.mismatch([String: Any].self, "an object", value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw Unbox.mismatch([Any].self, "an array", value, codingPath) }
        return UnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { self }

    // SingleValueDecodingContainer
    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }
    func decode(_ type: Bool.Type) throws -> Bool { try Unbox.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try Unbox.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Unbox.float(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try Unbox.float(value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try Unbox.integer(value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Unbox.integer(value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Unbox.integer(value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Unbox.integer(value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Unbox.integer(value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try Unbox.integer(value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Unbox.integer(value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Unbox.integer(value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Unbox.integer(value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Unbox.integer(value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

/// JSON values as primitives, or the error that says why not.
enum Unbox {
    static func mismatch(_ type: Any.Type, _ expected: String, _ value: JSONValue, _ codingPath: [CodingKey]) -> DecodingError {
        if case .null = value {
            return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "expected \(expected) but found null"))
        }
        return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "expected \(expected) but found \(value.kindDescription)"))
    }

    static func bool(_ value: JSONValue, _ codingPath: [CodingKey]) throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self, "a boolean", value, codingPath) }
        return flag
    }

    static func string(_ value: JSONValue, _ codingPath: [CodingKey]) throws -> String {
        guard case .string(let string) = value else { throw mismatch(String.self, "a string", value, codingPath) }
        return string
    }

    /// An integer from its text; a number written with a fraction or exponent is accepted
    /// when it is exactly a whole number in range (1e3, 2.0), as Foundation does.
    static func integer<T: FixedWidthInteger>(_ value: JSONValue, _ codingPath: [CodingKey]) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, "a number", value, codingPath) }
        if let integer = T(text) { return integer }
        if let double = Double(text), double.rounded() == double, let integer = T(exactly: double) { return integer }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "the number \(text) does not fit in \(T.self)"))
    }

    static func float<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: JSONValue, _ codingPath: [CodingKey]) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, "a number", value, codingPath) }
        guard let number = T(text), number.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "the number \(text) does not fit in \(T.self)"))
        }
        return number
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Member lookup; a key given twice takes its last value, as most parsers do.
    let members: [String: JSONValue]
    let codingPath: [CodingKey]

    init(members: [(key: String, value: JSONValue)], codingPath: [CodingKey]) {
        self.members = Dictionary(members, uniquingKeysWith: { _, last in last })
        self.codingPath = codingPath
    }

    private init(lookup: [String: JSONValue], codingPath: [CodingKey]) {
        members = lookup
        self.codingPath = codingPath
    }

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func member(_ key: Key) throws -> JSONValue {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no member \"\(key.stringValue)\""))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try member(key) { return true }
        return false
    }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Unbox.bool(try member(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Unbox.string(try member(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Unbox.float(try member(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try Unbox.float(try member(key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Unbox.integer(try member(key), codingPath + [key]) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: ValueDecoder(value: try member(key), codingPath: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    /// A missing member decodes as null, so an optional superclass payload can be absent.
    func superDecoder() throws -> Decoder {
        ValueDecoder(value: members["super"] ?? .null, codingPath: codingPath + [SuperKey()])
    }

    func superDecoder(forKey key: Key) throws -> Decoder {
        ValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [CodingKey]
    private(set) var currentIndex = 0

    init(elements: [JSONValue], codingPath: [CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    /// Decodes the current element; the index moves on only when that succeeds.
    private mutating func next<T>(_ type: T.Type, _ body: (JSONValue, [CodingKey]) throws -> T) throws -> T {
        let path = codingPath + [IndexKey(currentIndex)]
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "the array has only \(elements.count) elements"))
        }
        let result = try body(elements[currentIndex], path)
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "the array has only \(elements.count) elements"))
        }
        guard case .null = elements[currentIndex] else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { try Unbox.bool($0, $1) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { try Unbox.string($0, $1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { try Unbox.float($0, $1) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) { try Unbox.float($0, $1) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) { try Unbox.integer($0, $1) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try next(type) { try T(from: ValueDecoder(value: $0, codingPath: $1)) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(KeyedDecodingContainer<NestedKey>.self) { try ValueDecoder(value: $0, codingPath: $1).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        try next(UnkeyedDecodingContainer.self) { try ValueDecoder(value: $0, codingPath: $1).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> Decoder {
        try next(Decoder.self) { ValueDecoder(value: $0, codingPath: $1) }
    }
}
