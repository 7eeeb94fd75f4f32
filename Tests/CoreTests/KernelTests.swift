import Testing
@testable import Core

/// Guests in the text format, talking over `fireball://pong/echo`.
enum KernelTestGuests {
    static let imports = """
        (import "fireball" "channel_serve" (func $serve (param i32 i32) (result i32)))
        (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
        (import "fireball" "channel_send" (func $send (param i32 i32 i32) (result i32)))
        (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        """
    /// A one-entry message f:7 = i32 at bytes 32…44; its value is at byte 40.
    static let data = """
        (memory 1 1)
        (data (i32.const 0) "fireball://pong/echo")
        (data (i32.const 32) "\\01\\01\\00\\00\\01\\07\\00\\00\\00\\00\\00\\00\\00")
        """
    /// Sends 0…n-1, adds up the replies, exits with the sum.
    static func ping(_ n: Int) -> String {
        """
        (module \(imports) \(data)
          (func (export "run") (local $ch i32) (local $i i32) (local $sum i32)
            (local.set $ch (call $open (i32.const 0) (i32.const 20)))
            (loop $next
              (i32.store (i32.const 40) (local.get $i))
              (if (i32.ne (call $send (local.get $ch) (i32.const 32) (i32.const 13)) (i32.const 0)) (then (call $exit (i32.const 255))))
              (if (i32.ne (call $recv (local.get $ch) (i32.const 64) (i32.const 292)) (i32.const 13)) (then (call $exit (i32.const 254))))
              (local.set $sum (i32.add (local.get $sum) (i32.load (i32.const 72))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $next (i32.lt_u (local.get $i) (i32.const \(n)))))
            (call $exit (local.get $sum))))
        """
    }
    /// Serves the URI and echoes every message with its value doubled, until the channel closes.
    static let pong = """
        (module \(imports) \(data)
          (func (export "run") (local $ch i32) (local $n i32)
            (local.set $ch (call $serve (i32.const 0) (i32.const 20)))
            (loop $next
              (local.set $n (call $recv (local.get $ch) (i32.const 64) (i32.const 292)))
              (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $exit (i32.sub (i32.const 0) (local.get $n)))))
              (i32.store (i32.const 72) (i32.mul (i32.load (i32.const 72)) (i32.const 2)))
              (drop (call $send (local.get $ch) (i32.const 64) (local.get $n)))
              (br $next))))
        """
}

