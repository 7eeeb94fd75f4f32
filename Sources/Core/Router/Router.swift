// The router: extends CSP channels across nodes. Nodes announce the URIs they serve; a task that
// opens a URI served elsewhere gets a mirror channel, and the router carries its sends (completed
// only when the remote receiver took the message) and receives (a want matched on the serving
// node, held there until the wanting task took it). Links come and go: sends are retried after a
// reconnect and deduplicated by sequence number; past the grace period every pending operation on
// a dead peer fails with `unreachable`. Transport-agnostic: frames go through `RouterTransport`.

/// Carries router frames to peers (the node's TLS links, or an in-memory network in tests).
public protocol RouterTransport: AnyObject {
    /// Queues a frame for `peer`; false if there is no link to it now or its queue is full.
    func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool
}

public final class Router: RemoteChannels {
    public let kernel: Kernel
    public weak var transport: RouterTransport?
    /// How long a peer may be gone before its pending operations fail (a reconnect within it is invisible).
    public var graceNanoseconds: UInt64 = 3_000_000_000
    public var log: (String) -> Void = { _ in }

    private var peersUp: Set<String> = []
    private var downSince: [String: UInt64] = [:]
    /// URI -> the peer serving it and its role there (the lowest peer name wins a tie).
    private var remoteServices: [String: (peer: String, role: TaskRole)] = [:]
    private var announcedByPeer: [String: [RouterFrame.ServedURI]] = [:]
    private var lastAnnounced: [RouterFrame.ServedURI]?
    private var nextID: UInt64 = 1

    // Tasks here, channels there.
    private struct PendingSend { let peer: String; let uri: String; let message: Message; let held: HeldMessage }
    private var pendingSends: [UInt64: PendingSend] = [:]
    private var wants: [UInt64: (peer: String, mirror: ChannelID)] = [:]
    // Channels here, tasks there.
    private var proxySends: [UInt64: (peer: String, seq: UInt64, channel: ChannelID)] = [:]
    private var proxyReceives: [UInt64: (peer: String, want: UInt64, channel: ChannelID)] = [:]
    private var held: [String: [UInt64: (HeldMessage, Message)]] = [:]
    /// Results of sends already taken, per peer and sequence number, so a retried send is not delivered twice.
    private var results: [String: [UInt64: Int32]] = [:]
    /// Whether a delivered message was taken, per peer and want, so a delivery repeated after a
    /// reconnect (its answer was lost with the link) gets the same answer and is not taken twice.
    private var decided: [String: [UInt64: Bool]] = [:]
    static let resultsKept = 4096

    public private(set) var framesIn = 0, framesOut = 0

    public init(kernel: Kernel) {
        self.kernel = kernel
        kernel.remote = self
    }

    // MARK: link events (from the node's links)

    public func linkUp(_ peer: String) {
        peersUp.insert(peer)
        downSince[peer] = nil
        emit(.announce(currentAnnouncement()), to: peer)
        // Sends that waited for this peer go (again): the peer drops duplicates by sequence number.
        for (seq, send) in pendingSends.sorted(by: { $0.key < $1.key }) where send.peer == peer {
            emit(.send(seq: seq, uri: send.uri, message: send.message), to: peer)
        }
        // Deliveries whose answer may have been lost go again; the peer answers as it did before.
        for (id, (_, message)) in (held[peer] ?? [:]).sorted(by: { $0.key < $1.key }) {
            emit(.deliver(id: id, status: 0, message: message), to: peer)
        }
        for (uri, entry) in remoteServices where entry.peer == peer {
            if let (mirror, _) = mirror(for: uri) { requestWants(mirror, uri: uri, peer: peer) }
        }
    }

    public func linkDown(_ peer: String) {
        guard peersUp.remove(peer) != nil else { return }
        downSince[peer] = kernel.clock.nanoseconds
        // Its receives and queued sends are withdrawn; messages it may already have taken stay held
        // until it answers again after a reconnect, or the grace period ends.
        for (proxy, entry) in proxyReceives where entry.peer == peer {
            kernel.cancelProxyReceiver(entry.channel, proxy: proxy)
            proxyReceives[proxy] = nil
        }
        for (proxy, entry) in proxySends where entry.peer == peer {
            _ = kernel.withdrawProxySend(entry.channel, proxy: proxy)
            proxySends[proxy] = nil
        }
        // Wants to the peer are forgotten: they are asked again after a reconnect.
        wants = wants.filter { $0.value.peer != peer }
        log("router: link to \(peer) down; pending operations fail in \(graceNanoseconds / 1_000_000) ms unless it returns")
    }

