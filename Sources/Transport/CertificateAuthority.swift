// The cluster CA and the node certificates it issues, made with OpenSSL's library API (no shell-out).
// A node certificate: CN = name, DNS SAN = name, OU = role ("node" | "orchestrator"); EC P-256, SHA-256.
import COpenSSL
import Foundation

/// A certificate or CA operation failed.
public struct CertificateError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Int, Sendable {
        /// `ca.pem` / `ca.key` are not in the directory.
        case caMissing = 1
        /// A file that would be written is there already (pass `force` to replace it).
        case exists = 2
        case invalidName = 3
        /// notAfter is not after notBefore.
        case invalidValidity = 4
        /// Reading or writing a file failed.
        case file = 5
        /// An OpenSSL call failed; the detail names it.
        case crypto = 6
        /// A certificate did not verify against the CA.
        case verification = 7
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }
}

/// What a certificate says about its holder.
public struct CertificateSummary: Sendable {
    public let identity: PeerIdentity?
    public let commonName: String
    public let notBefore: Date
    public let notAfter: Date
}

/// The cluster's own CA: `ca.pem` (self-signed EC P-256 certificate) and `ca.key` (mode 0600) in one directory.
public struct CertificateAuthority: Sendable {
    public static let certificateFileName = "ca.pem"
    public static let keyFileName = "ca.key"

    public let directory: String
    public var certificatePath: String { directory + "/" + Self.certificateFileName }
    public var keyPath: String { directory + "/" + Self.keyFileName }

    /// Opens an existing CA in `directory`.
    public init(directory: String) throws(CertificateError) {
        self.directory = directory
        for path in [certificatePath, keyPath] where access(path, R_OK) != 0 {
            throw CertificateError(.caMissing, "no cluster CA in \(directory): \(path) is missing or unreadable (run `fireball certs init`)")
        }
    }

