"""pympp's MCP client (`mpp.extensions.mcp.McpClient`, PyPI pympp 0.16.0, unmodified) paying PayRail's paywall.

usage: pympp_mcp_client.py URL PAYER_JSON

Connects with the official MCP SDK's client (`mcp`, pinned) over Streamable HTTP, wraps it in pympp's
`McpClient` with this file's `fake` method (it pays through the test's fake processor endpoint), and
calls the priced tool `search`. Prints one JSON object: the tool's text, the receipt pympp parsed from
`result._meta`, and what the credential it sent looked like.

pympp 0.16.0 imports `McpError` from `mcp.shared.exceptions`, which the pinned `mcp` 2.x names
`MCPError` (same `code`/`message`/`data`); the alias below is the only adaptation, made before pympp
is imported. Nothing of pympp is changed.
"""
import json
import sys
import urllib.request

import anyio
import mcp.shared.exceptions as mcp_exceptions

if not hasattr(mcp_exceptions, "McpError"):
    mcp_exceptions.McpError = mcp_exceptions.MCPError

import mpp
from mcp import Client
from mpp.extensions.mcp import McpClient
from mpp.methods import Method
from mpp.runtime import ClientMethod
from pydantic import BaseModel, ConfigDict


class AnyModel(BaseModel):
    model_config = ConfigDict(extra="allow")


def fake_method(payer, seen):
    async def create(params):
        request = params.challenge.request
        seen.append({"requestIsObject": isinstance(request, dict), "method": params.challenge.method})
        details = request.get("methodDetails") or {}
        body = {"accountID": payer["accountID"], "secret": payer["secret"], "requestID": details["requestID"],
                "amount": request["amount"] + request["currency"], "payee": request["recipient"]}
        pay = urllib.request.Request(payer["payURL"], data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(pay, timeout=30) as answer:
            voucher = json.loads(answer.read())["voucher"]
        credential = mpp.Credential(challenge=params.challenge.to_echo(), payload={"voucher": voucher}, source=payer["accountID"])
        return credential.to_authorization()
    return ClientMethod(method=Method(name="fake", intent="charge", request_model=AnyModel, payload_model=AnyModel),
                        create_credential=create)


async def run(url, payer):
    seen = []
    async with Client(url, read_timeout_seconds=30) as session:
        tools = await session.list_tools()
        client = McpClient(session, methods=[fake_method(payer, seen)])
        paid = await client.call_tool("search", {"q": "from pympp"})
        receipt = paid.receipt
        text = "\n".join(getattr(block, "text", "") for block in paid.result.content)
        prices = {tool.name: (tool.meta or {}).get("payrail/price") for tool in tools.tools}
        return {
            "text": text,
            "isError": bool(paid.result.is_error),
            "receipt": None if receipt is None else receipt.to_dict(),
            "credentials": seen,
            "prices": prices,
        }


def main():
    with open(sys.argv[2]) as handle:
        payer = json.load(handle)
    print(json.dumps(anyio.run(run, sys.argv[1], payer)))


if __name__ == "__main__":
    main()
