// Cross-node rendezvous: two node daemons (linux-host boards) on loopback TLS, one on its own thread.
// Node b serves echo channels (a Swift service per URI); node a's ping services open them through the
// router (mirror channels) and time each round trip: send (completes when b's echo took the message),
// then receive (b's echo send is held until a's ping took it). Every round trip is two rendezvous.
import Core
import Foundation
import HAL
import Node
import Synchronization
import Transport

enum RendezvousBenchmark {
    /// The largest wire message (32 entries): the same bytes as the raw TLS reference.
    static let message: Message = {
        var builder = MessageBuilder()
        for key in 0..<Message.entriesMax { try! builder.add(.functional(UInt32(key + 1)), UInt32(key)) }
        return builder.build()
    }()

    /// The round trips, and how many of the receives took a message received ahead.
    static func run(certificates directory: String, channels: Int, seconds: Double, receiveAhead: Bool = true) throws -> (PingPongResult, receivedAhead: Int) {
        let board = try Board.resolve("linux-host")
        let data = directory + "/data-\(channels)\(receiveAhead ? "" : "-off")"
        let serverReady = DispatchSemaphore(value: 0)
        let serverDone = DispatchSemaphore(value: 0)
        let server = Mutex<Result<(UInt16, DrainHandle), NodeError>?>(nil)
        let thread = Thread {
            do {
                var configuration = NodeConfiguration(name: "bench-server", board: board, listenHost: "127.0.0.1", listenPort: 0, peers: [],
                                                      certificateDirectory: directory, dataDirectory: data + "/b")
                configuration.slicesPerIteration = 256
                let node = try NodeDaemon(configuration: configuration) { _ in }
                for index in 0..<channels { node.spawnService(EchoService(uri: uri(index)), name: "echo-\(index)") }
                let port = node.endpoint.listeningPort!
                server.withLock { $0 = .success((port, node.drainHandle)) }
                serverReady.signal()
                node.run()
            } catch {
                server.withLock { $0 = .failure(NodeError("\(error)")) }
                serverReady.signal()
            }
            serverDone.signal()
        }
        thread.start()
        serverReady.wait()
        let (port, drain) = try server.withLock { $0! }.get()
        defer {
            drain.request()
            serverDone.wait()
        }

        var configuration = NodeConfiguration(name: "bench-client", board: board, listenHost: "127.0.0.1", listenPort: 0,
                                              peers: [.init(name: "bench-server", host: "127.0.0.1", port: port)],
                                              certificateDirectory: directory, dataDirectory: data + "/a")
        if !receiveAhead { configuration.receiveAheadNanoseconds = 0 }
        let node = try NodeDaemon(configuration: configuration) { _ in }
        let clock = node.kernel.clock
        let start = clock.nanoseconds + 300_000_000   // after the link is up and warmed
        let end = start + UInt64(seconds * 1e9)
        let pings = (0..<channels).map { PingService(uri: uri($0), measureFrom: start, until: end) }
        for (index, ping) in pings.enumerated() { node.spawnService(ping, name: "ping-\(index)") }
        while !pings.allSatisfy(\.finished) && clock.nanoseconds < end + 5_000_000_000 { node.loop.runOnce() }
        node.drain(because: "benchmark done")
        node.loop.close()
        if let failure = pings.compactMap(\.failure).first { throw NodeError("ping failed: \(failure)") }
        var latencies = pings.flatMap(\.latencies)
        latencies.sort()
        guard !latencies.isEmpty else { throw NodeError("no round trip completed") }
        func percentile(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000 }
        return (PingPongResult(roundTrips: latencies.count, seconds: seconds, p50Microseconds: percentile(0.5), p99Microseconds: percentile(0.99)),
                node.router.offersTaken)
    }

    static func uri(_ index: Int) -> String { "fireball://bench/echo-\(index)" }
}

/// Serves one URI and sends every message back on the same channel.
final class EchoService: KernelService {
    let uri: String
    private var channel = ChannelID(raw: 0)
    init(uri: String) { self.uri = uri }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        switch event {
        case .start:
            guard let served = try? kernel.serve(uri, role: .guest) else { return .exit }
            channel = served
            return .receive([channel], timeoutNanoseconds: nil)
        case .received(let message, _):
            return .send(message, to: channel)
        case .sent:
            return .receive([channel], timeoutNanoseconds: nil)
        case .failed, .resumed:
            return .exit
        }
    }
}

/// Opens a URI served on the other node (retrying until its announcement arrived) and does round
/// trips until `until`, recording those that began after `measureFrom`.
final class PingService: KernelService {
    let uri: String
    let measureFrom: UInt64
    let until: UInt64
    private var channel = ChannelID(raw: 0)
    private var sentAt: UInt64 = 0
    private(set) var latencies: [UInt64] = []
    private(set) var finished = false
    private(set) var failure: KernelError?

    init(uri: String, measureFrom: UInt64, until: UInt64) {
        self.uri = uri
        self.measureFrom = measureFrom
        self.until = until
        latencies.reserveCapacity(1 << 20)
    }

    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        let now = kernel.clock.nanoseconds
        switch event {
        case .start, .resumed:
            guard let opened = try? kernel.open(uri, as: .guest, by: "bench") else { return .sleep(nanoseconds: 10_000_000) }
            channel = opened
        case .sent:
            return .receive([channel], timeoutNanoseconds: 5_000_000_000)
        case .received:
            if sentAt >= measureFrom { latencies.append(now - sentAt) }
            if now >= until {
                finished = true
                return .exit
            }
        case .failed(let error):
            failure = error
            finished = true
            return .exit
        }
        sentAt = now
        return .send(RendezvousBenchmark.message, to: channel)
    }
}
