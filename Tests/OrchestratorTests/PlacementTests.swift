// The placement engine: fit, each constraint, explanations, determinism, failover and drain.
import Core
import HAL
import Testing
@testable import Orchestrator

@Suite struct PlacementTests {
    let c3: Board, m33: Board, microbit: Board
    init() throws {
        c3 = try Fixtures.board("esp32-c3")
        m33 = try Fixtures.board("cortex-m33")
        microbit = try Fixtures.board("microbit-v2")
    }

    @Test func placesWhereEveryPartitionFits() {
        // 16 KiB + 4 KiB value stack fits the M33's 24 KiB guest partition once; a 70 KiB module only
        // fits the micro:bit's 84 KiB, and then nothing else does.
        let plan = Planner.plan(PlacementRequest(modules: [Fixtures.module("small", memory: 16 * 1024), Fixtures.module("big", memory: 70 * 1024)],
                                                 nodes: [Fixtures.node("m", m33), Fixtures.node("b", microbit)]))
        #expect(plan.isComplete)
        #expect(plan.node(of: "big") == "b" && plan.node(of: "small") == "m", "largest first keeps the roomy board for the big module")
        let m = plan.nodes.first { $0.node == "m" }!
        let budget = KernelCosts.kernelBudgetBytes(Fixtures.module("small", memory: 16 * 1024), on: m33)
        #expect(budget == KernelBudget.bytes(serves: [], uses: [], devices: 0))
        #expect(m.budget[.guest].usedBytes == 16 + (16 * 1024 + 8) + (4096 + 8) + (budget + 8))
        #expect(m.budget[.runtime].usedBytes == 16 + 256 + 8 && m.budget[.stacks].usedBytes == 16 + KernelCosts.frameStackBytes(stackSlotBytes: 1024) + 8)
    }

    @Test func explainsACapacityFailurePerPartition() {
        let plan = Planner.plan(PlacementRequest(modules: [Fixtures.module("sensor", memory: 44 * 1024, replicas: 3)],
                                                 nodes: [Fixtures.node("a", microbit), Fixtures.node("b", m33)]))
        #expect(!plan.isComplete)
        #expect(plan.assignments.map(\.replica) == ["sensor-1"])
        #expect(plan.unplaced.map(\.replica) == ["sensor-2", "sensor-3"])
        let reason = plan.unplaced[0].reasons.joined(separator: "\n")
        #expect(reason.contains("sensor needs 48.2 KiB guest heap (linear memory 44.0 KiB + value stack 4.0 KiB + kernel budget 144 B"), "\(reason)")
        #expect(reason.contains("the largest free guest block is 35.8 KiB on a"), "\(reason)")
        #expect(reason.contains("(guest full: a, b)"), "\(reason)")
        #expect(plan.failure?.description.hasPrefix("sensor-2 cannot be placed:") == true)
    }

    @Test func labelsDevicesAndTheFPURule() {
        let nodes = [Fixtures.node("c3", c3, labels: ["power": "mains"], devices: ["i2c", "adc"]),
                     Fixtures.node("mb", microbit, labels: ["power": "battery"], devices: ["adc"]),
                     Fixtures.node("m33", m33, labels: ["power": "battery"])]
        let plan = Planner.plan(PlacementRequest(modules: [
            Fixtures.module("mains", memory: 1024, labels: ["power": "mains"]),
            Fixtures.module("nobattery", memory: 1024, avoidLabels: ["power": "battery"]),
            Fixtures.module("i2c", memory: 1024, devices: ["i2c"]),
            Fixtures.module("float", memory: 1024, devices: ["adc"], float: true),
            Fixtures.module("board", memory: 1024, labels: ["board": "cortex-m33"]),
        ], nodes: nodes))
        #expect(plan.isComplete)
        #expect(plan.node(of: "mains") == "c3" && plan.node(of: "nobattery") == "c3" && plan.node(of: "i2c") == "c3")
        #expect(plan.node(of: "float") == "mb", "adc and an FPU: only the micro:bit")
        #expect(plan.node(of: "board") == "m33")
        // Nowhere to go: every reason is listed with the nodes it ruled out.
        let stuck = Planner.plan(PlacementRequest(modules: [Fixtures.module("x", memory: 1024, devices: ["i2c"], float: true)], nodes: nodes))
        #expect(stuck.unplaced.first?.reasons == ["no i2c device: m33, mb", "no FPU (x uses floating point): c3"])
    }

