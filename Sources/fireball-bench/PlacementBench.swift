// Placement at scale: synthetic but realistic apps (sizes, tiers, devices, FPU use, channel partners,
// spread replicas) on clusters of small boards, from a seed; time and utilisation against a lower bound.
import ArgumentParser
import Core
import Foundation
import HAL
import Orchestrator

struct PlacementBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "placement", abstract: "Placement time and packing quality at 1k and 10k modules.")
    @Option(help: "Seed of the synthetic apps and clusters.") var seed: UInt64 = 2026
    @Option(help: "Where the board files are.") var boards = "Deploy/boards"

    func run() throws {
        let definitions = try ["esp32-c3", "microbit-v2", "cortex-m33"].map { try Board.resolve($0, in: boards) }
        print("placement benchmark (seed \(seed)); boards: 50% esp32-c3, 30% microbit-v2, 20% cortex-m33")
        for (modules, nodes) in [(1_000, 100), (10_000, 1_000)] {
            var random = SplitMix64(seed: seed &+ UInt64(modules))
            let cluster = Self.cluster(nodes, boards: definitions, random: &random)
            let app = Self.modules(modules, random: &random)
            _ = Planner.plan(PlacementRequest(modules: Array(app.prefix(50)), nodes: Array(cluster.prefix(10))))   // warm up
            var best = Duration.seconds(1_000)
            var plan: Plan!
            for _ in 0..<3 {
                let start = ContinuousClock.now
                plan = Planner.plan(PlacementRequest(modules: app, nodes: cluster))
                best = min(best, ContinuousClock.now - start)
            }
            let replicas = app.reduce(0) { $0 + $1.replicas }
            print("\n\(modules) modules (\(replicas) replicas) on \(nodes) nodes: \(Self.milliseconds(best)) ms (best of 3)")
            print("  placed \(plan.assignments.count) of \(replicas); partners together: \(plan.assignments.filter { !$0.partnersOnNode.isEmpty }.count)")
            Self.utilisation(plan, app: app, cluster: cluster)
            // What kept the rest out: the constraint named first on each unplaced replica's last line.
            var why: [String: Int] = [:]
            for item in plan.unplaced {
                for reason in item.reasons {
                    let key = reason.contains(" needs ") ? String(reason.split(separator: "(")[0].split(separator: " ").dropFirst().joined(separator: " ").prefix(40))
                        : String(reason.prefix { $0 != ":" })
                    why[key.replacingOccurrences(of: #"\d+(\.\d+)? (KiB|B)"#, with: "N", options: .regularExpression), default: 0] += 1
                }
            }
            for (reason, count) in why.sorted(by: { $0.value > $1.value }).prefix(6) { print("  unplaced because \(reason): \(count)") }
        }
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) * 1e-15)
    }

    static func cluster(_ count: Int, boards: [Board], random: inout SplitMix64) -> [NodeSpec] {
        (0..<count).map { i in
            let roll = random.next() % 100
            let board = roll < 50 ? boards[0] : roll < 80 ? boards[1] : boards[2]
            var devices = [DeviceSpec(kind: "uart"), DeviceSpec(kind: "gpio"), DeviceSpec(kind: "timer")]
            if random.next() % 2 == 0 { devices.append(DeviceSpec(kind: "adc")) }
            if random.next() % 3 == 0 { devices.append(DeviceSpec(kind: "i2c")) }
            return NodeSpec(name: String(format: "node-%04d", i), address: "10.0.\(i / 250).\(i % 250 + 1):7400", board: board,
                            labels: ["zone": "z\(i % 10)", "power": random.next() % 4 == 0 ? "battery" : "mains"], devices: devices)
        }
    }

    /// Memory sizes as small-board guests with 1-byte pages declare them: mostly a few KiB.
    static let memorySizes = [512, 1024, 1024, 2048, 2048, 3072, 4096, 4096, 6144, 8192, 12288]

    static func modules(_ count: Int, random: inout SplitMix64) -> [ModuleSpec] {
        (0..<count).map { i in
            let name = String(format: "m%05d", i)
            let tier: ModuleTier = random.next() % 20 == 0 ? .tier1 : .guest
            let memory = tier == .tier1 ? 1024 * Int(1 + random.next() % 2) : memorySizes[Int(random.next() % UInt64(memorySizes.count))]
            let image = ModuleImage(hasMemory: true, pageBytes: 1, memoryMinimumBytes: memory / 2, memoryMaximumBytes: memory,
                                    usesFloat: random.next() % 100 < 15)
            let serves = i % 5 == 0 ? ["fireball://s\(i)/out"] : []
            let uses = i % 5 == 1 ? ["fireball://s\(i - 1)/out"] : []
            let deviceRoll = random.next() % 10
            let devices = deviceRoll == 0 ? ["adc"] : deviceRoll == 1 ? ["i2c"] : []
            let replicated = random.next() % 20 == 0
            let labels = random.next() % 25 == 0 ? ["power": "mains"] : [:]
            return ModuleSpec(name: name, image: image, tier: tier, serves: serves, uses: uses, devices: devices,
                              replicas: replicated ? 3 : 1, spread: replicated ? "zone" : nil, nodeLabels: labels)
        }
    }

    /// Per partition: demand and use against capacity; nodes used against a lower bound on nodes needed.
    static func utilisation(_ plan: Plan, app: [ModuleSpec], cluster: [NodeSpec]) {
        var demand = Array(repeating: 0, count: PartitionKind.allCases.count)
        for module in app {
            // The three boards share value-stack and stack-slot sizes, so any board gives the demand.
            let needs = ModuleRequirements.of(module, on: cluster[0].board)
            for kind in PartitionKind.allCases { demand[kind.index] += needs.chargedBytes(kind) * module.replicas }
        }
        var neededNodes = 0
        var binding = PartitionKind.guest
        // Use by replicas: what a node holds beyond its device service's channels and registry entries.
        var booted: [String: NodeBudget] = [:]
        for node in cluster { booted[node.name] = NodeBudget(board: node.board) }
        print("  partition   demand/capacity   used/capacity")
        for kind in PartitionKind.allCases {
            let capacity = cluster.reduce(0) { $0 + $1.board.partitions[kind] }
            let used = plan.nodes.reduce(0) { $0 + $1.budget[kind].usedBytes - booted[$1.node]![kind].usedBytes }
            // The fewest nodes whose partitions could hold the demand even split perfectly.
            let room = cluster.map { booted[$0.name]![kind].freeBlockBytes }.sorted(by: >)
            var covered = 0, k = 0
            while covered < demand[kind.index], k < room.count { covered += room[k]; k += 1 }
            if k > neededNodes { neededNodes = k; binding = kind }
            print("  " + kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: "  %6.1f%%           %6.1f%%", 100 * Double(demand[kind.index]) / Double(capacity), 100 * Double(used) / Double(capacity)))
        }
        // A node holds at most as many replicas as its stack slots, its runtime contexts and its guest
        // partition (at the smallest replica's demand) allow: the fewest nodes with room for them all.
        let smallest = app.map { ModuleRequirements.of($0, on: cluster[0].board) }
        let tasksPerNode = cluster.map { node -> Int in
            let budget = NodeBudget(board: node.board)
            return PartitionKind.allCases.map { kind -> Int in
                let least = smallest.map { $0.chargedBytes(kind) }.min() ?? 0   // 0: some replica needs none
                return least == 0 ? Int.max : budget[kind].freeBlockBytes / least
            }.min()!
        }.sorted(by: >)
        let replicaCount = app.reduce(0) { $0 + $1.replicas }
        var slots = 0, k = 0
        while slots < replicaCount, k < tasksPerNode.count { slots += tasksPerNode[k]; k += 1 }
        if k > neededNodes { neededNodes = k; binding = .stacks }
        let usedNodes = plan.nodes.filter { !$0.replicas.isEmpty }.count
        print(String(format: "  nodes used %d; lower bound %d (bytes of %@, or replicas per node); ratio %.2f", usedNodes, neededNodes, binding.rawValue as NSString,
                     Double(usedNodes) / Double(max(neededNodes, 1))))
    }
}

/// SplitMix64: a seeded generator so every run sees the same apps and clusters.
struct SplitMix64: RandomNumberGenerator {
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
