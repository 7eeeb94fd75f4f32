import Testing
@testable import Core

/// Each refusal names its code, the entry and the byte offset.
@Suite struct MessageDecoderErrorTests {
    /// A valid two-entry message: f:1=i32:5 (entry 0), f:2=u32:6 (entry 1); index at bytes 20, 21.
    let valid: [UInt8] = [1, 2, 0, 0,
                          0x01, 1, 0, 0, 5, 0, 0, 0,
                          0x02, 2, 0, 0, 6, 0, 0, 0,
                          0, 1]

    func refusal(_ bytes: [UInt8], dictionary: MessageDictionary? = nil) -> MessageError? {
        #expect(throws: MessageError.self) { try Message(decoding: bytes, dictionary: dictionary) }
    }

    @Test func validBaselineDecodes() throws {
        let m = try Message(decoding: valid)
        #expect(m[.functional(1)] == Int32(5))
        #expect(m[.functional(2)] == UInt32(6))
    }

    @Test func truncatedHeaderAndBody() {
        let header = refusal([1, 0])
        #expect(header?.code == .truncated && header?.byteOffset == 2)
        let body = refusal(Array(valid.dropLast()))
        #expect(body?.code == .truncated && body?.byteOffset == 21)
        #expect(refusal([])?.code == .truncated)
    }

    @Test func trailingBytes() {
        let e = refusal(valid + [0])
        #expect(e?.code == .trailingBytes && e?.byteOffset == 22)
    }

    @Test func versionAndReservedBytes() {
        var b = valid; b[0] = 2
        #expect(refusal(b)?.code == .unsupportedVersion)
        b = valid; b[3] = 1
        let e = refusal(b)
        #expect(e?.code == .reservedNotZero && e?.byteOffset == 3)
    }

    @Test func moreThanThirtyTwoEntries() {
        let e = refusal([1, 33, 0, 0] + [UInt8](repeating: 0, count: 33 * 9))
        #expect(e?.code == .tooManyEntries && e?.byteOffset == 1)
    }

    @Test func unknownScopeNamesEntryAndOffset() {
        var b = valid; b[12] = 0x42   // scope 2
        let e = refusal(b)
        #expect(e?.code == .unknownScope && e?.entry == 1 && e?.byteOffset == 12)
    }

    @Test(arguments: [UInt8(0), 5, 6, 31])
    func unknownTypeNamesEntryAndOffset(type: UInt8) {
        var b = valid; b[4] = type
        let e = refusal(b)
        #expect(e?.code == .unknownType && e?.entry == 0 && e?.byteOffset == 4)
    }

    @Test func indexThatIsNotAPermutation() {
        var b = valid; b[21] = 0   // entry 0 twice
        let twice = refusal(b)
        #expect(twice?.code == .indexNotPermutation && twice?.byteOffset == 21)
        b = valid; b[20] = 2       // no entry 2
        let outside = refusal(b)
        #expect(outside?.code == .indexNotPermutation && outside?.byteOffset == 20)
    }

    @Test func indexOutOfOrder() {
        var b = valid; b[20] = 1; b[21] = 0
        let e = refusal(b)
        #expect(e?.code == .indexNotSorted && e?.entry == 0 && e?.byteOffset == 21)
    }

    @Test func duplicateKeysAreRefused() {
        var b = valid; b[13] = 1   // entry 1 gets key 1 too; types differ but keys are unique per message
        let e = refusal(b)
        #expect(e?.code == .duplicateKey && e?.byteOffset == 21)
    }

    @Test func dictionaryOffsetsAreChecked() throws {
        let dictionary = try MessageDictionary(strings: ["temperature", "humidity"])   // starts at 0 and 12
        var b = valid; b[12] = 0x22; b[13] = 12     // d@12 = "humidity"
        let m = try Message(decoding: b, dictionary: dictionary)
        #expect(m[dictionary.key("humidity")!] == UInt32(6))
        #expect(m.description(using: dictionary) == "{f:1=i32:5, \"humidity\"=u32:6}")

        b[13] = 5                                   // inside "temperature"
        let inside = refusal(b, dictionary: dictionary)
        #expect(inside?.code == .dictionaryOffsetNotStringStart && inside?.entry == 1 && inside?.byteOffset == 13)
        b[13] = 200                                 // past the 21 bytes
        let past = refusal(b, dictionary: dictionary)
        #expect(past?.code == .dictionaryOffsetOutOfRange && past?.entry == 1)
        #expect(try Message(decoding: b).count == 2, "without a dictionary the offset is not checked")
    }
}

@Suite struct MessageDictionaryTests {
    @Test func offsetsAndNames() throws {
        let d = try MessageDictionary(strings: ["a", "bc", "def"])
        #expect(d.bytes == Array("a\0bc\0def\0".utf8))
        #expect(d.key("bc") == .dictionary(2))
        #expect(d.string(at: 5) == "def")
        #expect(d.string(at: 3) == nil)
        #expect(d.isStringStart(0) && !d.isStringStart(1) && !d.isStringStart(9))
    }

    @Test func refusesBadDictionaries() {
        #expect(throws: MessageError.self) { try MessageDictionary(bytes: Array("abc".utf8)) }
        #expect(throws: MessageError.self) { try MessageDictionary(strings: ["ok", ""]) }
        #expect(throws: MessageError.self) { try MessageDictionary(strings: ["a\0b"]) }
    }
}

@Suite struct MessageTextTests {
    @Test func parsesEachKindOfEntry() throws {
        let d = try MessageDictionary(strings: ["temperature"])
        #expect(try MessageEntry(text: "7=i32:-5") == MessageEntry(key: .functional(7), value: Int32(-5)))
        #expect(try MessageEntry(text: "0x1f=u32:0x10") == MessageEntry(key: .functional(31), value: UInt32(16)))
        #expect(try MessageEntry(text: "@temperature=f32:21.5", dictionary: d) == MessageEntry(key: .dictionary(0), value: Float(21.5)))
        #expect(try MessageEntry(text: "@12=shm:3") == MessageEntry(key: .dictionary(12), value: SharedMemoryID(3)))
    }

    @Test(arguments: ["7", "7=i32", "x=i32:1", "16777216=i32:1", "1=i64:1", "1=i32:abc", "@nope=i32:1"])
    func refusesMalformedText(text: String) {
        #expect(throws: MessageError.self) { try MessageEntry(text: text) }
    }
}