    /// Creates a new CA key and self-signed certificate in `directory` (made if missing).
    @discardableResult
    public static func initialize(directory: String, commonName: String = "fireball-cluster-ca",
                                  notBefore: Date = Date(timeIntervalSinceNow: -3600),
                                  notAfter: Date = Date(timeIntervalSinceNow: 10 * 365 * 86400),
                                  force: Bool = false) throws(CertificateError) -> CertificateAuthority {
        try makeDirectory(directory)
        let certificatePath = directory + "/" + certificateFileName
        let keyPath = directory + "/" + keyFileName
        if !force { try refuseExisting([certificatePath, keyPath]) }
        let key = try generateKey()
        defer { EVP_PKEY_free(key) }
        let certificate = try makeCertificate(subjectKey: key, commonName: commonName, organizationalUnit: nil,
                                              notBefore: notBefore, notAfter: notAfter, issuer: nil, issuerKey: key,
                                              extensions: [(NID_basic_constraints, "critical,CA:TRUE"),
                                                           (NID_key_usage, "critical,keyCertSign,cRLSign"),
                                                           (NID_subject_key_identifier, "hash")])
        defer { X509_free(certificate) }
        try writeFile(keyPath, try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }, mode: 0o600, force: force)
        try writeFile(certificatePath, try pem { PEM_write_bio_X509($0, certificate) }, mode: 0o644, force: force)
        return try CertificateAuthority(directory: directory)
    }

    /// Paths of an issued certificate and its key.
    public struct Issued: Sendable {
        public let certificatePath: String
        public let keyPath: String
    }

    /// Issues a certificate for node `name` with `role`: writes `NAME.pem` and `NAME.key` (0600) into `directory`
    /// (default: the CA's). Validity may lie in the past or future (tests use expired and not-yet-valid ones).
    @discardableResult
    public func issue(name: String, role: NodeRole, directory: String? = nil,
                      notBefore: Date = Date(timeIntervalSinceNow: -3600),
                      notAfter: Date = Date(timeIntervalSinceNow: 365 * 86400),
                      force: Bool = false) throws(CertificateError) -> Issued {
        if let problem = NodeName.problem(name) { throw CertificateError(.invalidName, problem) }
        guard notAfter > notBefore else { throw CertificateError(.invalidValidity, "notAfter must be after notBefore") }
        let target = directory ?? self.directory
        try Self.makeDirectory(target)
        let certificatePath = target + "/" + name + ".pem"
        let keyPath = target + "/" + name + ".key"
        if !force { try Self.refuseExisting([certificatePath, keyPath]) }
        let caCertificate = try Self.readCertificate(self.certificatePath)
        defer { X509_free(caCertificate) }
        let caKey = try Self.readKey(self.keyPath)
        defer { EVP_PKEY_free(caKey) }
        let key = try Self.generateKey()
        defer { EVP_PKEY_free(key) }
        let certificate = try Self.makeCertificate(
            subjectKey: key, commonName: name, organizationalUnit: role.name,
            notBefore: notBefore, notAfter: notAfter, issuer: caCertificate, issuerKey: caKey,
            extensions: [(NID_basic_constraints, "critical,CA:FALSE"),
                         (NID_key_usage, "critical,digitalSignature"),
                         (NID_ext_key_usage, "serverAuth,clientAuth"),
                         (NID_subject_alt_name, "DNS:" + name),
                         (NID_subject_key_identifier, "hash"),
                         (NID_authority_key_identifier, "keyid:always")])
        defer { X509_free(certificate) }
        try Self.writeFile(keyPath, try Self.pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }, mode: 0o600, force: force)
        try Self.writeFile(certificatePath, try Self.pem { PEM_write_bio_X509($0, certificate) }, mode: 0o644, force: force)
        return Issued(certificatePath: certificatePath, keyPath: keyPath)
    }

    /// Issues a fresh certificate and key for a name that has one in `directory` (default: the CA's),
    /// with the same role: the new files replace the old. A node running with them picks them up on
    /// SIGHUP (`NodeDaemon.reloadCertificate`).
    @discardableResult
    public func renew(name: String, directory: String? = nil, notAfter: Date = Date(timeIntervalSinceNow: 365 * 86400)) throws(CertificateError) -> (Issued, NodeRole) {
        if let problem = NodeName.problem(name) { throw CertificateError(.invalidName, problem) }
        let target = directory ?? self.directory
        let existing = try Self.summary(certificatePath: target + "/" + name + ".pem")
        guard let identity = existing.identity, identity.name == name else {
            throw CertificateError(.file, "\(target)/\(name).pem is not a fireball certificate for \(name) (CN '\(existing.commonName)'): issue one with `certs issue`")
        }
        return (try issue(name: name, role: identity.role, directory: target, notAfter: notAfter, force: true), identity.role)
    }

    /// Verifies a certificate file against this CA now (X509_verify_cert) and returns what it says.
    public func verify(certificatePath path: String) throws(CertificateError) -> CertificateSummary {
        let certificate = try Self.readCertificate(path)
        defer { X509_free(certificate) }
        let store = X509_STORE_new()!
        defer { X509_STORE_free(store) }
        guard X509_STORE_load_file(store, certificatePath) == 1 else { throw Self.cryptoError("X509_STORE_load_file(\(certificatePath))") }
        let context = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(context) }
        X509_STORE_CTX_init(context, store, certificate, nil)
        if X509_verify_cert(context) != 1 {
            let error = X509_STORE_CTX_get_error(context)
            throw CertificateError(.verification, "\(path): " + String(cString: X509_verify_cert_error_string(Int(error))))
        }
        return Self.summary(of: certificate)
    }

    /// Reads a certificate file and returns its name, role and validity (without verifying it).
    public static func summary(certificatePath path: String) throws(CertificateError) -> CertificateSummary {
        let certificate = try readCertificate(path)
        defer { X509_free(certificate) }
        return summary(of: certificate)
    }

    // MARK: OpenSSL plumbing

    static func summary(of certificate: OpaquePointer) -> CertificateSummary {
        let commonName = subjectText(certificate, NID_commonName) ?? ""
        let role = subjectText(certificate, NID_organizationalUnitName).flatMap(NodeRole.init(name:))
        let identity = role.flatMap { role in NodeName.isValid(commonName) ? PeerIdentity(name: commonName, role: role) : nil }
        return CertificateSummary(identity: identity, commonName: commonName,
                                  notBefore: Date(timeIntervalSince1970: Double(fb_asn1_time_unix(X509_get0_notBefore(certificate)))),
                                  notAfter: Date(timeIntervalSince1970: Double(fb_asn1_time_unix(X509_get0_notAfter(certificate)))))
    }

    static func subjectText(_ certificate: OpaquePointer, _ nid: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let count = fb_x509_subject_text(certificate, nid, &buffer, Int32(buffer.count))
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func cryptoError(_ call: String) -> CertificateError {
        CertificateError(.crypto, "\(call) failed: \(openSSLErrorText())")
    }

    static func generateKey() throws(CertificateError) -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw cryptoError("EVP_PKEY_CTX_new_from_name(EC)") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
              EVP_PKEY_generate(context, &key) == 1, let key else { throw cryptoError("EVP_PKEY_generate(P-256)") }
        return key
    }

    static func makeCertificate(subjectKey: OpaquePointer, commonName: String, organizationalUnit: String?,
                                notBefore: Date, notAfter: Date, issuer: OpaquePointer?, issuerKey: OpaquePointer,
                                extensions: [(Int32, String)]) throws(CertificateError) -> OpaquePointer {
        guard let certificate = X509_new() else { throw cryptoError("X509_new") }
        var ok = X509_set_version(certificate, 2) == 1
        // A random positive 127-bit serial number.
        var serialBytes = [UInt8](repeating: 0, count: 16)
        ok = ok && RAND_bytes(&serialBytes, 16) == 1
        serialBytes[0] &= 0x7f
        if ok, let number = BN_bin2bn(serialBytes, 16, nil) {
            ok = BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil
            BN_free(number)
        } else { ok = false }
        ok = ok && ASN1_TIME_set(X509_getm_notBefore(certificate), time_t(notBefore.timeIntervalSince1970)) != nil
        ok = ok && ASN1_TIME_set(X509_getm_notAfter(certificate), time_t(notAfter.timeIntervalSince1970)) != nil
        ok = ok && X509_set_pubkey(certificate, subjectKey) == 1
        let subject = X509_get_subject_name(certificate)
        if let organizationalUnit {
            ok = ok && X509_NAME_add_entry_by_txt(subject, "OU", MBSTRING_ASC, organizationalUnit, -1, -1, 0) == 1
        }
        ok = ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1
        ok = ok && X509_set_issuer_name(certificate, issuer.map { X509_get_subject_name($0) } ?? subject) == 1
        guard ok else { X509_free(certificate); throw cryptoError("building the certificate for \(commonName)") }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer ?? certificate, certificate, nil, nil, 0)
        fb_x509v3_ctx_nodb(&context)
        for (nid, value) in extensions {
            guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                X509_free(certificate); throw cryptoError("X509V3_EXT_conf_nid(\(value))")
            }
            let added = X509_add_ext(certificate, extensionValue, -1)
            X509_EXTENSION_free(extensionValue)
            guard added == 1 else { X509_free(certificate); throw cryptoError("X509_add_ext(\(value))") }
        }
        guard X509_sign(certificate, issuerKey, EVP_sha256()) > 0 else { X509_free(certificate); throw cryptoError("X509_sign") }
        return certificate
    }

    static func pem(_ write: (OpaquePointer) -> Int32) throws(CertificateError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw cryptoError("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw cryptoError("PEM_write_bio") }
        var data: UnsafePointer<UInt8>?
        let count = fb_bio_mem_data(bio, &data)
        guard count > 0, let data else { throw cryptoError("BIO_get_mem_data") }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    static func readCertificate(_ path: String) throws(CertificateError) -> OpaquePointer {
        guard let bio = BIO_new_file(path, "r") else { throw CertificateError(.file, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else { throw cryptoError("reading the certificate \(path)") }
        return certificate
    }

    static func readKey(_ path: String) throws(CertificateError) -> OpaquePointer {
        guard let bio = BIO_new_file(path, "r") else { throw CertificateError(.file, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { throw cryptoError("reading the key \(path)") }
        return key
    }

    static func makeDirectory(_ directory: String) throws(CertificateError) {
        var status = stat()
        if stat(directory, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else { throw CertificateError(.file, "\(directory) is not a directory") }
            return
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        catch { throw CertificateError(.file, "cannot create \(directory): \(error.localizedDescription)") }
    }

    static func refuseExisting(_ paths: [String]) throws(CertificateError) {
        for path in paths where access(path, F_OK) == 0 {
            throw CertificateError(.exists, "\(path) exists already; not overwritten")
        }
    }

    /// Writes a new file created with `mode` by open(2) itself (O_CREAT|O_EXCL), so a key is never readable by others,
    /// not even for a moment. With `force`, an existing file is removed first.
    static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t, force: Bool) throws(CertificateError) {
        if force { unlink(path) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            let code: CertificateError.Code = errno == EEXIST ? .exists : .file
            throw CertificateError(code, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw CertificateError(.file, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written += result
        }
    }
}

/// The OpenSSL error queue as one line (and emptied).
func openSSLErrorText() -> String {
    var parts: [String] = []
    while true {
        let error = ERR_get_error()
        if error == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(error, &buffer, buffer.count)
        parts.append(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }
    return parts.isEmpty ? "unknown OpenSSL error" : parts.joined(separator: "; ")
}
