// co_values across nodes: their bytes travel in the frame, the receiving node makes a value of its
// own, and the sender's is freed only once the send is taken (else it goes back to the sender).
import Testing
@testable import Core

/// Sends one co_value per size (key 2, its size under key 1) on a URI it opens or a channel it has,
/// and notes how each send ended and whether it still owns the value afterwards.
final class ValueSender: KernelService {
    let uri: String?
    var channel: ChannelID?
    let sizes: [Int]
    private(set) var results: [(send: KernelError?, afterwards: KernelError?)] = []
    private var value: SharedMemoryID?

    init(uri: String? = nil, channel: ChannelID? = nil, sizes: [Int]) {
        self.uri = uri
        self.channel = channel
        self.sizes = sizes
    }

    static func pattern(_ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) } }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        let me = kernel.currentTask!
        switch event {
        case .start:
            if let uri {
                do { channel = try kernel.open(uri, as: .service, by: "sender") } catch { Issue.record("open: \(error)"); return .exit }
            }
        case .sent, .failed:
            let afterwards: KernelError?
            do { _ = try kernel.valueBytes(value!, for: me); afterwards = nil } catch { afterwards = error }
            if case .failed(let error) = event { results.append((error, afterwards)) } else { results.append((nil, afterwards)) }
        default: break
        }
        guard results.count < sizes.count else { return .exit }
        let size = sizes[results.count]
        do {
            let owned = try kernel.allocateValue(size, for: me)
            try kernel.valueBytes(owned.id, for: me).copyBytes(from: Self.pattern(size))
            value = owned.id
            var builder = MessageBuilder()
            try builder.add(.functional(1), UInt32(size))
            try owned.attach(to: &builder, key: .functional(2))
            return .send(builder.build(), to: channel!)
        } catch {
            Issue.record("making a value of \(size) bytes: \(error)")
            return .exit
        }
    }
}

/// Receives on a URI it opens or a channel it has, keeping the bytes of each message's co_value
/// (it keeps owning them), until a receive fails.
final class ValueReceiver: KernelService {
    let uri: String?
    var channel: ChannelID?
    private(set) var received: [[UInt8]] = []
    private(set) var failure: KernelError?

    init(uri: String? = nil, channel: ChannelID? = nil) {
        self.uri = uri
        self.channel = channel
    }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        switch event {
        case .start:
            if let uri {
                do { channel = try kernel.open(uri, as: .service, by: "receiver") } catch { Issue.record("open: \(error)"); return .exit }
            }
        case .received(let message, _):
            let id: SharedMemoryID? = message[.functional(2)]
            do { received.append(Array(try kernel.valueBytes(id!, for: kernel.currentTask!))) } catch { Issue.record("value: \(error)") }
        case .failed(let error):
            failure = error
            return .exit
        default: break
        }
        return .receive([channel!], timeoutNanoseconds: nil)
    }
}

extension RouterTests {
    static let store = "fireball://store/blocks"

    /// Host partitions, with a tier-1 heap (services' co_values) too small for a 16 KB value.
    static let smallTier1: PartitionTable = {
        var table = PartitionTable.host
        table.bytes[.tier1] = 8192
        return table
    }()

