"""PyJWT as an independent peer for PayRail's receipt tokens (test-only; never part of the product).

usage:
  pyjwt_peer.py verify JWKS_FILE TOKENS_FILE    one token per line; prints one JSON line per token:
                                                {"ok": true, "claims": {...}} or {"ok": false, "error": "..."}
  pyjwt_peer.py mint OUT_DIR                    writes OUT_DIR/jwks.json and OUT_DIR/tokens.json made by PyJWT:
                                                genuine tokens and attack tokens, each with its expected verdict
"""
import base64, hashlib, hmac, json, os, sys, time

import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives import serialization


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify(jwks_path, tokens_path):
    keyset = jwt.PyJWKSet.from_json(open(jwks_path).read())
    by_kid = {k.key_id: k for k in keyset.keys}
    for line in open(tokens_path):
        token = line.strip()
        if not token:
            continue
        try:
            header = jwt.get_unverified_header(token)
            key = by_kid[header["kid"]]
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                                options={"require": ["exp", "iat", "sub", "jti"]})
            print(json.dumps({"ok": True, "alg": header["alg"], "claims": claims}, sort_keys=True))
        except Exception as error:  # report every refusal, the Swift side asserts on it
            print(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"}))


def mint(out_dir):
    now = int(time.time())
    claims = {"iss": "pyjwt.example", "sub": "GET /premium", "jti": "chal-pyjwt-1", "iat": now,
              "exp": now + 600, "method": "fake", "amount": "100", "currency": "sat", "ref": "ref-pyjwt-1"}
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    secret = os.urandom(32)

    ed_jwk = json.loads(OKPAlgorithm.to_jwk(ed_key.public_key()))
    ed_jwk.update(kid="py-ed", alg="EdDSA", use="sig")
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update(kid="py-ec", alg="ES256", use="sig")
    oct_jwk = {"kty": "oct", "k": b64u(secret), "kid": "py-hs", "alg": "HS256"}
    json.dump({"keys": [ed_jwk, ec_jwk, oct_jwk]}, open(os.path.join(out_dir, "jwks.json"), "w"))

    tokens = [
        {"name": "pyjwt EdDSA", "expect": "valid",
         "token": jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": "py-ed"})},
        {"name": "pyjwt ES256", "expect": "valid",
         "token": jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "py-ec"})},
        {"name": "pyjwt HS256", "expect": "valid",
         "token": jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "py-hs"})},
        {"name": "alg none", "expect": "alg-none",
         "token": jwt.encode(claims, None, algorithm="none", headers={"kid": "py-ed"})},
    ]
    # Algorithm confusion: HS256 keyed with the public key an attacker can see, naming the
    # asymmetric key's kid. PyJWT refuses to make these itself, so sign them by hand.
    raw_ed = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem_ec = ec_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for kid, public_bytes in (("py-ed", raw_ed), ("py-ed", json.dumps(ed_jwk).encode()), ("py-ec", pem_ec)):
        header = b64u(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
        payload = b64u(json.dumps(claims).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = b64u(hmac.new(public_bytes, signing_input, hashlib.sha256).digest())
        tokens.append({"name": f"HS256 keyed with {kid}'s public key", "expect": "alg-key-mismatch",
                       "token": f"{header}.{payload}.{signature}"})
    # A genuine ES256 signature presented under the Ed25519 key id: the key type decides.
    tokens.append({"name": "ES256 token naming the Ed25519 kid", "expect": "alg-key-mismatch",
                   "token": jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "py-ed"})})
    json.dump(tokens, open(os.path.join(out_dir, "tokens.json"), "w"), indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "mint":
        mint(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