    /// Timeouts and announcements; call it from the node loop (every few hundred ms is plenty).
    public func tick() {
        let now = kernel.clock.nanoseconds
        for (peer, since) in downSince where now &- since >= graceNanoseconds {
            downSince[peer] = nil
            expire(peer)
        }
        let previous = lastAnnounced
        let current = currentAnnouncement()
        if current != previous {
            for peer in peersUp.sorted() { emit(.announce(current), to: peer) }
        }
    }

    /// The next time `tick` has something to do.
    public var nextDeadline: UInt64? { downSince.values.min().map { $0 &+ graceNanoseconds } }

    /// A peer gone past the grace period: its sends and receives fail with `unreachable`.
    private func expire(_ peer: String) {
        log("router: \(peer) unreachable for \(graceNanoseconds / 1_000_000) ms; failing its pending operations")
        for (seq, send) in pendingSends where send.peer == peer {
            pendingSends[seq] = nil
            kernel.finishHeld(send.held, message: send.message, failed: .unreachable)
        }
        for (_, (heldMessage, message)) in held.removeValue(forKey: peer) ?? [:] { kernel.requeueHeld(heldMessage, message: message) }
        forgetServices(of: peer, failing: .unreachable)
        results[peer] = nil
        decided[peer] = nil
    }

    private func forgetServices(of peer: String, failing error: KernelError, keeping: Set<String> = []) {
        for (uri, entry) in remoteServices where entry.peer == peer && !keeping.contains(uri) {
            remoteServices[uri] = nil
            if let (mirror, _) = mirror(for: uri) {
                kernel.failMirror(mirror, with: error, close: true)
            }
        }
        if keeping.isEmpty { announcedByPeer[peer] = nil }
    }

    private func currentAnnouncement() -> [RouterFrame.ServedURI] {
        let uris = kernel.servedURIs.map { RouterFrame.ServedURI(uri: $0.uri, role: $0.role) }
        lastAnnounced = uris
        return uris
    }

    private func mirror(for uri: String) -> (ChannelID, TaskRole)? {
        guard let (id, role) = kernel.registry[uri], kernel.channels[id]?.isMirror == true, kernel.channels[id]?.isClosed == false else { return nil }
        return (id, role)
    }

    private func emit(_ frame: RouterFrame, to peer: String) {
        guard peersUp.contains(peer) else { return }
        if transport?.send(kind: frame.kind, payload: frame.payload, to: peer) == true { framesOut += 1 }
    }

    // MARK: frames from peers

    /// A frame from `peer`; a frame that does not parse is an error for the caller (close that link).
    public func received(kind: UInt8, payload: [UInt8], from peer: String) throws(RouterFrame.DecodeError) {
        let frame = try RouterFrame(kind: kind, payload: payload)
        framesIn += 1
        switch frame {
        case .announce(let uris):
            let names = Set(uris.map(\.uri))
            // Services the peer no longer serves close here, as a local server's exit would.
            forgetServices(of: peer, failing: .closed, keeping: names)
            announcedByPeer[peer] = uris
            for entry in uris where remoteServices[entry.uri].map({ peer < $0.peer || $0.peer == peer }) ?? true {
                remoteServices[entry.uri] = (peer, entry.role)
            }
        case .send(let seq, let uri, let message):
            if let status = results[peer]?[seq] {
                emit(.sendResult(seq: seq, status: status), to: peer)
                return
            }
            guard !proxySends.values.contains(where: { $0.peer == peer && $0.seq == seq }) else { return }
            guard let (channel, _) = kernel.localChannel(serving: uri) else {
                emit(.sendResult(seq: seq, status: KernelError.noSuchService.rawValue), to: peer)
                return
            }
            let proxy = takeID()
            proxySends[proxy] = (peer, seq, channel)
            let (taken, error) = kernel.proxySend(message, on: channel, proxy: proxy)
            if taken || error != nil {
                proxySends[proxy] = nil
                finishRemoteSend(peer: peer, seq: seq, status: error?.rawValue ?? 0)
            }
        case .sendResult(let seq, let status):
            guard let send = pendingSends.removeValue(forKey: seq), send.peer == peer else { return }
            kernel.finishHeld(send.held, message: send.message, failed: status == 0 ? nil : KernelError(rawValue: status) ?? .closed)
        case .want(let id, let uri):
            guard let (channel, _) = kernel.localChannel(serving: uri) else {
                emit(.deliver(id: id, status: KernelError.noSuchService.rawValue, message: Message()), to: peer)
                return
            }
            let proxy = takeID()
            proxyReceives[proxy] = (peer, id, channel)
            if let error = kernel.addProxyReceiver(channel, proxy: proxy) {
                proxyReceives[proxy] = nil
                emit(.deliver(id: id, status: error.rawValue, message: Message()), to: peer)
            }
        case .deliver(let id, let status, let message):
            guard let want = wants.removeValue(forKey: id), want.peer == peer else {
                // A repeat after a reconnect: the same answer; a want we gave up: not taken.
                if status == 0 { emit(.taken(id: id, accepted: decided[peer]?[id] ?? false), to: peer) }
                return
            }
            if status != 0 {
                let error = KernelError(rawValue: status) ?? .closed
                kernel.failMirror(want.mirror, with: error, close: error == .closed)
                return
            }
            let accepted = kernel.deliverToMirror(want.mirror, message)
            var answers = decided[peer, default: [:]]
            answers[id] = accepted
            if answers.count > Self.resultsKept, let oldest = answers.keys.min() { answers[oldest] = nil }
            decided[peer] = answers
            emit(.taken(id: id, accepted: accepted), to: peer)
            if let uri = kernel.channels[want.mirror]?.uri { requestWants(want.mirror, uri: uri, peer: peer) }
        case .taken(let id, let accepted):
            guard let (heldMessage, message) = held[peer]?.removeValue(forKey: id) else { return }
            if accepted { kernel.finishHeld(heldMessage, message: message, failed: nil) } else { kernel.requeueHeld(heldMessage, message: message) }
        }
    }

