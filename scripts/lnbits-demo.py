"""Start a throwaway LNbits for `scripts/demo --lightning` and make two wallets in it.

Run with the LNbits venv's Python: `python scripts/lnbits-demo.py DATA_DIR OUT_JSON`. It starts LNbits
(FakeWallet funding source, SQLite in DATA_DIR, 127.0.0.1 on a free port) as a child that outlives
this script, performs the first install, creates a "shop" and an "agent" wallet, funds the agent with
10,000 sat, and writes {"url","pid","shop_invoice_key","agent_admin_key","shop_id","agent_id"} to
OUT_JSON with mode 0600 (it holds keys). The caller stops LNbits by that PID. Nothing here prints a key.

Like Tests/PayRailTestPeers/LNbitsPeer.swift, it runs the app under uvicorn in one process instead of
the `lnbits` command, which forks the server into a child that stopping by PID would leave running.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

LAUNCHER = """
import sys
from pathlib import Path
import uvicorn
from lnbits.settings import set_cli_settings, settings
host, port = sys.argv[1], int(sys.argv[2])
Path(settings.lnbits_data_folder, "logs").mkdir(parents=True, exist_ok=True)
Path(settings.lnbits_extensions_path, "extensions").mkdir(parents=True, exist_ok=True)
settings.wasm_extensions_dir.mkdir(parents=True, exist_ok=True)
set_cli_settings(host=host, port=port, forwarded_allow_ips=settings.forwarded_allow_ips)
uvicorn.run("lnbits.__main__:app", host=host, port=port, loop="uvloop")
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def site_packages():
    for path in sys.path:
        if path.endswith("site-packages") and Path(path, "lnbits", "static").is_dir():
            return path
    sys.exit("lnbits-demo: no lnbits package in this Python: run it with the LNbits venv's python")


def call(base, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: lnbits-demo.py DATA_DIR OUT_JSON")
    data_dir, out_json = Path(sys.argv[1]), Path(sys.argv[2])
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LNBITS_")}
    environment.update(LNBITS_BACKEND_WALLET_CLASS="FakeWallet", LNBITS_DATA_FOLDER=str(data_dir), PYTHONUNBUFFERED="1")
    log = open(data_dir / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-c", LAUNCHER, "127.0.0.1", str(port)], cwd=site_packages(),
                              env=environment, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"LNbits exited ({server.returncode}); see {data_dir / 'server.log'}")
            try:
                urllib.request.urlopen(base + "/api/v1/health", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer means it serves (before the first install, a redirect)
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"LNbits was not ready on {base} within 90 s")
                time.sleep(0.2)
        password = uuid.uuid4().hex
        token = call(base, "PUT", "/api/v1/auth/first_install",
                     {"username": "payrail", "password": password, "password_repeat": password})["access_token"]
        shop = call(base, "POST", "/api/v1/account", {"name": "shop"})
        agent = call(base, "POST", "/api/v1/account", {"name": "agent"})
        funded = call(base, "PUT", "/users/api/v1/balance", {"id": agent["id"], "amount": 10_000},
                      {"Authorization": f"Bearer {token}"})
        if funded.get("success") is not True:
            raise RuntimeError("LNbits did not fund the agent wallet")
    except Exception as error:  # stop what we started before reporting
        server.terminate()
        server.wait(10)
        sys.exit(f"lnbits-demo: {error}")
    descriptor = os.open(out_json, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"url": base, "pid": server.pid, "shop_id": shop["id"], "agent_id": agent["id"],
                   "shop_invoice_key": shop["inkey"], "agent_admin_key": agent["adminkey"]}, out)
    print(f"LNbits {base} (pid {server.pid}): wallets shop {shop['id']} and agent {agent['id']} (10000 sat)")


if __name__ == "__main__":
    main()
