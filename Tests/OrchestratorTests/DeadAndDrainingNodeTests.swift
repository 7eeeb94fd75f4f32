// Planning around dead and draining nodes: they take nothing, so they must not count as places a
// replica could go, and a replica that cannot leave one is named together with that node.
import HAL
import Testing
@testable import Orchestrator

@Suite struct DeadAndDrainingNodeTests {
    let c3: Board, m33: Board, microbit: Board
    init() throws {
        c3 = try Fixtures.board("esp32-c3")
        m33 = try Fixtures.board("cortex-m33")
        microbit = try Fixtures.board("microbit-v2")
    }

    static func localCluster() throws -> ClusterInventory {
        try ClusterInventory.load(path: "\(Fixtures.root)/Deploy/clusters/local.yaml", boardsDirectory: Fixtures.boardsDirectory)
    }

    static func greenhouse() throws -> AppManifest { try AppManifest.load(path: "\(Fixtures.root)/Deploy/apps/greenhouse.yaml") }

    @Test func aDeadNodeDoesNotMakeAModuleLookFlexible() {
        // "probe" fits a (dead) and m; "server" fits anywhere and wins a tie (it serves a URI).
        // Counting a, probe looked as flexible as server, which went first and took the M33 (room for
        // one), probe's only live home.
        let nodes = [Fixtures.node("a", c3, labels: ["probe": "soil"]), Fixtures.node("m", m33, labels: ["probe": "soil"]),
                     Fixtures.node("b", microbit)]
        let modules = [Fixtures.module("probe", labels: ["probe": "soil"]), Fixtures.module("server", serves: ["fireball://s/x"])]
        let plan = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: ["a": NodeCondition(status: .dead)]))
        #expect(plan.isComplete, "\(plan.failure.map { "\($0)" } ?? "")")
        #expect(plan.placement == ["probe": "m", "server": "b"])
        #expect(plan.nodes.first { $0.node == "a" }?.replicas == [])
    }

    @Test(arguments: [NodeStatus.dead, .draining])
    func theGreenhouseWithoutAnyOneNodeIsPlannedAsIfThatNodeWereAbsent(status: NodeStatus) throws {
        // `fireball plan --dead c3`: the sensor's only live probe node is the M33, so it goes first.
        let cluster = try Self.localCluster()
        let app = try Self.greenhouse()
        for gone in ["c3", "microbit", "m33"] {
            let plan = Planner.plan(PlacementRequest(manifest: app, inventory: cluster, conditions: [gone: NodeCondition(status: status)]))
            let absent = Planner.plan(PlacementRequest(modules: app.modules, nodes: cluster.nodes.filter { $0.name != gone }))
            #expect(plan.isComplete, "\(status) \(gone): \(plan.failure.map { "\($0)" } ?? "")")
            #expect(plan.placement == absent.placement, "\(status) \(gone)")
            let node = try #require(plan.nodes.first { $0.node == gone })
            #expect(node.status == status && node.replicas.isEmpty)
        }
        let withoutC3 = Planner.plan(PlacementRequest(manifest: app, inventory: cluster, conditions: ["c3": NodeCondition(status: status)]))
        #expect(withoutC3.placement == ["sensor": "m33", "actuator": "microbit", "aggregator": "microbit"])
    }

    @Test func deadAndDrainingNodesCountForNothing() {
        // On random clusters, marking nodes dead or draining gives exactly the plan of the cluster
        // without them: no order, tie-break or budget may depend on a node that takes nothing.
        var generator = SplitMix(seed: 11)
        let boards = [c3, m33, microbit]
        for round in 0..<20 {
            let nodes = (0..<6).map { i in
                Fixtures.node("node-\(i)", boards[Int(generator.next() % 3)], labels: ["zone": "z\(generator.next() % 3)"],
                              devices: generator.next() % 2 == 0 ? ["adc"] : [])
            }
            let modules = (0..<10).map { i in
                Fixtures.module("m\(i)", memory: 1024 * Int(generator.next() % 24 + 1), serves: i % 4 == 0 ? ["fireball://s\(i)/x"] : [],
                                devices: generator.next() % 4 == 0 ? ["adc"] : [], replicas: i % 5 == 0 ? 2 : 1, spread: i % 5 == 0 ? "zone" : nil,
                                labels: generator.next() % 5 == 0 ? ["zone": "z\(generator.next() % 3)"] : [:])
            }
            var conditions: [String: NodeCondition] = [:]
            for node in nodes where generator.next() % 3 == 0 {
                conditions[node.name] = NodeCondition(status: generator.next() % 2 == 0 ? .dead : .draining)
            }
            let plan = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: conditions))
            let absent = Planner.plan(PlacementRequest(modules: modules, nodes: nodes.filter { conditions[$0.name] == nil }))
            #expect(plan.placement == absent.placement, "round \(round), not up: \(conditions.keys.sorted())")
            #expect(plan.unplaced.map(\.replica) == absent.unplaced.map(\.replica), "round \(round)")
            #expect(plan.nodes.filter { conditions[$0.node] != nil }.allSatisfy { $0.replicas.isEmpty })
        }
    }

    @Test func aDeadNodesReplicaThatFitsNowhereElseIsNamedWithTheNode() throws {
        // Failover keeps the survivors where they are: the sensor's other probe node, the M33, holds
        // the actuator it must avoid, so the sensor cannot leave c3.
        let cluster = try Self.localCluster()
        let app = try Self.greenhouse()
        let before = Planner.plan(PlacementRequest(manifest: app, inventory: cluster))
        #expect(before.placement == ["actuator": "m33", "aggregator": "microbit", "sensor": "c3"])
        let after = Planner.plan(PlacementRequest(manifest: app, inventory: cluster, conditions: ["c3": NodeCondition(status: .dead)],
                                                  current: before.placement))
        #expect(after.placement == ["actuator": "m33", "aggregator": "microbit"], "the survivors stay")
        #expect(after.unplaced.map(\.replica) == ["sensor"])
        #expect(after.unplaced.first?.reasons == ["dead: c3", "no label probe=soil: microbit", "anti-affinity with actuator, which runs on: m33"])
        let failure = try #require(after.failure).description
        #expect(failure.hasPrefix("sensor cannot be placed (it ran on c3, which is dead):\n"), "\(failure)")
        #expect(after.report().contains("  sensor     -> (nowhere; was on c3)"), "\(after.report())")

        // Too big for what is left: the reason names the partition and the node that came closest.
        let nodes = [Fixtures.node("big", c3), Fixtures.node("small", m33)]
        let modules = [Fixtures.module("large", memory: 64 * 1024)]
        let first = Planner.plan(PlacementRequest(modules: modules, nodes: nodes))
        #expect(first.placement == ["large": "big"])
        let failover = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: ["big": NodeCondition(status: .dead)],
                                                     current: first.placement))
        let text = try #require(failover.failure).description
        #expect(text.hasPrefix("large cannot be placed (it ran on big, which is dead):\n  - dead: big\n"), "\(text)")
        #expect(text.contains("the largest free guest block is 24.0 KiB on small"), "\(text)")
    }

    @Test func aReplicaThatOutgrewItsUpNodeIsNamedWithIt() throws {
        // The module grew past the M33's guest partition: it must leave m, and fits nowhere else.
        let plan = Planner.plan(PlacementRequest(modules: [Fixtures.module("grown", memory: 30 * 1024)], nodes: [Fixtures.node("m", m33)],
                                                 current: ["grown": "m"]))
        let item = try #require(plan.unplaced.first)
        #expect(item.previousNode == "m" && item.previousStatus == .up)
        #expect(try #require(plan.failure).description.hasPrefix("grown cannot be placed (it ran on m, where it no longer fits):\n"))
    }

    @Test func aDrainingNodesReplicasMoveAndNothingNewGoesThere() throws {
        let nodes = [Fixtures.node("a", c3), Fixtures.node("b", c3), Fixtures.node("c", microbit)]
        let modules = [Fixtures.module("web", memory: 32 * 1024, replicas: 3, spread: "node"), Fixtures.module("cache", memory: 8 * 1024)]
        let before = Planner.plan(PlacementRequest(modules: modules, nodes: nodes))
        #expect(before.isComplete)
        let drained = try #require(before.node(of: "cache"))
        // Draining one node leaves two for three replicas spread by node: the one that ran there is
        // named with it, and the cache moves.
        let after = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: [drained: NodeCondition(status: .draining)],
                                                  current: before.placement))
        #expect(after.nodes.first { $0.node == drained }?.replicas == [])
        let cache = try #require(after.assignments.first { $0.replica == "cache" })
        #expect(cache.node != drained && cache.previousNode == drained && !cache.kept)
        for assignment in after.assignments where before.node(of: assignment.replica) != drained {
            #expect(assignment.kept && assignment.node == before.node(of: assignment.replica), "\(assignment.replica) stays")
        }
        let stuck = try #require(before.assignments.first { $0.node == drained && $0.module == "web" }).replica
        #expect(after.unplaced.map(\.replica) == [stuck])
        let failure = try #require(after.failure).description
        #expect(failure.hasPrefix("\(stuck) cannot be placed (it ran on \(drained), which is draining):\n  - draining: \(drained)\n"), "\(failure)")
        #expect(failure.contains("spread by node"), "\(failure)")
    }

    /// `fireball cordon`: the node keeps what runs there and takes nothing new; a drain moves it.
    @Test func aCordonedNodeKeepsItsReplicasAndTakesNoNewOnes() {
        let nodes = [Fixtures.node("a", c3), Fixtures.node("b", c3)]
        let modules = [Fixtures.module("old"), Fixtures.module("new")]
        let cordoned = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: ["a": NodeCondition(status: .cordoned)],
                                                     current: ["old": "a"]))
        #expect(cordoned.isComplete && cordoned.placement == ["old": "a", "new": "b"])
        #expect(cordoned.assignments.first { $0.replica == "old" }?.kept == true)
        let drained = Planner.plan(PlacementRequest(modules: modules, nodes: nodes, conditions: ["a": NodeCondition(status: .draining)],
                                                    current: ["old": "a"]))
        #expect(drained.placement == ["old": "b", "new": "b"])
    }
}
