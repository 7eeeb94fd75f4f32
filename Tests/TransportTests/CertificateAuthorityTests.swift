// The cluster CA: files, modes, names, validity, verification, and refusals.
import Foundation
import Testing
@testable import Transport

@Suite struct CertificateAuthorityTests {
    private func mode(_ path: String) -> mode_t {
        var status = stat()
        precondition(stat(path, &status) == 0)
        return status.st_mode & 0o777
    }

    @Test func initializeAndIssueWriteKeysWithMode0600() throws {
        let directory = TemporaryDirectory()
        let ca = try CertificateAuthority.initialize(directory: directory.path + "/certs")
        #expect(mode(ca.keyPath) == 0o600)
        #expect(mode(ca.certificatePath) == 0o644)
        let issued = try ca.issue(name: "node-1", role: .node)
        #expect(issued.certificatePath == ca.directory + "/node-1.pem")
        #expect(mode(issued.keyPath) == 0o600)
        let summary = try ca.verify(certificatePath: issued.certificatePath)
        #expect(summary.identity == PeerIdentity(name: "node-1", role: .node))
        let orchestrator = try ca.issue(name: "control", role: .orchestrator, directory: directory.path + "/elsewhere")
        #expect(try ca.verify(certificatePath: orchestrator.certificatePath).identity?.role == .orchestrator)
        let context = try TLSContext(caPath: ca.certificatePath, certificatePath: orchestrator.certificatePath, keyPath: orchestrator.keyPath)
        #expect(context.identity == PeerIdentity(name: "control", role: .orchestrator))
    }

    @Test func renewKeepsTheRoleReplacesTheFilesAndRefusesUnknownNames() throws {
        let directory = TemporaryDirectory()
        let ca = try CertificateAuthority.initialize(directory: directory.path + "/certs")
        let old = try ca.issue(name: "control", role: .orchestrator)
        let oldKey = try String(contentsOfFile: old.keyPath, encoding: .utf8)
        let notAfter = Date(timeIntervalSinceNow: 30 * 86400)
        let (renewed, role) = try ca.renew(name: "control", notAfter: notAfter)
        #expect(role == .orchestrator && mode(renewed.keyPath) == 0o600)
        #expect(try String(contentsOfFile: renewed.keyPath, encoding: .utf8) != oldKey, "a fresh key")
        let summary = try ca.verify(certificatePath: renewed.certificatePath)
        #expect(summary.identity == PeerIdentity(name: "control", role: .orchestrator))
        #expect(abs(summary.notAfter.timeIntervalSince(notAfter)) < 2)
        #expect(throws: CertificateError.self) { try ca.renew(name: "nobody") }
        #expect(throws: CertificateError.self) { try ca.renew(name: "../ca") }
    }

    @Test func existingFilesAreNotOverwrittenWithoutForce() throws {
        let directory = TemporaryDirectory()
        let ca = try CertificateAuthority.initialize(directory: directory.path)
        let before = try String(contentsOfFile: ca.certificatePath, encoding: .utf8)
        let again = #expect(throws: CertificateError.self) { try CertificateAuthority.initialize(directory: directory.path) }
        #expect(again?.code == .exists)
        #expect(try String(contentsOfFile: ca.certificatePath, encoding: .utf8) == before)
        try ca.issue(name: "a", role: .node)
        let twice = #expect(throws: CertificateError.self) { try ca.issue(name: "a", role: .node) }
        #expect(twice?.code == .exists)
        try ca.issue(name: "a", role: .orchestrator, force: true)
        #expect(try ca.verify(certificatePath: ca.directory + "/a.pem").identity?.role == .orchestrator)
        #expect(mode(ca.directory + "/a.key") == 0o600)
    }

    @Test func badNamesAndMissingCAAreRefused() throws {
        let directory = TemporaryDirectory()
        let missing = #expect(throws: CertificateError.self) { try CertificateAuthority(directory: directory.path) }
        #expect(missing?.code == .caMissing)
        let ca = try CertificateAuthority.initialize(directory: directory.path)
        for name in ["", "a.b", "a b", "../x", String(repeating: "n", count: 64), "é"] {
            let error = #expect(throws: CertificateError.self) { try ca.issue(name: name, role: .node) }
            #expect(error?.code == .invalidName, "\(name)")
        }
        let validity = #expect(throws: CertificateError.self) {
            try ca.issue(name: "x", role: .node, notBefore: Date(), notAfter: Date(timeIntervalSinceNow: -10))
        }
        #expect(validity?.code == .invalidValidity)
    }

    @Test func verificationRefusesExpiredFutureAndForeign() throws {
        let certs = try TestCertificates(nodes: [])
        let expired = try certs.ca.issue(name: "old", role: .node, notBefore: Date(timeIntervalSinceNow: -7200), notAfter: Date(timeIntervalSinceNow: -3600))
        let future = try certs.ca.issue(name: "new", role: .node, notBefore: Date(timeIntervalSinceNow: 3600), notAfter: Date(timeIntervalSinceNow: 7200))
        let other = try CertificateAuthority.initialize(directory: certs.path + "/other")
        let foreign = try other.issue(name: "stranger", role: .node)
        for (path, text) in [(expired.certificatePath, "expired"), (future.certificatePath, "not yet valid"), (foreign.certificatePath, "local issuer")] {
            let error = #expect(throws: CertificateError.self) { try certs.ca.verify(certificatePath: path) }
            #expect(error?.code == .verification)
            #expect(error?.detail.contains(text) == true, "\(error?.detail ?? "")")
        }
        #expect(try other.verify(certificatePath: foreign.certificatePath).identity?.name == "stranger")
    }
}
