// A node's links: listens on an address, dials its peers with reconnect and backoff, runs TLS and the
// link protocol on each connection, settles duplicate node links, keeps orchestrators' links as
// control sessions (any number, none displacing another), and reports to one LinkDelegate.
import CLibUV
import Glibc

/// Timing, admission and membership of an Endpoint (the link's own limits are in `link`).
public struct EndpointConfiguration: Sendable {
    public var link = LinkConfiguration()
    /// How often links check heartbeats and timeouts.
    public var tickNanoseconds: UInt64 = 100_000_000
    /// First reconnect delay; doubles per failed attempt up to the cap, each drawn with jitter in [half, full].
    public var reconnectInitialNanoseconds: UInt64 = 100_000_000
    public var reconnectMaxNanoseconds: UInt64 = 5_000_000_000
    /// Seed for the reconnect jitter; nil draws one from the system.
    public var randomSeed: UInt64?
    /// Accepted connections not yet authenticated (TLS handshake and hello under way), in all. A
    /// connection past the limit is closed at once, unread, with a TCP reset (`overloaded`).
    /// Each one waits at most `link.handshakeTimeoutNanoseconds`.
    public var pendingConnectionsMax = 256
    /// The same limit per source IP address.
    public var pendingConnectionsPerAddressMax = 32
    /// Names of the nodes that may link with the node role (the cluster's members); nil admits every
    /// node certificate of the cluster CA. Orchestrator certificates are admitted either way.
    public var members: Set<String>?
    /// Control sessions (accepted links with an orchestrator certificate) open at once. One more is
    /// refused with a goodbye (`sessionLimit`); the open ones are never displaced.
    public var controlSessionsMax = 32
    /// Refused accepted connections are logged one by one up to `refusalLinesPerInterval` per
    /// interval; the rest of an interval's refusals are summed up in one line when it ends.
    public var refusalLogIntervalNanoseconds: UInt64 = 10_000_000_000
    public var refusalLinesPerInterval = 5
    /// Once this many accepted connections came and went since the last time and none is waiting for
    /// its handshake, freed heap goes back to the system (glibc's malloc_trim), so that the memory a
    /// flood took returns; 0 never does.
    public var releaseMemoryAfterConnections = 64

    public init() {}

    /// Checks the limits against each other (and the link's, see `LinkConfiguration.validate`).
    public func validate() throws(TransportError) {
        try link.validate()
        guard pendingConnectionsMax >= 1, pendingConnectionsPerAddressMax >= 1, pendingConnectionsPerAddressMax <= pendingConnectionsMax else {
            throw TransportError(.invalidArgument, "pending connections: \(pendingConnectionsPerAddressMax) per address and \(pendingConnectionsMax) in all; "
                                 + "both must be at least 1, and the limit per address at most the total")
        }
        guard link.handshakeTimeoutNanoseconds >= tickNanoseconds, tickNanoseconds > 0 else {
            throw TransportError(.invalidArgument, "handshake timeout (\(seconds(link.handshakeTimeoutNanoseconds)) s) must be at least one tick (\(seconds(tickNanoseconds)) s)")
        }
        guard (1...4096).contains(controlSessionsMax) else {
            throw TransportError(.invalidArgument, "control sessions: \(controlSessionsMax) at once; must be 1…4096")
        }
        guard refusalLogIntervalNanoseconds > 0, refusalLinesPerInterval >= 0, releaseMemoryAfterConnections >= 0 else {
            throw TransportError(.invalidArgument, "refusal log interval must be positive, its line count and the memory release count not negative")
        }
        if let bad = members?.sorted().first(where: { !NodeName.isValid($0) }), let problem = NodeName.problem(bad) {
            throw TransportError(.invalidArgument, "members: \(problem)")
        }
    }
}

/// Links of one node over TLS 1.3/TCP. Lives on one EventLoop thread; `close()` it before closing the loop.
public final class Endpoint: LinkTransport {
    public let loop: EventLoop
    /// The CA, certificate and key that new connections use; `reload` replaces it (established
    /// connections keep the context they began with: OpenSSL counts its references).
    private(set) var tls: TLSContext
    public let configuration: EndpointConfiguration
    private let logSink: (String) -> Void
    public weak var delegate: LinkDelegate?
    public var identity: PeerIdentity { tls.identity }

