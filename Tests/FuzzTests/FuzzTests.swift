// Every parser of outside input, fed seeded generated and mutated inputs: each must return a value
// or throw its error. A crash ends the test process and prints the case and its replay command.
import FuzzTargets
import Testing

@Suite struct FuzzTests {
    /// Cases per parser in the test run (a debug build: the YAML and wasm parsers are the slow
    /// ones); `fireball-bench fuzz` runs millions.
    static let cases: [String: UInt64] = ["wasm": 1000, "board": 1000, "inventory": 1500, "manifest": 1500]
    static let casesOtherwise: UInt64 = 3000
    static let seed: UInt64 = 13

    @Test(arguments: FuzzTargets.all.map(\.name))
    func parserSurvivesSeededInputs(name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        // The unmutated corpus is accepted: the mutations start from inputs that reach deep.
        let acceptedCorpus = target.corpus.filter(target.run).count
        #expect(acceptedCorpus >= 1, "\(name): no corpus entry is accepted")
        let count = Self.cases[name] ?? Self.casesOtherwise
        let tally = Fuzzer.run(target, seed: Self.seed, count: count)
        #expect(tally.cases == count)
        #expect(tally.accepted > 0, "\(name): no mutated input was accepted; the mutations may be too coarse")
    }

    @Test func aCaseIsTheSameInputEveryTime() throws {
        let target = try #require(FuzzTargets.named("board"))
        #expect(Fuzzer.input(for: target, seed: 5, index: 77) == Fuzzer.input(for: target, seed: 5, index: 77))
        #expect(Fuzzer.input(for: target, seed: 5, index: 77) != Fuzzer.input(for: target, seed: 6, index: 77))
    }
}
