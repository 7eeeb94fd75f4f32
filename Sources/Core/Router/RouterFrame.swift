// The router's frames between nodes. They ride in a link's application frames (kind >= 16), so
// the link layer has already authenticated the peer and bounded the size; the router checks the
// rest and refuses a frame it cannot parse (the link is then closed by the caller).

public enum RouterFrame: Equatable, Sendable {
    /// The URIs this node serves now, with their roles (the whole set, replacing the last one).
    case announce([ServedURI])
    /// A send by a task here on `uri`, served there; `seq` is unique per sending node and makes a
    /// retry after a reconnect idempotent.
    case send(seq: UInt64, uri: String, message: Message)
    /// How a send ended: 0 taken by a receiver, else a kernel error code.
    case sendResult(seq: UInt64, status: Int32)
    /// A task here waits to receive on `uri`: match one message for it.
    case want(id: UInt64, uri: String)
    /// A message matched for a want (status 0), or why none will come.
    case deliver(id: UInt64, status: Int32, message: Message)
    /// Whether the wanting task took the delivered message; if not, it goes back to the channel.
    case taken(id: UInt64, accepted: Bool)

    public struct ServedURI: Equatable, Sendable {
        public let uri: String
        public let role: TaskRole
        public init(uri: String, role: TaskRole) { self.uri = uri; self.role = role }
    }

    /// The application frame kinds the router uses on a link.
    public static let kinds: ClosedRange<UInt8> = 16...21

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
        }
    }

    public var payload: [UInt8] {
        var out: [UInt8] = []
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func text(_ s: String) {
            let bytes = Array(s.utf8)
            withUnsafeBytes(of: UInt16(bytes.count).littleEndian) { out += $0 }
            out += bytes
        }
        func message(_ m: Message) { out += m.encoded() }
        switch self {
        case .announce(let uris):
            withUnsafeBytes(of: UInt16(uris.count).littleEndian) { out += $0 }
            for entry in uris { out.append(RouterFrame.roleCodes[entry.role]!); text(entry.uri) }
        case .send(let seq, let uri, let m): u64(seq); text(uri); message(m)
        case .sendResult(let seq, let status): u64(seq); i32(status)
        case .want(let id, let uri): u64(id); text(uri)
        case .deliver(let id, let status, let m): u64(id); i32(status); if status == 0 { message(m) }
        case .taken(let id, let accepted): u64(id); out.append(accepted ? 1 : 0)
        }
        return out
    }

    static let roleCodes: [TaskRole: UInt8] = [.guest: 0, .service: 1, .hal: 2, .logging: 3, .router: 4]

    public init(kind: UInt8, payload: [UInt8]) throws(DecodeError) {
        var offset = 0
        func bad(_ why: String) -> DecodeError { DecodeError(description: "router frame \(kind): \(why) at byte \(offset)") }
        func take(_ count: Int) throws(DecodeError) -> ArraySlice<UInt8> {
            guard count >= 0, payload.count - offset >= count else { throw bad("truncated") }
            defer { offset += count }
            return payload[offset..<offset + count]
        }
        func u64() throws(DecodeError) -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func i32() throws(DecodeError) -> Int32 { Int32(bitPattern: try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }) }
        func u16() throws(DecodeError) -> Int { Int(try take(2).reversed().reduce(0) { $0 << 8 | UInt16($1) }) }
        func text() throws(DecodeError) -> String {
            let bytes = try take(try u16())
            guard let s = String(validating: bytes, as: UTF8.self), ServiceURI(s) != nil else { throw bad("not a fireball:// URI") }
            return s
        }
        func message() throws(DecodeError) -> Message {
            let rest = Array(try take(payload.count - offset))
            do { return try rest.withUnsafeBytes { raw throws(MessageError) in try Message(decoding: raw) } } catch { throw bad("message refused: \(error)") }
        }
        switch kind {
        case 16:
            var uris: [ServedURI] = []
            for _ in 0..<(try u16()) {
                let code = try take(1).first!
                guard let role = Self.roleCodes.first(where: { $0.value == code })?.key else { throw bad("unknown role \(code)") }
                uris.append(ServedURI(uri: try text(), role: role))
            }
            self = .announce(uris)
        case 17: self = .send(seq: try u64(), uri: try text(), message: try message())
        case 18: self = .sendResult(seq: try u64(), status: try i32())
        case 19: self = .want(id: try u64(), uri: try text())
        case 20:
            let id = try u64(), status = try i32()
            self = .deliver(id: id, status: status, message: status == 0 ? try message() : Message())
        case 21:
            let id = try u64()
            let flag = try take(1).first!
            guard flag <= 1 else { throw bad("accepted must be 0 or 1") }
            self = .taken(id: id, accepted: flag == 1)
        default:
            throw bad("unknown kind")
        }
        guard offset == payload.count else { throw bad("\(payload.count - offset) bytes left over") }
    }
}
