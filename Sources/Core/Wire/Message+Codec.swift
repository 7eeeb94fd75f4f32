// Encoder and decoder for the exact byte layout of Docs/wire-format.md (little-endian).
// The decoder is on every IPC and every cross-node hop: it validates in one pass and never allocates.

extension Message {
    /// The wire format version in byte 0; a decoder refuses any other.
    public static let wireVersion: UInt8 = 1
    public static let headerBytes = 4
    public static let entryBytes = 8
    /// The largest encoded message: header, 32 entries, 32 index bytes.
    public static let encodedBytesMax = encodedBytes(count: entriesMax)

    /// Header, then 8 bytes per entry, then one index byte per entry.
    @inlinable public static func encodedBytes(count: Int) -> Int { headerBytes + count * (entryBytes + 1) }

    public var encodedByteCount: Int { Self.encodedBytes(count: count) }

    /// Writes the message at the start of `buffer` and returns the byte count written.
    @discardableResult
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = count
        let size = Self.encodedBytes(count: n)
        precondition(buffer.count >= size, "message needs \(size) bytes, buffer has \(buffer.count)")
        precondition(n <= Self.entriesMax)
        buffer[0] = Self.wireVersion
        buffer[1] = UInt8(n)
        buffer[2] = 0
        buffer[3] = 0
        let indexStart = Self.headerBytes + n * Self.entryBytes
        var previous: Int64 = -1
        for i in 0..<n {
            buffer.storeBytes(of: words[i].littleEndian, toByteOffset: Self.headerBytes &+ i &* Self.entryBytes, as: UInt64.self)
            let position = order[i]
            // The index must list unique keys in ascending order: checked again on the way out.
            let key = Int64(Self.sortKey(ofWord: words[Int(position)]))
            precondition(previous < key, "message index out of order at \(i)")
            previous = key
            buffer[indexStart &+ i] = position
        }
        return size
    }

    /// The encoded bytes.
    public func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: encodedByteCount) { buffer, initialized in
            initialized = encode(into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// Decodes and validates a message that fills `bytes` exactly.
    ///
    /// With a `dictionary`, every dictionary-scope key must be a string start in it.
    public init(decoding bytes: UnsafeRawBufferPointer, dictionary: MessageDictionary? = nil) throws(MessageError) {
        self.init()
        let size = bytes.count
        guard size >= Self.headerBytes else {
            throw MessageError(.truncated, byteOffset: size, detail: "header needs \(Self.headerBytes) bytes, got \(size)")
        }
        guard bytes[0] == Self.wireVersion else {
            throw MessageError(.unsupportedVersion, byteOffset: 0, detail: "wire version \(bytes[0]), this node reads \(Self.wireVersion)")
        }
        let n = Int(bytes[1])
        guard n <= Self.entriesMax else {
            throw MessageError(.tooManyEntries, byteOffset: 1, detail: "\(n) entries, at most \(Self.entriesMax)")
        }
        for offset in 2..<4 where bytes[offset] != 0 {
            throw MessageError(.reservedNotZero, byteOffset: offset, detail: "reserved header byte is \(bytes[offset]), must be 0")
        }
        let expected = Self.encodedBytes(count: n)
        guard size >= expected else {
            throw MessageError(.truncated, byteOffset: size, detail: "\(n) entries need \(expected) bytes, got \(size)")
        }
        guard size == expected else {
            throw MessageError(.trailingBytes, byteOffset: expected, detail: "\(size - expected) bytes after the index")
        }
        for i in 0..<n {
            let offset = Self.headerBytes &+ i &* Self.entryBytes
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let tag = UInt8(truncatingIfNeeded: word)
            guard tag >> 5 <= MessageScope.dictionary.rawValue else {
                throw MessageError(.unknownScope, entry: i, byteOffset: offset, detail: "scope \(tag >> 5) in tag byte 0x\(String(tag, radix: 16))")
            }
            let type = tag & 0x1F
            guard type >= MessageType.int32.rawValue, type <= MessageType.sharedMemory.rawValue else {
                throw MessageError(.unknownType, entry: i, byteOffset: offset, detail: "data type \(type) in tag byte 0x\(String(tag, radix: 16))")
            }
            if tag >> 5 == MessageScope.dictionary.rawValue, let dictionary {
                try dictionary.check(UInt32(truncatingIfNeeded: (word >> 8) & 0xFF_FFFF), entry: i, byteOffset: offset + 1)
            }
            words[i] = word
        }
        let indexStart = Self.headerBytes &+ n &* Self.entryBytes
        var seen: UInt32 = 0
        var previousKey: UInt32 = 0
        for i in 0..<n {
            let position = bytes[indexStart &+ i]
            guard Int(position) < n, seen & (1 << UInt32(position)) == 0 else {
                let why = Int(position) < n ? "lists entry \(position) twice" : "names entry \(position) of \(n)"
                throw MessageError(.indexNotPermutation, entry: Int(position), byteOffset: indexStart + i, detail: "sorted index \(why)")
            }
            seen |= 1 << UInt32(position)
            let key = Self.sortKey(ofWord: words[Int(position)])
            if i > 0, key <= previousKey {
                if key == previousKey {
                    throw MessageError(.duplicateKey, entry: Int(position), byteOffset: indexStart + i,
                                       detail: "key \(Self.entry(fromWord: words[Int(position)]).key) appears twice")
                }
                throw MessageError(.indexNotSorted, entry: Int(position), byteOffset: indexStart + i,
                                   detail: "sorted index puts key \(Self.entry(fromWord: words[Int(position)]).key) after a larger key")
            }
            previousKey = key
            order[i] = position
        }
        storedCount = UInt8(n)
    }

    /// Decodes and validates a message that fills `bytes` exactly.
    public init(decoding bytes: [UInt8], dictionary: MessageDictionary? = nil) throws(MessageError) {
        // withUnsafeBytes rethrows untyped errors; a Result keeps the type.
        let result = bytes.withUnsafeBytes { raw in Result { () throws(MessageError) in try Message(decoding: raw, dictionary: dictionary) } }
        self = try result.get()
    }
}