    @Test func spreadAndAntiAffinity() {
        let nodes = (1...4).map { Fixtures.node("n\($0)", c3, labels: ["zone": $0 <= 2 ? "z1" : "z2"]) }
        let plan = Planner.plan(PlacementRequest(modules: [
            Fixtures.module("web", memory: 1024, replicas: 2, spread: "zone"),
            Fixtures.module("db", memory: 1024, replicas: 4, spread: "node"),
            Fixtures.module("noisy", memory: 1024, avoidModules: ["quiet"]),
            Fixtures.module("quiet", memory: 1024),
        ], nodes: nodes))
        #expect(plan.isComplete)
        let zones = Set(["web-1", "web-2"].map { name in nodes.first { $0.name == plan.node(of: name) }!.labels["zone"]! })
        #expect(zones == ["z1", "z2"])
        #expect(Set((1...4).map { plan.node(of: "db-\($0)") }).count == 4)
        #expect(plan.node(of: "noisy") != plan.node(of: "quiet"))
        // A third replica spread by zone has nowhere to go; the explanation says which zones are taken.
        let three = Planner.plan(PlacementRequest(modules: [Fixtures.module("web", memory: 1024, replicas: 3, spread: "zone")], nodes: nodes))
        #expect(three.unplaced.map(\.replica) == ["web-3"])
        let reasons = three.unplaced[0].reasons.joined(separator: "\n")
        #expect(reasons.contains("spread by zone: zone=z1 already holds a replica of web"), "\(reasons)")
        #expect(reasons.contains("spread by zone: zone=z2 already holds a replica of web"), "\(reasons)")
    }

