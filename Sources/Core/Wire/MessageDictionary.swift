// The receiver's dictionary: NUL-separated strings that dictionary-scope keys point into.

/// A block of NUL-terminated strings; a dictionary-scope key is the byte offset of one string's start.
///
/// Logging uses it so that a message carries an offset instead of text (DESIGN.md §6).
public struct MessageDictionary: Sendable, Equatable {
    /// The dictionary bytes as they would sit in a receiver's flash: each string followed by a NUL.
    public let bytes: [UInt8]
    private let offsetByString: [String: UInt32]
    /// One bit per byte: set where a string starts.
    private let startBits: [UInt64]

    /// A dictionary of `strings` in order. Strings must be non-empty, unique and free of NUL.
    public init(strings: [String]) throws(MessageError) {
        var bytes: [UInt8] = []
        for (number, string) in strings.enumerated() {
            let utf8 = Array(string.utf8)
            guard !utf8.isEmpty, !utf8.contains(0) else {
                throw MessageError(.dictionaryOffsetNotStringStart, detail: "dictionary string \(number) is empty or holds a NUL")
            }
            bytes += utf8
            bytes.append(0)
        }
        try self.init(bytes: bytes)
    }

    /// A dictionary from its raw bytes: NUL-separated strings, ending in NUL. Duplicate strings keep their first offset.
    public init(bytes: [UInt8]) throws(MessageError) {
        guard bytes.count <= Int(MessageKey.rawMax) + 1 else {
            throw MessageError(.dictionaryOffsetOutOfRange, detail: "dictionary of \(bytes.count) bytes is larger than 24-bit keys reach")
        }
        if let last = bytes.last, last != 0 {
            throw MessageError(.truncated, byteOffset: bytes.count, detail: "dictionary does not end in a NUL")
        }
        var bits = [UInt64](repeating: 0, count: (bytes.count + 63) / 64)
        var offsets: [String: UInt32] = [:]
        var start = 0
        for (i, byte) in bytes.enumerated() where byte == 0 {
            if i > start {
                bits[start >> 6] |= 1 << UInt64(start & 63)
                let string = String(decoding: bytes[start..<i], as: UTF8.self)
                if offsets[string] == nil { offsets[string] = UInt32(start) }
            }
            start = i + 1
        }
        self.bytes = bytes
        self.startBits = bits
        self.offsetByString = offsets
    }

    public var byteCount: Int { bytes.count }

    /// True if `offset` is the first byte of a string.
    @inlinable public func isStringStart(_ offset: UInt32) -> Bool {
        Int(offset) < bytes.count && startBitsContains(Int(offset))
    }

    @usableFromInline func startBitsContains(_ offset: Int) -> Bool {
        startBits[offset >> 6] & (1 << UInt64(offset & 63)) != 0
    }

    /// The key for `string`, if the dictionary holds it.
    public func key(_ string: String) -> MessageKey? {
        offsetByString[string].map(MessageKey.dictionary)
    }

    /// The string that starts at `offset`, if one does.
    public func string(at offset: UInt32) -> String? {
        guard isStringStart(offset) else { return nil }
        let start = Int(offset)
        let end = bytes[start...].firstIndex(of: 0)!
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Checks a dictionary-scope key against this dictionary; `entry` and `byteOffset` locate it for the error.
    func check(_ offset: UInt32, entry: Int, byteOffset: Int?) throws(MessageError) {
        guard Int(offset) < bytes.count else {
            throw MessageError(.dictionaryOffsetOutOfRange, entry: entry, byteOffset: byteOffset,
                               detail: "dictionary offset \(offset) is past the dictionary's \(bytes.count) bytes")
        }
        guard startBitsContains(Int(offset)) else {
            throw MessageError(.dictionaryOffsetNotStringStart, entry: entry, byteOffset: byteOffset,
                               detail: "dictionary offset \(offset) is inside a string, not at its start")
        }
    }
}
