/// Column output as the docker CLI prints it (Go's tabwriter with Docker's settings): cells
/// left-aligned, a column as wide as its widest cell plus three spaces and at least ten; the
/// last cell of a line is not padded.
struct Table {
    var rows: [[String]]

    init(header: [String]) { rows = [header] }
    init() { rows = [] }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        // A line's last cell does not widen its column: it is not padded.
        for row in rows { for (i, cell) in row.enumerated() where i < row.count - 1 { widths[i] = max(widths[i], cell.count + 3, 10) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }
}

/// Decimal units with three significant digits, as Docker prints sizes: 512B, 8.17MB, 1.2GB.
func humanSize(_ bytes: UInt64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"]
    var value = Double(bytes)
    var unit = 0
    // Rounding may carry into the next unit (999.9996MB is 1GB, not 1000MB).
    while value >= 999.5 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    let digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
    var text = String(value.rounded(toPlaces: digits))
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text + units[unit]
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}

/// Binary units, as Docker prints memory: 1.5MiB, 64MiB, 23.4GiB.
func binarySize(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return String(value.rounded(toPlaces: value >= 100 || unit == 0 ? 0 : 2)).replacingZeroFraction() + units[unit]
}

func percent(_ value: Double) -> String {
    let text = String(value.rounded(toPlaces: 2))
    let decimals = text.split(separator: ".").last?.count ?? 0
    return text + String(repeating: "0", count: max(0, 2 - decimals)) + "%"
}

extension String {
    func replacingZeroFraction() -> String { hasSuffix(".0") ? String(dropLast(2)) : self }
}
