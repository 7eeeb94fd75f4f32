import Foundation
import Testing
@testable import Core

@Suite struct InterpreterTests {
    @Test func opcodeTableIsContiguousAndOneByte() {
        #expect(MemoryLayout<Op>.size == 1)
        #expect(Op.i32Extend8S.rawValue == 0xC0 - 0x45, "numeric ops keep their wasm opcode order")
        #expect(Op.allCases.enumerated().allSatisfy { $0.offset == Int($0.element.rawValue) })
    }

    static let loopModule = """
        (module
          (func (export "sum") (param $n i32) (result i64)
            (local $i i32) (local $s i64)
            (block $done
              (loop $next
                (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $i))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
            (local.get $s)))
        """

    @Test func loopComputesAndYieldsAtBackEdges() throws {
        let (store, instance) = try WasmTestSupport.instantiate(try WasmTestSupport.wat(Self.loopModule))
        let sum = try instance.function("sum")
        #expect(store.invoke(sum, [.i32(1000)]) == .completed([.i64(499_500)]))

        // Deterministic slices: one safe point each; every back edge is one, and the result is unchanged.
        let execution = try Execution(store: store, function: sum, arguments: [.i32(1000)])
        var yields = 0
        var result: ExecutionResult
        repeat {
            result = execution.run(.safePoints(1))
            if case .yielded(.sliceEnded) = result { yields += 1 }
        } while result == .yielded(.sliceEnded)
        #expect(result == .completed([.i64(499_500)]))
        #expect(yields == 1000, "one yield per loop iteration")
    }

    @Test func sameInputsGiveSameYieldPoints() throws {
        func trace() throws -> [Int] {
            let (store, instance) = try WasmTestSupport.instantiate(try WasmTestSupport.wat(Self.loopModule))
            let execution = try Execution(store: store, function: try instance.function("sum"), arguments: [.i32(777)])
            var points: [Int] = []
            while case .yielded = execution.run(.safePoints(37)) { points.append(execution.safePointsPassed) }
            return points
        }
        let first = try trace()
        #expect(first.count == 777 / 37)
        #expect(try trace() == first)
    }

    @Test func aLoopThatOnlyBranchesToItselfStillYields() throws {
        let (store, instance) = try WasmTestSupport.instantiate(try WasmTestSupport.wat("(module (func (export \"spin\") (loop (br 0))))"))
        let execution = try Execution(store: store, function: try instance.function("spin"), arguments: [])
        #expect(execution.run(.safePoints(1000)) == .yielded(.sliceEnded))
        #expect(execution.safePointsPassed == 1000)
        execution.requestInterrupt()
        #expect(execution.run(.unlimited) == .yielded(.interrupt))
    }

    @Test func anInjectedHandlerRunsAndTheInterruptedLoopContinues() throws {
        let bytes = try WasmTestSupport.wat("""
            (module
              (global $handled (mut i32) (i32.const 0))
              (func (export "interrupt_handler") (param $cause i32)
                (global.set $handled (i32.add (global.get $handled) (local.get $cause))))
              (func (export "count") (param $n i32) (result i32 i32) (local $i i32)
                (loop $next
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
                (local.get $i) (global.get $handled)))
            """)
        let (store, instance) = try WasmTestSupport.instantiate(bytes)
        let execution = try Execution(store: store, function: try instance.function("count"), arguments: [.i32(100_000)])
        #expect(execution.run(.safePoints(10)) == .yielded(.sliceEnded))
        execution.requestInterrupt()
        #expect(execution.run(.unlimited) == .yielded(.interrupt))
        try execution.injectCall(try instance.function("interrupt_handler"), arguments: [.i32(5)])
        execution.requestInterrupt()
        #expect(execution.run(.unlimited) == .yielded(.interrupt), "a second interrupt stops the handler's caller again")
        try execution.injectCall(try instance.function("interrupt_handler"), arguments: [.i32(7)])
        #expect(execution.run(.unlimited) == .completed([.i32(100_000), .i32(12)]), "both handlers ran once; the loop lost no iteration")
    }

    @Test func interruptStopsAtNextSafePoint() throws {
        let (store, instance) = try WasmTestSupport.instantiate(try WasmTestSupport.wat(Self.loopModule))
        let execution = try Execution(store: store, function: try instance.function("sum"), arguments: [.i32(1_000_000)])
        execution.requestInterrupt()
        #expect(execution.run(.unlimited) == .yielded(.interrupt))
        #expect(execution.safePointsPassed == 1, "stopped at the first back edge")
        #expect(execution.run(.unlimited) == .completed([.i64(499_999_500_000)]))
    }

