#ifndef PAYRAIL_COPENSSL_SHIM_H
#define PAYRAIL_COPENSSL_SHIM_H

/* Build against the OpenSSL 3 API only: any deprecated call fails to compile. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <openssl/opensslv.h>

/*
 * Helpers for PayRailCrypto. They exist only where Swift cannot call OpenSSL directly (macros,
 * OSSL_PARAM arrays built on the stack, C callbacks) and each one frees everything it allocates
 * except the EVP_PKEY / EVP_MAC_CTX it returns, which the Swift caller owns.
 */

/* Refuses every passphrase request: an encrypted PEM must fail to load, never prompt on a terminal
 * (OpenSSL's default callback would read from the controlling tty of a server process). */
static inline int payrail_refuse_password(char *buf, int size, int rwflag, void *userdata) {
    (void)buf; (void)size; (void)rwflag; (void)userdata;
    return -1;
}

/* Reads the first private key (PKCS#8 "PRIVATE KEY", or a traditional format) from PEM text. */
static inline EVP_PKEY *payrail_read_private_key_pem(const char *pem, size_t length) {
    if (length > INT_MAX) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey_ex(bio, NULL, payrail_refuse_password, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

/* Reads the first SubjectPublicKeyInfo ("PUBLIC KEY") from PEM text. */
static inline EVP_PKEY *payrail_read_public_key_pem(const char *pem, size_t length) {
    if (length > INT_MAX) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PUBKEY_ex(bio, NULL, payrail_refuse_password, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

/* Parses a DER SubjectPublicKeyInfo; fails unless it spans exactly `length` bytes (no trailing data). */
static inline EVP_PKEY *payrail_read_public_key_der(const unsigned char *der, size_t length) {
    if (length > LONG_MAX) return NULL;
    const unsigned char *cursor = der;
    EVP_PKEY *key = d2i_PUBKEY_ex(NULL, &cursor, (long)length, NULL, NULL);
    if (key != NULL && cursor != der + length) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* An unkeyed HMAC-SHA256 context used as a template: duplicating it skips the digest lookup. */
static inline EVP_MAC_CTX *payrail_hmac_sha256_template(EVP_MAC *hmac) {
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    if (ctx == NULL) return NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Keys an HMAC context. An empty key is legal for HMAC (RFC 2104) but OpenSSL treats a NULL key as
 * "keep the previous key", so an empty key is passed as a valid pointer with length 0. */
static inline int payrail_hmac_init(EVP_MAC_CTX *ctx, const unsigned char *key, size_t length) {
    static const unsigned char empty = 0;
    return EVP_MAC_init(ctx, key != NULL ? key : &empty, length, NULL);
}

/* Checks a full HMAC tag in one call on a keyed context: re-initialised with a NULL key (which keeps
 * the key it holds, no re-keying), fed the message, and the tag compared in constant time on the stack.
 * Returns 1 for a match, 0 for a mismatch or wrong length, -1 when OpenSSL failed (context unusable). */
static inline int payrail_hmac_verify(EVP_MAC_CTX *ctx, const unsigned char *message, size_t message_length,
                                      const unsigned char *tag, size_t tag_length) {
    unsigned char computed[EVP_MAX_MD_SIZE];
    size_t written = 0;
    if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1
        || EVP_MAC_update(ctx, message, message_length) != 1
        || EVP_MAC_final(ctx, computed, &written, sizeof computed) != 1) {
        return -1;
    }
    /* Not cleansed: for a genuine token the tag is the one the token itself carries. */
    return written == tag_length && CRYPTO_memcmp(computed, tag, written) == 0;
}

/* Builds an EC public key from an encoded point (04||x||y or compressed) on a named group.
 * OpenSSL decodes the point and refuses it unless it lies on the curve. */
static inline EVP_PKEY *payrail_ec_public_key(const char *group, const unsigned char *point, size_t length) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) return NULL;
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, length);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* Builds an EC key pair from a big-endian private scalar d on the group `nid` (OpenSSL name `group`).
 * Refuses d outside [1, n-1]; the public point d*G is computed here so the pair is always consistent. */
static inline EVP_PKEY *payrail_ec_private_key(int nid, const char *group, const unsigned char *scalar, size_t length) {
    EVP_PKEY *key = NULL;
    EC_GROUP *ec_group = EC_GROUP_new_by_curve_name(nid);
    BN_CTX *bn_ctx = BN_CTX_new();
    BIGNUM *d = BN_bin2bn(scalar, (int)length, NULL);
    EC_POINT *point = NULL;
    OSSL_PARAM_BLD *builder = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char encoded[133];
    size_t encoded_length = 0;
    if (ec_group == NULL || bn_ctx == NULL || d == NULL || length > 66) goto done;
    if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(ec_group)) >= 0) goto done;
    point = EC_POINT_new(ec_group);
    if (point == NULL || EC_POINT_mul(ec_group, point, d, NULL, NULL, bn_ctx) != 1) goto done;
    encoded_length = EC_POINT_point2oct(ec_group, point, POINT_CONVERSION_UNCOMPRESSED, encoded, sizeof encoded, bn_ctx);
    if (encoded_length == 0) goto done;
    builder = OSSL_PARAM_BLD_new();
    if (builder == NULL
        || OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, encoded, encoded_length) != 1
        || OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1) goto done;
    params = OSSL_PARAM_BLD_to_param(builder);
    if (params == NULL) goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
        key = NULL;
    }
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    EC_POINT_free(point);
    BN_clear_free(d);
    BN_CTX_free(bn_ctx);
    EC_GROUP_free(ec_group);
    OPENSSL_cleanse(encoded, sizeof encoded);
    return key;
}

/* Generates a fresh EC key pair on a named group. */
static inline EVP_PKEY *payrail_ec_generate(const char *group) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) return NULL;
    EVP_PKEY *key = NULL;
    if (EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_group_name(ctx, group) != 1
        || EVP_PKEY_generate(ctx, &key) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* Copies a big-endian integer parameter of a key (e.g. "priv", "qx", "qy") left-padded to `length` bytes. */
static inline int payrail_pkey_get_bn_padded(const EVP_PKEY *key, const char *name, unsigned char *out, int length) {
    BIGNUM *value = NULL;
    if (EVP_PKEY_get_bn_param(key, name, &value) != 1 || value == NULL) return 0;
    int written = BN_bn2binpad(value, out, length);
    BN_clear_free(value);
    return written == length;
}

/* Copies the key's group name (e.g. "prime256v1"); fails for keys with explicit curve parameters. */
static inline int payrail_pkey_group_name(const EVP_PKEY *key, char *out, size_t capacity) {
    size_t length = 0;
    return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, out, capacity, &length) == 1;
}

#endif
