/// The Encoder behind `JSON.encode`: containers write into `EncodingNode`s (references, so a
/// container handed out earlier can still add members), finished into a `JSONValue` at the end.
/// Primitive members are stored as values directly (see `Primitive`).
final class EncodingNode {
    enum Content {
        case empty
        case value(JSONValue)
        case object(ObjectBuilder)
        case array(ArrayBuilder)
    }
    var content: Content = .empty

    /// A value that encoded nothing at all is an empty object, as with Foundation.
    func finish() -> JSONValue {
        switch content {
        case .empty: return .object([])
        case .value(let value): return value
        case .object(let builder): return .object(zip(builder.keys, builder.slots).map { ($0, $1.finish()) })
        case .array(let builder): return .array(builder.slots.map { $0.finish() })
        }
    }

    /// The object this node is (asking twice for a keyed container adds to the same object).
    func objectBuilder() -> ObjectBuilder {
        if case .object(let builder) = content { return builder }
        let builder = ObjectBuilder()
        content = .object(builder)
        return builder
    }

    func arrayBuilder() -> ArrayBuilder {
        if case .array(let builder) = content { return builder }
        let builder = ArrayBuilder()
        content = .array(builder)
        return builder
    }
}

/// A member or element: a finished value, or a node a nested container still fills in.
enum Slot {
    case value(JSONValue)
    case node(EncodingNode)

    func finish() -> JSONValue {
        switch self {
        case .value(let value): return value
        case .node(let node): return node.finish()
        }
    }
}

final class ObjectBuilder {
    private(set) var keys: [String] = []
    private(set) var slots: [Slot] = []
    /// Positions by key, kept once the object is too big for a linear search.
    private var positions: [String: Int] = [:]
    private static let linearSearchLimit = 12

    private func position(of key: String) -> Int? {
        keys.count <= Self.linearSearchLimit ? keys.firstIndex(of: key) : positions[key]
    }

    /// Encoding a key twice replaces its value but keeps its first position.
    func set(_ key: String, _ slot: Slot) {
        if let index = position(of: key) {
            slots[index] = slot
            return
        }
        keys.append(key)
        slots.append(slot)
        if keys.count > Self.linearSearchLimit {
            if positions.isEmpty {
                for (index, existing) in keys.enumerated() { positions[existing] = index }
            } else {
                positions[key] = keys.count - 1
            }
        }
    }

    /// The node for a nested container or super encoder at `key`.
    func node(for key: String) -> EncodingNode {
        if let index = position(of: key), case .node(let node) = slots[index] { return node }
        let node = EncodingNode()
        set(key, .node(node))
        return node
    }
}

final class ArrayBuilder {
    var slots: [Slot] = []

    func appendNode() -> EncodingNode {
        let node = EncodingNode()
        slots.append(.node(node))
        return node
    }
}

/// The coding-path entry for an array element.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// The key `superEncoder()` / `superDecoder()` use.
struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(intValue: Int) { nil }
    init?(stringValue: String) { guard stringValue == "super" else { return nil } }
}

/// Primitive values as JSON.
enum Box {
    static func integer<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }

    /// The shortest text that reads back as the same value; whole numbers without ".0".
    static func float<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T, _ codingPath: [CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) has no JSON representation"))
        }
        let text = value.description
        return .number(text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    }
}

struct ValueEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func encode<T: Encodable>(_ value: T, codingPath: [CodingKey]) throws -> JSONValue {
        if let primitive = Primitive.box(value) { return primitive }
        let node = EncodingNode()
        try value.encode(to: ValueEncoder(node: node, codingPath: codingPath))
        return node.finish()
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(object: node.objectBuilder(), codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        UnkeyedContainer(array: node.arrayBuilder(), codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        SingleValueContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectBuilder
    let codingPath: [CodingKey]

    private func put(_ value: JSONValue, _ key: Key) { object.set(key.stringValue, .value(value)) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(try Box.float(value, codingPath + [key]), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(try Box.float(value, codingPath + [key]), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(Box.integer(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(try Primitive.box(value) ?? ValueEncoder.encode(value, codingPath: codingPath + [key]), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedContainer<NestedKey>(object: object.node(for: key.stringValue).objectBuilder(), codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        UnkeyedContainer(array: object.node(for: key.stringValue).arrayBuilder(), codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> Encoder {
        ValueEncoder(node: object.node(for: "super"), codingPath: codingPath + [SuperKey()])
    }

    mutating func superEncoder(forKey key: Key) -> Encoder {
        ValueEncoder(node: object.node(for: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let array: ArrayBuilder
    let codingPath: [CodingKey]
    var count: Int { array.slots.count }

    private func put(_ value: JSONValue) { array.slots.append(.value(value)) }
    private var nextPath: [CodingKey] { codingPath + [IndexKey(count)] }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(try Box.float(value, nextPath)) }
    mutating func encode(_ value: Float) throws { put(try Box.float(value, nextPath)) }
    mutating func encode(_ value: Int) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int8) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int16) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int32) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int64) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt8) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt16) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt32) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt64) throws { put(Box.integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { put(try Primitive.box(value) ?? ValueEncoder.encode(value, codingPath: nextPath)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: array.appendNode().objectBuilder(), codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let path = nextPath
        return UnkeyedContainer(array: array.appendNode().arrayBuilder(), codingPath: path)
    }

    mutating func superEncoder() -> Encoder {
        let path = nextPath
        return ValueEncoder(node: array.appendNode(), codingPath: path)
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [CodingKey]

    private func put(_ value: JSONValue) { node.content = .value(value) }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(try Box.float(value, codingPath)) }
    mutating func encode(_ value: Float) throws { put(try Box.float(value, codingPath)) }
    mutating func encode(_ value: Int) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int8) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int16) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int32) throws { put(Box.integer(value)) }
    mutating func encode(_ value: Int64) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt8) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt16) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt32) throws { put(Box.integer(value)) }
    mutating func encode(_ value: UInt64) throws { put(Box.integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { put(try Primitive.box(value) ?? ValueEncoder.encode(value, codingPath: codingPath)) }
}
