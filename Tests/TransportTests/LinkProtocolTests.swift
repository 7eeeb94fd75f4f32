// The link protocol without sockets: hello, frames, heartbeats, silence, and every malformed input.
import Core
import Testing
@testable import Transport

private let alpha = PeerIdentity(name: "alpha", role: .node)
private let beta = PeerIdentity(name: "beta", role: .node)
private let ms: UInt64 = 1_000_000

/// Frame bytes as a peer would write them.
private func frame(_ kind: UInt8, _ payload: [UInt8], length: UInt32? = nil) -> [UInt8] {
    let n = length ?? UInt32(payload.count + 1)
    return [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)] + [kind] + payload
}

private func helloBytes(_ identity: PeerIdentity, version: UInt16 = Frame.protocolVersion) -> [UInt8] {
    frame(Frame.kindHello, Hello(version: version, identity: identity).encoded())
}

/// beta's protocol as seen from alpha (alpha accepted beta's link), started.
private func started(expected: String? = nil) -> LinkProtocol {
    var link = LinkProtocol(local: alpha, certified: beta, expectedPeerName: expected, now: 0)
    #expect(link.start() == nil)
    return link
}

/// Feeds bytes and collects the events they cause (frames copied).
private enum Seen: Equatable { case up(PeerIdentity), frame(UInt8, [UInt8]), closed(LinkCloseReason.Code, String) }
private func feed(_ link: inout LinkProtocol, _ bytes: [UInt8], now: UInt64 = 1) -> [Seen] {
    bytes.withUnsafeBytes { link.receive($0, now: now) }
    var seen: [Seen] = []
    while let event = link.nextEvent() {
        switch event {
        case .established(let peer): seen.append(.up(peer))
        case .frame(let kind, let payload): seen.append(.frame(kind, Array(payload)))
        case .closed(let reason): seen.append(.closed(reason.code, reason.detail))
        }
    }
    return seen
}

/// Decodes the frames in `bytes` (kind, payload).
private func frames(in bytes: UnsafeRawBufferPointer) -> [(UInt8, [UInt8])] {
    var result: [(UInt8, [UInt8])] = []
    var offset = 0
    while offset + 5 <= bytes.count {
        let length = Int(bytes.loadLittleEndianUInt32(at: offset))
        result.append((bytes[offset + 4], Array(bytes[(offset + 5)..<(offset + 4 + length)])))
        offset += 4 + length
    }
    return result
}

@Suite struct LinkProtocolTests {
    @Test func helloGoesOutFirstAndEstablishesOnAValidHello() {
        var link = started()
        let out = frames(in: link.outbound)
        #expect(out.count == 1 && out[0].0 == Frame.kindHello)
        #expect(out[0].1 == [1, 0, 1, 5] + Array("alpha".utf8))
        link.consumeOutbound(link.outboundBytes)
        #expect(feed(&link, helloBytes(beta)) == [.up(beta)])
        #expect(link.state == .established)
    }

    @Test func framesArriveWholeWhenFedByteByByte() {
        var link = started()
        var seen: [Seen] = []
        for byte in helloBytes(beta) + frame(16, [1, 2, 3]) + frame(255, []) + frame(Frame.kindHeartbeat, []) + frame(17, Array(repeating: 9, count: 1000)) {
            seen += feed(&link, [byte])
        }
        #expect(seen == [.up(beta), .frame(16, [1, 2, 3]), .frame(255, []), .frame(17, Array(repeating: 9, count: 1000))])
    }

