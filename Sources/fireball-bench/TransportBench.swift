// Loopback ping-pong of 300-byte messages: raw TLS 1.3 on the same libuv + OpenSSL, then link frames.
import ArgumentParser
import Foundation
import Transport

struct TransportBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transport", abstract: "TLS and link-frame ping-pong on loopback (round trips/s, p50/p99).")
    @Option(help: "Seconds per measurement.") var seconds = 2.0
    @Option(help: "Message size in bytes.") var bytes = 300

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
        print("link / raw TLS: \(Int((ratio * 100).rounded()))%  aim ≥ 50% -> \(ratio >= 0.5 ? "met" : "NOT met");  link p50 aim < 200 µs -> \(link.p50Microseconds < 200 ? "met" : "NOT met")")
    }

    private func report(_ name: String, _ result: PingPongResult) {
        let rate = Int(result.perSecond.rounded())
        print(name.padding(toLength: 22, withPad: " ", startingAt: 0)
              + "\(rate) round trips/s  p50 \(String(format: "%.1f", result.p50Microseconds)) µs  p99 \(String(format: "%.1f", result.p99Microseconds)) µs  (\(result.roundTrips) round trips)")
    }
}
