// A deterministic simulation of a whole cluster (after FoundationDB's simulation and TigerBeetle's
// VOPR): real nodes (`NodeCore`: kernel, router, data directory, control answers) with real wasm
// guests, deployed by control requests, on one simulated clock and network, driven
// by a seed that decides every fault: link cuts, one-way partitions, latency and jitter, node
// crashes and restarts (inside the grace period and past it), clocks that jump or run fast. The guests' log
// lines feed the delivery invariants, checked as the run goes; a failing seed replays exactly.
import Core
import Foundation
import HAL
import Node
import Orchestrator
import Transport

public struct SimulationOptions: Sendable {
    public var seed: UInt64
    public var nodes = 5
    /// Simulated seconds; faults start only before the last `quietSeconds`.
    public var seconds: UInt64 = 60
    public var quietSeconds: UInt64 = 15
    /// Chance per simulated second that each kind of fault starts somewhere.
    public var cutsPerSecond = 0.4, oneWayPerSecond = 0.1, crashesPerSecond = 0.1, clockJumpsPerSecond = 0.05, fastClocksPerSecond = 0.05
    /// Frame latency per direction (drawn once per link) and jitter per frame, in milliseconds.
    public var latencyMaxMilliseconds: UInt64 = 20, jitterMilliseconds: UInt64 = 5
    /// One line per fault, link event and invariant check failure (for a replay).
    public var trace = false
    /// Place the guests with the real controller (apply, failover, stops of copies a returning
    /// node brought back) over simulated control sessions, instead of a fixed layout.
    public var controller = false
    /// With the controller: the chance that a node crashes in the middle of a control request that
    /// writes its data directory, losing that write (and the answer).
    public var tornWriteChance = 0.02
    /// With the controller: chance per second that its session to some node is cut (the node runs on).
    public var controlCutsPerSecond = 0.05
    /// With the controller: chance per second that the controller process restarts.
    public var controllerRestartsPerSecond = 0.03
    /// With the controller: chance per second that an operator reads every node's status and a
    /// replica's logs (on sessions of their own, beside the controller's).
    public var readsPerSecond = 0.5
    public init(seed: UInt64) { self.seed = seed }
}

/// How a run went: the invariants it broke (empty: none) and what it went through.
public struct SimulationReport: Sendable {
    public var seed: UInt64
    public var failures: [String] = []
    public var faults: [String: Int] = [:]
    public var framesDelivered = 0
    public var sendsOK = 0, sendsFailed = 0, received = 0
    public var simulatedSeconds: UInt64 = 0
    /// With the controller: how long after the last fault the placement was the app's for good
    /// (nil: it never was before the end).
    public var placedAfterNanoseconds: UInt64?
    public var trace: [String] = []
    /// FNV-1a over every console line of every node with its node and time: two runs of one seed
    /// are the same run if their digests agree (in any process, on any machine).
    public var digest: UInt64 = 0xcbf2_9ce4_8422_2325
}

public final class ClusterSimulation {
    /// The router's grace period in the simulation (as on a node).
    static let graceNanoseconds: UInt64 = 3_000_000_000
    static let second: UInt64 = 1_000_000_000

    final class Node: RouterTransport {
        let name: String
        let clock: NodeClock
        /// The node's RAM: a new core at each boot.
        var core: NodeCore!
        /// Its data directory: kept across crashes.
        let files: MemoryFiles
        var alive = true
        /// Boots so far: a control answer from an earlier run never reaches the orchestrator.
        var runs = 0
        var bootUse: [PartitionKind: Int] = [:]
        unowned let simulation: ClusterSimulation

        init(name: String, simulation: ClusterSimulation) {
            self.name = name
            self.simulation = simulation
            clock = NodeClock(base: simulation.clock)
            files = MemoryFiles(location: "memory:\(name)")
        }

        func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool {
            guard alive, simulation.linkUp(name, peer) else { return false }
            simulation.network.send(kind, payload, from: name, to: peer, now: simulation.clock.nanoseconds, random: &simulation.random)
            return true
        }
    }

