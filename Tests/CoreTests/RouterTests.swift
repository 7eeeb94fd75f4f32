// Channels across nodes, deterministically: kernels on one simulated clock, their routers joined
// by an in-memory network that can cut and restore links. The guests are the C examples.
import Foundation
import SimulatedNodes
import Testing
@testable import Core

final class RouterNetwork {
    final class Node {
        let name: String
        let kernel: Kernel
        let router: Router
        unowned let network: RouterNetwork
        var console: [String] = []
        init(name: String, network: RouterNetwork, policy: RolePolicy, partitions: PartitionTable) {
            self.name = name
            self.network = network
            kernel = Kernel(clock: network.clock, configuration: KernelConfiguration(slice: .safePoints(500)), partitions: partitions, rolePolicy: policy)
            kernel.nodeName = name
            network.runs += 1
            router = Router(kernel: kernel, incarnation: UInt64(network.runs))
            router.graceNanoseconds = 2_000_000_000
            kernel.console = { [unowned self] line in console.append(line) }
            router.log = { [unowned self] line in console.append(line) }
        }
        /// The router's frames onto the network (lost if their link is down).
        func send(_ frames: [RouterOutput]) {
            for frame in frames where network.isUp(name, frame.peer) {
                network.inFlight.append((name, frame.peer, frame.kind, frame.payload))
                network.kindsSent.append(frame.kind)
                if let decoded = try? RouterFrame(kind: frame.kind, payload: frame.payload) { network.framesSent.append(decoded) }
            }
        }
        func receive(kind: UInt8, payload: [UInt8], from peer: String) throws { send(try router.received(kind: kind, payload: payload, from: peer)) }
        func linkUp(_ peer: String) { send(router.linkUp(peer)) }
        func linkDown(_ peer: String) { send(router.linkDown(peer)) }
        func tick() { send(router.tick()) }
        func lines(containing text: String) -> [String] { console.filter { $0.contains(text) } }
    }

    let clock = ManualClock()
    var nodes: [String: Node] = [:]
    /// Nodes booted so far (a restart boots one more): each run's router incarnation.
    var runs = 0
    var inFlight: [(from: String, to: String, kind: UInt8, payload: [UInt8])] = []
    /// The kind of every frame sent so far, by any node.
    var kindsSent: [UInt8] = []
    /// Every frame sent so far, by any node, decoded.
    var framesSent: [RouterFrame] = []
    /// Chaos: after every N-th delivered frame, a link drops (losing what is on the wire) and comes
    /// straight back; the links in `cutLinks` take turns.
    var cutEvery: Int?
    var cutLinks = [("a", "b")]
    /// With a seed, each delivered frame cuts with chance 1/`cutEvery`, a link drawn from `cutLinks`.
    var chaosRandom: SeededRandom?
    /// Called before each frame is handed to its node (tests cut links at a chosen moment here).
    var beforeDelivery: ((_ from: String, _ to: String, _ kind: UInt8) -> Void)?
    /// Each reconnect sends a few frames of its own, so chaos stops after this many cuts.
    var cutsMax = 8
    private(set) var delivered = 0, cuts = 0
    private var links: Set<String> = []
    private var cutCount: [String: Int] = [:]

    /// Nodes with the upstream role policy and the host's partitions, unless told otherwise per node.
    init(_ names: [String], policies: [String: RolePolicy] = [:], partitions: [String: PartitionTable] = [:]) {
        for name in names { nodes[name] = Node(name: name, network: self, policy: policies[name] ?? .upstream, partitions: partitions[name] ?? .host) }
        for a in names { for b in names where a < b { connect(a, b) } }
    }

    /// The link chaos cuts after this frame, if any.
    private func nextCut() -> (String, String)? {
        guard let every = cutEvery, cuts < cutsMax else { return nil }
        guard var random = chaosRandom else { return delivered % every == 0 ? cutLinks[cuts % cutLinks.count] : nil }
        defer { chaosRandom = random }
        guard random.next() % UInt64(every) == 0 else { return nil }
        return cutLinks[Int(random.next() % UInt64(cutLinks.count))]
    }

