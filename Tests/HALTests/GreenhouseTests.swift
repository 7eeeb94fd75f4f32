// The greenhouse example (Deploy/examples/greenhouse-*.c, the committed .wasm files): on one kernel
// with the device rig's board, readings reach the aggregator and its commands the actuator's pin and
// UART, and each guest carries on when a peer is killed and started again; across three nodes, the
// sensor finds the aggregator again after its node dies. Clock: simulated.
import Foundation
import SimulatedNodes
import Testing
@testable import Core
@testable import HAL
import Node

/// The three guests on a DeviceRig whose adc0 channel 0 plays a chosen source.
final class Greenhouse {
    static let examples = DeviceRig.here.appendingPathComponent("../../Deploy/examples").standardized
    // The aggregator's policy, as greenhouse-aggregator.c defines it.
    static let window = 8, dryBelow = 2450, wetAbove = 2650
    static let periodNanoseconds: UInt64 = 250_000_000
    static let valvePin = 6

    let rig: DeviceRig

    init(adc source: SampleSource) throws {
        rig = try DeviceRig()
        try rig.service.bus.device("adc0", as: ADC.self).load(source, channel: 0)
    }

    /// Spawns `greenhouse-<role>.wasm` as task `role`, with the devices the manifest grants it.
    @discardableResult
    func start(_ role: String) throws -> TaskID { try Self.start(role, on: rig.kernel) }

    static func start(_ role: String, on kernel: Kernel) throws -> TaskID {
        let bytes = try Data(contentsOf: examples.appendingPathComponent("greenhouse-\(role).wasm"))
        let grants: Set<String> = role == "sensor" ? ["adc0", "i2c0"] : role == "actuator" ? ["gpio0", "uart0"] : []
        return try kernel.spawnGuest(try LoadedModule.load([UInt8](bytes)), name: role, devices: grants, capability: ProcessCapability())
    }

    func kill(_ task: TaskID) { rig.kernel.kill(task, capability: ProcessCapability()) }

    func run(until seconds: Double) { rig.run(until: UInt64(seconds * 1e9)) }

    func log(_ guest: String) -> [String] { Self.log(guest, in: rig.console) }

    /// The log lines of `guest`, without timestamp and level ("SECONDS.MICROS [guest] LEVEL text").
    static func log(_ guest: String, in console: [String]) -> [String] {
        console.compactMap { line in
            guard let range = line.range(of: "[\(guest)] ") else { return nil }
            let words = line[range.upperBound...].split(separator: " ", maxSplits: 1)
            guard words.count == 2, ["TRACE", "DEBUG", "INFO", "ERROR", "FATAL"].contains(words[0]) else { return nil }   // UART lines have no level
            return String(words[1])
        }
    }

    var readings: [(sequence: Int, moisture: Int, average: Int, open: Bool)] { Self.readings(in: rig.console) }

    /// The aggregator's "reading #N = M -> avg A, valve ON|OFF…" lines, parsed.
    static func readings(in console: [String]) -> [(sequence: Int, moisture: Int, average: Int, open: Bool)] {
        log("aggregator", in: console).compactMap { line in
            guard line.hasPrefix("aggregator: reading #") else { return nil }
            let words = line.replacingOccurrences(of: ",", with: "").split(separator: " ")
            guard words.count >= 10, let sequence = Int(words[2].dropFirst()), let moisture = Int(words[4]), let average = Int(words[7]) else { return nil }
            return (sequence, moisture, average, words[9] == "ON")
        }
    }

    /// What the actuator printed over its UART.
    var uart: [String] {
        rig.service.bus.history.compactMap { event in
            if case .uartLine(let text) = event.kind, event.source == "actuator" { text } else { nil }
        }
    }

    var valveOpen: Bool { Self.valveOpen(rig.service) }
    static func valveOpen(_ service: DeviceService) -> Bool { (service.bus.device("gpio0") as! GPIO).pins[valvePin].level }

    func isRunning(_ task: TaskID) -> Bool {
        if case .exited? = rig.kernel.state(of: task) { false } else { true }
    }

    /// The aggregator's decisions for a series of readings: moving average (rounded) and hysteresis.
    static func decisions(_ series: [Int]) -> [(average: Int, open: Bool)] {
        var recent: [Int] = [], open = false
        return series.map { moisture in
            recent.append(moisture)
            if recent.count > window { recent.removeFirst() }
            let average = (recent.reduce(0, +) + recent.count / 2) / recent.count
            if !open, average < dryBelow { open = true } else if open, average > wetAbove { open = false }
            return (average, open)
        }
    }
}

/// Nodes (`NodeCore`: a kernel with the rig's board and device service, and a router) on one simulated clock,
/// joined by an in-memory network; a node can die (it stops running and its links go down).
final class GreenhouseCluster {
    final class Node: RouterTransport {
        private(set) var core: NodeCore!
        var kernel: Kernel { core.kernel }
        var router: Router { core.router }
        var service: DeviceService { core.devices! }
        unowned let cluster: GreenhouseCluster
        let name: String
        var alive = true
        var console: [String] = []

