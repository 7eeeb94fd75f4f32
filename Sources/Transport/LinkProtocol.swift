// The link protocol as a sans-IO state machine: plaintext bytes and clock ticks in, events and bytes out.
// The caller does the I/O (Endpoint over TLS, or a test feeding bytes); see Docs/transport.md.
import Core

/// Timing and queue limits of one link.
public struct LinkConfiguration: Sendable {
    /// A heartbeat goes out when nothing else was sent during one interval.
    public var heartbeatIntervalNanoseconds: UInt64 = 400_000_000
    /// A link whose peer sent no byte for this long is closed (dead peer).
    public var silenceTimeoutNanoseconds: UInt64 = 1_500_000_000
    /// TLS handshake and hello must be done this long after the TCP connection.
    public var handshakeTimeoutNanoseconds: UInt64 = 3_000_000_000
    /// Bytes a link may hold queued for sending; `send` throws `backpressure` past it.
    public var sendQueueBytesMax = 256 * 1024

    public init() {}

    /// Checks the limits against each other (a heartbeat must fit well inside the silence timeout).
    public func validate() throws(TransportError) {
        guard heartbeatIntervalNanoseconds > 0, heartbeatIntervalNanoseconds * 3 <= silenceTimeoutNanoseconds else {
            throw TransportError(.invalidArgument, "heartbeat interval must be at most a third of the silence timeout")
        }
        guard sendQueueBytesMax >= Frame.frameBytesMax else {
            throw TransportError(.invalidArgument, "send queue (\(sendQueueBytesMax) bytes) must hold one largest frame (\(Frame.frameBytesMax))")
        }
    }
}

/// What the protocol tells its driver.
public enum LinkEvent {
    /// The peer's hello was valid: the link is up. Happens once.
    case established(PeerIdentity)
    /// An application frame (kind ≥ 16). The payload stays valid until the next `receive`.
    case frame(kind: UInt8, payload: UnsafeRawBufferPointer)
    /// The link is over; a goodbye may be queued in `outbound` to flush before closing the socket.
    case closed(LinkCloseReason)
}

/// The hello frame's payload: version u16 LE, role u8, name length u8, name bytes.
public struct Hello: Equatable, Sendable {
    public var version: UInt16
    public var identity: PeerIdentity

    public init(version: UInt16 = Frame.protocolVersion, identity: PeerIdentity) {
        self.version = version
        self.identity = identity
    }

    public func encoded() -> [UInt8] {
        let name = Array(identity.name.utf8)
        precondition(name.count <= NodeName.bytesMax)
        return [UInt8(version & 0xff), UInt8(version >> 8), identity.role.rawValue, UInt8(name.count)] + name
    }

    /// Decodes a hello payload, or says what is wrong with it. The version is read first so that
    /// a peer of another version gets `versionMismatch` even if the rest of its hello changed.
    public static func decode(_ payload: UnsafeRawBufferPointer) -> Result<Hello, LinkCloseReason> {
        guard payload.count >= 2 else { return .failure(LinkCloseReason(.protocolViolation, "bad hello: \(payload.count) bytes")) }
        let version = UInt16(payload[0]) | UInt16(payload[1]) << 8
        guard version == Frame.protocolVersion else {
            return .failure(LinkCloseReason(.versionMismatch, "protocol version mismatch: peer speaks \(version), this node \(Frame.protocolVersion)"))
        }
        guard payload.count >= 4 else { return .failure(LinkCloseReason(.protocolViolation, "bad hello: \(payload.count) bytes")) }
        guard let role = NodeRole(rawValue: payload[2]) else {
            return .failure(LinkCloseReason(.protocolViolation, "bad hello: unknown role \(payload[2])"))
        }
        let nameBytes = Int(payload[3])
        guard payload.count == 4 + nameBytes else {
            return .failure(LinkCloseReason(.protocolViolation, "bad hello: name of \(nameBytes) bytes in a \(payload.count)-byte hello"))
        }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: payload[4...]), as: UTF8.self)
        guard NodeName.isValid(name) else { return .failure(LinkCloseReason(.protocolViolation, "bad hello: invalid name")) }
        return .success(Hello(version: version, identity: PeerIdentity(name: name, role: role)))
    }
}

/// One link's protocol state. Not copyable: it owns its byte buffers.
public struct LinkProtocol: ~Copyable {
    public enum State: Sendable { case created, awaitingHello, established, closed }

