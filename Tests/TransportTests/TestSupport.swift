// Shared helpers: temporary certificate directories with a cluster CA, nodes, and deliberately bad certificates.
import Foundation
@testable import Transport

/// A temporary directory removed when the value is dropped.
final class TemporaryDirectory {
    let path: String

    init() {
        let template = NSTemporaryDirectory() + "fireball-transport-XXXXXX"
        var bytes = Array(template.utf8CString)
        let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A cluster CA with certificates for the names a test needs, plus an unrelated CA.
final class TestCertificates {
    let directory = TemporaryDirectory()
    let ca: CertificateAuthority
    var path: String { directory.path }

    init(nodes: [String] = ["alpha", "beta"], orchestrators: [String] = []) throws {
        ca = try CertificateAuthority.initialize(directory: directory.path)
        for name in nodes { try ca.issue(name: name, role: .node) }
        for name in orchestrators { try ca.issue(name: name, role: .orchestrator) }
    }

    func context(_ name: String) throws -> TLSContext { try TLSContext(directory: path, name: name) }

    /// A certificate for `name` from another CA, with this cluster's CA file (so it trusts the cluster but is not trusted).
    func foreignContext(_ name: String) throws -> TLSContext {
        let other = path + "/other-ca"
        let otherCA = try CertificateAuthority.initialize(directory: other)
        let issued = try otherCA.issue(name: name, role: .node)
        return try TLSContext(caPath: ca.certificatePath, certificatePath: issued.certificatePath, keyPath: issued.keyPath)
    }

    /// A certificate for `name` from this CA with the given validity, in a subdirectory.
    func context(_ name: String, notBefore: Date, notAfter: Date, tag: String) throws -> TLSContext {
        let directory = path + "/" + tag
        let issued = try ca.issue(name: name, role: .node, directory: directory, notBefore: notBefore, notAfter: notAfter)
        return try TLSContext(caPath: ca.certificatePath, certificatePath: issued.certificatePath, keyPath: issued.keyPath)
    }
}

/// Collects log lines.
final class LogLines {
    var lines: [String] = []
    var sink: (String) -> Void { { [unowned self] in self.lines.append($0) } }
    func matching(_ text: String) -> [String] { lines.filter { $0.contains(text) } }
}
