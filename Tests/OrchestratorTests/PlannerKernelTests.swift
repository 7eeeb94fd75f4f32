// The planner against reality: its TLSF model against Core's partitions, and its placements against
// nodes booted as a real node boots (a board's partition table, its device service, a router):
// "fits per the planner" ⇒ the guests spawn and run, opening what they use and the devices they
// are granted, and one more than the planner allows fails.
import Core
import Foundation
import HAL
import Testing
@testable import Orchestrator

@Suite struct PlannerKernelTests {
    /// One node of `board`, booted with its device service.
    func boot(_ board: Board) throws -> SimulatedCluster.Node { try SimulatedCluster([("n", board)])["n"] }

    /// How many replicas of `module` the planner puts on one empty node of `board`.
    func plannedCount(_ module: ModuleSpec, on board: Board) -> (Int, Plan) {
        var module = module
        module.replicas = 64
        let plan = Planner.plan(PlacementRequest(modules: [module], nodes: [Fixtures.node("n", board)]))
        return (plan.assignments.count, plan)
    }

    func expectSameUse(_ node: SimulatedCluster.Node, _ budget: NodeBudget, sourceLocation: SourceLocation = #_sourceLocation) {
        for kind in PartitionKind.allCases {
            #expect(node.usedBytes(kind) == budget[kind].usedBytes, "\(node.name) \(kind)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: ["esp32-c3", "microbit-v2", "cortex-m33", "linux-host"])
    func aFreshNodeIsABootedOne(boardName: String) throws {
        // Its device service already serves every device: a registry entry and a channel each.
        let board = try Fixtures.board(boardName)
        expectSameUse(try boot(board), NodeBudget(board: board))
    }

    @Test(arguments: ["esp32-c3", "microbit-v2", "cortex-m33"])
    func spawnsWhatThePlannerPlacesAndNoMore(boardName: String) throws {
        let board = try Fixtures.board(boardName)
        // One 64 KiB page where a board can hold it; no memory at all on the M33 (its guest partition is 24 KiB).
        let text = boardName == "cortex-m33" ? "(module (func (export \"run\")))" : "(module (memory 1 1) (func (export \"run\")))"
        let bytes = try Fixtures.wat(text)
        let (image, loaded) = try ModuleImage.inspect(bytes)
        let module = ModuleSpec(name: "g", image: image)
        let (count, plan) = plannedCount(module, on: board)
        #expect(count >= 1 && !plan.isComplete)
        let node = try boot(board), budget = KernelCosts.kernelBudgetBytes(module, on: board)
        for i in 0..<count { _ = try node.kernel.spawnGuest(loaded, name: "g\(i)", kernelBudgetBytes: budget, capability: node.process) }
        expectSameUse(node, plan.nodes[0].budget)
        #expect(throws: Kernel.SpawnError.self, "one more than the planner allows") {
            try node.kernel.spawnGuest(loaded, name: "extra", kernelBudgetBytes: budget, capability: node.process)
        }
    }

    @Test func servedURIsCostWhatThePlannerCharges() throws {
        let board = try Fixtures.board("esp32-c3")
        // Each guest serves its URI and waits on it, so its registry entry and channel stay.
        func server(_ uri: String) throws -> [UInt8] {
            try Fixtures.wat("""
                (module
                  (import "fireball" "channel_serve" (func $serve (param i32 i32) (result i32)))
                  (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
                  (memory 1 1) (data (i32.const 0) "\(uri)")
                  (func (export "run") (drop (call $recv (call $serve (i32.const 0) (i32.const \(uri.utf8.count))) (i32.const 64) (i32.const 292)))))
                """)
        }
        let uris = ["fireball://a/x", "fireball://bb/stream", "fireball://sensor/temperature"]
        var modules: [ModuleSpec] = []
        var loaded: [LoadedModule] = []
        for (i, uri) in uris.enumerated() {
            let (image, module) = try ModuleImage.inspect(try server(uri))
            modules.append(ModuleSpec(name: "s\(i)", image: image, serves: [uri]))
            loaded.append(module)
        }
        let plan = Planner.plan(PlacementRequest(modules: modules, nodes: [Fixtures.node("n", board)]))
        #expect(plan.isComplete)
        let node = try boot(board)
        for (i, module) in loaded.enumerated() {
            _ = try node.kernel.spawnGuest(module, name: "s\(i)", kernelBudgetBytes: KernelCosts.kernelBudgetBytes(modules[i], on: board),
                                           capability: node.process)
        }
        #expect(node.kernel.runUntilIdle() == .waiting(nextDeadline: nil))
        expectSameUse(node, plan.nodes[0].budget)
    }

    /// A client: opens gpio0 and `uri`, then waits on `uri` for good (so both channels stay); traps
    /// if either open fails. 512 bytes of memory, so the M33's guest partition holds a few.
    func client(_ uri: String) throws -> [UInt8] {
        Fixtures.withOneBytePages(try Fixtures.wat("""
            (module
              (import "fireball" "device_open" (func $device (param i32 i32) (result i32)))
              (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
              (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
              (memory 1 1) (data (i32.const 0) "gpio0") (data (i32.const 16) "\(uri)")
              (func (export "run") (local $channel i32)
                (if (i32.lt_s (call $device (i32.const 0) (i32.const 5)) (i32.const 0)) (then unreachable))
                (local.set $channel (call $open (i32.const 16) (i32.const \(uri.utf8.count))))
                (if (i32.lt_s (local.get $channel) (i32.const 0)) (then unreachable))
                (drop (call $recv (local.get $channel) (i32.const 128) (i32.const 292)))))
            """), size: 512)
    }

    @Test(arguments: ["esp32-c3", "microbit-v2", "cortex-m33"])
    func openedURIsAndDevicesCostWhatThePlannerCharges(boardName: String) throws {
        let board = try Fixtures.board(boardName)
        // Each client uses a URI only the far node serves (the near kernel makes a mirror for it)
        // and opens a device (a reply channel of its own): both paid by its kernel budget, which
        // the planner charges to the guest partition. More clients than that partition holds.
        var modules: [ModuleSpec] = [], binaries: [String: [UInt8]] = [:]
        for i in 0..<40 {
            let name = "c\(i < 10 ? "0" : "")\(i)", bytes = try client("fireball://far/s\(i)")
            modules.append(ModuleSpec(name: name, image: try ModuleImage.inspect(bytes).image, uses: ["fireball://far/s\(i)"], devices: ["gpio"]))
            binaries[name] = bytes
        }
        let plan = Planner.plan(PlacementRequest(modules: modules, nodes: [Fixtures.node("near", board, devices: ["gpio"])]))
        let placed = plan.nodes[0].replicas
        #expect(placed.count >= 2 && !plan.isComplete)
        #expect(plan.unplaced.allSatisfy { $0.reasons.contains { $0.contains("guest heap") || $0.contains("stacks partition") } }, "\(plan.unplaced.first?.reasons ?? [])")

        let cluster = try SimulatedCluster([("near", board), ("far", try Fixtures.board("linux-host"))])
        for i in 0..<40 { _ = try cluster["far"].kernel.serve("fireball://far/s\(i)") }
        try cluster.run(until: 0)   // the far node announces them
        let near = cluster["near"]
        let module = { (name: String) in modules.first { $0.name == name }! }
        let tasks = try placed.map { try near.spawn(binaries[$0]!, name: $0, devices: ["gpio"], module: module($0)) }
        try cluster.run(until: 1_000_000_000)
        #expect(tasks.allSatisfy { near.kernel.state(of: $0) == .blocked }, "each opened both and waits on its mirror")
        #expect(near.kernel.openChannelCount == board.devices.count + 2 * placed.count)
        expectSameUse(near, plan.nodes[0].budget)

        // One more than the planner allows does not start, and the node goes on.
        let extra = try #require(plan.unplaced.first).replica
        #expect(throws: Kernel.SpawnError.self) { try near.spawn(binaries[extra]!, name: extra, devices: ["gpio"], module: module(extra)) }
        try cluster.run(until: 2_000_000_000)
        #expect(near.kernel.panicReport == nil)
        #expect(tasks.allSatisfy { near.kernel.state(of: $0) == .blocked })
    }

    @Test func usingWhatItServesCostsNoMirror() throws {
        let board = try Fixtures.board("microbit-v2")
        let uri = "fireball://loop/x"
        let bytes = Fixtures.withOneBytePages(try Fixtures.wat("""
            (module
              (import "fireball" "channel_serve" (func $serve (param i32 i32) (result i32)))
              (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
              (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
              (memory 1 1) (data (i32.const 0) "\(uri)")
              (func (export "run")
                (drop (call $serve (i32.const 0) (i32.const \(uri.utf8.count))))
                (drop (call $recv (call $open (i32.const 0) (i32.const \(uri.utf8.count))) (i32.const 128) (i32.const 292)))))
            """), size: 512)
        let module = ModuleSpec(name: "loop", image: try ModuleImage.inspect(bytes).image, serves: [uri], uses: [uri])
        #expect(ModuleRequirements.of(module, on: board).charges.allSatisfy { $0.partition != .kernel })
        #expect(KernelCosts.kernelBudgetBytes(module, on: board) == KernelBudget.bytes(serves: [uri], uses: [], devices: 0))
        let plan = Planner.plan(PlacementRequest(modules: [module], nodes: [Fixtures.node("n", board)]))
        let node = try boot(board)
        let task = try node.spawn(bytes, name: "loop", module: module)
        #expect(node.kernel.runUntilIdle() == .waiting(nextDeadline: nil))
        #expect(node.kernel.state(of: task) == .blocked)
        expectSameUse(node, plan.nodes[0].budget)
    }

    @Test func tier1ModulesComeFromTheTier1Partition() throws {
        let board = try Fixtures.board("esp32-c3")   // tier1: 32 KiB
        let bytes = try Fixtures.wat("(module (memory 0 0) (func (export \"run\")))")
        let (image, loaded) = try ModuleImage.inspect(bytes)
        let module = ModuleSpec(name: "t", image: image, tier: .tier1)
        let (count, plan) = plannedCount(module, on: board)
        let budget = KernelCosts.kernelBudgetBytes(module, on: board)
        #expect(count == 32 * 1024 / (4 * 1024 + 8 + budget + 8), "32 KiB of tier-1 holds value stacks of 4 KiB and kernel budgets with their headers")
        let node = try boot(board)
        for i in 0..<count {
            _ = try node.kernel.spawnGuest(loaded, name: "t\(i)", role: ModuleTier.tier1.role, kernelBudgetBytes: budget, capability: node.process)
        }
        expectSameUse(node, plan.nodes[0].budget)
        #expect(throws: Kernel.SpawnError.self) {
            try node.kernel.spawnGuest(loaded, name: "extra", role: .service, kernelBudgetBytes: budget, capability: node.process)
        }
    }

