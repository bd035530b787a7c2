import Foundation
import JSONKit
import Testing
import TestSupport

private struct Limits: Codable, Equatable {
    var memory: Int64?
    var swap: Int64?
    var shares: UInt64
    var quota: Double
}

private enum Mode: String, Codable { case fast, careful }

private struct Document: Codable, Equatable {
    var name: String
    var args: [String]
    var env: [String: String]
    var limits: Limits
    var nested: [[Int]]
    var optional: String?
    var mode: Mode
    var flag: Bool
    var small: UInt8
}

private let sample = Document(
    name: "ünïcode \"quoted\" \\ back/slash\ttab\u{1}ctl 😀", args: ["/bin/sh", "-c", "echo hi"],
    env: ["PATH": "/usr/bin", "EMPTY": ""], limits: Limits(memory: Int64.min, swap: nil, shares: UInt64.max, quota: 0.25),
    nested: [[], [1, -2, 3]], optional: nil, mode: .careful, flag: true, small: 255)

@Suite struct JSONKitTests {
    @Test func roundTripsNestedValues() throws {
        for format: JSONFormat in [[], .pretty, [.pretty, .sortedKeys]] {
            let bytes = try JSON.encode(sample, format: format)
            #expect(try JSON.decode(Document.self, from: bytes) == sample)
        }
    }

    @Test func foundationReadsWhatWeWriteAndWeReadWhatItWrites() throws {
        let ours = try JSON.encode(sample)
        #expect(try JSONDecoder().decode(Document.self, from: Data(ours)) == sample)
        let theirs = try JSONEncoder().encode(sample)
        #expect(try JSON.decode(Document.self, from: Array(theirs)) == sample)
    }

