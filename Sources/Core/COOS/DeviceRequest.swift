// The HAL command set as IPC: a guest's device call becomes one request message to the board's
// device service (which serves fireball://hal/<device>) and one reply on a channel private to the
// guest. The kernel builds the requests, so the reserved keys below cannot be forged by a guest.

/// The upstream HAL commands.
public enum DeviceOperation: UInt32, Sendable {
    case read = 1
    case write = 2
    case seek = 3
    case ioctl = 4
}

/// Keys and limits of device requests and replies (functional scope, at the top of the key space;
/// an ioctl message from a guest may not use them).
public enum DeviceRequest {
    public static let operationKey = MessageKey.functional(0xFF_FFF0)
    /// Reply: a count, a new offset, or the reply length for ioctl (`>= 0`), or a negative error.
    public static let statusKey = MessageKey.functional(0xFF_FFF1)
    public static let lengthKey = MessageKey.functional(0xFF_FFF2)
    public static let offsetLowKey = MessageKey.functional(0xFF_FFF3)
    public static let offsetHighKey = MessageKey.functional(0xFF_FFF4)
    public static let whenceKey = MessageKey.functional(0xFF_FFF5)
    /// The task that called, for interrupts and for naming it on the console.
    public static let taskKey = MessageKey.functional(0xFF_FFF6)
    /// The caller's private reply channel.
    public static let replyKey = MessageKey.functional(0xFF_FFF7)
    /// Data bytes, 4 per entry (little-endian), in keys `dataBase`, `dataBase + 1`, …
    public static let dataBase: UInt32 = 0xFF_FF00
    /// Bytes one read or write moves: 28 entries of 4 bytes (a request also carries operation,
    /// task, reply and length). Larger transfers return a short count, as POSIX read/write may.
    public static let dataBytesMax = 28 * 4
    /// Entries an ioctl parameter message may have (the kernel adds operation, task and reply).
    public static let ioctlEntriesMax = Message.entriesMax - 3

    public static func isReserved(_ key: MessageKey) -> Bool { key.scope == .functional && key.raw >= dataBase }

    /// Adds `bytes` (at most `dataBytesMax`) as data entries.
    public static func addData(_ bytes: some Collection<UInt8>, to builder: inout MessageBuilder) throws(MessageError) {
        precondition(bytes.count <= dataBytesMax, "device data of \(bytes.count) bytes, at most \(dataBytesMax)")
        var word: UInt32 = 0, index: UInt32 = 0, shift: UInt32 = 0
        for byte in bytes {
            word |= UInt32(byte) << shift
            shift += 8
            if shift == 32 {
                try builder.add(.functional(dataBase + index), word)
                index += 1; word = 0; shift = 0
            }
        }
        if shift > 0 { try builder.add(.functional(dataBase + index), word) }
    }

    /// The first `count` data bytes of `message` (missing entries read as zero).
    public static func data(_ message: Message, count: Int) -> [UInt8] {
        let count = min(max(count, 0), dataBytesMax)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var index: UInt32 = 0
        while bytes.count < count {
            let word: UInt32 = message[.functional(dataBase + index)] ?? 0
            for k in 0..<4 where bytes.count < count { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt32(k)))) }
            index += 1
        }
        return bytes
    }
}

/// A device call between its request and its reply: where the reply's bytes go.
struct DeviceCall {
    let operation: DeviceOperation
    let reply: ChannelID
    /// read: the buffer; ioctl: the reply message buffer.
    let buffer: Int
    let capacity: Int
}
