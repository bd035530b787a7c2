import LinuxKit

/// The numbers users type into flags, parsed strictly: decimal digits only (no hex, exponent,
/// `inf` or `nan`, which Swift's own initialisers accept), every multiplication checked for
/// overflow, every value checked against its range — so that bad input is one line and 125,
/// never an arithmetic trap.
public enum FlagValues {
    /// A plain decimal number "123" or "1.5": its integer part and its fraction's digits.
    struct Decimal {
        var integer: Int64
        var fraction: Substring

        init?<S: StringProtocol>(_ text: S) {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return nil }
            // Digits beyond Int64 are a valid number that is too large: times() says so.
            integer = Int64(whole) ?? -1
            fraction = parts.count == 2 ? Substring(parts[1]) : ""
            if parts.count == 2 { guard !fraction.isEmpty, fraction.allSatisfy(\.isASCIIDigit) else { return nil } }
        }

        /// value × factor, rounded down; nil when it does not fit an Int64.
        func times(_ factor: Int64) -> Int64? {
            guard integer >= 0 else { return nil }
            let (whole, overflow) = integer.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            // At most 18 significant fraction digits: beyond that they cannot change the result
            // for any factor this is used with (≤ 2^60).
            var numerator: Int64 = 0, denominator: Int64 = 1
            for digit in fraction.prefix(18) {
                numerator = numerator * 10 + Int64(digit.asciiValue! - 48)
                denominator *= 10
            }
            guard numerator > 0 else { return whole }
            let (sum, overflowSum) = whole.addingReportingOverflow(Self.fractionOf(factor, numerator, denominator))
            return overflowSum ? nil : sum
        }

        /// floor(factor × numerator / denominator) with numerator < denominator ≤ 10^18, in
        /// 128-bit arithmetic.
        /// (numerator < denominator, so the result is below factor and cannot overflow.)
        static func fractionOf(_ factor: Int64, _ numerator: Int64, _ denominator: Int64) -> Int64 {
            let product = UInt64(factor).multipliedFullWidth(by: UInt64(numerator))
            return Int64(UInt64(denominator).dividingFullWidth(product).quotient)
        }
    }

    /// Docker's sizes (`RAMInBytes`): "1048576", "64m", "1.5g", "512 KiB", "2GB" — a decimal
    /// number, then optionally a space and one of b, k, m, g, t, p (binary multiples, any case,
    /// optionally followed by "i" and "b"). "-1" means unlimited where `unlimited` allows it.
    public static func bytes(_ text: String, flag: String, unlimited: Bool = false) throws -> Int64 {
        if unlimited && text == "-1" { return -1 }
        let invalid = EngineError.invalidOption("\(flag): invalid size '\(Printable.escaped(text))': use a decimal number with an optional unit b, k, m, g, t or p")
        var body = Substring(text.lowercased())
        if body.hasSuffix("b") { body = body.dropLast() }
        if body.hasSuffix("i") {
            body = body.dropLast()
            guard let last = body.last, "kmgtp".contains(last) else { throw invalid }
        }
        var factor: Int64 = 1
        if let last = body.last, let index = "kmgtp".firstIndex(of: last) {
            factor = 1 << (10 * ("kmgtp".distance(from: "kmgtp".startIndex, to: index) + 1))
            body = body.dropLast()
        }
        if body.hasSuffix(" ") { body = body.dropLast() }
        guard let number = Decimal(body) else { throw invalid }
        guard let value = number.times(factor) else {
            throw EngineError.invalidOption("\(flag): size '\(Printable.escaped(text))' is too large (at most \(Int64.max) bytes)")
        }
        return value
    }

    /// A whole decimal number within `range` (an optional leading '-' when the range allows).
    public static func integer<T: FixedWidthInteger & SignedInteger>(_ text: String, flag: String, in range: ClosedRange<T>) throws -> T {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let value = T(text), range.contains(value) else {
            throw EngineError.invalidOption("\(flag): invalid value '\(Printable.escaped(text))': a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// `--cpus`: a decimal number of CPUs; 0 means no limit (Docker's NanoCPUs = 0); otherwise
    /// Docker's range, 0.01 up to the CPUs this host has. Returns the CFS quota for a 100 ms
    /// period (nil: no limit).
    public static func cpuQuota(_ text: String, onlineCPUs: Int) throws -> Int64? {
        guard let number = Decimal(text) else {
            throw EngineError.invalidOption("--cpus: invalid number '\(Printable.escaped(text))'")
        }
        let nanoCPUs = number.times(1_000_000_000) ?? Int64.max
        if nanoCPUs == 0 { return nil }
        guard nanoCPUs >= 10_000_000, nanoCPUs <= Int64(onlineCPUs) * 1_000_000_000 else {
            throw EngineError.invalidOption("--cpus: range of CPUs is from 0.01 to \(onlineCPUs).00, as there are only \(onlineCPUs) CPUs available")
        }
        return nanoCPUs / 10_000 // quota in µs for a period of 100_000 µs
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
