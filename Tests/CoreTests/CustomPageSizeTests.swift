// Guests for small boards declare their memory in one-byte pages (the custom-page-sizes proposal,
// which clang emits with -Wl,--page-size=1), so a 16 KiB guest fits a 24 KiB guest partition.
import Core
import Testing

@Suite struct CustomPageSizeTests {
    static let source = """
        static unsigned char buffer[1024];
        __attribute__((export_name("size"))) int size(void) { return __builtin_wasm_memory_size(0); }
        __attribute__((export_name("grow"))) int grow(int delta) { return __builtin_wasm_memory_grow(0, delta); }
        __attribute__((export_name("peek"))) int peek(int address) { return *(volatile unsigned char *)address; }
        __attribute__((export_name("touch"))) int touch(int i) { buffer[i] = 7; return buffer[i]; }
        """

    static func module(initial: Int, maximum: Int) throws -> [UInt8] {
        try WasmTestSupport.clang(source, extraFlags: ["-Wl,--page-size=1", "-Wl,-z,stack-size=2048",
                                                       "-Wl,--initial-memory=\(initial)", "-Wl,--max-memory=\(maximum)"])
    }

    @Test func oneBytePagesGiveExactlyTheDeclaredMemory() throws {
        let bytes = try Self.module(initial: 8192, maximum: 8200)
        let module = try LoadedModule.load(bytes)
        let memory = try #require(module.module.memories.first)
        #expect(memory.pageSizeLog2 == 0)
        #expect(memory.minimumBytes == 8192 && memory.maximumBytes == 8200)

        let (store, instance) = try WasmTestSupport.instantiate(bytes)
        #expect(instance.memory?.byteCount == 8192)
        #expect(store.invoke(try instance.function("size"), []) == .completed([.i32(8192)]))
        #expect(store.invoke(try instance.function("touch"), [.i32(5)]) == .completed([.i32(7)]))
        #expect(store.invoke(try instance.function("peek"), [.i32(8191)]) == .completed([.i32(0)]))
        guard case .trapped(let trap) = store.invoke(try instance.function("peek"), [.i32(8192)]) else {
            Issue.record("a read one byte past the memory must trap"); return
        }
        #expect(trap.reason == .memoryOutOfBounds)
        // Growth counts bytes: 8 more fit under the maximum, the ninth does not.
        #expect(store.invoke(try instance.function("grow"), [.i32(8)]) == .completed([.i32(8192)]))
        #expect(store.invoke(try instance.function("grow"), [.i32(1)]) == .completed([.i32(UInt32.max)]))
        #expect(store.invoke(try instance.function("peek"), [.i32(8199)]) == .completed([.i32(0)]))
    }

    @Test func pageSizesOtherThanOneAndSixtyFourKiBAreMalformed() throws {
        // A module with only a memory section: flag 0x09 (maximum, custom page size), min and max
        // 4096 (LEB128 0x80 0x20), then the page size's log2.
        func module(log2: UInt8) -> [UInt8] {
            [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x05, 0x07, 0x01, 0x09, 0x80, 0x20, 0x80, 0x20, log2]
        }
        #expect(try LoadedModule.load(module(log2: 0)).module.memories.first?.maximumBytes == 4096)
        #expect(try LoadedModule.load(module(log2: 16)).module.memories.first?.maximumBytes == 4096 << 16)
        #expect(throws: WasmError.self) { try LoadedModule.load(module(log2: 12)) }
    }
}
