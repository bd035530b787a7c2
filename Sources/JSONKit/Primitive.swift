/// The fast path of both coders: values of the JSON primitive types are boxed and unboxed
/// directly, without an Encoder/Decoder, a container or a coding path for each field (a
/// config.json has hundreds of strings). `T.self ==` compares metadata pointers; the casts
/// after it are between identical types.
enum Primitive {
    @inline(__always)
    static func box<T>(_ value: T) -> JSONValue? {
        if T.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
        if T.self == Bool.self { return .bool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Int.self { return Box.integer(unsafeBitCast(value, to: Int.self)) }
        if T.self == Int64.self { return Box.integer(unsafeBitCast(value, to: Int64.self)) }
        if T.self == Int32.self { return Box.integer(unsafeBitCast(value, to: Int32.self)) }
        if T.self == UInt64.self { return Box.integer(unsafeBitCast(value, to: UInt64.self)) }
        if T.self == UInt32.self { return Box.integer(unsafeBitCast(value, to: UInt32.self)) }
        if T.self == UInt16.self { return Box.integer(unsafeBitCast(value, to: UInt16.self)) }
        if T.self == UInt.self { return Box.integer(unsafeBitCast(value, to: UInt.self)) }
        return nil
    }

    /// nil when `T` is not a primitive; throws when it is and `value` does not hold one.
    @inline(__always)
    static func unbox<T>(_ type: T.Type, _ value: JSONValue, _ codingPath: @autoclosure () -> [CodingKey]) throws -> T? {
        if T.self == String.self { return unsafeBitCast(try Unbox.string(value, codingPath()), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try Unbox.bool(value, codingPath()), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as Int, to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as Int64, to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as Int32, to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as UInt64, to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as UInt32, to: T.self) }
        if T.self == UInt16.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as UInt16, to: T.self) }
        if T.self == UInt.self { return unsafeBitCast(try Unbox.integer(value, codingPath()) as UInt, to: T.self) }
        return nil
    }
}