    @Test func sendQueuesFramesAndRefusesLinkKindsAndOversize() throws {
        var link = started()
        #expect(throws: TransportError(.notConnected, "link to beta is not established")) {
            try [UInt8]().withUnsafeBytes { try link.send(kind: 16, payload: $0) }
        }
        _ = feed(&link, helloBytes(beta))
        link.consumeOutbound(link.outboundBytes)
        try [UInt8]([7, 8]).withUnsafeBytes { try link.send(kind: 20, payload: $0) }
        #expect(frames(in: link.outbound).map(\.0) == [20])
        #expect(Array(link.outbound) == [3, 0, 0, 0, 20, 7, 8])
        let error = #expect(throws: TransportError.self) { try [UInt8]().withUnsafeBytes { try link.send(kind: Frame.kindGoodbye, payload: $0) } }
        #expect(error?.code == .invalidKind)
        let big = [UInt8](repeating: 0, count: Frame.payloadBytesMax + 1)
        let tooBig = #expect(throws: TransportError.self) { try big.withUnsafeBytes { try link.send(kind: 16, payload: $0) } }
        #expect(tooBig?.code == .frameTooLarge)
    }

    @Test func sendQueueIsBounded() throws {
        var configuration = LinkConfiguration()
        configuration.sendQueueBytesMax = Frame.frameBytesMax
        var link = LinkProtocol(local: alpha, certified: beta, expectedPeerName: nil, configuration: configuration, now: 0)
        _ = link.start()
        _ = feed(&link, helloBytes(beta))
        link.consumeOutbound(link.outboundBytes)
        let payload = [UInt8](repeating: 1, count: 30_000)
        try payload.withUnsafeBytes { try link.send(kind: 16, payload: $0) }
        try payload.withUnsafeBytes { try link.send(kind: 16, payload: $0) }
        let error = #expect(throws: TransportError.self) { try payload.withUnsafeBytes { try link.send(kind: 16, payload: $0) } }
        #expect(error?.code == .backpressure)
        link.consumeOutbound(link.outboundBytes)
        try payload.withUnsafeBytes { try link.send(kind: 16, payload: $0) }
    }

    // MARK: malformed input: each closes the link with a reason and a goodbye

    private func expectRefusal(_ bytes: [UInt8], established: Bool = true, _ code: LinkCloseReason.Code, _ detail: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        var link = started()
        if established { _ = feed(&link, helloBytes(beta)) }
        link.consumeOutbound(link.outboundBytes)
        let seen = feed(&link, bytes)
        #expect(seen == [.closed(code, detail)], sourceLocation: sourceLocation)
        #expect(link.state == .closed, sourceLocation: sourceLocation)
        let goodbye = frames(in: link.outbound)
        #expect(goodbye.count == 1 && goodbye[0].0 == Frame.kindGoodbye && goodbye[0].1.first == code.rawValue, sourceLocation: sourceLocation)
        // Nothing more comes out of a closed link.
        #expect(feed(&link, frame(16, [1])).isEmpty, sourceLocation: sourceLocation)
    }

    @Test func lengthOverTheMaximumIsRefusedBeforeTheBodyArrives() {
        expectRefusal([0x01, 0x00, 0x01, 0x00], .protocolViolation, "malformed frame: length 65537 over the maximum 65536")
        expectRefusal([0xff, 0xff, 0xff, 0xff], .protocolViolation, "malformed frame: length 4294967295 over the maximum 65536")
    }

    @Test func zeroLengthIsRefused() {
        expectRefusal([0, 0, 0, 0], .protocolViolation, "malformed frame: length 0 (no kind byte)")
    }

    @Test func unknownLinkKindsAreRefused() {
        for kind: UInt8 in [0, 4, 9, 15] {
            expectRefusal(frame(kind, []), .protocolViolation, "malformed frame: unknown link kind \(kind)")
        }
    }

    @Test func frameBeforeHelloIsRefused() {
        expectRefusal(frame(16, [1]), established: false, .protocolViolation, "malformed frame: kind 16 before hello")
        expectRefusal(frame(Frame.kindHeartbeat, []), established: false, .protocolViolation, "malformed frame: kind 2 before hello")
    }

    @Test func secondHelloAndHeartbeatWithPayloadAreRefused() {
        expectRefusal(helloBytes(beta), .protocolViolation, "malformed frame: second hello")
        expectRefusal(frame(Frame.kindHeartbeat, [0]), .protocolViolation, "malformed frame: heartbeat with 1 payload bytes")
    }

    @Test func badHellosAreRefused() {
        expectRefusal(frame(Frame.kindHello, [1]), established: false, .protocolViolation, "bad hello: 1 bytes")
        expectRefusal(frame(Frame.kindHello, [1, 0, 1]), established: false, .protocolViolation, "bad hello: 3 bytes")
        expectRefusal(frame(Frame.kindHello, [1, 0, 9, 1, 0x61]), established: false, .protocolViolation, "bad hello: unknown role 9")
        expectRefusal(frame(Frame.kindHello, [1, 0, 1, 9, 0x61]), established: false, .protocolViolation, "bad hello: name of 9 bytes in a 5-byte hello")
        expectRefusal(frame(Frame.kindHello, [1, 0, 1, 2, 0x61, 0x2e]), established: false, .protocolViolation, "bad hello: invalid name")
    }

    @Test func versionMismatchIsRefused() {
        expectRefusal(helloBytes(beta, version: 2), established: false, .versionMismatch, "protocol version mismatch: peer speaks 2, this node 1")
    }

    @Test func helloMustMatchTheCertificate() {
        expectRefusal(helloBytes(PeerIdentity(name: "gamma", role: .node)), established: false, .nameMismatch,
                      "name mismatch: hello claims gamma, certificate says beta")
        expectRefusal(helloBytes(PeerIdentity(name: "beta", role: .orchestrator)), established: false, .roleMismatch,
                      "role mismatch: hello claims orchestrator, certificate says node")
    }

    @Test func dialerRefusesACertificateWithAnotherName() {
        var link = LinkProtocol(local: alpha, certified: beta, expectedPeerName: "gamma", now: 0)
        guard case .closed(let reason) = link.start() else { Issue.record("not refused"); return }
        #expect(reason == LinkCloseReason(.nameMismatch, "name mismatch: dialed gamma, certificate says beta"))
        #expect(frames(in: link.outbound).map(\.0) == [Frame.kindGoodbye])
    }

    @Test func goodbyeFromPeerClosesWithItsReason() {
        var link = started()
        _ = feed(&link, helloBytes(beta))
        link.consumeOutbound(link.outboundBytes)
        #expect(feed(&link, frame(Frame.kindGoodbye, [1] + Array("bye".utf8))) == [.closed(.peerGoodbye, "peer closed the link: bye")])
        #expect(link.outboundBytes == 0)   // no goodbye answers a goodbye
    }

    @Test func aPeersGoodbyeDetailIsCutAndEscapedForTheLog() {
        var link = started()
        _ = feed(&link, helloBytes(beta))
        // 10 KiB of detail: newlines, a terminal escape, a bidirectional override, a backslash, invalid UTF-8.
        let head = Array("line1\nforged: link with x up\r\u{1b}[31mred\u{202e}\\".utf8) + [0xff]
        let detail = head + [UInt8](repeating: 0x41, count: 10 * 1024)
        guard case .closed(.peerGoodbye, let text)? = feed(&link, frame(Frame.kindGoodbye, [1] + detail)).first else {
            Issue.record("not closed by the goodbye"); return
        }
        let shown = text.dropFirst("peer closed the link: ".count)
        #expect(shown.hasPrefix("line1\\nforged: link with x up\\r\\x1b[31mred\\u{202e}\\\\\u{fffd}AAA"), "\(shown)")
        #expect(shown.hasSuffix("A…"))
        #expect(!text.contains("\n") && !text.contains("\r") && !text.contains("\u{1b}"))
        // 200 bytes of the peer's detail at most, each escape at most 8 characters for one byte.
        #expect(shown.utf8.count < 200 * 8 && shown.filter { $0 == "A" }.count == 200 - head.count, "\(shown.utf8.count)")
    }

    @Test func logTextCutsAtACharacterBoundary() {
        #expect(LogText.printable("ab€", bytesMax: 4) == "ab…")   // € is 3 bytes: not split
        #expect(LogText.printable("ab€", bytesMax: 5) == "ab€")
        #expect(LogText.printable("tab\there\u{7f}\u{85}", bytesMax: 100) == "tab\\there\\x7f\\u{0085}")
        #expect(LogText.printable("", bytesMax: 0) == "" && LogText.printable("x", bytesMax: 0) == "…")
    }

    @Test func onlyMembersLinkAsNodesAndOrchestratorsAlwaysDo() {
        var stranger = LinkProtocol(local: alpha, certified: beta, expectedPeerName: nil, now: 0)
        guard case .closed(let reason) = stranger.start(members: ["alpha", "gamma"]) else { Issue.record("not refused"); return }
        #expect(reason == LinkCloseReason(.notMember, "node beta is not a member of this cluster"))
        // A goodbye instead of the hello: the peer learns why.
        let out = frames(in: stranger.outbound)
        #expect(out.map(\.0) == [Frame.kindGoodbye] && out.first?.1.first == LinkCloseReason.Code.notMember.rawValue)
        var member = LinkProtocol(local: alpha, certified: beta, expectedPeerName: nil, now: 0)
        #expect(member.start(members: ["alpha", "beta"]) == nil)
        let control = PeerIdentity(name: "ctl", role: .orchestrator)
        var orchestrator = LinkProtocol(local: alpha, certified: control, expectedPeerName: nil, now: 0)
        #expect(orchestrator.start(members: ["alpha"]) == nil)
        #expect(feed(&orchestrator, helloBytes(control)) == [.up(control)])
    }

    @Test func refusalsAreLoggedOneByOneThenSummedUpPerInterval() {
        var log = RefusalLog(intervalNanoseconds: 1000 * ms, linesPerInterval: 2)
        var lines: [String] = []
        for i in 0..<100 {
            let host = "10.0.0.\(i % 7)"
            lines += log.refused(from: host, code: i % 10 == 0 ? .handshakeTimeout : .overloaded, now: UInt64(i) * ms) { "refused \(i)" }
        }
        #expect(lines == ["refused 0", "refused 1"])
        #expect(log.summary(now: 999 * ms) == nil, "the interval is not over")
        #expect(log.summary(now: 1000 * ms) == "refused 100 connections from 7 addresses in 1.0 s (2 logged above): overloaded 90, handshakeTimeout 10")
        #expect(log.summary(now: 5000 * ms) == nil, "said once")
        // A quiet interval with no more refusals than lines logs nothing more.
        #expect(log.refused(from: "10.0.0.1", code: .notTLS, now: 6000 * ms) { "one" } == ["one"])
        #expect(log.summary(now: 7000 * ms) == nil)
        // A refusal after an interval with unlogged refusals brings its summary first.
        for _ in 0..<3 { _ = log.refused(from: "10.0.0.1", code: .notTLS, now: 8000 * ms) { "x" } }
        let next = log.refused(from: "10.0.0.2", code: .notTLS, now: 9500 * ms) { "y" }
        #expect(next == ["refused 3 connections from 1 address in 1.5 s (2 logged above): notTLS 3", "y"])
    }

    @Test func heartbeatsGoOutWhenIdleAndSilenceClosesTheLink() throws {
        var link = started()
        _ = feed(&link, helloBytes(beta), now: 0)
        link.consumeOutbound(link.outboundBytes)
        #expect(link.tick(now: 100 * ms) == nil && link.outboundBytes == 0)
        #expect(link.tick(now: 400 * ms) == nil)
        #expect(frames(in: link.outbound).map(\.0) == [Frame.kindHeartbeat])
        link.consumeOutbound(link.outboundBytes)
        // Data sent during an interval replaces the heartbeat.
        try [UInt8]([1]).withUnsafeBytes { try link.send(kind: 16, payload: $0) }
        link.consumeOutbound(link.outboundBytes)
        #expect(link.tick(now: 800 * ms) == nil && link.outboundBytes == 0)
        // Bytes from the peer keep it alive; 1.5 s without any close it.
        _ = feed(&link, frame(Frame.kindHeartbeat, []), now: 1000 * ms)
        #expect(link.tick(now: 2400 * ms) == nil)
        guard case .closed(let reason) = link.tick(now: 2500 * ms) else { Issue.record("not closed"); return }
        #expect(reason.code == .peerSilent)
        #expect(reason.detail == "peer silent for 1.5 s (dead peer)")
    }

    @Test func helloMustArriveInTime() {
        var link = started()
        #expect(link.tick(now: 1000 * ms) == nil)
        guard case .closed(let reason) = link.tick(now: 3000 * ms) else { Issue.record("not closed"); return }
        #expect(reason.code == .handshakeTimeout)
    }

    @Test func twoProtocolsTalkThroughMemory() throws {
        var a = LinkProtocol(local: alpha, certified: beta, expectedPeerName: "beta", now: 0)
        var b = LinkProtocol(local: beta, certified: alpha, expectedPeerName: nil, now: 0)
        _ = a.start(); _ = b.start()
        var seenA = feed(&a, Array(b.outbound)); b.consumeOutbound(b.outboundBytes)
        var seenB = feed(&b, Array(a.outbound)); a.consumeOutbound(a.outboundBytes)
        #expect(seenA == [.up(beta)] && seenB == [.up(alpha)])
        try [UInt8]([5]).withUnsafeBytes { try a.send(kind: 30, payload: $0) }
        seenB = feed(&b, Array(a.outbound)); a.consumeOutbound(a.outboundBytes)
        #expect(seenB == [.frame(30, [5])])
        a.close(LinkCloseReason(.normal, "done"))
        seenB = feed(&b, Array(a.outbound))
        #expect(seenB == [.closed(.peerGoodbye, "peer closed the link: done")])
        seenA = feed(&a, [1, 2, 3])
        #expect(seenA.isEmpty)
    }

    @Test func endpointLimitsAreChecked() throws {
        try EndpointConfiguration().validate()
        var perAddressOverTotal = EndpointConfiguration()
        perAddressOverTotal.pendingConnectionsPerAddressMax = perAddressOverTotal.pendingConnectionsMax + 1
        var noDeadline = EndpointConfiguration()
        noDeadline.link.handshakeTimeoutNanoseconds = 0
        var badMember = EndpointConfiguration()
        badMember.members = ["a", "b c"]
        for bad in [perAddressOverTotal, noDeadline, badMember] { #expect(throws: TransportError.self) { try bad.validate() } }
    }

    @Test func limitsAgreeWithEachOther() throws {
        try LinkConfiguration().validate()
        #expect(Frame.frameBytesMax == Frame.lengthBytes + Frame.lengthMax)
        #expect(Frame.payloadBytesMax + 1 == Frame.lengthMax)
        var bad = LinkConfiguration()
        bad.heartbeatIntervalNanoseconds = bad.silenceTimeoutNanoseconds
        #expect(throws: TransportError.self) { try bad.validate() }
        // A cross-node message and a co_value block fit in one frame.
        #expect(Frame.payloadBytesMax > 292 + 32 * 1024)
    }
}
