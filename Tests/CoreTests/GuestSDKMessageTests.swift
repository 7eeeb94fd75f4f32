// The guest SDK's C message code (Deploy/sdk/fireball.h) against the Swift codec: C builds, Swift
// decodes; Swift builds, C reads; both refuse the same things. The C runs in Fireball's interpreter.
import Foundation
import Testing
@testable import Core

@Suite struct GuestSDKMessageTests {
    static let sdkDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Deploy/sdk").standardized.path

    /// Exports over the header's inline message functions; `in` takes bytes from Swift, `out` gives them back.
    static let source = """
        #include "fireball.h"
        static uint8_t in[1024], out[512];
        static fb_msg current;
        static uint32_t found_type, found_bits, failed_at;

        FB_EXPORT("in_buffer") uint8_t *in_buffer(void) { return in; }
        FB_EXPORT("out_buffer") uint8_t *out_buffer(void) { return out; }
        FB_EXPORT("found_type") uint32_t get_found_type(void) { return found_type; }
        FB_EXPORT("found_bits") uint32_t get_found_bits(void) { return found_bits; }
        FB_EXPORT("failed_at") uint32_t get_failed_at(void) { return failed_at; }
        FB_EXPORT("current_len") uint32_t current_len(void) { return fb_msg_len(&current); }

        /* The example of Docs/wire-format.md. */
        FB_EXPORT("build_golden") int32_t build_golden(void) {
            int32_t s = fb_msg_init(&current, out, sizeof out);
            if (s == FB_OK) s = fb_msg_put_i32(&current, 0x0A0B0C, -5);
            if (s == FB_OK) s = fb_msg_put_f32(&current, 7, 1.0f);
            if (s == FB_OK) s = fb_msg_put(&current, FB_SCOPE_DICTIONARY, FB_TYPE_SHM, 4, 0x12345678u);
            return s == FB_OK ? (int32_t)fb_msg_len(&current) : s;
        }

        /* Puts `count` entries given in `in` as (scope, type, key, bits) words into a buffer of
           `cap` bytes; functional entries go through the typed puts. The length, or the first
           refusal (its entry number in failed_at). */
        FB_EXPORT("build_from") int32_t build_from(uint32_t count, uint32_t cap) {
            int32_t s = fb_msg_init(&current, out, cap);
            failed_at = 0;
            for (uint32_t i = 0; s == FB_OK && i < count; i++) {
                const uint8_t *w = in + 16 * i;
                uint32_t scope = fb__load32(w), type = fb__load32(w + 4), key = fb__load32(w + 8), bits = fb__load32(w + 12);
                if (scope != FB_SCOPE_FUNCTIONAL) s = fb_msg_put(&current, scope, type, key, bits);
                else if (type == FB_TYPE_I32) s = fb_msg_put_i32(&current, key, (int32_t)bits);
                else if (type == FB_TYPE_U32) s = fb_msg_put_u32(&current, key, bits);
                else if (type == FB_TYPE_F32) s = fb_msg_put_f32(&current, key, fb__bits_f32(bits));
                else if (type == FB_TYPE_SHM && bits <= 0x7FFFFFFFu) s = fb_msg_put_shm(&current, key, (int32_t)bits);
                else s = fb_msg_put(&current, scope, type, key, bits);
                if (s != FB_OK) failed_at = i;
            }
            return s == FB_OK ? (int32_t)fb_msg_len(&current) : s;
        }

        /* Continues the message of `len` bytes in `in` with one u32 entry, as pong.c does. */
        FB_EXPORT("append_u32") int32_t append_u32(uint32_t len, uint32_t key, uint32_t value) {
            int32_t s = fb_msg_from(&current, in, sizeof in, len);
            if (s == FB_OK) s = fb_msg_put_u32(&current, key, value);
            return s == FB_OK ? (int32_t)fb_msg_len(&current) : s;
        }

        FB_EXPORT("check") int32_t check(uint32_t len) { return fb_msg_check(in, len); }
        FB_EXPORT("count") int32_t count(uint32_t len) { return fb_msg_count(in, len); }

        FB_EXPORT("find") int32_t find(uint32_t len, uint32_t scope, uint32_t key) {
            return fb_msg_find(in, len, scope, key, &found_type, &found_bits);
        }

        FB_EXPORT("at") int32_t at(uint32_t len, uint32_t position) {
            uint32_t scope = 0, key = 0;
            int32_t s = fb_msg_at(in, len, position, &scope, &found_type, &key, &found_bits);
            return s == FB_OK ? (int32_t)(scope << 24 | key) : s;
        }

        /* The typed reader for `type`, on a functional key. */
        FB_EXPORT("get") int32_t get(uint32_t len, uint32_t key, uint32_t type) {
            int32_t i = 0; uint32_t u = 0; float f = 0; int32_t s;
            found_bits = 0xDEADBEEFu;
            switch (type) {
            case FB_TYPE_I32: s = fb_msg_get_i32(in, len, key, &i); if (s == FB_OK) found_bits = (uint32_t)i; break;
            case FB_TYPE_U32: s = fb_msg_get_u32(in, len, key, &u); if (s == FB_OK) found_bits = u; break;
            case FB_TYPE_F32: s = fb_msg_get_f32(in, len, key, &f); if (s == FB_OK) found_bits = fb__f32_bits(f); break;
            default: s = fb_msg_get_shm(in, len, key, &i); if (s == FB_OK) found_bits = (uint32_t)i; break;
            }
            return s;
        }

        FB_EXPORT("edge_cases") int32_t edge_cases(void) {
            fb_msg m;
            if (fb_msg_init(&m, out, 3) != FB_EMSGSIZE) return 1;
            if (fb_msg_entries(&m) != 0) return 2;
            if (fb_msg_init(&m, out, FB_MSG_BYTES(1)) != FB_OK) return 3;
            if (fb_msg_put_u32(&m, FB_MSG_KEY_MAX + 1, 1) != FB_EINVAL) return 4;
            if (fb_msg_put(&m, 2, FB_TYPE_U32, 1, 1) != FB_EINVAL) return 5;
            if (fb_msg_put(&m, 0, 0, 1, 1) != FB_EINVAL) return 6;
            if (fb_msg_put(&m, 0, 5, 1, 1) != FB_EINVAL) return 7;
            if (fb_msg_put_shm(&m, 1, -1) != FB_EINVAL) return 8;
            if (fb_msg_put_u32(&m, FB_MSG_KEY_MAX, 1) != FB_OK) return 9;
            if (fb_msg_put_u32(&m, 2, 2) != FB_EMSGSIZE) return 10;   /* room for one entry only */
            if (fb_msg_put_u32(&m, FB_MSG_KEY_MAX, 2) != FB_EBADMSG) return 11; /* duplicate before size */
            if (fb_msg_len(&m) != 13 || fb_msg_check(out, 13) != FB_OK) return 12;
            return 0;
        }
        """

