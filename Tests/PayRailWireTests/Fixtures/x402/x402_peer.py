"""Interop peer for the PayRail x402 codec tests: the PyPI `x402` SDK and `x402-conformance`.

Commands (input on stdin, JSON on stdout, exit 1 with a reason on failure):
  check-required   stdin: a PAYMENT-REQUIRED value we wrote. Decodes it with the SDK's own decoder and
                   schema, and runs x402-conformance's 402 checks on a saved response carrying it.
  check-signature  stdin: a PAYMENT-SIGNATURE value we wrote. Decodes it with the SDK and extracts the
                   payment identifier with the SDK's extension helpers.
  check-response   stdin: a PAYMENT-RESPONSE value we wrote. Decodes it with the SDK.
  produce          The SDK builds PaymentRequired / PaymentPayload / SettleResponse (and v1 types) from
                   its own models and encodes them with its own encoders, for us to decode.
"""
import base64
import json
import sys

from x402.http import (
    decode_payment_required_header,
    decode_payment_response_header,
    decode_payment_signature_header,
    encode_payment_required_header,
    encode_payment_response_header,
    encode_payment_signature_header,
)
from x402.schemas import (
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    parse_payment_required,
)
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequiredV1, PaymentRequirementsV1
# `x402.extensions/__init__` imports every extension, and the bazaar one needs `idna` (the SDK's
# optional "extensions" extra, not in the pinned peers). Register the package without running its
# __init__ so that only the payment-identifier extension, which has no such dependency, is loaded.
import importlib.util
import types

import x402 as _x402

if "x402.extensions" not in sys.modules:
    _spec = importlib.util.find_spec("x402.extensions")
    _package = types.ModuleType("x402.extensions")
    _package.__path__ = list(_spec.submodule_search_locations)
    sys.modules["x402.extensions"] = _package

from x402.extensions.payment_identifier import (
    append_payment_identifier_to_extensions,
    declare_payment_identifier_extension,
    extract_payment_identifier,
    is_payment_identifier_extension,
    is_payment_identifier_required,
    validate_payment_identifier,
)
from x402conf import harness


def identifier_report(extension):
    """The SDK's verdict on a payment-identifier extension object.

    Full validation runs the extension's JSON Schema with `jsonschema`, from the SDK's "extensions"
    extra, which the pinned peers install. Should it be missing, the SDK reports exactly that; we pass
    it on as `schemaCheckUnavailable` (with the errors) and the Swift test fails on it.
    """
    if extension is None:
        return None
    result = validate_payment_identifier(extension)
    unavailable = (not result.valid) and all("requires jsonschema" in e for e in result.errors)
    return {
        "structureOK": is_payment_identifier_extension(extension),
        "valid": result.valid,
        "schemaCheckUnavailable": unavailable,
        "errors": list(result.errors),
    }


def check_required(value):
    model = decode_payment_required_header(value)
    if type(model).__name__ != "PaymentRequired":
        raise SystemExit("SDK decoded a %s, not a version 2 PaymentRequired" % type(model).__name__)
    data = json.loads(base64.b64decode(value, validate=True))
    schema_model = parse_payment_required(json.dumps(data).encode())
    checks = harness.check_402({"status": 402, "headers": {"payment-required": value}, "body": b"{}"})
    ext = data.get("extensions") or {}
    out = {
        "x402Version": model.x402_version,
        "resourceUrl": model.resource.url if model.resource else None,
        "accepts": [
            {
                "scheme": a.scheme, "network": a.network, "amount": a.amount, "asset": a.asset,
                "payTo": a.pay_to, "maxTimeoutSeconds": a.max_timeout_seconds, "extra": a.extra,
            }
            for a in schema_model.accepts
        ],
        "paymentIdentifierRequired": is_payment_identifier_required(ext["payment-identifier"]) if "payment-identifier" in ext else None,
        "paymentIdentifier": identifier_report(ext.get("payment-identifier")),
        "conformance": [
            {"check": c["check"], "pass": bool(c["pass"]), "severity": c["severity"], "detail": str(c["detail"])}
            for c in checks
        ],
    }
    return out


