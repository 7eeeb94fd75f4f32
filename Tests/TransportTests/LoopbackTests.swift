// Real TCP + TLS over loopback between endpoints: frames, refusals and their log lines, dead peers,
// reconnects, duplicate links and backpressure.
import Foundation
import Testing
@testable import Transport

@Suite(.serialized) struct LoopbackTests {
    @Test func linkComesUpAndCarriesFramesBothWays() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"))
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        defer { alpha.endpoint.close(); beta.endpoint.close() }
        try link(beta, to: alpha, named: "alpha", on: loop)
        #expect(alpha.recorder.ups == [PeerIdentity(name: "beta", role: .node)])
        #expect(beta.recorder.ups == [PeerIdentity(name: "alpha", role: .node)])
        try beta.endpoint.send(to: "alpha", kind: 16, bytes: Array(0..<200))
        try beta.endpoint.send(to: "alpha", kind: 200, bytes: [])
        let big = [UInt8](repeating: 0xab, count: Frame.payloadBytesMax)
        try beta.endpoint.send(to: "alpha", kind: 17, bytes: big)
        try drive([loop], until: "frames at alpha") { alpha.recorder.frames.count == 3 }
        #expect(alpha.recorder.frames[0].kind == 16 && alpha.recorder.frames[0].bytes == Array(0..<200))
        #expect(alpha.recorder.frames[1].kind == 200 && alpha.recorder.frames[1].bytes.isEmpty)
        #expect(alpha.recorder.frames[2].bytes == big)
        try alpha.endpoint.send(to: "beta", kind: 99, bytes: [1, 2, 3])
        try drive([loop], until: "frame at beta") { beta.recorder.frames.count == 1 }
        #expect(beta.recorder.frames[0].peer == "alpha")
        // Kinds below 16 belong to the link layer; oversized payloads are refused before queueing.
        #expect(throws: TransportError.self) { try alpha.endpoint.send(to: "beta", kind: 3, bytes: []) }
        #expect(throws: TransportError.self) { try alpha.endpoint.send(to: "beta", kind: 16, bytes: big + [0]) }
        #expect(throws: TransportError.self) { try alpha.endpoint.send(to: "gamma", kind: 16, bytes: []) }
        #expect(alpha.log.matching("refused").isEmpty && beta.log.matching("refused").isEmpty)
    }

    /// Dials `server` with a client whose TLS is `clientTLS`; returns both logs once the server refused.
    private func refusal(clientTLS: (TestCertificates) throws -> TLSContext, dialName: String = "alpha",
                         serverTLS: (TestCertificates) throws -> TLSContext = { try $0.context("alpha") },
                         expectServer: String?, expectClient: String?) throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let server = try TestNode("alpha", loop: loop, tls: try serverTLS(certs))
        let client = try TestNode("beta", loop: loop, tls: try clientTLS(certs))
        defer { server.endpoint.close(); client.endpoint.close() }
        let port = try server.endpoint.listen(host: "127.0.0.1", port: 0)
        try client.endpoint.connect(to: dialName, host: "127.0.0.1", port: port)
        try drive([loop], until: "refusal logged") {
            (expectServer == nil || !server.log.matching("refused").isEmpty) && (expectClient == nil || !client.log.matching("refused").isEmpty)
        }
        if let expectServer {
            let lines = server.log.matching("refused")
            #expect(lines.count == 1, "\(lines)")
            #expect(lines.first?.hasPrefix("link from 127.0.0.1:") == true)
            #expect(lines.first?.contains("refused: " + expectServer) == true, "\(lines)")
        }
        if let expectClient {
            let lines = client.log.matching("refused")
            #expect(lines.first?.hasPrefix("link to \(dialName) at 127.0.0.1:\(port) refused: ") == true, "\(lines)")
            #expect(lines.first?.contains(expectClient) == true, "\(lines)")
        }
        #expect(server.recorder.ups.isEmpty && client.recorder.ups.isEmpty)
        #expect(server.recorder.frames.isEmpty && client.recorder.frames.isEmpty)
    }

    @Test func refusesCertificateFromAnotherCA() throws {
        try refusal(clientTLS: { try $0.foreignContext("beta") },
                    expectServer: "certificate not issued by the cluster CA", expectClient: "peer sent TLS alert")
    }

    @Test func refusesServerCertificateFromAnotherCA() throws {
        try refusal(clientTLS: { try $0.context("beta") }, serverTLS: { try $0.foreignContext("alpha") },
                    expectServer: nil, expectClient: "certificate not issued by the cluster CA")
    }

    @Test func refusesExpiredCertificate() throws {
        try refusal(clientTLS: { try $0.context("beta", notBefore: Date(timeIntervalSince1970: 1_700_000_000),
                                                notAfter: Date(timeIntervalSince1970: 1_767_225_600), tag: "expired") },
                    expectServer: "certificate expired (notAfter 2026-01-01 00:00:00Z", expectClient: "certificate expired")
    }

    @Test func refusesNotYetValidCertificate() throws {
        try refusal(clientTLS: { try $0.context("beta", notBefore: Date(timeIntervalSinceNow: 86400 * 30),
                                                notAfter: Date(timeIntervalSinceNow: 86400 * 60), tag: "future") },
                    expectServer: "certificate not yet valid (notBefore ", expectClient: nil)
    }

    @Test func dialerRefusesAnotherName() throws {
        try refusal(clientTLS: { try $0.context("beta") }, dialName: "gamma",
                    expectServer: "peer closed the link: name mismatch: dialed gamma, certificate says alpha",
                    expectClient: "name mismatch: dialed gamma, certificate says alpha")
    }

    @Test(arguments: [
        (Array("GET / HTTP/1.0\r\n\r\n".utf8), "refused: not TLS: plaintext or garbage on the port (first byte 0x47)"),
        ([0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00], "refused: TLS failed: "),
    ])
    func refusesPlaintextAndGarbageWhileOtherLinksGoOn(bytes: [UInt8], expected: String) throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let server = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"))
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        defer { server.endpoint.close(); beta.endpoint.close() }
        let port = try server.endpoint.listen(host: "127.0.0.1", port: 0)
        try beta.endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try drive([loop], until: "link up") { !server.recorder.ups.isEmpty && !beta.recorder.ups.isEmpty }
        let raw = TCPStream(loop: loop)
        var connected = false
        var ended = false
        raw.onConnect = { status in connected = status == 0 }
        raw.connect(to: try SocketAddress(host: "127.0.0.1", port: port))
        try drive([loop], until: "raw connect") { connected }
        raw.onEnd = { _ in ended = true }
        raw.startReading()
        bytes.withUnsafeBytes { raw.write($0) }
        try drive([loop], until: "garbage refused") { ended && !server.log.matching("refused").isEmpty }
        raw.close()
        let lines = server.log.matching("refused")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("link from 127.0.0.1:") == true)
        #expect(lines.first?.contains(expected) == true, "\(lines)")
        #expect(server.recorder.ups.count == 1 && server.recorder.downs.isEmpty)
        // The node and its other link go on.
        try beta.endpoint.send(to: "alpha", kind: 16, bytes: [1])
        try drive([loop], until: "frame on the good link") { server.recorder.frames.count == 1 }
    }

    @Test func closingEndpointsReleasesEveryHandle() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"))
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        try link(beta, to: alpha, named: "alpha", on: loop)
        beta.endpoint.close()
        #expect(beta.recorder.downs.map(\.1.code) == [.normal])
        try drive([loop], until: "alpha sees the goodbye") { !alpha.recorder.downs.isEmpty }
        #expect(alpha.recorder.downs.first?.1.detail == "peer closed the link: beta is shutting down")
        alpha.endpoint.close()
        try drive([loop], until: "sockets closed") { loop.openSocketCount == 0 }
        #expect(loop.openResourceCount == 0)   // the endpoints' tick timers are gone too
    }

    @Test func deadPeerIsDetectedWithinTwoSeconds() throws {
        let certs = try TestCertificates()
        let loopA = try EventLoop()
        let loopB = try EventLoop()
        defer { loopA.close(); loopB.close() }
        let alpha = try TestNode("alpha", loop: loopA, tls: try certs.context("alpha"))
        let beta = try TestNode("beta", loop: loopB, tls: try certs.context("beta"))
        defer { alpha.endpoint.close(); beta.endpoint.close() }
        let port = try alpha.endpoint.listen(host: "127.0.0.1", port: 0)
        try beta.endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try drive([loopA, loopB], until: "link up") { !alpha.recorder.ups.isEmpty && !beta.recorder.ups.isEmpty }
        // Heartbeats keep an idle link alive well past the silence timeout.
        let idleUntil = loopA.nowNanoseconds + 2_000_000_000
        try drive([loopA, loopB], until: "idle period") { loopA.nowNanoseconds >= idleUntil }
        #expect(alpha.recorder.downs.isEmpty && beta.recorder.downs.isEmpty)
        // beta's loop stops: its process hangs; the socket stays open.
        let frozenAt = loopA.nowNanoseconds
        try drive([loopA], until: "dead peer detected", seconds: 3) { !alpha.recorder.downs.isEmpty }
        let detection = Double(loopA.nowNanoseconds - frozenAt) / 1e9
        #expect(detection < 2.0, "detected after \(detection) s")
        #expect(alpha.recorder.downs.first?.1.code == .peerSilent)
        #expect(alpha.log.matching("link with beta closed: peer silent for").count == 1)
    }

    @Test func reconnectsWhenTheListenerComesBack() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let alphaTLS = try certs.context("alpha")
        var alpha = try TestNode("alpha", loop: loop, tls: alphaTLS)
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        defer { beta.endpoint.close() }
        let port = try alpha.endpoint.listen(host: "127.0.0.1", port: 0)
        try beta.endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try drive([loop], until: "first link") { beta.recorder.ups.count == 1 }
        alpha.endpoint.close()
        try drive([loop], until: "link down") { beta.recorder.downs.count == 1 }
        #expect(beta.recorder.downs[0].1.code == .peerGoodbye)
        try drive([loop], until: "failed redial") { !beta.log.matching("dial alpha at 127.0.0.1:\(port) failed").isEmpty }
        alpha = try TestNode("alpha", loop: loop, tls: alphaTLS)
        defer { alpha.endpoint.close() }
        try alpha.endpoint.listen(host: "127.0.0.1", port: port)
        try drive([loop], until: "second link") { beta.recorder.ups.count == 2 && alpha.recorder.ups.count == 1 }
        try beta.endpoint.send(to: "alpha", kind: 16, bytes: [42])
        try drive([loop], until: "frame after reconnect") { alpha.recorder.frames.count == 1 }
    }

    @Test func backoffGrowsWithJitterAndIsCapped() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        var configuration = EndpointConfiguration()
        configuration.randomSeed = 1
        let node = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"), configuration: configuration)
        defer { node.endpoint.close() }
        let delays = (0..<12).map { node.endpoint.backoff(attempt: $0) }
        #expect(delays[0] >= 50_000_000 && delays[0] <= 100_000_000)
        #expect(delays[3] >= 400_000_000 && delays[3] <= 800_000_000)
        #expect(delays.allSatisfy { $0 <= configuration.reconnectMaxNanoseconds })
        #expect(delays[11] >= configuration.reconnectMaxNanoseconds / 2)
        #expect(Set(delays[8...]).count > 1, "jitter")
    }

    @Test func duplicateLinksSettleOnTheOneDialedByTheSmallerName() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"))
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        defer { alpha.endpoint.close(); beta.endpoint.close() }
        let portA = try alpha.endpoint.listen(host: "127.0.0.1", port: 0)
        let portB = try beta.endpoint.listen(host: "127.0.0.1", port: 0)
        try alpha.endpoint.connect(to: "beta", host: "127.0.0.1", port: portB)
        try beta.endpoint.connect(to: "alpha", host: "127.0.0.1", port: portA)
        try drive([loop], until: "links up") { !alpha.recorder.ups.isEmpty && !beta.recorder.ups.isEmpty }
        // Let any duplicate be settled, then check that exactly one link carries frames both ways.
        let settleUntil = loop.nowNanoseconds + 300_000_000
        try drive([loop], until: "settled") { loop.nowNanoseconds >= settleUntil }
        #expect(alpha.recorder.ups.count == 1 && beta.recorder.ups.count == 1)
        #expect(alpha.recorder.downs.isEmpty && beta.recorder.downs.isEmpty)
        try alpha.endpoint.send(to: "beta", kind: 16, bytes: [1])
        try beta.endpoint.send(to: "alpha", kind: 16, bytes: [2])
        try drive([loop], until: "frames") { alpha.recorder.frames.count == 1 && beta.recorder.frames.count == 1 }
    }

    @Test func fullSendQueueAnswersBackpressure() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"))
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        defer { alpha.endpoint.close(); beta.endpoint.close() }
        try link(beta, to: alpha, named: "alpha", on: loop)
        let payload = [UInt8](repeating: 7, count: 1000)
        var accepted = 0
        var refusal: TransportError?
        // Without running the loop nothing leaves: the queue fills and send refuses instead of growing.
        while refusal == nil && accepted < 10_000 {
            do { try beta.endpoint.send(to: "alpha", kind: 16, bytes: payload); accepted += 1 } catch { refusal = error }
        }
        #expect(refusal?.code == .backpressure)
        let limit = beta.endpoint.configuration.link.sendQueueBytesMax
        #expect(beta.endpoint.queuedBytes(to: "alpha") <= limit)
        #expect(accepted == limit / Frame.encodedBytes(payloadBytes: 1000))
        try drive([loop], until: "all frames delivered") { alpha.recorder.frames.count == accepted }
        try beta.endpoint.send(to: "alpha", kind: 16, bytes: payload)
        try drive([loop], until: "one more") { alpha.recorder.frames.count == accepted + 1 }
    }
}
