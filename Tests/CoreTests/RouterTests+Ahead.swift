// Receiving ahead: a task that receives on a remote channel again soon after taking a message has a
// want waiting at the serving node before it asks, so the next message is already here when it does.
// It must change no outcome: a want ahead never takes its own node's message, never keeps a message
// from a receiver that waits, and gives back what no task takes in time.
import Testing
@testable import Core

extension RouterTests {
    static let stream = "fireball://feed/numbers"

    static func number(_ value: UInt32) -> Message {
        var builder = MessageBuilder()
        try! builder.add(.functional(1), value)
        return builder.build()
    }

    private func wantsAhead(_ network: RouterNetwork) -> Int {
        network.framesSent.count { if case .want(_, _, _, true) = $0 { true } else { false } }
    }

    @Test func aPingPongReceivesAhead() throws {
        let network = RouterNetwork(["a", "b"])
        try network.spawn("pong", on: "b")
        try network.spawn("ping", on: "a")
        try network.run(for: 2_000_000_000)
        let a = network.nodes["a"]!
        #expect(a.lines(containing: "ping: echo ok").count == 10)
        // The first two echoes are asked for; from then on a want waits at b before ping receives.
        let plainWants = network.framesSent.count { if case .want(_, _, _, false) = $0 { true } else { false } }
        #expect(plainWants <= 2 && wantsAhead(network) >= 8, "wants: \(plainWants) asked, \(wantsAhead(network)) ahead")
        #expect(a.router.offersReturned == 0)

        let off = RouterNetwork(["a", "b"])
        off.nodes["a"]!.router.aheadNanoseconds = 0
        try off.spawn("pong", on: "b")
        try off.spawn("ping", on: "a")
        try off.run(for: 2_000_000_000)
        #expect(off.nodes["a"]!.lines(containing: "ping: echo ok").count == 10)
        #expect(off.nodes["a"]!.router.offersTaken == 0 && wantsAhead(off) == 0, "turned off, nothing is received ahead")
    }