def check_signature(value):
    model = decode_payment_signature_header(value)
    if type(model).__name__ != "PaymentPayload":
        raise SystemExit("SDK decoded a %s, not a version 2 PaymentPayload" % type(model).__name__)
    ext = model.extensions or {}
    pid = ext.get("payment-identifier")
    return {
        "x402Version": model.x402_version,
        "network": model.accepted.network,
        "scheme": model.accepted.scheme,
        "amount": model.accepted.amount,
        "payloadKeys": sorted(model.payload.keys()),
        "paymentId": extract_payment_identifier(model),
        "paymentIdentifier": identifier_report(pid),
    }


def check_response(value):
    model = decode_payment_response_header(value)
    return model.model_dump(by_alias=True, exclude_none=True)


LNBTC = json.load(open(__file__.rsplit("/", 1)[0] + "/x402-exact-lnbtc-vectors.json"))


def produce():
    ln = PaymentRequirements.model_validate(LNBTC["paymentRequirements"])
    card = PaymentRequirements(
        scheme="auth-capture", network="card:visa", amount="100", asset="USD", pay_to="acct_1Nxyz",
        max_timeout_seconds=900, extra={"psp": "stripe", "paymentFlow": "escrow"},
    )
    fake = PaymentRequirements(
        scheme="exact", network="payrail:fake", amount="250", asset="usd", pay_to="acct_merchant",
        max_timeout_seconds=120, extra={"requestID": "req_123", "processorKey": "cHJvY2Vzc29yLWtleQ"},
    )
    extensions = {"payment-identifier": declare_payment_identifier_extension(required=True)}
    if hasattr(extensions["payment-identifier"], "model_dump"):
        extensions["payment-identifier"] = extensions["payment-identifier"].model_dump(by_alias=True, exclude_none=True)
    required = PaymentRequired(
        x402_version=2, error="PAYMENT-SIGNATURE header is required",
        resource=ResourceInfo(url="https://api.example.com/article/A", description="Article A", mime_type="text/html"),
        accepts=[ln, card, fake], extensions=extensions,
    )
    echoed = append_payment_identifier_to_extensions(json.loads(json.dumps(extensions)), "pay_7d5d747be160e280504c099d984bcfe0")
    payload = PaymentPayload(
        x402_version=2, resource=required.resource, accepted=ln,
        payload={"preimage": LNBTC["payloadPreimage"]}, extensions=echoed,
    )
    card_payload = PaymentPayload(
        x402_version=2, accepted=card, payload={"token": "pm_1Nxyz", "paymentId": "pay_7d5d747be160e280504c099d984bcfe0"},
    )
    settle = SettleResponse.model_validate(LNBTC["settlementResponse"])
    failure = SettleResponse(success=False, error_reason="invalid_exact_lnbtc_request_mismatch", transaction="",
                             network="lnbtc:000000000019d6689c085ae165831e93")
    v1_req = PaymentRequirementsV1(
        scheme="exact", network="payrail:fake", max_amount_required="250", resource="https://api.example.com/article/A",
        description="Article A", mime_type="text/html", pay_to="acct_merchant", max_timeout_seconds=120, asset="usd",
        extra={"requestID": "req_123", "processorKey": "cHJvY2Vzc29yLWtleQ"},
    )
    v1_required = PaymentRequiredV1(x402_version=1, error="X-PAYMENT header is required", accepts=[v1_req])
    v1_payment = PaymentPayloadV1(x402_version=1, scheme="exact", network="payrail:fake", payload={"voucher": "v.o.u"})
    return {
        "paymentRequired": encode_payment_required_header(required),
        "paymentSignature": encode_payment_signature_header(payload),
        "cardPaymentSignature": encode_payment_signature_header(card_payload),
        "paymentResponse": encode_payment_response_header(settle),
        "paymentResponseFailure": encode_payment_response_header(failure),
        "v1Body": v1_required.model_dump_json(by_alias=True, exclude_none=True),
        "v1XPayment": encode_payment_signature_header(v1_payment),
    }


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    value = sys.stdin.read().strip()
    if command == "check-required":
        out = check_required(value)
    elif command == "check-signature":
        out = check_signature(value)
    elif command == "check-response":
        out = check_response(value)
    elif command == "produce":
        out = produce()
    else:
        raise SystemExit("usage: x402_peer.py check-required|check-signature|check-response|produce")
    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
