// Numbers on the command line are outside numbers too: each option states its range, checked in
// `validate()` before anything multiplies it (Docs/cluster.md lists them). Durations and sizes are
// values with units (`--grace 3s`), read by Core's checked `Quantity`.
import ArgumentParser
import Core
import Foundation
import Yams

/// Refuses `value` outside `range`, naming the option (NaN is outside every range).
func checkOption<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ option: String) throws {
    guard range.contains(value) else { throw ValidationError("\(option) \(value) is outside \(range.lowerBound)…\(range.upperBound)") }
}

/// A duration option in nanoseconds ("3s", "2ms", "300us", "5 min"), checked against `range`.
/// A bare number is taken in `bareUnit` (the unit the option had before it took units), with a warning.
func durationOption(_ text: String, _ option: String, in range: ClosedRange<UInt64>, bareUnit: (name: String, nanoseconds: UInt64)? = nil) throws -> UInt64 {
    if let bareUnit, !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
        warnDeprecated("\(option) \(text) without a unit", use: "\(option) \(text)\(bareUnit.name)")
        do { return try Quantity.nanoseconds(text + bareUnit.name, in: range) } catch { throw ValidationError("\(option): \(error)") }
    }
    do { return try Quantity.nanoseconds(text, in: range) } catch { throw ValidationError("\(option): \(error)") }
}

/// One line on stderr for a deprecated spelling: kept for one release, then removed.
func warnDeprecated(_ old: String, use new: String) {
    FileHandle.standardError.write(Data("warning: \(old) is deprecated and will be removed in the next release; use \(new)\n".utf8))
}

/// The ranges of the numeric options.
enum OptionLimits {
    static let certificateDays = 1...36_500
    static let connectTimeout: ClosedRange<UInt64> = 0...3_600_000_000_000
    static let deadAfter: ClosedRange<UInt64> = 1_000_000...86_400_000_000_000
    static let logLines = 0...100_000
    static let logSince: ClosedRange<UInt64> = 0...(366 * 86_400_000_000_000)
    static let grace: ClosedRange<UInt64> = 1_000_000...86_400_000_000_000
    static let receiveAhead: ClosedRange<UInt64> = 0...60_000_000_000
    static let slice: ClosedRange<UInt64> = 0...1_000_000_000
    static let handshakeTimeout: ClosedRange<UInt64> = 100_000_000...600_000_000_000
    static let runTimeout: ClosedRange<UInt64> = 1_000_000...(1_000_000_000 * 1_000_000_000)
}

/// `-o json|yaml|wide` (and the default, a table or text for people).
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, wide, json, yaml
}

/// The `-o` option every command that prints data shares.
struct OutputOption: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: text, wide, json or yaml.") var format: OutputFormat = .text

    /// Prints `value` as JSON or YAML (keys sorted): a record a script can read.
    func emit<T: Encodable>(_ value: T) throws {
        if format == .yaml {
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            say(try encoder.encode(value).trimmingCharacters(in: .newlines))
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            say(String(decoding: try encoder.encode(value), as: UTF8.self))
        }
    }

    var structured: Bool { format == .json || format == .yaml }
}

