// Placement: every replica on a node where all six partitions fit, its devices are present, the FPU
// rule holds and its spread and affinity constraints hold; deterministic for the same input.
// Docs/orchestrator.md describes the algorithm and what it guarantees.
import Core
import HAL

/// Whether a node takes new work.
public enum NodeStatus: String, Sendable, CaseIterable {
    /// Takes new replicas and keeps its own.
    case up
    /// Keeps nothing new; its replicas are moved elsewhere (a drain).
    case draining
    /// Keeps its replicas but takes no new ones (`fireball cordon`).
    case cordoned
    /// Gone: its replicas are re-placed (failover).
    case dead
}

/// What is known of a node now: its status and, once nodes report it, its partitions' free space
/// (which already includes the replicas running there).
public struct NodeCondition: Sendable {
    public var status: NodeStatus
    public var reported: NodeBudget?
    public init(status: NodeStatus = .up, reported: NodeBudget? = nil) {
        self.status = status
        self.reported = reported
    }
}

/// The planner's input.
public struct PlacementRequest: Sendable {
    public var modules: [ModuleSpec]
    public var nodes: [NodeSpec]
    /// By node name; a node not listed is up and assumed freshly booted.
    public var conditions: [String: NodeCondition]
    /// The placement in force, replica name → node name: replicas on up nodes stay where they are.
    public var current: [String: String]

    public init(modules: [ModuleSpec], nodes: [NodeSpec], conditions: [String: NodeCondition] = [:], current: [String: String] = [:]) {
        self.modules = modules
        self.nodes = nodes
        self.conditions = conditions
        self.current = current
    }

    public init(manifest: AppManifest, inventory: ClusterInventory, conditions: [String: NodeCondition] = [:], current: [String: String] = [:]) {
        self.init(modules: manifest.modules, nodes: inventory.nodes, conditions: conditions, current: current)
    }
}

/// Where one replica goes.
public struct Assignment: Sendable, Equatable {
    public var replica: String
    public var module: String
    public var node: String
    /// Set when the replica was elsewhere before (a move after failover or drain); nil if new or kept.
    public var previousNode: String?
    /// True if the replica stays where it was.
    public var kept: Bool
    /// Channel partners (modules serving what it uses, or using what it serves) on the same node.
    public var partnersOnNode: [String]
}

/// One node after the plan: its partitions and the replicas it holds.
public struct NodeUsage: Sendable {
    public var node: String
    public var board: String
    public var address: String
    public var status: NodeStatus
    public var budget: NodeBudget
    /// Sorted.
    public var replicas: [String]
}

/// A replica that fits nowhere, and why, constraint by constraint across the nodes.
public struct UnplacedReplica: Sendable, Equatable {
    public var replica: String
    public var module: String
    /// The node it ran on, if it had to leave it (dead, draining, or it no longer fits there); nil if new.
    public var previousNode: String? = nil
    /// That node's status: `up` when the replica no longer fits there.
    public var previousStatus: NodeStatus? = nil
    /// One line per constraint that ruled nodes out, e.g.
    /// "guest partition: needs 48.0 KiB; the largest free block is 40.0 KiB on b (nodes a, b)".
    public var reasons: [String]
}

