// Fault isolation under floods (issue 13): on a node of every shipped board, a guest that calls
// serve, open, device_open or value_alloc in a loop gets an error (or nothing grows at all), and a
// pair of neighbours on the same node still exchange every message. The kernel never panics, and
// nothing of the flooder's stays behind when it ends.
@testable import Core
import Foundation
import HAL
import Testing
@testable import Orchestrator

@Suite struct GuestFloodTests {
    static let boards = ["esp32-c3", "microbit-v2", "cortex-m33", "linux-host"]
    static let exchanges = 40

    static let imports = """
        (import "fireball" "channel_serve" (func $serve (param i32 i32) (result i32)))
        (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
        (import "fireball" "channel_send" (func $send (param i32 i32 i32) (result i32)))
        (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
        (import "fireball" "channel_close" (func $close (param i32) (result i32)))
        (import "fireball" "value_alloc" (func $alloc (param i32) (result i32)))
        (import "fireball" "value_free" (func $free (param i32) (result i32)))
        (import "fireball" "device_open" (func $device (param i32 i32) (result i32)))
        (import "fireball" "yield" (func $yield))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        """
    /// The pair's URI at 0 (17 bytes), a one-entry message at 32…44, "gpio0" at 48, the flood's
    /// URI at 64 (21 bytes, its last four letters rewritten per call). 512 bytes of memory.
    static let data = """
        (memory 1 1)
        (data (i32.const 0) "fireball://pair/x")
        (data (i32.const 32) "\\01\\01\\00\\00\\01\\07\\00\\00\\00\\00\\00\\00\\00")
        (data (i32.const 48) "gpio0")
        (data (i32.const 64) "fireball://flood/aaaa")
        """

    /// A module with 512-byte memory, so that even the M33's guest partition holds four.
    static func guest(_ body: String) throws -> LoadedModule {
        try LoadedModule.load(Fixtures.withOneBytePages(try Fixtures.wat("(module \(imports) \(data) \(body))"), size: 512))
    }

    /// Serves the pair's URI, takes `exchanges` messages (allocating and freeing a co_value for
    /// each, so a flooded value table would show), exits with how many it took.
    static let server = """
        (func (export "run") (local $ch i32) (local $n i32) (local $v i32)
          (local.set $ch (call $serve (i32.const 0) (i32.const 17)))
          (if (i32.lt_s (local.get $ch) (i32.const 0)) (then (call $exit (i32.const 250))))
          (loop $next
            (if (i32.lt_s (call $recv (local.get $ch) (i32.const 128) (i32.const 292)) (i32.const 0)) (then (call $exit (i32.const 251))))
            (local.set $v (call $alloc (i32.const 32)))
            (if (i32.lt_s (local.get $v) (i32.const 0)) (then (call $exit (i32.const 252))))
            (if (i32.ne (call $free (local.get $v)) (i32.const 0)) (then (call $exit (i32.const 253))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $n) (i32.const \(exchanges)))))
          (call $exit (local.get $n)))
        """
    /// Opens the pair's URI (yielding until it is served) and sends `exchanges` messages.
    static let client = """
        (func (export "run") (local $ch i32) (local $n i32)
          (loop $wait
            (local.set $ch (call $open (i32.const 0) (i32.const 17)))
            (if (i32.lt_s (local.get $ch) (i32.const 0)) (then (call $yield) (br $wait))))
          (loop $next
            (if (i32.ne (call $send (local.get $ch) (i32.const 32) (i32.const 13)) (i32.const 0)) (then (call $exit (i32.const 254))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $n) (i32.const \(exchanges)))))
          (call $exit (local.get $n)))
        """

    /// Calls `call` (an i32 expression; negative is an error) until it fails or 20,000 calls
    /// succeed, yielding every 64 calls so its neighbours run meanwhile; before each call the
    /// flood URI's last four letters spell the call's number. Exits with calls << 8 | -error.
    static func flooder(_ call: String) -> String {
        """
        (func (export "run") (local $i i32) (local $r i32) (local $k i32)
          (loop $more
            (local.set $k (i32.const 0))
            (loop $letters
              (i32.store8 (i32.add (i32.const 81) (local.get $k))
                (i32.add (i32.const 97) (i32.and (i32.shr_u (local.get $i) (i32.shl (local.get $k) (i32.const 2))) (i32.const 15))))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $letters (i32.lt_u (local.get $k) (i32.const 4))))
            (local.set $r \(call))
            (if (i32.ge_s (local.get $r) (i32.const 0)) (then
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (if (i32.eqz (i32.and (local.get $i) (i32.const 63))) (then (call $yield)))
              (br_if $more (i32.lt_u (local.get $i) (i32.const 20000))))))
          (call $exit (i32.or (i32.shl (local.get $i) (i32.const 8)) (i32.and (i32.sub (i32.const 0) (local.get $r)) (i32.const 255)))))
        """
    }

