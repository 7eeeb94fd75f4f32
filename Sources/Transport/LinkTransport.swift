// The interface the router sees: links to named peers that come up, go down and carry opaque frames.
// Endpoint (TLS over TCP) and MemoryTransport (in-memory, deterministic) both provide it.

/// Receives link events, on the loop thread (or the MemoryNetwork's scheduler).
public protocol LinkDelegate: AnyObject {
    /// A link to `peer` is established (its certificate and hello agree). Called once per up/down cycle.
    func linkUp(_ peer: PeerIdentity)
    /// The link to `peer` is gone; frames sent to it since the last one delivered may be lost.
    func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason)
    /// An application frame (kind ≥ `Frame.applicationKindMin`). `payload` is valid only during the call: copy what you keep.
    func frameReceived(from peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer)

    /// An orchestrator opened a control session (an accepted link whose certificate has the
    /// orchestrator role). Sessions are not links to a peer: any number of them, up to the endpoint's
    /// limit, run at once under the same certificate name, and none displaces another or a node link.
    func sessionOpened(_ session: SessionID, peer: PeerIdentity)
    /// The session ended; nothing more can be sent on it.
    func sessionClosed(_ session: SessionID, peer: PeerIdentity, reason: LinkCloseReason)
    /// An application frame on a control session; `payload` is valid only during the call.
    func frameReceived(from session: SessionID, peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer)
}

/// Delegates that serve no control sessions ignore them (their frames are dropped).
extension LinkDelegate {
    public func sessionOpened(_ session: SessionID, peer: PeerIdentity) {}
    public func sessionClosed(_ session: SessionID, peer: PeerIdentity, reason: LinkCloseReason) {}
    public func frameReceived(from session: SessionID, peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {}
}

/// One control session on an endpoint, numbered from 1 in the order they opened (never reused by
/// the endpoint that made it).
public struct SessionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }
    public static func < (a: SessionID, b: SessionID) -> Bool { a.raw < b.raw }
    public var description: String { "session \(raw)" }
}

/// Links to named peers carrying opaque frames.
public protocol LinkTransport: AnyObject {
    var identity: PeerIdentity { get }
    var delegate: LinkDelegate? { get set }
    /// Peers with an established link.
    var connectedPeers: [PeerIdentity] { get }
    /// Queues one application frame to `peer`. Throws `notConnected`, `backpressure` (the link's queue is full:
    /// retry once frames went out), `frameTooLarge` or `invalidKind`; never blocks and never grows past the limit.
    func send(to peer: String, kind: UInt8, payload: UnsafeRawBufferPointer) throws(TransportError)
}

extension LinkTransport {
    /// `send` for a byte array.
    public func send(to peer: String, kind: UInt8, bytes: [UInt8]) throws(TransportError) {
        let result: Result<Void, TransportError> = bytes.withUnsafeBytes { raw in
            do throws(TransportError) { try send(to: peer, kind: kind, payload: raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }
}
