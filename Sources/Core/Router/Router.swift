// The router: extends CSP channels across nodes. Nodes announce the URIs they serve; a task that
// opens a URI served elsewhere gets a mirror channel, and the router carries its sends (completed
// only when the remote receiver took the message) and receives (a want matched on the serving
// node, held there until the wanting task took it). Links come and go: sends are retried after a
// reconnect and deduplicated by sequence number; past the grace period every pending operation on
// a dead peer fails with `unreachable`. co_values cross as bytes and are made anew on the receiving
// node; a close of a mirror closes the channel where it is served; the serving node checks the
// role policy again. A state machine: each entry point (a link event, a frame, a tick, the
// kernel's queued events) acts on the kernel and returns the frames to send; it never calls its
// host, so the host decides when and how they go (TLS links, or a simulated network).

/// A frame for a peer: what the router's entry points return, for the host to put on its link.
public struct RouterOutput: Equatable {
    public let peer: String
    public let kind: UInt8
    public let payload: [UInt8]
}

public final class Router: RemoteDirectory {
    public let kernel: Kernel
    /// How long a peer may be gone before its pending operations fail (a reconnect within it is invisible).
    public var graceNanoseconds: UInt64 = 3_000_000_000
    public var log: (String) -> Void = { _ in }
    /// Receiving ahead: a mirror whose tasks receive again within this time of taking a message
    /// keeps a want at the serving node, and a message it brings waits here this long for a task
    /// (see Docs/router.md). 0 turns it off.
    public var aheadNanoseconds: UInt64 = 2_000_000
    /// Messages received ahead that a task took, and that went back unused.
    public private(set) var offersTaken = 0, offersReturned = 0

    private var peersUp: Set<String> = []
    private var downSince: [String: UInt64] = [:]
    /// URI -> the peer serving it and its role there (the lowest peer name wins a tie).
    private var remoteServices: [String: (peer: String, role: TaskRole)] = [:]
    private var announcedByPeer: [String: [RouterFrame.ServedURI]] = [:]
    private var lastAnnounced: [RouterFrame.ServedURI]?
    private var nextID: UInt64 = 1

    // Tasks here, channels there. A pending send keeps its frame (with the co_values' bytes) for a retry.
    private struct PendingSend { let peer: String; let frame: RouterFrame; let message: Message; let held: HeldMessage }
    private var pendingSends: [UInt64: PendingSend] = [:]
    /// Closes of mirrors not yet answered by the serving node; retried after a reconnect.
    private var pendingCloses: [UInt64: (peer: String, frame: RouterFrame)] = [:]
    private struct Want { let peer: String; let mirror: ChannelID; let ahead: Bool }
    private var wants: [UInt64: Want] = [:]
    /// Messages received ahead that no task waited for yet, queued on their mirror (by proxy number).
    private struct Offer { let peer: String; let want: UInt64; let mirror: ChannelID; let expires: UInt64 }
    private var offers: [UInt64: Offer] = [:]
    /// Per mirror: when a task last took a message, whether it receives ahead, and for whom.
    private struct Ahead { var lastTake: UInt64?; var on = false; var client: RouterFrame.Client? }
    private var ahead: [ChannelID: Ahead] = [:]
    /// Small numbers for peers, so the kernel can tell whose proxy sent a message.
    private var peerNumbers: [String: UInt32] = [:]
    // Channels here, tasks there.
    private var proxySends: [UInt64: (peer: String, seq: UInt64, channel: ChannelID)] = [:]
    private var proxyReceives: [UInt64: (peer: String, want: UInt64, channel: ChannelID, ahead: Bool)] = [:]
    private struct HeldDelivery { let held: HeldMessage; let message: Message; let frame: RouterFrame }
    private var held: [String: [UInt64: HeldDelivery]] = [:]
    /// Results of sends (and closes) already done, per peer and sequence number, so a retry is not done twice.
    private var results: [String: RecentAnswers<Int32>] = [:]
    /// What became of a delivered message, per peer and want, so a delivery repeated after a
    /// reconnect (its answer was lost with the link) gets the same answer and is not taken twice.
    private var decided: [String: RecentAnswers<RouterFrame.Taken>] = [:]
    static let resultsKept = 4096

    public private(set) var framesIn = 0, framesOut = 0
    /// Frames made by the entry point running now, returned when it ends.
    private var outbox: [RouterOutput] = []

