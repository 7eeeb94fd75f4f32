// An in-memory network of LinkTransports (no sockets, no TLS) driven by an explicit scheduler with a seeded
// random source, so that multi-node logic (the router) can be tested deterministically: links can be cut and
// restored, delays injected, and a run replays exactly from its seed.

/// The simulated network and its clock. Everything happens inside `step()` / `run...()`, on the caller's thread.
public final class MemoryNetwork {
    public private(set) var nowNanoseconds: UInt64 = 0
    private var random: SplitMix64
    private var events = EventHeap()
    private var sequence: UInt64 = 0
    private var nodes: [String: MemoryTransport] = [:]
    private var links: [PairKey: PairState] = [:]
    /// Default one-way delay range for new links.
    public var defaultDelayNanoseconds: ClosedRange<UInt64> = 50_000...150_000

    struct PairKey: Hashable {
        let low: String
        let high: String
        init(_ a: String, _ b: String) { (low, high) = a < b ? (a, b) : (b, a) }
    }

    final class PairState {
        var up = false
        var generation = 0
        var delay: ClosedRange<UInt64>
        var lastDeliveryAt: [String: UInt64] = [:]   // by receiver
        var inFlight: [String: Int] = [:]            // by receiver
        init(delay: ClosedRange<UInt64>) { self.delay = delay }
    }

    public init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// Adds a node; `sendQueueFramesMax` bounds the frames in flight on each of its links (then `send` answers backpressure).
    public func addNode(_ identity: PeerIdentity, sendQueueFramesMax: Int = 1024) -> MemoryTransport {
        precondition(nodes[identity.name] == nil, "node \(identity.name) exists")
        let node = MemoryTransport(network: self, identity: identity, sendQueueFramesMax: sendQueueFramesMax)
        nodes[identity.name] = node
        return node
    }

    /// Brings the link between `a` and `b` up after one delay (both sides get `linkUp`). Also restores a cut link.
    public func connect(_ a: String, _ b: String) {
        precondition(nodes[a] != nil && nodes[b] != nil && a != b, "unknown nodes \(a), \(b)")
        let pair = state(a, b)
        guard !pair.up else { return }
        pair.up = true
        pair.generation += 1
        let generation = pair.generation
        let delay = draw(pair.delay)
        schedule(afterNanoseconds: delay) { [unowned self] in
            guard pair.generation == generation, let nodeA = self.nodes[a], let nodeB = self.nodes[b] else { return }
            nodeA.peers.insert(b)
            nodeB.peers.insert(a)
            nodeA.delegate?.linkUp(nodeB.identity)
            nodeB.delegate?.linkUp(nodeA.identity)
        }
    }

    /// Cuts the link: frames in flight are lost, both sides get `linkDown` now.
    public func cut(_ a: String, _ b: String, reason: LinkCloseReason = LinkCloseReason(.connectionLost, "link cut")) {
        let pair = state(a, b)
        guard pair.up else { return }
        pair.up = false
        pair.generation += 1
        pair.inFlight = [:]
        pair.lastDeliveryAt = [:]
        let generation = pair.generation
        schedule(afterNanoseconds: 0) { [unowned self] in
            guard pair.generation == generation, let nodeA = self.nodes[a], let nodeB = self.nodes[b] else { return }
            let wasUp = nodeA.peers.remove(b) != nil
            nodeB.peers.remove(a)
            if wasUp {
                nodeA.delegate?.linkDown(nodeB.identity, reason: reason)
                nodeB.delegate?.linkDown(nodeA.identity, reason: reason)
            }
        }
    }

    /// `connect` again after a cut.
    public func restore(_ a: String, _ b: String) { connect(a, b) }

    /// Sets the one-way delay range between `a` and `b` (drawn per frame; order per direction is kept).
    public func setDelay(_ a: String, _ b: String, nanoseconds: ClosedRange<UInt64>) { state(a, b).delay = nanoseconds }

    public func isUp(_ a: String, _ b: String) -> Bool { links[PairKey(a, b)]?.up ?? false }

    /// Runs `body` at `nowNanoseconds + delay` (for test actions: cuts, sends, checks).
    public func schedule(afterNanoseconds delay: UInt64, _ body: @escaping () -> Void) {
        sequence += 1
        events.push(Event(time: nowNanoseconds + delay, sequence: sequence, body: body))
    }

    /// Runs the next event; false if there is none.
    @discardableResult
    public func step() -> Bool {
        guard let event = events.pop() else { return false }
        nowNanoseconds = max(nowNanoseconds, event.time)
        event.body()
        return true
    }

