#ifndef RECEIPT_BASELINE_H
#define RECEIPT_BASELINE_H

/* The benchmark's "raw" figure: OpenSSL's own verification of a JWS signing input, with the key
 * already loaded and the operation context already initialised, written directly in C. Nothing of
 * PayRail runs here; it is the limit PayRail's verifier is measured against. */

#include <stddef.h>
#include <stdint.h>

typedef struct receipt_baseline receipt_baseline;

/* Each returns NULL on failure. One handle serves one thread at a time. */
receipt_baseline *receipt_baseline_ed25519(const uint8_t *raw_public_key, size_t length);
receipt_baseline *receipt_baseline_p256(const uint8_t *x963_point, size_t length);
receipt_baseline *receipt_baseline_hmac_sha256(const uint8_t *secret, size_t length);
void receipt_baseline_free(receipt_baseline *handle);

/* 1 when `signature` verifies over `message`, 0 otherwise. For P-256 the signature is DER and the
 * message is hashed with SHA-256 here; for HMAC the tag is compared in constant time. */
int receipt_baseline_verify(receipt_baseline *handle, const uint8_t *message, size_t message_length,
                            const uint8_t *signature, size_t signature_length);

/* OpenSSL's version text, e.g. "OpenSSL 3.0.19 27 Jan 2026". */
const char *receipt_baseline_openssl_version(void);

#endif
