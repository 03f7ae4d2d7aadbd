"""PyPI `pympp` (the Payment scheme's Python SDK, unmodified) as a client paying `payrail serve`.

usage: pympp_client.py URL fake PAYER_JSON
       pympp_client.py URL lightning LNBITS_URL ADMIN_KEY
The methods plugged in are this file's: `fake` pays through the server's fake processor endpoint,
`lightning` pays the invoice through LNbits. Prints one JSON object: status, body, the raw and parsed
Payment-Receipt, Cache-Control, and what the credential carried.
"""
import asyncio
import json
import sys
import urllib.request

import mpp
from mpp.client import Mpp
from mpp.methods import Method
from mpp.runtime import ClientMethod
from pydantic import BaseModel, ConfigDict

import lnbits_wallet


class AnyModel(BaseModel):
    model_config = ConfigDict(extra="allow")


def fake_method(payer):
    async def create(params):
        request = params.challenge.request
        details = request.get("methodDetails") or {}
        body = {"accountID": payer["accountID"], "secret": payer["secret"], "requestID": details["requestID"],
                "amount": request["amount"] + request["currency"], "payee": request["recipient"]}
        pay = urllib.request.Request(payer["payURL"], data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(pay, timeout=30) as answer:
            voucher = json.loads(answer.read())["voucher"]
        credential = mpp.Credential(challenge=params.challenge.to_echo(), payload={"voucher": voucher},
                                    source=payer["accountID"])
        return credential.to_authorization()
    return ClientMethod(method=Method(name="fake", intent="charge", request_model=AnyModel, payload_model=AnyModel),
                        create_credential=create)


def lightning_method(lnbits, admin_key):
    async def create(params):
        invoice = params.challenge.request["methodDetails"]["invoice"]
        preimage = await asyncio.to_thread(lnbits_wallet.pay, lnbits, admin_key, invoice)
        credential = mpp.Credential(challenge=params.challenge.to_echo(), payload={"preimage": preimage})
        return credential.to_authorization()
    return ClientMethod(method=Method(name="lightning", intent="charge", request_model=AnyModel, payload_model=AnyModel),
                        create_credential=create)


async def main():
    url, kind = sys.argv[1], sys.argv[2]
    if kind == "fake":
        with open(sys.argv[3]) as handle:
            method = fake_method(json.load(handle))
    else:
        method = lightning_method(sys.argv[3], sys.argv[4])
    sent = []
    async with Mpp(methods=[method]) as client:
        client.on_credential_created(lambda event: sent.append(event))
        response = await client.fetch(url)
        receipt_header = response.headers.get("payment-receipt")
        receipt = None
        if receipt_header:
            parsed = mpp.Receipt.from_payment_receipt(receipt_header)
            receipt = {"status": parsed.status, "reference": parsed.reference, "method": parsed.method,
                       "timestamp": parsed.timestamp.isoformat()}
        print(json.dumps({"status": response.status_code, "body": response.text, "receiptHeader": receipt_header,
                          "receipt": receipt, "cacheControl": response.headers.get("cache-control"),
                          "credentials": len(sent)}))


asyncio.run(main())