    /// Runs until no event is left (or `eventsMax` ran; then returns false).
    @discardableResult
    public func runUntilIdle(eventsMax: Int = 1_000_000) -> Bool {
        for _ in 0..<eventsMax { if !step() { return true } }
        return events.isEmpty
    }

    /// Runs the events due within `nanoseconds`, then sets the clock to the end of that span.
    public func run(forNanoseconds nanoseconds: UInt64) {
        let end = nowNanoseconds + nanoseconds
        while let next = events.peekTime, next <= end { step() }
        nowNanoseconds = end
    }

    /// Events waiting.
    public var pendingEvents: Int { events.count }

    // MARK: internals

    private func state(_ a: String, _ b: String) -> PairState {
        let key = PairKey(a, b)
        if let pair = links[key] { return pair }
        let pair = PairState(delay: defaultDelayNanoseconds)
        links[key] = pair
        return pair
    }

    private func draw(_ range: ClosedRange<UInt64>) -> UInt64 {
        let width = range.upperBound - range.lowerBound
        return range.lowerBound + (width == 0 ? 0 : random.next() % (width + 1))
    }

    fileprivate func send(from sender: MemoryTransport, to name: String, kind: UInt8, payload: UnsafeRawBufferPointer) throws(TransportError) {
        guard kind >= Frame.applicationKindMin else {
            throw TransportError(.invalidKind, "kind \(kind) is a link-level kind; application kinds are \(Frame.applicationKindMin)...255")
        }
        guard payload.count <= Frame.payloadBytesMax else {
            throw TransportError(.frameTooLarge, "payload of \(payload.count) bytes over the maximum \(Frame.payloadBytesMax)")
        }
        guard sender.peers.contains(name), let receiver = nodes[name], let pair = links[PairKey(sender.identity.name, name)], pair.up else {
            throw TransportError(.notConnected, "no link to \(name)")
        }
        let inFlight = pair.inFlight[name, default: 0]
        guard inFlight < sender.sendQueueFramesMax else {
            throw TransportError(.backpressure, "send queue to \(name) full (\(inFlight) frames)")
        }
        pair.inFlight[name] = inFlight + 1
        let bytes = Array(payload)
        let at = max(nowNanoseconds + draw(pair.delay), pair.lastDeliveryAt[name, default: 0])
        pair.lastDeliveryAt[name] = at
        let generation = pair.generation
        let from = sender.identity
        schedule(afterNanoseconds: at - nowNanoseconds) {
            guard pair.generation == generation else { return }
            pair.inFlight[name, default: 1] -= 1
            bytes.withUnsafeBytes { receiver.delegate?.frameReceived(from: from, kind: kind, payload: $0) }
        }
    }

    struct Event {
        let time: UInt64
        let sequence: UInt64
        let body: () -> Void
        func before(_ other: Event) -> Bool { (time, sequence) < (other.time, other.sequence) }
    }

    /// A binary min-heap of events ordered by (time, sequence): ties run in the order they were scheduled.
    struct EventHeap {
        private var items: [Event] = []
        var isEmpty: Bool { items.isEmpty }
        var count: Int { items.count }
        var peekTime: UInt64? { items.first?.time }

        mutating func push(_ event: Event) {
            items.append(event)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].before(items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Event? {
            guard !items.isEmpty else { return nil }
            items.swapAt(0, items.count - 1)
            let top = items.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && items[left].before(items[smallest]) { smallest = left }
                if right < items.count && items[right].before(items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
            return top
        }
    }
}

/// One node's view of a MemoryNetwork, with the same interface as an Endpoint.
public final class MemoryTransport: LinkTransport {
    private unowned let network: MemoryNetwork
    public let identity: PeerIdentity
    public weak var delegate: LinkDelegate?
    let sendQueueFramesMax: Int
    fileprivate(set) var peers: Set<String> = []

    fileprivate init(network: MemoryNetwork, identity: PeerIdentity, sendQueueFramesMax: Int) {
        self.network = network
        self.identity = identity
        self.sendQueueFramesMax = sendQueueFramesMax
    }

    public var connectedPeers: [PeerIdentity] {
        peers.sorted().map { PeerIdentity(name: $0, role: network.role(of: $0)) }
    }

    public func send(to peer: String, kind: UInt8, payload: UnsafeRawBufferPointer) throws(TransportError) {
        try network.send(from: self, to: peer, kind: kind, payload: payload)
    }
}

extension MemoryNetwork {
    fileprivate func role(of name: String) -> NodeRole { nodes[name]?.identity.role ?? .node }
}
