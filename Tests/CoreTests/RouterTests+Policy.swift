// The role policy across nodes: a refused open is logged on the opening node and on the serving
// node, and the serving node checks sends, wants and closes itself instead of trusting its peer.
import Testing
@testable import Core

extension RouterTests {
    /// The upstream policy less guests opening guests' channels.
    static let noGuestToGuest = RolePolicy(TaskRole.allCases.flatMap { client in
        TaskRole.allCases.filter { server in RolePolicy.upstream.allows(client: client, server: server) && !(client == .guest && server == .guest) }
            .map { (client: client, server: $0) }
    })
    static let pongURI = "fireball://pong/echo"

    @Test func aDeniedOpenIsLoggedOnBothNodes() throws {
        let network = RouterNetwork(["a", "b"], policies: ["a": Self.noGuestToGuest])
        try network.spawn("pong", on: "b")
        try network.run(for: 1_000_000)
        try network.spawn("ping", on: "a")
        try network.run(for: 1_000_000_000)
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        #expect(a.lines(containing: "ping: cannot open \(Self.pongURI): EPERM").count == 1, "\(a.console)")
        #expect(a.lines(containing: "denied: ping (guest) may not open \(Self.pongURI) served by a guest").count == 1)
        #expect(b.lines(containing: "denied: ping (guest) on node a may not open \(Self.pongURI)").count == 1, "\(b.console)")
        #expect(b.lines(containing: "pong: echoed").isEmpty)
    }

    @Test func theServingNodeChecksThePolicyItself() throws {
        // a lets guests open guests' channels, b does not: b refuses ping's send (and its close).
        let network = RouterNetwork(["a", "b"], policies: ["b": Self.noGuestToGuest])
        try network.spawn("pong", on: "b")
        try network.run(for: 1_000_000)
        try network.spawn("ping", on: "a")
        try network.run(for: 1_000_000_000)
        let (a, b) = (network.nodes["a"]!, network.nodes["b"]!)
        #expect(a.lines(containing: "ping: send 1: EPERM").count == 1, "\(a.console)")
        #expect(b.lines(containing: "denied: ping (guest) on node a may not open \(Self.pongURI)").count == 2, "the send and the close: \(b.console)")
        #expect(b.lines(containing: "pong: echoed").isEmpty && b.lines(containing: "pong: channel closed").isEmpty, "pong still serves")
        #expect(a.lines(containing: "router: b did not close \(Self.pongURI): denied").count == 1)
        #expect(a.router.pendingCount == (0, 0, 0) && a.router.pendingCloseCount == 0)
    }

    @Test func wantsAndClosesFromARoleThatMayNotOpenAreRefused() throws {
        // A peer that skipped its own check: logging tasks may open nothing (upstream policy).
        let network = RouterNetwork(["a", "b"])
        try network.spawn("pong", on: "b")
        try network.run(for: 1_000_000)
        let b = network.nodes["b"]!
        let spy = RouterFrame.Client(name: "spy", role: .logging)
        for frame in [RouterFrame.want(id: 900, uri: Self.pongURI, client: spy, ahead: false), .close(seq: 901, uri: Self.pongURI, client: spy),
                      .send(seq: 902, uri: Self.pongURI, client: spy, message: Message(), values: [])] {
            try b.receive(kind: frame.kind, payload: frame.payload, from: "a")
        }
        let answers = try network.inFlight.filter { $0.from == "b" }.map { try RouterFrame(kind: $0.kind, payload: $0.payload) }
        #expect(answers == [.deliver(id: 900, status: KernelError.denied.rawValue, message: Message(), values: []),
                            .sendResult(seq: 901, status: KernelError.denied.rawValue), .sendResult(seq: 902, status: KernelError.denied.rawValue)])
        #expect(b.lines(containing: "denied: spy (logging) on node a may not open \(Self.pongURI)").count == 3)
        #expect(b.kernel.localChannel(serving: Self.pongURI).map { b.kernel.channels[$0.0]?.isClosed } == false, "the refused close closed nothing")
    }

    @Test func aPeerClaimingASystemRoleIsRefusedWhateverThePolicy() throws {
        // The upstream policy lets hal and router tasks open a guest's channel, but no task on
        // another node has such a role: a peer that claims one in a frame is refused.
        let network = RouterNetwork(["a", "b"])
        try network.spawn("pong", on: "b")
        try network.run(for: 1_000_000)
        let b = network.nodes["b"]!
        for (n, role) in [TaskRole.hal, .router].enumerated() {
            let claim = RouterFrame.Client(name: "claims-\(role)", role: role)
            #expect(RolePolicy.upstream.allows(client: role, server: .guest))
            for frame in [RouterFrame.want(id: 800 + UInt64(n), uri: Self.pongURI, client: claim, ahead: false),
                          .send(seq: 810 + UInt64(n), uri: Self.pongURI, client: claim, message: Message(), values: []),
                          .close(seq: 820 + UInt64(n), uri: Self.pongURI, client: claim)] {
                try b.receive(kind: frame.kind, payload: frame.payload, from: "a")
            }
            #expect(b.lines(containing: "denied: claims-\(role) (\(role)) on node a may not open \(Self.pongURI): system roles do not cross nodes").count == 3,
                    "\(b.console)")
        }
        let answers = try network.inFlight.filter { $0.from == "b" }.map { try RouterFrame(kind: $0.kind, payload: $0.payload) }
        let denied = KernelError.denied.rawValue
        #expect(answers.filter { if case .announce = $0 { return false }; return true } == [
            .deliver(id: 800, status: denied, message: Message(), values: []), .sendResult(seq: 810, status: denied), .sendResult(seq: 820, status: denied),
            .deliver(id: 801, status: denied, message: Message(), values: []), .sendResult(seq: 811, status: denied), .sendResult(seq: 821, status: denied)])
        #expect(b.kernel.localChannel(serving: Self.pongURI).map { b.kernel.channels[$0.0]?.isClosed } == false, "nothing was closed")
        // A service on another node is a role modules have: its want is taken.
        let service = RouterFrame.Client(name: "svc", role: .service)
        let want = RouterFrame.want(id: 830, uri: Self.pongURI, client: service, ahead: false)
        try b.receive(kind: want.kind, payload: want.payload, from: "a")
        #expect(b.lines(containing: "denied: svc").isEmpty)
    }
}
