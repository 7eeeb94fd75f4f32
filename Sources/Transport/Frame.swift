// The link frame: u32 little-endian length, u8 kind, payload. Layout and kinds in Docs/transport.md.

/// Frame layout, kinds and limits.
public enum Frame {
    /// Bytes of the length field; the length counts the kind byte and the payload.
    public static let lengthBytes = 4
    /// Length field plus kind byte.
    public static let headerBytes = 5
    /// The largest length field value (kind + payload): 64 KiB.
    public static let lengthMax = 65_536
    /// The largest payload: 64 KiB less the kind byte.
    public static let payloadBytesMax = lengthMax - 1
    /// The largest frame on the wire.
    public static let frameBytesMax = lengthBytes + lengthMax

    /// Link-level kinds (0 and 4...15 are reserved and refused).
    public static let kindHello: UInt8 = 1
    public static let kindHeartbeat: UInt8 = 2
    public static let kindGoodbye: UInt8 = 3
    /// Kinds from here up to 255 are application frames, handed to the delegate unread (the router's).
    public static let applicationKindMin: UInt8 = 16

    /// The link protocol version sent in the hello; a peer with another version is refused.
    public static let protocolVersion: UInt16 = 1

    /// The bytes of a whole frame with `payloadBytes` of payload.
    @inlinable public static func encodedBytes(payloadBytes: Int) -> Int { headerBytes + payloadBytes }
}

/// A growable byte queue in manually managed memory: appended at the end, consumed from the front.
/// Payload pointers into it stay valid until the next append or compaction, which the owner controls.
struct ByteQueue: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var start = 0
    private(set) var end = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var count: Int { end - start }
    var isEmpty: Bool { start == end }

    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + start, count: end - start) }

    mutating func consume(_ bytes: Int) {
        precondition(bytes >= 0 && bytes <= count)
        start += bytes
        if start == end { start = 0; end = 0 }
    }

    mutating func removeAll() { start = 0; end = 0 }

    /// Makes room for `bytes` more at the end (moves the unread bytes to the front, or grows).
    mutating func reserve(_ bytes: Int) {
        if end + bytes <= capacity { return }
        let live = count
        if live + bytes <= capacity {
            if live > 0 { (base).copyMemory(from: base + start, byteCount: live) }
        } else {
            var newCapacity = capacity
            while newCapacity < live + bytes { newCapacity *= 2 }
            let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            if live > 0 { newBase.copyMemory(from: base + start, byteCount: live) }
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }
        start = 0
        end = live
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + end).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        end += bytes.count
    }

    mutating func append(byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: end, as: UInt8.self)
        end += 1
    }

    mutating func append(uint32 value: UInt32) {
        reserve(4)
        (base + end).storeBytes(of: value.littleEndian, as: UInt32.self)
        end += 4
    }

    /// Appends one frame: length, kind, payload.
    mutating func appendFrame(kind: UInt8, payload: UnsafeRawBufferPointer) {
        precondition(payload.count <= Frame.payloadBytesMax, "frame payload \(payload.count) bytes over the maximum")
        reserve(Frame.headerBytes + payload.count)
        (base + end).storeBytes(of: UInt32(payload.count + 1).littleEndian, as: UInt32.self)
        (base + end + 4).storeBytes(of: kind, as: UInt8.self)
        end += Frame.headerBytes
        append(payload)
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian u32 at `offset` (unaligned).
    @inlinable func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