    @Test func aWantAheadNeverTakesItsOwnNodesMessage() throws {
        // t on a takes two numbers (so it receives ahead), then sends 3 on the same channel while
        // the server on b is busy: the server must get it, though a's want ahead waits at b.
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let channel = try b.kernel.serve(Self.stream, role: .service)
        var serverGot: [UInt32] = []
        var sends = 0
        _ = b.kernel.spawnService(ScriptedService { event, _ in
            switch event {
            case .start: return .send(Self.number(1), to: channel)
            case .sent:
                sends += 1
                return sends == 1 ? .send(Self.number(2), to: channel) : .sleep(nanoseconds: 10_000_000)
            case .resumed: return .receive([channel], timeoutNanoseconds: nil)
            case .received(let message, _):
                serverGot.append(message[.functional(1)] ?? 0)
                return .exit
            case .failed: return .exit
            }
        }, name: "server", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        var taken: [UInt32] = []
        var sentAt: UInt64?
        var mirror = ChannelID(raw: 0)
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start:
                mirror = try! kernel.open(Self.stream, as: .service)
                return .receive([mirror], timeoutNanoseconds: nil)
            case .received(let message, _):
                taken.append(message[.functional(1)] ?? 0)
                return taken.count < 2 ? .receive([mirror], timeoutNanoseconds: nil) : .send(Self.number(3), to: mirror)
            case .sent:
                sentAt = kernel.clock.nanoseconds
                return .exit
            default: return .exit
            }
        }, name: "t", capability: ProcessCapability())
        try network.run(for: 100_000_000)
        #expect(taken == [1, 2])
        #expect(wantsAhead(network) >= 1, "t received ahead after its second number")
        #expect(serverGot == [3], "the server took t's message")
        #expect(a.router.offersReturned == 0, "t's message never came back to a")
        // The send completed when the server received, after its 10 ms sleep.
        #expect(sentAt.map { $0 >= 10_000_000 && $0 < 12_000_000 } == true, "\(String(describing: sentAt))")
    }

    @Test func aMessageNoTaskTakesGoesBackAfterTheHold() throws {
        // t on a takes two numbers and then sleeps; the server's third number goes to a's want ahead,
        // waits there 2 ms for a task, then goes back to b where a local receiver waits by then.
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let channel = try b.kernel.serve(Self.stream, role: .service)
        try network.run(for: 1_000_000)            // b announces the URI
        var thirdStartedAt: UInt64?, thirdSentAt: UInt64?
        var next: UInt32 = 1
        _ = b.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start: return .send(Self.number(1), to: channel)
            case .sent:
                next += 1
                if next == 3 { return .sleep(nanoseconds: 5_000_000) }
                if next == 4 { thirdSentAt = kernel.clock.nanoseconds }
                return next < 3 ? .send(Self.number(next), to: channel) : .exit
            case .resumed:
                thirdStartedAt = kernel.clock.nanoseconds
                return .send(Self.number(3), to: channel)
            default: return .exit
            }
        }, name: "server", capability: ProcessCapability())
        var local: (value: UInt32, at: UInt64)?
        _ = b.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start: return .sleep(nanoseconds: 6_000_000)
            case .resumed: return .receive([channel], timeoutNanoseconds: nil)
            case .received(let message, _):
                local = (message[.functional(1)] ?? 0, kernel.clock.nanoseconds)
                return .exit
            default: return .exit
            }
        }, name: "local", capability: ProcessCapability())
        var taken: [UInt32] = []
        var mirror = ChannelID(raw: 0)
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start:
                mirror = try! kernel.open(Self.stream, as: .service)
                return .receive([mirror], timeoutNanoseconds: nil)
            case .received(let message, _):
                taken.append(message[.functional(1)] ?? 0)
                return taken.count < 2 ? .receive([mirror], timeoutNanoseconds: nil) : .sleep(nanoseconds: 100_000_000)
            default: return .exit
            }
        }, name: "t", capability: ProcessCapability())
        try network.run(for: 50_000_000)
        #expect(taken == [1, 2])
        #expect(a.router.offersReturned == 1 && a.router.offersTaken == 0)
        let startedAt = try #require(thirdStartedAt)
        #expect(local?.value == 3, "the local receiver got the number that came back")
        // It came back when the hold ended (sent at 5 ms, held 2 ms), and only then did the send complete.
        #expect(local.map { $0.at >= startedAt + a.router.aheadNanoseconds && $0.at < startedAt + a.router.aheadNanoseconds + 1_000_000 } == true,
                "\(String(describing: local)) sent at \(String(describing: thirdSentAt))")
        #expect(thirdSentAt == local?.at)
    }

    @Test func twoTasksOfOneNodeMeetOnARemoteChannelWhileOneReceivesAhead() throws {
        // r on a takes two numbers from b (so it receives ahead), pauses, then receives again; s on a
        // sends 3 during r's pause. Only r can take it: its want ahead may not, so r must ask for it.
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let channel = try b.kernel.serve(Self.stream, role: .service)
        try network.run(for: 1_000_000)            // b announces the URI
        var next: UInt32 = 1
        _ = b.kernel.spawnService(ScriptedService { event, _ in
            switch event {
            case .start: return .send(Self.number(1), to: channel)
            case .sent:
                next += 1
                return next <= 2 ? .send(Self.number(next), to: channel) : .exit
            default: return .exit
            }
        }, name: "server", capability: ProcessCapability())
        var taken: [UInt32] = []
        var failures: [KernelError] = []
        var mirror = ChannelID(raw: 0)
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start:
                mirror = try! kernel.open(Self.stream, as: .service)
                return .receive([mirror], timeoutNanoseconds: nil)
            case .received(let message, _):
                taken.append(message[.functional(1)] ?? 0)
                return taken.count == 2 ? .sleep(nanoseconds: 3_000_000) : (taken.count < 2 ? .receive([mirror], timeoutNanoseconds: nil) : .exit)
            case .resumed: return .receive([mirror], timeoutNanoseconds: 1_000_000_000)
            case .failed(let error):
                failures.append(error)
                return .exit
            default: return .exit
            }
        }, name: "r", capability: ProcessCapability())
        var sent = false
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start: return .sleep(nanoseconds: 1_000_000)
            case .resumed: return .send(Self.number(3), to: try! kernel.open(Self.stream, as: .service))
            case .sent:
                sent = true
                return .exit
            default: return .exit
            }
        }, name: "s", capability: ProcessCapability())
        try network.run(for: 2_000_000_000)
        #expect(wantsAhead(network) >= 1)
        #expect(taken == [1, 2, 3] && failures.isEmpty, "r took \(taken), failed \(failures)")
        #expect(sent)
    }
}