    private func key(_ a: String, _ b: String) -> String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }
    func isUp(_ a: String, _ b: String) -> Bool { links.contains(key(a, b)) }

    func connect(_ a: String, _ b: String) {
        links.insert(key(a, b))
        nodes[a]!.linkUp(b)
        nodes[b]!.linkUp(a)
    }

    /// A cut: frames on the wire are lost, both ends see the link go down.
    func cut(_ a: String, _ b: String) {
        links.remove(key(a, b))
        cutCount[key(a, b), default: 0] += 1
        inFlight.removeAll { key($0.from, $0.to) == key(a, b) }
        nodes[a]!.linkDown(b)
        nodes[b]!.linkDown(a)
    }

    /// The node's process dies and starts again at once: its links drop (frames on the wire are
    /// lost), a new kernel and router (a new incarnation) boot under the same name, and the links
    /// come back. The old node is returned so that a test can read its console.
    @discardableResult
    func restart(_ name: String) -> Node {
        let old = nodes[name]!
        let peers = nodes.keys.filter { $0 != name && isUp(name, $0) }.sorted()
        for peer in peers { cut(name, peer) }
        nodes[name] = Node(name: name, network: self, policy: old.kernel.rolePolicy, partitions: old.kernel.partitionTable)
        for peer in peers { connect(name, peer) }
        return old
    }

    func spawn(_ example: String, on node: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Deploy/examples/\(example).wasm").standardized
        let module = try LoadedModule.load([UInt8](try Data(contentsOf: path)))
        _ = try nodes[node]!.kernel.spawnGuest(module, name: example, capability: ProcessCapability())
    }

    /// Runs kernels and delivers frames until nothing moves, advancing the clock to the next timer,
    /// for at most `nanoseconds` of simulated time.
    func run(for nanoseconds: UInt64) throws {
        let running = nodes.keys.sorted().map { (nodes[$0]!.kernel, nodes[$0]!.router, nodes[$0]!.tick) }
        try SimulatedRun.run(running, clock: clock, until: clock.nanoseconds + nanoseconds) {
            guard !inFlight.isEmpty else { return false }
            let frame = inFlight.removeFirst()
            if let beforeDelivery {
                let epoch = cutCount[key(frame.from, frame.to), default: 0]
                beforeDelivery(frame.from, frame.to, frame.kind)
                // The hook may have cut this frame's link: then it was lost on the wire.
                guard cutCount[key(frame.from, frame.to), default: 0] == epoch else { return true }
            }
            try nodes[frame.to]!.receive(kind: frame.kind, payload: frame.payload, from: frame.from)
            delivered += 1
            if let (x, y) = nextCut() {
                cut(x, y)
                cuts += 1
                connect(x, y)
            }
            return true
        }
    }
}

