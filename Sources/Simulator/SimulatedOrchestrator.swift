// The orchestrator in the simulation (`--controller`): the workload as one app, applied as
// `fireball apply` does, kept placed by the real controller, and changed while it runs the way an
// operator would: an upgrade of one module, a drain of a node and its uncordon, and restarts of the
// controller process. Every call goes through `SimulatedControl`; the controller's steps drive the
// simulated clock.
import Core
import Foundation
import Transport
import HAL
import Orchestrator

final class SimulatedOrchestrator {
    unowned let simulation: ClusterSimulation
    let directory: String
    var stateDirectory: String { directory + "/state" }
    let inventory: ClusterInventory
    /// The controller's session and the controller itself (new ones at each controller restart).
    private(set) var control: SimulatedControl!
    private var controller: Controller!
    /// The app as last written and captured (what invariant 4 checks against once applied).
    private(set) var manifest: AppManifest!
    private var applied: AppliedApp!
    /// Modules upgraded so far (their bytes carry a custom section more).
    private var upgraded: Set<String> = []
    /// Whether the first apply went through (a crash in its middle fails it; the operator runs it again).
    private var inForce = false
    enum Operation { case upgrade(String), drain(String), uncordon(String), restartController, read, applyExtra, deleteExtra }
    private var operations: [(at: UInt64, operation: Operation)]