    let options: SimulationOptions
    let layout: SimulationLayout
    let guests: SimulationGuests
    let clock = ManualClock()
    var random: SimulationRandom
    var network: SimulatedNetwork
    private(set) var nodes: [String: Node] = [:]
    var report: SimulationReport
    private var faults: [(at: UInt64, fault: Fault)] = []
    private var nextFault = 0
    /// With `options.controller`: the orchestrator's side.
    private var orchestrator: SimulatedOrchestrator?
    private var control: SimulatedControl? { orchestrator?.control }
    private var checker = DeliveryChecker()
    private var step = 0
    private var crashedAt: [String: UInt64] = [:]

    enum Fault {
        case cut(String, String), restore(String, String)
        case oneWay(from: String, to: String, until: UInt64)
        case crash(String), restart(String)
        case clockJump(String, by: UInt64)
        /// The node's clock runs `ppm` parts per million fast until `.clockNormal`.
        case clockFast(String, ppm: UInt64), clockNormal(String)
        /// The orchestrator's session to the node is cut (the node and its links to peers are fine).
        case controlCut(String), controlRestore(String)
    }

    public init(options: SimulationOptions, layout: SimulationLayout, guests: SimulationGuests) {
        self.options = options
        self.layout = layout
        self.guests = guests
        random = SimulationRandom(seed: options.seed)
        network = SimulatedNetwork(jitterNanoseconds: options.jitterMilliseconds * 1_000_000)
        report = SimulationReport(seed: options.seed)
        for a in layout.nodes { for b in layout.nodes where a != b {
            network.setLatency(a, b, nanoseconds: random.next(in: 0...options.latencyMaxMilliseconds) * 1_000_000)
        } }
        for name in layout.nodes { nodes[name] = Node(name: name, simulation: self) }
        for name in layout.nodes { boot(nodes[name]!) }
        if options.controller {
            do { orchestrator = try SimulatedOrchestrator(simulation: self, board: Self.board, operations: planOperations()) } catch {
                fail("the orchestrator could not be set up: \(error)")
            }
        } else {
            for name in layout.nodes { deploy(nodes[name]!) }
        }
        for a in layout.nodes { for b in layout.nodes where a < b { linkChanged(a, b) } }
        planFaults()
    }

    /// The orchestrator's session to `node` is up (it dials every node; a crash or a cut of that session takes it down).
    func controlLinkUp(_ node: String) -> Bool { nodes[node]?.alive == true && !controlCuts.contains(node) }
    private var controlCuts: Set<String> = []

    /// A control request reaching `node`. One that writes the data directory may be cut short by a
    /// crash (`tornWriteChance`): the write is lost and no answer leaves.
    func handle(_ request: ControlRequest, on name: String) -> ControlResponse {
        let node = nodes[name]!
        let answer = node.core.handle(request)
        switch request.operation {
        case .start, .stop:
            // A guest stopped or replaced by the orchestrator dies as in a crash: what it took and
            // had not logged yet is not a lost message.
            checker.crashed(at: clock.nanoseconds)
        case .push where answer.lines == ["stored"]: break
        default: return answer
        }
        if random.chance(options.tornWriteChance) {
            let lost = node.files.loseLastWrite()
            count("crash mid-request")
            note("fault: \(name) crashes in the middle of request \(request.id)\(lost.map { ", losing its write of \($0)" } ?? "")")
            apply(.crash(name))
            schedule(.restart(name), at: clock.nanoseconds + random.next(in: 50...2_500) * 1_000_000)
        } else {
            node.files.settle()
        }
        return answer
    }

    /// When faults stop starting: the last `quietSeconds` of the run are quiet.
    var faultEnd: UInt64 { (options.seconds - min(options.quietSeconds, options.seconds)) * Self.second }