    @Test func framesCarryCoValueBytesAndRefuseMalformedOnes() throws {
        var builder = MessageBuilder()
        try builder.add(.functional(1), SharedMemoryID(7))
        try builder.add(.functional(2), UInt32(5))
        try builder.add(.functional(3), SharedMemoryID(3))
        try builder.add(.functional(4), SharedMemoryID(7))   // the same value again: its bytes go once
        let message = builder.build()
        let client = RouterFrame.Client(name: "giver", role: .guest)
        let values: [[UInt8]] = [[1, 2, 3], Array(repeating: 9, count: 1000)]
        let send = RouterFrame.send(seq: 1, uri: Self.store, client: client, message: message, values: values)
        let deliver = RouterFrame.deliver(id: 2, status: 0, message: message, values: values)
        for frame in [send, deliver] { #expect(try RouterFrame(kind: frame.kind, payload: frame.payload) == frame) }

        let good = send.payload
        let valuesStart = good.count - (4 + 3) - (4 + 1000)
        func refused(_ payload: [UInt8], _ why: String) {
            let error = #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 17, payload: payload) }
            #expect(error?.description.contains(why) == true, "\(error?.description ?? "")")
        }
        let head = Array(good[..<valuesStart])                                 // everything before the values
        refused(head, "truncated")                                             // no value bytes at all
        refused(head + [3, 0, 0, 0, 1, 2, 3], "truncated")                     // one value of two
        refused(Array(good.dropLast()), "truncated")                               // the last value is short
        refused(good + [0], "left over")                                           // more than the handles name
        refused(head + [0, 0, 0, 0] + [1, 0, 0, 0, 1], "has no bytes")         // a value of no bytes
        refused(head + [0xff, 0xff, 0xff, 0x7f, 1, 2, 3], "truncated")         // a length past the payload
        refused(head + [0xf0, 0xff, 0, 0] + Array(repeating: 1, count: 65_520) + [1, 0, 0, 0, 1], "over 65535")

        // A peer that sends such a frame is an error for the caller, which closes the link.
        let network = RouterNetwork(["a", "b"])
        #expect(throws: RouterFrame.DecodeError.self) { _ = try network.nodes["b"]!.router.received(kind: 17, payload: good + [0], from: "a") }
    }

    @Test func guestsMoveACoValueToAnotherNode() throws {
        // CoValueTests' guests, on two nodes: the taker checks the bytes and exits with the first
        // one ('h'); the giver checks that its handle is gone once the send completed (EBADF, -2:
        // the value lives on the other node now, not here under another owner).
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let heapsBefore = [a.kernel.partition(.guest).usedBytes, b.kernel.partition(.guest).usedBytes]
        let taker = try b.kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(CoValueTests.taker)), name: "taker", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        let remoteGiver = CoValueTests.giver.replacingOccurrences(of: "(i32.const -10)", with: "(i32.const -2)")
        let giver = try a.kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(remoteGiver)), name: "giver", capability: ProcessCapability())
        try network.run(for: 1_000_000_000)
        #expect(b.kernel.state(of: taker) == .exited(.exited(code: 104)), "\(b.console)")
        #expect(a.kernel.state(of: giver) == .exited(.exited(code: 0)), "\(a.console)")
        #expect(a.kernel.liveValueCount == 0 && b.kernel.liveValueCount == 0)
        #expect([a.kernel.partition(.guest).usedBytes, b.kernel.partition(.guest).usedBytes] == heapsBefore)
    }

    @Test func aValueMovesToTheServingNodeAndIsChargedToTheReceiver() throws {
        let network = RouterNetwork(["a", "b"])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let receiver = ValueReceiver(channel: try b.kernel.serve(Self.store, role: .service))
        _ = b.kernel.spawnService(receiver, name: "receiver", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        let heapsBefore = (a: a.kernel.partition(.tier1).usedBytes, b: b.kernel.partition(.tier1).usedBytes)
        let sender = ValueSender(uri: Self.store, sizes: [3000])
        _ = a.kernel.spawnService(sender, name: "sender", capability: ProcessCapability())
        try network.run(for: 1_000_000_000)

        #expect(receiver.received == [ValueSender.pattern(3000)])
        #expect(sender.results.count == 1 && sender.results[0].send == nil, "the send completed")
        #expect(sender.results.first?.afterwards == .badHandle, "the sender's value is gone")
        #expect(a.kernel.liveValueCount == 0 && a.kernel.partition(.tier1).usedBytes == heapsBefore.a)
        #expect(b.kernel.liveValueCount == 1, "the receiver owns the new value")
        #expect(b.kernel.partition(.tier1).usedBytes >= heapsBefore.b + 3000, "charged to the receiving service's heap")
        #expect(a.router.pendingCount == (0, 0, 0) && b.router.pendingCount == (0, 0, 0))
    }

    @Test func aValueThatCannotCrossStaysWithItsSender() throws {
        // b's tier-1 heap holds 8 KB: a 16 KB value does not fit there; a 70 KB one fits no frame.
        let network = RouterNetwork(["a", "b"], partitions: ["b": Self.smallTier1])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let receiver = ValueReceiver(channel: try b.kernel.serve(Self.store, role: .service))
        _ = b.kernel.spawnService(receiver, name: "receiver", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        let sender = ValueSender(uri: Self.store, sizes: [70_000, 16_000, 1000])
        _ = a.kernel.spawnService(sender, name: "sender", capability: ProcessCapability())
        try network.run(for: 1_000_000_000)

        #expect(sender.results.count == 3)
        #expect(sender.results.first.map { $0.send == .messageTooLarge && $0.afterwards == nil } == true, "refused here, still the sender's")
        #expect(sender.results.dropFirst().first.map { $0.send == .noMemory && $0.afterwards == nil } == true, "refused there, still the sender's")
        #expect(sender.results.last.map { $0.send == nil && $0.afterwards == .badHandle } == true, "the channel still works")
        #expect(receiver.received == [ValueSender.pattern(1000)] && receiver.failure == nil)
        #expect(b.kernel.liveValueCount == 1, "nothing of the refused value stayed on b")
    }

    @Test func aValueComesBackFromTheServingNode() throws {
        // The server on b sends; the client on a receives through its mirror (want, deliver, taken).
        // A 70 KB value fits no frame, and a's tier-1 heap holds 8 KB: a 16 KB value does not fit
        // there. Both sends fail and their values stay with the server; the client goes on waiting.
        let network = RouterNetwork(["a", "b"], partitions: ["a": Self.smallTier1])
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        let sender = ValueSender(channel: try b.kernel.serve(Self.store, role: .service), sizes: [70_000, 16_000, 3000])
        try network.run(for: 1_000_000)
        let receiver = ValueReceiver(uri: Self.store)
        _ = a.kernel.spawnService(receiver, name: "receiver", capability: ProcessCapability())
        try network.run(for: 1_000_000)
        _ = b.kernel.spawnService(sender, name: "sender", capability: ProcessCapability())
        try network.run(for: 1_000_000_000)

        #expect(sender.results.count == 3)
        #expect(sender.results.first.map { $0.send == .messageTooLarge && $0.afterwards == nil } == true, "too large: still the sender's")
        #expect(sender.results.dropFirst().first.map { $0.send == .noMemory && $0.afterwards == nil } == true, "no room on a: still the sender's")
        #expect(sender.results.last.map { $0.send == nil && $0.afterwards == .badHandle } == true, "taken on a: gone from b")
        #expect(receiver.received == [ValueSender.pattern(3000)] && receiver.failure == nil, "the receiver waited through the refusal")
        #expect(a.kernel.liveValueCount == 1 && b.kernel.liveValueCount == 0)
        #expect(b.router.pendingCount.held == 0)
    }
}
