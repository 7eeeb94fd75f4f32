// Hostile connections against a real Endpoint on loopback: limits on connections waiting for their
// handshake (in all and per source address), the handshake deadline, rate-limited refusal lines, and
// node certificates outside the cluster's membership. Connections go to 127.0.0.1 only; their source
// addresses are other loopback addresses (127.0.0.2, …), which Linux routes to lo.
import Foundation
import Testing
@testable import Transport

/// A plain TCP socket from `source` (a loopback address) to 127.0.0.1:`port`, connected (the kernel
/// completes the connection before the endpoint accepts it). SO_LINGER 0: closing it resets.
func rawConnection(from source: String, to port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DeadlineExceeded(what: "a socket: \(String(cString: strerror(errno)))") }
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    func address(_ host: String, _ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = port.bigEndian
        return address
    }
    var local = address(source, 0)
    var remote = address("127.0.0.1", port)
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 } }
        && withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) == 0 } }
    guard ok else {
        let why = String(cString: strerror(errno))
        close(fd)
        throw DeadlineExceeded(what: "a connection from \(source): \(why)")
    }
    return fd
}

/// What the endpoint did to a raw connection so far: nothing yet (open), reset, or closed.
enum RawState: Equatable { case open, reset, closed }
func rawState(_ fd: Int32) -> RawState {
    var byte: UInt8 = 0
    let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
    if n == 0 { return .closed }
    if n < 0 && errno == ECONNRESET { return .reset }
    return .open
}

@Suite(.serialized) struct AdmissionTests {
    @Test func connectionsPastTheLimitsAreResetAtOnceAndTheOthersMeetTheHandshakeDeadline() throws {
        let certs = try TestCertificates()
        let loop = try EventLoop()
        defer { loop.close() }
        var configuration = TestNode.fastConfiguration
        configuration.pendingConnectionsMax = 4
        configuration.pendingConnectionsPerAddressMax = 2
        configuration.link.handshakeTimeoutNanoseconds = 300_000_000
        configuration.tickNanoseconds = 20_000_000
        configuration.refusalLogIntervalNanoseconds = 500_000_000
        configuration.refusalLinesPerInterval = 1
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"), configuration: configuration)
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        defer { alpha.endpoint.close(); beta.endpoint.close() }
        try link(beta, to: alpha, named: "alpha", on: loop)
        #expect(alpha.endpoint.pendingConnectionCount == 0, "an authenticated link does not count")
        let port = alpha.endpoint.listeningPort!

        // Accepted in this order: two from .2 pass, the third is over the limit per address; two
        // from .3 fill the total; the third from .3 and the one from .4 are over it.
        let sources = ["127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.3", "127.0.0.4"]
        let sockets = try sources.map { try rawConnection(from: $0, to: port) }
        defer { for fd in sockets { close(fd) } }
        // One of the admitted stops in the middle of a ClientHello.
        let partial: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]
        _ = partial.withUnsafeBytes { send(sockets[0], $0.baseAddress, $0.count, 0) }
        let connectedAt = loop.nowNanoseconds
        try drive([loop], until: "four admitted, three reset") {
            alpha.endpoint.pendingConnectionCount == 4 && [2, 5, 6].allSatisfy { rawState(sockets[$0]) == .reset }
        }
        #expect([0, 1, 3, 4].allSatisfy { rawState(sockets[$0]) == .open })
        #expect(alpha.endpoint.pendingConnectionCount(from: "127.0.0.2") == 2 && alpha.endpoint.pendingConnectionCount(from: "127.0.0.3") == 2)
        let refused = alpha.log.matching("refused")
        #expect(refused.count == 1, "one line per interval, then a summary: \(refused)")
        #expect(refused.first?.hasPrefix("link from 127.0.0.2:") == true)
        #expect(refused.first?.hasSuffix("refused: 2 connections from 127.0.0.2 wait for their handshake, the limit per address") == true, "\(refused)")

        // The deadline ends the others: reset (nothing to say to a peer that said nothing).
        try drive([loop], until: "handshake deadline") { alpha.endpoint.pendingConnectionCount == 0 }
        let waited = Double(loop.nowNanoseconds - connectedAt) / 1e9
        #expect(waited >= 0.3 && waited < 3.0, "closed after \(waited) s (the deadline, not before; well after only on a loaded machine)")
        try drive([loop], until: "resets seen") { [0, 1, 3, 4].allSatisfy { rawState(sockets[$0]) == .reset } }
        try drive([loop], until: "summary") { !alpha.log.matching("refused 7 connections").isEmpty }
        let summary = alpha.log.matching("refused 7 connections")
        #expect(summary.count == 1)
        #expect(summary.first?.hasPrefix("refused 7 connections from 3 addresses in ") == true, "\(summary)")
        #expect(summary.first?.hasSuffix(" (1 logged above): handshakeTimeout 4, overloaded 3") == true, "\(summary)")
        #expect(alpha.log.matching("refused").count == 2, "\(alpha.log.lines)")

        // The authenticated link went on all along, and nothing of the refused is left.
        #expect(alpha.recorder.downs.isEmpty)
        try beta.endpoint.send(to: "alpha", kind: 16, bytes: [1])
        try drive([loop], until: "frame on the good link") { alpha.recorder.frames.count == 1 }
        #expect(loop.openSocketCount == 3, "the listener and the two ends of the link")
    }

    @Test func aNodeCertificateOutsideTheMembershipIsRefusedAtHelloAndOrchestratorsConnect() throws {
        let certs = try TestCertificates(nodes: ["alpha", "beta"], orchestrators: ["ctl"])
        let loop = try EventLoop()
        defer { loop.close() }
        var configuration = TestNode.fastConfiguration
        configuration.members = ["alpha", "gamma"]
        let alpha = try TestNode("alpha", loop: loop, tls: try certs.context("alpha"), configuration: configuration)
        let beta = try TestNode("beta", loop: loop, tls: try certs.context("beta"))
        let control = try TestNode("ctl", loop: loop, tls: try certs.context("ctl"))
        defer { alpha.endpoint.close(); beta.endpoint.close(); control.endpoint.close() }
        let port = try alpha.endpoint.listen(host: "127.0.0.1", port: 0)
        try beta.endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try control.endpoint.connect(to: "alpha", host: "127.0.0.1", port: port)
        try drive([loop], until: "refusal and control link") {
            !alpha.log.matching("is not a member").isEmpty && !beta.log.matching("is not a member").isEmpty && !control.recorder.ups.isEmpty
        }
        #expect(alpha.log.matching("refused").first?.hasSuffix("refused: node beta is not a member of this cluster") == true, "\(alpha.log.lines)")
        #expect(beta.log.matching("refused").first == "link to alpha at 127.0.0.1:\(port) refused: peer closed the link: node beta is not a member of this cluster")
        #expect(alpha.recorder.ups.isEmpty && alpha.recorder.sessionsOpened.map(\.1) == [PeerIdentity(name: "ctl", role: .orchestrator)])
        #expect(beta.recorder.ups.isEmpty && alpha.recorder.frames.isEmpty)
        try control.endpoint.send(to: "alpha", kind: 32, bytes: [7])
        try drive([loop], until: "control frame") { alpha.recorder.sessionFrames.count == 1 }
    }
}