    /// What an operator does while the app runs (`--controller`): one upgrade of a module, one
    /// drain of a node and its uncordon later, a second app applied and deleted, reads of status
    /// and logs, and controller restarts; all before the quiet end.
    private func planOperations() -> [(at: UInt64, operation: SimulatedOrchestrator.Operation)] {
        guard faultEnd > 12 * Self.second else { return [] }
        func when() -> UInt64 { random.next(in: 5_000...(faultEnd / 1_000_000 - 6_000)) * 1_000_000 }
        var operations: [(at: UInt64, operation: SimulatedOrchestrator.Operation)] = []
        operations.append((when(), .upgrade(layout.guests[Int(random.next() % UInt64(layout.guests.count))].name)))
        let drained = layout.nodes[Int(random.next() % UInt64(layout.nodes.count))], drainAt = when()
        operations.append((drainAt, .drain(drained)))
        operations.append((drainAt + random.next(in: 2_000...5_000) * 1_000_000, .uncordon(drained)))
        let extraAt = when()
        operations.append((extraAt, .applyExtra))
        operations.append((min(extraAt + random.next(in: 2_000...10_000) * 1_000_000, faultEnd), .deleteExtra))
        var t = Self.second
        while t < faultEnd {
            if random.chance(options.controllerRestartsPerSecond / 10) { operations.append((t, .restartController)) }
            if random.chance(options.readsPerSecond / 10) { operations.append((t, .read)) }
            t += Self.second / 10
        }
        return operations
    }

    /// Adds a fault decided during the run (after one that the run caused), in time order.
    private func schedule(_ fault: Fault, at time: UInt64) {
        var index = nextFault
        while index < faults.count, faults[index].at <= time { index += 1 }
        faults.insert((time, fault), at: index)
    }

    /// The simulated nodes' board: the host partition table, no devices; slices count safe points
    /// (not time), and the log limit is far above what the workload prints.
    static let board = try! Board.parse("""
        name: simulated
        description: the cluster simulator's board
        cpu: x86_64
        clock-mhz: 2000
        ram: 128 MiB
        flash: 1 GiB
        fpu: true
        slice-us: 300
        value-stack: 128 KiB
        stack-slot: 4 KiB
        partitions: {kernel: 256 KiB, runtime: 256 KiB, subsystem: 256 KiB, tier1: 4 MiB, guest: 64 MiB, stacks: 256 KiB}
        log: {burst: 100000, lines-per-second: 100000}
        """, file: "ClusterSimulation.board")

    /// A fresh core for `node` on its data directory (at boot and after each crash): its RAM.
    private func boot(_ node: Node) {
        node.runs += 1
        let seconds = { [unowned self] in "t+\(clock.nanoseconds / Self.second).\(clock.nanoseconds % Self.second / 1_000_000)s" }
        do {
            node.core = try NodeCore.simulated(name: node.name, board: Self.board, clock: node.clock, slice: .safePoints(500), files: node.files,
                                               transport: node, seed: random.next(), wallTime: seconds,
                                               configure: { $0.routerGraceNanoseconds = Self.graceNanoseconds }) { [unowned self, unowned node] line in
                if line.hasPrefix("node ") { note(line) } else { observe(line, on: node) }
            }
        } catch {
            fail("\(node.name) did not boot: \(error)")
        }
        node.bootUse = Dictionary(uniqueKeysWithValues: PartitionKind.allCases.map { ($0, node.core.kernel.partition($0).usedBytes) })
    }

    /// Gives a node its guests as an orchestrator does: a push of each module and a start, by control requests.
    private func deploy(_ node: Node) {
        var id: UInt64 = 0
        func ask(_ operation: ControlRequest.Operation) -> Bool {
            id += 1
            let answer = node.core.handle(ControlRequest(id: id, operation))
            if let error = answer.error { fail("\(node.name): deploying: \(error)") }
            return answer.error == nil
        }
        for guest in layout.guests where guest.node == node.name {
            let module = guests.module(guest)
            guard ask(.push(sha256: module.sha256, total: module.bytes.count, offset: 0, bytes: Data(module.bytes))) else { return }
            _ = ask(.start(ModuleAssignment(app: "sim", replica: guest.name, module: guest.name, sha256: module.sha256,
                                           serves: [guest.uri], uses: [guest.uri], memoryBytes: 64 * 1024)))   // room for co_values
        }
    }

    func linkUp(_ a: String, _ b: String) -> Bool {
        nodes[a]?.alive == true && nodes[b]?.alive == true && !network.cut.contains(SimulatedNetwork.key(a, b))
    }

