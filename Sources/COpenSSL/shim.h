#ifndef PAYRAIL_COPENSSL_SHIM_H
#define PAYRAIL_COPENSSL_SHIM_H

/* Build against the OpenSSL 3 API only: any deprecated call fails to compile. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

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
#include <openssl/opensslv.h>

#endif
