/// The Decoder behind `JSON.decode`: walks a parsed `JSONValue`, throwing the standard
/// `DecodingError`s with the coding path, so callers can name the field at fault. Coding paths
/// are built only on the way into nested values or into an error.
struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// `T` from `value`: primitives directly, anything else through its `init(from:)`.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: @autoclosure () -> [CodingKey]) throws -> T {
        if let primitive = try Primitive.unbox(type, value, codingPath()) { return primitive }
        return try T(from: ValueDecoder(value: value, codingPath: codingPath()))
    }

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
    func decodeNil() -> Bool { value.isNull }
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
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Self.decode(type, from: value, codingPath: codingPath) }
}

extension JSONValue {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// JSON values as primitives, or the error that says why not.
enum Unbox {
    static func mismatch(_ type: Any.Type, _ expected: String, _ value: JSONValue, _ codingPath: [CodingKey]) -> DecodingError {
        if case .null = value {
            return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "expected \(expected) but found null"))
        }
        return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "expected \(expected) but found \(value.kindDescription)"))
    }

    static func bool(_ value: JSONValue, _ codingPath: @autoclosure () -> [CodingKey]) throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self, "a boolean", value, codingPath()) }
        return flag
    }

    static func string(_ value: JSONValue, _ codingPath: @autoclosure () -> [CodingKey]) throws -> String {
        guard case .string(let string) = value else { throw mismatch(String.self, "a string", value, codingPath()) }
        return string
    }

    /// An integer from its text; a number written with a fraction or exponent is accepted
    /// when it is exactly a whole number in range (1e3, 2.0), as Foundation does.
    static func integer<T: FixedWidthInteger>(_ value: JSONValue, _ codingPath: @autoclosure () -> [CodingKey]) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, "a number", value, codingPath()) }
        if let integer = T(text) { return integer }
        if let double = Double(text), double.rounded() == double, let integer = T(exactly: double) { return integer }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath(), debugDescription: "the number \(text) does not fit in \(T.self)"))
    }

    static func float<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: JSONValue, _ codingPath: @autoclosure () -> [CodingKey]) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, "a number", value, codingPath()) }
        guard let number = T(text), number.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath(), debugDescription: "the number \(text) does not fit in \(T.self)"))
        }
        return number
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Members in source order; a key given twice takes its last value, as most parsers do.
    /// Small objects (most of a config) are searched linearly rather than hashed.
    let members: [(key: String, value: JSONValue)]
    let lookup: [String: JSONValue]?
    let codingPath: [CodingKey]
    private static var linearSearchLimit: Int { 12 }

    init(members: [(key: String, value: JSONValue)], codingPath: [CodingKey]) {
        self.members = members
        self.lookup = members.count > Self.linearSearchLimit ? Dictionary(members, uniquingKeysWith: { _, last in last }) : nil
        self.codingPath = codingPath
    }

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    private func find(_ key: Key) -> JSONValue? {
        let name = key.stringValue
        if let lookup { return lookup[name] }
        return members.last { $0.key == name }?.value
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    private func member(_ key: Key) throws -> JSONValue {
        guard let value = find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no member \"\(key.stringValue)\""))
        }
        return value
    }

    /// The member unless it is absent or null (decodeIfPresent's one lookup).
    private func present(_ key: Key) -> JSONValue? {
        guard let value = find(key), !value.isNull else { return nil }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }
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
        try ValueDecoder.decode(type, from: try member(key), codingPath: codingPath + [key])
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map { try Unbox.bool($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map { try Unbox.string($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key).map { try Unbox.float($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(key).map { try Unbox.float($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key).map { try Unbox.integer($0, codingPath + [key]) } }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key).map { try ValueDecoder.decode(type, from: $0, codingPath: codingPath + [key]) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    /// A missing member decodes as null, so an optional superclass payload can be absent.
    func superDecoder() throws -> Decoder {
        ValueDecoder(value: members.last { $0.key == "super" }?.value ?? .null, codingPath: codingPath + [SuperKey()])
    }

    func superDecoder(forKey key: Key) throws -> Decoder {
        ValueDecoder(value: find(key) ?? .null, codingPath: codingPath + [key])
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

    private var currentPath: [CodingKey] { codingPath + [IndexKey(currentIndex)] }

    /// Decodes the current element; the index moves on only when that succeeds.
    private mutating func next<T>(_ type: T.Type, _ body: (JSONValue) throws -> T) throws -> T {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: currentPath, debugDescription: "the array has only \(elements.count) elements"))
        }
        let result = try body(elements[currentIndex])
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(codingPath: currentPath, debugDescription: "the array has only \(elements.count) elements"))
        }
        guard elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { let path = currentPath; return try next(type) { try Unbox.bool($0, path) } }
    mutating func decode(_ type: String.Type) throws -> String { let path = currentPath; return try next(type) { try Unbox.string($0, path) } }
    mutating func decode(_ type: Double.Type) throws -> Double { let path = currentPath; return try next(type) { try Unbox.float($0, path) } }
    mutating func decode(_ type: Float.Type) throws -> Float { let path = currentPath; return try next(type) { try Unbox.float($0, path) } }
    mutating func decode(_ type: Int.Type) throws -> Int { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let path = currentPath; return try next(type) { try Unbox.integer($0, path) } }
    /// The generic element path (what [String] and [Struct] use) builds its coding path only
    /// for a nested value or an error.
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let codingPath = codingPath, index = currentIndex
        return try next(type) { try ValueDecoder.decode(type, from: $0, codingPath: codingPath + [IndexKey(index)]) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let path = currentPath
        return try next(KeyedDecodingContainer<NestedKey>.self) { try ValueDecoder(value: $0, codingPath: path).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let path = currentPath
        return try next(UnkeyedDecodingContainer.self) { try ValueDecoder(value: $0, codingPath: path).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> Decoder {
        let path = currentPath
        return try next(Decoder.self) { ValueDecoder(value: $0, codingPath: path) }
    }
}