    private func takeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    private func finishRemoteSend(peer: String, seq: UInt64, status: Int32) {
        var kept = results[peer, default: [:]]
        kept[seq] = status
        if kept.count > Self.resultsKept, let oldest = kept.keys.min() { kept[oldest] = nil }
        results[peer] = kept
        emit(.sendResult(seq: seq, status: status), to: peer)
    }

    /// Asks the serving peer for as many messages as tasks wait on the mirror.
    private func requestWants(_ mirror: ChannelID, uri: String, peer: String) {
        guard peersUp.contains(peer) else { return }
        let outstanding = wants.values.count { $0.mirror == mirror }
        for _ in outstanding..<max(outstanding, kernel.mirrorReceivers(mirror)) {
            let id = takeID()
            wants[id] = (peer, mirror)
            emit(.want(id: id, uri: uri), to: peer)
        }
    }

    // MARK: RemoteChannels (from the kernel)

    public func remoteRole(of uri: String) -> TaskRole? { remoteServices[uri]?.role }

    public func mirrorHasSender(_ channel: ChannelID) {
        guard let uri = kernel.channels[channel]?.uri else { return }
        while let (message, heldMessage) = kernel.takeMirrorMessage(channel) {
            guard let peer = remoteServices[uri]?.peer else {
                kernel.finishHeld(heldMessage, message: message, failed: .unreachable)
                continue
            }
            // A co_value's bytes do not cross nodes yet: such a send is refused, ownership stays.
            guard !message.entries.contains(where: { $0.type == .sharedMemory }) else {
                kernel.finishHeld(heldMessage, message: message, failed: .invalidArgument)
                continue
            }
            let seq = takeID()
            pendingSends[seq] = PendingSend(peer: peer, uri: uri, message: message, held: heldMessage)
            emit(.send(seq: seq, uri: uri, message: message), to: peer)
        }
    }

    public func mirrorHasReceiver(_ channel: ChannelID) {
        guard let uri = kernel.channels[channel]?.uri, let peer = remoteServices[uri]?.peer else { return }
        requestWants(channel, uri: uri, peer: peer)
    }

    public func proxyReceived(_ proxy: UInt64, _ message: Message, held heldMessage: HeldMessage) {
        guard let entry = proxyReceives.removeValue(forKey: proxy) else {
            kernel.requeueHeld(heldMessage, message: message)
            return
        }
        guard peersUp.contains(entry.peer) else {
            kernel.requeueHeld(heldMessage, message: message)
            return
        }
        held[entry.peer, default: [:]][entry.want] = (heldMessage, message)
        emit(.deliver(id: entry.want, status: 0, message: message), to: entry.peer)
    }

    public func proxyCompleted(_ proxy: UInt64, failed: KernelError?) {
        if let entry = proxySends.removeValue(forKey: proxy) {
            finishRemoteSend(peer: entry.peer, seq: entry.seq, status: failed?.rawValue ?? 0)
        } else if let entry = proxyReceives.removeValue(forKey: proxy) {
            emit(.deliver(id: entry.want, status: (failed ?? .closed).rawValue, message: Message()), to: entry.peer)
        }
    }

    /// What the router holds now, for status and tests.
    public var pendingCount: (sends: Int, wants: Int, held: Int) { (pendingSends.count, wants.count, held.values.reduce(0) { $0 + $1.count }) }
    public var remoteURIs: [String: String] { remoteServices.mapValues(\.peer) }
}