    private var up: Set<String> = []

    /// Tells both routers when a link's state changed (a cut, a restore, a crash, a restart).
    private func linkChanged(_ a: String, _ b: String) {
        let key = SimulatedNetwork.key(a, b), isUp = linkUp(a, b)
        guard isUp != up.contains(key) else { return }
        if isUp {
            up.insert(key)
            note("link \(key) up")
            nodes[a]!.core.linkUp(b)
            nodes[b]!.core.linkUp(a)
        } else {
            up.remove(key)
            network.drop(a, b)
            note("link \(key) down")
            if nodes[a]!.alive { nodes[a]!.core.linkDown(b, reason: "cut") }
            if nodes[b]!.alive { nodes[b]!.core.linkDown(a, reason: "cut") }
        }
    }

    // MARK: faults

    /// Draws every fault of the run from the seed, before it starts.
    private func planFaults() {
        let names = layout.nodes
        let tick: UInt64 = 100_000_000
        var t: UInt64 = Self.second
        var downUntil: [String: UInt64] = [:], fastUntil: [String: UInt64] = [:]
        while t < faultEnd {
            let a = names[Int(random.next() % UInt64(names.count))]
            var b = names[Int(random.next() % UInt64(names.count))]
            if b == a { b = names[(names.firstIndex(of: a)! + 1) % names.count] }
            if random.chance(options.cutsPerSecond / 10) {
                faults.append((t, .cut(a, b)))
                faults.append((t + random.next(in: 50...5_000) * 1_000_000, .restore(a, b)))
            }
            if random.chance(options.oneWayPerSecond / 10) {
                // Frames a→b vanish; the link layer's heartbeats give the link up within a second, and it comes back later.
                let lost = random.next(in: 100...1_000) * 1_000_000
                faults.append((t, .oneWay(from: a, to: b, until: t + lost)))
                faults.append((t + lost, .cut(a, b)))
                faults.append((t + lost + random.next(in: 100...2_000) * 1_000_000, .restore(a, b)))
            }
            if random.chance(options.crashesPerSecond / 10), (downUntil[a] ?? 0) < t {
                // Half the restarts come back inside the grace period, half past it.
                let down = random.chance(0.5) ? random.next(in: 50...2_500) : random.next(in: 3_500...8_000)
                faults.append((t, .crash(a)))
                faults.append((t + down * 1_000_000, .restart(a)))
                downUntil[a] = t + down * 1_000_000
            }
            if random.chance(options.clockJumpsPerSecond / 10) {
                faults.append((t, .clockJump(a, by: random.next(in: 100...4_000) * 1_000_000)))
            }
            if random.chance(options.fastClocksPerSecond / 10), (fastUntil[a] ?? 0) < t {
                // From a bad crystal (a few hundred ppm) to a clock a fifth fast, for 1 – 20 s.
                let ppm = random.chance(0.5) ? random.next(in: 100...2_000) : random.next(in: 10_000...200_000)
                let until = t + random.next(in: 1_000...20_000) * 1_000_000
                faults.append((t, .clockFast(a, ppm: ppm)))
                faults.append((until, .clockNormal(a)))
                fastUntil[a] = until
            }
            if options.controller, random.chance(options.controlCutsPerSecond / 10) {
                // The controller then sees the node dead and places its replicas elsewhere while they run on.
                faults.append((t, .controlCut(a)))
                faults.append((t + random.next(in: 100...5_000) * 1_000_000, .controlRestore(a)))
            }
            t += tick
        }
        faults.sort { $0.at < $1.at }
    }