    private var listener: TCPListener?
    private var connections: [ObjectIdentifier: LinkConnection] = [:]
    /// The link that frames to each node peer go on (one per peer name).
    private var current: [String: LinkConnection] = [:]
    /// Control sessions by number; many may share one orchestrator name.
    private var sessions: [SessionID: LinkConnection] = [:]
    private var nextSession: UInt64 = 1
    private var dialers: [String: Dialer] = [:]
    private var dirty: [LinkConnection] = []
    private var tickTimer: LoopTimer?
    private var hookID = 0
    private var random: SplitMix64
    private(set) var isClosed = false
    /// Accepted connections not yet authenticated, in all and per source address (entries only while
    /// non-zero, so the table holds at most `pendingConnectionsMax` addresses).
    private var pendingAccepted = 0
    private var pendingByHost: [String: Int] = [:]
    private var refusals: RefusalLog
    /// Accepted connections since freed heap last went back to the system.
    private var acceptedSinceRelease = 0
    /// Accepted connections refused (limits, handshake, membership, sessions), by why: for metrics.
    public private(set) var refusedConnections: [LinkCloseReason.Code: Int] = [:]
    /// Frames and payload bytes on each node peer's links since boot; one entry per peer name that
    /// ever linked, at most `trafficPeersMax` (members are far fewer).
    public private(set) var traffic: [String: LinkTraffic] = [:]
    static let trafficPeersMax = 1024
    /// Called with each refusal line the rate limit lets through (and its summaries), for a node's events.
    public var refusalObserver: ((String) -> Void)?

    private final class Dialer {
        let name: String
        let address: SocketAddress
        var attempt = 0
        /// Dial failures since the last link; only the first of a streak is logged.
        var failures = 0
        var connection: LinkConnection?
        var timer: LoopTimer?
        init(name: String, address: SocketAddress) { self.name = name; self.address = address }
    }

    /// `log` receives one line per event worth a person's attention (refusals, links up and down).
    public init(loop: EventLoop, tls: TLSContext, configuration: EndpointConfiguration = EndpointConfiguration(),
                log: @escaping (String) -> Void) throws(TransportError) {
        try configuration.validate()
        // libuv writes to sockets with write(2): a peer that vanished mid-write must be an error on
        // that link, not a SIGPIPE that ends the whole process.
        signal(SIGPIPE, SIG_IGN)
        self.loop = loop
        self.tls = tls
        self.configuration = configuration
        self.logSink = log
        var seed = configuration.randomSeed ?? 0
        if configuration.randomSeed == nil { var system = SystemRandomNumberGenerator(); seed = system.next() }
        random = SplitMix64(seed: seed)
        refusals = RefusalLog(intervalNanoseconds: configuration.refusalLogIntervalNanoseconds, linesPerInterval: configuration.refusalLinesPerInterval)
        hookID = loop.addBeforePollHook { [unowned self] in self.flush() }
        tickTimer = loop.schedule(afterNanoseconds: configuration.tickNanoseconds, repeatNanoseconds: configuration.tickNanoseconds) {
            [unowned self] in self.tick()
        }
    }

    deinit { precondition(isClosed || loop.isClosed, "Endpoint dropped without close()") }

    // MARK: public API

    /// Accepts links on `host:port` (port 0: any free port). Returns the bound port.
    @discardableResult
    public func listen(host: String, port: UInt16) throws(TransportError) -> UInt16 {
        precondition(listener == nil, "listen() twice")
        let listener = try TCPListener(loop: loop, address: try SocketAddress(host: host, port: port))
        listener.onConnection = { [unowned self] stream in self.accepted(stream) }
        self.listener = listener
        return listener.port
    }

    /// Keeps a link to `name` at `host:port`: dials now and again after every loss, with backoff.
    public func connect(to name: String, host: String, port: UInt16) throws(TransportError) {
        if let problem = NodeName.problem(name) { throw TransportError(.invalidArgument, problem) }
        guard name != identity.name else { throw TransportError(.invalidArgument, "a node does not dial itself") }
        let dialer = Dialer(name: name, address: try SocketAddress(host: host, port: port))
        if let old = dialers[name] { old.timer?.cancel() }
        dialers[name] = dialer
        dial(dialer)
    }

    /// Stops dialing `name` (an established link stays until it ends).
    public func forget(_ name: String) {
        dialers.removeValue(forKey: name)?.timer?.cancel()
    }