        init(_ name: String, cluster: GreenhouseCluster) throws {
            self.name = name
            self.cluster = cluster
            let board = try Board.parse(DeviceRig.boardText, file: "rig.yaml")
            core = try NodeCore.simulated(name: name, board: board, clock: cluster.clock, slice: .safePoints(200), transport: self, seed: 1) {
                [unowned self] line in
                if !line.hasPrefix("node ") { console.append(line) }   // the node's own lines are not the guests' console
            }
        }

        func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool {
            guard alive, cluster.nodes[peer]?.alive == true else { return false }
            cluster.wire.append((name, peer, kind, payload))
            return true
        }
    }

    let clock = ManualClock()
    private(set) var nodes: [String: Node] = [:]
    var wire: [(from: String, to: String, kind: UInt8, payload: [UInt8])] = []

    init(_ names: [String]) throws {
        for name in names { nodes[name] = try Node(name, cluster: self) }
        for a in names { for b in names where a < b { nodes[a]!.core.linkUp(b); nodes[b]!.core.linkUp(a) } }
    }

    @discardableResult
    func start(_ role: String, on node: String) throws -> TaskID { try Greenhouse.start(role, on: nodes[node]!.kernel) }

    /// The node stops for good: frames to and from it are lost, its peers see the links go down.
    func kill(_ name: String) {
        nodes[name]!.alive = false
        wire.removeAll { $0.from == name || $0.to == name }
        for node in nodes.values where node.alive { node.core.linkDown(name, reason: "killed") }
    }

    /// Runs the live nodes and delivers frames until nothing moves, then moves the clock to the next
    /// timer; stops with the clock at `seconds`.
    func run(until seconds: Double) throws {
        let live = nodes.values.filter(\.alive).sorted { $0.name < $1.name }.map { ($0.kernel, $0.router, $0.core.routerTick) }
        try SimulatedRun.run(live, clock: clock, until: UInt64(seconds * 1e9)) {
            guard !wire.isEmpty else { return false }
            let frame = wire.removeFirst()
            try nodes[frame.to]!.core.routerFrame(kind: frame.kind, payload: frame.payload, from: frame.from)
            return true
        }
    }
}

@Suite(.serialized) struct GreenhouseTests {
    @Test func readingsAverageAndValveFollowAKnownSeries() throws {
        // Wet, four readings; dry, eight (the average falls through 2450: open); wet again, eight
        // (it must climb past 2650 before the valve closes). One sample per sensor period.
        let series = Array(repeating: 3000, count: 4) + Array(repeating: 2000, count: 8) + Array(repeating: 3000, count: 8)
        let house = try Greenhouse(adc: .series(values: series.map(Double.init), intervalNanoseconds: Greenhouse.periodNanoseconds))
        try house.start("actuator")
        try house.start("aggregator")
        try house.start("sensor")
        var pins: [Bool] = []
        for k in series.indices {
            house.rig.run(until: UInt64(k) * Greenhouse.periodNanoseconds)   // reading k + 1 has gone all the way
            pins.append(house.valveOpen)
        }
        let expected = Greenhouse.decisions(series)
        let readings = house.readings
        #expect(readings.map(\.sequence) == Array(1...series.count))
        #expect(readings.map(\.moisture) == series)
        #expect(readings.map(\.average) == expected.map(\.average))
        #expect(readings.map(\.open) == expected.map(\.open))
        #expect(pins == expected.map(\.open))
        // Hysteresis both ways: 2500 keeps it closed on the way down and open on the way up.
        #expect(readings[7].average == 2500 && !readings[7].open && readings[8].average == 2375 && readings[8].open)
        #expect(readings[15].average == 2500 && readings[15].open && readings[17].average == 2750 && !readings[17].open)
        #expect(house.log("aggregator").contains("aggregator: reading #9 = 2000 -> avg 2375, valve ON, 21.50 C"))   // the rig's TMP102
        #expect(house.uart == ["valve on pin 6, closed"] + expected.map { "valve \($0.open ? "ON" : "OFF") (avg \($0.average))" })
        #expect(house.log("sensor").contains("sensor: connected; delivered reading 1"))
    }

