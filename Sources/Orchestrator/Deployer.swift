// Deploying: what runs now (the nodes' reports) against what an app's manifest asks for, placed by
// the planner; then pushes and starts what is missing and stops what is extra. A start that a node
// refuses rolls back every start of the same round, so the cluster runs what it ran before.
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

/// What one reconcile did.
public struct DeployOutcome: Sendable {
    public var started: [String] = []
    public var stopped: [String] = []
    public var kept = 0
    /// Warnings that did not stop the round (a stop on a node that is gone, …).
    public var warnings: [String] = []
    public var changed: Bool { !started.isEmpty || !stopped.isEmpty }
}

public struct DeployError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public final class Deployer {
    public let inventory: ClusterInventory
    public let client: ControlClient
    /// One line per step (push, start, stop, roll back).
    public var progress: (String) -> Void

    public init(inventory: ClusterInventory, client: ControlClient, progress: @escaping (String) -> Void) {
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
    /// replicas to nodes that fit; nodes in `draining` keep nothing. Throws before changing anything
    /// if the app cannot be placed, and after rolling back if a node refuses a start.
    public func reconcile(_ manifest: AppManifest, view: ClusterView, dead: Set<String> = [], draining: Set<String> = []) throws -> DeployOutcome {
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
        for (replica, copies) in holders {
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
            conditions[node.name] = NodeCondition(status: draining.contains(node.name) ? .draining : .up, reported: budget)
        }
        let plan = Planner.plan(PlacementRequest(manifest: manifest, inventory: inventory, conditions: conditions, current: current))
        if let failure = plan.failure { throw DeployError("app \(manifest.name) cannot be placed; nothing was changed:\n\(failure)") }

        // What to start: new and moved replicas, and kept ones whose module or settings changed.
        var wanted: [ModuleAssignment] = []
        var starts: [(node: String, assignment: ModuleAssignment, replacing: ModuleAssignment?)] = []
        var images: [String: [UInt8]] = [:]
        for assignment in plan.assignments {
            let module = manifest.modules.first { $0.name == assignment.module }!
            if images[module.name] == nil {
                guard let data = FileManager.default.contents(atPath: module.wasmPath) else { throw DeployError("\(manifest.file): cannot read \(module.wasmPath)") }
                images[module.name] = [UInt8](data)
            }
            let desired = ModuleAssignment(app: manifest.name, replica: assignment.replica, module: module.name,
                                           sha256: Digest.sha256Hex(images[module.name]!), tier: module.tier.rawValue, devices: module.devices,
                                           restart: module.restart.description, serves: module.serves, uses: module.uses,
                                           memoryBytes: module.memoryBytes)
            wanted.append(desired)
            if assignment.kept, running[assignment.replica] == desired {
                outcome.kept += 1
                continue
            }
            starts.append((assignment.node, desired, assignment.kept ? running[assignment.replica] : nil))
            if let previous = assignment.previousNode, !gone.contains(previous) { extra.append((previous, desired.key)) }
        }
        let wantedKeys = Set(wanted.map(\.key))
        for (replica, node) in current where !wantedKeys.contains("\(manifest.name)/\(replica)") {
            extra.append((node, "\(manifest.name)/\(replica)"))
        }

        var done: [(node: String, assignment: ModuleAssignment, replacing: ModuleAssignment?)] = []
        for (index, start) in starts.enumerated() {
            let step = "[\(index + 1)/\(starts.count)] \(start.assignment.replica) -> \(start.node)"
            do {
                let sent = try client.push(images[start.assignment.module]!, sha256: start.assignment.sha256, to: start.node)
                let answer = try client.request(start.node, .start(start.assignment))
                progress("\(step): \(sent == 0 ? "module already there" : "pushed \(Size(sent))"), \(answer.lines?.first ?? "started")")
                done.append(start)
                outcome.started.append("\(start.assignment.key)@\(start.node)")
            } catch {
                progress("\(step): refused: \(error)")
                rollBack(done)
                throw DeployError("apply of \(manifest.name) stopped at \(start.assignment.replica) on \(start.node): \(error)\n"
                                  + "rolled back: \(done.isEmpty ? "nothing had started" : "the \(done.count) start(s) of this round were undone"); the cluster runs what it ran before")
            }
        }
        for (node, key) in extra.sorted(by: { ($0.node, $0.key) < ($1.node, $1.key) }) { stop(key, on: node, into: &outcome) }
        return outcome
    }

    /// Undoes starts: new replicas stop, replaced ones get their previous assignment back.
    private func rollBack(_ done: [(node: String, assignment: ModuleAssignment, replacing: ModuleAssignment?)]) {
        for start in done.reversed() {
            do {
                if let previous = start.replacing { _ = try client.request(start.node, .start(previous)) } else { _ = try client.request(start.node, .stop(key: start.assignment.key)) }
                progress("rolled back \(start.assignment.key) on \(start.node)")
            } catch {
                progress("could not roll back \(start.assignment.key) on \(start.node): \(error)")
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