    @Test func oneServerPerURIPerNodeAndPartnersTogether() {
        let nodes = [Fixtures.node("a", c3), Fixtures.node("b", c3), Fixtures.node("c", c3)]
        let plan = Planner.plan(PlacementRequest(modules: [
            Fixtures.module("echo", memory: 1024, serves: ["fireball://echo/x"], replicas: 2),
            Fixtures.module("client", memory: 200 * 1024, uses: ["fireball://echo/x"]),
            Fixtures.module("filler", memory: 100 * 1024),
        ], nodes: nodes))
        #expect(plan.isComplete)
        #expect(plan.node(of: "echo-1") != plan.node(of: "echo-2"), "the registry holds one server per URI per node")
        let client = plan.assignments.first { $0.replica == "client" }!
        #expect([plan.node(of: "echo-1"), plan.node(of: "echo-2")].contains(client.node), "placed beside a server of what it uses")
        #expect(client.partnersOnNode == ["echo"])
        // Serving a URI costs a registry entry, a channel and a handle in the server's kernel
        // budget; using one, a mirror channel and a handle (charged even beside its server).
        // The node's own kernel and subsystem partitions hold only its device service.
        let booted = NodeBudget(board: c3), channel = TLSFModel.blockBytes(KernelCosts.channelBytes), handle = TLSFModel.blockBytes(KernelBudget.handleBytes)
        for usage in plan.nodes {
            #expect(usage.budget[.kernel].usedBytes == booted[.kernel].usedBytes && usage.budget[.subsystem].usedBytes == booted[.subsystem].usedBytes)
        }
        let empty = KernelBudget.bytes(serves: [], uses: [], devices: 0)
        #expect(KernelBudget.bytes(serves: [], uses: ["fireball://echo/x"], devices: 0) == empty + channel + handle)
        #expect(KernelBudget.bytes(serves: ["fireball://echo/x"], uses: ["fireball://echo/x"], devices: 0)
                == empty + channel + handle + TLSFModel.blockBytes("fireball://echo/x".utf8.count + 16))
        #expect(booted[.kernel].usedBytes == 16 + c3.devices.count * TLSFModel.blockBytes(KernelCosts.channelBytes))
    }

    @Test func sameInputSamePlanInAnyOrder() {
        var generator = SplitMix(seed: 7)
        let boards = [c3, m33, microbit]
        let nodes = (0..<12).map { i in Fixtures.node("node-\(i)", boards[i % 3], labels: ["zone": "z\(i % 4)"], devices: i % 2 == 0 ? ["adc"] : []) }
        let modules = (0..<40).map { i in
            Fixtures.module("m\(i)", memory: 1024 * Int(generator.next() % 40 + 1), serves: i % 5 == 0 ? ["fireball://s\(i)/x"] : [],
                            uses: i % 5 == 1 ? ["fireball://s\(i - 1)/x"] : [], devices: i % 7 == 0 ? ["adc"] : [],
                            replicas: i % 9 == 0 ? 2 : 1, spread: i % 9 == 0 ? "zone" : nil)
        }
        let first = Planner.plan(PlacementRequest(modules: modules, nodes: nodes))
        #expect(first.assignments.count > 30)
        for _ in 0..<5 {
            var shuffler = SplitMix(seed: generator.next())
            let again = Planner.plan(PlacementRequest(modules: modules.shuffled(using: &shuffler), nodes: nodes.shuffled(using: &shuffler)))
            #expect(again.assignments == first.assignments)
            #expect(again.unplaced == first.unplaced)
            #expect(again.nodes.map(\.budget) == first.nodes.map(\.budget))
        }
    }

    @Test func aDeadNodesReplicasMoveAndTheRestStay() {
        let nodes = [Fixtures.node("a", c3, labels: ["zone": "1"]), Fixtures.node("b", c3, labels: ["zone": "2"]),
                     Fixtures.node("c", c3, labels: ["zone": "3"])]
        let modules = [Fixtures.module("web", memory: 64 * 1024, replicas: 2, spread: "zone"),
                       Fixtures.module("worker", memory: 64 * 1024, replicas: 3)]
        let before = Planner.plan(PlacementRequest(modules: modules, nodes: nodes))
        #expect(before.isComplete)
        let victim = before.node(of: "web-1")!
        let after = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: [victim: NodeCondition(status: .dead)],
                                                  current: before.placement))
        #expect(after.isComplete)
        for assignment in after.assignments {
            let old = before.node(of: assignment.replica)!
            if old == victim {
                #expect(assignment.node != victim && assignment.previousNode == victim && !assignment.kept)
            } else {
                #expect(assignment.node == old && assignment.kept && assignment.previousNode == nil, "\(assignment.replica) stays")
            }
        }
        #expect(after.node(of: "web-1") != after.node(of: "web-2"), "spread still holds after failover")
        #expect(after.nodes.first { $0.node == victim }?.replicas.isEmpty == true)
        // Draining works the same way; with two nodes draining, the web spread cannot hold.
        let others = nodes.map(\.name).filter { $0 != victim }
        let drained = Planner.plan(PlacementRequest(modules: modules, nodes: nodes,
                                                    conditions: [victim: NodeCondition(status: .dead), others[0]: NodeCondition(status: .draining)],
                                                    current: after.placement))
        #expect(!drained.isComplete)
        #expect(drained.unplaced.allSatisfy { $0.reasons.first?.hasPrefix("dead: \(victim)") == true }, "\(drained.unplaced)")
    }

    @Test func reportedFreeSpaceReplacesTheFreshNodeModel() {
        // The node says 20 KiB of its guest partition are free, in one block.
        var budgets = NodeBudget(board: c3).partitions
        budgets[PartitionKind.guest.index] = PartitionBudget(kind: .guest, capacity: budgets[PartitionKind.guest.index].capacity,
                                                             freeBytes: 20 * 1024, largestFreeBlockBytes: 20 * 1024)
        let request = PlacementRequest(modules: [Fixtures.module("x", memory: 16 * 1024)], nodes: [Fixtures.node("a", c3)],
                                       conditions: ["a": NodeCondition(reported: NodeBudget(partitions: budgets))])
        let plan = Planner.plan(request)
        #expect(!plan.isComplete, "16 KiB + 4 KiB value stack + headers > 20 KiB")
        #expect(plan.unplaced[0].reasons[0].contains("the largest free guest block is 20.0 KiB on a"), "\(plan.unplaced[0].reasons)")
        let fits = Planner.plan(PlacementRequest(modules: [Fixtures.module("x", memory: 15 * 1024)], nodes: [Fixtures.node("a", c3)],
                                                 conditions: request.conditions))
        #expect(fits.isComplete)
    }

    @Test func reportPrintsBars() {
        let plan = Planner.plan(PlacementRequest(modules: [Fixtures.module("x", memory: 8 * 1024 - 32)], nodes: [Fixtures.node("a", m33)]))
        let text = plan.report(barWidth: 12)
        #expect(text.contains("  x        -> a"), "\(text)")
        #expect(text.contains("guest      [######......] 12.1 KiB / 24.0 KiB"), "\(text)")
    }
}

/// SplitMix64: a seeded generator, so shuffles and synthetic inputs replay exactly.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
