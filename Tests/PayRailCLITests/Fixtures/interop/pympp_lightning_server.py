"""PyPI `pympp` (unmodified) as a server selling GET /paid for a Lightning charge, paid by `payrail fetch`.

usage: pympp_lightning_server.py LNBITS_URL INVOICE_KEY SATS VARIANT HEADER
  VARIANT  full: the request names `recipient` (the invoice's node) and `methodDetails.paymentHash`;
           bare: neither (both are OPTIONAL in draft-lightning-charge-00; the invoice is authoritative).
  HEADER   authorization: credentials in `Authorization` (the default);
           payment-authorization: `Mpp(requires_auth=True)`, credentials in `Payment-Authorization`.
Prints the port on the first line of stdout, then serves until killed. The method plugged in (issue an
invoice per challenge, verify a preimage against the invoice and LNbits) is this file's code.
"""
import asyncio
import base64
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bolt11
import mpp
from mpp.methods import Method
from mpp.server import Mpp, Request, Response
from mpp.server.method import ServerMethod
from pydantic import BaseModel, ConfigDict

import lnbits_wallet

LNBITS, KEY, SATS, VARIANT, HEADER = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
granted = []


class AnyModel(BaseModel):
    model_config = ConfigDict(extra="allow")


def echoed_request(credential):
    encoded = credential.challenge.request
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


async def resolve(context):
    if context.credential is not None:
        request = dict(echoed_request(context.credential))
        request.pop("_mppx_scope", None)
        return request
    invoice, payment_hash = await asyncio.to_thread(lnbits_wallet.invoice, LNBITS, KEY, SATS)
    details = {"invoice": invoice, "network": "mainnet"}
    request = {"amount": str(SATS), "currency": "sat", "methodDetails": details}
    if VARIANT == "full":
        details["paymentHash"] = payment_hash
        request["recipient"] = bolt11.decode(invoice).payee
    return request


async def verify(context):
    invoice = context.request["methodDetails"]["invoice"]
    payment_hash = bolt11.decode(invoice).payment_hash
    preimage = (context.credential.payload.model_dump() or {}).get("preimage", "")
    if hashlib.sha256(bytes.fromhex(preimage)).hexdigest() != payment_hash:
        raise mpp.VerificationFailedError("the preimage does not pay the invoice")
    if not await asyncio.to_thread(lnbits_wallet.is_paid, LNBITS, KEY, payment_hash):
        raise mpp.VerificationFailedError("LNbits does not show the invoice paid")
    granted.append(payment_hash)
    return mpp.Receipt.success(reference=payment_hash, method="lightning")


server = Mpp(methods=ServerMethod(method=Method(name="lightning", intent="charge", request_model=AnyModel,
                                                payload_model=AnyModel),
                                  verify=verify, resolve_request=resolve),
             realm="pympp.test", secret_key="interop-secret-" + "x" * 32,
             requires_auth=(HEADER == "payment-authorization"))
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()


async def handle(request):
    if request.url.endswith("/granted"):
        return Response.json({"granted": granted})
    result = await server.charge(description="interop resource")(request)
    if result.status != 200:
        return result.challenge
    return result.with_receipt(Response.json({"paid": True, "variant": VARIANT}))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        request = Request(method="GET", url="http://%s%s" % (self.headers.get("Host", "127.0.0.1"), self.path),
                          headers=list(self.headers.items()))
        response = asyncio.run_coroutine_threadsafe(handle(request), loop).result(timeout=60)
        body = response.body or b""
        self.send_response(response.status)
        for name, value in response.headers.multi_items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(http.server_address[1], flush=True)
http.serve_forever()
