// Nodes booted as the daemon boots them (`NodeCore`: a kernel with the board's partition table,
// its device service, a router), on one manual clock and joined in memory: what the planner's
// numbers are checked against.
import Core
import Foundation
import HAL
@testable import Node
import SimulatedNodes
@testable import Orchestrator

final class SimulatedCluster {
    final class Node: RouterTransport {
        let name: String
        let board: Board
        private(set) var core: NodeCore!
        var kernel: Kernel { core.kernel }
        var router: Router { core.router }
        /// The process capability the core holds (for the harness's own spawns and kills).
        var process: ProcessCapability { _read { yield core.capabilities.process } }
        /// Weak: a test may keep a lone node and drop its cluster.
        weak var cluster: SimulatedCluster?
        var console: [String] = []

        init(_ name: String, board: Board, cluster: SimulatedCluster) throws {
            self.name = name
            self.board = board
            self.cluster = cluster
            core = try NodeCore.simulated(name: name, board: board, clock: cluster.clock, slice: .safePoints(50), transport: self, seed: 1) {
                [unowned self] line in
                if !line.hasPrefix("node ") { console.append(line) }   // the node's own lines are not the guests' console
            }
        }

        func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool {
            guard let cluster else { return false }
            cluster.wire.append((name, peer, kind, payload))
            return true
        }

        /// Spawns a guest as a node does: its `devices:` granted as `NodeCore.start` grants them, with
        /// the kernel budget the planner charges for `module`.
        @discardableResult
        func spawn(_ bytes: [UInt8], name: String, devices: [String] = [], restart: RestartPolicy = .stop, module: ModuleSpec? = nil) throws -> TaskID {
            let grants = Set(devices.flatMap { board.devices(matching: $0).map(\.name) })
            return try kernel.spawnGuest(try LoadedModule.load(bytes, options: board.loadOptions), name: name, restart: restart,
                                         devices: grants, kernelBudgetBytes: module.map { KernelCosts.kernelBudgetBytes($0, on: board) },
                                         capability: process)
        }

        func usedBytes(_ kind: PartitionKind) -> Int { kernel.partition(kind).usedBytes }
    }

    let clock = ManualClock()
    private(set) var nodes: [String: Node] = [:]
    var wire: [(from: String, to: String, kind: UInt8, payload: [UInt8])] = []

    /// Boots one node per (name, board), all linked to each other.
    init(_ boards: [(String, Board)]) throws {
        for (name, board) in boards { nodes[name] = try Node(name, board: board, cluster: self) }
        let names = nodes.keys.sorted()
        for a in names { for b in names where a < b { nodes[a]!.core.linkUp(b); nodes[b]!.core.linkUp(a) } }
    }

    subscript(name: String) -> Node { nodes[name]! }

    /// Runs the kernels and delivers frames until nothing moves, then moves the clock to the next
    /// timer; stops with the clock at `nanoseconds` (or when no node has anything left to do).
    func run(until nanoseconds: UInt64) throws {
        try SimulatedRun.run(nodes.values.sorted { $0.name < $1.name }.map { ($0.kernel, $0.router, $0.core.routerTick) }, clock: clock, until: nanoseconds) {
            guard !wire.isEmpty else { return false }
            let frame = wire.removeFirst()
            try nodes[frame.to]!.core.routerFrame(kind: frame.kind, payload: frame.payload, from: frame.from)
            return true
        }
    }
}
