// The cluster simulator in the test run: a fixed set of seeds, each a five-node cluster for a
// simulated minute under every kind of fault, with the delivery and memory invariants checked as it
// runs. A failure names the seed and the command that replays it.
import Core
import Foundation
import Testing
@testable import Simulator

@Suite struct ClusterSimulationTests {
    static let layout = SimulationLayout(nodes: 5)
    /// Built once for every test of the suite (a static's initializer runs once).
    static let guests = Result { try SimulationGuests.build(for: layout) }

    static func run(_ seed: UInt64, seconds: UInt64 = 60) throws -> SimulationReport {
        var options = SimulationOptions(seed: seed)
        options.seconds = seconds
        return ClusterSimulation(options: options, layout: layout, guests: try guests.get()).run()
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 127, 166] as [UInt64])
    func aSeededMinuteOfFaultsKeepsEveryPromise(seed: UInt64) throws {
        let report = try Self.run(seed)
        #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))\nreplay: swift run -c release fireball-bench simulate --seed \(seed) --trace")
        #expect(report.sendsOK > 1000 && report.received >= report.sendsOK, "\(report.sendsOK) sends, \(report.received) taken")
        #expect(report.faults.values.reduce(0, +) > 10, "\(report.faults)")
    }

    /// The controller places the workload and fails it over; crashes in the middle of its requests
    /// lose the write; its session to a node is cut while the node runs on; an operator upgrades,
    /// drains, applies and deletes a second app. Invariant 4 (every wanted replica on exactly one
    /// node once the faults are over, nothing else) is checked at the end. Seed 8005 brings back a
    /// copy of the deleted app on a node that was away (the controller must stop it).
    @Test(arguments: [(2, 45), (8005, 60)] as [(UInt64, UInt64)])
    func theControllerKeepsEveryReplicaPlacedThroughFaults(seed: UInt64, seconds: UInt64) throws {
        var options = SimulationOptions(seed: seed)
        options.controller = true
        options.seconds = seconds
        let report = ClusterSimulation(options: options, layout: Self.layout, guests: try Self.guests.get()).run()
        #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))\nreplay: swift run -c release fireball-bench simulate --seed \(seed) --seconds \(seconds) --controller --trace")
        #expect(report.sendsOK > 1000, "\(report.sendsOK) sends")
        #expect(report.faults["crash", default: 0] > 0, "\(report.faults)")
    }

    @Test func aSeedReplaysExactly() throws {
        var options = SimulationOptions(seed: 42)
        options.seconds = 20
        options.trace = true
        let first = ClusterSimulation(options: options, layout: Self.layout, guests: try Self.guests.get()).run()
        let second = ClusterSimulation(options: options, layout: Self.layout, guests: try Self.guests.get()).run()
        #expect(first.trace == second.trace && first.digest == second.digest && first.sendsOK == second.sendsOK && first.framesDelivered == second.framesDelivered)
        #expect(!first.trace.isEmpty)
    }

    /// The simulator waits for a node's deadline by mapping it to the global clock: that moment must
    /// be the first at which the node's clock reads the deadline, whether it jumped or runs fast.
    @Test(arguments: [0, 150, 2_000, 200_000] as [UInt64])
    func aNodeClockMapsItsDeadlinesToTheFirstGlobalMomentTheyAreDue(ppm: UInt64) {
        let base = ManualClock()
        let clock = NodeClock(base: base)
        base.nanoseconds = 1_000_000_000
        clock.offset = 250_000_000
        clock.runFast(ppm: ppm)
        var random = SimulationRandom(seed: ppm)
        for _ in 0..<500 {
            let deadline = clock.nanoseconds + random.next(in: 0...5_000_000_000)
            let global = clock.global(deadline)
            base.nanoseconds = global
            #expect(clock.nanoseconds >= deadline)
            base.nanoseconds = global - 1
            #expect(clock.nanoseconds < deadline, "at \(global - 1) the clock reads \(clock.nanoseconds), already \(deadline)")
            base.nanoseconds = global - random.next(in: 0...min(global - 1_000_000_000, 1_000_000))
        }
        let before = clock.nanoseconds
        clock.runFast(ppm: 0)
        #expect(clock.nanoseconds == before, "changing the rate keeps what was gained")
    }
}

/// A seed replays in another process too: Swift seeds its hashing anew in every process, so an
/// iteration that followed hash order would give a different run (and digest) each time.
@Suite struct CrossProcessReplayTests {
    @Test func aSeedGivesTheSameDigestInTwoProcesses() throws {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let bench = directory.appendingPathComponent("fireball-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: bench), "no fireball-bench at \(bench): `swift build` (or `swift test`, which builds it) first")
        func digest() throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: bench)
            process.arguments = ["simulate", "--seed", "9", "--seconds", "15", "--controller"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(output)")
            return output.split(separator: "\n").first { $0.contains("digest") }.map(String.init) ?? "no digest in: \(output)"
        }
        let first = try digest()
        #expect(first.contains("digest"))
        #expect(try digest() == first)
    }
}
