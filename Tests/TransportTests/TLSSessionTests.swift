// TLS sessions pumped through memory, no sockets: handshake, data, and each certificate refusal.
import Foundation
import Testing
@testable import Transport

@Suite struct TLSSessionTests {
    /// Moves ciphertext between the two sessions until neither has anything to say; returns the first failure.
    private func pump(_ client: TLSSession, _ server: TLSSession) -> (client: TLSFailure?, server: TLSFailure?) {
        var clientFailure: TLSFailure?
        var serverFailure: TLSFailure?
        for _ in 0..<20 {
            for (side, other, isClient) in [(client, server, true), (server, client, false)] {
                if case .failed(let failure) = side.handshake() {
                    if isClient { clientFailure = clientFailure ?? failure } else { serverFailure = serverFailure ?? failure }
                }
                if side.handshakeDone {
                    var scratch = [UInt8](repeating: 0, count: 1024)
                    if case .failed(let failure) = scratch.withUnsafeMutableBytes({ side.read(into: $0) }) {
                        if isClient { clientFailure = clientFailure ?? failure } else { serverFailure = serverFailure ?? failure }
                    }
                }
                let bytes = side.pendingCiphertext
                if bytes.count > 0 {
                    let copy = Array(bytes)
                    side.consumeCiphertext(copy.count)
                    _ = copy.withUnsafeBytes { other.feed($0) }
                }
            }
        }
        return (clientFailure, serverFailure)
    }

    @Test func handshakeCompletesAndCarriesBytes() throws {
        let certs = try TestCertificates()
        let client = TLSSession(context: try certs.context("alpha"), isServer: false, serverName: "beta")
        let server = TLSSession(context: try certs.context("beta"), isServer: true, serverName: nil)
        let failures = pump(client, server)
        #expect(failures.client == nil && failures.server == nil)
        #expect(client.handshakeDone && server.handshakeDone)
        #expect(try client.peerIdentity().get() == PeerIdentity(name: "beta", role: .node))
        #expect(try server.peerIdentity().get() == PeerIdentity(name: "alpha", role: .node))
        let message: [UInt8] = Array("hello over tls".utf8)
        #expect(message.withUnsafeBytes { client.write($0) } == nil)
        let cipher = Array(client.pendingCiphertext)
        client.consumeCiphertext(cipher.count)
        #expect(client.pendingCiphertext.count == 0)
        _ = cipher.withUnsafeBytes { server.feed($0) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let result = buffer.withUnsafeMutableBytes { server.read(into: $0) }
        guard case .bytes(let n) = result else { Issue.record("no plaintext"); return }
        #expect(Array(buffer[0..<n]) == message)
    }

    @Test func expiredClientCertificateIsRefusedWithItsDate() throws {
        let certs = try TestCertificates()
        let expired = try certs.context("alpha", notBefore: Date(timeIntervalSince1970: 1_700_000_000),
                                        notAfter: Date(timeIntervalSince1970: 1_767_225_600), tag: "expired")
        let client = TLSSession(context: expired, isServer: false, serverName: "beta")
        let server = TLSSession(context: try certs.context("beta"), isServer: true, serverName: nil)
        let failures = pump(client, server)
        #expect(failures.server?.reason.code == .certificate)
        #expect(failures.server?.reason.detail.hasPrefix("certificate expired (notAfter 2026-01-01 00:00:00Z") == true)
        #expect(failures.client?.reason.detail.contains("certificate expired") == true)
    }

    @Test func foreignCAIsRefused() throws {
        let certs = try TestCertificates()
        let client = TLSSession(context: try certs.context("alpha"), isServer: false, serverName: "beta")
        let server = TLSSession(context: try certs.foreignContext("beta"), isServer: true, serverName: nil)
        let failures = pump(client, server)
        #expect(failures.client?.reason.detail.hasPrefix("certificate not issued by the cluster CA") == true)
    }

    @Test func plaintextIsNotTLS() throws {
        let certs = try TestCertificates()
        let server = TLSSession(context: try certs.context("beta"), isServer: true, serverName: nil)
        let failure = Array("GET / HTTP/1.0\r\n".utf8).withUnsafeBytes { server.feed($0) }
        #expect(failure?.reason.code == .notTLS)
    }
}
