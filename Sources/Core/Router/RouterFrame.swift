// The router's frames between nodes. They ride in a link's application frames (kind >= 16), so
// the link layer has already authenticated the peer and bounded the size; the router checks the
// rest and refuses a frame it cannot parse (the link is then closed by the caller).

public enum RouterFrame: Equatable, Sendable {
    /// The URIs this node serves now, with their roles (the whole set, replacing the last one),
    /// and which run of the node this is (`Router.incarnation`): a new one means the node restarted,
    /// and nothing of its previous run is answered or retried.
    case announce(incarnation: UInt64, [ServedURI])
    /// A send by `client` here on `uri`, served there; `seq` is unique per sending node and makes a
    /// retry after a reconnect idempotent. `values` are the bytes of the co_values the message moves.
    case send(seq: UInt64, uri: String, client: Client, message: Message, values: [[UInt8]])
    /// How a send (or a close) ended: 0 done, else a kernel error code.
    case sendResult(seq: UInt64, status: Int32)
    /// `client` here waits to receive on `uri`, or will soon (`ahead`): match one message for it.
    /// A want ahead takes a message only if no other receiver waits, and never one from this node.
    case want(id: UInt64, uri: String, client: Client, ahead: Bool)
    /// A message matched for a want (status 0, with its co_values' bytes), or why none will come.
    case deliver(id: UInt64, status: Int32, message: Message, values: [[UInt8]])
    /// What became of a delivered message; unless taken, it goes back to the channel or fails its sender.
    case taken(id: UInt64, outcome: Taken)
    /// `client` here closed its handle to `uri`: the channel closes there, as a local close would.
    /// Answered by `sendResult(seq, …)`; retried after a reconnect like a send.
    case close(seq: UInt64, uri: String, client: Client)
    /// A notice: `client` here was refused opening `uri` by the role policy (so both nodes log it).
    case openDenied(uri: String, client: Client)

    public struct ServedURI: Equatable, Sendable {
        public let uri: String
        public let role: TaskRole
        public init(uri: String, role: TaskRole) { self.uri = uri; self.role = role }
    }

    /// The task on the sending node that a send, want or close is for, so the serving node can
    /// check the role policy itself and name the task when it refuses.
    public struct Client: Equatable, Sendable, CustomStringConvertible {
        public let name: String
        public let role: TaskRole
        /// Names longer than `nameBytesMax` are cut at a character boundary.
        public init(name: String, role: TaskRole) {
            var kept = "", bytes = 0
            for character in name {
                bytes += character.utf8.count
                guard bytes <= Self.nameBytesMax else { break }
                kept.append(character)
            }
            self.name = kept
            self.role = role
        }
        public static let nameBytesMax = 255
        public var description: String { "\(name) (\(role))" }
    }

    /// What a node that got a `deliver` did with the message.
    public enum Taken: UInt8, Sendable {
        /// Nobody waits for it any more: it goes back to the head of the channel.
        case returned = 0
        /// A task took it: the sender's send completes.
        case accepted = 1
        /// Its co_values could not be allocated here: the sender's send fails with `noMemory`.
        case noMemory = 2
    }

    /// The router frame layout; sent first on every link, in `announce`, and refused if different.
    public static let version: UInt8 = 3
    /// The application frame kinds the router uses on a link.
    public static let kinds: ClosedRange<UInt8> = 16...23
    /// The largest payload a link carries (the transport's `Frame.payloadBytesMax`: 64 KiB less the
    /// kind byte). A frame whose co_values would not fit is refused before it is built.
    public static let payloadBytesMax = 65_535

    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public var kind: UInt8 {
        switch self {
        case .announce: 16
        case .send: 17
        case .sendResult: 18
        case .want: 19
        case .deliver: 20
        case .taken: 21
        case .close: 22
        case .openDenied: 23
        }
    }

    public var payload: [UInt8] {
        var out: [UInt8] = []
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func text(_ s: String) {
            let bytes = Array(s.utf8)
            precondition(bytes.count <= UInt16.max, "URI of \(bytes.count) bytes")
            withUnsafeBytes(of: UInt16(bytes.count).littleEndian) { out += $0 }
            out += bytes
        }
        func client(_ c: Client) {
            let bytes = Array(c.name.utf8)
            precondition(bytes.count <= Client.nameBytesMax)
            out.append(RouterFrame.roleCodes[c.role]!)
            out.append(UInt8(bytes.count))
            out += bytes
        }
        func message(_ m: Message, _ values: [[UInt8]]) {
            out += m.encoded()
            precondition(values.count == m.sharedMemoryHandles.count, "one value per co_value handle of the message")
            for value in values {
                precondition(!value.isEmpty && value.count <= UInt32.max, "a co_value has 1 or more bytes")
                withUnsafeBytes(of: UInt32(value.count).littleEndian) { out += $0 }
                out += value
            }
        }
        switch self {
        case .announce(let incarnation, let uris):
            out.append(Self.version)
            u64(incarnation)
            withUnsafeBytes(of: UInt16(uris.count).littleEndian) { out += $0 }
            for entry in uris { out.append(RouterFrame.roleCodes[entry.role]!); text(entry.uri) }
        case .send(let seq, let uri, let c, let m, let values): u64(seq); text(uri); client(c); message(m, values)
        case .sendResult(let seq, let status): u64(seq); i32(status)
        case .want(let id, let uri, let c, let ahead): u64(id); out.append(ahead ? 1 : 0); text(uri); client(c)
        case .deliver(let id, let status, let m, let values):
            u64(id); i32(status)
            if status == 0 { message(m, values) } else { precondition(m.isEmpty && values.isEmpty, "a failed delivery carries no message") }
        case .taken(let id, let outcome): u64(id); out.append(outcome.rawValue)
        case .close(let seq, let uri, let c): u64(seq); text(uri); client(c)
        case .openDenied(let uri, let c): text(uri); client(c)
        }
        return out
    }

