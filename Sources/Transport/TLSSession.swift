// TLS 1.3 with mutual authentication on memory BIOs: ciphertext in and out as bytes, no socket here.
import COpenSSL
import Core

/// A node's TLS configuration: the cluster CA, its own certificate and key (an SSL_CTX, TLS 1.3 only).
/// Shared by every session of an endpoint; used on one thread.
public final class TLSContext {
    let context: OpaquePointer
    /// The name and role that this node's own certificate proves.
    public let identity: PeerIdentity

    /// Loads the CA certificate to verify peers with, and this node's certificate and key
    /// (SSL_CTX_load_verify_locations, SSL_CTX_use_certificate_chain_file, SSL_CTX_use_PrivateKey_file).
    public init(caPath: String, certificatePath: String, keyPath: String) throws(TransportError) {
        guard let context = SSL_CTX_new(TLS_method()) else { throw TransportError(.certificate, "SSL_CTX_new failed: \(openSSLErrorText())") }
        self.context = context
        func fail(_ what: String) -> TransportError {
            SSL_CTX_free(context)
            return TransportError(.certificate, "\(what): \(openSSLErrorText())")
        }
        guard fb_ctx_tls13_only(context) == 1 else { throw fail("cannot restrict to TLS 1.3") }
        guard SSL_CTX_load_verify_locations(context, caPath, nil) == 1 else { throw fail("cannot load the cluster CA \(caPath)") }
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else { throw fail("cannot load the certificate \(certificatePath)") }
        guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else { throw fail("cannot load the key \(keyPath)") }
        guard SSL_CTX_check_private_key(context) == 1 else { throw fail("\(keyPath) does not match \(certificatePath)") }
        // Peers must present a certificate; verification is set per session (see TLSSession).
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        // Ask clients for a certificate from this CA.
        if let names = SSL_load_client_CA_file(caPath) { SSL_CTX_set_client_CA_list(context, names) }
        _ = fb_ctx_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
        guard let own = SSL_CTX_get0_certificate(context) else { throw fail("no certificate") }
        let summary = CertificateAuthority.summary(of: own)
        guard let identity = summary.identity else {
            SSL_CTX_free(context)
            throw TransportError(.certificate, "\(certificatePath) has no fireball name and role (CN '\(summary.commonName)', OU node|orchestrator)")
        }
        self.identity = identity
    }

    /// The files of node `name` in a certificate directory: `ca.pem`, `NAME.pem`, `NAME.key`.
    public convenience init(directory: String, name: String) throws(TransportError) {
        try self.init(caPath: directory + "/ca.pem", certificatePath: directory + "/\(name).pem", keyPath: directory + "/\(name).key")
    }

    deinit { SSL_CTX_free(context) }
}

/// Why a TLS session failed, in words for the one log line that a refusal gets.
struct TLSFailure: Error {
    let reason: LinkCloseReason
}

/// One TLS session on two memory BIOs (SSL_set_bio): feed received ciphertext in, take ciphertext to send out.
final class TLSSession {
    enum HandshakeResult { case inProgress, done, failed(TLSFailure) }
    enum ReadResult { case bytes(Int), wantMore, closed, failed(TLSFailure) }

    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer    // ciphertext from the peer
    private let writeBIO: OpaquePointer   // ciphertext for the peer
    private let verifyRecord: UnsafeMutablePointer<fb_verify_record>
    let isServer: Bool
    private(set) var handshakeDone = false
    private var sawFirstByte = false