    static let module: Result<[UInt8], any Error> = Result {
        // The header must compile warning-free, and a module that uses only the message code
        // imports nothing from the kernel.
        try WasmTestSupport.clang(source, extraFlags: ["-I", sdkDirectory, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
    }

    /// The module instantiated, with helpers to call it and reach its memory.
    final class Guest {
        let store: Store
        let instance: Instance
        private(set) var input = 0
        private(set) var output = 0

        init() throws {
            (store, instance) = try WasmTestSupport.instantiate(try GuestSDKMessageTests.module.get())
            input = Int(try call("in_buffer"))
            output = Int(try call("out_buffer"))
        }

        @discardableResult
        func call(_ name: String, _ arguments: [UInt32] = []) throws -> UInt32 {
            let result = store.invoke(try instance.function(name), arguments.map { .i32($0) })
            guard case .completed(let values) = result, values.count == 1, case .i32(let value) = values[0] else {
                throw WasmTestSupport.ToolError(description: "\(name)\(arguments) gave \(result)")
            }
            return value
        }

        /// A call whose result is a length (>= 0) or an FB_ error code (< 0).
        func status(_ name: String, _ arguments: [UInt32] = []) throws -> Int32 { Int32(bitPattern: try call(name, arguments)) }

        func give(_ bytes: [UInt8]) throws {
            guard instance.memory!.write(bytes, at: input) else { throw WasmTestSupport.ToolError(description: "in buffer write") }
        }

        func output(count: Int) -> [UInt8] { instance.memory!.read(at: output, count: count)! }
        func input(count: Int) -> [UInt8] { instance.memory!.read(at: input, count: count)! }
    }

    // The ABI's error numbers, as the header defines them.
    static let ok: Int32 = 0, invalid: Int32 = -1, noMemory: Int32 = -4, noEntry: Int32 = -6
    static let tooLarge: Int32 = -8, badMessage: Int32 = -9

    @Test func moduleImportsNothingFromTheKernel() throws {
        let loaded = try LoadedModule.load(try Self.module.get())
        #expect(loaded.module.imports.isEmpty, "imports: \(loaded.module.imports.map { "\($0.module).\($0.name)" })")
    }

    @Test func goldenMessageIsByteIdenticalToSwift() throws {
        let guest = try Guest()
        let length = try guest.status("build_golden")
        var builder = MessageBuilder()
        try builder.add(.functional(0x0A0B0C), Int32(-5))
        try builder.add(.functional(7), Float(1.0))
        try builder.add(.dictionary(4), SharedMemoryID(0x1234_5678))
        let swift = builder.build()
        #expect(length == Int32(swift.encodedByteCount))
        let bytes = guest.output(count: Int(length))
        #expect(bytes == swift.encoded())
        #expect(try Message(decoding: bytes) == swift)
    }

    @Test func refusesDuplicateAndThirtyThirdEntryLeavingTheMessageValid() throws {
        let guest = try Guest()
        // 32 entries in scrambled key order, then a 33rd.
        var entries = (0..<33).map { i in MessageEntry(key: .functional(UInt32((i * 37) % 101)), value: Int32(i)) }
        try guest.give(Self.words(entries))
        #expect(try guest.status("build_from", [33, 512]) == Self.noMemory)
        #expect(try guest.call("failed_at") == 32)
        let full = try Message(decoding: guest.output(count: Int(try guest.call("current_len"))))
        #expect(full.count == 32)
        #expect(full.entries == Array(entries.prefix(32)))
        #expect(full.encodedByteCount == 292)

        entries = [MessageEntry(key: .functional(5), value: Int32(1)), MessageEntry(key: .functional(9), value: Float(2)),
                   MessageEntry(key: .functional(5), value: UInt32(2))]
        try guest.give(Self.words(entries))
        #expect(try guest.status("build_from", [3, 512]) == Self.badMessage, "a duplicate key, even of another type")
        #expect(try guest.call("failed_at") == 2)
        let kept = try Message(decoding: guest.output(count: Int(try guest.call("current_len"))))
        #expect(kept.entries == Array(entries.prefix(2)))
        // The same key number in the dictionary scope is another key.
        entries[2] = MessageEntry(key: .dictionary(5), value: UInt32(2))
        try guest.give(Self.words(entries))
        #expect(try guest.status("build_from", [3, 512]) == Int32(Message.encodedBytes(count: 3)))
    }

    @Test func edgeCasesOfTheBuilder() throws {
        #expect(try Guest().status("edge_cases") == 0, "the number is the first failing check in edge_cases()")
    }

    /// Random entry lists, duplicates and overlong ones included: the C builder gives the Swift
    /// builder's bytes, or refuses at the same entry for the same reason.
    @Test func cBuilderMatchesSwiftBuilderOnRandomEntries() throws {
        let guest = try Guest()
        var random = SeededRandom(seed: 0x5D_C0DE)
        for round in 0..<300 {
            let count = Int.random(in: 0...36, using: &random)
            let narrowKeys = Bool.random(using: &random) // few distinct keys: duplicates are likely
            let entries = (0..<count).map { _ in Self.randomEntry(&random, keyMax: narrowKeys ? 40 : MessageKey.rawMax) }
            let capacity = Bool.random(using: &random) ? 512 : Int.random(in: 4...300, using: &random)

            var builder = MessageBuilder()
            var expected: (status: Int32, at: Int)?
            for (i, entry) in entries.enumerated() {
                do throws(MessageError) {
                    try builder.add(entry)
                } catch {
                    expected = (error.code == .tooManyEntries ? Self.noMemory : Self.badMessage, i)
                    break
                }
                if Message.encodedBytes(count: builder.count) > capacity {
                    expected = (Self.tooLarge, i)
                    builder = try Self.builder(Array(entries.prefix(i)))
                    break
                }
            }
            try guest.give(Self.words(entries))
            let status = try guest.status("build_from", [UInt32(count), UInt32(capacity)])
            let swift = builder.build()
            if let expected {
                #expect(status == expected.status, "round \(round)")
                #expect(try guest.call("failed_at") == UInt32(expected.at), "round \(round)")
            } else {
                #expect(status == Int32(swift.encodedByteCount), "round \(round)")
            }
            let length = Int(try guest.call("current_len"))
            #expect(guest.output(count: length) == swift.encoded(), "round \(round): the buffer holds what was built before any refusal")
        }
    }

    /// Swift writes random messages; the C readers find every key with its type and bits, report
    /// absent keys and wrong types, and walk the entries in wire order.
    @Test func cReadersFindEveryKeyTheSwiftBuilderWrote() throws {
        let guest = try Guest()
        var random = SeededRandom(seed: 0xFEED)
        for round in 0..<200 {
            var builder = MessageBuilder()
            for _ in 0..<Int.random(in: 0...32, using: &random) {
                try? builder.add(Self.randomEntry(&random, keyMax: Bool.random(using: &random) ? 64 : MessageKey.rawMax))
            }
            let message = builder.build()
            let bytes = message.encoded()
            let length = UInt32(bytes.count)
            try guest.give(bytes)
            #expect(try guest.status("count", [length]) == Int32(message.count), "round \(round)")
            #expect(try guest.status("check", [length]) == Self.ok, "round \(round)")
            for (position, entry) in message.entries.enumerated() {
                let scope = UInt32(entry.key.scope.rawValue), type = UInt32(entry.type.rawValue)
                #expect(try guest.status("at", [length, UInt32(position)]) == Int32(scope << 24 | entry.key.raw))
                #expect(try guest.call("found_type") == type)
                #expect(try guest.call("found_bits") == entry.bits)
                #expect(try guest.status("find", [length, scope, entry.key.raw]) == Self.ok, "round \(round): \(entry)")
                #expect(try guest.call("found_type") == type, "round \(round): \(entry)")
                #expect(try guest.call("found_bits") == entry.bits, "round \(round): \(entry)")
                guard entry.key.scope == .functional else { continue }
                for asked in MessageType.allCases {
                    let status = try guest.status("get", [length, entry.key.raw, UInt32(asked.rawValue)])
                    if asked == entry.type {
                        #expect(status == Self.ok, "round \(round): \(entry)")
                        #expect(try guest.call("found_bits") == entry.bits, "round \(round): \(entry)")
                    } else {
                        #expect(status == Self.invalid, "round \(round): \(entry) read as \(asked)")
                    }
                }
            }
            #expect(try guest.status("at", [length, UInt32(message.count)]) == Self.noEntry)
            for _ in 0..<8 {
                let key = MessageKey(scope: Bool.random(using: &random) ? .functional : .dictionary,
                                     raw: UInt32.random(in: 0...80, using: &random))
                guard message.entry(for: key) == nil else { continue }
                #expect(try guest.status("find", [length, UInt32(key.scope.rawValue), key.raw]) == Self.noEntry, "round \(round): \(key)")
                if key.scope == .functional {
                    #expect(try guest.status("get", [length, key.raw, 1]) == Self.noEntry)
                }
            }
        }
    }

    @Test func appendingToAReceivedMessageAsPongDoes() throws {
        let guest = try Guest()
        var builder = MessageBuilder()
        try builder.add(.functional(1), Int32(7))
        try builder.add(.functional(2), UInt32(2_654_435_761))
        let bytes = builder.build().encoded()
        try guest.give(bytes)
        let length = try guest.status("append_u32", [UInt32(bytes.count), 3, 7])
        #expect(length == Int32(Message.encodedBytes(count: 3)))
        let echoed = try Message(decoding: guest.input(count: Int(length)))
        try builder.add(.functional(3), UInt32(7))
        #expect(echoed == builder.build())
        // Adding an existing key is refused and the message stays as it was.
        try guest.give(bytes)
        #expect(try guest.status("append_u32", [UInt32(bytes.count), 2, 9]) == Self.badMessage)
        #expect(guest.input(count: bytes.count) == bytes)
        // Bytes that are not a message are not continued.
        try guest.give([1, 1, 0, 0])
        #expect(try guest.status("append_u32", [4, 3, 7]) == Self.badMessage)
    }

    /// Valid encodings with random damage: fb_msg_check accepts exactly what the Swift decoder
    /// accepts (without a dictionary, as a guest has none), and the readers never read past the bytes.
    @Test func cCheckAgreesWithTheSwiftDecoder() throws {
        let guest = try Guest()
        var random = SeededRandom(seed: 0xBAD_F00D)
        var refused = 0
        for round in 0..<600 {
            var builder = MessageBuilder()
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                try? builder.add(Self.randomEntry(&random, keyMax: 16))
            }
            var bytes = builder.build().encoded()
            switch Int.random(in: 0..<4, using: &random) {
            case 0 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            case 1 where !bytes.isEmpty:
                let i = Int.random(in: 0..<bytes.count, using: &random)
                bytes[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            case 2:
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            default:
                bytes += [UInt8.random(in: 0...255, using: &random)]
            }
            let swiftAccepts = (try? Message(decoding: bytes)) != nil
            if !swiftAccepts { refused += 1 }
            try guest.give(bytes + [UInt8](repeating: 0xEE, count: 16))
            let length = UInt32(bytes.count)
            let status = try guest.status("check", [length])
            #expect(status == (swiftAccepts ? Self.ok : Self.badMessage), "round \(round): \(bytes)")
            // The readers only look inside `length` bytes; whatever they say, they do not trap.
            _ = try guest.status("find", [length, 0, UInt32.random(in: 0...16, using: &random)])
            _ = try guest.status("at", [length, UInt32.random(in: 0...6, using: &random)])
        }
        #expect(refused > 200, "the damage must hit often enough to test refusals")
    }

    // MARK: helpers

    static func randomEntry(_ random: inout SeededRandom, keyMax: UInt32) -> MessageEntry {
        let scope: MessageScope = Int.random(in: 0..<4, using: &random) == 0 ? .dictionary : .functional
        let type = MessageType.allCases.randomElement(using: &random)!
        let bits: UInt32 = switch Int.random(in: 0..<4, using: &random) {
        case 0: 0
        case 1: 0x7FC0_1234 // a NaN with a payload, which must survive as bits
        default: UInt32.random(in: 0...UInt32.max, using: &random)
        }
        return MessageEntry(key: MessageKey(scope: scope, raw: UInt32.random(in: 0...keyMax, using: &random)), type: type, bits: bits)
    }

    /// Entries as the (scope, type, key, bits) little-endian words that `build_from` reads.
    static func words(_ entries: [MessageEntry]) -> [UInt8] {
        entries.flatMap { entry in
            [UInt32(entry.key.scope.rawValue), UInt32(entry.type.rawValue), entry.key.raw, entry.bits]
                .flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        }
    }

    static func builder(_ entries: [MessageEntry]) throws -> MessageBuilder {
        var builder = MessageBuilder()
        for entry in entries { try builder.add(entry) }
        return builder
    }
}
