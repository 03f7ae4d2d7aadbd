"""PyJWT's own loop over PayRail's benchmark token set (a peer for comparison; never part of the product).

usage: pyjwt_loop.py JWKS_FILE TOKENS_FILE SECONDS REPETITIONS
TOKENS_FILE: JSON list of {"token", "resource"}. Prints one JSON object:
{"rates": [ops per second per repetition], "accepted": n, "refused": n, "pyjwt": version}
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
repetitions = int(sys.argv[4])


def verify(token, resource):
    try:
        kid = jwt.get_unverified_header(token)["kid"]
        key, alg = keys[kid]
        claims = jwt.decode(token, key, algorithms=[alg], options={"require": ["exp", "iat", "sub"]})
        return claims["sub"] == resource
    except Exception:
        return False


rates, accepted, refused = [], 0, 0
for _ in range(repetitions):
    count = 0
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
            break
    rates.append(count / elapsed)
print(json.dumps({"rates": rates, "accepted": accepted, "refused": refused, "pyjwt": jwt.__version__}))