    @Test func timeSlicesYieldAndResume() throws {
        let (store, instance) = try WasmTestSupport.instantiate(try WasmTestSupport.wat(Self.loopModule))
        let execution = try Execution(store: store, function: try instance.function("sum"), arguments: [.i32(3_000_000)])
        var slices = 0
        var result: ExecutionResult
        repeat { result = execution.run(.microseconds(300)); slices += 1 } while result == .yielded(.sliceEnded)
        #expect(result == .completed([.i64(4_499_998_500_000)]))
        #expect(slices > 1, "3 million iterations take more than one 300 µs slice")
    }

    @Test func hostFunctionSuspendsAndResumes() throws {
        let store = Store()
        var calls = 0
        let ask = store.addHostFunction("ask", type: FunctionType(parameters: [.i32], results: [.i32])) { call in
            calls += 1
            return call.i32(0) == 0 ? .suspend : .returned
        }
        let bytes = try WasmTestSupport.wat("""
            (module (import "env" "ask" (func $ask (param i32) (result i32)))
              (func (export "go") (result i32) (i32.add (call $ask (i32.const 0)) (i32.const 1))))
            """)
        let (_, instance) = try WasmTestSupport.instantiate(bytes, imports: ["env": ["ask": .function(ask)]], store: store)
        let execution = try Execution(store: store, function: try instance.function("go"), arguments: [])
        #expect(execution.run() == .suspended(ask))
        execution.resume(results: [.i32(41)])
        #expect(execution.run() == .completed([.i32(42)]))
        #expect(calls == 1)
    }

    @Test func trapsNameTheirFunctionAndLeaveTheStoreUsable() throws {
        let bytes = try WasmTestSupport.clang("""
            __attribute__((noinline)) static int divide(int a, int b) { return a / b; }
            __attribute__((export_name("ratio"))) int ratio(int a, int b) { return divide(a, b) + 1; }
            """)
        let (store, instance) = try WasmTestSupport.instantiate(bytes)
        let ratio = try instance.function("ratio")
        guard case .trapped(let trap) = store.invoke(ratio, [.i32(1), .i32(0)]) else { Issue.record("expected a trap"); return }
        #expect(trap.reason == .integerDivideByZero)
        #expect(trap.functionName == "divide" || trap.functionName == "ratio", "name section gives \(String(describing: trap.functionName))")
        #expect(store.invoke(ratio, [.i32(10), .i32(2)]) == .completed([.i32(6)]))
    }

    @Test func callStackExhaustionIsATrapAtTheConfiguredDepth() throws {
        let bytes = try WasmTestSupport.wat("(module (func $f (export \"f\") (param i32) (result i32) (call $f (i32.add (local.get 0) (i32.const 1)))))")
        let (store, instance) = try WasmTestSupport.instantiate(bytes)
        let result = store.invoke(try instance.function("f"), [.i32(0)], limits: ExecutionLimits(slots: 1 << 16, frames: 100))
        guard case .trapped(let trap) = result else { Issue.record("expected a trap, got \(result)"); return }
        #expect(trap.reason == .callStackExhausted)
    }

