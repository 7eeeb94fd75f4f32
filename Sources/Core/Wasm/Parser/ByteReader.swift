// Reads the binary format in place: bytes, strict LEB128 integers, floats, names.
// Strict per the spec: no more bytes than the type needs, and unused bits of the last byte
// must be a sign- or zero-extension.

/// A cursor over a module's bytes. Errors are `malformed` and carry the offset where reading failed.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int
    public let end: Int

    public init(bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    public var isAtEnd: Bool { offset >= end }
    public var remaining: Int { end - offset }

    @inline(__always)
    func malformed(_ detail: String, at: Int? = nil) -> WasmError {
        WasmError(.malformed, offset: at ?? offset, detail)
    }

    @inline(__always)
    public mutating func readByte() throws(WasmError) -> UInt8 {
        guard offset < end else { throw malformed("unexpected end") }
        let b = bytes[offset]
        offset += 1
        return b
    }

    public mutating func readBytes(_ count: Int) throws(WasmError) -> Range<Int> {
        guard count >= 0, count <= end - offset else { throw malformed("unexpected end: \(count) bytes wanted, \(end - offset) left") }
        defer { offset += count }
        return offset..<offset + count
    }

    /// Unsigned LEB128 of at most `bits` bits (32 or 64).
    @inline(__always)
    public mutating func readUnsigned(bits: Int) throws(WasmError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift = 0
        while true {
            guard offset < end else { throw malformed("unexpected end in LEB128 integer", at: start) }
            let byte = bytes[offset]
            offset += 1
            let remainingBits = bits - shift
            if remainingBits < 7 {
                // Last allowed byte: no continuation, and the unused high bits must be zero.
                guard byte & 0x80 == 0 else { throw malformed("integer representation too long", at: start) }
                guard UInt64(byte) >> UInt64(remainingBits) == 0 else { throw malformed("integer too large", at: start) }
            }
            result |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift >= bits {
                throw malformed("integer representation too long", at: start)
            }
        }
    }

    /// Signed LEB128 of at most `bits` bits (32 or 64), sign-extended to Int64.
    @inline(__always)
    public mutating func readSigned(bits: Int) throws(WasmError) -> Int64 {
        let start = offset
        var result: Int64 = 0
        var shift = 0
        while true {
            guard offset < end else { throw malformed("unexpected end in LEB128 integer", at: start) }
            let byte = bytes[offset]
            offset += 1
            let remainingBits = bits - shift
            if remainingBits < 7 {
                guard byte & 0x80 == 0 else { throw malformed("integer representation too long", at: start) }
                // The unused bits (and the sign bit of the value) must all be equal.
                let signAndUnused = Int8(bitPattern: byte << 1) >> Int8(remainingBits)
                guard signAndUnused == 0 || signAndUnused == -1 else { throw malformed("integer too large", at: start) }
            }
            result |= Int64(byte & 0x7F) << Int64(shift)
            shift += 7
            if byte & 0x80 == 0 {
                if shift < 64, byte & 0x40 != 0 { result |= -1 << Int64(shift) }
                return result
            }
            if shift >= bits {
                throw malformed("integer representation too long", at: start)
            }
        }
    }

    public mutating func readU32() throws(WasmError) -> UInt32 { UInt32(try readUnsigned(bits: 32)) }
    public mutating func readS32() throws(WasmError) -> Int32 { Int32(try readSigned(bits: 32)) }
    public mutating func readS64() throws(WasmError) -> Int64 { try readSigned(bits: 64) }
    /// The signed 33-bit block type index.
    public mutating func readS33() throws(WasmError) -> Int64 { try readSigned(bits: 33) }

    public mutating func readF32Bits() throws(WasmError) -> UInt32 {
        guard end - offset >= 4 else { throw malformed("unexpected end in f32") }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    public mutating func readF64Bits() throws(WasmError) -> UInt64 {
        guard end - offset >= 8 else { throw malformed("unexpected end in f64") }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// A length-prefixed UTF-8 name.
    public mutating func readName() throws(WasmError) -> String {
        let length = Int(try readU32())
        let start = offset
        let range = try readBytes(length)
        guard let name = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw malformed("malformed UTF-8 encoding", at: start)
        }
        return name
    }
}