    @Test func floatModulesAreRefusedWhereTheLoaderRefusesThem() throws {
        let bytes = try Fixtures.wat("(module (func (export \"run\") (drop (f32.add (f32.const 1) (f32.const 2)))))")
        let (image, _) = try ModuleImage.inspect(bytes)
        #expect(image.usesFloat)
        let c3 = try Fixtures.board("esp32-c3"), microbit = try Fixtures.board("microbit-v2")
        #expect(throws: WasmError.self) { try LoadedModule.load(bytes, options: c3.loadOptions) }
        _ = try LoadedModule.load(bytes, options: microbit.loadOptions)
        let plan = Planner.plan(PlacementRequest(modules: [ModuleSpec(name: "f", image: image)], nodes: [Fixtures.node("c3", c3), Fixtures.node("mb", microbit)]))
        #expect(plan.node(of: "f") == "mb")
        let intOnly = try ModuleImage.inspect(try Fixtures.wat("(module (func (export \"run\") (drop (i32.add (i32.const 1) (i32.const 2)))))")).image
        #expect(!intOnly.usesFloat)
    }

    /// The model's used bytes match a real partition after every allocation it accepts, and it only
    /// refuses near the end (when the arena really is nearly full).
    @Test func tlsfModelMatchesCorePartitions() {
        var generator = SplitMix(seed: 42)
        for round in 0..<200 {
            let capacity = 4096 + Int(generator.next() % 200_000)
            let real = Partition(kind: .guest, bytes: capacity)
            var model = PartitionBudget(kind: .guest, bytes: capacity)
            #expect(model.capacity == real.capacity && model.usedBytes == real.usedBytes)
            while true {
                let request = round % 2 == 0 ? Int(generator.next() % 9000) : [256, 1024, 4096, 65536, 1000, 24][Int(generator.next() % 6)]
                guard let next = model.charging([request]) else {
                    // Refused: the real partition has at most a little more than this left.
                    #expect(real.largestFreeBlock < TLSFModel.payloadBytes(request) + request / 8 + 64, "request \(request), capacity \(capacity)")
                    break
                }
                let pointer = real.allocate(request)
                #expect(pointer != nil, "the model accepted \(request) bytes the partition refused (capacity \(capacity))")
                if pointer == nil { break }
                model = next
                #expect(model.usedBytes == real.usedBytes)
            }
        }
    }

