// Sizes and durations that come from outside (board files, manifests, requests, the command line),
// read with their unit and checked against a stated range before any arithmetic touches them.

/// Why a number from outside was refused. The caller adds where it was (file:line and field, or
/// frame, request and field); `description` says what was wrong and what is allowed.
public struct QuantityError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Parsing and range checks for outside numbers. Every product is computed with overflow reported,
/// so a number past the range is refused rather than trapping the process.
public enum Quantity {
    /// Byte units, largest first (for printing).
    static let sizeUnits: [(name: String, bytes: Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)]
    /// Duration units in nanoseconds, largest first (for printing); `min` and `m` are both minutes.
    static let durationUnits: [(name: String, nanoseconds: UInt64)] = [
        ("d", 86_400_000_000_000), ("h", 3_600_000_000_000), ("min", 60_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
        ("ms", 1_000_000), ("us", 1_000), ("µs", 1_000), ("ns", 1),
    ]

    /// `value` if it lies in `range`, else an error naming the range (`unit` printed after numbers).
    public static func check<T: BinaryInteger>(_ value: T, in range: ClosedRange<T>, unit: String = "") throws(QuantityError) -> T {
        guard range.contains(value) else {
            throw QuantityError("\(value)\(unit) is outside \(range.lowerBound)…\(range.upperBound)\(unit)")
        }
        return value
    }

    /// A size: a whole number of bytes, or one with a unit ("4096", "64 KiB", "1MiB", "2 GiB").
    public static func bytes(_ text: String, in range: ClosedRange<Int>) throws(QuantityError) -> Int {
        guard let (number, unit) = split(text), let multiplier = unit.isEmpty ? 1 : sizeUnits.first(where: { $0.name == unit })?.bytes else {
            throw QuantityError("'\(text)' is not a size such as 4096, \"4 KiB\", \"1 MiB\" or \"1 GiB\"")
        }
        // `split` gave digits only, so a number that does not convert is too large for Int.
        let count = Int(number)
        let (product, overflow) = (count ?? 0).multipliedReportingOverflow(by: multiplier)
        guard count != nil, !overflow, range.contains(product) else {
            throw QuantityError("'\(text)' is outside \(formatBytes(range.lowerBound))…\(formatBytes(range.upperBound))")
        }
        return product
    }

    /// A whole number of bytes checked against `range`, with the range printed in units.
    public static func bytes(_ value: Int, in range: ClosedRange<Int>) throws(QuantityError) -> Int {
        guard range.contains(value) else {
            throw QuantityError("\(value) bytes is outside \(formatBytes(range.lowerBound))…\(formatBytes(range.upperBound))")
        }
        return value
    }

    /// A duration with its unit ("500 ms", "60 s", "60s", "5 min", "1 h", "2 d") in nanoseconds.
    public static func nanoseconds(_ text: String, in range: ClosedRange<UInt64>) throws(QuantityError) -> UInt64 {
        guard let (number, unit) = split(text), let multiplier = durationUnits.first(where: { $0.name == unit })?.nanoseconds else {
            throw QuantityError("'\(text)' is not a duration such as \"500 ms\", \"60 s\", \"5 min\" or \"1 h\"")
        }
        guard let count = UInt64(number) else {
            throw QuantityError("'\(text)' is outside \(formatNanoseconds(range.lowerBound))…\(formatNanoseconds(range.upperBound))")
        }
        return try scaled(count, by: multiplier, in: range, shown: text)
    }

    /// `count` units of `unitNanoseconds` (as in a field named `…-ms`), checked against `range`.
    public static func nanoseconds(_ count: UInt64, unitNanoseconds: UInt64, in range: ClosedRange<UInt64>) throws(QuantityError) -> UInt64 {
        let unit = durationUnits.first { $0.nanoseconds == unitNanoseconds }?.name ?? "× \(unitNanoseconds) ns"
        return try scaled(count, by: unitNanoseconds, in: range, shown: "\(count) \(unit)")
    }

    static func scaled(_ count: UInt64, by multiplier: UInt64, in range: ClosedRange<UInt64>, shown: String) throws(QuantityError) -> UInt64 {
        let (product, overflow) = count.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(product) else {
            throw QuantityError("'\(shown)' is outside \(formatNanoseconds(range.lowerBound))…\(formatNanoseconds(range.upperBound))")
        }
        return product
    }

    /// Digits, optional spaces, then a unit of letters (or µ); nil for anything else.
    static func split(_ text: String) -> (number: Substring, unit: Substring)? {
        let trimmed = text.drop { $0 == " " }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 40 else { return nil }
        let unit = trimmed.dropFirst(digits.count).drop { $0 == " " }
        guard unit.allSatisfy({ ($0.isASCII && $0.isLetter) || $0 == "µ" }), unit.count <= 3 else { return nil }
        return (digits, unit)
    }

    /// "1 GiB", "64 KiB", "4097 B": the largest unit that divides the size exactly.
    public static func formatBytes(_ bytes: Int) -> String {
        for unit in sizeUnits where bytes != 0 && bytes % unit.bytes == 0 { return "\(bytes / unit.bytes) \(unit.name)" }
        return "\(bytes) B"
    }

    /// "7 d", "60 s", "1500 ms": the largest unit that divides the duration exactly.
    public static func formatNanoseconds(_ nanoseconds: UInt64) -> String {
        for unit in durationUnits where unit.name != "m" && unit.name != "µs" && nanoseconds != 0 && nanoseconds % unit.nanoseconds == 0 {
            return "\(nanoseconds / unit.nanoseconds) \(unit.name)"
        }
        return "\(nanoseconds) ns"
    }
}