@Suite struct KernelTests {
    func boot(tracing: Bool = false) -> Kernel {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50), tracing: tracing))
        kernel.console = { _ in }
        return kernel
    }

    @Test func guestsRendezvousOverAServedURI() throws {
        let kernel = boot()
        let pong = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong)), name: "pong", capability: ProcessCapability())
        let ping = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(10))), name: "ping", capability: ProcessCapability())
        let idle = kernel.runUntilIdle()
        #expect(kernel.state(of: ping) == .exited(.exited(code: 90)), "2 × (0+…+9) echoed back")
        #expect(kernel.state(of: pong) == .blocked, "pong waits for the next message")
        #expect(idle == .waiting(nextDeadline: nil))
        // Closing the channel wakes the blocked receiver with "none" (FB_ECLOSED = -3).
        try kernel.close(try kernel.open("fireball://pong/echo"))
        #expect(kernel.runUntilIdle() == .allExited)
        #expect(kernel.state(of: pong) == .exited(.exited(code: 3)))
    }

    @Test func sameGuestsGiveTheSameInterleaving() throws {
        func trace() throws -> [String] {
            let kernel = boot(tracing: true)
            _ = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong)), name: "pong", capability: ProcessCapability())
            _ = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(25))), name: "ping", capability: ProcessCapability())
            kernel.runUntilIdle()
            return kernel.trace
        }
        let first = try trace()
        #expect(first.count > 50)
        #expect(try trace() == first)
    }

    @Test func sendOnAClosedChannelFailsAndOpenOfUnknownServiceIsAnError() throws {
        let kernel = boot()
        let channel = try kernel.serve("fireball://sensor/readings")
        #expect(throws: KernelError.denied) { try kernel.serve("fireball://sensor/readings") }
        #expect(throws: KernelError.noSuchService) { try kernel.open("fireball://nobody/here") }
        #expect(throws: KernelError.invalidArgument) { try kernel.open("http://sensor/readings") }
        try kernel.close(channel)
        let sender = kernel.newTask(name: "sender", role: .guest)
        guard case .failed(.closed)? = kernel.send(Message(), on: channel, by: sender) else { Issue.record("send on a closed channel must fail"); return }
    }

    /// A service that echoes every message back on the channel it came from.
    final class EchoService: KernelService {
        let channel: ChannelID
        var count = 0
        init(channel: ChannelID) { self.channel = channel }
        func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
            switch event {
            case .received(let message, _):
                count += 1
                var builder = MessageBuilder()
                for entry in message.entries {
                    if entry.type == .int32 { try? builder.add(entry.key, Int32(messageBits: entry.bits) * 2) } else { try? builder.add(entry) }
                }
                return .send(builder.build(), to: channel)
            default:
                return .receive([channel], timeoutNanoseconds: nil)
            }
        }
    }

    @Test func kernelServiceAndGuestRoundTrips() throws {
        let kernel = boot()
        let channel = try kernel.serve("fireball://pong/echo")
        let service = EchoService(channel: channel)
        _ = kernel.spawnService(service, name: "echo", capability: ProcessCapability())
        let ping = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(10))), name: "ping", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: ping) == .exited(.exited(code: 90)))
        #expect(service.count == 10)
    }

    @Test func altTakesWhicheverChannelIsReadyAndTimesOut() throws {
        let kernel = boot()
        let a = try kernel.makeChannel(), b = try kernel.makeChannel()
        let receiver = kernel.newTask(name: "receiver", role: .service)
        let sender = kernel.newTask(name: "sender", role: .service)
        receiver.state = .blocked
        sender.state = .blocked
        #expect(kernel.send(Message(), on: b, by: sender) == nil, "no receiver yet: the sender blocks")
        guard case .received(let index)? = kernel.receive(on: [a, b], by: receiver, timeout: nil) else { Issue.record("b is ready"); return }
        #expect(index == 1)
        #expect(sender.state == .runnable, "the rendezvous completed the send")
        receiver.state = .blocked
        #expect(kernel.receive(on: [a, b], by: receiver, timeout: 1_000) == nil)
        (kernel.clock as! ManualClock).advance(by: 1_000)
        kernel.fireTimers()
        guard case .completion(.failed(.timedOut))? = receiver.wake else { Issue.record("expected a timeout"); return }
    }

    @Test func unknownImportsFailAtSpawnNamingThem() throws {
        let kernel = boot()
        let module = try LoadedModule.load(try WasmTestSupport.wat("(module (import \"fireball\" \"teleport\" (func)) (func (export \"run\")))"))
        let error = #expect(throws: Kernel.SpawnError.self) { try kernel.spawnGuest(module, name: "bad", capability: ProcessCapability()) }
        #expect(error?.description.contains("fireball.teleport") == true)
    }
}

@Suite struct KernelPartitionTests {
    func boot(_ table: PartitionTable) -> Kernel {
        let configuration = KernelConfiguration(slice: .safePoints(50), executionLimits: ExecutionLimits(slots: 1024, frames: 0))
        let kernel = Kernel(clock: ManualClock(), configuration: configuration, partitions: table)
        kernel.console = { _ in }
        return kernel
    }

    static let small = PartitionTable(bytes: [.kernel: 4096, .runtime: 4096, .subsystem: 4096, .tier1: 8192,
                                              .guest: 512 * 1024, .stacks: 4 * 1024], stackSlotBytes: 1024)

