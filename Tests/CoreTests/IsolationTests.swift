import Testing
@testable import Core

/// The isolation properties of the safety model, modelled on Tock's hardware CI (issue 4).
@Suite struct IsolationTests {
    static let small = PartitionTable(bytes: [.kernel: 16 * 1024, .runtime: 8 * 1024, .subsystem: 8 * 1024, .tier1: 8192,
                                              .guest: 640 * 1024, .stacks: 16 * 1024], stackSlotBytes: 1024)

    func boot(clock: ManualClock = ManualClock(), log: @escaping (String) -> Void = { _ in }) -> Kernel {
        let kernel = Kernel(clock: clock, configuration: KernelConfiguration(slice: .safePoints(50), executionLimits: ExecutionLimits(slots: 1024, frames: 0)),
                            partitions: Self.small)
        kernel.console = log
        return kernel
    }

    func spawn(_ kernel: Kernel, _ text: String, _ name: String) throws -> TaskID {
        try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(text)), name: name, capability: ProcessCapability())
    }

    static let grower = """
        (module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory 1)
          (func (export "run") (local $pages i32)
            (loop $more (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then
              (local.set $pages (i32.add (local.get $pages) (i32.const 1))) (br $more))))
            ;; refused: the guest learns it from -1 and reports how far it got
            (call $exit (local.get $pages))))
        """

    /// 1. A guest that grows memory until refused does not disturb a producer/consumer pair.
    @Test func memoryHogBesidePingPong() throws {
        var hogState: TaskState?
        var guestPartitionFree = 0
        func slicesForPair(withHog: Bool) throws -> (Int, TaskState?) {
            let kernel = boot()
            _ = try spawn(kernel, KernelTestGuests.pong, "pong")
            let ping = try spawn(kernel, KernelTestGuests.ping(200), "ping")
            var hog: TaskID?
            if withHog { hog = try spawn(kernel, Self.grower, "hog") }
            defer { if let hog { hogState = kernel.state(of: hog); guestPartitionFree = kernel.partition(.guest).freeBytes } }
            var slices = 0
            while kernel.state(of: ping) == .runnable || kernel.state(of: ping) == .blocked {
                guard kernel.runUntilIdle(maxSlices: 1) != .waiting(nextDeadline: nil) else { break }
                slices += 1
            }
            return (slices, kernel.state(of: ping))
        }
        let (alone, aloneState) = try slicesForPair(withHog: false)
        let (beside, besideState) = try slicesForPair(withHog: true)
        #expect(aloneState == .exited(.exited(code: 2 * 199 * 200 / 2)))
        #expect(besideState == aloneState, "every exchange completes beside the hog")
        guard case .exited(.exited(let pages))? = hogState else { Issue.record("the hog should exit after its refusal"); return }
        #expect(pages >= 3, "the hog grew \(pages) pages before the guest partition refused")
        #expect(guestPartitionFree > 0, "the hog's memory went back to the partition")
        // The pair needs the same slices but for the few the hog took before its refusal.
        #expect(beside - alone <= 8, "alone \(alone) slices, beside the hog \(beside)")
    }

    /// 1b. A memory cap below the declared maximum (the manifest's `memory:`) holds, across a restart too.
    @Test func aMemoryCapBelowTheDeclaredMaximumHoldsAcrossRestarts() throws {
        // Grows until refused; more than 3 pages would be an exit with 99, else it traps (restarted once).
        let capped = """
            (module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory 1 8)
              (func (export "run")
                (loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
                (if (i32.gt_u (memory.size) (i32.const 3)) (then (call $exit (i32.const 99))))
                unreachable))
            """
        let kernel = boot()
        let first = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(capped)), name: "capped",
                                          restart: .restartUpTo(count: 1, withinNanoseconds: 1_000_000_000),
                                          memoryLimitBytes: 3 * 65_536, capability: ProcessCapability())
        _ = kernel.runUntilIdle(maxSlices: 1_000)
        guard case .exited(.trapped)? = kernel.state(of: first) else { Issue.record("capped at 3 pages, then trapped: \(String(describing: kernel.state(of: first)))"); return }
        let second = try #require(kernel.successor(of: first), "restarted once")
        _ = kernel.runUntilIdle(maxSlices: 1_000)
        guard case .exited(.trapped)? = kernel.state(of: second) else { Issue.record("the restart keeps the cap: \(String(describing: kernel.state(of: second)))"); return }
        // Without a cap the same module grows past 3 pages.
        let free = try spawn(kernel, capped, "uncapped")
        _ = kernel.runUntilIdle(maxSlices: 1_000)
        #expect(kernel.state(of: free) == .exited(.exited(code: 99)))
        // A cap under the initial memory refuses the start.
        #expect(throws: (any Error).self) {
            try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(capped)), name: "tiny", memoryLimitBytes: 1_000, capability: ProcessCapability())
        }
    }

    /// 2. A `while(1)` guest beside a periodic guest: the periodic one keeps its period within a slice.
    @Test func spinnerBesidePeriodicGuestKeepsThePeriod() throws {
        let clock = ManualClock()
        var ticks: [UInt64] = []
        let kernel = boot(clock: clock) { line in if line.contains("tick") { ticks.append(clock.nanoseconds) } }
        _ = try spawn(kernel, "(module (func (export \"run\") (loop $forever (br $forever))))", "spinner")
        _ = try spawn(kernel, """
            (module (import "fireball" "sleep" (func $sleep (param i64))) (import "fireball" "log" (func $log (param i32 i32 i32)))
              (memory 1 1) (data (i32.const 0) "tick")
              (func (export "run") (local $i i32)
                (loop $next (call $sleep (i64.const 1000000)) (call $log (i32.const 2) (i32.const 0) (i32.const 4))
                  (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $next (i32.lt_u (local.get $i) (i32.const 20))))))
            """, "periodic")
        let slice: UInt64 = 300_000   // each slice stands for 300 µs of the board's time
        for _ in 0..<200 {
            kernel.runUntilIdle(maxSlices: 1)
            clock.advance(by: slice)
        }
        #expect(ticks.count == 20)
        for (a, b) in zip(ticks, ticks.dropFirst()) {
            #expect(b - a >= 1_000_000 && b - a <= 1_000_000 + 2 * slice, "period \(b - a) ns")
        }
    }

    /// 4. Traps, bad pointers, bad handles and invalid modules fail only the offender.
    @Test func faultsEndOnlyTheOffender() throws {
        var lines: [String] = []
        let kernel = boot { lines.append($0) }
        _ = try spawn(kernel, KernelTestGuests.pong, "pong")
        let ping = try spawn(kernel, KernelTestGuests.ping(20), "ping")
        let trapper = try spawn(kernel, "(module (func (export \"run\") unreachable))", "trapper")
        let misuser = try spawn(kernel, """
            (module (import "fireball" "channel_send" (func $send (param i32 i32 i32) (result i32)))
                    (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
                    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
              (memory 1 1) (data (i32.const 0) "fireball://pong/echo")
              (func (export "run")
                ;; bad handle, pointer past memory, garbage message: three errors, no harm
                (if (i32.ne (call $send (i32.const 77) (i32.const 0) (i32.const 4)) (i32.const -2)) (then (call $exit (i32.const 1))))
                (if (i32.ne (call $send (call $open (i32.const 0) (i32.const 20)) (i32.const 65530) (i32.const 100)) (i32.const -1)) (then (call $exit (i32.const 2))))
                (if (i32.ne (call $send (i32.const 0) (i32.const 0) (i32.const 13)) (i32.const -9)) (then (call $exit (i32.const 3))))
                (call $exit (i32.const 0))))
            """, "misuser")
        let entryless = try LoadedModule.load(try WasmTestSupport.wat("(module (func (export \"main2\")))"))
        let refusal = #expect(throws: Kernel.SpawnError.self) { try kernel.spawnGuest(entryless, name: "entryless", capability: ProcessCapability()) }
        #expect(refusal?.description.contains("neither _start nor run") == true)
        let invalid: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00]
        #expect(throws: WasmError.self) { try LoadedModule.load(invalid) }
        kernel.runUntilIdle()
        #expect(kernel.state(of: ping) == .exited(.exited(code: 2 * 19 * 20 / 2)))
        guard case .exited(.trapped(let trap))? = kernel.state(of: trapper) else { Issue.record("trapper should trap"); return }
        #expect(trap.reason == .unreachable)
        #expect(kernel.state(of: misuser) == .exited(.exited(code: 0)), "each misuse got its error code")
        #expect(lines.contains { $0.contains("[trapper]") && $0.contains("unreachable") })
    }
}