    public let local: PeerIdentity
    /// The identity that the peer's certificate proves.
    public let certified: PeerIdentity
    /// The name this side dialed, or nil for an accepted link.
    public let expectedPeerName: String?
    public let configuration: LinkConfiguration
    public private(set) var state = State.created
    public private(set) var closeReason: LinkCloseReason?

    private var inbound = ByteQueue(capacity: 16 * 1024)
    private var outboundQueue = ByteQueue(capacity: 16 * 1024)
    private var startedAt: UInt64
    private var lastReceivedAt: UInt64
    private var nextHeartbeatAt: UInt64
    private var sentSinceHeartbeat = false

    public init(local: PeerIdentity, certified: PeerIdentity, expectedPeerName: String?, configuration: LinkConfiguration = LinkConfiguration(), now: UInt64) {
        self.local = local
        self.certified = certified
        self.expectedPeerName = expectedPeerName
        self.configuration = configuration
        startedAt = now
        lastReceivedAt = now
        nextHeartbeatAt = now + configuration.heartbeatIntervalNanoseconds
    }

    /// Queues the hello, or refuses the link at once (with a goodbye instead of the hello) if the dialer
    /// reached a certificate with another name, or if `members` is given and the peer's node
    /// certificate names none of them. Orchestrator certificates are not members and always pass.
    public mutating func start(members: Set<String>? = nil) -> LinkEvent? {
        precondition(state == .created, "start() twice")
        if let expected = expectedPeerName, expected != certified.name {
            return close(LinkCloseReason(.nameMismatch, "name mismatch: dialed \(expected), certificate says \(certified.name)"))
        }
        if certified.role == .node, let members, !members.contains(certified.name) {
            return close(LinkCloseReason(.notMember, "node \(certified.name) is not a member of this cluster"))
        }
        state = .awaitingHello
        let hello = Hello(identity: local).encoded()
        hello.withUnsafeBytes { outboundQueue.appendFrame(kind: Frame.kindHello, payload: $0) }
        return nil
    }

    // MARK: bytes out

    /// Bytes to write to the peer, in order.
    public var outbound: UnsafeRawBufferPointer { outboundQueue.readable }
    public var outboundBytes: Int { outboundQueue.count }
    public mutating func consumeOutbound(_ bytes: Int) { outboundQueue.consume(bytes) }

    /// Queues an application frame. `queuedElsewhere` counts bytes of this link queued below (ciphertext
    /// not yet written), so that the limit covers the whole path.
    public mutating func send(kind: UInt8, payload: UnsafeRawBufferPointer, queuedElsewhere: Int = 0) throws(TransportError) {
        guard state == .established else { throw TransportError(.notConnected, "link to \(certified.name) is not established") }
        guard kind >= Frame.applicationKindMin else {
            throw TransportError(.invalidKind, "kind \(kind) is a link-level kind; application kinds are \(Frame.applicationKindMin)...255")
        }
        guard payload.count <= Frame.payloadBytesMax else {
            throw TransportError(.frameTooLarge, "payload of \(payload.count) bytes over the maximum \(Frame.payloadBytesMax)")
        }
        let size = Frame.encodedBytes(payloadBytes: payload.count)
        guard outboundQueue.count + queuedElsewhere + size <= configuration.sendQueueBytesMax else {
            throw TransportError(.backpressure, "send queue to \(certified.name) full (\(outboundQueue.count + queuedElsewhere) of \(configuration.sendQueueBytesMax) bytes)")
        }
        outboundQueue.appendFrame(kind: kind, payload: payload)
        sentSinceHeartbeat = true
    }

    /// Closes the link from this side: queues a goodbye with `reason` unless already closed.
    @discardableResult
    public mutating func close(_ reason: LinkCloseReason) -> LinkEvent? {
        guard state != .closed else { return nil }
        // A goodbye may come before the hello: the peer learns why it was refused.
        var payload: [UInt8] = [reason.code.rawValue]
        payload += reason.detail.utf8.prefix(Self.goodbyeDetailBytesMax)
        payload.withUnsafeBytes { outboundQueue.appendFrame(kind: Frame.kindGoodbye, payload: $0) }
        state = .closed
        closeReason = reason
        inbound.removeAll()
        return .closed(reason)
    }

    static let goodbyeDetailBytesMax = 200

    // MARK: bytes and time in