    @Test func exitedAndKilledGuestsReturnEveryPartitionByte() throws {
        let kernel = boot(Self.small)
        let before = Dictionary(uniqueKeysWithValues: PartitionKind.allCases.map { ($0, kernel.partition($0).usedBytes) })
        let pongModule = try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong))
        let pong = try kernel.spawnGuest(pongModule, name: "pong", capability: ProcessCapability())
        let ping = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(5))), name: "ping", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: ping) == .exited(.exited(code: 20)))
        kernel.kill(pong, capability: ProcessCapability())
        // The channel pong served closed when it ended; only its registry entry stays (subsystem).
        for kind in [PartitionKind.guest, .stacks, .runtime, .tier1, .kernel] {
            #expect(kernel.partition(kind).usedBytes == before[kind], "\(kind) partition leaks")
        }
        // A restarted guest is a new task with fresh memory; the URI it served stays registered.
        let again = try kernel.spawnGuest(pongModule, name: "pong", capability: ProcessCapability())
        #expect(again != pong)
        #expect(kernel.partition(.guest).checkConsistency() == nil)
    }

    @Test func stackSlotsLimitTheNumberOfTasks() throws {
        let kernel = boot(Self.small)
        // Each task's call frames fill one 1 KiB slot (whole frames, plus an 8-byte block header).
        let slotBytes = (1024 / ExecutionLimits.frameBytes) * ExecutionLimits.frameBytes + 8
        let fitting = (4096 - 16) / slotBytes
        let module = try LoadedModule.load(try WasmTestSupport.wat("(module (memory 1 1) (func (export \"run\")))"))
        var started = 0
        var refusal: String?
        for i in 0..<10 {
            do { _ = try kernel.spawnGuest(module, name: "g\(i)", capability: ProcessCapability()); started += 1 } catch { refusal = "\(error)"; break }
        }
        #expect(started == fitting && fitting == 4)
        #expect(refusal?.contains("stack slot") == true, "\(refusal ?? "")")
    }

    @Test func kernelPartitionExhaustionIsAPanicNamingTheAllocation() throws {
        let kernel = boot(Self.small)
        var channels = 0
        while (try? kernel.makeChannel()) != nil { channels += 1 }
        #expect(channels >= 8 && channels < 20)
        #expect(kernel.panicReport?.partition == .kernel)
        #expect(kernel.panicReport?.description.contains("channel #\(channels + 1)") == true)
        #expect(kernel.runUntilIdle() == .panicked)
    }

    @Test func closedChannelsGiveTheirKernelBytesBack() throws {
        let kernel = boot(Self.small)   // 4 KiB of kernel partition: about ten channels
        let empty = kernel.partition(.kernel).usedBytes
        // Served, closed and served again (a server that restarts or whose channel was closed under
        // it), far more often than the partition holds channels at once.
        for _ in 0..<100 {
            let served = try kernel.serve("fireball://echo/x")
            let spare = try kernel.makeChannel()
            try kernel.close(served)
            try kernel.close(spare)
            try kernel.close(spare)   // twice: freed once
        }
        #expect(kernel.panicReport == nil)
        #expect(kernel.partition(.kernel).usedBytes == empty)
        #expect(kernel.partition(.kernel).checkConsistency() == nil)
    }

    @Test func guestMemoryComesFromTheGuestPartitionAndGrowthStopsAtItsEnd() throws {
        let kernel = boot(Self.small)
        let grower = try LoadedModule.load(try WasmTestSupport.wat("""
            (module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory 1)
              (func (export "run") (local $pages i32)
                (loop $more (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then
                  (local.set $pages (i32.add (local.get $pages) (i32.const 1))) (br $more))))
                (call $exit (local.get $pages))))
            """))
        let task = try kernel.spawnGuest(grower, name: "grower", capability: ProcessCapability())
        kernel.runUntilIdle()
        guard case .exited(.exited(let pages))? = kernel.state(of: task) else { Issue.record("grower did not exit"); return }
        // 512 KiB less an 8 KiB value stack: a growing block moves (old and new coexist while it
        // is copied) unless the space after it is free, so 3 to 6 more pages fit, never 8.
        #expect(pages >= 3 && pages < 7, "grew \(pages) pages")
        #expect(kernel.partition(.guest).usedBytes < 64, "the exited guest gave its memory back")
    }
}

@Suite struct KernelLifetimeTests {
    @Test func aKernelWithBlockedGuestsIsFreedWhenDropped() throws {
        weak var weakKernel: Kernel?
        do {
            let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
            kernel.console = { _ in }
            _ = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong)), name: "pong", capability: ProcessCapability())
            kernel.runUntilIdle()
            weakKernel = kernel
        }
        #expect(weakKernel == nil, "host functions must not keep the kernel alive")
    }
}

@Suite struct CapabilityTests {
    @Test func capabilitiesAreMintedOnceAndASecondMintTraps() async {
        await #expect(processExitsWith: .failure) {
            let kernel = Kernel(clock: ManualClock())
            let first = kernel.mintCapabilities()
            _ = first
            let second = kernel.mintCapabilities()   // traps: one-time initialisation ran twice
            _ = second
        }
    }

    @Test func oneTimeInitialisationTrapsWhenRunTwice() async {
        await #expect(processExitsWith: .failure) {
            var cell = OnceCell<Int>()
            cell.initialize(1, "test component")
            cell.initialize(2, "test component")
        }
    }
}

@Suite struct RolePolicyTests {
    @Test func loggingOnlyReceivesAndDenialsAreLogged() throws {
        let kernel = Kernel(clock: ManualClock())
        var lines: [String] = []
        kernel.console = { lines.append($0) }
        let capabilities = kernel.mintCapabilities()
        _ = try kernel.serve("fireball://log/lines", systemRole: .logging, capability: capabilities.systemRole)
        _ = try kernel.serve("fireball://sensor/readings")
        #expect(throws: KernelError.denied) { try kernel.serve("fireball://hal/gpio", role: .hal) }
        #expect(try kernel.open("fireball://log/lines", as: .guest) == kernel.open("fireball://log/lines", as: .service))
        #expect(throws: KernelError.denied) { try kernel.open("fireball://sensor/readings", as: .logging, by: "logger") }
        #expect(lines.contains { $0.contains("denied") && $0.contains("logger") && $0.contains("fireball://sensor/readings") })
    }
}

