// Control sessions: orchestrators' links to a node, any number under one certificate name, none
// displacing another or a node link; past the limit a new one is refused and the open ones stay.
import Foundation
import Testing
@testable import Transport

@Suite struct ControlSessionTests {
    @Test func manyClientsWithOneOrchestratorCertificateKeepTheirSessionsAndTheNodeLink() throws {
        let certs = try TestCertificates(nodes: ["alpha", "beta"], orchestrators: ["orchestrator"])
        let loop = try EventLoop()
        defer { loop.close() }
        var configuration = TestNode.fastConfiguration
        configuration.controlSessionsMax = 3
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"), configuration: configuration)
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        let clients = try (0..<4).map { _ in try TestNode("orchestrator", loop: loop, tls: try certs.context("orchestrator")) }
        defer { alpha.endpoint.close(); beta.endpoint.close(); for client in clients { client.endpoint.close() } }
        try link(beta, to: alpha, named: "alpha", on: loop)
        let port = alpha.endpoint.listeningPort!

        // Three clients under the same name: three sessions, each answered on its own.
        for client in clients.prefix(3) { try client.endpoint.connect(to: "alpha", host: "127.0.0.1", port: port) }
        try drive([loop], until: "three sessions") { alpha.recorder.sessionsOpened.count == 3 && clients.prefix(3).allSatisfy { !$0.recorder.ups.isEmpty } }
        #expect(alpha.endpoint.sessionCount == 3 && alpha.recorder.sessionsOpened.map(\.0) == [SessionID(1), SessionID(2), SessionID(3)])
        #expect(alpha.recorder.ups.map(\.name) == ["beta"], "a session is not a peer's link")
        for (index, client) in clients.prefix(3).enumerated() { try client.endpoint.send(to: "alpha", kind: 32, bytes: [UInt8(index)]) }
        try drive([loop], until: "three requests") { alpha.recorder.sessionFrames.count == 3 }
        for frame in alpha.recorder.sessionFrames { try alpha.endpoint.send(to: frame.session, kind: 33, bytes: frame.bytes) }
        try drive([loop], until: "three answers") { clients.prefix(3).allSatisfy { $0.recorder.frames.count == 1 } }
        for (index, client) in clients.prefix(3).enumerated() { #expect(client.recorder.frames.first?.bytes == [UInt8(index)], "answer went to the session that asked") }

        // A fourth is past the limit: refused with a goodbye saying so; the three and the node link stay.
        try clients[3].endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try drive([loop], until: "refusal") { !clients[3].log.matching("control sessions are open").isEmpty }
        #expect(alpha.endpoint.sessionCount == 3 && alpha.recorder.sessionsClosed.isEmpty)
        #expect(clients.prefix(3).allSatisfy { $0.recorder.downs.isEmpty } && beta.recorder.downs.isEmpty && alpha.recorder.downs.isEmpty)
        clients[3].endpoint.forget("alpha")

        // One ends: only its session closes, and a new client gets a slot (and a new number).
        clients[0].endpoint.close()
        try drive([loop], until: "session closed") { alpha.recorder.sessionsClosed.count == 1 }
        #expect(alpha.recorder.sessionsClosed.first?.0 == SessionID(1) && alpha.endpoint.sessionCount == 2)
        try clients[3].endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try drive([loop], until: "fourth session") { alpha.recorder.sessionsOpened.count == 4 }
        #expect(alpha.recorder.sessionsOpened.last?.0.raw ?? 0 > 3)
        #expect(alpha.endpoint.isConnected(to: "beta") && beta.recorder.downs.isEmpty)
    }
}