    /// This run of the node, sent first on every link: a peer that sees a new one knows the node
    /// restarted (its sequence numbers start again, its tasks are new) and drops what it kept of
    /// the previous run. Random per process unless given (tests, the simulator).
    public let incarnation: UInt64
    /// Times this node gave a peer up (`expire`): it then looks like a new run to that peer, which
    /// must give up what it kept of ours too (its retries would find our records gone, and be
    /// delivered twice). Its own clock may have decided that, not the peer's.
    private var expiries: [String: UInt64] = [:]
    /// What this node announces itself as to `peer`.
    private func incarnation(for peer: String) -> UInt64 { incarnation &+ (expiries[peer] ?? 0) }
    /// Each peer's run, from its last announcement.
    private var peerIncarnations: [String: UInt64] = [:]
    /// Peers whose link is up but whose announcement (and so whose run) is not known yet: nothing
    /// is retried to them before it comes.
    private var awaitingAnnouncement: Set<String> = []

    public init(kernel: Kernel, incarnation: UInt64? = nil) {
        self.kernel = kernel
        var random = SystemRandomNumberGenerator()
        self.incarnation = incarnation ?? random.next()
        kernel.remoteDirectory = self
    }

    // MARK: link events (from the node's links)

    public func linkUp(_ peer: String) -> [RouterOutput] {
        step { linkCameUp(peer) }
    }

