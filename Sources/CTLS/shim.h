#ifndef PAYRAIL_CTLS_SHIM_H
#define PAYRAIL_CTLS_SHIM_H

/* libssl (OpenSSL 3) for PayRailTLS only: a TLS client that trusts exactly one certificate. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/err.h>

/* SSL_CTX_set_min_proto_version is a macro: Swift cannot call it. */
static inline int payrail_tls_require_tls12(SSL_CTX *context) {
    return (int) SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
}

/* d2i_X509 advances its cursor; this parses `count` DER bytes into an X509 the caller frees. */
static inline X509 *payrail_tls_x509_from_der(const unsigned char *bytes, long count) {
    const unsigned char *cursor = bytes;
    return d2i_X509(NULL, &cursor, count);
}

/* i2d_X509 into a buffer the caller frees with payrail_tls_free. Returns the length, <= 0 on failure. */
static inline int payrail_tls_x509_to_der(X509 *certificate, unsigned char **output) {
    *output = NULL;
    return i2d_X509(certificate, output);
}

static inline void payrail_tls_free(void *pointer) { OPENSSL_free(pointer); }

#endif
