/// `name[:tag]`, as Docker spells images: `alpine`, `alpine:3.20`, `localhost:5000/team/app:v1`.
public struct ImageReference: Hashable, CustomStringConvertible, Sendable {
    public let name: String
    public let tag: String

    public var description: String { "\(name):\(tag)" }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let reference: String
        public let reason: String
        public var description: String { "invalid image reference '\(reference)': \(reason)" }
    }

    public init(name: String, tag: String) {
        self.name = name
        self.tag = tag
    }

    public init(parsing text: String) throws {
        func fail(_ reason: String) -> ParseError { ParseError(reference: text, reason: reason) }
        guard !text.isEmpty else { throw fail("empty") }
        guard text.utf8.count <= 255 else { throw fail("longer than 255 characters") }
        if text.contains("@") { throw fail("digests are not supported; use name[:tag] or an image id") }
        // A colon after the last slash starts the tag; one before it belongs to a registry port.
        var name = text
        var tag = "latest"
        if let colon = text.lastIndex(of: ":"), colon > (text.lastIndex(of: "/") ?? text.startIndex) || !text.contains("/") {
            name = String(text[..<colon])
            tag = String(text[text.index(after: colon)...])
        }
        guard Self.isValidTag(tag) else { throw fail("tag '\(tag)' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}") }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        for (index, component) in components.enumerated() {
            let isRegistry = index == 0 && components.count > 1 && (component.contains(".") || component.contains(":") || component == "localhost")
            guard isRegistry ? Self.isValidRegistry(component) : Self.isValidComponent(component) else {
                throw fail("name component '\(component)' must be lowercase letters, digits and separators (. _ -)")
            }
        }
        self.name = name
        self.tag = tag
    }

    static func isValidTag(_ tag: String) -> Bool {
        guard let first = tag.utf8.first, tag.utf8.count <= 128 else { return false }
        let word: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f }
        return word(first) && tag.utf8.allSatisfy { word($0) || $0 == 0x2e || $0 == 0x2d }
    }

    static func isValidComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        let alnum: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) }
        let separator: (UInt8) -> Bool = { $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        return bytes.allSatisfy { alnum($0) || separator($0) }
    }

    static func isValidRegistry(_ component: Substring) -> Bool {
        let parts = component.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        if parts.count == 2 { guard let port = UInt16(parts[1]), port > 0 else { return false } }
        let host = parts[0].lowercased()
        return !host.isEmpty && host.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2e || $0 == 0x2d }
    }
}
