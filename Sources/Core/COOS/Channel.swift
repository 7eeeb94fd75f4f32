// co_csp: Hoare CSP rendezvous channels, the kernel's only synchronisation object.
// A send completes only when a receiver has taken the message; one message waits in the
// channel's one-entry buffer while its sender is blocked.

/// Fixed error numbers of the guest ABI (Docs/guest-abi.md); they cross into guests as return values.
public enum KernelError: Int32, Error, Sendable, CustomStringConvertible {
    case invalidArgument = -1
    case badHandle = -2
    case closed = -3
    case noMemory = -4
    case denied = -5
    case noSuchService = -6
    case timedOut = -7
    case messageTooLarge = -8
    case badMessage = -9
    case notOwner = -10
    /// A device did not answer or refused the transfer (an I2C address without a device, a flash
    /// page that was not erased).
    case deviceError = -11
    /// The node that serves the channel cannot be reached (its link is down past the grace period).
    case unreachable = -12

    public var description: String {
        switch self {
        case .invalidArgument: "invalid argument"
        case .badHandle: "bad handle"
        case .closed: "channel closed"
        case .noMemory: "out of memory"
        case .denied: "denied"
        case .noSuchService: "no such service"
        case .timedOut: "timed out"
        case .messageTooLarge: "message too large"
        case .badMessage: "bad message"
        case .notOwner: "not the owner"
        case .deviceError: "device error"
        case .unreachable: "node unreachable"
        }
    }
}

public struct ChannelID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: Int
    /// For trusted services that get a channel's number in a kernel-built message (device replies).
    public init(raw: Int) { self.raw = raw }
    public static func < (a: ChannelID, b: ChannelID) -> Bool { a.raw < b.raw }
    public var description: String { "channel \(raw)" }
}

/// How a blocked operation ends; the kernel turns it into the task's wake-up.
enum Completion: Equatable {
    case sent
    /// The message itself waits in the receiver's `TaskRecord.inbox` (it is large: copy it once).
    case received(channelIndex: Int)
    case failed(KernelError)
}

/// A task waiting on a channel: to send a message, or to receive (possibly as one arm of an ALT).
struct Waiter {
    let task: TaskID
    /// Identifies one blocking operation; an ALT registers the same ticket on several channels.
    let ticket: Int
    /// For ALT: which arm this channel is.
    let index: Int
    /// Non-zero: not a task but the router, acting for a task on another node (its operation number).
    var proxy: UInt64 = 0
    /// For a proxy: the router's number for the node it acts for (0 here).
    var peer: UInt32 = 0
    /// A proxy receiver that receives ahead: its node's task does not wait yet, it is expected to
    /// (see Router, "Receiving ahead"). It takes a message only if no other receiver waits, and
    /// never one its own node sent (that task is blocked in the send, not receiving).
    var ahead = false

    /// Whether this receiver may take `sender`'s message.
    func mayTake(from sender: Waiter) -> Bool { !ahead || sender.peer != peer }
}

final class Channel {
    /// Bytes per channel: the one-entry buffer (the largest message) and its record.
    static let kernelBytes = Message.encodedBytesMax + 64
    let id: ChannelID
    let uri: String?
    /// This channel's block (freed by the kernel when it closes), in the kernel partition or in the
    /// budget of the guest that caused it; `home` says which. A mirror may change home when the
    /// guest that paid for it ends while others still use it.
    var kernelBlock: UnsafeMutableRawPointer
    var home: Partition
    private(set) var isClosed = false
    /// A local stand-in for a channel that another node serves: the router carries its traffic.
    var isMirror = false
    /// The one-entry buffer: the message of the sender at the head of `senders`.
    private(set) var senders: [(waiter: Waiter, message: Message)] = []
    private(set) var receivers: [Waiter] = []

    init(id: ChannelID, uri: String?, kernelBlock: UnsafeMutableRawPointer, home: Partition) {
        self.id = id
        self.uri = uri
        self.kernelBlock = kernelBlock
        self.home = home
    }