    private func apply(_ fault: Fault) {
        lastFaultAt = clock.nanoseconds
        switch fault {
        case .cut(let a, let b):
            network.setCut(a, b, true)
            count("cut")
            note("fault: cut \(a)-\(b)")
            linkChanged(a, b)
        case .restore(let a, let b):
            network.setCut(a, b, false)
            network.setOneWay(a, b, until: nil)
            note("fault over: \(a)-\(b) restored")
            linkChanged(a, b)
        case .oneWay(let from, let to, let until):
            network.setOneWay(from, to, until: until)
            count("one-way partition")
            note("fault: frames \(from)→\(to) lost until \(until / 1_000_000) ms")
        case .crash(let name):
            let node = nodes[name]!
            guard node.alive else { return }
            node.alive = false
            count("crash")
            note("fault: \(name) crashes")
            for peer in layout.nodes where peer != name { linkChanged(name, peer) }
            checker.crashed(at: clock.nanoseconds)
            crashedAt[name] = clock.nanoseconds
            control?.linkChanged(name, up: false)
        case .restart(let name):
            let node = nodes[name]!
            guard !node.alive else { return }
            boot(node)
            node.alive = true
            count(clock.nanoseconds - (crashedAt[name] ?? 0) < Self.graceNanoseconds ? "restart within the grace" : "restart past the grace")
            note("fault over: \(name) restarts")
            node.core.restoreAssignments()   // as a node restores its data directory
            for peer in layout.nodes where peer != name { linkChanged(name, peer) }
            if !controlCuts.contains(name) { control?.linkChanged(name, up: true) }
        case .clockJump(let name, let by):
            nodes[name]!.clock.offset &+= by
            count("clock jump")
            note("fault: \(name)'s clock jumps \(by / 1_000_000) ms ahead")
        case .clockFast(let name, let ppm):
            nodes[name]!.clock.runFast(ppm: ppm)
            count("fast clock")
            note("fault: \(name)'s clock runs \(ppm) ppm fast")
        case .controlCut(let name):
            guard controlCuts.insert(name).inserted else { return }
            count("controller cut off")
            note("fault: the controller's session to \(name) is cut")
            control?.linkChanged(name, up: false)
        case .controlRestore(let name):
            guard controlCuts.remove(name) != nil else { return }
            note("fault over: the controller's session to \(name) is back")
            if nodes[name]!.alive { control?.linkChanged(name, up: true) }
        case .clockNormal(let name):
            nodes[name]!.clock.runFast(ppm: 0)
            note("fault over: \(name)'s clock runs at the right rate")
        }
    }

    // MARK: running

    /// Runs the cluster until the global clock reads `target` (or `done()`, or an invariant broke):
    /// faults fall due, kernels run, frames arrive, and the clock jumps to the next moment anything happens.
    func advance(until target: UInt64, done: () -> Bool = { false }) {
        while clock.nanoseconds < target && report.failures.isEmpty && !done() {
            step += 1
            while nextFault < faults.count, faults[nextFault].at <= clock.nanoseconds {
                let fault = faults[nextFault].fault
                nextFault += 1
                apply(fault)
            }
            var moved = true
            while moved && report.failures.isEmpty {
                moved = false
                for name in layout.nodes where nodes[name]!.alive {
                    let node = nodes[name]!
                    if case .busy = node.core.runKernel(maxSlices: 200) { moved = true }
                    node.core.routerTick()
                    if case .busy = node.core.runKernel(maxSlices: 0) { moved = true }   // the tick may have woken tasks
                }
                while let (from, to, frame) = network.takeDue(now: clock.nanoseconds) {
                    moved = true
                    guard let node = nodes[to], node.alive, linkUp(from, to) else { continue }
                    report.framesDelivered += 1
                    do { try node.core.routerFrame(kind: frame.kind, payload: frame.payload, from: from) } catch {
                        fail("\(to) refused a frame from \(from): \(error)")
                    }
                }
            }
            // The next moment anything happens, on the global clock.
            var next = [target, network.nextDelivery ?? .max, nextFault < faults.count ? faults[nextFault].at : .max]
            for name in layout.nodes where nodes[name]!.alive {
                let node = nodes[name]!
                switch node.core.runKernel(maxSlices: 0) {
                case .idle(let deadline?): next.append(node.clock.global(deadline))
                case .busy: next.append(clock.nanoseconds)   // runnable still: no jump
                case .idle(nil): break
                }
            }
            clock.nanoseconds = max(clock.nanoseconds + 1, min(next.min()!, target))
        }
    }

