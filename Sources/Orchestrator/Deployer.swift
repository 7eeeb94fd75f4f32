// Deploying: what runs now (the nodes' reports) against what an app's manifest asks for, placed by
// the planner; then pushes and starts what is missing, rolls changed replicas out one at a time, and
// stops what is extra. A step that a node refuses rolls back every step of the same round, so the
// cluster runs what it ran before.
import Core
import Foundation
import HAL
import Transport

/// The nodes' reports, and the inventory nodes that did not answer.
public struct ClusterView: Sendable {
    public var reports: [String: NodeReport]
    public var unreachable: [String]
    public init(reports: [String: NodeReport], unreachable: [String]) {
        self.reports = reports
        self.unreachable = unreachable
    }
}

/// How a replica whose module or settings changed is replaced on its node.
public enum UpgradeMode: String, Sendable, Equatable {
    /// The node holds the new module beside the old: it is pushed while the old runs, and the start
    /// swaps them (the node stops the old task and starts the new one in the same request).
    case inPlace = "in place"
    /// The node cannot hold both: the old is stopped first (freeing its memory), then the new is
    /// pushed and started. The replica is down in between.
    case stopThenStart = "stop, then start"
}

/// One replica's upgrade, as done.
public struct UpgradeRecord: Sendable, Equatable {
    public var key: String
    public var node: String
    public var mode: UpgradeMode
    /// From the request that stopped the old copy to the answer that the new one started.
    public var downMilliseconds: UInt64
}

/// What one reconcile did.
public struct DeployOutcome: Sendable {
    public var started: [String] = []
    public var stopped: [String] = []
    public var kept = 0
    /// Replicas rolled out to a changed module or settings, in order.
    public var upgraded: [UpgradeRecord] = []
    /// Replicas that run something else than the manifest asks and were left so (`upgrade: false`).
    public var stale: [String] = []
    /// Warnings that did not stop the round (a stop on a node that is gone, …).
    public var warnings: [String] = []
    public var changed: Bool { !started.isEmpty || !stopped.isEmpty }
}

public struct DeployError: Error, CustomStringConvertible {
    public let description: String
    /// Set when a replica's rollout to a changed module failed (the round was rolled back).
    public var duringUpgrade = false
    init(_ description: String, duringUpgrade: Bool = false) { self.description = description; self.duringUpgrade = duringUpgrade }
}

public final class Deployer {
    public let inventory: ClusterInventory
    public let client: ControlConnection
    /// One line per step (push, start, stop, roll back).
    public var progress: (String) -> Void
    /// The bytes of a module by SHA-256 when the manifest in hand has them not (what runs now, for
    /// rolling an upgrade back after its old copy was stopped): the applied objects.
    public var previousModule: (String) -> [UInt8]? = { _ in nil }

    public init(inventory: ClusterInventory, client: ControlConnection, progress: @escaping (String) -> Void) {
        self.inventory = inventory
        self.client = client
        self.progress = progress
    }

    /// Every node's report; a node without a link, or that does not answer, is unreachable.
    public func view() -> ClusterView {
        var view = ClusterView(reports: [:], unreachable: [])
        for node in inventory.nodes {
            if let report = try? client.status(node.name) { view.reports[node.name] = report } else { view.unreachable.append(node.name) }
        }
        return view
    }

    /// Brings `manifest`'s app to its placement: nodes in `dead` (and unreachable ones) lose their
    /// replicas to nodes that fit; nodes in `draining` keep nothing; nodes in `cordoned` keep theirs
    /// and take nothing new. Replicas that stay on their node
    /// but whose module or settings changed are upgraded one at a time after the new ones started
    /// (`UpgradeMode`), or left as they run if `upgrade` is false. Throws before changing anything if
    /// the app cannot be placed, and after rolling back if a node refuses a step.
    public func reconcile(_ manifest: AppManifest, view: ClusterView, dead: Set<String> = [], draining: Set<String> = [],
                          cordoned: Set<String> = [], upgrade: Bool = true) throws -> DeployOutcome {
        try execute(try round(manifest, view: view, dead: dead, draining: draining, cordoned: cordoned, upgrade: upgrade))
    }

    /// What reconciling `manifest` against `view` takes, decided without a request: the starts, the
    /// upgrades and the stops of one round, in the order they will go (`execute` sends them).
    public struct Round {
        let manifest: AppManifest
        var starts: [Step] = []
        /// In replica order: one at a time, each running before the next begins.
        var upgrades: [Step] = []
        /// Copies to stop last (moved away, duplicates, no longer wanted), in (node, key) order.
        var stops: [(node: String, key: String)] = []
        var images: [String: [UInt8]] = [:]
        /// Per-step upgrade modes, by replica.
        var modes: [String: UpgradeMode] = [:]
        var outcome = DeployOutcome()

