// Dynamic counts of ops and of op pairs (an op and the one dispatched after it), over a run: what
// superinstructions and operand forms are chosen from. Compiled into the dispatch loop only in a
// build made with FIREBALL_OP_PROFILE=1 (Package.swift; Docs/interpreter.md, "Measuring"): a
// normal build has no trace of it in the loop. `fireball-bench ops` prints the tables.

public enum OpProfile {
    /// Whether this build counts (FIREBALL_OP_PROFILE=1 at build time).
    public static var isCompiledIn: Bool {
        #if FIREBALL_OP_PROFILE
        true
        #else
        false
        #endif
    }

    static let opsMax = 256
    // One thread runs the interpreter in a profiling run; the counters are plain memory.
    nonisolated(unsafe) static let singles = UnsafeMutablePointer<UInt64>.allocate(capacity: opsMax)
    nonisolated(unsafe) static let pairs = UnsafeMutablePointer<UInt64>.allocate(capacity: opsMax * opsMax)
    nonisolated(unsafe) static var previous = 0
    nonisolated(unsafe) static var started = false

    @inline(__always) static func record(_ op: Op) {
        let current = Int(op.rawValue)
        singles[current] &+= 1
        pairs[previous &* opsMax &+ current] &+= 1
        previous = current
    }

    /// Zeroes the counts (before each program of a profiling run).
    public static func reset() {
        singles.initialize(repeating: 0, count: opsMax)
        pairs.initialize(repeating: 0, count: opsMax * opsMax)
        previous = 0
    }

    /// The counts since the last reset, by op name, most frequent first.
    public static func counts() -> (ops: [(op: String, count: UInt64)], pairs: [(first: String, second: String, count: UInt64)]) {
        let ops = Op.allCases
        var singleCounts: [(op: String, count: UInt64)] = []
        var pairCounts: [(first: String, second: String, count: UInt64)] = []
        for first in ops where singles[Int(first.rawValue)] > 0 {
            singleCounts.append(("\(first)", singles[Int(first.rawValue)]))
            for second in ops {
                let count = pairs[Int(first.rawValue) * opsMax + Int(second.rawValue)]
                if count > 0 { pairCounts.append(("\(first)", "\(second)", count)) }
            }
        }
        singleCounts.sort { $0.count != $1.count ? $0.count > $1.count : $0.op < $1.op }
        pairCounts.sort { $0.count != $1.count ? $0.count > $1.count : ($0.first, $0.second) < ($1.first, $1.second) }
        return (singleCounts, pairCounts)
    }
}
