#!/usr/bin/env python3
"""Builds the seed corpus of every wire-fuzz target from the test fixtures.

Usage: seeds.py REPO_ROOT OUT_DIR TARGET...

Fixtures hold real header values, tokens and JSON from the specifications and peers; the fuzzer
starts from those rather than from nothing, so it spends its time past the first few bytes of the
grammar. Every string in a JSON fixture (recursively), every line of a text fixture, and whatever
those decode to (base64, base64url, hex, JSON) is a candidate; each target takes the candidates of
its fixture groups. Hand-picked seeds in Fuzz/corpus/<target>/ and past crashes in Fuzz/crashes/<target>-* are added
as they are.
Standard library only: this runs before any virtualenv exists.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import sys

MAX_SEED = 64 * 1024
B64_CHARS = re.compile(r"^[A-Za-z0-9+/_=-]{4,}$")
HEX_CHARS = re.compile(r"^(?:[0-9a-fA-F]{2}){2,}$")


def walk_strings(value, out):
    """Every string (and every object or array, re-serialized) inside a parsed JSON fixture."""
    if isinstance(value, str):
        out.append(value.encode())
    elif isinstance(value, dict):
        out.append(json.dumps(value, separators=(",", ":")).encode())
        for key, item in value.items():
            out.append(key.encode())
            walk_strings(item, out)
    elif isinstance(value, list):
        out.append(json.dumps(value, separators=(",", ":")).encode())
        for item in value:
            walk_strings(item, out)


def decodings(raw):
    """What a fixture string may encode: base64 (either alphabet, padded or not) and hex."""
    found = []
    text = raw.decode(errors="replace").strip()
    # A header value often carries the token after a scheme or inside quotes.
    pieces = {text} | set(re.findall(r'[A-Za-z0-9+/_=-]{8,}', text))
    for piece in pieces:
        if B64_CHARS.match(piece):
            body = piece.rstrip("=")
            padded = body + "=" * (-len(body) % 4)
            try:  # both alphabets: translate base64url to standard first
                found.append(base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True))
            except (binascii.Error, ValueError):
                pass
        if HEX_CHARS.match(piece):
            found.append(bytes.fromhex(piece))
    return found


def candidates(paths):
    """All seed candidates from fixture files: raw content, strings, lines and their decodings."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if len(data) <= MAX_SEED:
            out.append(data)
        strings = []
        try:
            walk_strings(json.loads(data), strings)
        except (ValueError, UnicodeDecodeError):
            strings = [line for line in data.splitlines() if line.strip()]
        out.extend(strings)
        for item in strings:
            out.extend(decodings(item))
    return [item for item in out if 0 < len(item) <= MAX_SEED]


def fixture_files(root, *folders):
    paths = []
    for folder in folders:
        base = os.path.join(root, folder)
        for directory, _, names in os.walk(base):
            for name in sorted(names):
                if name.endswith((".py", ".md", ".pem")) or name == "LICENSE":
                    continue
                paths.append(os.path.join(directory, name))
    return sorted(paths)


def main():
    root, out_dir, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
    wire = "Tests/PayRailWireTests/Fixtures"
    groups = {
        "payment": candidates(fixture_files(root, f"{wire}/payment")),
        "x402": candidates(fixture_files(root, f"{wire}/x402")),
        "l402": candidates(fixture_files(root, f"{wire}/l402")),
        "jcs": candidates(fixture_files(root, "Tests/PayRailCryptoTests/Fixtures/jcs/input")),
    }
    everything = [item for group in groups.values() for item in group]
    json_like = [item for item in everything if item[:1] in (b"{", b"[")]
    base64_like = [item for item in everything if B64_CHARS.match(item.decode(errors="replace"))]
    macaroons = [item for item in groups["l402"] if item[:1] == b"\x02"]
    per_target = {
        "auth-": groups["payment"] + groups["l402"],
        "payment-": groups["payment"],
        "charge-request": groups["payment"],
        "accept-payment": groups["payment"],
        "problem-details": json_like,
        "x402-": groups["x402"],
        "macaroon-binary": macaroons,
        "l402-": groups["l402"],
        "jcs": groups["jcs"] + json_like,
        "json-object-reader": groups["jcs"] + json_like,
        "base64": base64_like,
    }
    for target in targets:
        seeds = []
        for prefix, group in per_target.items():
            if target.startswith(prefix):
                seeds = group
                break
        directory = os.path.join(out_dir, target)
        os.makedirs(directory, exist_ok=True)
        hand_picked = os.path.join(root, "Fuzz", "corpus", target)
        if os.path.isdir(hand_picked):
            for name in sorted(os.listdir(hand_picked)):
                with open(os.path.join(hand_picked, name), "rb") as handle:
                    seeds = seeds + [handle.read()]
        # Past crashes are replayed first, so a fixed bug that comes back is caught at once.
        crashes = os.path.join(root, "Fuzz", "crashes")
        if os.path.isdir(crashes):
            for name in sorted(os.listdir(crashes)):
                if name.startswith(target + "-"):
                    with open(os.path.join(crashes, name), "rb") as handle:
                        seeds = seeds + [handle.read()]
        for seed in seeds:
            name = hashlib.sha1(seed).hexdigest()
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(seed)
        print(f"{target}: {len(os.listdir(directory))} seeds")


if __name__ == "__main__":
    main()