@Suite struct RestartPolicyTests {
    /// Traps on every start, unless it finds the mark an earlier life left in memory.
    static let crasher = """
        (module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory 1 1)
          (func (export "run")
            (if (i32.eq (i32.load (i32.const 100)) (i32.const 0xC0FFEE)) (then (call $exit (i32.const 99))))
            (i32.store (i32.const 100) (i32.const 0xC0FFEE))
            unreachable))
        """

    @Test func restartsGiveNewTasksWithFreshMemoryUpToTheLimit() throws {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
        var lines: [String] = []
        kernel.console = { lines.append($0) }
        let module = try LoadedModule.load(try WasmTestSupport.wat(Self.crasher))
        var task = try kernel.spawnGuest(module, name: "crasher", restart: .restartUpTo(count: 3, withinNanoseconds: 1_000_000_000),
                                         capability: ProcessCapability())
        kernel.runUntilIdle()
        var lives: [TaskID] = [task]
        while let next = kernel.successor(of: task) { lives.append(next); task = next }
        #expect(lives.count == 4, "the first start and three restarts")
        #expect(Set(lives).count == 4, "every restart is a new task id")
        for life in lives {
            guard case .exited(.trapped(let trap))? = kernel.state(of: life) else { Issue.record("\(life) should trap, not see old memory"); continue }
            #expect(trap.reason == .unreachable)
        }
        #expect(lines.contains { $0.contains("not restarted: 3 restarts") })
    }

    @Test func stopPolicyLeavesTheGuestStopped() throws {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
        kernel.console = { _ in }
        let task = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.crasher)), name: "crasher", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.successor(of: task) == nil)
    }
}

@Suite struct ServerExitTests {
    @Test func peersOfAnEndedServerFailInsteadOfWaitingAndARestartServesAgain() throws {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
        kernel.console = { _ in }
        // A server that takes one message and then spins without answering.
        let mute = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat("""
            (module \(KernelTestGuests.imports) \(KernelTestGuests.data)
              (func (export "run") (local $ch i32)
                (local.set $ch (call $serve (i32.const 0) (i32.const 20)))
                (drop (call $recv (local.get $ch) (i32.const 64) (i32.const 292)))
                (loop $forever (br $forever))))
            """)), name: "mute", capability: ProcessCapability())
        let ping = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(3))), name: "ping", capability: ProcessCapability())
        kernel.runUntilIdle(maxSlices: 20)
        #expect(kernel.state(of: ping) == .blocked, "ping waits for a reply that will not come")
        kernel.kill(mute, capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: ping) == .exited(.exited(code: 254)), "its receive failed with ECLOSED")
        // The URI can be served again (a restart), on a fresh channel.
        let again = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong)), name: "pong", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: again) == .blocked, "serving again worked: it waits for messages")
    }
}

@Suite struct ExhaustionEffectTests {
    static let table = PartitionTable(bytes: [.kernel: 64 * 1024, .runtime: 8 * 1024, .subsystem: 1024, .tier1: 160 * 1024,
                                              .guest: 512 * 1024, .stacks: 16 * 1024], stackSlotBytes: 1024)

    func boot() -> Kernel {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50), executionLimits: ExecutionLimits(slots: 1024, frames: 0)),
                            partitions: Self.table)
        kernel.console = { _ in }
        return kernel
    }

    @Test func tierOneExhaustionEndsOnlyThatService() throws {
        let kernel = boot()
        // A tier-1 service that needs three pages cannot fit 160 KiB; guests are not affected.
        let big = try LoadedModule.load(try WasmTestSupport.wat("(module (memory 3 3) (func (export \"run\")))"))
        #expect(throws: Kernel.SpawnError.self) { try kernel.spawnGuest(big, name: "service", role: .service, capability: ProcessCapability()) }
        #expect(kernel.partition(.guest).usedBytes < 64)
        _ = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.pong)), name: "pong", capability: ProcessCapability())
        let ping = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(KernelTestGuests.ping(5))), name: "ping", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: ping) == .exited(.exited(code: 20)))
    }

    @Test func subsystemExhaustionStopsNewRegistrationsAndTheNodeGoesOn() throws {
        let kernel = boot()
        var served = 0
        var failure: KernelError?
        for i in 0..<100 {
            do { _ = try kernel.serve("fireball://svc\(i)/stream"); served += 1 } catch { failure = error; break }
        }
        #expect(failure == .noMemory)
        #expect(served > 5 && served < 100)
        #expect(kernel.panicReport == nil, "the subsystem partition running out is not a panic")
        _ = try kernel.open("fireball://svc0/stream")   // what was registered keeps working
    }
}