    /// Every entry point: what the kernel queued before, the event, what the kernel queued meanwhile;
    /// then the frames all of it made.
    private func step(_ event: () -> Void) -> [RouterOutput] {
        actOnKernelEvents()
        event()
        actOnKernelEvents()
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    private func linkCameUp(_ peer: String) {
        peersUp.insert(peer)
        downSince[peer] = nil
        emit(.announce(incarnation: incarnation(for: peer), currentAnnouncement()), to: peer)
        // Retries wait for the peer's announcement: only the run that had them may answer them.
        awaitingAnnouncement.insert(peer)
    }

    /// The peer announced itself on a new link: if it is the run we knew, what waited for it goes
    /// again; if it restarted, what its previous run held fails first, as it would past the grace.
    private func resume(_ peer: String, incarnation: UInt64) {
        if let known = peerIncarnations[peer], known != incarnation {
            log("router: \(peer) restarted or gave this node up; failing what was pending with it")
            forgetRun(of: peer)
        }
        peerIncarnations[peer] = incarnation
        // Sends and closes that waited for this peer go (again), in their order: the peer drops
        // duplicates by sequence number.
        let retries = pendingSends.filter { $0.value.peer == peer }.map { ($0.key, $0.value.frame) }
            + pendingCloses.filter { $0.value.peer == peer }.map { ($0.key, $0.value.frame) }
        for (_, frame) in retries.sorted(by: { $0.0 < $1.0 }) { emit(frame, to: peer) }
        // Deliveries whose answer may have been lost go again; the peer answers as it did before.
        for (_, delivery) in (held[peer] ?? [:]).sorted(by: { $0.key < $1.key }) {
            emit(delivery.frame, to: peer)
        }
        for (uri, entry) in remoteServices.sorted(by: { $0.key < $1.key }) where entry.peer == peer {
            if let (mirror, _) = mirror(for: uri) { requestWants(mirror, uri: uri, peer: peer) }
        }
    }

    public func linkDown(_ peer: String) -> [RouterOutput] {
        step { linkWentDown(peer) }
    }

    private func linkWentDown(_ peer: String) {
        guard peersUp.remove(peer) != nil else { return }
        awaitingAnnouncement.remove(peer)
        downSince[peer] = kernel.clock.nanoseconds
        // Its receives and queued sends are withdrawn; messages it may already have taken stay held
        // until it answers again after a reconnect, or the grace period ends.
        for (proxy, entry) in proxyReceives.sorted(by: { $0.key < $1.key }) where entry.peer == peer {
            kernel.cancelProxyReceiver(entry.channel, proxy: proxy)
            proxyReceives[proxy] = nil
        }
        // A send still queued here is withdrawn: the peer sends it again after a reconnect. One
        // already held for a receiver on a third node stays: its outcome must be kept for that retry.
        for (proxy, entry) in proxySends.sorted(by: { $0.key < $1.key }) where entry.peer == peer {
            if kernel.withdrawProxySend(entry.channel, proxy: proxy) { proxySends[proxy] = nil }
        }
        // Wants to the peer are forgotten: they are asked again after a reconnect. Messages it sent
        // ahead go back (it hears so when it asks again after a reconnect).
        wants = wants.filter { $0.value.peer != peer }
        for (proxy, offer) in offers.sorted(by: { $0.key < $1.key }) where offer.peer == peer { returnOffer(proxy, offer) }
        // URIs another node with a link up also serves (a module re-placed there) go to that node now.
        for (uri, entry) in remoteServices.sorted(by: { $0.key < $1.key }) where entry.peer == peer { rebind(uri) }
        log("router: link to \(peer) down; pending operations fail in \(graceNanoseconds / 1_000_000) ms unless it returns")
    }

    /// Timeouts and announcements; call it from the node loop (every few hundred ms is plenty).
    public func tick() -> [RouterOutput] {
        step(expireAndAnnounce)
    }

    private func expireAndAnnounce() {
        let now = kernel.clock.nanoseconds
        // Ticks come often and seldom find anything due: the ordered walks (which allocate) only then.
        if offers.values.contains(where: { $0.expires <= now }) {
            for (proxy, offer) in offers.sorted(by: { $0.key < $1.key }) where offer.expires <= now {
                // No task came for it in time: it goes back, and the mirror stops receiving ahead.
                returnOffer(proxy, offer)
                ahead[offer.mirror]?.on = false
            }
        }
        for (peer, since) in downSince.sorted(by: { $0.key < $1.key }) where now &- since >= graceNanoseconds {
            downSince[peer] = nil
            log("router: \(peer) unreachable for \(graceNanoseconds / 1_000_000) ms; failing its pending operations")
            expiries[peer, default: 0] &+= 1
            expire(peer)
        }
        guard kernel.servedVersion != announcedVersion else { return }
        let previous = lastAnnounced
        let current = currentAnnouncement()
        if current != previous {
            for peer in peersUp.sorted() { emit(.announce(incarnation: incarnation(for: peer), current), to: peer) }
        }
    }

    /// The next time `tick` has something to do.
    public var nextDeadline: UInt64? {
        // Asked on every loop iteration of a node: no allocation.
        let grace = downSince.values.min().map { $0 &+ graceNanoseconds }
        guard let offer = offers.values.lazy.map(\.expires).min() else { return grace }
        return min(grace ?? offer, offer)
    }

    /// A peer gone past the grace period: its sends and receives fail with `unreachable`.
    /// Everything of a peer's previous run goes at once: its receives and sends here are withdrawn
    /// (its tasks are gone), its offers return, and what was sent to it fails (`expire`).
    private func forgetRun(of peer: String) {
        for (proxy, entry) in proxyReceives.sorted(by: { $0.key < $1.key }) where entry.peer == peer {
            kernel.cancelProxyReceiver(entry.channel, proxy: proxy)
            proxyReceives[proxy] = nil
        }
        // A send held for a receiver on a third node ends there as it will; nobody waits for its answer.
        for (proxy, entry) in proxySends.sorted(by: { $0.key < $1.key }) where entry.peer == peer {
            _ = kernel.withdrawProxySend(entry.channel, proxy: proxy)
            proxySends[proxy] = nil
        }
        wants = wants.filter { $0.value.peer != peer }
        for (proxy, offer) in offers.sorted(by: { $0.key < $1.key }) where offer.peer == peer { returnOffer(proxy, offer) }
        expire(peer)
    }

    private func expire(_ peer: String) {
        for (seq, send) in pendingSends.sorted(by: { $0.key < $1.key }) where send.peer == peer {
            pendingSends[seq] = nil
            kernel.finishHeld(send.held, message: send.message, failed: .unreachable)
        }
        // Its mirrors were closed here already; there is nobody left to tell.
        pendingCloses = pendingCloses.filter { $0.value.peer != peer }
        // A message delivered to it may have been taken there: its sender fails as a send to a dead
        // node does (requeued, it could arrive twice).
        for (_, delivery) in (held.removeValue(forKey: peer) ?? [:]).sorted(by: { $0.key < $1.key }) { kernel.finishHeld(delivery.held, message: delivery.message, failed: .unreachable) }
        forgetServices(of: peer, failing: .unreachable)
        results[peer] = nil
        decided[peer] = nil
    }

    private func forgetServices(of peer: String, failing error: KernelError, keeping: Set<String> = []) {
        if keeping.isEmpty { announcedByPeer[peer] = nil }
        for (uri, entry) in remoteServices.sorted(by: { $0.key < $1.key }) where entry.peer == peer && !keeping.contains(wire(uri)) {
            // Its mirror fails as a channel whose server ended; a reopen finds another node serving the URI, if any.
            remoteServices[uri] = resolve(uri, excluding: peer)
            if let (mirror, _) = mirror(for: uri) {
                kernel.failMirror(mirror, with: error, close: true)
            }
        }
    }

    /// The node that serves `uri` now: among the peers that announce it, those with a link up
    /// first, then the lowest name (the same choice on every node).
    private func resolve(_ uri: String, excluding excluded: String? = nil) -> (peer: String, role: TaskRole)? {
        // A URI that names its node resolves to that node or to nothing.
        if let pinned = ServiceURI(uri), let node = pinned.node {
            guard node != excluded, let entry = announcedByPeer[node]?.first(where: { $0.uri == pinned.unpinned }) else { return nil }
            return (node, entry.role)
        }
        var best: (peer: String, role: TaskRole)?
        for (peer, uris) in announcedByPeer where peer != excluded {
            guard let entry = uris.first(where: { $0.uri == uri }) else { continue }
            if let current = best {
                let (up, currentUp) = (peersUp.contains(peer), peersUp.contains(current.peer))
                if up == currentUp ? peer > current.peer : !up { continue }
            }
            best = (peer, entry.role)
        }
        return best
    }

    /// Re-resolves `uri`; if another peer serves it now, receivers waiting on its mirror ask that peer.
    /// (Sends already in flight stay with the old peer: it may still take them within the grace period.)
    private func rebind(_ uri: String) {
        let previous = remoteServices[uri]?.peer
        remoteServices[uri] = resolve(uri)
        if let peer = remoteServices[uri]?.peer, peer != previous, let (mirror, _) = mirror(for: uri) {
            requestWants(mirror, uri: uri, peer: peer)
        }
    }

    private func currentAnnouncement() -> [RouterFrame.ServedURI] {
        let uris = kernel.servedURIs.map { RouterFrame.ServedURI(uri: $0.uri, role: $0.role) }
        lastAnnounced = uris
        announcedVersion = kernel.servedVersion
        return uris
    }
    /// `kernel.servedVersion` when `lastAnnounced` was made: while it stays, so does the announcement.
    private var announcedVersion = -1

    private func mirror(for uri: String) -> (ChannelID, TaskRole)? {
        guard let (id, role) = kernel.registry[uri], kernel.channels[id]?.isMirror == true, kernel.channels[id]?.isClosed == false else { return nil }
        return (id, role)
    }

    /// Sends a frame if the link is up; `payload` if the caller has encoded it already.
    private func emit(_ frame: RouterFrame, to peer: String, payload: [UInt8]? = nil) {
        guard peersUp.contains(peer) else { return }
        // Until the peer says which run it is, only our announcement goes: everything else is kept
        // for a retry, as while the link was down (`resume`).
        if awaitingAnnouncement.contains(peer) { guard case .announce = frame else { return } }
        let payload = payload ?? frame.payload
        // Frames with co_values are checked before they are made; this catches an announcement of
        // more URIs than a link frame holds.
        guard payload.count <= RouterFrame.payloadBytesMax else {
            log("router: frame \(frame.kind) to \(peer) of \(payload.count) bytes does not fit a link frame; dropped")
            return
        }
        outbox.append(RouterOutput(peer: peer, kind: frame.kind, payload: payload))
        framesOut += 1
    }

    private func client(of task: TaskID) -> RouterFrame.Client {
        RouterFrame.Client(name: kernel.name(of: task) ?? "?", role: kernel.role(of: task) ?? .guest)
    }

    /// The roles a task on another node may claim in a frame: those of the modules an orchestrator
    /// places (guest and service). The system roles (hal, logging, router) are a node's own services,
    /// which never act on another node's channels; a peer can name any role in a frame, so a claim
    /// of one is refused whatever the policy (Docs/router.md).
    static let remoteClientRoles: Set<TaskRole> = [.guest, .service]

    /// The serving node's own check of the role policy: a peer's router checked it when its task
    /// opened the mirror, but this node does not take its word for it.
    private func permits(_ client: RouterFrame.Client, from peer: String, on uri: String, servedBy role: TaskRole) -> Bool {
        guard Self.remoteClientRoles.contains(client.role) else {
            logDenied(client, from: peer, uri: uri, why: ": system roles do not cross nodes")
            return false
        }
        guard kernel.rolePolicy.allows(client: client.role, server: role) else {
            logDenied(client, from: peer, uri: uri)
            return false
        }
        return true
    }

    /// A refused open of a channel served here, by a task on `peer`: logged as the opening node
    /// logs its own refusals (the kernel's logger, from "router").
    private func logDenied(_ client: RouterFrame.Client, from peer: String, uri: String, why: String = "") {
        kernel.logger.log(.error, text: "denied: \(client.name) (\(client.role)) on node \(peer) may not open \(uri)\(why)", from: "router")
    }

    // MARK: frames from peers

    /// A frame from `peer`; a frame that does not parse is an error for the caller (close that link).
    public func received(kind: UInt8, payload: [UInt8], from peer: String) throws(RouterFrame.DecodeError) -> [RouterOutput] {
        let frame = try RouterFrame(kind: kind, payload: payload)
        framesIn += 1
        return step { handle(frame, from: peer) }
    }

    private func handle(_ frame: RouterFrame, from peer: String) {
        switch frame {
        case .announce(let incarnation, let uris):
            if awaitingAnnouncement.remove(peer) != nil || peerIncarnations[peer] != incarnation { resume(peer, incarnation: incarnation) }
            let names = Set(uris.map(\.uri))
            // Services the peer no longer serves close here, as a local server's exit would.
            forgetServices(of: peer, failing: .closed, keeping: names)
            announcedByPeer[peer] = uris
                for entry in uris { rebind(entry.uri) }
        case .send(let seq, let uri, let client, let message, let values):
            if let status = results[peer]?[seq] {
                emit(.sendResult(seq: seq, status: status), to: peer)
                return
            }
            guard !proxySends.values.contains(where: { $0.peer == peer && $0.seq == seq }) else { return }
            guard let (channel, role) = kernel.localChannel(serving: uri) else {
                emit(.sendResult(seq: seq, status: KernelError.noSuchService.rawValue), to: peer)
                return
            }
            guard permits(client, from: peer, on: uri, servedBy: role) else {
                finishRemoteSend(peer: peer, seq: seq, status: KernelError.denied.rawValue)
                return
            }
            let proxy = takeID()
            proxySends[proxy] = (peer, seq, channel)
            let (taken, error) = kernel.proxySend(message, values: values, on: channel, proxy: proxy, peer: number(of: peer))
            if taken || error != nil {
                proxySends[proxy] = nil
                finishRemoteSend(peer: peer, seq: seq, status: error?.rawValue ?? 0)
            }
        case .sendResult(let seq, let status):
            if let close = pendingCloses[seq], close.peer == peer {
                pendingCloses[seq] = nil
                if status != 0, case .close(_, let uri, _) = close.frame {
                    log("router: \(peer) did not close \(uri): \(KernelError(rawValue: status).map { "\($0)" } ?? "error \(status)")")
                }
                return
            }
            guard let send = pendingSends[seq], send.peer == peer else { return }
            pendingSends[seq] = nil
            kernel.finishHeld(send.held, message: send.message, failed: status == 0 ? nil : KernelError(rawValue: status) ?? .closed)
            // Closed there, or not served there any more: the mirror is dead and closes here only
            // (as for a want, below). The guest's close of its handle, which follows an `ECLOSED`,
            // must not reach the channel of another node the URI has moved to meanwhile.
            if status == KernelError.noSuchService.rawValue || status == KernelError.closed.rawValue {
                kernel.failMirror(send.held.channel, with: KernelError(rawValue: status)!, close: true)
            }
        case .want(let id, let uri, let client, let wantsAhead):
            guard let (channel, role) = kernel.localChannel(serving: uri) else {
                emit(.deliver(id: id, status: KernelError.noSuchService.rawValue, message: Message(), values: []), to: peer)
                return
            }
            guard permits(client, from: peer, on: uri, servedBy: role) else {
                emit(.deliver(id: id, status: KernelError.denied.rawValue, message: Message(), values: []), to: peer)
                return
            }
            let proxy = takeID()
            proxyReceives[proxy] = (peer, id, channel, wantsAhead)
            if let error = kernel.addProxyReceiver(channel, proxy: proxy, peer: number(of: peer), ahead: wantsAhead) {
                proxyReceives[proxy] = nil
                emit(.deliver(id: id, status: error.rawValue, message: Message(), values: []), to: peer)
            }
        case .deliver(let id, let status, let message, let values):
            guard let want = wants[id], want.peer == peer else {
                // A repeat after a reconnect: the same answer; a want we gave up: not taken.
                if status == 0 { emit(.taken(id: id, outcome: decided[peer]?[id] ?? .returned), to: peer) }
                return
            }
            wants[id] = nil
            if status != 0 {
                let error = KernelError(rawValue: status) ?? .closed
                // A channel the serving node closed, or no longer serves under this URI: the mirror
                // is dead, and closes here only, so that a guest's close of its handle cannot reach
                // a channel served anew under the same URI (or on the node it moved to).
                kernel.failMirror(want.mirror, with: error, close: error == .closed || error == .noSuchService)
                return
            }
            // Received ahead and no task waits yet: the message waits on the mirror for a while.
            if want.ahead, values.isEmpty, kernel.mirrorReceivers(want.mirror) == 0 {
                let proxy = takeID()
                if kernel.offerToMirror(want.mirror, message, proxy: proxy) {
                    offers[proxy] = Offer(peer: peer, want: id, mirror: want.mirror, expires: kernel.clock.nanoseconds &+ aheadNanoseconds)
                    return
                }
            }
            let outcome: RouterFrame.Taken
            do throws(KernelError) {
                outcome = try kernel.deliverToMirror(want.mirror, message, values: values) ? .accepted : .returned
            } catch {
                // The waiting task goes on waiting; the far sender's send fails and keeps its values.
                log("router: no room for the co_values of a message from \(peer); its send fails with \(error)")
                outcome = .noMemory
            }
            decide(id, outcome, to: peer)
            if outcome == .accepted { ahead[want.mirror, default: Ahead()].lastTake = kernel.clock.nanoseconds }
            if let uri = kernel.channels[want.mirror]?.uri { requestWants(want.mirror, uri: uri, peer: peer) }
        case .taken(let id, let outcome):
            guard let delivery = held[peer]?.removeValue(forKey: id) else { return }
            switch outcome {
            case .accepted: kernel.finishHeld(delivery.held, message: delivery.message, failed: nil)
            case .returned: kernel.requeueHeld(delivery.held, message: delivery.message)
            case .noMemory: kernel.finishHeld(delivery.held, message: delivery.message, failed: .noMemory)
            }
        case .close(let seq, let uri, let client):
            if let status = results[peer]?[seq] {
                emit(.sendResult(seq: seq, status: status), to: peer)
                return
            }
            guard let (channel, role) = kernel.localChannel(serving: uri) else {
                finishRemoteSend(peer: peer, seq: seq, status: KernelError.noSuchService.rawValue)
                return
            }
            guard permits(client, from: peer, on: uri, servedBy: role) else {
                finishRemoteSend(peer: peer, seq: seq, status: KernelError.denied.rawValue)
                return
            }
            // As a local close: blocked senders and receivers here, and remote ones through their
            // proxies, fail with `closed`; messages held for the peer go back and fail with it.
            log("router: \(client.name) on \(peer) closed \(uri)")
            try? kernel.close(channel)
            finishRemoteSend(peer: peer, seq: seq, status: 0)
        case .openDenied(let uri, let client):
            logDenied(client, from: peer, uri: uri)
        }
    }

    private func takeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    private func finishRemoteSend(peer: String, seq: UInt64, status: Int32) {
        results[peer, default: RecentAnswers(capacity: Self.resultsKept)].record(status, for: seq)
        emit(.sendResult(seq: seq, status: status), to: peer)
    }

    /// Asks the serving peer for as many messages as tasks wait on the mirror, each want naming
    /// the task it is for (a want stands for any of them: whoever still waits takes the message).
    /// A mirror receiving ahead keeps one want there while no task waits.
    private func requestWants(_ mirror: ChannelID, uri: String, peer: String) {
        // Until the peer has announced itself a want could not go (`emit`): `resume` asks then.
        guard peersUp.contains(peer), !awaitingAnnouncement.contains(peer) else { return }
        var (plain, early) = (0, 0)
        for want in wants.values where want.mirror == mirror { if want.ahead { early += 1 } else { plain += 1 } }
        let waiting = kernel.mirrorReceiverTasks(mirror)
        // A want ahead serves a waiting task too, unless a send of this node waits there: the want
        // may not take that message, and a task here may be the one meant to receive it.
        let sendWaitsThere = !pendingSends.isEmpty && pendingSends.values.contains { $0.held.channel == mirror }
        let covered = plain + (sendWaitsThere ? 0 : early)
        if waiting.count > covered {
            for task in waiting[covered...] {
                let id = takeID()
                wants[id] = Want(peer: peer, mirror: mirror, ahead: false)
                emit(.want(id: id, uri: wire(uri), client: client(of: task), ahead: false), to: peer)
            }
        } else if waiting.isEmpty, plain + early == 0, let state = ahead[mirror], state.on, let client = state.client {
            let id = takeID()
            wants[id] = Want(peer: peer, mirror: mirror, ahead: true)
            emit(.want(id: id, uri: wire(uri), client: client, ahead: true), to: peer)
        }
    }

    /// Records what became of a delivered message and tells the serving node; a repeat of the
    /// delivery after a reconnect gets the same answer.
    private func decide(_ want: UInt64, _ outcome: RouterFrame.Taken, to peer: String) {
        decided[peer, default: RecentAnswers(capacity: Self.resultsKept)].record(outcome, for: want)
        emit(.taken(id: want, outcome: outcome), to: peer)
    }

    /// A message received ahead that no task took goes back to its channel.
    private func returnOffer(_ proxy: UInt64, _ offer: Offer) {
        offers[proxy] = nil
        guard kernel.withdrawOffer(offer.mirror, proxy: proxy) else { return }
        offersReturned += 1
        decide(offer.want, .returned, to: offer.peer)
    }

    private func number(of peer: String) -> UInt32 {
        if let number = peerNumbers[peer] { return number }
        let number = UInt32(peerNumbers.count + 1)
        peerNumbers[peer] = number
        return number
    }

    // MARK: events from the kernel

    /// Whether the kernel queued events for the router (`takeKernelEvents` has work: acting on it
    /// may make tasks runnable).
    public var hasKernelEvents: Bool { kernel.hasRemoteEvents }

    /// Acts on what the kernel queued (`RemoteEvent`); a host calls it after running the kernel.
    public func takeKernelEvents() -> [RouterOutput] {
        step {}
    }

    /// Acts on the kernel's queued events until nothing is left. Every entry point begins and ends with it.
    private func actOnKernelEvents() {
        while kernel.hasRemoteEvents {
            for event in kernel.takeRemoteEvents() {
                switch event {
                case .mirrorHasSender(let channel): mirrorHasSender(channel)
                case .mirrorHasReceiver(let channel): mirrorHasReceiver(channel)
                case .proxyReceived(let proxy, let message, let held): proxyReceived(proxy, message, held: held)
                case .proxyCompleted(let proxy, let failed): proxyCompleted(proxy, failed: failed)
                case .mirrorClosed(let uri, let client, let role): mirrorClosed(uri, client: client, role: role)
                case .openDenied(let uri, let client, let role): openDenied(uri, client: client, role: role)
                }
            }
        }
    }

    public func remoteRole(of uri: String) -> TaskRole? {
        // A URI naming a node is bound when first opened (announcements bind the plain ones).
        if remoteServices[uri] == nil, uri.utf8.contains(UInt8(ascii: "@")) { remoteServices[uri] = resolve(uri) }
        return remoteServices[uri]?.role
    }

    /// The URI frames carry for a mirror's: without the node it may name (the serving node serves it plain).
    private func wire(_ uri: String) -> String {
        guard let at = uri.utf8.firstIndex(of: UInt8(ascii: "@")) else { return uri }
        return String(uri[..<at])
    }

    private func mirrorHasSender(_ channel: ChannelID) {
        guard let uri = kernel.channels[channel]?.uri else { return }
        while let (message, heldMessage) = kernel.takeMirrorMessage(channel) {
            guard let peer = remoteServices[uri]?.peer else {
                kernel.finishHeld(heldMessage, message: message, failed: .unreachable)
                continue
            }
            // The co_values travel as bytes; they are freed here only once the send is taken there.
            guard let values = kernel.movedValueBytes(message) else {
                kernel.finishHeld(heldMessage, message: message, failed: .badHandle)
                continue
            }
            let seq = takeID()
            let frame = RouterFrame.send(seq: seq, uri: wire(uri), client: client(of: heldMessage.sender.task), message: message, values: values)
            let payload = frame.payload
            guard payload.count <= RouterFrame.payloadBytesMax else {
                kernel.finishHeld(heldMessage, message: message, failed: .messageTooLarge)
                continue
            }
            pendingSends[seq] = PendingSend(peer: peer, frame: frame, message: message, held: heldMessage)
            emit(frame, to: peer, payload: payload)
        }
    }

    private func mirrorHasReceiver(_ channel: ChannelID) {
        guard let uri = kernel.channels[channel]?.uri, let peer = remoteServices[uri]?.peer else { return }
        // A task that receives again soon after taking a message is likely to go on so: from now
        // on a want waits at the serving node before it asks (receiving ahead).
        if aheadNanoseconds > 0, let task = kernel.channels[channel]?.firstLocalReceiver?.task {
            var state = ahead[channel, default: Ahead()]
            if let last = state.lastTake, kernel.clock.nanoseconds &- last <= aheadNanoseconds { state.on = true }
            state.client = client(of: task)
            ahead[channel] = state
        }
        requestWants(channel, uri: uri, peer: peer)
    }

    private func proxyReceived(_ proxy: UInt64, _ message: Message, held heldMessage: HeldMessage) {
        guard let entry = proxyReceives.removeValue(forKey: proxy) else {
            kernel.requeueHeld(heldMessage, message: message)
            return
        }
        guard peersUp.contains(entry.peer) else {
            kernel.requeueHeld(heldMessage, message: message)
            return
        }
        let frame = kernel.movedValueBytes(message).map { RouterFrame.deliver(id: entry.want, status: 0, message: message, values: $0) }
        let payload = frame?.payload ?? []
        guard let frame, payload.count <= RouterFrame.payloadBytesMax else {
            // This message cannot go (its co_values do not fit a frame, or one is gone): its sender
            // fails and keeps them; the remote task still waits, for the next message.
            kernel.finishHeld(heldMessage, message: message, failed: frame == nil ? .badHandle : .messageTooLarge)
            proxyReceives[proxy] = entry
            if let error = kernel.addProxyReceiver(entry.channel, proxy: proxy, peer: number(of: entry.peer), ahead: entry.ahead) {
                proxyReceives[proxy] = nil
                emit(.deliver(id: entry.want, status: error.rawValue, message: Message(), values: []), to: entry.peer)
            }
            return
        }
        held[entry.peer, default: [:]][entry.want] = HeldDelivery(held: heldMessage, message: message, frame: frame)
        emit(frame, to: entry.peer, payload: payload)
    }

    private func proxyCompleted(_ proxy: UInt64, failed: KernelError?) {
        if let offer = offers.removeValue(forKey: proxy) {
            // A task took a message received ahead (or the mirror closed under it).
            guard failed == nil else {
                offersReturned += 1
                decide(offer.want, .returned, to: offer.peer)
                return
            }
            offersTaken += 1
            decide(offer.want, .accepted, to: offer.peer)
            ahead[offer.mirror, default: Ahead()].lastTake = kernel.clock.nanoseconds
            if let uri = kernel.channels[offer.mirror]?.uri { requestWants(offer.mirror, uri: uri, peer: offer.peer) }
        } else if let entry = proxySends.removeValue(forKey: proxy) {
            finishRemoteSend(peer: entry.peer, seq: entry.seq, status: failed?.rawValue ?? 0)
        } else if let entry = proxyReceives.removeValue(forKey: proxy) {
            emit(.deliver(id: entry.want, status: (failed ?? .closed).rawValue, message: Message(), values: []), to: entry.peer)
        }
    }

    private func mirrorClosed(_ uri: String, client: String, role: TaskRole) {
        guard let peer = remoteServices[uri]?.peer else { return }
        let seq = takeID()
        let frame = RouterFrame.close(seq: seq, uri: wire(uri), client: RouterFrame.Client(name: client, role: role))
        pendingCloses[seq] = (peer, frame)
        emit(frame, to: peer)
    }

    private func openDenied(_ uri: String, client: String, role: TaskRole) {
        guard let peer = remoteServices[uri]?.peer else { return }
        emit(.openDenied(uri: wire(uri), client: RouterFrame.Client(name: client, role: role)), to: peer)
    }

    /// What the router holds now, for status and tests.
    /// Every record the router keeps, one line each, in a stable order: for a simulation's failure report.
    public var stateSummary: [String] {
        var lines: [String] = []
        for (seq, send) in pendingSends.sorted(by: { $0.key < $1.key }) { lines.append("pending send \(seq) to \(send.peer) on \(send.held.channel)") }
        for (seq, close) in pendingCloses.sorted(by: { $0.key < $1.key }) { lines.append("pending close \(seq) to \(close.peer)") }
        for (id, want) in wants.sorted(by: { $0.key < $1.key }) { lines.append("want \(id) to \(want.peer) for \(want.mirror)\(want.ahead ? " ahead" : "")") }
        for (proxy, entry) in proxySends.sorted(by: { $0.key < $1.key }) { lines.append("proxy send \(proxy) for \(entry.peer) seq \(entry.seq) on \(entry.channel)") }
        for (proxy, entry) in proxyReceives.sorted(by: { $0.key < $1.key }) { lines.append("proxy receive \(proxy) for \(entry.peer) want \(entry.want) on \(entry.channel)") }
        for (peer, deliveries) in held.sorted(by: { $0.key < $1.key }) {
            for (id, _) in deliveries.sorted(by: { $0.key < $1.key }) { lines.append("held delivery \(id) to \(peer)") }
        }
        for (proxy, offer) in offers.sorted(by: { $0.key < $1.key }) { lines.append("offer \(proxy) from \(offer.peer) on \(offer.mirror)") }
        for peer in awaitingAnnouncement.sorted() { lines.append("awaiting the announcement of \(peer)") }
        return lines
    }

    public var pendingCount: (sends: Int, wants: Int, held: Int) { (pendingSends.count, wants.count, held.values.reduce(0) { $0 + $1.count }) }
    public var remoteURIs: [String: String] { remoteServices.mapValues(\.peer) }
    /// Closes of mirrors sent to their serving nodes and not yet answered.
    public var pendingCloseCount: Int { pendingCloses.count }
}
