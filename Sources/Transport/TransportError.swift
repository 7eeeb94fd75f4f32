// Errors that the transport throws to its callers, and the reasons a link closes (their codes cross the wire in goodbye).

/// An operating error of the transport: a struct with a fixed code and a human detail.
public struct TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Int, Sendable {
        /// The peer's send queue is full; retry after some frames went out.
        case backpressure = 1
        /// No established link to that peer.
        case notConnected = 2
        /// Payload over `Frame.payloadBytesMax`.
        case frameTooLarge = 3
        /// Application frames use kinds `Frame.applicationKindMin...255`.
        case invalidKind = 4
        /// Certificate, key or CA files could not be used.
        case certificate = 5
        /// A libuv call failed (bind, listen, ...).
        case system = 6
        /// A bad address or configuration value.
        case invalidArgument = 7
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }
}

/// Why a link closed (or was refused). The code travels in a goodbye frame, so its numbers are fixed.
public struct LinkCloseReason: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: UInt8, Sendable {
        /// An orderly close (shutdown, disconnect).
        case normal = 1
        /// A malformed frame: length over the maximum, unknown link kind, frame before hello, bad hello.
        case protocolViolation = 2
        case versionMismatch = 3
        /// The hello's name is not the certificate's, or the dialer reached someone else.
        case nameMismatch = 4
        /// The hello's role is not the certificate's.
        case roleMismatch = 5
        /// Both sides dialed; this is the link that the tie-break closes.
        case duplicateLink = 6
        /// No bytes from the peer for the silence timeout.
        case peerSilent = 7
        /// TLS handshake and hello did not finish in time.
        case handshakeTimeout = 8
        /// The peer's certificate was refused (wrong CA, expired, not yet valid, missing, no role).
        case certificate = 9
        /// Any other TLS failure, including an alert from the peer.
        case tls = 10
        /// The TCP connection ended or failed.
        case connectionLost = 11
        /// The first bytes were not a TLS record: plaintext or garbage on the port.
        case notTLS = 12
        /// The peer closed the link with a goodbye; the detail carries its reason.
        case peerGoodbye = 13
        /// Too many connections were waiting for their handshake (in all, or from that address): this
        /// one was closed at once, unread.
        case overloaded = 14
        /// A node certificate of the cluster CA for a name that is not among the cluster's members.
        case notMember = 15
        /// An orchestrator's link came while the node had as many control sessions open as it allows.
        case sessionLimit = 16
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }
}
