// Channels across nodes, kernel side. The node that serves a URI owns its channel; another node's
// tasks use a local *mirror* channel whose traffic the router carries. Rendezvous holds end to end:
// a send to a remote receiver completes only when that receiver has taken the message, so the
// kernel *holds* a matched message (sender still blocked) until the router says how it ended.
// Everything here but the directory and `servedURIs` is internal: the router (in this module) is
// the only one that acts on mirrors and proxies.

/// Which URIs other nodes serve: a question the kernel asks when a task opens one (the router
/// answers; it never calls the kernel back from here).
public protocol RemoteDirectory: AnyObject {
    /// Another node serves `uri`: the role it is served under, or nil.
    func remoteRole(of uri: String) -> TaskRole?
}

/// What happened on a channel that reaches another node. The kernel queues these while it runs
/// and the router takes them (`takeRemoteEvents`) between kernel calls: the kernel never calls
/// into the router, so no router action can end the very operation that is still running.
enum RemoteEvent: Sendable {
    /// A task blocked sending on a mirror channel: take its message with `takeMirrorMessage`.
    case mirrorHasSender(ChannelID)
    /// A task started waiting to receive on a mirror channel.
    case mirrorHasReceiver(ChannelID)
    /// A proxy receiver (a remote task's receive, operation `proxy`) was matched with `message`;
    /// its sender waits until `finishHeld` or `requeueHeld`.
    case proxyReceived(proxy: UInt64, Message, held: HeldMessage)
    /// A proxy's operation ended here: a proxy send was taken by a local receiver (nil), or a proxy
    /// receive or send failed (the channel closed).
    case proxyCompleted(proxy: UInt64, failed: KernelError?)
    /// A task here (`client`, `role`) closed the open mirror of `uri`: the serving node closes the channel.
    case mirrorClosed(uri: String, client: String, role: TaskRole)
    /// The role policy refused `client` (`role`) opening `uri`, served on another node: tell that node.
    case openDenied(uri: String, client: String, role: TaskRole)
}

/// A message taken from a channel whose sender is still blocked.
struct HeldMessage: Sendable {
    let channel: ChannelID
    let sender: Waiter
}

extension Kernel {
    /// Queues an event for the router, if the node has one (a kernel without links makes no mirrors
    /// or proxies, so nothing would be queued; the check keeps it so).
    func post(_ event: RemoteEvent) {
        if remoteDirectory != nil { remoteEvents.append(event) }
    }

    /// The events queued since the last call, oldest first.
    func takeRemoteEvents() -> [RemoteEvent] {
        defer { remoteEvents.removeAll(keepingCapacity: true) }
        return remoteEvents
    }

    var hasRemoteEvents: Bool { !remoteEvents.isEmpty }

    /// The local channel serving `uri` (not a mirror), for the router acting on a peer's behalf.
    func localChannel(serving uri: String) -> (ChannelID, TaskRole)? {
        guard let (id, role) = registry[uri], let channel = channels[id], !channel.isMirror else { return nil }
        return (id, role)
    }

    /// Opens a mirror for a URI another node serves (once per URI; later opens share it), paid by
    /// the guest that opens it first.
    func openMirror(_ uri: String, role: TaskRole, paidBy guest: TaskRecord?) throws(KernelError) -> ChannelID {
        let id = try makeChannel(uri: uri, paidBy: guest)
        channels[id]!.isMirror = true
        registry[uri] = (id, role)
        note("mirror \(uri) as \(id)")
        return id
    }

    /// All URIs registered here and still open (not mirrors): what this node announces.
    public var servedURIs: [(uri: String, role: TaskRole)] {
        registry.compactMap { uri, entry in
            guard let channel = channels[entry.channel], !channel.isMirror, !channel.isClosed, entry.role != .hal else { return nil }
            return (uri, entry.role)
        }.sorted { $0.uri < $1.uri }
    }

    // MARK: the mirror side (a task here, the channel on another node)

