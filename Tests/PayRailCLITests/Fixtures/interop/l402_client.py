"""L402 client libraries from PyPI (unmodified) paying `payrail serve --rail lightning`.

usage: l402_client.py LIBRARY URL LNBITS_URL ADMIN_KEY
  LIBRARY  l402-requests (L402Client with a wallet adapter) or pyl402 (L402Client with a Wallet).
Requests URL twice with one client: the first pays, the second must reuse the token (bLIP-26: a paid
token is reusable). The wallet plugged in (pay through LNbits, return the preimage) is this file's
code. Prints one JSON object: both statuses and bodies, and how many invoices the wallet paid.
"""
import json
import sys

import lnbits_wallet

LIBRARY, URL, LNBITS, ADMIN = sys.argv[1:5]
paid = []


def pay(bolt11):
    preimage = lnbits_wallet.pay(LNBITS, ADMIN, bolt11)
    paid.append(bolt11)
    return preimage


def with_l402_requests():
    from l402_requests import L402Client
    from l402_requests.wallets import WalletBase

    class LNbitsWallet(WalletBase):
        async def pay_invoice(self, bolt11):
            return pay(bolt11)

        def pay_invoice_sync(self, bolt11):
            return pay(bolt11)

    client = L402Client(wallet=LNbitsWallet(), budget=None)
    return [client.get(URL), client.get(URL)]


def with_pyl402():
    from pyl402.client.l402 import L402Client
    from pyl402.token_store.token_store import MemoryTokenStore
    from pyl402.wallet.wallet import PaymentResult, Wallet

    class LNbitsWallet(Wallet):
        def pay_invoice(self, invoice):
            return PaymentResult(preimage=pay(invoice), success=True)

    with L402Client(wallet=LNbitsWallet(), store=MemoryTokenStore()) as client:
        return [client.get(URL), client.get(URL)]


responses = with_l402_requests() if LIBRARY == "l402-requests" else with_pyl402()
print(json.dumps({"statuses": [r.status_code for r in responses], "bodies": [r.text for r in responses],
                  "invoicesPaid": len(paid)}))
