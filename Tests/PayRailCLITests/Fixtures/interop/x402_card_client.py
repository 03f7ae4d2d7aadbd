"""The PyPI `x402` SDK's client (unmodified) paying `payrail serve --stripe-x402-card` with a card scheme the test plugs in.

usage: x402_card_client.py URL PAYMENT_METHOD
The scheme plugged in is this file's: `auth-capture` on `card:visa` (x402-foundation/x402
specs/schemes/auth-capture/scheme_auth_capture_card.md, v0.2.0 DRAFT, section 5.2), returning the
payload {"token", "paymentId"} with the saved payment method as the token and one paymentId per
payment. The SDK does the rest: it reads our PAYMENT-REQUIRED, picks the requirements, echoes
`accepted`, builds and encodes PAYMENT-SIGNATURE, retries, and decodes PAYMENT-RESPONSE. Prints one
JSON object.
"""
import asyncio
import base64
import json
import secrets
import sys

from x402 import x402Client
from x402.http.clients import x402HttpxClient

URL, PAYMENT_METHOD = sys.argv[1], sys.argv[2]


class CardScheme:
    scheme = "auth-capture"

    def __init__(self):
        self.payloads = []

    def create_payment_payload(self, requirements):
        payload = {"token": PAYMENT_METHOD, "paymentId": "pay_" + secrets.token_hex(16)}
        self.payloads.append({"network": requirements.network, "extra": dict(requirements.extra or {})})
        return payload


async def main():
    scheme = CardScheme()
    client = x402Client().register("card:visa", scheme).set_spend_controls(
        {"allowed_assets": [{"network": "card:visa", "asset": "USD", "max_amount_per_payment": "50"}]})
    async with x402HttpxClient(client) as http:
        response = await http.get(URL)
    settlement = response.headers.get("payment-response")
    decoded = None
    if settlement:
        decoded = json.loads(base64.b64decode(settlement + "=" * (-len(settlement) % 4)))
    print(json.dumps({"status": response.status_code, "body": response.text, "paid": len(scheme.payloads),
                      "chosen": scheme.payloads, "settlement": decoded}))


asyncio.run(main())
