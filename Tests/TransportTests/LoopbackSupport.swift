// Helpers for tests over real loopback TCP: a recording delegate and a loop driver with a deadline.
import Foundation
@testable import Transport

/// Records what an endpoint reports.
final class Recorder: LinkDelegate {
    var ups: [PeerIdentity] = []
    var downs: [(PeerIdentity, LinkCloseReason)] = []
    var frames: [(peer: String, kind: UInt8, bytes: [UInt8])] = []
    var onFrame: ((String, UInt8, UnsafeRawBufferPointer) -> Void)?

    func linkUp(_ peer: PeerIdentity) { ups.append(peer) }
    func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason) { downs.append((peer, reason)) }
    func frameReceived(from peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
        frames.append((peer.name, kind, Array(payload)))
        onFrame?(peer.name, kind, payload)
    }

    var sessionsOpened: [(SessionID, PeerIdentity)] = []
    var sessionsClosed: [(SessionID, LinkCloseReason)] = []
    var sessionFrames: [(session: SessionID, kind: UInt8, bytes: [UInt8])] = []
    func sessionOpened(_ session: SessionID, peer: PeerIdentity) { sessionsOpened.append((session, peer)) }
    func sessionClosed(_ session: SessionID, peer: PeerIdentity, reason: LinkCloseReason) { sessionsClosed.append((session, reason)) }
    func frameReceived(from session: SessionID, peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
        sessionFrames.append((session, kind, Array(payload)))
    }
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs the loops until `condition` holds, or throws after `seconds`. One loop blocks in uv_run (woken at least
/// every 10 ms by a timer); several loops take turns without blocking.
func drive(_ loops: [EventLoop], until what: String, seconds: Double = 5, _ condition: () -> Bool) throws {
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
    let waker = loops.count == 1 ? loops[0].schedule(afterNanoseconds: 10_000_000, repeatNanoseconds: 10_000_000) {} : nil
    defer { waker?.cancel() }
    while !condition() {
        guard DispatchTime.now().uptimeNanoseconds < deadline else { throw DeadlineExceeded(what: what) }
        if loops.count == 1 { loops[0].runOnce() } else {
            for loop in loops { loop.runOnce(nowait: true) }
            usleep(200)   // not synchronisation: only keeps two polling loops from spinning a core
        }
    }
}

/// `dialer` connects to `listener` (certificate name `name`) on a fresh loopback port; returns once
/// both have seen the link come up.
func link(_ dialer: TestNode, to listener: TestNode, named name: String, on loop: EventLoop) throws {
    let port = try listener.endpoint.listen(host: "127.0.0.1", port: 0)
    try dialer.endpoint.connect(to: name, host: "127.0.0.1", port: port)
    try drive([loop], until: "link up") { !listener.recorder.ups.isEmpty && !dialer.recorder.ups.isEmpty }
}

/// An endpoint for `name` from `certs` with a recorder and a log.
final class TestNode {
    let endpoint: Endpoint
    let recorder = Recorder()
    let log = LogLines()

    init(_ name: String, loop: EventLoop, tls: TLSContext, configuration: EndpointConfiguration = TestNode.fastConfiguration) throws {
        endpoint = try Endpoint(loop: loop, tls: tls, configuration: configuration, log: log.sink)
        endpoint.delegate = recorder
        _ = name
    }

    static var fastConfiguration: EndpointConfiguration {
        var configuration = EndpointConfiguration()
        configuration.reconnectInitialNanoseconds = 20_000_000
        configuration.reconnectMaxNanoseconds = 200_000_000
        configuration.randomSeed = 7
        return configuration
    }
}