    /// The message of the first sender blocked on a mirror, held (the sender stays blocked).
    func takeMirrorMessage(_ id: ChannelID) -> (Message, HeldMessage)? {
        guard let channel = channels[id], channel.isMirror else { return nil }
        var message = Message()
        guard let sender = channel.takeLocalMessage(into: &message) else { return nil }
        return (message, HeldMessage(channel: id, sender: sender))
    }

    /// Queues a message received ahead on a mirror no task waits on, as if `proxy` were blocked
    /// sending it: the next receive takes it at once (and `proxyCompleted(proxy)` reports it
    /// taken); a close fails it (`proxyCompleted(proxy, .closed)`). False if the mirror is closed.
    func offerToMirror(_ id: ChannelID, _ message: Message, proxy: UInt64) -> Bool {
        guard let channel = channels[id], channel.isMirror, !channel.isClosed else { return false }
        channel.enqueue(message, from: Waiter(task: TaskID(raw: 0), ticket: 0, index: 0, proxy: proxy))
        return true
    }

    /// Takes back an offer no task took; false if it is gone (taken, or failed by a close).
    func withdrawOffer(_ id: ChannelID, proxy: UInt64) -> Bool { channels[id]?.withdrawSender(proxy: proxy) != nil }

    /// Ends a held send: delivered on another node (nil) or failed. Delivered, its co_values were
    /// copied there and are freed here; failed, they go back to the sender.
    func finishHeld(_ held: HeldMessage, message: Message, failed error: KernelError?) {
        if let error {
            returnValues(in: message)
            complete(held.sender, .failed(error))
        } else {
            releaseMovedValues(in: message)
            complete(held.sender, .sent)
        }
    }

    /// Puts a held message back at the head of its channel (a remote receiver did not take it),
    /// if its sender still waits; a local receiver waiting now takes it at once.
    func requeueHeld(_ held: HeldMessage, message: Message) {
        guard let channel = channels[held.channel] else { return }
        if held.sender.proxy == 0 {
            guard let record = tasks[held.sender.task], record.ticket == held.sender.ticket,
                  record.state == .blocked else { return }
        }
        if channel.isClosed {
            returnValues(in: message)
            complete(held.sender, .failed(.closed))
            return
        }
        if let receiver = channel.takeReceiver(for: held.sender) {
            if receiver.proxy != 0 {
                // Another remote task waits now: it gets the message, still held.
                post(.proxyReceived(proxy: receiver.proxy, message, held: held))
                return
            }
            handOver(message, to: receiver)
            complete(held.sender, .sent)
            return
        }
        channel.requeue(message, from: held.sender)
    }

    /// Hands a message from the serving node to a task waiting on the mirror, with new co_values
    /// holding `values` (see `adoptValues`). False if none waits any more (the router then tells
    /// the serving node, which puts the message back); `noMemory` if the values cannot be
    /// allocated (the task goes on waiting; the far sender's send fails).
    func deliverToMirror(_ id: ChannelID, _ message: Message, values: [[UInt8]] = []) throws(KernelError) -> Bool {
        guard let channel = channels[id], channel.isMirror, let receiver = channel.firstLocalReceiver else { return false }
        guard let target = tasks[receiver.task], target.ticket == receiver.ticket, target.state == .blocked else {
            _ = channel.takeLocalReceiver()
            return false
        }
        let adopted = try adoptValues(message, bytes: values, owner: target.id, role: target.role)
        _ = channel.takeLocalReceiver()
        note("\(target.name) <- remote on \(id)")
        handOver(adopted, to: receiver)
        return true
    }

    /// Tasks waiting to receive on a mirror.
    func mirrorReceivers(_ id: ChannelID) -> Int { channels[id]?.localReceiverCount ?? 0 }

    /// The tasks waiting to receive on a mirror, first come first.
    func mirrorReceiverTasks(_ id: ChannelID) -> [TaskID] { channels[id]?.localReceivers.map(\.task) ?? [] }