    static let roleCodes: [TaskRole: UInt8] = [.guest: 0, .service: 1, .hal: 2, .logging: 3, .router: 4]

    public init(kind: UInt8, payload: [UInt8]) throws(DecodeError) {
        var offset = 0
        func bad(_ why: String) -> DecodeError { DecodeError(description: "router frame \(kind): \(why) at byte \(offset)") }
        guard payload.count <= Self.payloadBytesMax else { throw bad("payload of \(payload.count) bytes over \(Self.payloadBytesMax)") }
        func take(_ count: Int) throws(DecodeError) -> ArraySlice<UInt8> {
            guard count >= 0, payload.count - offset >= count else { throw bad("truncated") }
            defer { offset += count }
            return payload[offset..<offset + count]
        }
        func u64() throws(DecodeError) -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func u32() throws(DecodeError) -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func i32() throws(DecodeError) -> Int32 { Int32(bitPattern: try u32()) }
        func u16() throws(DecodeError) -> Int { Int(try take(2).reversed().reduce(0) { $0 << 8 | UInt16($1) }) }
        func role() throws(DecodeError) -> TaskRole {
            let code = try take(1).first!
            guard let role = Self.roleCodes.first(where: { $0.value == code })?.key else { throw bad("unknown role \(code)") }
            return role
        }
        func text() throws(DecodeError) -> String {
            let bytes = try take(try u16())
            guard let s = String(validating: bytes, as: UTF8.self), let parsed = ServiceURI(s) else { throw bad("not a fireball:// URI") }
            // Frames name what the serving node serves; the node a URI named chose the link.
            guard parsed.node == nil else { throw bad("a URI in a frame names a node") }
            return s
        }
        func client() throws(DecodeError) -> Client {
            let role = try role()
            let bytes = try take(Int(try take(1).first!))
            guard let name = String(validating: bytes, as: UTF8.self) else { throw bad("client name is not UTF-8") }
            return Client(name: name, role: role)
        }
        /// A message (its length is in its header), then one length-prefixed value per distinct co_value handle.
        func message() throws(DecodeError) -> (Message, [[UInt8]]) {
            guard payload.count - offset >= Message.headerBytes else { throw bad("truncated message header") }
            let bytes = Array(try take(Message.encodedBytes(count: Int(payload[offset + 1]))))
            let m: Message
            do { m = try bytes.withUnsafeBytes { raw throws(MessageError) in try Message(decoding: raw) } } catch { throw bad("message refused: \(error)") }
            var values: [[UInt8]] = []
            for handle in m.sharedMemoryHandles {
                let count = Int(try u32())
                guard count > 0 else { throw bad("co_value \(handle) has no bytes") }
                values.append(Array(try take(count)))
            }
            return (m, values)
        }
        switch kind {
        case 16:
            let version = try take(1).first!
            guard version == Self.version else { throw bad("router frame version \(version), this node speaks \(Self.version)") }
            let incarnation = try u64()
            var uris: [ServedURI] = []
            for _ in 0..<(try u16()) {
                let role = try role()
                uris.append(ServedURI(uri: try text(), role: role))
            }
            self = .announce(incarnation: incarnation, uris)
        case 17:
            let seq = try u64(), uri = try text(), client = try client()
            let (m, values) = try message()
            self = .send(seq: seq, uri: uri, client: client, message: m, values: values)
        case 18: self = .sendResult(seq: try u64(), status: try i32())
        case 19:
            let id = try u64()
            let flag = try take(1).first!
            guard flag <= 1 else { throw bad("want flag \(flag)") }
            self = .want(id: id, uri: try text(), client: try client(), ahead: flag == 1)
        case 20:
            let id = try u64(), status = try i32()
            let (m, values) = status == 0 ? try message() : (Message(), [])
            self = .deliver(id: id, status: status, message: m, values: values)
        case 21:
            let id = try u64()
            let code = try take(1).first!
            guard let outcome = Taken(rawValue: code) else { throw bad("unknown outcome \(code)") }
            self = .taken(id: id, outcome: outcome)
        case 22: self = .close(seq: try u64(), uri: try text(), client: try client())
        case 23: self = .openDenied(uri: try text(), client: try client())
        default:
            throw bad("unknown kind")
        }
        guard offset == payload.count else { throw bad("\(payload.count - offset) bytes left over") }
    }
}
