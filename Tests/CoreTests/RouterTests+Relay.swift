// Three nodes, the channel in the middle: a sender on a, the channel served on b, receivers on c (and
// a). b relays: a's send is held there for c's want. Links drop at chosen moments and at random (from
// a seed); every message must arrive exactly once, in the sender's order.
import Testing
@testable import Core

/// Sends 1...count on `uri`, one after another, each `pace` ns after the previous send completed.
final class SequenceSender: KernelService {
    let uri: String
    let count: UInt32
    let pace: UInt64
    private var channel = ChannelID(raw: 0)
    private var next: UInt32 = 1
    private(set) var failures: [KernelError] = []
    var done: Bool { next > count }

    init(uri: String, count: UInt32, pace: UInt64 = 0) {
        self.uri = uri
        self.count = count
        self.pace = pace
    }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        switch event {
        case .start:
            guard let opened = try? kernel.open(uri, as: .service) else { return .exit }
            channel = opened
        case .resumed:
            break
        case .sent:
            next += 1
            if done { return .exit }
            if pace > 0 { return .sleep(nanoseconds: pace) }
        case .failed(let error):
            failures.append(error)   // sent again: a failed send was not delivered
        case .received:
            return .exit
        }
        var builder = MessageBuilder()
        try! builder.add(.functional(1), next)
        return .send(builder.build(), to: channel)
    }
}

/// Receives on `uri` (opened here, or served on this node) and records each message's number,
/// working `pause` ns on each before the next receive.
final class SequenceReceiver: KernelService {
    let uri: String
    let pause: UInt64
    private var channel: ChannelID?
    private(set) var received: [UInt32] = []
    private(set) var failures: [KernelError] = []

    init(uri: String, pause: UInt64 = 0) {
        self.uri = uri
        self.pause = pause
    }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        switch event {
        case .start, .resumed:
            if channel == nil {
                guard let opened = try? kernel.open(uri, as: .service) else { return .sleep(nanoseconds: 1_000_000) }
                channel = opened
            }
        case .received(let message, _):
            received.append(message[.functional(1)] ?? 0)
            if pause > 0 { return .sleep(nanoseconds: pause) }
        case .failed(let error):
            failures.append(error)
        case .sent:
            break
        }
        return .receive([channel!], timeoutNanoseconds: nil)
    }
}

extension RouterTests {
    static let relay = "fireball://relay/items"

    /// a sends, b serves, a receiver waits on each of `receiverNodes` (c, and a too for a mix). With
    /// `paced`, the sender waits 200 µs between messages and the receivers work 500 and 700 µs on
    /// each, so that messages received ahead wait for them (in simulated time, work takes none).
    private func relayNetwork(count: UInt32, receiverNodes: [String] = ["c"], paced: Bool = false) throws -> (RouterNetwork, SequenceSender, [SequenceReceiver]) {
        let network = RouterNetwork(["a", "b", "c"])
        _ = try network.nodes["b"]!.kernel.serve(Self.relay, role: .service)
        try network.run(for: 1_000_000)
        let receivers = receiverNodes.enumerated().map { SequenceReceiver(uri: Self.relay, pause: paced ? 500_000 + 200_000 * UInt64($0.offset) : 0) }
        for (node, receiver) in zip(receiverNodes, receivers) {
            _ = network.nodes[node]!.kernel.spawnService(receiver, name: "receiver-\(node)", capability: ProcessCapability())
        }
        try network.run(for: 1_000_000)
        let sender = SequenceSender(uri: Self.relay, count: count, pace: paced ? 200_000 : 0)
        _ = network.nodes["a"]!.kernel.spawnService(sender, name: "sender", capability: ProcessCapability())
        return (network, sender, receivers)
    }

    @Test func aSendHeldForAThirdNodeIsNotDeliveredAgainAfterTheSendersLinkDrops() throws {
        let (network, sender, receivers) = try relayNetwork(count: 3)
        // The moment of the finding: b holds a's first message for c and is about to hand it over
        // when the a–b link drops and comes back; a sends it again after the reconnect.
        var cutDone = false
        network.beforeDelivery = { from, to, kind in
            guard !cutDone, from == "b", to == "c", kind == RouterFrame.deliver(id: 0, status: 0, message: Message(), values: []).kind else { return }
            cutDone = true
            network.cut("a", "b")
            network.connect("a", "b")
        }
        try network.run(for: 1_000_000_000)
        #expect(cutDone)
        #expect(receivers[0].received == [1, 2, 3], "c got \(receivers[0].received)")
        #expect(sender.done && sender.failures.isEmpty, "\(sender.failures)")
        for name in ["a", "b", "c"] { #expect(network.nodes[name]!.router.pendingCount == (0, name == "c" ? 1 : 0, 0), "\(name)") }
    }

    @Test(arguments: Array(1...8) as [UInt64])
    func relayedMessagesArriveExactlyOnceUnderRandomCuts(seed: UInt64) throws {
        let (network, sender, receivers) = try relayNetwork(count: 200, receiverNodes: ["c", "a"], paced: true)
        network.cutLinks = [("a", "b"), ("b", "c"), ("a", "c")]
        network.chaosRandom = SeededRandom(seed: seed)
        network.cutEvery = 4
        network.cutsMax = 150
        try network.run(for: 10_000_000_000)
        #expect(network.cuts >= 50, "only \(network.cuts) cuts")
        // Failures would be sent again (and could double a message); under short cuts there are none.
        #expect(sender.done && sender.failures.isEmpty, "sender: \(sender.failures), seed \(seed)")
        // Each number exactly once over both receivers, each receiver's share in the sender's order.
        let all = receivers.flatMap(\.received)
        let duplicates = Dictionary(grouping: all) { $0 }.filter { $1.count > 1 }.keys.sorted()
        #expect(Set(all) == Set(1...200) && duplicates.isEmpty, "seed \(seed): \(all.count) received, missing \(Set(1...200).subtracting(all).sorted()), twice \(duplicates)")
        for receiver in receivers { #expect(receiver.received == receiver.received.sorted(), "seed \(seed): out of order") }
        #expect(receivers[0].received.count > 20 && receivers[1].received.count > 20, "both receivers take part")
        let takenAhead = network.nodes["a"]!.router.offersTaken + network.nodes["c"]!.router.offersTaken
        #expect(takenAhead > 10, "receivers take messages received ahead: \(takenAhead)")
    }
}
