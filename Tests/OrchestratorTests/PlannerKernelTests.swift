// The planner against reality: its TLSF model against Core's partitions, and its placements against
// real kernel spawns on a board's partition table ("fits per the planner" ⇒ the spawn succeeds,
// and one more than the planner allows fails).
import Core
import Foundation
import HAL
import Testing
@testable import Orchestrator

@Suite struct PlannerKernelTests {
    func boot(_ board: Board) -> Kernel {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50), executionLimits: board.executionLimits),
                            partitions: board.partitions)
        kernel.console = { _ in }
        return kernel
    }

    /// How many replicas of `module` the planner puts on one empty node of `board`.
    func plannedCount(_ module: ModuleSpec, on board: Board) -> (Int, Plan) {
        var module = module
        module.replicas = 64
        let plan = Planner.plan(PlacementRequest(modules: [module], nodes: [Fixtures.node("n", board)]))
        return (plan.assignments.count, plan)
    }

    func expectSameUse(_ kernel: Kernel, _ plan: Plan, sourceLocation: SourceLocation = #_sourceLocation) {
        for kind in PartitionKind.allCases {
            #expect(kernel.partition(kind).usedBytes == plan.nodes[0].budget[kind].usedBytes, "\(kind)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: ["esp32-c3", "microbit-v2", "cortex-m33"])
    func spawnsWhatThePlannerPlacesAndNoMore(boardName: String) throws {
        let board = try Fixtures.board(boardName)
        // One 64 KiB page where a board can hold it; no memory at all on the M33 (its guest partition is 24 KiB).
        let text = boardName == "cortex-m33" ? "(module (func (export \"run\")))" : "(module (memory 1 1) (func (export \"run\")))"
        let bytes = try Fixtures.wat(text)
        let (image, loaded) = try ModuleImage.inspect(bytes)
        let (count, plan) = plannedCount(ModuleSpec(name: "g", image: image), on: board)
        #expect(count >= 1 && !plan.isComplete)
        let kernel = boot(board)
        let capabilities = kernel.mintCapabilities()
        for i in 0..<count { _ = try kernel.spawnGuest(loaded, name: "g\(i)", capability: capabilities.process) }
        expectSameUse(kernel, plan)
        #expect(throws: Kernel.SpawnError.self, "one more than the planner allows") {
            try kernel.spawnGuest(loaded, name: "extra", capability: capabilities.process)
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
        let kernel = boot(board)
        let capabilities = kernel.mintCapabilities()
        for (i, module) in loaded.enumerated() { _ = try kernel.spawnGuest(module, name: "s\(i)", capability: capabilities.process) }
        #expect(kernel.runUntilIdle() == .waiting(nextDeadline: nil))
        expectSameUse(kernel, plan)
    }

    @Test func tier1ModulesComeFromTheTier1Partition() throws {
        let board = try Fixtures.board("esp32-c3")   // tier1: 32 KiB
        let bytes = try Fixtures.wat("(module (memory 0 0) (func (export \"run\")))")
        let (image, loaded) = try ModuleImage.inspect(bytes)
        let (count, plan) = plannedCount(ModuleSpec(name: "t", image: image, tier: .tier1), on: board)
        #expect(count == 7, "32 KiB of tier-1 holds 7 value stacks of 4 KiB with their headers")
        let kernel = boot(board)
        let capabilities = kernel.mintCapabilities()
        for i in 0..<count { _ = try kernel.spawnGuest(loaded, name: "t\(i)", role: ModuleTier.tier1.role, capability: capabilities.process) }
        expectSameUse(kernel, plan)
        #expect(throws: Kernel.SpawnError.self) { try kernel.spawnGuest(loaded, name: "extra", role: .service, capability: capabilities.process) }
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

    /// Each node's share, spawned on a kernel of its board, fits exactly as planned.
    func expectSpawnsAsPlanned(_ plan: Plan, _ app: AppManifest, on cluster: ClusterInventory, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for usage in plan.nodes {
            let node = cluster.nodes.first { $0.name == usage.node }!
            let kernel = boot(node.board)
            let capabilities = kernel.mintCapabilities()
            for replica in usage.replicas {
                let module = app.modules.first { $0.name == replica }!
                let bytes = [UInt8](FileManager.default.contents(atPath: module.wasmPath)!)
                _ = try kernel.spawnGuest(try LoadedModule.load(bytes, options: node.board.loadOptions), name: replica, capability: capabilities.process)
            }
            for kind in [PartitionKind.guest, .runtime, .stacks] {
                #expect(kernel.partition(kind).usedBytes == usage.budget[kind].usedBytes, "\(usage.node) \(kind)", sourceLocation: sourceLocation)
            }
        }
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
}