    public var connectedPeers: [PeerIdentity] { current.values.compactMap(\.peer).sorted { $0.name < $1.name } }

    public func isConnected(to name: String) -> Bool { current[name] != nil }

    /// The smoothed round-trip time of the link to node `name` as the kernel's TCP measures it
    /// (acknowledgements of frames and heartbeats), in microseconds; nil without a link.
    public func roundTripMicroseconds(to name: String) -> Int? { current[name]?.roundTripMicroseconds }

    /// Queues an application frame on the link to `peer`; it leaves before the loop next waits.
    public func send(to peer: String, kind: UInt8, payload: UnsafeRawBufferPointer) throws(TransportError) {
        guard let connection = current[peer] else { throw TransportError(.notConnected, "no link to \(peer)") }
        try connection.send(kind: kind, payload: payload)
        markDirty(connection)
    }

    /// Bytes queued on the link to `peer` (plaintext frames and ciphertext not yet taken by the socket).
    public func queuedBytes(to peer: String) -> Int { current[peer]?.queuedBytes ?? 0 }

    /// Queues an application frame on control session `session`.
    public func send(to session: SessionID, kind: UInt8, payload: UnsafeRawBufferPointer) throws(TransportError) {
        guard let connection = sessions[session] else { throw TransportError(.notConnected, "no \(session)") }
        try connection.send(kind: kind, payload: payload)
        markDirty(connection)
    }

