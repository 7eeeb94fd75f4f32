// The in-memory network: same delegate interface, deterministic from a seed, cuts, delays, backpressure.
import Testing
@testable import Transport

@Suite struct MemoryTransportTests {
    private func network(seed: UInt64) -> (MemoryNetwork, [MemoryTransport], [Recorder]) {
        let network = MemoryNetwork(seed: seed)
        let names = ["a", "b", "c"]
        let nodes = names.map { network.addNode(PeerIdentity(name: $0, role: .node), sendQueueFramesMax: 4) }
        let recorders = nodes.map { node in let r = Recorder(); node.delegate = r; return r }
        return (network, nodes, recorders)
    }

    @Test func linksComeUpAndFramesArriveInOrder() throws {
        let (network, nodes, recorders) = network(seed: 1)
        network.connect("a", "b")
        network.runUntilIdle()
        #expect(recorders[0].ups.map(\.name) == ["b"] && recorders[1].ups.map(\.name) == ["a"])
        #expect(nodes[0].connectedPeers.map(\.name) == ["b"])
        network.setDelay("a", "b", nanoseconds: 10...1_000_000)
        for i in 0..<4 { try nodes[0].send(to: "b", kind: 16, bytes: [UInt8(i)]) }
        let full = #expect(throws: TransportError.self) { try nodes[0].send(to: "b", kind: 16, bytes: [9]) }
        #expect(full?.code == .backpressure)
        #expect((#expect(throws: TransportError.self) { try nodes[0].send(to: "c", kind: 16, bytes: []) })?.code == .notConnected)
        #expect((#expect(throws: TransportError.self) { try nodes[0].send(to: "b", kind: 2, bytes: []) })?.code == .invalidKind)
        network.runUntilIdle()
        #expect(recorders[1].frames.map(\.bytes) == [[0], [1], [2], [3]])
        try nodes[0].send(to: "b", kind: 16, bytes: [4])
    }

    @Test func cutLosesFramesInFlightAndRestoreBringsTheLinkBack() throws {
        let (network, nodes, recorders) = network(seed: 2)
        network.connect("a", "b")
        network.runUntilIdle()
        try nodes[0].send(to: "b", kind: 16, bytes: [1])
        network.cut("a", "b")
        network.runUntilIdle()
        #expect(recorders[1].frames.isEmpty)
        #expect(recorders[0].downs.map(\.0.name) == ["b"] && recorders[1].downs.map(\.0.name) == ["a"])
        #expect((#expect(throws: TransportError.self) { try nodes[0].send(to: "b", kind: 16, bytes: []) })?.code == .notConnected)
        network.restore("a", "b")
        network.runUntilIdle()
        #expect(recorders[0].ups.count == 2)
        try nodes[1].send(to: "a", kind: 16, bytes: [2])
        network.runUntilIdle()
        #expect(recorders[0].frames.map(\.bytes) == [[2]])
    }

    /// The same seed and the same actions give the same trace; another seed gives another interleaving.
    @Test func runsReplayExactlyFromTheSeed() throws {
        func trace(seed: UInt64) throws -> [String] {
            let (network, nodes, recorders) = network(seed: seed)
            var log: [String] = []
            for (i, r) in recorders.enumerated() { r.onFrame = { peer, _, payload in log.append("\(i)<-\(peer):\(payload[0])@\(network.nowNanoseconds)") } }
            network.connect("a", "b"); network.connect("b", "c"); network.connect("a", "c")
            network.setDelay("a", "c", nanoseconds: 1...500_000)
            network.runUntilIdle()
            for round in 0..<3 {
                for (i, node) in nodes.enumerated() {
                    for peer in node.connectedPeers { try node.send(to: peer.name, kind: 16, bytes: [UInt8(round * 10 + i)]) }
                }
                network.run(forNanoseconds: 100_000)
            }
            network.runUntilIdle()
            return log
        }
        let first = try trace(seed: 42)
        #expect(first.count == 18)
        #expect(try trace(seed: 42) == first)
        #expect(try trace(seed: 43) != first)
    }
}
