// Readers for the binary format's composite pieces (lengths, vectors, types, limits, names),
// with error wordings taken from the spec's reference decoder so that a spec runner can compare.

extension ByteReader {
    static let unexpectedEndOfSection = "unexpected end of section or function"

    /// A byte length (of a section, a body, a name or a data segment) that must fit in what is left.
    ///
    /// The reference decoder compares the length with what is left counting the length's own
    /// bytes, and reports a length that passes that test but overruns as an unexpected end; the
    /// spec tests depend on the difference, so it is kept.
    mutating func readLength() throws(WasmError) -> Int {
        let start = offset
        let length = Int(try readU32())
        guard length <= end - start else {
            throw malformed("length out of bounds: \(length) bytes declared, \(end - offset) left", at: start)
        }
        guard length <= end - offset else {
            throw malformed(Self.unexpectedEndOfSection + ": \(length) bytes declared, \(end - offset) left", at: start)
        }
        return length
    }

    /// The element count of a vector. Every element takes at least one byte, so a count larger
    /// than what is left cannot be satisfied; refusing it early also keeps it from sizing an allocation.
    mutating func readCount(_ what: String) throws(WasmError) -> Int {
        let start = offset
        let count = try readU32()
        guard count <= remaining else {
            throw malformed(Self.unexpectedEndOfSection + ": \(count) \(what) declared, \(remaining) bytes left", at: start)
        }
        guard count <= WasmLimits.entitiesMax else {
            throw WasmError(.limitExceeded, offset: start, "too many \(what): \(count), at most \(WasmLimits.entitiesMax)")
        }
        return Int(count)
    }

    mutating func readValueType() throws(WasmError) -> ValueType {
        let start = offset
        let byte = try readByte()
        guard let type = ValueType(rawValue: byte) else {
            let why = byte == 0x7B ? " (v128: SIMD is not supported)" : ""
            throw malformed("malformed value type 0x\(String(byte, radix: 16))\(why)", at: start)
        }
        return type
    }

    mutating func readReferenceType() throws(WasmError) -> ValueType {
        let start = offset
        let byte = try readByte()
        guard let type = ValueType(rawValue: byte), type.isReference else {
            throw malformed("malformed reference type 0x\(String(byte, radix: 16))", at: start)
        }
        return type
    }

    /// A 32-bit memory's limits, with a custom page size when flag bit 3 is set (custom-page-sizes
    /// proposal: the page size's log2 follows the limits; 0 and 16 are the sizes it allows).
    mutating func readMemoryType() throws(WasmError) -> MemoryType {
        let start = offset
        let flag: UInt64
        do {
            flag = try readUnsigned(bits: 4)
        } catch {
            throw malformed("\(error.detail) (malformed limits flags)", at: start)
        }
        guard flag & ~0b1001 == 0 else { throw malformed("integer too large (malformed limits flags)", at: start) }
        let min = UInt64(try readU32())
        let max = flag & 1 == 1 ? UInt64(try readU32()) : nil
        guard flag & 0b1000 != 0 else { return MemoryType(limits: Limits(min: min, max: max)) }
        let logStart = offset
        let log2 = try readU32()
        guard log2 == 0 || log2 == 16 else { throw malformed("invalid custom page size 2^\(log2) (allowed: 1 and 65536 bytes)", at: logStart) }
        return MemoryType(limits: Limits(min: min, max: max), pageSizeLog2: UInt8(log2))
    }

    /// Limits of a table.
    mutating func readLimits() throws(WasmError) -> Limits {
        let start = offset
        // The flag is read as a 1-bit LEB128 integer, as the reference decoder does: 0x02 is
        // "integer too large" and 0x81 0x00 "integer representation too long".
        let flag: UInt64
        do {
            flag = try readUnsigned(bits: 1)
        } catch {
            throw malformed("\(error.detail) (malformed limits flags)", at: start)
        }
        let min = UInt64(try readU32())
        let max = flag == 1 ? UInt64(try readU32()) : nil
        return Limits(min: min, max: max)
    }

    mutating func readTableType() throws(WasmError) -> TableType {
        let element = try readReferenceType()
        return TableType(element: element, limits: try readLimits())
    }

    mutating func readGlobalType() throws(WasmError) -> GlobalType {
        let value = try readValueType()
        let start = offset
        switch try readByte() {
        case 0: return GlobalType(value: value, mutable: false)
        case 1: return GlobalType(value: value, mutable: true)
        case let byte: throw malformed("malformed mutability 0x\(String(byte, radix: 16))", at: start)
        }
    }

    /// A length-prefixed name that must be valid UTF-8 (no overlong forms, surrogates or code
    /// points past U+10FFFF).
    mutating func readUTF8Name() throws(WasmError) -> String {
        let length = try readLength()
        let start = offset
        let range = try readBytes(length)
        guard let name = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw malformed("malformed UTF-8 encoding", at: start)
        }
        return name
    }
}
