// Closing across nodes behaves as a local close: a client's close of its mirror closes the channel
// where it is served (nothing stays queued or held there for it), and a server's end closes mirrors.
import Testing
@testable import Core

/// A service written as a closure over its events, for short test scripts.
final class ScriptedService: KernelService {
    let script: (ServiceEvent, Kernel) -> ServiceAction
    init(_ script: @escaping (ServiceEvent, Kernel) -> ServiceAction) { self.script = script }
    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction { script(event, kernel) }
}

extension RouterTests {
    static let feed = "fireball://feed/items"

    @Test func aClientsCloseLeavesNothingWaitingForItOnTheServingNode() throws {
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let channel = try b.kernel.serve(Self.feed, role: .service)
        try network.run(for: 1_000_000)
        // The client waits 5 ms for an item, gives up and closes its handle; its want stays
        // registered on b until b hears of the close.
        var clientSaw: [KernelError] = []
        var mirror: ChannelID?
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start:
                mirror = try? kernel.open(Self.feed, as: .service)
                return .receive([mirror!], timeoutNanoseconds: 5_000_000)
            case .failed(let error):
                clientSaw.append(error)
                try? kernel.close(mirror!)
                return .exit
            default: return .exit
            }
        }, name: "client", capability: ProcessCapability())
        // The server sends an item at 10 ms: with the client gone it must fail, not stay held.
        var serverSaw: [ServiceEvent] = []
        _ = b.kernel.spawnService(ScriptedService { event, _ in
            switch event {
            case .start: return .sleep(nanoseconds: 10_000_000)
            case .resumed: return .send(Message(), to: channel)
            default:
                serverSaw.append(event)
                return .exit
            }
        }, name: "server", capability: ProcessCapability())
        try network.run(for: 1_000_000_000)

        #expect(clientSaw == [.timedOut])
        guard case .failed(.closed)? = serverSaw.first else { Issue.record("the server's send must fail with ECLOSED: \(serverSaw)"); return }
        #expect(b.kernel.channels[channel]?.isClosed == true)
        #expect(b.router.pendingCount == (0, 0, 0) && a.router.pendingCount == (0, 0, 0) && a.router.pendingCloseCount == 0)
        #expect(a.router.remoteURIs.isEmpty, "b announced that it no longer serves the URI")
    }

    /// Found by the cluster simulator (controller seeds 300068 and 300110): a URI served on two
    /// nodes for a while (a replica moved and its old copy not yet stopped). The client's mirror
    /// moves to the other node while its send waits on the first; the first copy's channel then
    /// closes, the send fails with ECLOSED, and the client closes its handle, as a guest does after
    /// ECLOSED. That close must not reach the channel on the node the URI moved to.
    @Test func aCloseAfterECLOSEDNeverReachesTheNodeTheURIMovedTo() throws {
        let network = RouterNetwork(["a", "m", "z"])
        let (a, m, z) = (network.nodes["a"]!, network.nodes["m"]!, network.nodes["z"]!)
        let old = try z.kernel.serve(Self.feed, role: .service)
        try network.run(for: 1_000_000)
        var clientSaw: [ServiceEvent] = []
        var mirror: ChannelID?
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start:
                mirror = try! kernel.open(Self.feed, as: .service)
                return .send(Message(), to: mirror!)   // nobody receives on z: it waits there
            default:
                clientSaw.append(event)
                if case .failed(.closed) = event { try? kernel.close(mirror!) }
                return .exit
            }
        }, name: "client", capability: ProcessCapability())
        try network.run(for: 5_000_000)
        #expect(a.router.remoteURIs[Self.feed] == "z")
        // m serves it too: a prefers m (up, and first by name) from now on.
        let moved = try m.kernel.serve(Self.feed, role: .service)
        try network.run(for: 5_000_000)
        #expect(a.router.remoteURIs[Self.feed] == "m")
        // z's copy ends: the waiting send fails with ECLOSED, and the client closes the mirror it sent on.
        try z.kernel.close(old)
        try network.run(for: 100_000_000)
        guard case .failed(.closed)? = clientSaw.first else { Issue.record("the send must fail with ECLOSED: \(clientSaw)"); return }
        #expect(m.kernel.channels[moved]?.isClosed == false, "m's channel stays open")
        #expect(m.lines(containing: "closed \(Self.feed)").isEmpty, "\(m.console)")
    }

    @Test func whenTheServerEndsItsMirrorsClose() throws {
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        // The server serves the URI itself (its channel closes when it ends) and ends at 20 ms.
        _ = b.kernel.spawnService(ScriptedService { event, kernel in
            guard case .start = event, let channel = try? kernel.serve(Self.feed, by: kernel.tasks[kernel.currentTask!]!) else { return .exit }
            return .receive([channel], timeoutNanoseconds: 20_000_000)
        }, name: "server", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        // One client waits to receive (its want is on b); another holds an idle handle and sends at 50 ms.
        var waiterSaw: [ServiceEvent] = [], senderSaw: [ServiceEvent] = []
        var mirror: ChannelID?
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            if case .start = event, let channel = try? kernel.open(Self.feed, as: .service) { return .receive([channel], timeoutNanoseconds: nil) }
            waiterSaw.append(event)
            return .exit
        }, name: "waiter", capability: ProcessCapability())
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start:
                mirror = try? kernel.open(Self.feed, as: .service)
                return .sleep(nanoseconds: 50_000_000)
            case .resumed: return .send(Message(), to: mirror!)
            default:
                senderSaw.append(event)
                return .exit
            }
        }, name: "sender", capability: ProcessCapability())
        try network.run(for: 1_000_000_000)

        guard case .failed(.closed)? = waiterSaw.first else { Issue.record("the waiting receive ends with ECLOSED: \(waiterSaw)"); return }
        guard case .failed(.closed)? = senderSaw.first else { Issue.record("a later send gets ECLOSED: \(senderSaw)"); return }
        #expect(a.kernel.channels[mirror!]?.isClosed == true)
        #expect(a.router.remoteURIs.isEmpty && a.router.pendingCount == (0, 0, 0))
        #expect(!network.kindsSent.contains(RouterFrame.close(seq: 0, uri: Self.feed, client: .init(name: "", role: .guest)).kind),
                "a mirror closed by its server's end sends no close back")
    }
}