    /// Runs the whole simulation and checks the invariants at the end too.
    public func run() -> SimulationReport {
        let end = options.seconds * Self.second
        if let orchestrator {
            orchestrator.run(until: end)   // `fireball apply`, then the controller (its steps drive the clock)
        } else {
            advance(until: end)
        }
        report.simulatedSeconds = clock.nanoseconds / Self.second
        // What every node holds now, for the trace of a failing run.
        var state: [String] = []
        for name in layout.nodes where nodes[name]!.alive {
            let node = nodes[name]!.core!
            state += node.router.stateSummary.map { "\(name) router: \($0)" }
            state.append("\(name) serves \(node.kernel.servedURIs.map(\.uri).joined(separator: " ")); knows \(node.router.remoteURIs.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " "))")
            state += node.kernel.taskIDs.map { "\(name) \(node.kernel.name(of: $0) ?? "?"): \(String(describing: node.kernel.state(of: $0)!))" }
        }
        if report.failures.isEmpty { finalChecks() }
        if !report.failures.isEmpty { state.forEach(note) }
        return report
    }

    private func finalChecks() {
        for failure in checker.finalFailures(now: clock.nanoseconds, progressSince: max(faultEnd, clock.nanoseconds - 4 * Self.second),
                                             senders: layout.guests.filter { $0.variant == .SENDER }.map(\.name)) {
            fail(failure)
        }
        if let orchestrator { placementCheck(orchestrator.manifest) }
        // Invariant 5: a guest that ends leaves nothing behind.
        for name in layout.nodes where nodes[name]!.alive {
            let node = nodes[name]!, kernel = node.core.kernel
            node.core.stopGuests()
            kernel.runUntilIdle()
            for kind in PartitionKind.allCases where kernel.partition(kind).usedBytes != node.bootUse[kind] {
                fail("\(name): its \(kind) partition holds \(kernel.partition(kind).usedBytes) bytes after every guest ended, \(node.bootUse[kind]!) at boot")
            }
        }
    }

    /// Invariant 4: once the faults are over, every replica the app wants runs on exactly one node,
    /// and nothing else runs.
    private func placementCheck(_ manifest: AppManifest) {
        for problem in placementProblems(manifest) { fail("\(options.quietSeconds) s after the faults ended, \(problem)") }
    }

    /// What keeps the placement from being the app's: a wanted replica on no node or on two, or a
    /// replica no app wants.
    func placementProblems(_ manifest: AppManifest) -> [String] {
        var problems: [String] = []
        var holders: [String: [String]] = [:]
        for name in layout.nodes where nodes[name]!.alive {
            for guest in nodes[name]!.core.report().guests where !guest.state.hasPrefix("exited") && !guest.state.hasPrefix("missing") {
                holders[guest.assignment.replica, default: []].append(name)
            }
        }
        let wanted = Set(manifest.modules.flatMap(\.replicaNames))
        for replica in wanted.sorted() where holders[replica]?.count != 1 {
            problems.append("replica \(replica) runs on \(holders[replica]?.joined(separator: ", ") ?? "no node"), not on exactly one")
        }
        for (replica, where_) in holders.sorted(by: { $0.key < $1.key }) where !wanted.contains(replica) {
            problems.append("replica \(replica) runs on \(where_.joined(separator: ", ")) but no app wants it")
        }
        return problems
    }

    /// When the last fault (or the restart that ends one) happened.
    private(set) var lastFaultAt: UInt64 = 0

    // MARK: observations