    /// Fails every task blocked on a mirror with `error` (its node is gone, or the channel closed
    /// there), then closes the mirror if asked, so later operations get `ECLOSED`.
    func failMirror(_ id: ChannelID, with error: KernelError, close: Bool) {
        guard let channel = channels[id], channel.isMirror else { return }
        var message = Message()
        while let sender = channel.takeMessage(into: &message) {
            returnValues(in: message)
            complete(sender, .failed(error))
        }
        while let receiver = channel.takeLocalReceiver() { complete(receiver, .failed(error)) }
        // Closed because the serving node said so: nothing to tell it back.
        if close { try? closeChannel(id, propagating: false) }
    }

    // MARK: the serving side (the channel here, a task on another node)

    /// A remote task receives on a local channel (or will soon: `ahead`): matched now
    /// (a `proxyReceived` event is queued) or registered. `peer` is the router's number for its
    /// node. `closed` if the channel is closed.
    func addProxyReceiver(_ id: ChannelID, proxy: UInt64, peer: UInt32, ahead: Bool = false) -> KernelError? {
        guard let channel = channels[id] else { return .badHandle }
        guard !channel.isClosed else { return .closed }
        let receiver = Waiter(task: TaskID(raw: 0), ticket: 0, index: 0, proxy: proxy, peer: peer, ahead: ahead)
        var message = Message()
        if let sender = channel.takeMessage(into: &message, for: receiver) {
            post(.proxyReceived(proxy: proxy, message, held: HeldMessage(channel: id, sender: sender)))
            return nil
        }
        channel.addReceiver(receiver)
        return nil
    }

    func cancelProxyReceiver(_ id: ChannelID, proxy: UInt64) { channels[id]?.cancelProxy(proxy) }

    /// A remote task sends on a local channel: taken now (nil), queued (`proxyCompleted` later),
    /// or refused. The message's co_values are made here from `values` (see `adoptValues`): owned
    /// by the receiver that takes it now, or in flight and charged to the heap of the channel's
    /// server until one does; `noMemory` if they cannot be allocated.
    func proxySend(_ message: Message, values: [[UInt8]] = [], on id: ChannelID, proxy: UInt64, peer: UInt32) -> (taken: Bool, error: KernelError?) {
        guard let channel = channels[id] else { return (false, .badHandle) }
        guard !channel.isClosed else { return (false, .closed) }
        if let receiver = channel.firstLocalReceiver, let target = tasks[receiver.task] {
            let adopted: Message
            do { adopted = try adoptValues(message, bytes: values, owner: target.id, role: target.role) } catch { return (false, error) }
            _ = channel.takeLocalReceiver()
            note("remote -> \(target.name) on \(id)")
            handOver(adopted, to: receiver)
            return (true, nil)
        }
        let serverRole = channel.uri.flatMap { registry[$0]?.role } ?? .guest
        let inFlight: Message
        do { inFlight = try adoptValues(message, bytes: values, owner: nil, role: serverRole) } catch { return (false, .noMemory) }
        do {
            // A proxy receiver here too (another node's task): the router relays between nodes.
            let sender = Waiter(task: TaskID(raw: 0), ticket: 0, index: 0, proxy: proxy, peer: peer)
            if let receiver = try channel.send(inFlight, from: sender) {
                post(.proxyReceived(proxy: receiver.proxy, inFlight, held: HeldMessage(channel: id, sender: sender)))
            }
        } catch {
            returnValues(in: inFlight)   // in flight with no sender here: freed
            return (false, error)
        }
        return (false, nil)
    }

    /// A proxy send that is still queued is withdrawn (its link died before it was taken). Its
    /// co_values are freed: a retry after a reconnect brings their bytes again.
    func withdrawProxySend(_ id: ChannelID, proxy: UInt64) -> Bool {
        guard let channel = channels[id], let message = channel.withdrawSender(proxy: proxy) else { return false }
        returnValues(in: message)
        return true
    }
}