extension RouterTests {
    @Test func aMessageTheDeadPeerMayHaveTakenFailsItsSender() throws {
        // b's sender hands a number to r on a; a takes it, but its answer never reaches b (a dies).
        // Past the grace the send fails with EUNREACHABLE; the number does not go to b's own receiver.
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let channel = try b.kernel.serve(Self.feed, role: .service)
        try network.run(for: 1_000_000)
        var taken: [UInt32] = []
        _ = a.kernel.spawnService(ScriptedService { event, kernel in
            switch event {
            case .start: return .receive([try! kernel.open(Self.feed, as: .service)], timeoutNanoseconds: nil)
            case .received(let message, _):
                taken.append(message[.functional(1)] ?? 0)
                return .exit
            default: return .exit
            }
        }, name: "r", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        network.beforeDelivery = { from, to, kind in
            if from == "a", to == "b", kind == RouterFrame.taken(id: 0, outcome: .accepted).kind { network.cut("a", "b") }
        }
        var senderSaw: [ServiceEvent] = []
        _ = b.kernel.spawnService(ScriptedService { event, _ in
            if case .start = event { return .send(Self.number(7), to: channel) }
            senderSaw.append(event)
            return .exit
        }, name: "sender", capability: ProcessCapability())
        var localGot: [ServiceEvent] = []
        _ = b.kernel.spawnService(ScriptedService { event, _ in
            switch event {
            case .start: return .sleep(nanoseconds: 10_000_000)
            case .resumed: return .receive([channel], timeoutNanoseconds: 5_000_000_000)
            default:
                localGot.append(event)
                return .exit
            }
        }, name: "local", capability: ProcessCapability())
        try network.run(for: 10_000_000_000)
        #expect(taken == [7])
        guard case .failed(.unreachable)? = senderSaw.first else { Issue.record("the send fails with EUNREACHABLE: \(senderSaw)"); return }
        guard case .failed(.timedOut)? = localGot.first else { Issue.record("b's receiver must not get the number again: \(localGot)"); return }
        #expect(b.router.pendingCount == (0, 0, 0))
    }
}