    enum Flood: String, CaseIterable {
        case serve, open, deviceOpen, valueAlloc
        var call: String {
            switch self {
            case .serve: "(call $serve (i32.const 64) (i32.const 21))"
            case .open: "(call $open (i32.const 0) (i32.const 17))"
            case .deviceOpen: "(call $device (i32.const 48) (i32.const 5))"
            case .valueAlloc: "(call $alloc (i32.const 16))"
            }
        }
    }

    struct Outcome {
        var calls: Int32
        var error: Int32
    }

    /// Boots a node of `boardName`, starts the pair and the flooder (each with the kernel budget a
    /// module of its manifest would get), runs until all three end, and checks the pair.
    func flood(_ flood: Flood, on boardName: String) throws -> (Outcome, SimulatedCluster.Node) {
        let board = try Fixtures.board(boardName)
        let node = try SimulatedCluster([("n", board)])["n"]
        let kernelPartitionAtBoot = node.usedBytes(.kernel)
        let guestPartitionAtBoot = node.usedBytes(.guest)
        let server = try node.kernel.spawnGuest(try Self.guest(Self.server), name: "server",
                                                kernelBudgetBytes: KernelBudget.bytes(serves: ["fireball://pair/x"], uses: [], devices: 0), capability: node.process)
        let flooder = try node.kernel.spawnGuest(try Self.guest(Self.flooder(flood.call)), name: "flooder", devices: ["gpio0"],
                                                 kernelBudgetBytes: KernelBudget.bytes(serves: [], uses: ["fireball://pair/x"], devices: 1), capability: node.process)
        let client = try node.kernel.spawnGuest(try Self.guest(Self.client), name: "client",
                                                kernelBudgetBytes: KernelBudget.bytes(serves: [], uses: ["fireball://pair/x"], devices: 0), capability: node.process)
        var rounds = 0
        while [server, flooder, client].contains(where: { if case .exited = node.kernel.state(of: $0) { false } else { true } }), rounds < 10_000 {
            node.kernel.runUntilIdle(maxSlices: 100)
            rounds += 1
        }
        #expect(node.kernel.panicReport == nil, "\(flood) on \(boardName)")
        #expect(node.kernel.state(of: server) == .exited(.exited(code: Int32(Self.exchanges))), "\(flood) on \(boardName): the server took every message")
        #expect(node.kernel.state(of: client) == .exited(.exited(code: Int32(Self.exchanges))), "\(flood) on \(boardName): the client sent every message")
        guard case .exited(.exited(let code))? = node.kernel.state(of: flooder) else {
            Issue.record("\(flood) on \(boardName): the flooder did not exit: \(String(describing: node.kernel.state(of: flooder)))")
            return (Outcome(calls: -1, error: -1), node)
        }
        // All three ended: the partitions are as the node booted (nothing of theirs stays).
        #expect(node.usedBytes(.kernel) == kernelPartitionAtBoot, "\(flood) on \(boardName)")
        #expect(node.usedBytes(.guest) == guestPartitionAtBoot, "\(flood) on \(boardName)")
        return (Outcome(calls: code >> 8, error: -(code & 255)), node)
    }

    @Test(arguments: boards)
    func aGuestThatServesForEverRunsOutOfItsBudgetAlone(board: String) throws {
        let (outcome, node) = try flood(.serve, on: board)
        #expect(outcome.error == KernelError.noMemory.rawValue)
        // Its budget holds one served URI (a registry entry, a channel, a handle) and a little more.
        #expect(outcome.calls >= 1 && outcome.calls < 10, "\(outcome.calls) URIs served on \(board)")
        #expect(node.kernel.servedURIs.allSatisfy { !$0.uri.hasPrefix("fireball://flood/") }, "its URIs left the registry with it")
    }

    @Test(arguments: boards)
    func aGuestThatOpensForEverRunsOutOfHandlesAlone(board: String) throws {
        let (outcome, _) = try flood(.open, on: board)
        #expect(outcome.error == KernelError.noMemory.rawValue)
        #expect(outcome.calls >= 1 && outcome.calls < 64, "\(outcome.calls) handles on \(board)")
    }

    @Test(arguments: boards)
    func aGuestThatOpensItsDeviceForEverGetsOneHandle(board: String) throws {
        // Every open of the same device is the same handle: 20,000 cost one reply channel.
        let (outcome, node) = try flood(.deviceOpen, on: board)
        #expect(outcome.error == 0 && outcome.calls == 20_000)
        #expect(node.kernel.openChannelCount == (try Fixtures.board(board)).devices.count, "the device service's, and nothing left of the guests'")
    }

    @Test(arguments: boards)
    func aGuestThatAllocatesValuesForEverRunsOutAlone(board: String) throws {
        let (outcome, node) = try flood(.valueAlloc, on: board)
        #expect(outcome.error == KernelError.noMemory.rawValue)
        #expect(outcome.calls == Int32(KernelBudget.valuesPerGuestMax), "\(outcome.calls) values on \(board)")
        #expect(node.kernel.liveValueCount == 0)
    }

