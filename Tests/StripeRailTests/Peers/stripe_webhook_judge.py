"""stripe-python (PyPI `stripe`, pinned) as the judge of Stripe-Signature headers.

stdin: {"sign": [{"payload", "secret", "timestamp"}...], "verify": [{"payload", "header", "secrets", "tolerance"}...]}
stdout: {"headers": [...], "verdicts": [true|false...]}
"""
import json
import sys

import stripe
from stripe import WebhookSignature

cases = json.load(sys.stdin)
headers = [WebhookSignature.generate_signature_header(c["payload"], c["secret"], timestamp=c["timestamp"]) for c in cases["sign"]]
verdicts = []
for c in cases["verify"]:
    accepted = False
    for secret in c["secrets"]:
        try:
            WebhookSignature.verify_header(c["payload"], c["header"], secret, tolerance=c["tolerance"])
            accepted = True
        except stripe.SignatureVerificationError:
            pass
    verdicts.append(accepted)
json.dump({"headers": headers, "verdicts": verdicts, "stripe": stripe.VERSION}, sys.stdout)
