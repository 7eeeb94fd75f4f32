// Channels across nodes, kernel side. The node that serves a URI owns its channel; another node's
// tasks use a local *mirror* channel whose traffic the router carries. Rendezvous holds end to end:
// a send to a remote receiver completes only when that receiver has taken the message, so the
// kernel *holds* a matched message (sender still blocked) until the router says how it ended.

/// What the router does for the kernel (Router implements it; tests may use a double).
public protocol RemoteChannels: AnyObject {
    /// A task blocked sending on a mirror channel: take its message with `takeMirrorMessage`.
    func mirrorHasSender(_ channel: ChannelID)
    /// A task started waiting to receive on a mirror channel.
    func mirrorHasReceiver(_ channel: ChannelID)
    /// A proxy receiver (a remote task's receive, operation `proxy`) was matched with `message`;
    /// its sender waits until `finishHeld` or `requeueHeld`.
    func proxyReceived(_ proxy: UInt64, _ message: Message, held: HeldMessage)
    /// A proxy's operation ended here: a proxy send was taken by a local receiver (nil), or a proxy
    /// receive or send failed (the channel closed).
    func proxyCompleted(_ proxy: UInt64, failed: KernelError?)
    /// Another node serves `uri`: the role it is served under, or nil.
    func remoteRole(of uri: String) -> TaskRole?
}

/// A message taken from a channel whose sender is still blocked.
public struct HeldMessage: Sendable {
    public let channel: ChannelID
    let sender: Waiter
}

extension Kernel {
    /// The local channel serving `uri` (not a mirror), for the router acting on a peer's behalf.
    public func localChannel(serving uri: String) -> (ChannelID, TaskRole)? {
        guard let (id, role) = registry[uri], let channel = channels[id], !channel.isMirror else { return nil }
        return (id, role)
    }

    /// Opens a mirror for a URI another node serves (once per URI; later opens share it).
    func openMirror(_ uri: String, role: TaskRole) throws(KernelError) -> ChannelID {
        let id = try makeChannel(uri: uri)
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
    public func takeMirrorMessage(_ id: ChannelID) -> (Message, HeldMessage)? {
        guard let channel = channels[id], channel.isMirror else { return nil }
        var message = Message()
        guard let sender = channel.takeMessage(into: &message) else { return nil }
        return (message, HeldMessage(channel: id, sender: sender))
    }

    /// Ends a held send: delivered (nil) or failed. A failed message's co_values go back to the sender.
    public func finishHeld(_ held: HeldMessage, message: Message, failed error: KernelError?) {
        if let error {
            returnValues(in: message)
            complete(held.sender, .failed(error))
        } else {
            complete(held.sender, .sent)
        }
    }

    /// Puts a held message back at the head of its channel (a remote receiver did not take it),
    /// if its sender still waits; a local receiver waiting now takes it at once.
    public func requeueHeld(_ held: HeldMessage, message: Message) {
        guard let channel = channels[held.channel] else { return }
        if held.sender.proxy == 0 {
            guard let record = tasks[held.sender.task], record.ticket == held.sender.ticket, record.state == .blocked else { return }
        }
        if channel.isClosed {
            complete(held.sender, .failed(.closed))
            return
        }
        if let receiver = channel.takeAnyReceiver() {
            if receiver.proxy != 0 {
                // Another remote task waits now: it gets the message, still held.
                remote?.proxyReceived(receiver.proxy, message, held: held)
                return
            }
            handOver(message, to: receiver)
            complete(held.sender, .sent)
            return
        }
        channel.requeue(message, from: held.sender)
    }

    /// Hands a message from the serving node to a task waiting on the mirror. False if none waits
    /// any more (the router then tells the serving node, which puts the message back).
    public func deliverToMirror(_ id: ChannelID, _ message: Message) -> Bool {
        guard let channel = channels[id], channel.isMirror, let receiver = channel.takeLocalReceiver() else { return false }
        guard let target = tasks[receiver.task], target.ticket == receiver.ticket, target.state == .blocked else { return false }
        note("\(target.name) <- remote on \(id)")
        handOver(message, to: receiver)
        return true
    }

    /// Tasks waiting to receive on a mirror.
    public func mirrorReceivers(_ id: ChannelID) -> Int { channels[id]?.localReceiverCount ?? 0 }

    /// Fails every task blocked on a mirror with `error` (its node is gone, or the channel closed
    /// there), then closes the mirror if asked, so later operations get `ECLOSED`.
    public func failMirror(_ id: ChannelID, with error: KernelError, close: Bool) {
        guard let channel = channels[id], channel.isMirror else { return }
        var message = Message()
        while let sender = channel.takeMessage(into: &message) {
            returnValues(in: message)
            complete(sender, .failed(error))
        }
        while let receiver = channel.takeLocalReceiver() { complete(receiver, .failed(error)) }
        if close { try? self.close(id) }
    }

    // MARK: the serving side (the channel here, a task on another node)

    /// A remote task receives on a local channel: matched now (`proxyReceived` is called at once)
    /// or registered. `closed` if the channel is closed.
    public func addProxyReceiver(_ id: ChannelID, proxy: UInt64) -> KernelError? {
        guard let channel = channels[id] else { return .badHandle }
        guard !channel.isClosed else { return .closed }
        var message = Message()
        if let sender = channel.takeMessage(into: &message) {
            remote?.proxyReceived(proxy, message, held: HeldMessage(channel: id, sender: sender))
            return nil
        }
        channel.addReceiver(Waiter(task: TaskID(raw: 0), ticket: 0, index: 0, proxy: proxy))
        return nil
    }

    public func cancelProxyReceiver(_ id: ChannelID, proxy: UInt64) { channels[id]?.cancelProxy(proxy) }

    /// A remote task sends on a local channel: taken now (nil), queued (`proxyCompleted` later),
    /// or refused.
    public func proxySend(_ message: Message, on id: ChannelID, proxy: UInt64) -> (taken: Bool, error: KernelError?) {
        guard let channel = channels[id] else { return (false, .badHandle) }
        guard !channel.isClosed else { return (false, .closed) }
        if let receiver = channel.takeLocalReceiver() {
            note("remote -> \(name(of: receiver.task) ?? "?") on \(id)")
            handOver(message, to: receiver)
            return (true, nil)
        }
        do {
            // A proxy receiver here too (another node's task): the router relays between nodes.
            if let receiver = try channel.send(message, from: Waiter(task: TaskID(raw: 0), ticket: 0, index: 0, proxy: proxy)) {
                remote?.proxyReceived(receiver.proxy, message, held: HeldMessage(channel: id, sender: Waiter(task: TaskID(raw: 0), ticket: 0, index: 0, proxy: proxy)))
            }
        } catch { return (false, error) }
        return (false, nil)
    }

    /// A proxy send that is still queued is withdrawn (its link died before it was taken).
    public func withdrawProxySend(_ id: ChannelID, proxy: UInt64) -> Bool {
        guard let channel = channels[id] else { return false }
        return channel.withdrawSender(proxy: proxy)
    }
}
