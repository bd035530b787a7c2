#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// `pull`'s output on a terminal, as Docker draws it: one line per layer, redrawn in place
/// (a bar while it downloads), the other lines printed above and below that block.
final class PullDisplay {
    private var order: [String] = []
    private var states: [String: String] = [:]
    private var drawn = 0
    let width: Int

    init(width: Int = 50) { self.width = width }

    func line(_ text: String) {
        out(text + "\n")
        // Lines after the block (Digest, Status) leave it behind for good.
        if !order.isEmpty { drawn = 0; order = []; states = [:] }
        fflush(stdout)
    }

    func layer(_ id: String, _ state: String, bytes: UInt64?, total: UInt64?) {
        if states[id] == nil { order.append(id) }
        states[id] = bytes.map { Self.bar($0, total, width: width) }.map { "Downloading " + $0 } ?? state
        redraw()
    }

    /// "[=====>    ]  1.2MB/3.4MB" (without a size, only the bytes).
    static func bar(_ bytes: UInt64, _ total: UInt64?, width: Int) -> String {
        guard let total, total > 0 else { return humanSize(bytes) }
        let filled = min(width, Int(Double(bytes) / Double(total) * Double(width)))
        let bar = filled < width ? String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: width - filled - 1)
                                 : String(repeating: "=", count: width)
        return "[\(bar)]  \(humanSize(bytes))/\(humanSize(total))"
    }

    private func redraw() {
        var text = drawn > 0 ? "\u{1b}[\(drawn)A" : ""
        for id in order { text += "\r\u{1b}[2K\(id): \(states[id] ?? "")\n" }
        drawn = order.count
        out(text)
        fflush(stdout)
    }
}
