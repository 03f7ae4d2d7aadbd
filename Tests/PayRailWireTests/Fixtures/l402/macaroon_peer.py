"""pymacaroons as an independent peer for PayRail's macaroons (test-only; never part of the product).

usage:
  macaroon_peer.py verify ROOT_KEY_HEX     stdin: JSON {"macaroons": [std base64, ...], "satisfy": [predicate, ...]}
                                            prints one JSON line per macaroon:
                                            {"ok": true, "signature": hex, "caveats": [...], "identifier": hex}
                                            or {"ok": false, "error": "..."}
  macaroon_peer.py mint                    stdin: JSON {"rootKeyHex", "identifierHex", "location" (may be null),
                                            "caveats": [predicate, ...]}
                                            prints JSON {"base64": std base64 of serialize_raw, "signature": hex}
"""
import base64, json, sys

from pymacaroons import Macaroon, MACAROON_V2, Verifier
from pymacaroons.serializers import BinarySerializer


def text_of(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def verify(root_key_hex):
    request = json.load(sys.stdin)
    key = bytes.fromhex(root_key_hex)
    for text in request["macaroons"]:
        try:
            m = BinarySerializer().deserialize_raw(base64.b64decode(text, validate=True))
            v = Verifier()
            for predicate in request["satisfy"]:
                v.satisfy_exact(predicate)
            v.verify(m, key)
            print(json.dumps({
                "ok": True,
                "signature": m.signature,
                "identifier": m.identifier_bytes.hex(),
                "location": text_of(m.location),
                "caveats": [text_of(c.caveat_id_bytes) for c in m.caveats],
            }))
        except Exception as error:  # the verdict is the test's to judge
            print(json.dumps({"ok": False, "error": "%s: %s" % (type(error).__name__, error)}))


def mint():
    request = json.load(sys.stdin)
    kwargs = dict(identifier=bytes.fromhex(request["identifierHex"]),
                  key=bytes.fromhex(request["rootKeyHex"]), version=MACAROON_V2)
    if request.get("location") is not None:
        kwargs["location"] = request["location"]
    m = Macaroon(**kwargs)
    for predicate in request["caveats"]:
        m.add_first_party_caveat(predicate)
    raw = BinarySerializer().serialize_raw(m)
    print(json.dumps({"base64": base64.b64encode(raw).decode(), "signature": m.signature}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "mint":
        mint()
    else:
        sys.exit(__doc__)
