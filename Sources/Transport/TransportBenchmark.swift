// Loopback ping-pong measurements for `fireball-bench transport`: raw TLS on the same libuv + memory-BIO
// machinery, and the same through link frames. Server on its own loop thread, client on the caller's.
import Foundation
import Synchronization

/// Round-trip figures of one ping-pong run.
public struct PingPongResult: Sendable {
    public let roundTrips: Int
    public let seconds: Double
    public let p50Microseconds: Double
    public let p99Microseconds: Double
    public var perSecond: Double { Double(roundTrips) / seconds }

    public init(roundTrips: Int, seconds: Double, p50Microseconds: Double, p99Microseconds: Double) {
        self.roundTrips = roundTrips
        self.seconds = seconds
        self.p50Microseconds = p50Microseconds
        self.p99Microseconds = p99Microseconds
    }
}

public enum TransportBenchmark {
    /// Raw TLS 1.3: the client writes `messageBytes` and waits for the server's echo of all of them.
    public static func rawTLSPingPong(certificates directory: String, messageBytes: Int, seconds: Double) throws -> PingPongResult {
        let server = try ServerThread(directory: directory, name: "bench-server") { loop, tls in
            let listener = try TCPListener(loop: loop, address: try SocketAddress(host: "127.0.0.1", port: 0))
            var sessions: [TCPStream] = []
            listener.onConnection = { stream in
                let session = TLSSession(context: tls, isServer: true, serverName: nil)
                let plaintext = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
                stream.onRead = { bytes in
                    _ = session.feed(bytes)
                    if !session.handshakeDone { _ = session.handshake() }
                    if session.handshakeDone {
                        while case .bytes(let n) = session.read(into: plaintext) { _ = session.write(UnsafeRawBufferPointer(rebasing: plaintext[0..<n])) }
                    }
                    let out = session.pendingCiphertext
                    if out.count > 0 { stream.write(out); session.consumeCiphertext(out.count) }
                }
                stream.onEnd = { _ in stream.close(); plaintext.deallocate() }
                stream.startReading()
                sessions.append(stream)
            }
            return (listener.port, { listener.close(); for stream in sessions { stream.close() } })
        }
        defer { server.stop() }

        let loop = try EventLoop()
        defer { loop.close() }
        let tls = try TLSContext(directory: directory, name: "bench-client")
        let session = TLSSession(context: tls, isServer: false, serverName: "bench-server")
        let stream = TCPStream(loop: loop)
        defer { stream.close() }
        var connected = false
        var received = 0
        let plaintext = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        defer { plaintext.deallocate() }
        func flush() {
            let out = session.pendingCiphertext
            if out.count > 0 { stream.write(out); session.consumeCiphertext(out.count) }
        }
        stream.onConnect = { status in precondition(status == 0, "connect: \(uvErrorText(status))"); connected = true }
        stream.onRead = { bytes in
            _ = session.feed(bytes)
            if !session.handshakeDone { _ = session.handshake() }
            if session.handshakeDone { while case .bytes(let n) = session.read(into: plaintext) { received += n } }
            flush()
        }
        stream.connect(to: try SocketAddress(host: "127.0.0.1", port: server.port))
        while !connected { loop.runOnce() }
        stream.startReading()
        _ = session.handshake()
        flush()
        while !session.handshakeDone { loop.runOnce() }
        let message = [UInt8](repeating: 0x5a, count: messageBytes)
        return measure(seconds: seconds) {
            received = 0
            message.withUnsafeBytes { _ = session.write($0) }
            flush()
            while received < messageBytes { loop.runOnce() }
        }
    }