    var hasMessage: Bool { !senders.isEmpty }

    /// A send: handed straight to a waiting receiver (returned so the kernel can wake it), or
    /// buffered with its sender blocked. Throws `closed` on a closed channel.
    func send(_ message: Message, from waiter: Waiter) throws(KernelError) -> Waiter? {
        guard !isClosed else { throw .closed }
        if let receiver = takeReceiver(for: waiter) { return receiver }
        senders.append((waiter, message))
        return nil
    }

    /// The receiver that takes `sender`'s message: the first that waits now, else the first
    /// receiving ahead that may take it.
    func takeReceiver(for sender: Waiter) -> Waiter? {
        guard let index = receivers.firstIndex(where: { !$0.ahead }) ?? receivers.firstIndex(where: { $0.mayTake(from: sender) }) else { return nil }
        return receivers.remove(at: index)
    }

    /// A receive: moves the buffered message into `inbox` and returns the sender to wake, or nil (the caller blocks).
    func takeMessage(into inbox: inout Message) -> Waiter? {
        guard !senders.isEmpty else { return nil }
        inbox = senders[0].message
        return senders.removeFirst().waiter
    }

    /// A receive by `receiver` (a proxy maybe receiving ahead): the first message it may take.
    func takeMessage(into inbox: inout Message, for receiver: Waiter) -> Waiter? {
        takeFirstMessage(into: &inbox) { receiver.mayTake(from: $0) }
    }

    /// The first message of a task here (not a proxy's): on a mirror, what the router sends on.
    func takeLocalMessage(into inbox: inout Message) -> Waiter? {
        takeFirstMessage(into: &inbox) { $0.proxy == 0 }
    }

    private func takeFirstMessage(into inbox: inout Message, from eligible: (Waiter) -> Bool) -> Waiter? {
        guard let index = senders.firstIndex(where: { eligible($0.waiter) }) else { return nil }
        inbox = senders[index].message
        return senders.remove(at: index).waiter
    }

    /// Queues a message with no receiver waiting (a mirror's offer: a message received ahead).
    func enqueue(_ message: Message, from waiter: Waiter) { senders.append((waiter, message)) }

    func addReceiver(_ waiter: Waiter) { receivers.append(waiter) }

    /// A message put back at the head (a remote receiver refused it; its sender still waits).
    func requeue(_ message: Message, from waiter: Waiter) { senders.insert((waiter, message), at: 0) }

    /// Takes the first waiting receiver that is a task (not a proxy), if any.
    func takeLocalReceiver() -> Waiter? {
        guard let index = receivers.firstIndex(where: { $0.proxy == 0 }) else { return nil }
        return receivers.remove(at: index)
    }

    /// The receiver `takeLocalReceiver` would take, left in place.
    var firstLocalReceiver: Waiter? { receivers.first { $0.proxy == 0 } }
    var localReceivers: [Waiter] { receivers.filter { $0.proxy == 0 } }


    var localReceiverCount: Int { receivers.count { $0.proxy == 0 } }
    var proxyReceiverCount: Int { receivers.count { $0.proxy != 0 } }
    func cancelProxy(_ proxy: UInt64) { receivers.removeAll { $0.proxy == proxy } }
    /// Removes a proxy's queued send; its message, or nil if it is not queued.
    func withdrawSender(proxy: UInt64) -> Message? {
        guard let index = senders.firstIndex(where: { $0.waiter.proxy == proxy }) else { return nil }
        return senders.remove(at: index).message
    }

    /// Removes every registration of `ticket` (an ALT arm that lost, or a task that died).
    func cancel(ticket: Int) {
        receivers.removeAll { $0.ticket == ticket }
        senders.removeAll { $0.waiter.ticket == ticket }
    }

    /// Closes the channel; returns the senders to fail (with their undelivered messages) and the
    /// receivers to wake with "none".
    func close() -> (senders: [(waiter: Waiter, message: Message)], receivers: [Waiter]) {
        isClosed = true
        defer { senders = []; receivers = [] }
        return (senders, receivers)
    }
}
