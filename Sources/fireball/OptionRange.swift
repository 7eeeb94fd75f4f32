// Numbers on the command line are outside numbers too: each option states its range, checked in
// `validate()` before anything multiplies it (Docs/cluster.md lists them).
import ArgumentParser

/// Refuses `value` outside `range`, naming the option (NaN is outside every range).
func checkOption<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ option: String) throws {
    guard range.contains(value) else { throw ValidationError("\(option) \(value) is outside \(range.lowerBound)…\(range.upperBound)") }
}

/// The ranges of the numeric options.
enum OptionLimits {
    static let certificateDays = 1...36_500
    static let connectTimeoutSeconds = 0.0...3600.0
    static let deadAfterMilliseconds = 1...86_400_000
    static let logLines = 0...100_000
    static let graceMilliseconds = 1...86_400_000
    static let receiveAheadMicroseconds = 0...60_000_000
    static let sliceMicroseconds = 0...1_000_000
}