    static func localCluster() throws -> ClusterInventory {
        try ClusterInventory.load(path: "\(Fixtures.root)/Deploy/clusters/local.yaml", boardsDirectory: Fixtures.boardsDirectory)
    }

    /// Each node's share, spawned on a node of its board, fits exactly as planned.
    func expectSpawnsAsPlanned(_ plan: Plan, _ app: AppManifest, on cluster: ClusterInventory, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for usage in plan.nodes {
            let node = try boot(cluster.nodes.first { $0.name == usage.node }!.board)
            for replica in usage.replicas {
                let module = app.modules.first { $0.name == replica }!
                try node.spawn([UInt8](FileManager.default.contents(atPath: module.wasmPath)!), name: replica, devices: module.devices, module: module)
            }
            for kind in [PartitionKind.guest, .runtime, .stacks] {
                #expect(node.usedBytes(kind) == usage.budget[kind].usedBytes, "\(usage.node) \(kind)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Starts every replica on the node the plan gives it, in one simulated cluster of `nodes`, and
    /// runs it for `seconds` of its clock.
    func runAsPlanned(_ plan: Plan, _ app: AppManifest, on nodes: [NodeSpec], seconds: UInt64) throws -> SimulatedCluster {
        let cluster = try SimulatedCluster(nodes.map { ($0.name, $0.board) })
        for assignment in plan.assignments {
            let module = app.modules.first { $0.name == assignment.module }!
            try cluster[assignment.node].spawn([UInt8](FileManager.default.contents(atPath: module.wasmPath)!), name: assignment.replica,
                                               devices: module.devices, restart: module.restart, module: module)
        }
        try cluster.run(until: seconds * 1_000_000_000)
        return cluster
    }

    @Test func theExampleAppsPlanOnTheLocalCluster() throws {
        let cluster = try Self.localCluster()
        let app = try AppManifest.load(path: "\(Fixtures.root)/Deploy/apps/sensors.yaml")
        try Planner.check(app, against: cluster)
        let plan = Planner.plan(PlacementRequest(manifest: app, inventory: cluster))
        #expect(plan.isComplete, "\(plan.failure.map { "\($0)" } ?? "")")
        #expect(plan.node(of: "pong") == "m33", "mains power; the tightest fit, which it fills (one 16 KiB guest)")
        #expect(plan.node(of: "ping") == "microbit", "its partner's node is full")
        #expect(plan.node(of: "producer") == "microbit" && plan.node(of: "consumer") == "microbit", "an FPU (and an ADC); the M33 is full")
        try expectSpawnsAsPlanned(plan, app, on: cluster)
    }

    @Test func theGreenhouseTakesThreeNodesAndFitsOnAnyTwo() throws {
        let cluster = try Self.localCluster()
        let app = try AppManifest.load(path: "\(Fixtures.root)/Deploy/apps/greenhouse.yaml")
        try Planner.check(app, against: cluster)
        let plan = Planner.plan(PlacementRequest(manifest: app, inventory: cluster))
        #expect(plan.isComplete, "\(plan.failure.map { "\($0)" } ?? "")")
        // The actuator goes first (it serves a URI; names break the tie) and fills the M33; the
        // aggregator takes the tighter of the other two; the sensor needs a probe (c3, m33).
        #expect(plan.placement == ["actuator": "m33", "aggregator": "microbit", "sensor": "c3"])
        try expectSpawnsAsPlanned(plan, app, on: cluster)
        // Run, the three talk across nodes (each use is a mirror), and every partition of every
        // node holds what the planner charged, to the byte: device service, served URIs, mirrors, device replies.
        let running = try runAsPlanned(plan, app, on: cluster.nodes, seconds: 3)
        #expect(running["microbit"].console.contains { $0.contains("aggregator: connected to the actuator") }, "\(running["microbit"].console)")
        for usage in plan.nodes {
            #expect(running[usage.node].kernel.panicReport == nil)
            expectSameUse(running[usage.node], usage.budget)
        }
        // The aggregator is stopped and started again: it serves its URI on a fresh channel, and the
        // closed one gave its bytes back (a restart or a move costs nothing lasting).
        let microbit = running["microbit"], aggregator = app.modules.first { $0.name == "aggregator" }!
        microbit.kernel.kill(microbit.kernel.taskIDs.first { microbit.kernel.name(of: $0) == "aggregator" }!, capability: microbit.process)
        try microbit.spawn([UInt8](FileManager.default.contents(atPath: aggregator.wasmPath)!), name: "aggregator", devices: aggregator.devices, module: aggregator)
        try running.run(until: 6_000_000_000)
        #expect(microbit.console.filter { $0.contains("aggregator: connected to the actuator") }.count == 2, "readings reach the new one")
        for usage in plan.nodes { expectSameUse(running[usage.node], usage.budget) }

        for gone in ["c3", "microbit", "m33"] {
            // Planned afresh without that node, all three fit on the other two.
            let rest = cluster.nodes.filter { $0.name != gone }
            let fresh = Planner.plan(PlacementRequest(modules: app.modules, nodes: rest))
            #expect(fresh.isComplete, "without \(gone): \(fresh.failure.map { "\($0)" } ?? "")")
            #expect(fresh.node(of: "sensor") != fresh.node(of: "actuator"))
            // Failover that keeps the others where they are moves only that node's module; for c3
            // it cannot (the sensor's other probe node, the M33, is full), so c3 needs the fresh plan.
            let failover = Planner.plan(PlacementRequest(manifest: app, inventory: cluster, conditions: [gone: NodeCondition(status: .dead)],
                                                         current: plan.placement))
            #expect(failover.isComplete == (gone != "c3"), "\(gone): \(failover.failure.map { "\($0)" } ?? "")")
            #expect(failover.assignments.filter { !$0.kept }.map(\.node).allSatisfy { $0 != gone })
        }
    }

    /// The greenhouse without its affinity rules, all three on one node of `name` in the local cluster.
    func greenhouseOnOneNode(_ name: String) throws -> (Plan, AppManifest, NodeSpec) {
        var app = try AppManifest.load(path: "\(Fixtures.root)/Deploy/apps/greenhouse.yaml")
        for i in app.modules.indices {
            app.modules[i].nodeLabels = [:]
            app.modules[i].avoidModules = []
        }
        let node = try Self.localCluster().nodes.first { $0.name == name }!
        return (Planner.plan(PlacementRequest(modules: app.modules, nodes: [node])), app, node)
    }

    @Test(arguments: ["microbit", "c3"])
    func threeGreenhouseGuestsRunOnOneBoard(name: String) throws {
        // Their memories (3 × 20 KiB), value stacks and kernel budgets fit the guest partition; the
        // kernel partition holds only the node's own device service (it once ran out here, with the
        // guests' channels in it).
        let (plan, app, node) = try greenhouseOnOneNode(name)
        #expect(plan.isComplete, "\(plan.failure.map { "\($0)" } ?? "")")
        let running = try runAsPlanned(plan, app, on: [node], seconds: 3)
        let board = running[node.name]
        #expect(board.kernel.panicReport == nil)
        #expect(board.console.contains { $0.contains("aggregator: connected to the actuator") }, "\(board.console)")
        expectSameUse(board, plan.nodes[0].budget)
        #expect(board.usedBytes(.kernel) == NodeBudget(board: node.board)[.kernel].usedBytes, "nothing of the guests' in the kernel partition")
    }
}
