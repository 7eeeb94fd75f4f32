// A URI may name its node: `fireball://svc/stream@node` opens the channel served on that node and
// no other, even when another node serves the same URI (or the named one dies).
import Testing
@testable import Core

/// Asks each URI in turn: open, send, receive the answer. Records the answer's number or the error.
final class Asker: KernelService {
    let uris: [String]
    private var index = 0
    private var channel = ChannelID(raw: 0)
    private(set) var answers: [String: Result<UInt32, KernelError>] = [:]
    private(set) var openedChannels: [String: ChannelID] = [:]
    var done: Bool { index >= uris.count }

    init(_ uris: [String]) { self.uris = uris }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        switch event {
        case .start, .resumed: break
        case .sent: return .receive([channel], timeoutNanoseconds: 1_000_000_000)
        case .received(let message, _):
            answers[uris[index]] = .success(message[.functional(1)] ?? 0)
            index += 1
        case .failed(let error):
            answers[uris[index]] = .failure(error)
            index += 1
        }
        while !done {
            do {
                channel = try kernel.open(uris[index], as: .service)
                openedChannels[uris[index]] = channel
                return .send(Message(), to: channel)
            } catch {
                answers[uris[index]] = .failure(error)
                index += 1
            }
        }
        return .exit
    }
}

extension RouterTests {
    static let echoURI = "fireball://svc/echo"

    /// Serves the echo URI on `node` and answers every message with `number`.
    private func serveEcho(on node: RouterNetwork.Node, number: UInt32) -> ChannelID {
        let channel = try! node.kernel.serve(Self.echoURI, role: .service)
        var builder = MessageBuilder()
        try! builder.add(.functional(1), number)
        let answer = builder.build()
        _ = node.kernel.spawnService(ScriptedService { event, _ in
            switch event {
            case .received: return .send(answer, to: channel)
            case .failed: return .exit
            default: return .receive([channel], timeoutNanoseconds: nil)
            }
        }, name: "echo", daemon: true, capability: ProcessCapability())
        return channel
    }

    @Test func aURIThatNamesItsNodeOpensTheChannelThere() throws {
        let network = RouterNetwork(["a", "b", "c"])
        let (a, b, c) = (network.nodes["a"]!, network.nodes["b"]!, network.nodes["c"]!)
        let servedOnB = serveEcho(on: b, number: 2)
        _ = serveEcho(on: c, number: 3)
        try network.run(for: 1_000_000)

        let asker = Asker(["\(Self.echoURI)@c", Self.echoURI, "\(Self.echoURI)@b", "\(Self.echoURI)@a", "\(Self.echoURI)@nowhere", "\(Self.echoURI)@"])
        _ = a.kernel.spawnService(asker, name: "asker", capability: ProcessCapability())
        try network.run(for: 100_000_000)
        #expect(asker.done)
        #expect(asker.answers["\(Self.echoURI)@c"] == .success(3), "named c: c answers, though b is chosen for the plain URI")
        #expect(asker.answers[Self.echoURI] == .success(2))
        #expect(asker.answers["\(Self.echoURI)@b"] == .success(2))
        #expect(asker.answers["\(Self.echoURI)@a"] == .failure(.noSuchService), "a itself does not serve it")
        #expect(asker.answers["\(Self.echoURI)@nowhere"] == .failure(.noSuchService))
        #expect(asker.answers["\(Self.echoURI)@"] == .failure(.invalidArgument))
        #expect(asker.openedChannels["\(Self.echoURI)@c"] != asker.openedChannels[Self.echoURI], "the named URI has a mirror of its own")

        // On b, `@b` is the local channel itself; nobody serves a URI that names a node.
        #expect(try b.kernel.open("\(Self.echoURI)@b", as: .service) == servedOnB)
        #expect(throws: KernelError.invalidArgument) { try c.kernel.serve("fireball://svc/other@c", role: .service) }
        // Frames name URIs without nodes: a peer that sends one is refused.
        var framed = RouterFrame.want(id: 1, uri: "fireball://svc/echo", client: .init(name: "x", role: .service), ahead: false).payload
        framed.replaceSubrange(8 + 1 + 2 ..< 8 + 1 + 2 + 19, with: Array("fireball://svc/e@c".utf8) + [UInt8(ascii: "o")])
        #expect(throws: RouterFrame.DecodeError.self) { try RouterFrame(kind: 19, payload: framed) }
    }

    @Test func aNamedNodeThatDiesIsNotReplacedByAnother() throws {
        let network = RouterNetwork(["a", "b", "c"])
        let a = network.nodes["a"]!
        _ = serveEcho(on: network.nodes["b"]!, number: 2)
        _ = serveEcho(on: network.nodes["c"]!, number: 3)
        try network.run(for: 1_000_000)
        network.cut("a", "c")
        // The plain URI goes on with b; the one naming c waits for c, then fails when c's grace ends.
        let named = Asker(["\(Self.echoURI)@c"])
        let plain = Asker([Self.echoURI])
        _ = a.kernel.spawnService(named, name: "named", capability: ProcessCapability())
        _ = a.kernel.spawnService(plain, name: "plain", capability: ProcessCapability())
        try network.run(for: 5_000_000_000)
        #expect(plain.answers[Self.echoURI] == .success(2))
        #expect(named.answers["\(Self.echoURI)@c"] == .failure(.unreachable))
        #expect(throws: KernelError.noSuchService) { try a.kernel.open("\(Self.echoURI)@c", as: .service) }
        // c comes back and announces again: the named URI opens and c answers.
        network.connect("a", "c")
        try network.run(for: 1_000_000)
        let again = Asker(["\(Self.echoURI)@c"])
        _ = a.kernel.spawnService(again, name: "again", capability: ProcessCapability())
        try network.run(for: 100_000_000)
        #expect(again.answers["\(Self.echoURI)@c"] == .success(3))
    }
}
