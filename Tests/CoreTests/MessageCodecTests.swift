import Testing
@testable import Core

/// Hex without spaces, for golden byte strings.
private func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

private func message(_ entries: [MessageEntry]) throws -> Message {
    var builder = MessageBuilder()
    for entry in entries { try builder.add(entry) }
    return builder.build()
}

@Suite struct MessageCodecTests {
    @Test func goldenLayoutPinsEveryByte() throws {
        let m = try message([
            MessageEntry(key: .functional(0x0A0B0C), value: Int32(-5)),
            MessageEntry(key: .functional(7), value: Float(1.0)),
            MessageEntry(key: .dictionary(4), value: SharedMemoryID(0x1234_5678)),
        ])
        // header: version 1, 3 entries, reserved 0 0
        // entry 0: tag 0x01 (functional, i32), key 0c 0b 0a, value fb ff ff ff
        // entry 1: tag 0x03 (functional, f32), key 07 00 00, value 00 00 80 3f
        // entry 2: tag 0x24 (dictionary, shm), key 04 00 00, value 78 56 34 12
        // index: key order f:7, f:0x0a0b0c, d@4 -> entries 1, 0, 2
        let expected = bytes("""
            01 03 00 00
            01 0c 0b 0a fb ff ff ff
            03 07 00 00 00 00 80 3f
            24 04 00 00 78 56 34 12
            01 00 02
            """)
        #expect(m.encoded() == expected)
        #expect(try Message(decoding: expected) == m)
        #expect(m.encodedByteCount == 4 + 3 * 9)
    }

    @Test func emptyMessageIsFourBytes() throws {
        let m = Message()
        #expect(m.encoded() == [1, 0, 0, 0])
        #expect(try Message(decoding: [1, 0, 0, 0]).isEmpty)
    }

    @Test func typedLookupFindsEachKeyAndRefusesWrongType() throws {
        var builder = MessageBuilder()
        try builder.add(.functional(3), Float(21.5))
        try builder.add(.functional(1), Int32(-7))
        try builder.add(.dictionary(0), UInt32(9))
        try builder.add(.functional(0xFF_FFFF), SharedMemoryID(4))
        let m = builder.build()
        #expect(m[.functional(3)] == Float(21.5))
        #expect(m[.functional(1)] == Int32(-7))
        #expect(m[.dictionary(0)] == UInt32(9))
        #expect(m[.functional(0xFF_FFFF)] == SharedMemoryID(4))
        #expect((m[.functional(3)] as Int32?) == nil, "a float entry is not an i32")
        #expect((m[.functional(0)] as UInt32?) == nil, "functional 0 is absent; dictionary 0 must not match it")
        #expect((m[.functional(2)] as Int32?) == nil)
        #expect(m.entriesByKey.map(\.key) == [.functional(1), .functional(3), .functional(0xFF_FFFF), .dictionary(0)])
    }

    @Test func builderRefusesDuplicateAndThirtyThirdEntry() throws {
        var builder = MessageBuilder()
        try builder.add(.functional(5), Int32(1))
        #expect(throws: MessageError.self) { try builder.add(.functional(5), UInt32(2)) }
        for k in 100..<131 { try builder.add(.functional(UInt32(k)), Int32(0)) }
        #expect(builder.count == 32)
        let error = #expect(throws: MessageError.self) { try builder.add(.functional(999), Int32(0)) }
        #expect(error?.code == .tooManyEntries)
    }

    @Test func floatBitPatternsSurviveIncludingNaNPayloads() throws {
        let nan = Float(bitPattern: 0x7FC0_1234)
        let m = try message([MessageEntry(key: .functional(1), value: nan), MessageEntry(key: .functional(2), value: -Float.zero)])
        let back = try Message(decoding: m.encoded())
        #expect((back[.functional(1)] as Float?)?.bitPattern == 0x7FC0_1234)
        #expect((back[.functional(2)] as Float?)?.bitPattern == 0x8000_0000)
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomMessagesRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        for _ in 0..<500 {
            let m = randomMessage(&random)
            let encoded = m.encoded()
            let decoded = try Message(decoding: encoded)
            #expect(decoded == m)
            #expect(decoded.encoded() == encoded)
            for entry in m.entries { #expect(decoded.entry(for: entry.key) == entry) }
        }
    }

    @Test func randomBytesNeverCrashAndReencodeIdentically() {
        var random = SeededRandom(seed: 42)
        var accepted = 0
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...40, using: &random)
            var candidate = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Make a plausible header half the time so that the deeper checks run too.
            if candidate.count >= 4, Bool.random(using: &random) {
                let n = (candidate.count - 4) / 9
                candidate[0] = 1; candidate[1] = UInt8(n); candidate[2] = 0; candidate[3] = 0
            }
            if let decoded = try? Message(decoding: candidate) {
                accepted += 1
                #expect(decoded.encoded() == candidate)
            }
        }
        #expect(accepted > 0, "some random inputs are valid (the empty message at least)")
    }

    @Test func mutatedMessagesNeverCrashAndReencodeIdentically() {
        var random = SeededRandom(seed: 7)
        var refused = 0
        var accepted = 0
        for _ in 0..<5_000 {
            var encoded = randomMessage(&random).encoded()
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: encoded[Int.random(in: 0..<encoded.count, using: &random)] = .random(in: 0...255, using: &random)
                case 1: encoded.removeLast(Int.random(in: 0...min(3, encoded.count), using: &random))
                default: encoded.append(.random(in: 0...255, using: &random))
                }
            }
            do {
                let decoded = try Message(decoding: encoded)
                accepted += 1
                #expect(decoded.encoded() == encoded)
            } catch {
                refused += 1
                #expect(error.byteOffset != nil, "every decode error names a byte offset: \(error)")
            }
        }
        #expect(refused > 0 && accepted > 0)
    }
}

func randomMessage(_ random: inout SeededRandom) -> Message {
    var builder = MessageBuilder()
    let n = Int.random(in: 0...Message.entriesMax, using: &random)
    while builder.count < n {
        let scope: MessageScope = Bool.random(using: &random) ? .functional : .dictionary
        let key = MessageKey(scope: scope, raw: UInt32.random(in: 0...MessageKey.rawMax, using: &random) & (Bool.random(using: &random) ? 0xFF : 0xFF_FFFF))
        let type = MessageType.allCases.randomElement(using: &random)!
        try? builder.add(MessageEntry(key: key, type: type, bits: UInt32.random(in: 0...UInt32.max, using: &random)))
    }
    return builder.build()
}