/// A plan that could not place everything; nothing should be deployed.
public struct PlacementFailure: Error, Sendable, CustomStringConvertible {
    public let code = "placement-failed"
    public let unplaced: [UnplacedReplica]
    public var detail: String {
        unplaced.map { item in
            // A replica that must leave a node says which, so a failover's failure names the node lost.
            var leaving = ""
            if let node = item.previousNode, let status = item.previousStatus {
                leaving = status == .up ? " (it ran on \(node), where it no longer fits)" : " (it ran on \(node), which is \(status))"
            }
            return "\(item.replica) cannot be placed\(leaving):\n" + item.reasons.map { "  - \($0)" }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
    public var description: String { detail }
}

/// The planner's output: complete (every replica has a node) or not (then `failure` says why).
public struct Plan: Sendable {
    /// Sorted by replica name.
    public var assignments: [Assignment]
    /// Sorted by node name.
    public var nodes: [NodeUsage]
    public var unplaced: [UnplacedReplica]
    public var isComplete: Bool { unplaced.isEmpty }
    public var failure: PlacementFailure? { unplaced.isEmpty ? nil : PlacementFailure(unplaced: unplaced) }

    public func node(of replica: String) -> String? { assignments.first { $0.replica == replica }?.node }
    /// replica → node, for the next round's `PlacementRequest.current`.
    public var placement: [String: String] { Dictionary(uniqueKeysWithValues: assignments.map { ($0.replica, $0.node) }) }
}

/// The placement engine.
public enum Planner {
    /// Places every replica, or says for each one that fits nowhere exactly why. Deterministic: the
    /// same modules and nodes give the same plan in whatever order they are listed.
    public static func plan(_ request: PlacementRequest) -> Plan {
        var state = PlacementState(request)
        return state.run()
    }

    /// Refuses a manifest that can never be placed on this inventory, naming the manifest's file,
    /// line and field: required labels no node has, devices no node has, a float-using module and
    /// no FPU, more spread replicas than label values, a module too big for every empty node.
    public static func check(_ manifest: AppManifest, against inventory: ClusterInventory) throws(ConfigurationError) {
        for module in manifest.modules {
            let origin = module.origin
            if let board = inventory.nodes.first?.board, KernelCosts.kernelBudgetBytes(module, on: board) > KernelBudget.bytesMax {
                throw origin.error(module.uses.count > module.serves.count ? "uses" : "serves",
                                   "\(module.serves.count) served and \(module.uses.count) used URIs need a kernel budget of \(Size(KernelCosts.kernelBudgetBytes(module, on: board))), more than a guest may have (\(Size(KernelBudget.bytesMax)))")
            }
            var candidates = inventory.nodes
            for key in module.nodeLabels.keys.sorted() {
                let value = module.nodeLabels[key]!
                candidates = candidates.filter { $0.labels[key] == value }
                if candidates.isEmpty {
                    let values = Set(inventory.nodes.compactMap { $0.labels[key] }).sorted()
                    throw origin.error("affinity", "no node has the label \(key)=\(value) together with the other required labels"
                                       + " (values of \(key) in \(inventory.file): \(values.isEmpty ? "none" : values.joined(separator: ", ")))")
                }
            }
            candidates = candidates.filter { node in !module.avoidNodeLabels.contains { node.labels[$0.key] == $0.value } }
            if candidates.isEmpty { throw origin.error("affinity", "every node with the required labels has an avoided label") }
            for device in module.devices {
                candidates = candidates.filter { $0.hasDevice(device) }
                if candidates.isEmpty { throw origin.error("devices", "no eligible node has a device '\(device)'") }
            }
            if module.image.usesFloat {
                candidates = candidates.filter(\.board.hasFPU)
                if candidates.isEmpty { throw origin.error("wasm", "\(module.wasmPath) uses floating point and no eligible node has an FPU") }
            }
            if let key = module.spread {
                let values = Set(candidates.compactMap { $0.labels[key] })
                if module.replicas > values.count {
                    throw origin.error("replicas", "\(module.replicas) replicas spread by \(key), but the eligible nodes have only \(values.count) value(s) of it"
                                       + (values.isEmpty ? "" : " (\(values.sorted().joined(separator: ", ")))"))
                }
            }
            let fitting = candidates.filter { NodeBudget(board: $0.board).charging(.of(module, on: $0.board)).isSuccess }
            if fitting.isEmpty {
                let board = candidates[0].board
                let requirements = ModuleRequirements.of(module, on: board)
                var kind = module.tier.heapPartition
                if case .failure(let refusal) = NodeBudget(board: board).charging(requirements) { kind = refusal.kind }
                // The field that asks most of that partition: its heap holds linear memory and the
                // kernel budget, which grows with what it serves, uses and opens.
                let budgetBytes = KernelCosts.kernelBudgetBytes(module, on: board)
                let field = if kind == module.tier.heapPartition && budgetBytes > module.memoryBudgetBytes {
                    !module.uses.isEmpty ? "uses" : !module.devices.isEmpty ? "devices" : "serves"
                } else {
                    module.memoryBytes != nil && kind == module.tier.heapPartition ? "memory" : "wasm"
                }
                let booted = NodeBudget(board: board)[kind]
                throw origin.error(field, "needs \(Size(requirements.chargedBytes(kind))) of \(kind) partition on \(board.name) (and similar elsewhere),"
                                   + " \(Size(booted.freeBlockBytes)) free after boot: it fits on no eligible node even when empty")
            }
        }
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { true } else { false } }
}

/// The planner's working state: indices, not names, in the inner loop.
struct PlacementState {
    let modules: [ModuleSpec]
    let nodes: [NodeSpec]
    let status: [NodeStatus]
    /// Distinct boards, and each node's board index.
    let boardOf: [Int]
    /// requirements[module * boards + board]
    let requirements: [ModuleRequirements]
    let boardCount: Int
    /// A freshly booted node of each board (its device service's allocations made once, here).
    let bootedBudgets: [NodeBudget]
    let partners: [[Int]]
    let avoids: [[Int]]
    let freshNode: [Bool]
    let current: [String: String]
    let moduleIndex: [String: Int]
    let nodeIndex: [String: Int]

    var budgets: [NodeBudget]
    var hosted: [[Int]]                 // module indices per node (with repeats for replicas)
    var served: [Set<String>]
    var replicasOn: [[String]]
    var spreadUsed: [[String: [Int]]]   // per module: label value → nodes holding a replica
    var assignments: [Assignment] = []
    var unplaced: [UnplacedReplica] = []

    init(_ request: PlacementRequest) {
        modules = request.modules.sorted { $0.name < $1.name }
        nodes = request.nodes.sorted { $0.name < $1.name }
        current = request.current
        status = nodes.map { request.conditions[$0.name]?.status ?? .up }
        var boardNames: [String: Int] = [:]
        var boards: [Board] = []
        boardOf = nodes.map { node in
            if let index = boardNames[node.board.name] { return index }
            boardNames[node.board.name] = boards.count
            boards.append(node.board)
            return boards.count - 1
        }
        boardCount = boards.count
        requirements = modules.flatMap { module in boards.map { ModuleRequirements.of(module, on: $0) } }
        let bootedBudgets = boards.map { NodeBudget(board: $0) }
        self.bootedBudgets = bootedBudgets
        budgets = zip(nodes, boardOf).map { node, board in request.conditions[node.name]?.reported ?? bootedBudgets[board] }
        freshNode = nodes.map { request.conditions[$0.name]?.reported == nil }
        var moduleIndex: [String: Int] = [:]
        for (i, module) in modules.enumerated() { moduleIndex[module.name] = i }
        self.moduleIndex = moduleIndex
        var nodeIndex: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { nodeIndex[node.name] = i }
        self.nodeIndex = nodeIndex
        // Partners: one serves a URI the other uses. Avoidance is symmetric.
        var servers: [String: [Int]] = [:]
        for (i, module) in modules.enumerated() { for uri in module.serves { servers[uri, default: []].append(i) } }
        var partners = Array(repeating: Set<Int>(), count: modules.count)
        var avoids = Array(repeating: Set<Int>(), count: modules.count)
        for (i, module) in modules.enumerated() {
            for uri in module.uses { for j in servers[uri] ?? [] where j != i { partners[i].insert(j); partners[j].insert(i) } }
            for other in module.avoidModules { if let j = moduleIndex[other] { avoids[i].insert(j); avoids[j].insert(i) } }
        }
        self.partners = partners.map { $0.sorted() }
        self.avoids = avoids.map { $0.sorted() }
        hosted = Array(repeating: [], count: nodes.count)
        served = Array(repeating: [], count: nodes.count)
        replicasOn = Array(repeating: [], count: nodes.count)
        spreadUsed = Array(repeating: [:], count: modules.count)
    }

    func requirements(_ module: Int, _ node: Int) -> ModuleRequirements { requirements[module * boardCount + boardOf[node]] }

    mutating func run() -> Plan {
        // Replicas to place: kept ones first (they are already there), then the rest, largest first.
        var kept: [(Int, String, Int)] = []
        var pending: [(module: Int, replica: String, previous: String?)] = []
        for (m, module) in modules.enumerated() {
            for replica in module.replicaNames {
                if let name = current[replica], let n = nodeIndex[name] {
                    if status[n] == .up || status[n] == .cordoned { kept.append((m, replica, n)) } else { pending.append((m, replica, name)) }
                } else {
                    pending.append((m, replica, nil))
                }
            }
        }
        for (m, replica, n) in kept {
            // A node that reports its free space already counts what runs there.
            if freshNode[n] {
                switch budgets[n].charging(requirements(m, n)) {
                case .success(let next): budgets[n] = next
                case .failure:
                    pending.append((m, replica, nodes[n].name))   // no longer fits there (the module grew): move it
                    continue
                }
            }
            record(m, replica, on: n, previous: nil, kept: true)
        }
        // The nodes each module could go on at all: up (a dead or draining node takes nothing, so it
        // must not make a module look flexible), with its labels, devices and FPU.
        var eligibleCache: [String: [Int]] = [:]
        let eligible = modules.indices.map { m in
            let signature = Self.signature(modules[m])
            if let cached = eligibleCache[signature] { return cached }
            let found = nodes.indices.filter { staticRefusal(m, $0) == nil }
            eligibleCache[signature] = found
            return found
        }
        // Most constrained first: modules that fit on few of those nodes (size on an empty node, in
        // powers of two) go before those that fit almost anywhere; then largest first.
        var flexibility: [Int] = []
        for m in modules.indices {
            var fitsBoard = Array(repeating: Bool?.none, count: boardCount)
            for n in eligible[m] where fitsBoard[boardOf[n]] == nil {
                fitsBoard[boardOf[n]] = bootedBudgets[boardOf[n]].charging(requirements(m, n)).isSuccess
            }
            let count = eligible[m].reduce(0) { $0 + (fitsBoard[boardOf[$1]] == true ? 1 : 0) }
            flexibility.append(count == 0 ? 0 : Int.bitWidth - count.leadingZeroBitCount)
        }
        pending.sort { a, b in
            let (x, y) = (modules[a.module], modules[b.module])
            if flexibility[a.module] != flexibility[b.module] { return flexibility[a.module] < flexibility[b.module] }
            if x.memoryBudgetBytes != y.memoryBudgetBytes { return x.memoryBudgetBytes > y.memoryBudgetBytes }
            if x.serves.count != y.serves.count { return x.serves.count > y.serves.count }
            if a.module != b.module { return a.module < b.module }
            return a.replica.count != b.replica.count ? a.replica.count < b.replica.count : a.replica < b.replica
        }
        for item in pending {
            if let n = bestNode(item.module, among: eligible[item.module]) {
                budgets[n] = try! budgets[n].charging(requirements(item.module, n)).get()   // checked by bestNode
                record(item.module, item.replica, on: n, previous: item.previous, kept: false)
            } else {
                unplaced.append(UnplacedReplica(replica: item.replica, module: modules[item.module].name, previousNode: item.previous,
                                                previousStatus: item.previous.flatMap { nodeIndex[$0] }.map { status[$0] },
                                                reasons: explain(item.module)))
            }
        }
        // Partners on the same node, from the final placement (a partner may have come later).
        for i in assignments.indices {
            let m = moduleIndex[assignments[i].module]!, n = nodeIndex[assignments[i].node]!
            assignments[i].partnersOnNode = partners[m].filter { hosted[n].contains($0) }.map { modules[$0].name }
        }
        assignments.sort { $0.replica < $1.replica }
        unplaced.sort { $0.replica < $1.replica }
        let usage = nodes.indices.map { n in
            NodeUsage(node: nodes[n].name, board: nodes[n].board.name, address: nodes[n].address, status: status[n], budget: budgets[n],
                      replicas: replicasOn[n].sorted())
        }
        return Plan(assignments: assignments, nodes: usage, unplaced: unplaced)
    }

    static func signature(_ module: ModuleSpec) -> String {
        let labels = module.nodeLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let avoided = module.avoidNodeLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return "\(labels)|\(avoided)|\(module.devices.sorted().joined(separator: ","))|\(module.image.usesFloat)"
    }

    mutating func record(_ m: Int, _ replica: String, on n: Int, previous: String?, kept: Bool) {
        let module = modules[m]
        hosted[n].append(m)
        for uri in module.serves { served[n].insert(uri) }
        replicasOn[n].append(replica)
        if let key = module.spread, let value = nodes[n].labels[key] { spreadUsed[m][value, default: []].append(n) }
        assignments.append(Assignment(replica: replica, module: module.name, node: nodes[n].name, previousNode: previous, kept: kept,
                                      partnersOnNode: []))
    }

    /// Labels, avoided labels, devices, FPU and the node's status: what does not change as replicas are
    /// placed. Status comes last: a dead node without a required label is reported for the label,
    /// which still rules it out once the node is back.
    func staticRefusal(_ m: Int, _ n: Int) -> Refusal? {
        let module = modules[m], node = nodes[n]
        for (key, value) in module.nodeLabels.sorted(by: { $0.key < $1.key }) where node.labels[key] != value {
            return .missingLabel("\(key)=\(value)")
        }
        for (key, value) in module.avoidNodeLabels.sorted(by: { $0.key < $1.key }) where node.labels[key] == value {
            return .avoidedLabel("\(key)=\(value)")
        }
        for device in module.devices where !node.hasDevice(device) { return .missingDevice(device) }
        if module.image.usesFloat, !node.board.hasFPU { return .noFPU }
        if status[n] != .up { return .status(status[n]) }
        return nil
    }

    /// Spread, anti-affinity and URI uniqueness: what depends on the replicas placed so far.
    func dynamicRefusal(_ m: Int, _ n: Int) -> Refusal? {
        let module = modules[m]
        if let key = module.spread {
            guard let value = nodes[n].labels[key] else { return .noSpreadLabel(key) }
            if spreadUsed[m][value] != nil { return .spreadTaken(key: key, value: value) }
        }
        for other in avoids[m] where hosted[n].contains(other) { return .avoidedModule(modules[other].name) }
        // The kernel's registry holds one server per URI on a node.
        for uri in module.serves where served[n].contains(uri) { return .uriServed(uri) }
        return nil
    }

    /// The best feasible node: most channel partners already there, then the tightest fit in the
    /// module's heap partition (best fit keeps big nodes free for big modules), then name order.
    func bestNode(_ m: Int, among eligible: [Int]) -> Int? {
        let heap = modules[m].tier.heapPartition.index
        var best: (node: Int, partners: Int, score: Double)?
        for n in eligible {
            guard dynamicRefusal(m, n) == nil else { continue }
            let requests = requirements[m * boardCount + boardOf[n]].requests
            // The heap partition first: it is the one that is usually full.
            guard let heapAfter = budgets[n].partitions[heap].charging(requests[heap]) else { continue }
            // Vector best fit: the node left fullest across the partitions the module uses (the
            // sum of squared free fractions), so that a board short of stack slots is not filled
            // with small modules while its guest partition sits empty.
            var score = Self.squaredFreeFraction(heapAfter)
            var fits = true
            for i in requests.indices where i != heap && !requests[i].isEmpty {
                guard let after = budgets[n].partitions[i].charging(requests[i]) else { fits = false; break }
                score += Self.squaredFreeFraction(after)
            }
            guard fits else { continue }
            let partnerCount = partners[m].isEmpty ? 0 : partners[m].reduce(0) { $0 + (hosted[n].contains($1) ? 1 : 0) }
            if let current = best {
                if partnerCount < current.partners { continue }
                if partnerCount == current.partners, score >= current.score { continue }
            }
            best = (n, partnerCount, score)
        }
        return best?.node
    }

    static func squaredFreeFraction(_ partition: PartitionBudget) -> Double {
        let fraction = Double(partition.freeBlockBytes) / Double(max(partition.capacity, 1))
        return fraction * fraction
    }

    enum Refusal: Hashable {
        case status(NodeStatus)
        case missingLabel(String)
        case avoidedLabel(String)
        case missingDevice(String)
        case noFPU
        case noSpreadLabel(String)
        case spreadTaken(key: String, value: String)
        case avoidedModule(String)
        case uriServed(String)
        case partition(PartitionKind)
    }

    /// Why no node took module `m`: the first refusal of every node, grouped by constraint.
    func explain(_ m: Int) -> [String] {
        let module = modules[m]
        var groups: [Refusal: [Int]] = [:]
        var order: [Refusal] = []
        for n in nodes.indices {
            var refusal = staticRefusal(m, n) ?? dynamicRefusal(m, n)
            if refusal == nil, case .failure(let full) = budgets[n].charging(requirements(m, n)) { refusal = .partition(full.kind) }
            guard let refusal else { continue }
            if groups[refusal] == nil { order.append(refusal) }
            groups[refusal, default: []].append(n)
        }
        if order.isEmpty { return ["no nodes"] }
        let ranked = order.enumerated().sorted { a, b in
            Self.rank(a.element) != Self.rank(b.element) ? Self.rank(a.element) < Self.rank(b.element) : a.offset < b.offset
        }.map(\.element)
        return ranked.map { refusal in
            let list = groups[refusal]!
            let names = Self.list(list.map { nodes[$0].name })
            switch refusal {
            case .status(let status): return "\(status): \(names)"
            case .missingLabel(let label): return "no label \(label): \(names)"
            case .avoidedLabel(let label): return "avoided label \(label): \(names)"
            case .missingDevice(let device): return "no \(device) device: \(names)"
            case .noFPU: return "no FPU (\(module.name) uses floating point): \(names)"
            case .noSpreadLabel(let key): return "spread by \(key), but no \(key) label: \(names)"
            case .spreadTaken(let key, let value):
                let holders = (spreadUsed[m][value] ?? []).map { nodes[$0].name }
                return "spread by \(key): \(key)=\(value) already holds a replica of \(module.name) (on \(Self.list(holders))): \(names)"
            case .avoidedModule(let other): return "anti-affinity with \(other), which runs on: \(names)"
            case .uriServed(let uri): return "\(uri) is already served there (one server per URI per node): \(names)"
            case .partition(let kind):
                // The node that came closest: the largest free block of that partition.
                let closest = list.max { a, b in
                    let (x, y) = (budgets[a][kind].freeBlockBytes, budgets[b][kind].freeBlockBytes)
                    return x != y ? x < y : a > b
                }!
                let needs = requirements(m, closest)
                let parts = needs.charges.filter { $0.partition == kind }.map { "\($0.what) \(Size($0.bytes))" }.joined(separator: " + ")
                let label = kind == .guest || kind == .tier1 ? "\(kind) heap" : "\(kind) partition"
                return "\(module.name) needs \(Size(needs.chargedBytes(kind))) \(label) (\(parts), with allocator headers);"
                    + " the largest free \(kind) block is \(Size(budgets[closest][kind].freeBlockBytes)) on \(nodes[closest].name)"
                    + " (\(kind) full: \(names))"
            }
        }
    }

    static func rank(_ refusal: Refusal) -> Int {
        switch refusal {
        case .status: 0
        case .missingLabel: 1
        case .avoidedLabel: 2
        case .missingDevice: 3
        case .noFPU: 4
        case .noSpreadLabel: 5
        case .spreadTaken: 6
        case .avoidedModule: 7
        case .uriServed: 8
        case .partition(let kind): 9 + kind.index
        }
    }

    /// "a, b, c" or "a, b, c, d, … (12 nodes)".
    static func list(_ names: [String]) -> String {
        names.count <= 5 ? names.joined(separator: ", ") : names.prefix(4).joined(separator: ", ") + ", … (\(names.count) nodes)"
    }
}
