import Testing
@testable import Core

@Suite struct CoValueTests {
    static let imports = """
        (import "fireball" "channel_serve" (func $serve (param i32 i32) (result i32)))
        (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
        (import "fireball" "channel_send" (func $send (param i32 i32 i32) (result i32)))
        (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
        (import "fireball" "value_alloc" (func $alloc (param i32) (result i32)))
        (import "fireball" "value_write" (func $vwrite (param i32 i32 i32 i32) (result i32)))
        (import "fireball" "value_read" (func $vread (param i32 i32 i32 i32) (result i32)))
        (import "fireball" "value_free" (func $vfree (param i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory 1 1)
        (data (i32.const 0) "fireball://store/blocks")
        (data (i32.const 32) "\\01\\01\\00\\00\\04\\01\\00\\00\\00\\00\\00\\00\\00")
        (data (i32.const 64) "hello")
        """

    /// Allocates a value, fills it, sends it; afterwards it must no longer be able to read it.
    static let giver = """
        (module \(imports)
          (func (export "run") (local $ch i32) (local $v i32)
            (local.set $ch (call $open (i32.const 0) (i32.const 23)))
            (local.set $v (call $alloc (i32.const 16)))
            (if (i32.ne (call $vwrite (local.get $v) (i32.const 0) (i32.const 64) (i32.const 5)) (i32.const 0)) (then (call $exit (i32.const 1))))
            (i32.store (i32.const 40) (local.get $v))
            (if (i32.ne (call $send (local.get $ch) (i32.const 32) (i32.const 13)) (i32.const 0)) (then (call $exit (i32.const 2))))
            ;; ownership moved: reading, writing or freeing it is FB_ENOTOWNER (-10)
            (if (i32.ne (call $vread (local.get $v) (i32.const 0) (i32.const 128) (i32.const 5)) (i32.const -10)) (then (call $exit (i32.const 3))))
            (if (i32.ne (call $vfree (local.get $v)) (i32.const -10)) (then (call $exit (i32.const 4))))
            (call $exit (i32.const 0))))
        """

    /// Receives the value and exits with its first byte ('h' = 104) plus a check of the rest.
    static let taker = """
        (module \(imports)
          (func (export "run") (local $ch i32) (local $v i32)
            (local.set $ch (call $serve (i32.const 0) (i32.const 23)))
            (if (i32.ne (call $recv (local.get $ch) (i32.const 256) (i32.const 292)) (i32.const 13)) (then (call $exit (i32.const 1))))
            (local.set $v (i32.load (i32.const 264)))
            (if (i32.ne (call $vread (local.get $v) (i32.const 0) (i32.const 512) (i32.const 5)) (i32.const 0)) (then (call $exit (i32.const 2))))
            (if (i32.ne (i32.load8_u (i32.const 516)) (i32.const 111)) (then (call $exit (i32.const 3))))
            ;; past the block's end is EINVAL (-1), a made-up handle EBADF (-2)
            (if (i32.ne (call $vread (local.get $v) (i32.const 12) (i32.const 512) (i32.const 5)) (i32.const -1)) (then (call $exit (i32.const 4))))
            (if (i32.ne (call $vread (i32.const 999) (i32.const 0) (i32.const 512) (i32.const 1)) (i32.const -2)) (then (call $exit (i32.const 5))))
            (call $exit (i32.load8_u (i32.const 512)))))
        """

    @Test func ownershipMovesWithTheMessageAndTheBlockIsFreedWithItsOwner() throws {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
        kernel.console = { _ in }
        let before = kernel.partition(.guest).usedBytes
        let taker = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.taker)), name: "taker", capability: ProcessCapability())
        let giver = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.giver)), name: "giver", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: giver) == .exited(.exited(code: 0)))
        #expect(kernel.state(of: taker) == .exited(.exited(code: 104)))
        #expect(kernel.liveValueCount == 0, "the taker's exit freed the value")
        #expect(kernel.partition(.guest).usedBytes == before)
    }

    @Test func swiftOwnedValuesAreConsumedWhenAttached() throws {
        let kernel = Kernel(clock: ManualClock())
        let service = kernel.newTask(name: "service", role: .service)
        let value = try kernel.allocateValue(32, for: service.id)
        let id = value.id
        var builder = MessageBuilder()
        try value.attach(to: &builder, key: .functional(1))   // `value` is gone from here on
        let message = builder.build()
        #expect(message[.functional(1)] == id)
        let other = kernel.newTask(name: "other", role: .guest)
        #expect(throws: KernelError.notOwner) { _ = try kernel.valueBytes(id, for: other.id) }
        try kernel.takeValues(in: message, from: service.id)
        #expect(throws: KernelError.notOwner) { _ = try kernel.valueBytes(id, for: service.id) }
        kernel.deliverValues(in: message, to: other.id)
        #expect(try kernel.valueBytes(id, for: other.id).count == 32)
    }
}