        /// The round's steps in order, one line each: `start KEY@NODE`, `upgrade KEY@NODE (MODE)`, `stop KEY@NODE`.
        public var steps: [String] {
            starts.map { "start \($0.assignment.key)@\($0.node)" }
                + upgrades.map { "upgrade \($0.assignment.key)@\($0.node) (\(modes[$0.assignment.replica]?.rawValue ?? "?"))" }
                + stops.map { "stop \($0.key)@\($0.node)" }
        }
    }

    /// The round that reconciling would send (see `reconcile`); it sends nothing. Throws if the app cannot be placed.
    public func round(_ manifest: AppManifest, view: ClusterView, dead: Set<String> = [], draining: Set<String> = [],
                      cordoned: Set<String> = [], upgrade: Bool = true) throws -> Round {
        var round = Round(manifest: manifest)
        var outcome = DeployOutcome()
        // Where each replica of the app runs now; a replica found twice (a node came back with what was
        // moved away from it) stays on the node that has been up longest, the other copy is stopped.
        var holders: [String: [(node: String, guest: NodeReport.Guest, uptime: UInt64)]] = [:]
        for (node, report) in view.reports {
            for guest in report.guests where guest.assignment.app == manifest.name {
                holders[guest.assignment.replica, default: []].append((node, guest, report.uptimeMilliseconds))
            }
        }
        var current: [String: String] = [:]
        var running: [String: ModuleAssignment] = [:]
        var extra: [(node: String, key: String)] = []
        for (replica, copies) in holders.sorted(by: { $0.key < $1.key }) {   // a fixed order: the same stops in any process
            let ordered = copies.sorted { $0.uptime != $1.uptime ? $0.uptime > $1.uptime : $0.node < $1.node }
            current[replica] = ordered[0].node
            running[replica] = ordered[0].guest.assignment
            extra += ordered.dropFirst().map { ($0.node, $0.guest.assignment.key) }
        }
        let gone = dead.union(view.unreachable)
        var conditions: [String: NodeCondition] = [:]
        for node in inventory.nodes {
            if gone.contains(node.name) { conditions[node.name] = NodeCondition(status: .dead); continue }
            let budget = view.reports[node.name].map(Self.budget(of:))
            let status: NodeStatus = draining.contains(node.name) ? .draining : cordoned.contains(node.name) ? .cordoned : .up
            conditions[node.name] = NodeCondition(status: status, reported: budget)
        }
        let plan = Planner.plan(PlacementRequest(manifest: manifest, inventory: inventory, conditions: conditions, current: current))
        if let failure = plan.failure { throw DeployError("app \(manifest.name) cannot be placed; nothing was changed:\n\(failure)") }

        // What to start: new and moved replicas; kept ones whose module or settings changed are upgrades.
        var wanted: [ModuleAssignment] = []
        var starts: [Step] = []
        var upgrades: [Step] = []
        var images: [String: [UInt8]] = [:]
        for assignment in plan.assignments {
            let module = manifest.modules.first { $0.name == assignment.module }!
            guard !module.bytes.isEmpty else { throw DeployError("\(manifest.file): module \(module.name) has no bytes (\(module.wasmPath))") }
            let desired = Self.assignment(of: module, app: manifest.name, replica: assignment.replica)
            images[desired.sha256] = module.bytes
            wanted.append(desired)
            if assignment.kept, let previous = running[assignment.replica] {
                if previous == desired { outcome.kept += 1; continue }
                if !upgrade { outcome.kept += 1; outcome.stale.append("\(desired.key)@\(assignment.node)"); continue }
                upgrades.append(Step(node: assignment.node, assignment: desired, replacing: previous, module: module))
                continue
            }
            starts.append(Step(node: assignment.node, assignment: desired, replacing: nil, module: module))
            if let previous = assignment.previousNode, !gone.contains(previous) { extra.append((previous, desired.key)) }
        }
        let wantedKeys = Set(wanted.map(\.key))
        for (replica, node) in current where !wantedKeys.contains("\(manifest.name)/\(replica)") {
            extra.append((node, "\(manifest.name)/\(replica)"))
        }

        round.starts = starts
        round.upgrades = upgrades.sorted(by: { $0.assignment.replica < $1.assignment.replica })
        for step in round.upgrades {
            round.modes[step.assignment.replica] = Self.upgradeMode(step.module, replacing: step.replacing!,
                                                                    on: inventory.nodes.first { $0.name == step.node }?.board,
                                                                    report: view.reports[step.node])
        }
        round.stops = extra.sorted(by: { ($0.node, $0.key) < ($1.node, $1.key) })
        round.images = images
        round.outcome = outcome
        return round
    }

