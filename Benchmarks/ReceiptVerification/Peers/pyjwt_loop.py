"""PyJWT's own loop over PayRail's benchmark token set (a peer for comparison; never part of the product).

usage: pyjwt_loop.py JWKS_FILE TOKENS_FILE SECONDS
TOKENS_FILE: JSON list of {"token", "resource"}. After loading the keys and tokens it prints one
line, {"ready": true, "pyjwt": version}; then for every line "run" on standard input it times one
repetition (whole passes over the tokens until SECONDS have passed) and prints one JSON line,
{"count": n, "elapsed": seconds, "accepted": n, "refused": n}. It ends at the end of its input.
The benchmark asks for one repetition in turn with its own modes, so that PyJWT's figures and
PayRail's come from neighbouring seconds of a shared machine.

Keys are parsed once up front, as a long-running PyJWT server would hold them; each token then costs
what a PyJWT user pays: read the header for the kid, decode with that key (signature and exp), and
compare sub with the resource asked for.
"""
import json, sys, time

import jwt

jwks = jwt.PyJWKSet.from_json(open(sys.argv[1]).read())
keys = {k.key_id: (k.key, k.algorithm_name) for k in jwks.keys}
tokens = [(t["token"], t["resource"]) for t in json.load(open(sys.argv[2]))]
seconds = float(sys.argv[3])


def verify(token, resource):
    try:
        kid = jwt.get_unverified_header(token)["kid"]
        key, alg = keys[kid]
        claims = jwt.decode(token, key, algorithms=[alg], options={"require": ["exp", "iat", "sub"]})
        return claims["sub"] == resource
    except Exception:
        return False


def repetition():
    count = accepted = refused = 0
    start = time.perf_counter()
    while True:
        for token, resource in tokens:
            if verify(token, resource):
                accepted += 1
            else:
                refused += 1
            count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return {"count": count, "elapsed": elapsed, "accepted": accepted, "refused": refused}


print(json.dumps({"ready": True, "pyjwt": jwt.__version__}), flush=True)
for line in sys.stdin:
    if line.strip() != "run":
        sys.exit(f"pyjwt_loop: unknown request {line.strip()[:40]!r}")
    print(json.dumps(repetition()), flush=True)
