// OpenSSL for the Transport target only (Debian: libssl-dev).
// Macros that Swift cannot import get tiny static-inline wrappers here (prefix fb_).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

static inline int fb_ctx_tls13_only(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1
        && SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1;
}
static inline long fb_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline int fb_set_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
/// The readable bytes of a memory BIO without copying (BIO_get_mem_data).
static inline long fb_bio_mem_data(BIO *bio, const unsigned char **data) { return BIO_get_mem_data(bio, (char **)data); }
static inline long fb_bio_set_mem_eof_return(BIO *bio, int value) { return BIO_set_mem_eof_return(bio, value); }
static inline int fb_err_reason(unsigned long error) { return ERR_GET_REASON(error); }
static inline int fb_err_is_ssl_library(unsigned long error) { return ERR_GET_LIB(error) == ERR_LIB_SSL; }
static inline void fb_x509v3_ctx_nodb(X509V3_CTX *ctx) { X509V3_set_ctx_nodb(ctx); }

/// What the verify callback saw on the first certificate it refused (all times are Unix seconds).
typedef struct fb_verify_record {
    int error;          // X509_V_OK (0) if nothing was refused
    int depth;
    long long not_before;
    long long not_after;
    char subject[160];
} fb_verify_record;

static inline long long fb_asn1_time_unix(const ASN1_TIME *time) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (time == NULL || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
    return (long long)timegm(&tm);
}

static inline int fb_verify_callback(int preverify_ok, X509_STORE_CTX *store) {
    if (preverify_ok) return 1;
    SSL *ssl = (SSL *)X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    fb_verify_record *record = ssl ? (fb_verify_record *)SSL_get_ex_data(ssl, 0) : NULL;
    if (record != NULL && record->error == 0) {
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        record->error = X509_STORE_CTX_get_error(store);
        record->depth = X509_STORE_CTX_get_error_depth(store);
        if (cert != NULL) {
            record->not_before = fb_asn1_time_unix(X509_get0_notBefore(cert));
            record->not_after = fb_asn1_time_unix(X509_get0_notAfter(cert));
            X509_NAME_oneline(X509_get_subject_name(cert), record->subject, (int)sizeof record->subject);
        }
    }
    return 0;
}

/// Requires a peer certificate (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT) and records the first refusal in `record`.
static inline void fb_ssl_require_peer(SSL *ssl, fb_verify_record *record) {
    SSL_set_ex_data(ssl, 0, record);
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, fb_verify_callback);
}

/// The text of the certificate's first subject entry with `nid` (CN, OU), or 0 if none fits `size`.
static inline int fb_x509_subject_text(X509 *cert, int nid, char *out, int size) {
    return X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, out, size);
}