    /// Sends a round's requests in order; a refused start or upgrade rolls the round back and throws.
    public func execute(_ round: Round) throws -> DeployOutcome {
        let manifest = round.manifest, starts = round.starts, upgrades = round.upgrades, images = round.images
        var outcome = round.outcome
        var done: [Step] = []
        for (index, start) in starts.enumerated() {
            let label = "[\(index + 1)/\(starts.count)] \(start.assignment.replica) -> \(start.node)"
            do {
                let sent = try client.push(images[start.assignment.sha256]!, sha256: start.assignment.sha256, to: start.node)
                let answer = try client.request(start.node, .start(start.assignment))
                progress("\(label): \(sent == 0 ? "module already there" : "pushed \(Size(sent))"), \(answer.lines?.first ?? "started")")
                done.append(start)
                outcome.started.append("\(start.assignment.key)@\(start.node)")
            } catch {
                progress("\(label): refused: \(error)")
                rollBack(done, images: images)
                throw DeployError("apply of \(manifest.name) stopped at \(start.assignment.replica) on \(start.node): \(error)\n"
                                  + "rolled back: \(done.isEmpty ? "nothing had started" : "the \(done.count) step(s) of this round were undone"); the cluster runs what it ran before")
            }
        }
        // Upgrades one replica at a time, each running before the next begins.
        for (index, step) in upgrades.enumerated() {
            let node = step.node
            let mode = round.modes[step.assignment.replica]!
            let label = "[upgrade \(index + 1)/\(upgrades.count)] \(step.assignment.replica) on \(node) (\(mode.rawValue))"
            var stopped = false
            do {
                var began = client.nowNanoseconds
                var sent = 0
                if mode == .stopThenStart {
                    _ = try client.request(node, .stop(key: step.assignment.key))
                    stopped = true
                    sent = try client.push(images[step.assignment.sha256]!, sha256: step.assignment.sha256, to: node)
                } else {
                    sent = try client.push(images[step.assignment.sha256]!, sha256: step.assignment.sha256, to: node)
                    began = client.nowNanoseconds
                }
                _ = try client.request(node, .start(step.assignment))
                try checkRunning(step.assignment.key, on: node)
                let down = (client.nowNanoseconds - began) / 1_000_000
                progress("\(label): \(sent == 0 ? "module already there" : "pushed \(Size(sent))"), running; down \(down) ms")
                var record = step
                record.upgradeMode = mode
                done.append(record)
                outcome.upgraded.append(UpgradeRecord(key: step.assignment.key, node: node, mode: mode, downMilliseconds: down))
            } catch {
                progress("\(label): failed: \(error)")
                var failed = step
                failed.upgradeMode = stopped ? .stopThenStart : .inPlace
                rollBack(done + [failed], images: images)
                throw DeployError("apply of \(manifest.name) stopped at the upgrade of \(step.assignment.replica) on \(node): \(error)\n"
                                  + "rolled back: the \(done.count + 1) step(s) of this round were undone; the cluster runs what it ran before",
                                  duringUpgrade: true)
            }
        }
        for (node, key) in round.stops { stop(key, on: node, into: &outcome) }
        return outcome
    }

    /// One start or upgrade of a round (what undoing it needs).
    struct Step {
        var node: String
        var assignment: ModuleAssignment
        var replacing: ModuleAssignment?
        var module: ModuleSpec
        var upgradeMode: UpgradeMode?
    }

    /// The assignment a node is asked to run for `replica` of `module`.
    static func assignment(of module: ModuleSpec, app: String, replica: String) -> ModuleAssignment {
        ModuleAssignment(app: app, replica: replica, module: module.name, sha256: Digest.sha256Hex(module.bytes), tier: module.tier.rawValue,
                         devices: module.devices, restart: module.restart.description, serves: module.serves, uses: module.uses,
                         memoryBytes: module.memoryBytes)
    }

    /// In place if the node's free space as it reports it (the old copy counted) holds the new
    /// module too, by the planner's model of the kernel's allocations; otherwise stop, then start.
    /// A change of settings only (same module bytes) needs nothing more and is done in place.
    public static func upgradeMode(_ module: ModuleSpec, replacing previous: ModuleAssignment, on board: Board?, report: NodeReport?) -> UpgradeMode {
        guard Digest.sha256Hex(module.bytes) != previous.sha256 else { return .inPlace }
        guard let board, let report else { return .stopThenStart }
        if case .success = budget(of: report).charging(ModuleRequirements.of(module, on: board)) { return .inPlace }
        return .stopThenStart
    }

