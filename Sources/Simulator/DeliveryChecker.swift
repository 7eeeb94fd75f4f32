// The delivery promises (Docs/router.md, "What a guest may assume"), checked from what the workload's
// guests log: a send that returned 0 was taken by exactly one receiver, once, and one sender's
// messages arrive in its order; a send that failed was taken at most once, and not at all unless
// its error says it may have been (EUNREACHABLE); nothing hangs: every sender makes progress once
// the faults are over.
import Core

struct DeliveryChecker {
    enum Event: Equatable { case sent, failed(Int32), got }

    private struct MessageID: Hashable, Comparable {
        let sender: UInt32, sequence: UInt32
        static func < (a: Self, b: Self) -> Bool { (a.sender, a.sequence) < (b.sender, b.sequence) }
    }
    private var sentAt: [MessageID: UInt64] = [:]
    private var failed: [MessageID: Int32] = [:]
    private var got: Set<MessageID> = []
    /// Per sender, the highest sequence taken among its sends that returned 0.
    private var lastTaken: [UInt32: UInt32] = [:]
    /// Per sender guest name, when it last sent successfully.
    private var lastSent: [String: UInt64] = [:]
    private var crashes: [UInt64] = []

    mutating func crashed(at time: UInt64) { crashes.append(time) }

    /// Records one guest line; the invariant it breaks, if any.
    mutating func record(_ event: Event, sender: UInt32, sequence: UInt32, guest: String, node: String, at time: UInt64) -> String? {
        let id = MessageID(sender: sender, sequence: sequence)
        switch event {
        case .sent:
            if failed[id] != nil { return "message \(sender):\(sequence) both failed and sent" }
            sentAt[id] = time
            lastSent[guest] = time
            // Taken before its send returned: the order check happens here.
            if got.contains(id) { return orderCheck(id) }
        case .failed(let code):
            if sentAt[id] != nil { return "message \(sender):\(sequence) both sent and failed" }
            failed[id] = code
            if got.contains(id), code != KernelError.unreachable.rawValue {
                return "message \(sender):\(sequence) was taken, but its send failed with \(code), which says it was not delivered"
            }
        case .got:
            guard got.insert(id).inserted else { return "message \(sender):\(sequence) taken twice (second time by \(guest) on \(node))" }
            if let code = failed[id], code != KernelError.unreachable.rawValue {
                return "message \(sender):\(sequence) was taken by \(guest) on \(node), but its send failed with \(code)"
            }
            if sentAt[id] != nil { return orderCheck(id) }
        }
        return nil
    }

    /// A sender's messages that returned 0 are taken in its order.
    private mutating func orderCheck(_ id: MessageID) -> String? {
        if let last = lastTaken[id.sender], id.sequence < last {
            return "message \(id.sender):\(id.sequence) taken after \(id.sender):\(last): out of order"
        }
        lastTaken[id.sender] = max(lastTaken[id.sender] ?? 0, id.sequence)
        return nil
    }

    /// At the end: every send that returned 0 was taken (unless a crash may have taken its receiver
    /// between the take and the log line), and every sender sent since `progressSince`.
    func finalFailures(now: UInt64, progressSince: UInt64, senders: [String]) -> [String] {
        var failures: [String] = []
        let second: UInt64 = 1_000_000_000
        for (id, time) in sentAt.sorted(by: { $0.key < $1.key }) where !got.contains(id) {
            // Still on its way, or its receiver died after taking it and before it could log it.
            if now - time < second { continue }
            if crashes.contains(where: { $0 <= time && time - $0 < second }) { continue }
            failures.append("message \(id.sender):\(id.sequence) was sent (0) \( (now - time) / 1_000_000) ms ago and never taken")
            if failures.count == 5 { break }
        }
        for guest in senders where (lastSent[guest] ?? 0) < progressSince {
            failures.append("\(guest) has not sent anything since \((lastSent[guest] ?? 0) / 1_000_000) ms (faults ended; it should be moving)")
        }
        return failures
    }
}
