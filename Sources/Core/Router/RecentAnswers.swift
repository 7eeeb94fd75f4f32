// What a router answered lately, by sequence number or want id: a frame repeated after a
// reconnect gets the same answer. Bounded; the oldest answers are forgotten first, in O(1).

struct RecentAnswers<Value> {
    private var values: [UInt64: Value] = [:]
    private var order = RingQueue<UInt64>()
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    subscript(key: UInt64) -> Value? { values[key] }

    mutating func record(_ value: Value, for key: UInt64) {
        if values.updateValue(value, forKey: key) == nil { order.append(key) }
        while order.count > capacity, let oldest = order.popFirst() { values[oldest] = nil }
    }
}
