// `fireball-bench simulate`: the cluster simulator over many seeds, for as long as asked; each
// failing seed is printed with the command that replays it, with a trace.
import ArgumentParser
import Foundation
import Simulator

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the deterministic cluster simulator over random seeds (or one seed, with a trace).",
        discussion: """
            Examples:
              fireball-bench simulate --seeds 200
              fireball-bench simulate --minutes 60
              fireball-bench simulate --seed 1234 --trace
            """)

    @Option(help: "Replay this seed only.") var seed: UInt64?
    @Option(help: "How many random seeds to run.") var seeds = 20
    @Option(help: "Keep running random seeds for this many minutes (instead of --seeds).") var minutes: Double?
    @Option(help: "The first random seed (seeds follow it in order).") var firstSeed: UInt64 = 1
    @Option(help: "Nodes in the simulated cluster.") var nodes = 5
    @Option(help: "Simulated seconds per seed.") var seconds: UInt64 = 60
    @Flag(help: "Print the run's trace (faults, link events, broken invariants).") var trace = false
    @Flag(help: "Place the guests with the real controller over simulated control sessions (apply, failover, crashes mid-request).") var controller = false

    func run() throws {
        let layout = SimulationLayout(nodes: nodes)
        let guests = try SimulationGuests.build(for: layout)
        let started = Date()
        var next = seed ?? firstSeed, ran = 0, failed = 0, simulated: UInt64 = 0
        var faults: [String: Int] = [:]
        var placedAfter: [UInt64] = []
        func more() -> Bool {
            if seed != nil { return ran == 0 }
            if let minutes { return Date().timeIntervalSince(started) < minutes * 60 }
            return ran < seeds
        }
        while more() {
            var options = SimulationOptions(seed: next)
            options.nodes = nodes
            options.seconds = seconds
            options.trace = trace
            options.controller = controller
            let report = ClusterSimulation(options: options, layout: layout, guests: guests).run()
            ran += 1
            simulated += report.simulatedSeconds
            for (kind, count) in report.faults { faults[kind, default: 0] += count }
            if let after = report.placedAfterNanoseconds { placedAfter.append(after) }
            if trace { for line in report.trace { print(line) } }
            if !report.failures.isEmpty {
                failed += 1
                for failure in report.failures { print("FAILED \(failure)") }
                print("  replay: swift run -c release fireball-bench simulate --seed \(next) --nodes \(nodes) --seconds \(seconds)\(controller ? " --controller" : "") --trace")
            } else if seed != nil || ran % 10 == 0 {
                print("seed \(next): ok (\(report.sendsOK) sends, \(report.received) taken, \(report.framesDelivered) frames, "
                      + "digest \(String(report.digest, radix: 16))); \(ran) seeds so far")
            }
            next += 1
        }
        let wall = Date().timeIntervalSince(started)
        print("\(ran - failed) passed, \(failed) failed: \(ran) seeds, \(simulated) simulated s (\(Int(Double(simulated) / max(wall, 0.001)))× real time), faults: "
              + faults.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        if !placedAfter.isEmpty {
            let sorted = placedAfter.sorted()
            print("placement was the app's again \(sorted[sorted.count / 2] / 1_000_000) ms after the last fault (median), \(sorted.last! / 1_000_000) ms at most")
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