@Suite struct RouterTests {
    @Test func framesRoundTripAndMalformedOnesAreRefused() throws {
        var builder = MessageBuilder()
        try builder.add(.functional(1), Int32(-5))
        let ping = RouterFrame.Client(name: "ping", role: .guest)
        let frames: [RouterFrame] = [
            .announce(incarnation: 0xF1BE_BA11_0000_0042, [.init(uri: "fireball://pong/echo", role: .guest), .init(uri: "fireball://db/main", role: .service)]),
            .send(seq: 7, uri: "fireball://pong/echo", client: ping, message: builder.build(), values: []),
            .sendResult(seq: 7, status: -12), .want(id: 3, uri: "fireball://a/b", client: ping, ahead: false),
            .want(id: 5, uri: "fireball://a/b", client: ping, ahead: true),
            .deliver(id: 3, status: 0, message: builder.build(), values: []), .deliver(id: 4, status: -3, message: Message(), values: []),
            .taken(id: 3, outcome: .returned), .taken(id: 3, outcome: .noMemory),
            .close(seq: 8, uri: "fireball://pong/echo", client: RouterFrame.Client(name: "", role: .service)),
            .openDenied(uri: "fireball://pong/echo", client: ping),
        ]
        for frame in frames { #expect(try RouterFrame(kind: frame.kind, payload: frame.payload) == frame) }
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 17, payload: [1, 2, 3]) }
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 99, payload: []) }
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 21, payload: RouterFrame.taken(id: 1, outcome: .accepted).payload + [0]) }
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 21, payload: RouterFrame.taken(id: 1, outcome: .accepted).payload.dropLast() + [3]) }
        var notURI = RouterFrame.want(id: 1, uri: "fireball://a/b", client: ping, ahead: false).payload
        notURI[11] = UInt8(ascii: "X")
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 19, payload: notURI) }
        var badRole = RouterFrame.want(id: 1, uri: "fireball://a/b", client: ping, ahead: false).payload
        badRole[8 + 1 + 2 + 14] = 9
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 19, payload: badRole) }
        var badFlag = RouterFrame.want(id: 1, uri: "fireball://a/b", client: ping, ahead: true).payload
        badFlag[8] = 2
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 19, payload: badFlag) }
        // Another router frame version is refused in the first frame of a link.
        var otherVersion = RouterFrame.announce(incarnation: 1, []).payload
        otherVersion[0] = RouterFrame.version + 1
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 16, payload: otherVersion) }
        // Long client names are cut to what the frame holds, at a character boundary.
        #expect(RouterFrame.Client(name: String(repeating: "é", count: 200), role: .guest).name.utf8.count == 254)
    }

    @Test func pingOnOneNodeTalksToPongOnAnother() throws {
        let network = RouterNetwork(["a", "b"])
        try network.spawn("pong", on: "b")
        try network.spawn("ping", on: "a")
        try network.run(for: 2_000_000_000)
        let ping = network.nodes["a"]!
        #expect(ping.lines(containing: "ping: echo ok").count == 10, "\(ping.console)")
        #expect(ping.lines(containing: "ping: 10 of 10 round trips").count == 1)
        #expect(network.nodes["b"]!.lines(containing: "pong: echoed 10").count == 1)
        // ping's close reaches b: pong sees "closed" and ends, as it would next to ping.
        #expect(network.nodes["b"]!.lines(containing: "pong: channel closed; messages echoed: 10").count == 1, "\(network.nodes["b"]!.console)")
        #expect(network.nodes["b"]!.kernel.taskIDs.allSatisfy { network.nodes["b"]!.kernel.state(of: $0) == .exited(.completed) })
        #expect(network.nodes["a"]!.router.pendingCloseCount == 0)
        #expect(network.nodes["a"]!.router.remoteURIs.isEmpty, "b no longer serves pong's URI once it is closed")
    }

    @Test func altMixesRemoteAndLocalChannels() throws {
        // The consumer waits with channel_alt (and a timeout) on the producer's URI, served on b.
        let network = RouterNetwork(["a", "b"])
        try network.spawn("producer", on: "b")
        try network.spawn("consumer", on: "a")
        try network.run(for: 5_000_000_000)
        let consumer = network.nodes["a"]!
        #expect(consumer.lines(containing: "consumer: #40 ").count == 1, "\(consumer.console.suffix(5))")
        #expect(consumer.lines(containing: "consumer: done").count == 1)
    }

    @Test(arguments: [3, 4, 5, 7])
    func linkCutsMidExchangeLoseAndDuplicateNothing(every: Int) throws {
        let network = RouterNetwork(["a", "b"])
        try network.spawn("pong", on: "b")
        try network.run(for: 1_000_000)
        network.cutEvery = every                   // frames on the wire are lost at each cut
        try network.spawn("ping", on: "a")
        try network.run(for: 2_000_000_000)
        let ping = network.nodes["a"]!
        #expect(network.cuts == network.cutsMax)
        // Every echo arrives once with the right counter (ping checks both): nothing lost, nothing doubled.
        #expect(ping.lines(containing: "ping: echo ok").count == 10, "\(ping.console)")
        #expect(ping.lines(containing: "ping: 10 of 10").count == 1)
        #expect(network.nodes["b"]!.lines(containing: "pong: echoed 10").count == 1)
        #expect(network.nodes["b"]!.lines(containing: "pong: echoed 11").isEmpty)
        // ping's close crosses the cuts too, once.
        #expect(network.nodes["b"]!.lines(containing: "pong: channel closed; messages echoed: 10").count == 1)
        #expect(network.nodes["a"]!.router.pendingCloseCount == 0)
    }

    @Test func aDeadPeerFailsPendingOperationsWithinTheGrace() throws {
        let network = RouterNetwork(["a", "b"])
        try network.spawn("pong", on: "b")
        try network.run(for: 1_000_000)            // b announces pong's URI
        network.cut("a", "b")
        let cutAt = network.clock.nanoseconds
        try network.spawn("ping", on: "a")         // its first send waits for b, which never returns
        try network.run(for: 10_000_000_000)
        let ping = network.nodes["a"]!
        let failure = try #require(ping.lines(containing: "ping: send 1: EUNREACHABLE").first,
                                   "a: \(ping.console) b: \(network.nodes["b"]!.console) states: \(ping.kernel.taskIDs.map { ping.kernel.state(of: $0) })")
        let seconds = Double(failure.split(separator: " ")[0])!
        // Failed at the grace period (2 s here), not later, and nothing is left pending.
        #expect(abs(seconds * 1e9 - Double(cutAt + network.nodes["a"]!.router.graceNanoseconds)) < 2e6)
        #expect(network.nodes["a"]!.router.pendingCount.sends == 0)
        #expect(network.nodes["a"]!.router.remoteURIs.isEmpty)
    }
}