    @Test func writesCompactAndPrettyLayouts() throws {
        let value = ["b": [1, 2], "a": []]
        #expect(String(decoding: try JSON.encode(value, format: .sortedKeys), as: UTF8.self) == #"{"a":[],"b":[1,2]}"#)
        #expect(String(decoding: try JSON.encode(value, format: [.pretty, .sortedKeys]), as: UTF8.self)
            == "{\n  \"a\": [],\n  \"b\": [\n    1,\n    2\n  ]\n}")
        // Omitted optionals, unescaped slashes, escaped control characters, whole doubles without ".0".
        #expect(String(decoding: try JSON.encode(Limits(memory: 1, swap: nil, shares: 2, quota: 3), format: .sortedKeys), as: UTF8.self)
            == #"{"memory":1,"quota":3,"shares":2}"#)
        #expect(String(decoding: try JSON.encode("/a\n\u{7}"), as: UTF8.self) == #""/a\n\u0007""#)
    }

    @Test func refusesValuesJSONCannotHold() {
        #expect(throws: EncodingError.self) { try JSON.encode(Double.nan) }
        #expect(throws: EncodingError.self) { try JSON.encode([Double.infinity]) }
    }

    @Test(arguments: [
        ("{\"a\":1,}", "line 1, column 8"),
        ("[1 2]", "line 1, column 4: unexpected '2'"),
        ("{\n  \"a\": 01\n}", "line 2, column 9: a number must not have leading zeros"),
        ("\"abc", "line 1, column 1: unterminated string"),
        ("\"\\q\"", "invalid escape '\\q'"),
        ("\"\\ud800\"", "lone high surrogate"),
        ("\"\\udc00\"", "lone low surrogate"),
        ("\"a\u{1}\"", "control character (0x1)"),
        ("tru", "expected a value"),
        ("1.", "digits after '.'"),
        ("-", "digit after '-'"),
        ("1e", "digits in its exponent"),
        ("{} x", "after the value"),
        ("", "end of input"),
        ("{\"a\" 1}", "expected ':' after member \"a\""),
        ("[\"\\u12\"]", "four hex digits"),
    ])
    func rejectsInvalidDocumentsNamingThePlace(document: String, message: String) {
        do {
            _ = try JSON.parse(Array(document.utf8))
            Issue.record("\(document) parsed")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains(message), "\(context.debugDescription)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() throws {
        #expect(throws: DecodingError.self) { try JSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: DecodingError.self) { try JSON.parse(Array(String(repeating: "[", count: 600).utf8) + Array(String(repeating: "]", count: 600).utf8)) }
        #expect(try JSON.parse(Array((String(repeating: "[", count: 500) + String(repeating: "]", count: 500)).utf8)) != .null)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try JSON.decode(String.self, from: Array(#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#.utf8)) == "\"\\/\u{8}\u{c}\n\r\té😀")
    }

    @Test func decodingErrorsCarryTheCodingPath() throws {
        func failure(_ document: String) -> DecodingError? {
            do { _ = try JSON.decode(Document.self, from: Array(document.utf8)); return nil } catch { return error as? DecodingError }
        }
        var valid = try JSON.encodeValue(sample)
        guard case .object(var members) = valid else { Issue.record("not an object"); return }
        members.removeAll { $0.key == "name" }
        valid = .object(members)
        guard case .keyNotFound(let key, _)? = failure(String(decoding: JSON.write(valid), as: UTF8.self)) else { Issue.record("no keyNotFound"); return }
        #expect(key.stringValue == "name")

        let badSmall = String(decoding: try JSON.encode(sample), as: UTF8.self).replacingOccurrences(of: "\"small\":255", with: "\"small\":256")
        guard case .dataCorrupted(let context)? = failure(badSmall) else { Issue.record("no dataCorrupted"); return }
        #expect(context.codingPath.map(\.stringValue) == ["small"])
        #expect(context.debugDescription.contains("256 does not fit in UInt8"))

        let badNested = String(decoding: try JSON.encode(sample), as: UTF8.self).replacingOccurrences(of: "[1,-2,3]", with: "[1,\"x\",3]")
        guard case .typeMismatch(_, let mismatch)? = failure(badNested) else { Issue.record("no typeMismatch"); return }
        #expect(mismatch.codingPath.map(\.stringValue) == ["nested", "Index 1", "Index 1"])

        guard case .valueNotFound? = failure(String(decoding: try JSON.encode(sample), as: UTF8.self).replacingOccurrences(of: "\"flag\":true", with: "\"flag\":null")) else {
            Issue.record("null for a Bool is not valueNotFound"); return
        }
    }

    @Test func describeNamesTheFieldAtFault() {
        func describe(_ document: String) -> String {
            do { _ = try JSON.decode(Document.self, from: Array(document.utf8)); return "" } catch { return JSON.describe(error) }
        }
        let valid = String(decoding: try! JSON.encode(sample), as: UTF8.self)
        #expect(describe(valid.replacingOccurrences(of: "[1,-2,3]", with: "[1,true]")) == "nested[1][1]: expected a number but found a boolean")
        #expect(describe(valid.replacingOccurrences(of: "\"quota\":", with: "\"other\":")) == "limits: missing field 'quota'")
        #expect(describe("[1") == "invalid JSON at line 1, column 3: unexpected end of input, expected ',' or ']' in an array")
        #expect(JSON.describe(EncodingError.invalidValue(1, .init(codingPath: [], debugDescription: "x"))).contains("invalidValue"))
    }

    @Test func integersComeFromExactNumbersOnly() throws {
        #expect(try JSON.decode(Int.self, from: Array("1e3".utf8)) == 1000)
        #expect(try JSON.decode(Int.self, from: Array("2.0".utf8)) == 2)
        #expect(throws: DecodingError.self) { try JSON.decode(Int.self, from: Array("2.5".utf8)) }
        #expect(throws: DecodingError.self) { try JSON.decode(UInt.self, from: Array("-1".utf8)) }
        #expect(try JSON.decode(UInt64.self, from: Array("18446744073709551615".utf8)) == UInt64.max)
        #expect(try JSON.decode(Double.self, from: Array("-0.125e1".utf8)) == -1.25)
    }

    /// Random documents: what we write, Foundation parses, and we read back the same tree.
    @Test func randomDocumentsRoundTripAndFoundationAgrees() throws {
        var random = SplitMix(seed: 0x5eed_0501)
        for _ in 0..<fuzzIterations(default: 300) {
            let value = randomValue(&random, depth: 0)
            let bytes = JSON.write(value, format: random.next() % 2 == 0 ? .pretty : [])
            #expect(try JSON.parse(bytes) == value)
            #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) }
        }
    }

    /// Mutated documents never crash the parser; whatever it accepts, it writes and reads back equal.
    @Test func mutatedDocumentsNeverCrashTheParser() throws {
        var random = SplitMix(seed: 0xbad_c0de)
        let alphabet = Array("{}[],:\"\\0123456789-+.eEtrufalsn \n\u{1}é".utf8)
        for _ in 0..<fuzzIterations(default: 2000) {
            var bytes = JSON.write(randomValue(&random, depth: 0))
            for _ in 0..<(1 + Int(random.next() % 4)) where !bytes.isEmpty {
                let index = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[index] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: index)
                default: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: index)
                }
            }
            if let parsed = try? JSON.parse(bytes) {
                #expect(try JSON.parse(JSON.write(parsed)) == parsed)
            }
        }
    }
}

/// Values that round-trip exactly: numbers in the writer's canonical form.
private func randomValue(_ random: inout SplitMix, depth: Int) -> JSONValue {
    let pick = random.next() % (depth > 4 ? 4 : 6)
    switch pick {
    case 0: return .null
    case 1: return .bool(random.next() % 2 == 0)
    case 2:
        let integer = Int64(bitPattern: random.next()) >> (random.next() % 64)
        guard random.next() % 3 == 0 else { return .number(String(integer)) }
        let text = String(Double(integer) / 8)
        return .number(text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    case 3:
        let scalars = (0..<random.next() % 8).map { _ -> Character in
            let choices: [UInt32] = [0x41, 0x7A, 0x22, 0x5C, 0x2F, 0x0A, 0x01, 0x1F, 0xE9, 0x4E2D, 0x1F600]
            return Character(Unicode.Scalar(choices[Int(random.next() % UInt64(choices.count))])!)
        }
        return .string(String(scalars))
    case 4: return .array((0..<random.next() % 4).map { _ in randomValue(&random, depth: depth + 1) })
    default:
        return .object((0..<random.next() % 4).map { index in ("k\(index)", randomValue(&random, depth: depth + 1)) })
    }
}
