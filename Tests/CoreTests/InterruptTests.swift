import Testing
@testable import Core

/// Interrupts delivered into guests: once per raise, masked causes wait, floods starve nobody.
@Suite struct InterruptTests {
    /// Enables cause 3 (unless told to start masked), counts handled interrupts in a global and
    /// acknowledges each; sleeps in a loop until `target` were handled, then exits with the count.
    static func listener(target: Int, startMasked: Bool = false) -> String {
        """
        (module
          (import "fireball" "interrupt_enable" (func $enable (param i32) (result i32)))
          (import "fireball" "interrupt_mask" (func $mask (param i32) (result i32)))
          (import "fireball" "interrupt_ack" (func $ack (param i32) (result i32)))
          (import "fireball" "sleep" (func $sleep (param i64)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (global $handled (mut i32) (i32.const 0))
          (func (export "interrupt_handler") (param $cause i32)
            (global.set $handled (i32.add (global.get $handled) (i32.const 1)))
            (drop (call $ack (local.get $cause))))
          (func (export "run")
            (drop (call $enable (i32.const 3)))
            \(startMasked ? "(drop (call $mask (i32.const 3)))" : "")
            (loop $wait
              (call $sleep (i64.const 1000000))
              (br_if $wait (i32.lt_u (global.get $handled) (i32.const \(target)))))
            (call $exit (global.get $handled))))
        """
    }

    func boot() -> Kernel {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
        kernel.console = { _ in }
        return kernel
    }

    @Test func theHandlerRunsOncePerRaise() throws {
        let kernel = boot()
        let task = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.listener(target: 3))), name: "listener", capability: ProcessCapability())
        kernel.runUntilIdle()                      // enabled, now sleeping
        for _ in 0..<3 { kernel.raiseInterrupt(3, for: task) }
        kernel.runUntilIdle()
        #expect(kernel.state(of: task) == .exited(.exited(code: 3)))
        #expect(kernel.interruptsDelivered == 3)
    }

    @Test func maskedCausesWaitAndDisabledOnesAreNotDelivered() throws {
        let kernel = boot()
        let task = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.listener(target: 1, startMasked: true))), name: "listener", capability: ProcessCapability())
        kernel.runUntilIdle()
        kernel.raiseInterrupt(3, for: task)        // masked: waits
        kernel.raiseInterrupt(4, for: task)        // never enabled: never delivered
        kernel.runUntilIdle()
        #expect(kernel.interruptsDelivered == 0)
        #expect(kernel.state(of: task) == .sleeping)
        // Unmask by enabling again (from outside, as the guest would): the waiting one is delivered.
        kernel.tasks[task]!.guest!.interrupts.enabled |= 1 << 3
        kernel.tasks[task]!.guest!.interrupts.masked = 0
        (kernel.clock as! ManualClock).advance(by: 2_000_000)
        kernel.runUntilIdle()
        #expect(kernel.interruptsDelivered == 1)
        #expect(kernel.state(of: task) == .exited(.exited(code: 1)))
    }

    @Test func anInterruptFloodDoesNotStarveOtherGuests() throws {
        let kernel = boot()
        _ = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong)), name: "pong", capability: ProcessCapability())
        let ping = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(50))), name: "ping", capability: ProcessCapability())
        let flooded = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.listener(target: 1_000_000))), name: "flooded", capability: ProcessCapability())
        var slices = 0
        while kernel.state(of: ping) != .exited(.exited(code: 2 * 49 * 50 / 2)) && slices < 2_000 {
            for _ in 0..<20 { kernel.raiseInterrupt(3, for: flooded) }
            kernel.runUntilIdle(maxSlices: 1)
            (kernel.clock as! ManualClock).advance(by: 300_000)
            slices += 1
        }
        #expect(kernel.state(of: ping) == .exited(.exited(code: 2 * 49 * 50 / 2)), "ping/pong finished under the flood")
        #expect(kernel.interruptsDelivered > 50, "the flooded guest kept handling them: \(kernel.interruptsDelivered)")
    }
}
