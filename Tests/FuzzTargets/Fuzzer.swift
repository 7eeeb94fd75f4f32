// The seeded fuzzer shared by the test run (FuzzTests: a few thousand cases per parser) and by
// `fireball-bench fuzz` (hours). Case N of seed S is always the same input, so a crash replays.
import Transport

/// One parser under test. `run` must return for every input, whether the parser accepts it or
/// throws its error; a trap, a precondition failure or an overflow ends the process (a crash).
public struct FuzzTarget: Sendable {
    public let name: String
    /// Valid inputs to mutate (the repository's real files and encoded messages).
    public let corpus: [[UInt8]]
    /// Text parsers get text-aware mutations too (numbers swapped for hostile ones).
    public let isText: Bool
    /// Runs the parser; true if it accepted the input (for the report), false if it refused it.
    public let run: @Sendable ([UInt8]) -> Bool

    public init(name: String, corpus: [[UInt8]], isText: Bool, run: @escaping @Sendable ([UInt8]) -> Bool) {
        precondition(!corpus.isEmpty, "a fuzz target needs a seed corpus")
        self.name = name
        self.corpus = corpus
        self.isText = isText
        self.run = run
    }
}

/// Builds inputs from a seed: mutated corpus entries, mostly, and now and then random bytes.
public enum Fuzzer {
    /// Numbers that have crashed or nearly crashed parsers: type limits, their neighbours, units.
    static let hostileNumbers = [
        "18446744073709551615", "18446744073709551616", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "4294967295", "4294967296", "2147483647", "2147483648", "-1", "0", "65535", "65536", "99999999999999999999999",
        "0x7FFFFFFFFFFFFFFF", "0xFFFFFFFFFFFFFFFF", "0x100000000", "1e308", "-1e308", ".nan", ".inf", "-.inf", "8589934592 GiB",
        "4294967295 h", "18446744073709551615 ms", "2 GiB", "3 GiB", "1 GiB", "213503 d", "0 ms", "-0",
    ]
    /// Fragments that steer YAML and JSON parsers into their other paths.
    static let textFragments = ["\n", ": ", "- ", "{", "}", "[", "]", "\"", ",", "&a ", "*a", "!!int ", "# ", "\t", "\u{0}", "é", "\\u0000"]

    /// The input of case `index` for `seed`.
    public static func input(for target: FuzzTarget, seed: UInt64, index: UInt64) -> [UInt8] {
        var random = SplitMix64(seed: caseSeed(target: target.name, seed: seed, index: index))
        // One case in 16 is random bytes: parsers must also survive what is nothing like their format.
        if random.next() % 16 == 0 {
            return (0..<Int(random.next() % 512)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        var bytes = target.corpus[Int(random.next() % UInt64(target.corpus.count))]
        for _ in 0..<(1 + Int(random.next() % 6)) { mutate(&bytes, target: target, random: &random) }
        return bytes
    }

    /// A seed per (target, seed, case), so that one case replays without running the others.
    static func caseSeed(target: String, seed: UInt64, index: UInt64) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a of the target's name: fixed across runs
        for byte in target.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        var mixer = SplitMix64(seed: seed ^ hash)
        return mixer.next() &+ index &* 0x9E37_79B9_7F4A_7C15
    }

    static func mutate(_ bytes: inout [UInt8], target: FuzzTarget, random: inout SplitMix64) {
        func position(_ extra: Int = 0) -> Int { Int(random.next() % UInt64(bytes.count + extra)) }
        let choices = target.isText ? 10 : 7
        switch Int(random.next() % UInt64(choices)) {
        case 0 where !bytes.isEmpty:        // flip a bit
            bytes[position()] ^= 1 << UInt8(random.next() % 8)
        case 1 where !bytes.isEmpty:        // a byte to a boundary value
            bytes[position()] = [0, 1, 0x7F, 0x80, 0xFF, 0x10, 0x20][Int(random.next() % 7)]
        case 2 where !bytes.isEmpty:        // a run of bytes removed
            let start = position()
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + Int(random.next() % 16)))
        case 3 where !bytes.isEmpty:        // a run duplicated elsewhere
            let start = position()
            let run = Array(bytes[start..<min(bytes.count, start + 1 + Int(random.next() % 32))])
            bytes.insert(contentsOf: run, at: position(1))
        case 4:                             // random bytes inserted
            bytes.insert(contentsOf: (0..<(1 + Int(random.next() % 8))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: position(1))
        case 5 where bytes.count >= 4:      // a 32- or 64-bit little-endian boundary number written over
            let value: UInt64 = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, UInt64.max, UInt64(Int64.max)][Int(random.next() % 11)]
            let width = bytes.count >= 8 && random.next() % 2 == 0 ? 8 : 4
            let start = Int(random.next() % UInt64(bytes.count - width + 1))
            for offset in 0..<width { bytes[start + offset] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(offset))) }
        case 6:                             // spliced with another corpus entry
            let other = target.corpus[Int(random.next() % UInt64(target.corpus.count))]
            guard !other.isEmpty else { return }
            let from = Int(random.next() % UInt64(other.count))
            bytes = Array(bytes.prefix(position(1))) + other[from...]
        case 7, 8:                          // text: a number replaced by a hostile one
            replaceNumber(&bytes, random: &random)
        case 9:                             // text: a structural fragment inserted
            bytes.insert(contentsOf: Array(textFragments[Int(random.next() % UInt64(textFragments.count))].utf8), at: position(1))
        default:
            bytes.append(UInt8(truncatingIfNeeded: random.next()))
        }
    }

    /// Replaces the digits at a random number in the text with one of `hostileNumbers`.
    static func replaceNumber(_ bytes: inout [UInt8], random: inout SplitMix64) {
        let digits = bytes.indices.filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }
        let replacement = Array(hostileNumbers[Int(random.next() % UInt64(hostileNumbers.count))].utf8)
        guard !digits.isEmpty else {
            bytes.insert(contentsOf: replacement, at: Int(random.next() % UInt64(bytes.count + 1)))
            return
        }
        var start = digits[Int(random.next() % UInt64(digits.count))], end = start
        func isNumberByte(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "x") }
        while start > 0, isNumberByte(bytes[start - 1]) { start -= 1 }
        while end < bytes.count, isNumberByte(bytes[end]) { end += 1 }
        bytes.replaceSubrange(start..<end, with: replacement)
    }

    /// What a run found: cases run and accepted, per target.
    public struct Tally: Sendable {
        public var cases: UInt64 = 0
        public var accepted: UInt64 = 0
    }

    /// Runs cases `first..<first+count` of `target` (or until `deadline` passes, checked every 64 cases).
    /// A crash does not come back here: `CrashReport` prints the case before the process ends.
    public static func run(_ target: FuzzTarget, seed: UInt64, first: UInt64 = 0, count: UInt64,
                           until deadline: ContinuousClock.Instant? = nil) -> Tally {
        var tally = Tally()
        CrashReport.arm(target: target.name, seed: seed)
        defer { CrashReport.disarm() }
        var index = first
        while index < first &+ count {
            if let deadline, index % 64 == 0, ContinuousClock.now >= deadline { break }
            CrashReport.currentCase = index
            if target.run(input(for: target, seed: seed, index: index)) { tally.accepted += 1 }
            tally.cases += 1
            index += 1
        }
        return tally
    }
}