    /// Throws unless the node reports `key` running (not exited, not missing).
    private func checkRunning(_ key: String, on node: String) throws {
        guard let guest = try client.status(node).guests.first(where: { $0.assignment.key == key }) else {
            throw DeployError("\(node) does not report \(key) after its start")
        }
        if guest.state.hasPrefix("exited") || guest.state.hasPrefix("missing") || guest.state == "gone" {
            throw DeployError("\(key) on \(node) is \(guest.state) right after its start")
        }
    }

    /// Undoes steps, last first: new replicas stop; replaced ones get their previous assignment back
    /// (after a stop-then-start upgrade: the new copy stopped, the old module pushed again).
    private func rollBack(_ done: [Step], images: [String: [UInt8]]) {
        for step in done.reversed() {
            let key = step.assignment.key
            do {
                if let previous = step.replacing {
                    if step.upgradeMode == .stopThenStart {
                        _ = try client.request(step.node, .stop(key: key))
                        guard let bytes = images[previous.sha256] ?? previousModule(previous.sha256) else {
                            throw DeployError("the bytes of its previous module \(previous.sha256.prefix(12)) are not kept here")
                        }
                        try client.push(bytes, sha256: previous.sha256, to: step.node)
                    }
                    _ = try client.request(step.node, .start(previous))
                } else {
                    _ = try client.request(step.node, .stop(key: key))
                }
                progress("rolled back \(key) on \(step.node)")
            } catch {
                progress("could not roll back \(key) on \(step.node): \(error)")
            }
        }
    }

    /// Stops every replica of `app` on every node that reports one.
    public func delete(app: String, view: ClusterView) -> DeployOutcome {
        var outcome = DeployOutcome()
        for (node, report) in view.reports.sorted(by: { $0.key < $1.key }) {
            for guest in report.guests where guest.assignment.app == app { stop(guest.assignment.key, on: node, into: &outcome) }
        }
        if !view.unreachable.isEmpty {
            outcome.warnings.append("unreachable, not cleaned: \(view.unreachable.joined(separator: ", ")) (their copies stop when they return and the controller runs)")
        }
        return outcome
    }

    /// Stops one replica; a failure is a warning of the outcome, not the end of the round.
    private func stop(_ key: String, on node: String, into outcome: inout DeployOutcome) {
        do {
            _ = try client.request(node, .stop(key: key))
            progress("stopped \(key) on \(node)")
            outcome.stopped.append("\(key)@\(node)")
        } catch {
            outcome.warnings.append("could not stop \(key) on \(node): \(error)")
        }
    }

    /// A node's free space as it reports it (what runs there already counted).
    static func budget(of report: NodeReport) -> NodeBudget {
        NodeBudget(partitions: PartitionKind.allCases.map { kind in
            let use = report.partitions.first { $0.kind == kind.rawValue }
            return PartitionBudget(kind: kind, capacity: use?.capacity ?? 0, freeBytes: (use?.capacity ?? 0) - (use?.used ?? 0),
                                   largestFreeBlockBytes: use?.largestFree ?? 0)
        })
    }
}

/// What an apply would roll out, told before it is done (`fireball plan`).
public enum RolloutPreview {
    /// One line per module whose bytes differ from the applied version's, then one per replica: in
    /// place where its planned node, by the planner's model, holds the old module beside the new,
    /// else stopped, then started. Empty if no module's code changes.
    public static func lines(applied: AppManifest, next: AppManifest, plan: Plan, inventory: ClusterInventory) -> [String] {
        var lines: [String] = []
        for module in next.modules {
            guard let old = applied.modules.first(where: { $0.name == module.name }), old.bytes != module.bytes else { continue }
            let (from, to) = (Digest.sha256Hex(old.bytes).prefix(12), Digest.sha256Hex(module.bytes).prefix(12))
            lines.append("upgrade of \(module.name) (\(from)… -> \(to)…), one replica at a time:")
            for assignment in plan.assignments where assignment.module == module.name {
                guard let usage = plan.nodes.first(where: { $0.node == assignment.node }),
                      let node = inventory.nodes.first(where: { $0.name == assignment.node }) else { continue }
                switch usage.budget.charging(ModuleRequirements.of(old, on: node.board)) {
                case .success:
                    lines.append("  \(assignment.replica) -> \(assignment.node): in place (old and new fit at once)")
                case .failure(let refusal):
                    lines.append("  \(assignment.replica) -> \(assignment.node): stopped, then started (the \(node.board.name) cannot hold old and new "
                                 + "at once: \(refusal.kind.rawValue) partition); down while the new module is pushed and started")
                }
            }
        }
        return lines
    }
}