    /// A guest that allocates and frees for ever reuses one slot: the node's table does not grow,
    /// and a handle freed and reused is not the new value's (its generation differs).
    @Test func valueSlotsAreReusedAndStaleHandlesStayInvalid() throws {
        let node = try SimulatedCluster([("n", try Fixtures.board("cortex-m33"))])["n"]
        let task = try node.kernel.spawnGuest(try Self.guest("""
            (func (export "run") (local $i i32) (local $first i32) (local $v i32)
              (local.set $first (call $alloc (i32.const 8)))
              (drop (call $free (local.get $first)))
              (loop $more
                (local.set $v (call $alloc (i32.const 8)))
                (if (i32.lt_s (local.get $v) (i32.const 0)) (then (call $exit (i32.const 201))))
                (if (i32.ne (call $free (local.get $v)) (i32.const 0)) (then (call $exit (i32.const 202))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $more (i32.lt_u (local.get $i) (i32.const 100000))))
              ;; the first handle is stale: freeing it again is EBADF (-2)
              (call $exit (i32.sub (i32.const 0) (call $free (local.get $first)))))
            """), name: "churn", capability: node.process)
        while node.kernel.state(of: task) == .runnable { node.kernel.runUntilIdle(maxSlices: 1000) }
        #expect(node.kernel.state(of: task) == .exited(.exited(code: 2)))
        #expect(node.kernel.values.count == 1, "one slot, reused 100,001 times")
    }

    /// A guest's co_values count against its memory limit: a guest capped at 1 KiB of memory that
    /// already has 512 bytes gets ENOMEM for a 600-byte value.
    @Test func valuesCountAgainstTheMemoryLimit() throws {
        let node = try SimulatedCluster([("n", try Fixtures.board("cortex-m33"))])["n"]
        let task = try node.kernel.spawnGuest(try Self.guest("""
            (func (export "run") (local $a i32)
              (local.set $a (call $alloc (i32.const 400)))
              (if (i32.lt_s (local.get $a) (i32.const 0)) (then (call $exit (i32.const 100))))
              ;; 512 + 400 + 200 > 1024
              (call $exit (i32.sub (i32.const 0) (call $alloc (i32.const 200)))))
            """), name: "capped", memoryLimitBytes: 1024, capability: node.process)
        node.kernel.runUntilIdle()
        #expect(node.kernel.state(of: task) == .exited(.exited(code: -KernelError.noMemory.rawValue)))
    }
}

/// The figures Docs/kernel.md gives for the greenhouse's budgets.
@Suite struct KernelBudgetFigureTests {
    @Test func theGreenhouseBudgetsAreTheDocumented() throws {
        let app = try AppManifest.load(path: "\(Fixtures.root)/Deploy/apps/greenhouse.yaml")
        let board = try Fixtures.board("esp32-c3")
        let budgets = Dictionary(uniqueKeysWithValues: app.modules.map { ($0.name, KernelCosts.kernelBudgetBytes($0, on: board)) })
        #expect(budgets == ["sensor": 1_296, "aggregator": 968, "actuator": 1_352])
        #expect(KernelBudget.bytes(serves: [], uses: [], devices: 0) == 144)
        #expect(KernelBudget.blockBytes(Channel.kernelBytes) == 368)
    }
}

extension GuestFloodTests {
    /// A guest that serves, closes and serves again for ever reuses one channel slot: the node's
    /// table stays small.
    @Test func serveAndCloseForEverReusesOneSlot() throws {
        let node = try SimulatedCluster([("n", try Fixtures.board("cortex-m33"))])["n"]
        let slotsAtBoot = node.kernel.channels.slotCount
        let task = try node.kernel.spawnGuest(try Self.guest("""
            (func (export "run") (local $i i32) (local $h i32)
              (loop $more
                (local.set $h (call $serve (i32.const 64) (i32.const 21)))
                (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (i32.const 201))))
                (if (i32.ne (call $close (local.get $h)) (i32.const 0)) (then (call $exit (i32.const 202))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $more (i32.lt_u (local.get $i) (i32.const 50000))))
              (call $exit (i32.const 0)))
            """), name: "churn", capability: node.process)
        while node.kernel.state(of: task) == .runnable { node.kernel.runUntilIdle(maxSlices: 1000) }
        #expect(node.kernel.state(of: task) == .exited(.exited(code: 0)))
        #expect(node.kernel.channels.slotCount - slotsAtBoot <= 1 + 50_000 / ChannelTable.generationMax, "\(node.kernel.channels.slotCount - slotsAtBoot) slots")
    }

    /// A closed channel's id reads as closed after its slot serves a new channel.
    @Test func aReusedSlotDoesNotReviveAnOldID() throws {
        let kernel = Kernel(clock: ManualClock())
        let first = try kernel.makeChannel()
        try kernel.close(first)
        let second = try kernel.makeChannel()
        #expect(second != first && second.raw & (ChannelTable.slotsMax - 1) == first.raw & (ChannelTable.slotsMax - 1))
        #expect(kernel.channels[first]?.isClosed == true && kernel.channels[second]?.isClosed == false)
        #expect(throws: Never.self) { try kernel.close(first) }
        #expect(kernel.channels[second]?.isClosed == false, "closing the old id again leaves the new channel alone")
    }
}