    init(simulation: ClusterSimulation, board: Board, operations: [(at: UInt64, operation: Operation)]) throws {
        self.simulation = simulation
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fireball-simulation-\(simulation.options.seed)-\(UUID().uuidString.prefix(8))").path
        inventory = ClusterInventory(name: "simulated", nodes: simulation.layout.nodes.map { NodeSpec(name: $0, board: board, labels: ["node": $0]) })
        self.operations = operations.sorted { $0.at < $1.at }
        (manifest, applied) = try write()
        (control, controller) = newController()
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes the app's files and captures them (as `fireball apply` reads them): one module per
    /// layout guest, each sender kept off its receiver's node (`avoid-modules`), so every message
    /// crosses a link. Upgraded modules get new bytes (a custom section more: another SHA-256, the same code).
    private func write(app: String = "sim") throws -> (AppManifest, AppliedApp) {
        try FileManager.default.createDirectory(atPath: directory + "/apps", withIntermediateDirectories: true)
        var yaml = "app: \(app)\nmodules:\n"
        let guests = app == "sim" ? simulation.layout.guests : simulation.layout.extras
        for guest in guests {
            var bytes = simulation.guests.module(guest).bytes
            if upgraded.contains(guest.name) { bytes += [0, 3, 1, UInt8(ascii: "v"), 2] }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/apps/\(guest.name).wasm"))
            let apart = guests.filter { $0.uri == guest.uri && $0.name != guest.name }.map(\.name)
            let serves = guest.variant == .SENDER || guest.variant == .RECEIVER ? "" : guest.uri
            yaml += "  - {name: \(guest.name), wasm: \(guest.name).wasm, serves: [\(serves)], uses: [\(guest.uri)], memory: 64 KiB, "
                + "affinity: {avoid-modules: [\(apart.joined(separator: ", "))]}}\n"
        }
        try yaml.write(toFile: directory + "/apps/\(app).yaml", atomically: true, encoding: .utf8)
        return try ClusterState.capture(manifestPath: directory + "/apps/\(app).yaml", directory: stateDirectory)
    }

    /// A controller process: its own sessions to every node, the links that are up now up.
    private func newController() -> (SimulatedControl, Controller) {
        let control = SimulatedControl(simulation: simulation)
        for node in simulation.layout.nodes where !simulation.controlLinkUp(node) { control.downSince[node] = simulation.clock.nanoseconds }
        let deployer = Deployer(inventory: inventory, client: control) { [unowned simulation] line in simulation.note("deploy: \(line)") }
        let controller = Controller(deployer: deployer, stateDirectory: stateDirectory) { [unowned simulation] line in simulation.note("controller: \(line)") }
        return (control, controller)
    }

    /// A CLI's own session, as each `fireball` command opens one.
    private func cli() -> Deployer {
        Deployer(inventory: inventory, client: SimulatedControl(simulation: simulation)) { [unowned simulation] line in simulation.note("cli: \(line)") }
    }

    /// Applies the app, then runs the controller and the operations until the clock reads `end`.
    func run(until end: UInt64) {
        let clock = simulation.clock
        var retryApply: UInt64 = 0
        while clock.nanoseconds < end && simulation.report.failures.isEmpty {
            if !inForce, clock.nanoseconds >= retryApply {
                apply("the app")
                retryApply = clock.nanoseconds + 1_000_000_000
            }
            if inForce, let next = operations.first, next.at <= clock.nanoseconds {
                operations.removeFirst()
                perform(next.operation)
            }
            controller.step()
            // Once the faults are over: when the placement became the app's (and stayed so).
            if inForce, clock.nanoseconds >= simulation.faultEnd {
                if simulation.placementProblems(manifest).isEmpty {
                    if placedAt == nil { placedAt = clock.nanoseconds }
                } else {
                    placedAt = nil
                }
            }
        }
        simulation.report.placedAfterNanoseconds = placedAt.map { $0 - min($0, max(simulation.faultEnd, simulation.lastFaultAt)) }
    }
    private var placedAt: UInt64?

    /// `fireball status` and `fireball logs` beside the controller, each on a session of its own: a
    /// node answers both unless its session drops meanwhile (a crash, a cut), whatever the
    /// controller does at the same time.
    private func read() {
        simulation.count("status and logs read")
        let session = SimulatedControl(simulation: simulation)
        func expected(_ error: ControlError) -> Bool {
            // The link went, or the controller stopped that replica between the status and the logs.
            error.detail.hasPrefix("no link") || error.detail.hasPrefix("link dropped") || error.detail.contains(": no module ")
        }
        for node in simulation.layout.nodes {
            let report: NodeReport
            do { report = try session.status(node) } catch {
                if expected(error) { continue }
                return simulation.fail("fireball status: \(error)")
            }
            guard let guest = report.guests.first(where: { !$0.state.hasPrefix("exited") && !$0.state.hasPrefix("missing") }) else { continue }
            do { _ = try session.logs(node, key: guest.assignment.key, lines: 20) } catch {
                if expected(error) { continue }
                return simulation.fail("fireball logs \(guest.assignment.key) on \(node): \(error)")
            }
        }
    }

    private func apply(_ what: String) {
        do {
            let outcome = try cli().apply(manifest, applied: applied, stateDirectory: stateDirectory)
            inForce = true
            simulation.note("cli: applied \(what): \(outcome.started.count) started, \(outcome.upgraded.count) upgraded, \(outcome.stopped.count) stopped")
        } catch {
            simulation.note("cli: apply of \(what) failed: \(error)")
        }
    }

    private func perform(_ operation: Operation) {
        switch operation {
        case .upgrade(let module):
            simulation.count("upgrade")
            upgraded.insert(module)
            do { (manifest, applied) = try write() } catch { return simulation.fail("the upgrade of \(module) could not be written: \(error)") }
            apply("an upgrade of \(module)")
        case .drain(let node):
            simulation.count("drain")
            do { try cli().changeCordon(node, cordoned: true, move: true, stateDirectory: stateDirectory) } catch {
                simulation.note("cli: drain of \(node): \(error)")
            }
        case .uncordon(let node):
            do { try cli().changeCordon(node, cordoned: false, move: false, stateDirectory: stateDirectory) } catch {
                simulation.note("cli: uncordon of \(node): \(error)")
            }
        case .read:
            read()
        case .applyExtra:
            simulation.count("apply and delete of a second app")
            do {
                let (extra, record) = try write(app: "extra")
                let outcome = try cli().apply(extra, applied: record, stateDirectory: stateDirectory)
                simulation.note("cli: applied extra: \(outcome.started.count) started")
            } catch {
                simulation.note("cli: apply of extra failed: \(error)")
            }
        case .deleteExtra:
            do {
                let outcome = try cli().delete(app: "extra", stateDirectory: stateDirectory)
                simulation.note("cli: deleted extra: \(outcome.stopped.count) stopped\(outcome.warnings.map { "; \($0)" }.joined())")
            } catch {
                simulation.note("cli: delete of extra: \(error)")
            }
        case .restartController:
            simulation.count("controller restart")
            simulation.note("fault: the controller restarts")
            (control, controller) = newController()
        }
    }
}
