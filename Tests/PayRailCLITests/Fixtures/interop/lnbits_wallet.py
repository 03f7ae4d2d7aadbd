"""The tests' own small LNbits wallet for the SDKs under test (loopback LNbits only).

The SDKs are used unmodified; what they need plugged in (a wallet that pays an invoice and returns
its preimage, a way to issue invoices) is this file's code.
"""
import json
import urllib.request


def _call(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                     headers={"X-Api-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def pay(base, admin_key, bolt11):
    """Pays `bolt11` from the wallet of `admin_key`; returns the preimage (hex)."""
    sent = _call(base, admin_key, "POST", "/api/v1/payments", {"out": True, "bolt11": bolt11})
    status = _call(base, admin_key, "GET", "/api/v1/payments/" + sent["payment_hash"])
    preimage = status.get("preimage") or (status.get("details") or {}).get("preimage")
    if not status.get("paid") or not preimage:
        raise RuntimeError("LNbits did not settle the payment: %r" % (status,))
    return preimage


def invoice(base, invoice_key, sats, memo="interop"):
    """Issues an invoice of `sats` on the wallet of `invoice_key`; returns (bolt11, payment_hash)."""
    made = _call(base, invoice_key, "POST", "/api/v1/payments", {"out": False, "amount": sats, "memo": memo})
    return made.get("bolt11") or made["payment_request"], made["payment_hash"]


def is_paid(base, invoice_key, payment_hash):
    """Whether LNbits reports the invoice of `payment_hash` paid."""
    return bool(_call(base, invoice_key, "GET", "/api/v1/payments/" + payment_hash).get("paid"))