    init(context: TLSContext, isServer: Bool, serverName: String?) {
        guard let ssl = SSL_new(context.context), let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            preconditionFailure("SSL_new/BIO_new out of memory")
        }
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.isServer = isServer
        // An empty read BIO answers "retry", not end of file.
        _ = fb_bio_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)   // the SSL owns both BIOs now
        verifyRecord = .allocate(capacity: 1)
        verifyRecord.initialize(to: fb_verify_record())
        fb_ssl_require_peer(ssl, verifyRecord)
        if isServer { SSL_set_accept_state(ssl) } else {
            SSL_set_connect_state(ssl)
            if let serverName { _ = fb_set_host_name(ssl, serverName) }
        }
    }

    deinit {
        SSL_free(ssl)
        verifyRecord.deallocate()
    }

    /// Takes ciphertext from the peer (BIO_write into the read BIO). The very first byte must start a TLS
    /// handshake record (0x16); anything else is plaintext or garbage on the port.
    func feed(_ ciphertext: UnsafeRawBufferPointer) -> TLSFailure? {
        guard ciphertext.count > 0 else { return nil }
        if !sawFirstByte {
            sawFirstByte = true
            if ciphertext[0] != 0x16 {
                return TLSFailure(reason: LinkCloseReason(.notTLS, "not TLS: plaintext or garbage on the port (first byte 0x\(String(ciphertext[0], radix: 16)))"))
            }
        }
        let written = BIO_write(readBIO, ciphertext.baseAddress, Int32(ciphertext.count))
        precondition(written == Int32(ciphertext.count), "memory BIO refused bytes")
        return nil
    }

    /// Drives the handshake (SSL_do_handshake).
    func handshake() -> HandshakeResult {
        if handshakeDone { return .done }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { handshakeDone = true; return .done }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .inProgress }
        return .failed(failure(sslError: error))
    }

    /// Decrypts into `buffer` (SSL_read).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        ERR_clear_error()
        let result = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        if result > 0 { return .bytes(Int(result)) }
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantMore
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: return .failed(failure(sslError: error))
        }
    }

    /// Encrypts all of `plaintext` into the write BIO (SSL_write; a memory BIO takes everything).
    func write(_ plaintext: UnsafeRawBufferPointer) -> TLSFailure? {
        var offset = 0
        while offset < plaintext.count {
            ERR_clear_error()
            let chunk = min(plaintext.count - offset, 1 << 30)
            let result = SSL_write(ssl, plaintext.baseAddress! + offset, Int32(chunk))
            if result <= 0 { return failure(sslError: SSL_get_error(ssl, result)) }
            offset += Int(result)
        }
        return nil
    }

    /// Ciphertext waiting to be sent (BIO_get_mem_data on the write BIO, not copied).
    var pendingCiphertext: UnsafeRawBufferPointer {
        var data: UnsafePointer<UInt8>?
        let count = fb_bio_mem_data(writeBIO, &data)
        guard count > 0, let data else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data, count: count)
    }

    /// Drops `count` bytes that were sent from the front of the write BIO.
    func consumeCiphertext(_ count: Int) {
        guard count > 0 else { return }
        if count == pendingCiphertext.count { _ = BIO_ctrl(writeBIO, BIO_CTRL_RESET, 0, nil); return }
        // BIO_read with a null buffer is not allowed; skip in chunks through a small stack buffer.
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 1) { scratch in
            var left = count
            while left > 0 {
                let step = min(left, scratch.count)
                let read = BIO_read(writeBIO, scratch.baseAddress, Int32(step))
                precondition(read == Int32(step))
                left -= step
            }
        }
    }

    /// The peer's name and role from its verified certificate: CN, which must also be a DNS SAN, and OU.
    func peerIdentity() -> Result<PeerIdentity, TLSFailure> {
        guard let certificate = SSL_get1_peer_certificate(ssl) else {
            return .failure(TLSFailure(reason: LinkCloseReason(.certificate, "no peer certificate")))
        }
        defer { X509_free(certificate) }
        let summary = CertificateAuthority.summary(of: certificate)
        guard let identity = summary.identity else {
            let name = LogText.printable(summary.commonName, bytesMax: 64)
            return .failure(TLSFailure(reason: LinkCloseReason(.certificate, "certificate of '\(name)' has no fireball name and role (CN, OU node|orchestrator)")))
        }
        let nameBytes = Array(identity.name.utf8)
        guard X509_check_host(certificate, identity.name, nameBytes.count, UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT), nil) == 1 else {
            return .failure(TLSFailure(reason: LinkCloseReason(.certificate, "certificate CN \(identity.name) is not among its DNS names")))
        }
        return .success(identity)
    }

    /// Turns an OpenSSL failure into a refusal reason: a certificate the verify callback refused, a missing
    /// client certificate, an alert from the peer, or another TLS error.
    private func failure(sslError: Int32) -> TLSFailure {
        let record = verifyRecord.pointee
        if record.error != 0 {
            return TLSFailure(reason: LinkCloseReason(.certificate, Self.describeVerifyError(record)))
        }
        let code = ERR_peek_error()
        let text = openSSLErrorText()
        if code != 0, fb_err_is_ssl_library(code) != 0 {
            let reason = fb_err_reason(code)
            if reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE {
                return TLSFailure(reason: LinkCloseReason(.certificate, "no client certificate"))
            }
            // SSL_R_SSLV3_ALERT_* / SSL_R_TLSV1_ALERT_* are 1000 + the alert number: the peer refused us.
            if reason >= 1000 && reason < 1256 {
                let alert = String(cString: SSL_alert_desc_string_long(reason - 1000))
                return TLSFailure(reason: LinkCloseReason(.tls, "peer sent TLS alert: \(alert)"))
            }
        }
        if sslError == SSL_ERROR_SYSCALL || code == 0 {
            return TLSFailure(reason: LinkCloseReason(.tls, "TLS failed (\(sslError))"))
        }
        return TLSFailure(reason: LinkCloseReason(.tls, "TLS failed: \(text)"))
    }

    static func describeVerifyError(_ record: fb_verify_record) -> String {
        var record = record
        // The subject of a certificate that may come from anyone: escaped for the log line.
        let subject = withUnsafeBytes(of: &record.subject) { raw in
            LogText.printable(UnsafeRawBufferPointer(rebasing: raw.prefix { $0 != 0 }), bytesMax: raw.count)
        }
        let who = subject.isEmpty ? "" : ", subject \(subject)"
        switch record.error {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return "certificate expired (notAfter \(utcText(record.not_after))\(who))"
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return "certificate not yet valid (notBefore \(utcText(record.not_before))\(who))"
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_CERT_SIGNATURE_FAILURE:
            return "certificate not issued by the cluster CA (\(String(cString: X509_verify_cert_error_string(Int(record.error))))\(who))"
        default:
            return "certificate refused: \(String(cString: X509_verify_cert_error_string(Int(record.error))))\(who)"
        }
    }
}

/// Unix seconds as "2026-01-01 00:00:00Z".
func utcText(_ unixSeconds: Int64) -> String {
    var time = time_t(unixSeconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
