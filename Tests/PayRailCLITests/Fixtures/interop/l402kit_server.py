"""PyPI `l402kit` (unmodified): its Flask middleware sells GET /premium through its LNbits provider.

usage: l402kit_server.py LNBITS_URL INVOICE_KEY SATS
l402kit's token is not a libmacaroons macaroon: base64 JSON {"hash","exp"} (an opaque token to a
bLIP-26 client). Prints the port on the first line of stdout, then serves until killed.
"""
import sys

from flask import Flask, jsonify
from l402kit import l402_required
from l402kit.providers.lnbits import LNbitsProvider
from werkzeug.serving import make_server

LNBITS, KEY, SATS = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = Flask("l402kit-interop")
served = []


@app.route("/premium")
@l402_required(price_sats=SATS, lightning=LNbitsProvider(api_key=KEY, base_url=LNBITS))
def premium():
    served.append(1)
    return jsonify({"paid": True, "served": len(served)})


server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