    /// `send(to:kind:payload:)` for a byte array.
    public func send(to session: SessionID, kind: UInt8, bytes: [UInt8]) throws(TransportError) {
        let result: Result<Void, TransportError> = bytes.withUnsafeBytes { raw in
            do throws(TransportError) { try send(to: session, kind: kind, payload: raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Control sessions open now.
    public var sessionCount: Int { sessions.count }

    /// Closes control session `session` with a goodbye.
    public func close(_ session: SessionID, reason: LinkCloseReason) {
        sessions[session]?.finish(reason)
    }

    /// Closes the link to `peer` with a goodbye; it is dialed again if it is in the dial list.
    public func disconnect(_ peer: String) {
        current[peer]?.finish(LinkCloseReason(.normal, "closed by \(identity.name)"))
    }

    /// Closes every link (with a goodbye), the listener and the timers.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        for dialer in dialers.values { dialer.timer?.cancel() }
        dialers = [:]
        for connection in Array(connections.values) {
            // Links not up yet are dropped without a "refused" line: nobody refused them.
            if connection.peer == nil { connection.quietClose = true }
            connection.finish(LinkCloseReason(.normal, "\(identity.name) is shutting down"))
        }
        flush()
        listener?.close()
        listener = nil
        tickTimer?.cancel()
        loop.removeBeforePollHook(hookID)
    }

    /// The port the listener is bound to.
    public var listeningPort: UInt16? { listener?.port }

    /// New connections use `context` from now on; the links up now stay as they are. The identity
    /// must stay the same (a node does not change its name or role while it runs).
    public func reload(_ context: TLSContext) throws(TransportError) {
        guard context.identity == tls.identity else {
            throw TransportError(.certificate, "the new certificate is for \(context.identity), not \(tls.identity): kept the old one")
        }
        tls = context
    }

    // MARK: connections

    /// Connections not yet authenticated, in all and from `host`, for tests and status.
    public var pendingConnectionCount: Int { pendingAccepted }
    func pendingConnectionCount(from host: String) -> Int { pendingByHost[host] ?? 0 }

    /// A new connection: admitted if the limits of connections waiting for their handshake allow,
    /// else closed at once with a reset, unread (accepting it first keeps the backlog moving).
    private func accepted(_ stream: TCPStream) {
        guard !isClosed else { stream.close(); return }
        acceptedSinceRelease += 1
        let host = stream.remoteHost
        let fromHost = pendingByHost[host] ?? 0
        guard pendingAccepted < configuration.pendingConnectionsMax, fromHost < configuration.pendingConnectionsPerAddressMax else {
            let address = stream.remoteAddress
            stream.closeWithReset()
            let (total, limit) = (pendingAccepted, configuration)
            refused(from: host, code: .overloaded) {
                total >= limit.pendingConnectionsMax
                    ? "link from \(address) refused: \(total) connections wait for their handshake, the limit"
                    : "link from \(address) refused: \(fromHost) connections from \(host) wait for their handshake, the limit per address"
            }
            return
        }
        pendingAccepted += 1
        pendingByHost[host] = fromHost + 1
        let connection = LinkConnection(endpoint: self, stream: stream, expectedPeer: nil, now: loop.nowNanoseconds)
        connection.pendingHost = host
        connections[ObjectIdentifier(connection)] = connection
        connection.begin()
    }

    /// A connection is authenticated or gone: it no longer counts against the limits.
    private func release(_ connection: LinkConnection) {
        guard let host = connection.pendingHost else { return }
        connection.pendingHost = nil
        pendingAccepted -= 1
        let left = (pendingByHost[host] ?? 1) - 1
        pendingByHost[host] = left > 0 ? left : nil
        precondition(pendingAccepted >= 0, "pending connection count below zero")
    }

    /// Logs a refused accepted connection through the rate limit.
    private func refused(from host: String, code: LinkCloseReason.Code, line: () -> String) {
        refusedConnections[code, default: 0] += 1
        for text in refusals.refused(from: host, code: code, now: loop.nowNanoseconds, line: line) {
            log(text)
            refusalObserver?(text)
        }
    }

    private func dial(_ dialer: Dialer) {
        guard !isClosed, dialers[dialer.name] === dialer, dialer.connection == nil, current[dialer.name] == nil else { return }
        dialer.timer?.cancel()
        dialer.timer = nil
        let stream = TCPStream(loop: loop)
        let connection = LinkConnection(endpoint: self, stream: stream, expectedPeer: dialer.name, now: loop.nowNanoseconds)
        connections[ObjectIdentifier(connection)] = connection
        dialer.connection = connection
        stream.onConnect = { [unowned connection] status in
            if status == 0 { connection.begin(); return }
            connection.dialFailed(LinkCloseReason(.connectionLost, "connect: \(uvErrorText(status))"))
        }
        stream.connect(to: dialer.address)
    }

    private func scheduleRedial(_ dialer: Dialer) {
        guard !isClosed, dialers[dialer.name] === dialer, dialer.timer == nil, current[dialer.name] == nil else { return }
        let delay = backoff(attempt: dialer.attempt)
        dialer.attempt += 1
        dialer.timer = loop.schedule(afterNanoseconds: delay) { [unowned self, weak dialer] in
            guard let dialer else { return }
            dialer.timer = nil
            self.dial(dialer)
        }
    }

    /// Exponential backoff with jitter: base = initial · 2^attempt capped at the maximum; the delay is drawn from [base/2, base].
    func backoff(attempt: Int) -> UInt64 {
        let base = min(configuration.reconnectMaxNanoseconds, configuration.reconnectInitialNanoseconds << UInt64(min(attempt, 30)))
        return base / 2 + random.next() % (base / 2 + 1)
    }

    fileprivate func markDirty(_ connection: LinkConnection) {
        if !connection.isDirty {
            connection.isDirty = true
            dirty.append(connection)
        }
    }

    private func flush() {
        guard !dirty.isEmpty else { return }
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in batch {
            connection.isDirty = false
            connection.flush()
        }
    }

    private func tick() {
        let now = loop.nowNanoseconds
        for connection in Array(connections.values) { connection.tick(now: now) }
        if let summary = refusals.summary(now: now) { log(summary); refusalObserver?(summary) }
        // After a burst (a flood, or many short-lived connections), once none waits any longer: the
        // allocator keeps freed memory for reuse, fragmented, unless told to give it back.
        if pendingAccepted == 0, configuration.releaseMemoryAfterConnections > 0, acceptedSinceRelease >= configuration.releaseMemoryAfterConnections {
            acceptedSinceRelease = 0
            _ = fb_release_free_heap()
        }
    }

    // MARK: from connections

    fileprivate func log(_ line: String) { logSink(line) }

    /// A connection finished its hello. An orchestrator's accepted link becomes a control session of
    /// its own. Any other becomes the peer's link, unless a link to that peer exists; then the
    /// tie-break keeps the link dialed by the lexicographically smaller name (or the newer one if both
    /// were dialed by the same side), on both ends alike.
    fileprivate func established(_ connection: LinkConnection, peer: PeerIdentity) {
        release(connection)
        if peer.name == identity.name {
            connection.finish(LinkCloseReason(.nameMismatch, "name mismatch: connected to itself"))
            return
        }
        if !connection.isOutbound && peer.role == .orchestrator {
            openSession(connection, peer: peer)
            return
        }
        if let existing = current[peer.name], existing !== connection {
            let smaller = min(identity.name, peer.name)
            func preferred(_ c: LinkConnection) -> Bool { (c.isOutbound ? identity.name : peer.name) == smaller }
            let keepNew = preferred(connection) || !preferred(existing)
            let loser = keepNew ? existing : connection
            if keepNew { current[peer.name] = connection }
            loser.quietClose = true
            loser.finish(LinkCloseReason(.duplicateLink, "duplicate link to \(peer.name): keeping the one dialed by \(smaller)"))
            return
        }
        current[peer.name] = connection
        if traffic[peer.name] == nil, traffic.count < Self.trafficPeersMax { traffic[peer.name] = LinkTraffic() }
        connection.traffic = traffic[peer.name]
        dialers[peer.name]?.attempt = 0
        dialers[peer.name]?.failures = 0
        log("link with \(peer) up, \(connection.origin)")
        delegate?.linkUp(peer)
    }

    /// A control session: numbered, kept beside every other (a CLI client and a controller under the
    /// same certificate name both stay), refused only past the limit.
    private func openSession(_ connection: LinkConnection, peer: PeerIdentity) {
        guard sessions.count < configuration.controlSessionsMax else {
            let (address, host, open) = (connection.direction, connection.remoteHost, sessions.count)
            connection.quietClose = true
            connection.finish(LinkCloseReason(.sessionLimit, "\(open) control sessions are open, the limit; try again when one ends"))
            refused(from: host, code: .sessionLimit) { "\(address) (\(peer.name)) refused: \(open) control sessions are open, the limit" }
            return
        }
        let session = SessionID(nextSession)
        nextSession += 1
        connection.session = session
        sessions[session] = connection
        log("\(session) with \(peer) open, \(connection.origin)")
        delegate?.sessionOpened(session, peer: peer)
    }

    fileprivate func frame(from connection: LinkConnection, peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
        if let session = connection.session {
            delegate?.frameReceived(from: session, peer: peer, kind: kind, payload: payload)
        } else {
            delegate?.frameReceived(from: peer, kind: kind, payload: payload)
        }
    }

    /// A connection ended: one log line, the delegate hears of it if it was the peer's link, and the dialer retries.
    fileprivate func finished(_ connection: LinkConnection, reason: LinkCloseReason) {
        connections[ObjectIdentifier(connection)] = nil
        release(connection)
        if let peer = connection.peer, let session = connection.session {
            sessions[session] = nil
            log("\(session) with \(peer.name) closed: \(reason)")
            delegate?.sessionClosed(session, peer: peer, reason: reason)
        } else if let peer = connection.peer {
            if !connection.quietClose { log("link with \(peer.name) closed: \(reason)") }
            if current[peer.name] === connection {
                current[peer.name] = nil
                delegate?.linkDown(peer, reason: reason)
            }
        } else if !connection.quietClose {
            // Dialed links are few (one per peer, with backoff); accepted ones can be a flood.
            if connection.isOutbound { log("\(connection.direction) refused: \(reason)") } else {
                refused(from: connection.remoteHost, code: reason.code) { "\(connection.direction) refused: \(reason)" }
            }
        }
        for dialer in dialers.values {
            if dialer.connection === connection { dialer.connection = nil }
            if current[dialer.name] == nil && dialer.connection == nil && dialer.timer == nil { scheduleRedial(dialer) }
        }
    }

    /// A dial that never connected: logged once per streak of failures, and retried with backoff.
    fileprivate func dialFailed(_ connection: LinkConnection, reason: LinkCloseReason) {
        connections[ObjectIdentifier(connection)] = nil
        for dialer in dialers.values where dialer.connection === connection {
            dialer.connection = nil
            dialer.failures += 1
            if dialer.failures == 1 { log("dial \(dialer.name) at \(dialer.address) failed: \(reason); retrying with backoff") }
            scheduleRedial(dialer)
        }
    }
}

/// Application frames and their payload bytes each way on a peer's links (heartbeats not counted).
public final class LinkTraffic {
    public internal(set) var framesIn = 0, bytesIn = 0, framesOut = 0, bytesOut = 0
}

/// One TCP connection carrying TLS and the link protocol.
final class LinkConnection {
    private unowned let endpoint: Endpoint
    private let stream: TCPStream
    private let tls: TLSSession
    /// The protocol state, once the TLS handshake is done (a class box so that it can live in an optional
    /// and be mutated in place while events are dispatched from it).
    private var link: LinkBox?
    let expectedPeer: String?
    private let createdAt: UInt64
    private(set) var peer: PeerIdentity?
    private var isFinished = false
    var isDirty = false
    var quietClose = false
    /// Set when this link is an orchestrator's control session (not the peer's link).
    var session: SessionID?
    /// Its peer's counters, once it is that peer's link.
    var traffic: LinkTraffic?
    /// The source address this accepted connection counts against while it is not authenticated.
    var pendingHost: String?
    /// Decrypted bytes; allocated once the handshake is done, so that a connection that never gets
    /// that far costs none of it.
    private var plaintext: UnsafeMutableRawPointer?
    private static let plaintextBytes = 16 * 1024

    final class LinkBox {
        var value: LinkProtocol
        init(_ value: consuming LinkProtocol) { self.value = value }
    }

    init(endpoint: Endpoint, stream: TCPStream, expectedPeer: String?, now: UInt64) {
        self.endpoint = endpoint
        self.stream = stream
        self.expectedPeer = expectedPeer
        createdAt = now
        tls = TLSSession(context: endpoint.tls, isServer: expectedPeer == nil, serverName: expectedPeer)
    }

    deinit { plaintext?.deallocate() }

    var remoteHost: String { stream.remoteHost }
    var roundTripMicroseconds: Int? { stream.smoothedRoundTripMicroseconds() }

    var isOutbound: Bool { expectedPeer != nil }

    /// "link from ADDRESS" or "link to NAME at ADDRESS", as log lines start.
    var direction: String {
        if let expectedPeer { return "link to \(expectedPeer) at \(stream.remoteAddress)" }
        return "link from \(stream.remoteAddress)"
    }

    /// "accepted from ADDRESS" or "dialed at ADDRESS", for the link-up line.
    var origin: String { isOutbound ? "dialed at \(stream.remoteAddress)" : "accepted from \(stream.remoteAddress)" }

    var queuedBytes: Int { (link?.value.outboundBytes ?? 0) + tls.pendingCiphertext.count + stream.pendingWriteBytes }

    func begin() {
        stream.onRead = { [unowned self] bytes in self.received(bytes) }
        stream.onEnd = { [unowned self] status in
            self.finish(LinkCloseReason(.connectionLost, status == UV_EOF.rawValue ? "connection closed by peer" : "connection lost: \(uvErrorText(status))"))
        }
        stream.startReading()
        if isOutbound { advanceHandshake() }
    }

    func dialFailed(_ reason: LinkCloseReason) {
        guard !isFinished else { return }
        isFinished = true
        stream.onConnect = { _ in }
        stream.close()
        endpoint.dialFailed(self, reason: reason)
    }

    func send(kind: UInt8, payload: UnsafeRawBufferPointer) throws(TransportError) {
        guard let link, !isFinished else { throw TransportError(.notConnected, "link is closing") }
        try link.value.send(kind: kind, payload: payload, queuedElsewhere: tls.pendingCiphertext.count + stream.pendingWriteBytes)
        if let traffic { traffic.framesOut += 1; traffic.bytesOut += payload.count }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard !isFinished else { return }
        if let failure = tls.feed(bytes) { fail(failure.reason); return }
        if link == nil {
            advanceHandshake()
            if link == nil || isFinished { return }
        }
        readPlaintext()
        flush()
    }

    private func advanceHandshake() {
        switch tls.handshake() {
        case .inProgress:
            flush()
        case .failed(let failure):
            fail(failure.reason)
        case .done:
            switch tls.peerIdentity() {
            case .failure(let failure): fail(failure.reason)
            case .success(let certified):
                var configuration = endpoint.configuration.link
                let elapsed = endpoint.loop.nowNanoseconds - createdAt
                configuration.handshakeTimeoutNanoseconds = configuration.handshakeTimeoutNanoseconds > elapsed ? configuration.handshakeTimeoutNanoseconds - elapsed : 1
                let box = LinkBox(LinkProtocol(local: endpoint.identity, certified: certified, expectedPeerName: expectedPeer,
                                               configuration: configuration, now: endpoint.loop.nowNanoseconds))
                link = box
                plaintext = .allocate(byteCount: Self.plaintextBytes, alignment: 16)
                if let event = box.value.start(members: endpoint.configuration.members) { handle(event, box) }
                if isFinished { return }
                readPlaintext()   // application data may have come with the last handshake flight
                flush()
            }
        }
    }

    private func readPlaintext() {
        guard let box = link, let plaintext else { return }
        let buffer = UnsafeMutableRawBufferPointer(start: plaintext, count: Self.plaintextBytes)
        while !isFinished {
            switch tls.read(into: buffer) {
            case .bytes(let count):
                box.value.receive(UnsafeRawBufferPointer(start: plaintext, count: count), now: endpoint.loop.nowNanoseconds)
                while !isFinished, let event = box.value.nextEvent() { handle(event, box) }
            case .wantMore:
                return
            case .closed:
                finish(LinkCloseReason(.connectionLost, "peer closed TLS"))
            case .failed(let failure):
                fail(failure.reason)
            }
        }
    }

    private func handle(_ event: LinkEvent, _ box: LinkBox) {
        switch event {
        case .established(let identity):
            peer = identity
            endpoint.established(self, peer: identity)
        case .frame(let kind, let payload):
            if let traffic { traffic.framesIn += 1; traffic.bytesIn += payload.count }
            if let peer { endpoint.frame(from: self, peer: peer, kind: kind, payload: payload) }
        case .closed(let reason):
            end(reason)
        }
    }

    func tick(now: UInt64) {
        guard !isFinished else { return }
        guard let box = link else {
            if now - createdAt >= endpoint.configuration.link.handshakeTimeoutNanoseconds {
                fail(LinkCloseReason(.handshakeTimeout, "TLS handshake not done within \(seconds(endpoint.configuration.link.handshakeTimeoutNanoseconds)) s"))
            }
            return
        }
        if let event = box.value.tick(now: now) { handle(event, box) }
        if !isFinished && box.value.outboundBytes > 0 { endpoint.markDirty(self) }
    }

    /// Encrypts queued frames and hands the ciphertext to the socket.
    func flush() {
        if let box = link, box.value.outboundBytes > 0 {
            if let failure = tls.write(box.value.outbound) { box.value.consumeOutbound(box.value.outboundBytes); fail(failure.reason); return }
            box.value.consumeOutbound(box.value.outboundBytes)
        }
        let ciphertext = tls.pendingCiphertext
        if ciphertext.count > 0 {
            stream.write(ciphertext)
            tls.consumeCiphertext(ciphertext.count)
        }
    }

    /// Closes from this side with `reason`: a goodbye goes out if the protocol runs, then the socket closes.
    func finish(_ reason: LinkCloseReason) {
        guard !isFinished else { return }
        if let box = link, let event = box.value.close(reason) { handle(event, box) } else { end(reason) }
    }

    /// A TLS or certificate failure: the alert OpenSSL queued goes out, then the socket closes.
    private func fail(_ reason: LinkCloseReason) {
        guard !isFinished else { return }
        if let box = link { box.value.close(reason) }
        end(reason)
    }

    private func end(_ reason: LinkCloseReason) {
        guard !isFinished else { return }
        isFinished = true
        let lastWords = link?.value.outboundBytes ?? 0 > 0 || tls.pendingCiphertext.count > 0
        if lastWords {
            if let box = link, box.value.outboundBytes > 0 { _ = tls.write(box.value.outbound); box.value.consumeOutbound(box.value.outboundBytes) }
            let ciphertext = tls.pendingCiphertext
            stream.write(ciphertext)
            tls.consumeCiphertext(ciphertext.count)
        }
        // The stream may call back while it shuts down; this connection is gone by then.
        stream.onRead = { _ in }
        stream.onEnd = { _ in }
        stream.onConnect = { _ in }
        stream.stopReading()
        // A link that never came up and has nothing to say (a silent or vanished peer, garbage on the
        // port) is reset: no FIN exchange, no TIME_WAIT, nothing kept for it. A goodbye or an alert
        // is flushed first (a reset could discard it).
        if peer == nil && !lastWords && stream.pendingWriteBytes == 0 { stream.closeWithReset() } else { stream.shutdownAndClose() }
        endpoint.finished(self, reason: reason)
    }
}

/// SplitMix64: a small seeded generator (for reconnect jitter and the in-memory network's scheduler).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
