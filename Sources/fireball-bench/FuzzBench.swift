// `fireball-bench fuzz`: the seeded fuzz targets of the test run (Tests/FuzzTargets), for as long
// as asked. Prints cases per parser; a crash prints its seed, case and a one-line replay command.
import ArgumentParser
import FuzzTargets
import Foundation

struct FuzzBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz every parser of outside input with seeded generated and mutated inputs.",
        discussion: """
            Each parser must return a value or throw its error for every input; a trap, precondition \
            failure or overflow is a crash, reported with the seed and case and a command that replays it \
            (--parser NAME --seed S --case N). Parsers: \(FuzzTargets.all.map(\.name).joined(separator: ", ")).
            """)

    @Option(help: "Only this parser (repeatable; default: all).") var parser: [String] = []
    @Option(help: "Cases per parser.") var cases: UInt64?
    @Option(help: "Seconds per parser (default 10 unless --cases is given).") var seconds: Double?
    @Option(help: "The seed (the same seed gives the same inputs).") var seed: UInt64 = 1
    @Option(name: .customLong("case"), help: "Run only this case (a replay).") var replayCase: UInt64?
    @Flag(help: "With --case: print the input as hex before running it.") var show = false

    func validate() throws {
        let known = Set(FuzzTargets.all.map(\.name))
        for name in parser where !known.contains(name) {
            throw ValidationError("no parser '\(name)' (parsers: \(FuzzTargets.all.map(\.name).joined(separator: ", ")))")
        }
        if let seconds { guard seconds.isFinite, seconds > 0, seconds <= 7 * 86_400 else { throw ValidationError("--seconds must be in 0…604800") } }
        if let cases { guard cases > 0 else { throw ValidationError("--cases must be positive") } }
    }

    func run() throws {
        let targets = FuzzTargets.all.filter { parser.isEmpty || parser.contains($0.name) }
        if let replayCase {
            for target in targets {
                let input = Fuzzer.input(for: target, seed: seed, index: replayCase)
                // To stderr, unbuffered: the input is out before a crash ends the process.
                if show { FileHandle.standardError.write(Data((input.map { String(format: "%02x", $0) }.joined() + "\n").utf8)) }
                let tally = Fuzzer.run(target, seed: seed, first: replayCase, count: 1)
                print("\(target.name): case \(replayCase) of seed \(seed): \(input.count) bytes, \(tally.accepted == 1 ? "accepted" : "refused"), no crash")
            }
            return
        }
        let perParserSeconds = seconds ?? (cases == nil ? 10 : nil)
        print("fuzz: seed \(seed), \(cases.map { "\($0) cases" } ?? "") \(perParserSeconds.map { "\($0) s" } ?? "") per parser")
        var total: UInt64 = 0
        for target in targets {
            let clock = ContinuousClock()
            let start = clock.now
            let deadline = perParserSeconds.map { start + .milliseconds(Int64($0 * 1000)) }
            let tally = Fuzzer.run(target, seed: seed, count: cases ?? UInt64.max, until: deadline)
            let elapsed = (clock.now - start).components
            let secondsTaken = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
            total += tally.cases
            let name = target.name.padding(toLength: 12, withPad: " ", startingAt: 0)
            print(name + String(format: "%12llu cases in %8.1f s (%9.0f/s), %llu accepted, 0 crashes",
                                tally.cases, secondsTaken, Double(tally.cases) / max(secondsTaken, 1e-9), tally.accepted))
        }
        print("fuzz: \(total) cases, no crash")
    }
}