    /// The same through Endpoints: an application frame of `messageBytes` and its echo from the peer's delegate.
    public static func linkPingPong(certificates directory: String, messageBytes: Int, seconds: Double) throws -> PingPongResult {
        final class Echo: LinkDelegate {
            unowned var endpoint: Endpoint?
            func linkUp(_ peer: PeerIdentity) {}
            func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason) {}
            func frameReceived(from peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
                try? endpoint?.send(to: peer.name, kind: kind, payload: payload)
            }
        }
        final class Counter: LinkDelegate {
            var up = false
            var replies = 0
            func linkUp(_ peer: PeerIdentity) { up = true }
            func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason) { up = false }
            func frameReceived(from peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) { replies += 1 }
        }
        let server = try ServerThread(directory: directory, name: "bench-server") { loop, tls in
            let endpoint = try Endpoint(loop: loop, tls: tls, log: { _ in })
            let echo = Echo()
            echo.endpoint = endpoint
            endpoint.delegate = echo
            let port = try endpoint.listen(host: "127.0.0.1", port: 0)
            return (port, { endpoint.close(); _ = echo })
        }
        defer { server.stop() }

        let loop = try EventLoop()
        defer { loop.close() }
        let endpoint = try Endpoint(loop: loop, tls: try TLSContext(directory: directory, name: "bench-client"), log: { _ in })
        defer { endpoint.close() }
        let counter = Counter()
        endpoint.delegate = counter
        try endpoint.connect(to: "bench-server", host: "127.0.0.1", port: server.port)
        while !counter.up { loop.runOnce() }
        let message = [UInt8](repeating: 0x5a, count: messageBytes)
        return try message.withUnsafeBytes { payload in
            var failure: TransportError?
            let result = measure(seconds: seconds) {
                let before = counter.replies
                do throws(TransportError) { try endpoint.send(to: "bench-server", kind: Frame.applicationKindMin, payload: payload) } catch {
                    failure = error
                    return
                }
                while counter.replies == before && counter.up { loop.runOnce() }
            }
            if let failure { throw failure }
            return result
        }
    }

    /// Makes a CA and the two bench certificates in `directory`.
    public static func makeCertificates(in directory: String) throws {
        let ca = try CertificateAuthority.initialize(directory: directory, force: true)
        try ca.issue(name: "bench-server", role: .node, force: true)
        try ca.issue(name: "bench-client", role: .node, force: true)
    }

    private static func measure(seconds: Double, warmup: Int = 2000, _ roundTrip: () -> Void) -> PingPongResult {
        for _ in 0..<warmup { roundTrip() }
        var latencies: [UInt64] = []
        latencies.reserveCapacity(1 << 21)
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(seconds * 1e9)
        var now = start
        while now < end && latencies.count < (1 << 21) {
            roundTrip()
            let after = DispatchTime.now().uptimeNanoseconds
            latencies.append(after - now)
            now = after
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000 }
        return PingPongResult(roundTrips: latencies.count, seconds: Double(now - start) / 1e9,
                              p50Microseconds: percentile(0.5), p99Microseconds: percentile(0.99))
    }
}

/// A server with its own EventLoop on its own thread. The setup closure runs on that thread and returns the
/// port and a teardown closure; `stop()` ends the loop and waits for the thread.
private final class ServerThread: Sendable {
    let port: UInt16
    private let remote: EventLoopRemote
    private let done = DispatchSemaphore(value: 0)

    init(directory: String, name: String,
         setup: @escaping @Sendable (EventLoop, TLSContext) throws -> (UInt16, () -> Void)) throws {
        let ready = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<(UInt16, EventLoopRemote), TransportError>?>(nil)
        let done = self.done
        let thread = Thread {
            do {
                let loop = try EventLoop()
                let tls = try TLSContext(directory: directory, name: name)
                let (port, teardown) = try setup(loop, tls)
                let remote = loop.remote
                outcome.withLock { $0 = .success((port, remote)) }
                ready.signal()
                loop.run()
                teardown()
                loop.close()
            } catch {
                outcome.withLock { $0 = .failure(error as? TransportError ?? TransportError(.system, "\(error)")) }
                ready.signal()
            }
            done.signal()
        }
        thread.start()
        ready.wait()
        let (port, remote) = try outcome.withLock { $0! }.get()
        self.port = port
        self.remote = remote
    }

    func stop() {
        remote.stop()
        done.wait()
    }
}