    @Test func guestsReconnectWhenAPeerIsKilledAndStartedAgain() throws {
        let house = try Greenhouse(adc: .constant(1000))   // dry: the valve opens at once
        // The sensor starts first: nobody serves the readings yet.
        let sensor = try house.start("sensor")
        house.run(until: 0.5)
        #expect(house.log("sensor").contains("sensor: waiting for fireball://greenhouse/readings: ENOENT"))
        var actuator = try house.start("actuator")
        var aggregator = try house.start("aggregator")
        house.run(until: 1.5)
        let first = house.readings
        #expect(first.count >= 3 && first.first?.sequence == 1 && house.valveOpen)
        #expect(house.log("sensor").contains("sensor: connected; delivered reading 1"))

        // The aggregator dies: the sensor keeps trying (sleeping between attempts); the actuator,
        // without commands for 2 s, closes the valve.
        house.kill(aggregator)
        let switches = house.rig.kernel.switches
        house.run(until: 4.5)
        #expect(house.rig.kernel.switches - switches < 500, "retries sleep: no busy loop")
        #expect(house.isRunning(sensor) && house.isRunning(actuator))
        #expect(house.log("sensor").contains { $0.hasPrefix("sensor: lost the aggregator at reading") && $0.hasSuffix(": ECLOSED") })
        #expect(house.readings.count == first.count)
        #expect(house.uart.last == "valve OFF (no command for 2 s)" && !house.valveOpen)

        // A new aggregator serves the same URI: readings flow again, later than any before, and
        // the valve follows its commands again.
        aggregator = try house.start("aggregator")
        house.run(until: 6)
        #expect(house.log("sensor").contains { $0.hasPrefix("sensor: reconnected; delivered reading") })
        let again = house.readings.dropFirst(first.count)
        #expect(again.count >= 4 && again.first!.sequence > first.last!.sequence)
        #expect(house.readings.map(\.sequence) == house.readings.map(\.sequence).sorted())
        #expect(house.log("actuator").contains { $0.hasPrefix("actuator: commands again") })
        #expect(house.valveOpen && house.uart.last == "valve ON (avg 1000)")

        // The actuator dies: readings keep arriving; a new actuator gets commands again.
        house.kill(actuator)
        house.run(until: 7)
        let during = house.readings.count
        #expect(house.log("aggregator").contains { $0.hasPrefix("aggregator: lost the actuator at reading") && $0.hasSuffix(": ECLOSED") })
        #expect(during >= first.count + again.count + 3)
        actuator = try house.start("actuator")
        house.run(until: 8)
        #expect(house.log("aggregator").contains { $0.hasPrefix("aggregator: reconnected to the actuator at reading") })
        #expect(house.readings.count >= during + 3 && house.valveOpen && house.uart.last == "valve ON (avg 1000)")
        #expect([sensor, aggregator, actuator].allSatisfy(house.isRunning))
    }

    /// One guest per node, as on the local cluster; the rig's adc0 reads a constant 100 (dry). Node
    /// b, the aggregator's, dies at 2 s; the orchestrator starts the aggregator again on node c at
    /// `restartAt`. The sensor's log, the new aggregator's readings and the actuator's UART.
    func failover(restartAt: Double) throws -> (sensor: [String], before: [Int], after: [Int], uart: [String], valveOpen: Bool) {
        let cluster = try GreenhouseCluster(["a", "b", "c"])
        try cluster.start("actuator", on: "c")
        try cluster.start("aggregator", on: "b")
        try cluster.start("sensor", on: "a")
        try cluster.run(until: 2)
        let (a, b, c) = (cluster.nodes["a"]!, cluster.nodes["b"]!, cluster.nodes["c"]!)
        let before = Greenhouse.readings(in: b.console).map(\.sequence)
        #expect(before.count >= 7 && before == Array(1...before.count) && Greenhouse.valveOpen(c.service))
        cluster.kill("b")
        try cluster.run(until: restartAt)
        try cluster.start("aggregator", on: "c")
        try cluster.run(until: restartAt + 4)
        let uart = c.service.bus.history.compactMap { event in if case .uartLine(let text) = event.kind { text } else { nil } }
        return (Greenhouse.log("sensor", in: a.console), before, Greenhouse.readings(in: c.console).map(\.sequence), uart, Greenhouse.valveOpen(c.service))
    }

    @Test func theSensorFindsTheAggregatorOnAnotherNodeAfterItsNodeDies() throws {
        // Restarted once the router has declared b dead (its grace period is 3 s).
        let run = try failover(restartAt: 5.5)
        // The send under way when b died fails at the grace period; the sensor keeps trying.
        #expect(run.sensor.contains("sensor: lost the aggregator at reading \(run.before.count + 1): EUNREACHABLE"), "\(run.sensor)")
        #expect(run.sensor.contains { $0.hasPrefix("sensor: reconnected; delivered reading") })
        #expect(run.after.count >= 10 && run.after.first! > run.before.last! && run.after == run.after.sorted())
        // The actuator closed the valve while no command came, and opened it for the new aggregator.
        #expect(run.uart.contains("valve OFF (no command for 2 s)") && run.uart.last == "valve ON (avg 100)" && run.valveOpen)
    }

    @Test func aServiceThatMovesDuringTheGracePeriodIsFoundAfterIt() throws {
        // Node c announces the readings URI while b, dead, still holds it for its grace period: the
        // router prefers a node with a link up, so the sensor's next send after its failure reaches c.
        let run = try failover(restartAt: 3)
        #expect(run.sensor.contains { $0.hasSuffix(": EUNREACHABLE") } || run.sensor.contains { $0.hasSuffix(": ECLOSED") }, "\(run.sensor)")
        #expect(run.sensor.contains { $0.hasPrefix("sensor: reconnected; delivered reading") }, "\(run.sensor)")
        #expect(!run.after.isEmpty && run.after == run.after.sorted())
    }
}