    @Test func hundredThousandNestedBlocksAreRefusedNotACrash() throws {
        // A body of 100,000 `block` opcodes: built by hand, as no text tool is needed to make it.
        let depth = 100_000
        var body: [UInt8] = [0x00]                                   // no locals
        body += [UInt8](repeating: 0, count: depth * 2)
        for i in 0..<depth { body[1 + 2 * i] = 0x02; body[2 + 2 * i] = 0x40 }
        body += [UInt8](repeating: 0x0B, count: depth + 1)
        var module: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00,
                               0x01, 0x04, 0x01, 0x60, 0x00, 0x00,      // type: () -> ()
                               0x03, 0x02, 0x01, 0x00]                  // function 0: type 0
        var code: [UInt8] = [0x01] + leb(body.count) + body
        code = [0x0A] + leb(code.count) + code
        module += code
        let error = #expect(throws: WasmError.self) { try LoadedModule.load(module) }
        #expect(error?.code == .limitExceeded)
        #expect(error?.functionIndex == 0)
    }

    @Test func boardsWithoutFPURefuseFloatModules() throws {
        let bytes = try WasmTestSupport.wat("(module (func (export \"f\") (param i32) (result i32) (i32.trunc_f32_s (f32.convert_i32_s (local.get 0)))))")
        let error = #expect(throws: WasmError.self) { try LoadedModule.load(bytes, options: LoadOptions(allowFloat: false)) }
        #expect(error?.code == .refusedByPolicy)
        #expect(error?.description.contains("FPU") == true)
        #expect(try LoadedModule.load(bytes).usesFloat)
        #expect(try !LoadedModule.load(try WasmTestSupport.wat(Self.loopModule), options: LoadOptions(allowFloat: false)).usesFloat)
    }

    @Test func memoryGrowthGoesThroughTheLimiter() throws {
        let store = Store()
        store.memoryLimiter = { _, requested in requested <= 3 * 65536 }
        let bytes = try WasmTestSupport.wat("(module (memory 1) (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0))))")
        let (_, instance) = try WasmTestSupport.instantiate(bytes, store: store)
        let grow = try instance.function("grow")
        #expect(store.invoke(grow, [.i32(2)]) == .completed([.i32(1)]))
        #expect(store.invoke(grow, [.i32(1)]) == .completed([.i32(UInt32.max)]), "refused by the limiter: -1")
        #expect(instance.memory?.pageCount == 3)
    }

    @Test func largeMemoryFillIsChunkedAcrossSafePoints() throws {
        let bytes = try WasmTestSupport.wat("""
            (module (memory 1024) (func (export "fill") (result i32)
              (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x4000000)) (i32.load8_u (i32.const 0x3FFFFFF))))
            """)
        let (store, instance) = try WasmTestSupport.instantiate(bytes)
        let execution = try Execution(store: store, function: try instance.function("fill"), arguments: [])
        var slices = 0
        var result: ExecutionResult
        repeat { result = execution.run(.safePoints(1)); slices += 1 } while result == .yielded(.sliceEnded)
        #expect(result == .completed([.i32(7)]))
        #expect(slices == 64 * 1024 * 1024 / Execution.bulkChunkBytes, "one safe point per 64 KiB chunk")
    }

    @Test func cGuestsWithFunctionPointersAndBulkMemoryRun() throws {
        let bytes = try WasmTestSupport.clang("""
            typedef int (*op)(int, int);
            static int add(int a, int b) { return a + b; }
            static int mul(int a, int b) { return a * b; }
            static op table[2] = { add, mul };
            static char buffer[4096], copy[4096];
            __attribute__((export_name("apply"))) int apply(int which, int a, int b) { return table[which & 1](a, b); }
            __attribute__((export_name("bulk"))) int bulk(int n) {
                __builtin_memset(buffer, n, sizeof buffer);
                __builtin_memcpy(copy, buffer, sizeof copy);
                int sum = 0;
                for (int i = 0; i < 4096; i++) sum += copy[i];
                return sum;
            }
            """, extraFlags: ["-mbulk-memory"])
        let text = try LoadedModule.load(bytes).module.bytes
        #expect(text.count > 0)
        let (store, instance) = try WasmTestSupport.instantiate(bytes)
        #expect(store.invoke(try instance.function("apply"), [.i32(0), .i32(6), .i32(7)]) == .completed([.i32(13)]))
        #expect(store.invoke(try instance.function("apply"), [.i32(1), .i32(6), .i32(7)]) == .completed([.i32(42)]))
        #expect(store.invoke(try instance.function("bulk"), [.i32(3)]) == .completed([.i32(3 * 4096)]))
    }

    @Test func benchmarkModulesGiveTheirChecksums() throws {
        for (name, argument, checksum) in [("noop", 7, 7), ("fib", 0, 0)] as [(String, Int32, Int64)] {
            let bytes = try WasmTestSupport.benchModule(name)
            let (store, instance) = try WasmTestSupport.instantiate(bytes)
            let result = store.invoke(try instance.function("run"), [.i32(UInt32(bitPattern: argument))], yieldAtEverySafePoint: true)
            #expect(result == .completed([.i64(UInt64(checksum))]), "\(name)")
        }
    }
}

func leb(_ value: Int) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    repeat {
        var byte = UInt8(value & 0x7F)
        value >>= 7
        if value != 0 { byte |= 0x80 }
        bytes.append(byte)
    } while value != 0
    return bytes
}
