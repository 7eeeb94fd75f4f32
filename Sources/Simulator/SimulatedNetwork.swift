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
    private var queues: [String: [WireFrame]] = [:]
    /// Base latency per direction, drawn once from the seed.
    private var latency: [String: UInt64] = [:]
    let jitterNanoseconds: UInt64

    init(jitterNanoseconds: UInt64) { self.jitterNanoseconds = jitterNanoseconds }

    static func key(_ a: String, _ b: String) -> String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }
    static func direction(_ from: String, _ to: String) -> String { "\(from)>\(to)" }

    mutating func setLatency(_ from: String, _ to: String, nanoseconds: UInt64) { latency[Self.direction(from, to)] = nanoseconds }

    /// Queues a frame unless its direction is partitioned; FIFO: never before the one ahead of it.
    mutating func send(_ kind: UInt8, _ payload: [UInt8], from: String, to: String, now: UInt64, random: inout SimulationRandom) {
        let direction = Self.direction(from, to)
        if let until = oneWay[direction], now < until { return }
        let delay = (latency[direction] ?? 0) + (jitterNanoseconds == 0 ? 0 : random.next() % jitterNanoseconds)
        let earliest = queues[direction]?.last?.deliverAt ?? 0
        queues[direction, default: []].append(WireFrame(deliverAt: max(now + delay, earliest), kind: kind, payload: payload))
    }

    /// The next frame due at or before `now`, earliest first (ties: by direction name).
    mutating func takeDue(now: UInt64) -> (from: String, to: String, frame: WireFrame)? {
        var best: (direction: String, at: UInt64)?
        for (direction, queue) in queues.sorted(by: { $0.key < $1.key }) {
            guard let first = queue.first, first.deliverAt <= now else { continue }
            if best == nil || first.deliverAt < best!.at { best = (direction, first.deliverAt) }
        }
        guard let best else { return nil }
        let frame = queues[best.direction]!.removeFirst()
        let ends = best.direction.split(separator: ">").map(String.init)
        return (ends[0], ends[1], frame)
    }

    var nextDelivery: UInt64? { queues.values.compactMap { $0.first?.deliverAt }.min() }

    /// Everything on the wire between a and b is lost (a cut, or a node died).
    mutating func drop(_ a: String, _ b: String) {
        queues[Self.direction(a, b)] = nil
        queues[Self.direction(b, a)] = nil
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
