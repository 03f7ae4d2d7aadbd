"""The PyPI `x402` SDK's client (unmodified) paying `payrail serve` with a scheme the test plugs in.

usage: x402_client.py URL PAYER_JSON
The scheme plugged in is this file's: `exact` on `payrail:fake`, paying through the server's fake
processor endpoint and returning the payload {"voucher"}. The SDK does the rest: it reads our
PAYMENT-REQUIRED, picks the requirements, builds and encodes PAYMENT-SIGNATURE, retries, and decodes
PAYMENT-RESPONSE. Prints one JSON object.
"""
import asyncio
import base64
import json
import sys
import urllib.request

from x402 import x402Client
from x402.http.clients import x402HttpxClient

URL, PAYER = sys.argv[1], json.load(open(sys.argv[2]))


class PayrailFakeExact:
    scheme = "exact"

    def __init__(self):
        self.paid = 0

    def create_payment_payload(self, requirements):
        body = {"accountID": PAYER["accountID"], "secret": PAYER["secret"], "requestID": requirements.extra["requestID"],
                "amount": requirements.amount + requirements.asset, "payee": requirements.pay_to}
        pay = urllib.request.Request(PAYER["payURL"], data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(pay, timeout=30) as answer:
            self.paid += 1
            return {"voucher": json.loads(answer.read())["voucher"]}


async def main():
    scheme = PayrailFakeExact()
    # The SDK allows only the assets it knows by default; the test's asset is opted in with a cap, as
    # its docs say a user must (SpendControls.allowed_assets).
    client = x402Client().register("payrail:fake", scheme).set_spend_controls(
        {"allowed_assets": [{"network": "payrail:fake", "asset": "sat", "max_amount_per_payment": "1000"}]})
    async with x402HttpxClient(client) as http:
        response = await http.get(URL)
    settlement = response.headers.get("payment-response")
    decoded = None
    if settlement:
        decoded = json.loads(base64.b64decode(settlement + "=" * (-len(settlement) % 4)))
    print(json.dumps({"status": response.status_code, "body": response.text, "paid": scheme.paid,
                      "settlement": decoded, "cacheControl": response.headers.get("cache-control")}))


asyncio.run(main())