    private func observe(_ line: String, on node: Node) {
        // The digest is of "NANOSECONDS NODE LINE\n", hashed piece by piece (no string made).
        for piece in [String(clock.nanoseconds).utf8, " ".utf8, node.name.utf8, " ".utf8, line.utf8, "\n".utf8] {
            for byte in piece { report.digest = (report.digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        guard let start = Self.end(of: Self.simMarker, in: line) else {
            if Self.end(of: Self.panicMarker, in: line) != nil { fail("\(node.name): \(line)") }
            return
        }
        let words = line[start...].split(separator: " ")
        let task = line[line.index(after: line.firstIndex(of: "[")!)..<line.firstIndex(of: "]")!]
        guard words.count >= 3, let sender = UInt32(words[1]), let sequence = UInt32(words[2]) else { return fail("\(node.name): unreadable line \(line)") }
        let event: DeliveryChecker.Event
        switch words[0] {
        case "sent": event = .sent; report.sendsOK += 1
        case "failed": event = .failed(words.count > 3 ? Int32(words[3]) ?? 0 : 0); report.sendsFailed += 1
        case "got": event = .got; report.received += 1
        case "badvalue": return fail("\(node.name): \(task) got message \(sender):\(sequence) with a co_value that does not hold its numbers")
        case "novalue": return fail("\(node.name): \(task) could not allocate a co_value for \(sender):\(sequence) (error \(words.count > 3 ? words[3] : "?")): values leak")
        default: return fail("\(node.name): unknown line \(line)")
        }
        if let failure = checker.record(event, sender: sender, sequence: sequence, guest: String(task), node: node.name, at: clock.nanoseconds) {
            fail(failure)
        }
    }

    static let simMarker = Array("] INFO sim ".utf8), panicMarker = Array("KERNEL PANIC".utf8)

    /// Where the first `pattern` in `line` ends (a byte search: every console line passes here).
    static func end(of pattern: [UInt8], in line: String) -> String.Index? {
        let utf8 = line.utf8
        guard let first = pattern.first, utf8.count >= pattern.count else { return nil }
        var index = utf8.startIndex
        while let found = utf8[index...].firstIndex(of: first) {
            if utf8[found...].starts(with: pattern) { return utf8.index(found, offsetBy: pattern.count) }
            index = utf8.index(after: found)
        }
        return nil
    }

    func count(_ fault: String) { report.faults[fault, default: 0] += 1 }

    func note(_ line: String) {
        if options.trace { report.trace.append("\(clock.nanoseconds / 1_000_000) ms: \(line)") }
    }

    func fail(_ what: String) {
        let line = "seed \(options.seed), step \(step), \(clock.nanoseconds / 1_000_000) ms: \(what)"
        report.failures.append(line)
        note("INVARIANT BROKEN: \(what)")
    }
}

/// A node's clock: the simulation's, plus what its jumps added, and while it runs fast, `ppm` parts
/// per million of the time since then (a monotonic clock only goes ahead, never back).
final class NodeClock: KernelClock {
    let base: ManualClock
    /// What jumps and past fast periods added.
    var offset: UInt64 = 0
    /// The global time the clock started running fast, and how fast.
    private var fastSince: UInt64 = 0, ppm: UInt64 = 0
    private static let million: UInt64 = 1_000_000
    init(base: ManualClock) { self.base = base }

    var nanoseconds: UInt64 { base.nanoseconds &+ offset &+ gained(at: base.nanoseconds) }

    /// What running fast added since `fastSince`, at global time `now`.
    private func gained(at now: UInt64) -> UInt64 {
        guard ppm > 0, now > fastSince else { return 0 }
        let (high, low) = (now - fastSince).multipliedFullWidth(by: ppm)
        return Self.million.dividingFullWidth((high, low)).quotient
    }

    /// Runs `ppm` fast from now on (0: at the right rate again); what was gained so far is kept.
    func runFast(ppm: UInt64) {
        offset &+= gained(at: base.nanoseconds)
        fastSince = base.nanoseconds
        self.ppm = ppm
    }

    /// The first global time at which this clock reads `local` or later.
    func global(_ local: UInt64) -> UInt64 {
        guard local >= offset else { return 0 }
        let elapsed = local - offset   // global time plus what running fast gains: g + (g - f)·p/10⁶
        guard ppm > 0, elapsed > fastSince else { return elapsed }
        // g = f + ⌈(elapsed − f)·10⁶ / (10⁶ + p)⌉, then on by a nanosecond while the floor in `gained` falls short.
        let (high, low) = (elapsed - fastSince).multipliedFullWidth(by: Self.million)
        let (quotient, remainder) = (Self.million + ppm).dividingFullWidth((high, low))
        var global = fastSince + quotient + (remainder > 0 ? 1 : 0)
        while global &+ offset &+ gained(at: global) < local { global += 1 }
        return global
    }
}
