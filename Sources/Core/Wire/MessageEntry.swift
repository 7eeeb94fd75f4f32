// The pieces of one 64-bit message entry: scope, data type, key and value.
// Byte layout and numbering are in Docs/wire-format.md; the numbers cross the wire and never change.

/// How an entry's key is read: as a number of the protocol, or as an offset into the receiver's dictionary.
public enum MessageScope: UInt8, Sendable, CaseIterable {
    /// The key is a key: a number that the protocol between sender and receiver defines.
    case functional = 0
    /// The key is the byte offset of a NUL-terminated string in the receiver's dictionary.
    case dictionary = 1
}

/// The data type of an entry's 32-bit value.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case int32 = 1
    case uint32 = 2
    case float32 = 3
    /// A co_value handle; the router moves ownership of the block to the receiver.
    case sharedMemory = 4
}

/// The key of an entry: a scope and a 24-bit number.
public struct MessageKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Keys are 24 bits on the wire.
    public static let rawMax: UInt32 = 0xFF_FFFF

    public let scope: MessageScope
    public let raw: UInt32

    /// A key of the functional scope. `raw` must fit 24 bits.
    public static func functional(_ raw: UInt32) -> MessageKey { MessageKey(scope: .functional, raw: raw) }
    /// A key of the dictionary scope: `offset` is a string start in the receiver's dictionary.
    public static func dictionary(_ offset: UInt32) -> MessageKey { MessageKey(scope: .dictionary, raw: offset) }

    public init(scope: MessageScope, raw: UInt32) {
        precondition(raw <= Self.rawMax, "message key \(raw) does not fit 24 bits")
        self.scope = scope
        self.raw = raw
    }

    /// The order of the sorted index: scope first, then key (the data type does not take part).
    @inlinable var sortKey: UInt32 { UInt32(scope.rawValue) << 24 | raw }

    public static func < (a: MessageKey, b: MessageKey) -> Bool { a.sortKey < b.sortKey }

    public var description: String {
        switch scope {
        case .functional: return "f:\(raw)"
        case .dictionary: return "d@\(raw)"
        }
    }
}

/// A co_value handle carried in a message. The kernel checks it on every use.
public struct SharedMemoryID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt32
    public init(_ raw: UInt32) { self.raw = raw }
    public var description: String { "shm#\(raw)" }
}

/// A Swift type that an entry's value can be read as and written from.
public protocol MessageValue: Sendable {
    static var messageType: MessageType { get }
    init(messageBits: UInt32)
    var messageBits: UInt32 { get }
}

extension Int32: MessageValue {
    public static var messageType: MessageType { .int32 }
    public init(messageBits: UInt32) { self = Int32(bitPattern: messageBits) }
    public var messageBits: UInt32 { UInt32(bitPattern: self) }
}

extension UInt32: MessageValue {
    public static var messageType: MessageType { .uint32 }
    public init(messageBits: UInt32) { self = messageBits }
    public var messageBits: UInt32 { self }
}

/// Floats travel as their exact bit pattern, NaN payloads included, so re-encoding is byte-identical.
extension Float: MessageValue {
    public static var messageType: MessageType { .float32 }
    public init(messageBits: UInt32) { self = Float(bitPattern: messageBits) }
    public var messageBits: UInt32 { bitPattern }
}

extension SharedMemoryID: MessageValue {
    public static var messageType: MessageType { .sharedMemory }
    public init(messageBits: UInt32) { self.init(messageBits) }
    public var messageBits: UInt32 { raw }
}

/// One decoded entry: key, type and the value's 32 bits.
public struct MessageEntry: Hashable, Sendable, CustomStringConvertible {
    public let key: MessageKey
    public let type: MessageType
    public let bits: UInt32

    public init(key: MessageKey, type: MessageType, bits: UInt32) {
        self.key = key
        self.type = type
        self.bits = bits
    }

    public init<V: MessageValue>(key: MessageKey, value: V) {
        self.init(key: key, type: V.messageType, bits: value.messageBits)
    }

    /// The entry as it stands on the wire, read as one little-endian 64-bit word:
    /// bits 0–4 type, 5–7 scope, 8–31 key, 32–63 value.
    @inlinable var word: UInt64 {
        UInt64(key.scope.rawValue << 5 | type.rawValue) | UInt64(key.raw) << 8 | UInt64(bits) << 32
    }

    /// The value if it has type `V`, else nil.
    public func value<V: MessageValue>(as: V.Type = V.self) -> V? {
        type == V.messageType ? V(messageBits: bits) : nil
    }

    public var description: String {
        switch type {
        case .int32: return "\(key)=i32:\(Int32(messageBits: bits))"
        case .uint32: return "\(key)=u32:\(bits)"
        case .float32: return "\(key)=f32:\(Float(messageBits: bits))"
        case .sharedMemory: return "\(key)=\(SharedMemoryID(bits))"
        }
    }
}
