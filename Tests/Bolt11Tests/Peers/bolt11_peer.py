"""Independent BOLT 11 generator and reader for Bolt11Tests: the PyPI `bolt11` library (pinned in
scripts/peers-requirements.txt), which nobody in this project wrote.

  bolt11_peer.py generate COUNT SEED   one JSON line per random invoice: {"invoice", "expected"}
  bolt11_peer.py decode                one invoice per stdin line -> one JSON line: the library's reading

"expected" is what the library itself reads back from the invoice it wrote, in the shape
`describe` gives, so the Swift test compares our decoder with the library, not with our own inputs.
"""

import json
import random
import sys

from bitstring import Bits, pack
from coincurve import PrivateKey

import bolt11
from bolt11 import (Bolt11, Fallback, Feature, FeatureExtra, Features, FeatureState, Route, RouteHint,
                    Tag, TagChar, Tags)
from bolt11.bit_utils import int_to_scid, trim_to_bytes

NETWORKS = {"bc": "mainnet", "tb": "testnet", "tbs": "signet", "bcrt": "regtest"}


def feature_bits(features):
    if features is None:
        return []
    bits = []
    for feature, state in features.feature_list.items():
        bits.append(feature.value * 2 + (1 if state == FeatureState.supported else 0))
    return sorted(bits)


def describe(invoice):
    fallback = invoice.fallback
    return {
        "network": NETWORKS[invoice.currency],
        "amount_msat": None if invoice.amount_msat is None else int(invoice.amount_msat),
        "timestamp": invoice.date,
        "payment_hash": invoice.payment_hash,
        "payment_secret": invoice.payment_secret,
        "description": invoice.description,
        "description_hash": invoice.description_hash,
        "expiry": invoice.expiry,
        "min_final_cltv_expiry": invoice.min_final_cltv_expiry,
        "payee": invoice.payee,
        "metadata": invoice.metadata,
        "features": feature_bits(invoice.features),
        "fallbacks": [] if fallback is None else [
            {"version": fallback.witness_version, "program": trim_to_bytes(fallback.data[5:]).hex()}],
        # The library reads the route numbers as signed (bitstring `intbe`) although the spec makes
        # them unsigned; the modulo restores the unsigned value from the same bits.
        "route_hints": [[{
            "pubkey": route.public_key, "short_channel_id": route.short_channel_id,
            "fee_base_msat": route.base_fee % 2**32, "fee_proportional_millionths": route.ppm_fee % 2**32,
            "cltv_expiry_delta": route.cltv_expiry_delta % 2**16,
        } for route in hint.routes] for hint in invoice.route_hints],
    }


def random_text(rng):
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?-\"'éüß€ナンセンス杯😀"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))


def random_amount(rng):
    shape = rng.randint(0, 6)
    if shape == 0:
        return None
    if shape == 1:
        return rng.randint(1, 999)  # needs the p multiplier
    if shape == 2:
        return rng.randint(1, 10**6) * 100  # n
    if shape == 3:
        return rng.randint(1, 10**6) * 100_000  # u
    if shape == 4:
        return rng.randint(1, 10**5) * 100_000_000  # m
    if shape == 5:
        return rng.randint(1, 21_000_000) * 100_000_000_000  # whole bitcoin
    return rng.randint(1, 2_100_000_000_000_000_000)


def random_features(rng):
    chosen = {}
    # Known required/supported pairs (BOLT 9, invoice context); basic_mpp needs payment_secret.
    for index in (4, 7, 8, 12, 18, 24):
        state = rng.choice([None, FeatureState.required, FeatureState.supported])
        if state is not None:
            chosen[Feature(index) if index < len(Feature) else FeatureExtra(index)] = state
    if any(f.value == 8 for f in chosen) and not any(f.value == 7 for f in chosen):
        chosen[Feature(7)] = FeatureState.supported
    # Unknown features may only ever be offered as odd (supported) bits.
    for _ in range(rng.randint(0, 2)):
        index = rng.randint(25, 60)
        chosen[FeatureExtra(index)] = FeatureState.supported
    return Features.from_feature_list(chosen) if chosen else None


def random_fallback(rng, currency):
    version, size = rng.choice([(0, 20), (0, 32), (1, 32), (17, 20), (18, 20)])
    return Fallback(data=pack("uint:5", version) + Bits(bytes(rng.getrandbits(8) for _ in range(size))), currency=currency)


def random_route(rng):
    return Route(
        public_key=bytes([rng.choice([2, 3])] + [rng.getrandbits(8) for _ in range(32)]).hex(),
        short_channel_id=int_to_scid(rng.getrandbits(64)),
        base_fee=rng.getrandbits(32), ppm_fee=rng.getrandbits(32), cltv_expiry_delta=rng.getrandbits(16),
    )


def generate(count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        key = PrivateKey(bytes(rng.getrandbits(8) for _ in range(32)))
        currency = rng.choice(list(NETWORKS))
        tags = Tags()
        tags.add(TagChar.payment_hash, bytes(rng.getrandbits(8) for _ in range(32)).hex())
        tags.add(TagChar.payment_secret, bytes(rng.getrandbits(8) for _ in range(32)).hex())
        if rng.random() < 0.5:
            tags.add(TagChar.description, random_text(rng))
        else:
            tags.add(TagChar.description_hash, bytes(rng.getrandbits(8) for _ in range(32)).hex())
        if rng.random() < 0.6:
            tags.add(TagChar.expire_time, rng.choice([rng.randint(1, 100_000), rng.randint(1, 2**40)]))
        if rng.random() < 0.6:
            tags.add(TagChar.min_final_cltv_expiry, rng.randint(1, 5000))
        keep_payee = rng.random() < 0.4
        if keep_payee:
            tags.add(TagChar.payee, key.public_key.format(compressed=True).hex())
        if rng.random() < 0.4:
            tags.add(TagChar.fallback, random_fallback(rng, currency if currency in ("bc", "tb") else "bc"))
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            tags.add(TagChar.route_hint, RouteHint(routes=[random_route(rng) for _ in range(rng.randint(1, 3))]))
        features = random_features(rng)
        if features is not None:
            tags.add(TagChar.features, features)
        if rng.random() < 0.3:
            tags.add(TagChar.metadata, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40))).hex())
        rng.shuffle(tags.tags)
        draft = Bolt11(currency=currency, date=rng.randint(0, 2**35 - 1), tags=tags, amount_msat=random_amount(rng))
        text = bolt11.encode(draft, key.secret.hex(), keep_payee=keep_payee)
        print(json.dumps({"invoice": text, "expected": describe(bolt11.decode(text))}, ensure_ascii=False))


def decode():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            print(json.dumps(describe(bolt11.decode(line)), ensure_ascii=False))
        except Exception as error:  # the reader's verdict is part of the answer
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        generate(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["decode"]:
        decode()
    else:
        sys.exit("usage: bolt11_peer.py generate COUNT SEED | decode")