    /// Takes plaintext bytes from the peer. Payloads of earlier events become invalid.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        guard state != .closed, bytes.count > 0 else { return }
        lastReceivedAt = now
        inbound.append(bytes)
    }

    /// The next event from the bytes received so far, or nil when a whole frame is not there yet.
    public mutating func nextEvent() -> LinkEvent? {
        while state == .awaitingHello || state == .established {
            let available = inbound.readable
            guard available.count >= Frame.lengthBytes else { return nil }
            let length = Int(available.loadLittleEndianUInt32(at: 0))
            guard length >= 1 else { return close(LinkCloseReason(.protocolViolation, "malformed frame: length 0 (no kind byte)")) }
            guard length <= Frame.lengthMax else {
                return close(LinkCloseReason(.protocolViolation, "malformed frame: length \(length) over the maximum \(Frame.lengthMax)"))
            }
            guard available.count >= Frame.lengthBytes + length else { return nil }
            let kind = available[Frame.lengthBytes]
            let payload = UnsafeRawBufferPointer(rebasing: available[Frame.headerBytes..<(Frame.lengthBytes + length)])
            inbound.consume(Frame.lengthBytes + length)   // the bytes stay in place until the next receive
            if state == .awaitingHello {
                guard kind == Frame.kindHello else {
                    if kind == Frame.kindGoodbye { return peerGoodbye(payload) }
                    return close(LinkCloseReason(.protocolViolation, "malformed frame: kind \(kind) before hello"))
                }
                switch Hello.decode(payload) {
                case .failure(let reason): return close(reason)
                case .success(let hello):
                    guard hello.identity.name == certified.name else {
                        return close(LinkCloseReason(.nameMismatch, "name mismatch: hello claims \(hello.identity.name), certificate says \(certified.name)"))
                    }
                    guard hello.identity.role == certified.role else {
                        return close(LinkCloseReason(.roleMismatch, "role mismatch: hello claims \(hello.identity.role), certificate says \(certified.role)"))
                    }
                    state = .established
                    return .established(certified)
                }
            }
            switch kind {
            case Frame.kindHeartbeat:
                guard payload.isEmpty else { return close(LinkCloseReason(.protocolViolation, "malformed frame: heartbeat with \(payload.count) payload bytes")) }
                continue
            case Frame.kindGoodbye:
                return peerGoodbye(payload)
            case Frame.kindHello:
                return close(LinkCloseReason(.protocolViolation, "malformed frame: second hello"))
            case Frame.applicationKindMin...:
                return .frame(kind: kind, payload: payload)
            default:
                return close(LinkCloseReason(.protocolViolation, "malformed frame: unknown link kind \(kind)"))
            }
        }
        return nil
    }

    /// The peer's goodbye. Its detail is the peer's text: only the first `goodbyeDetailBytesMax` bytes
    /// are kept, with newlines and control characters escaped, because it ends up in a log line.
    private mutating func peerGoodbye(_ payload: UnsafeRawBufferPointer) -> LinkEvent {
        let detail = payload.isEmpty ? "no reason"
            : LogText.printable(UnsafeRawBufferPointer(rebasing: payload[1...]), bytesMax: Self.goodbyeDetailBytesMax)
        let reason = LinkCloseReason(.peerGoodbye, "peer closed the link: \(detail)")
        state = .closed
        closeReason = reason
        inbound.removeAll()
        return .closed(reason)
    }

    /// Advances time: queues a heartbeat when due, closes a silent or never-greeted link.
    public mutating func tick(now: UInt64) -> LinkEvent? {
        guard state == .awaitingHello || state == .established else { return nil }
        if state == .awaitingHello, now &- startedAt >= configuration.handshakeTimeoutNanoseconds {
            return close(LinkCloseReason(.handshakeTimeout, "no hello within \(seconds(configuration.handshakeTimeoutNanoseconds)) s"))
        }
        if now &- lastReceivedAt >= configuration.silenceTimeoutNanoseconds {
            return close(LinkCloseReason(.peerSilent, "peer silent for \(seconds(now &- lastReceivedAt)) s (dead peer)"))
        }
        if now >= nextHeartbeatAt {
            if !sentSinceHeartbeat { outboundQueue.appendFrame(kind: Frame.kindHeartbeat, payload: UnsafeRawBufferPointer(start: nil, count: 0)) }
            sentSinceHeartbeat = false
            nextHeartbeatAt = now + configuration.heartbeatIntervalNanoseconds
        }
        return nil
    }
}

/// Nanoseconds as seconds with one decimal, for log lines.
func seconds(_ nanoseconds: UInt64) -> String {
    let tenths = (nanoseconds + 50_000_000) / 100_000_000
    return "\(tenths / 10).\(tenths % 10)"
}
