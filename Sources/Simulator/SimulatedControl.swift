// The orchestrator's control sessions in the simulation: the real `Deployer` and `Controller` talk to
// the simulated nodes' `NodeCore.handle` over links with latency, which crashes and cuts drop. A
// request whose link drops after the node acted and before the answer came back fails with "link
// dropped", as over TCP: the orchestrator cannot tell whether it took effect.
import Core
import Orchestrator
import Transport

final class SimulatedControl: ControlConnection {
    unowned let simulation: ClusterSimulation
    var downSince: [String: UInt64] = [:]
    private var linkChanges: [LinkChange] = []
    private var nextID: UInt64 = 1
    /// One way, per request and per answer.
    static let latency: UInt64 = 2_000_000

    init(simulation: ClusterSimulation) { self.simulation = simulation }

    var nowNanoseconds: UInt64 { simulation.clock.nanoseconds }

    /// The orchestrator's link to `node` changed (a crash, a restart, a cut of that link).
    func linkChanged(_ node: String, up: Bool) {
        guard up == (downSince[node] != nil) else { return }
        downSince[node] = up ? nil : nowNanoseconds
        linkChanges.append(LinkChange(node: node, up: up))
    }

    func takeLinkChanges() -> [LinkChange] {
        defer { linkChanges = [] }
        return linkChanges
    }

    @discardableResult
    func drive(seconds: Double, until done: () -> Bool) -> Bool {
        simulation.advance(until: nowNanoseconds + UInt64(seconds * 1e9), done: done)
        return done()
    }

    func request(_ node: String, _ operation: ControlRequest.Operation, seconds: Double) throws(ControlError) -> ControlResponse {
        guard downSince[node] == nil, simulation.controlLinkUp(node) else { throw ControlError(node: node, detail: "no link (node down or unreachable)") }
        let id = nextID
        nextID += 1
        let run = simulation.nodes[node]!.runs
        simulation.advance(until: nowNanoseconds + Self.latency)
        // The same run of the node, its link never down meanwhile: the request arrives.
        guard simulation.controlLinkUp(node), simulation.nodes[node]!.runs == run else { throw ControlError(node: node, detail: "link dropped") }
        let answer = simulation.handle(ControlRequest(id: id, operation), on: node)
        simulation.advance(until: nowNanoseconds + Self.latency)
        guard simulation.controlLinkUp(node), simulation.nodes[node]!.runs == run else {
            throw ControlError(node: node, detail: "link dropped before the answer came")
        }
        if let error = answer.error { throw ControlError(node: node, detail: error) }
        return answer
    }
}
