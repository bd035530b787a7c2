#if canImport(Glibc)
import Glibc
#endif
import JSONKit
import Templates

/// Docker's --format for list commands (ps, images): a Go template run once per row, where a
/// row is an object of the command's columns as strings. `table …` prints a header row (the
/// same template over the columns' header names) and aligns the cells the template separates
/// with tabs; `json` is `{{json .}}`; without --format, the command's default table — so the
/// plain output and every format go through one path.
struct ListFormat {
    let template: GoTemplate
    let isTable: Bool

    /// `typeName` is what an unknown field's error calls the row (Docker's Go type).
    init(_ text: String?, defaultTable: String, typeName: String) throws {
        // An empty --format is no --format, as Docker reads it.
        var format = text.flatMap { $0.isEmpty ? nil : $0 } ?? defaultTable
        if format == "json" { format = "{{json .}}" }
        if format == "table" { format = defaultTable }
        isTable = format.hasPrefix("table")
        if isTable { format = String(format.dropFirst("table".count)) }
        // As Docker's: spaces around trimmed, a typed `\t` or `\n` is a tab or newline.
        while format.hasPrefix(" ") { format.removeFirst() }
        while format.hasSuffix(" ") { format.removeLast() }
        format = format.replacingTypedEscapes
        do {
            template = try GoTemplate(format, missingField: .error(typeName: typeName))
        } catch {
            throw UsageError("template parsing error: \(error)")
        }
    }

    /// The rows through the template. `headers` names every field a row has, in order, with
    /// the header Docker prints for it.
    func render(_ rows: [JSONValue], headers: [(field: String, header: String)]) throws -> String {
        do {
            // The header row has every field: a template naming one that does not exist fails
            // here, with no rows too.
            let header = JSONValue.object(headers.map { ($0.field, .string($0.header)) })
            let headerLine = try template.execute(header)
            guard isTable else { return try rows.map { try template.execute($0) + "\n" }.joined() }
            var table = Table()
            for text in try [headerLine] + rows.map({ try template.execute($0) }) {
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    table.add(line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init))
                }
            }
            return table.render()
        } catch let error as TemplateError {
            throw UsageError("\(error)")
        }
    }
}

extension String {
    /// `\t` and `\n` typed as two characters become a tab and a newline (Docker's formatter).
    var replacingTypedEscapes: String {
        var result = ""
        var characters = self[...]
        while let character = characters.popFirst() {
            if character == "\\", let next = characters.first, next == "t" || next == "n" {
                result.append(next == "t" ? "\t" : "\n")
                characters.removeFirst()
            } else {
                result.append(character)
            }
        }
        return result
    }
}

/// What every `inspect` prints (containers and images, volumes, networks): as Docker, each
/// name is looked up, the objects found are shown — a JSON array, or `-f`'s template once per
/// object — and each name not found is a line on stderr and makes the status 1. The template
/// is parsed before any lookup, so a bad one says so first and nothing else.
struct ObjectInspection {
    let template: GoTemplate?

    init(format: String?) throws {
        let text = format.flatMap { $0 == "json" ? nil : $0 }
        template = try text.map { text in
            do { return try GoTemplate(text) } catch { throw UsageError("template parsing error: \(error)") }
        }
    }

    func print(_ references: [String], _ lookup: (String) throws -> JSONValue) throws -> Int32 {
        var values: [JSONValue] = []
        var status: Int32 = 0
        for reference in references {
            do {
                values.append(try lookup(reference))
            } catch {
                fputs("swiftainer: \(SwiftainerCLI.oneLine(error))\n", stderr)
                status = 1
            }
        }
        if let template {
            for value in values {
                do { out(try template.execute(value) + "\n") } catch { throw UsageError("\(error)") }
            }
        } else {
            // Docker prints the array even when nothing was found ("[]").
            out(String(decoding: JSON.write(.array(values), format: .document), as: UTF8.self) + "\n")
        }
        return status
    }
}
