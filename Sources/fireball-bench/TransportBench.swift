// Loopback ping-pong of 300-byte messages: raw TLS 1.3 on the same libuv + OpenSSL, then link frames.
import ArgumentParser
import Core
import Foundation
import Transport

struct TransportBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transport", abstract: "Raw TLS, link frames and cross-node rendezvous (two node daemons) on loopback: round trips/s, p50/p99.")
    @Option(help: "Seconds per measurement.") var seconds = 2.0
    @Option(help: "Message size in bytes (default: the largest wire message, as the rendezvous send).") var bytes = Message.encodedBytesMax
    @Option(help: "Channels in flight for the many-channel rendezvous run.") var channels = 64

    func run() throws {
        let directory = NSTemporaryDirectory() + "fireball-bench-certs-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try TransportBenchmark.makeCertificates(in: directory)
        print("transport: loopback TCP, TLS 1.3 (\(NativeLibraries.openSSLVersion)), \(bytes)-byte messages, server and client on their own loop threads")
        let raw = try TransportBenchmark.rawTLSPingPong(certificates: directory, messageBytes: bytes, seconds: seconds)
        report("raw TLS ping-pong", raw)
        let link = try TransportBenchmark.linkPingPong(certificates: directory, messageBytes: bytes, seconds: seconds)
        report("link frame ping-pong", link)
        let ratio = link.perSecond / raw.perSecond
        print("link / raw TLS: \(Int((ratio * 100).rounded()))%")
        print("rendezvous: two node daemons (kernel + router + links), Swift ping and echo services, \(Message.encodedBytesMax)-byte messages;"
              + " a round trip is two rendezvous (send, then receive), each acknowledged end to end")
        let (one, ahead) = try RendezvousBenchmark.run(certificates: directory, channels: 1, seconds: seconds)
        report("rendezvous, 1 channel", one)
        print("  \(ahead) receives took a message received ahead (warm-up included)")
        let (plain, _) = try RendezvousBenchmark.run(certificates: directory, channels: 1, seconds: seconds, receiveAhead: false)
        report("  ... not receiving ahead", plain)
        let (many, _) = try RendezvousBenchmark.run(certificates: directory, channels: channels, seconds: seconds)
        print("rendezvous, \(channels) channels ".padding(toLength: 26, withPad: " ", startingAt: 0)
              + "\(Int(many.perSecond.rounded())) round trips/s = \(Int((2 * many.perSecond).rounded())) messages/s  p50 \(String(format: "%.1f", many.p50Microseconds)) µs  p99 \(String(format: "%.1f", many.p99Microseconds)) µs")
        // Every message of a round trip is one rendezvous; all channels share the one link between the nodes.
        let rendezvousPerSecond = 2 * many.perSecond
        let share = one.perSecond / raw.perSecond
        print("aims: ≥ 20,000 rendezvous/s on one link: \(Int(rendezvousPerSecond.rounded())) (\(channels) channels; \(Int((2 * one.perSecond).rounded())) on one channel)"
              + " -> \(rendezvousPerSecond >= 20_000 ? "met" : "NOT met");"
              + " p50 < 200 µs: \(String(format: "%.1f", one.p50Microseconds)) -> \(one.p50Microseconds < 200 ? "met" : "NOT met");"
              + " round trips ≥ 50% of raw TLS: \(Int((share * 100).rounded()))% -> \(share >= 0.5 ? "met" : "NOT met")"
              + " (receive-ahead: \(String(format: "%.2f", one.perSecond / plain.perSecond))× without)")
    }

    private func report(_ name: String, _ result: PingPongResult) {
        let rate = Int(result.perSecond.rounded())
        print(name.padding(toLength: 26, withPad: " ", startingAt: 0)
              + "\(rate) round trips/s  p50 \(String(format: "%.1f", result.p50Microseconds)) µs  p99 \(String(format: "%.1f", result.p99Microseconds)) µs  (\(result.roundTrips) round trips)")
    }
}
