// The simulator's network: one FIFO queue of frames per direction of every pair of nodes (TCP
// keeps order within a link), each frame delivered after the link's latency plus jitter, and the
// faults a real network has: a link cut both ways (frames on the wire are lost), and a one-way
// partition (frames in one direction vanish while the link still looks up, until the link layer's
// heartbeats give it up).
import Core

/// One frame on the wire.
struct WireFrame {
    let deliverAt: UInt64
    let kind: UInt8
    let payload: [UInt8]
}

struct SimulatedNetwork {
    /// Pairs whose link a fault has cut (both directions), by `key`.
    private(set) var cut: Set<String> = []
    /// Directions (`from>to`) whose frames vanish, until the time given.
    private(set) var oneWay: [String: UInt64] = [:]
    /// One queue per direction, in the order of the directions' names (ties between queues go to
    /// the first); each queue's frames from `head` on are on the wire.
    private struct Queue {
        let from: String, to: String
        var frames: [WireFrame] = []
        var head = 0
        /// Base latency, drawn once from the seed.
        var latency: UInt64 = 0
        var first: WireFrame? { head < frames.count ? frames[head] : nil }
    }
    private var queues: [Queue] = []
    private var index: [String: Int] = [:]
    let jitterNanoseconds: UInt64

    init(jitterNanoseconds: UInt64) { self.jitterNanoseconds = jitterNanoseconds }

    static func key(_ a: String, _ b: String) -> String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }
    static func direction(_ from: String, _ to: String) -> String { "\(from)>\(to)" }

    /// The queue of a direction, made (in name order) the first time it is named.
    private mutating func queue(_ from: String, _ to: String) -> Int {
        let name = Self.direction(from, to)
        if let at = index[name] { return at }
        let at = queues.firstIndex { Self.direction($0.from, $0.to) > name } ?? queues.count
        queues.insert(Queue(from: from, to: to), at: at)
        index = Dictionary(uniqueKeysWithValues: queues.enumerated().map { (Self.direction($0.element.from, $0.element.to), $0.offset) })
        return at
    }

    mutating func setLatency(_ from: String, _ to: String, nanoseconds: UInt64) { queues[queue(from, to)].latency = nanoseconds }

    /// Queues a frame unless its direction is partitioned; FIFO: never before the one ahead of it.
    mutating func send(_ kind: UInt8, _ payload: [UInt8], from: String, to: String, now: UInt64, random: inout SimulationRandom) {
        let at = queue(from, to)
        if let until = oneWay[Self.direction(from, to)], now < until { return }
        let delay = queues[at].latency + (jitterNanoseconds == 0 ? 0 : random.next() % jitterNanoseconds)
        let earliest = queues[at].frames.last?.deliverAt ?? 0
        queues[at].frames.append(WireFrame(deliverAt: max(now + delay, earliest), kind: kind, payload: payload))
    }

    /// The next frame due at or before `now`, earliest first (ties: by direction name).
    mutating func takeDue(now: UInt64) -> (from: String, to: String, frame: WireFrame)? {
        var best: (at: Int, deliverAt: UInt64)?
        for at in queues.indices {
            guard let first = queues[at].first, first.deliverAt <= now else { continue }
            if best == nil || first.deliverAt < best!.deliverAt { best = (at, first.deliverAt) }
        }
        guard let best else { return nil }
        let frame = queues[best.at].frames[queues[best.at].head]
        queues[best.at].head += 1
        if queues[best.at].head == queues[best.at].frames.count {
            queues[best.at].frames.removeAll(keepingCapacity: true)
            queues[best.at].head = 0
        } else if queues[best.at].head >= 256, queues[best.at].head * 2 >= queues[best.at].frames.count {
            // A busy link may never empty: what was taken goes, in one move for many frames.
            queues[best.at].frames.removeFirst(queues[best.at].head)
            queues[best.at].head = 0
        }
        return (queues[best.at].from, queues[best.at].to, frame)
    }

    var nextDelivery: UInt64? { queues.lazy.compactMap { $0.first?.deliverAt }.min() }

    /// Everything on the wire between a and b is lost (a cut, or a node died).
    mutating func drop(_ a: String, _ b: String) {
        for at in [queue(a, b), queue(b, a)] {
            queues[at].frames = []
            queues[at].head = 0
        }
    }

    mutating func setCut(_ a: String, _ b: String, _ isCut: Bool) {
        if isCut { cut.insert(Self.key(a, b)) } else { cut.remove(Self.key(a, b)) }
    }

    mutating func setOneWay(_ from: String, _ to: String, until: UInt64?) { oneWay[Self.direction(from, to)] = until }
}

/// SplitMix64: every choice of a simulation comes from its seed.
public struct SimulationRandom {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A number in `range`.
    mutating func next(in range: ClosedRange<UInt64>) -> UInt64 { range.lowerBound + next() % (range.upperBound - range.lowerBound + 1) }
    /// True with chance `p`.
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}
