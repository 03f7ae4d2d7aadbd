#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include "receipt_baseline.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>

enum kind { ED25519, P256, HMAC_SHA256 };

struct receipt_baseline {
    enum kind kind;
    EVP_PKEY *key;
    EVP_MD_CTX *digest_verify; /* Ed25519: initialised once, reused for every one-shot verify */
    EVP_PKEY_CTX *verify;      /* P-256: EVP_PKEY_verify_init once */
    EVP_MD *sha256;
    EVP_MAC *mac;
    EVP_MAC_CTX *mac_ctx;      /* HMAC: keyed once, re-initialised with a NULL key per message */
};

static receipt_baseline *new_handle(enum kind kind) {
    receipt_baseline *h = calloc(1, sizeof(*h));
    if (h != NULL) h->kind = kind;
    return h;
}

receipt_baseline *receipt_baseline_ed25519(const uint8_t *raw, size_t length) {
    receipt_baseline *h = new_handle(ED25519);
    if (h == NULL) return NULL;
    h->key = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, length);
    h->digest_verify = EVP_MD_CTX_new();
    if (h->key == NULL || h->digest_verify == NULL
        || EVP_DigestVerifyInit_ex(h->digest_verify, NULL, NULL, NULL, NULL, h->key, NULL) != 1) {
        receipt_baseline_free(h);
        return NULL;
    }
    return h;
}

receipt_baseline *receipt_baseline_p256(const uint8_t *point, size_t length) {
    receipt_baseline *h = new_handle(P256);
    if (h == NULL) return NULL;
    EVP_PKEY_CTX *from = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, length);
    params[2] = OSSL_PARAM_construct_end();
    if (from == NULL || EVP_PKEY_fromdata_init(from) != 1
        || EVP_PKEY_fromdata(from, &h->key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_CTX_free(from);
        receipt_baseline_free(h);
        return NULL;
    }
    EVP_PKEY_CTX_free(from);
    h->verify = EVP_PKEY_CTX_new_from_pkey(NULL, h->key, NULL);
    h->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (h->verify == NULL || h->sha256 == NULL || EVP_PKEY_verify_init(h->verify) != 1) {
        receipt_baseline_free(h);
        return NULL;
    }
    return h;
}

receipt_baseline *receipt_baseline_hmac_sha256(const uint8_t *secret, size_t length) {
    receipt_baseline *h = new_handle(HMAC_SHA256);
    if (h == NULL) return NULL;
    h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    h->mac_ctx = h->mac != NULL ? EVP_MAC_CTX_new(h->mac) : NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (h->mac_ctx == NULL || EVP_MAC_init(h->mac_ctx, secret, length, params) != 1) {
        receipt_baseline_free(h);
        return NULL;
    }
    return h;
}

void receipt_baseline_free(receipt_baseline *h) {
    if (h == NULL) return;
    EVP_MD_CTX_free(h->digest_verify);
    EVP_PKEY_CTX_free(h->verify);
    EVP_MAC_CTX_free(h->mac_ctx);
    EVP_MAC_free(h->mac);
    EVP_MD_free(h->sha256);
    EVP_PKEY_free(h->key);
    free(h);
}

int receipt_baseline_verify(receipt_baseline *h, const uint8_t *message, size_t message_length,
                            const uint8_t *signature, size_t signature_length) {
    int ok = 0;
    switch (h->kind) {
    case ED25519:
        ok = EVP_DigestVerify(h->digest_verify, signature, signature_length, message, message_length) == 1;
        break;
    case P256: {
        unsigned char digest[32];
        unsigned int digest_length = 0;
        ok = EVP_Digest(message, message_length, digest, &digest_length, h->sha256, NULL) == 1
            && EVP_PKEY_verify(h->verify, signature, signature_length, digest, digest_length) == 1;
        break;
    }
    case HMAC_SHA256: {
        unsigned char tag[32];
        size_t tag_length = 0;
        ok = EVP_MAC_init(h->mac_ctx, NULL, 0, NULL) == 1
            && EVP_MAC_update(h->mac_ctx, message, message_length) == 1
            && EVP_MAC_final(h->mac_ctx, tag, &tag_length, sizeof(tag)) == 1
            && tag_length == signature_length
            && CRYPTO_memcmp(tag, signature, tag_length) == 0;
        break;
    }
    }
    if (!ok) ERR_clear_error();
    return ok;
}

const char *receipt_baseline_openssl_version(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}
