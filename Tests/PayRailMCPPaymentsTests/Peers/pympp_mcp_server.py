"""A paid MCP tool served with pympp 0.16.0's MCP support (`verify_or_challenge`, unmodified) and the
official MCP SDK's server (`mcp`, pinned), paid by PayRail's `PayingMCPClient`.

usage: pympp_mcp_server.py PORT PROCESSOR_URL

Streamable HTTP on 127.0.0.1:PORT/mcp. The tool `search` costs 10 sat through a `fake` method of this
file's own: it asks the test's loopback processor endpoint for a payment request (`POST /request`) and
redeems the voucher a credential carries (`POST /redeem`). `GET`-free: the tool reports what it saw.

pympp 0.16.0 builds its errors as `McpError(ErrorData)` from `mcp.shared.exceptions`, which the pinned
`mcp` 2.x names `MCPError(code, message, data)` with a read-only `message`; the subclass below accepts both forms
and lets pympp set `message`, and is put in place before pympp is imported. That is the only adaptation; nothing of pympp is changed.
"""
import base64
import json
import secrets
import sys
import urllib.request

import mcp.shared.exceptions as mcp_exceptions
from mcp.types import ErrorData


class McpError(mcp_exceptions.MCPError):
    def __init__(self, error=None, *args, **kwargs):
        if isinstance(error, ErrorData):
            super().__init__(error.code, error.message, error.data)
        else:
            super().__init__(error, *args, **kwargs)

    # pympp assigns `self.message` before calling `__init__`; `MCPError.message` is read-only.
    @property
    def message(self):
        error = self.__dict__.get("error")
        return error.message if error is not None else self.__dict__.get("_message", "")

    @message.setter
    def message(self, value):
        self.__dict__["_message"] = value


mcp_exceptions.McpError = McpError

import mpp  # noqa: E402
from mcp.server import MCPServer  # noqa: E402
from mcp.server.mcpserver import Context  # noqa: E402
from mcp_types import CallToolResult, TextContent  # noqa: E402
from mpp.extensions.mcp import PaymentRequiredError, verify_or_challenge  # noqa: E402
from mpp.methods import Method  # noqa: E402
from mpp.server import Mpp  # noqa: E402
from mpp.server.method import ServerMethod  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402

PORT, PROCESSOR = int(sys.argv[1]), sys.argv[2]


class AnyModel(BaseModel):
    model_config = ConfigDict(extra="allow")


def post(path, body):
    request = urllib.request.Request(PROCESSOR + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def echoed_request(credential):
    encoded = credential.challenge.request
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


async def resolve(context):
    if context.credential is not None:
        request = dict(echoed_request(context.credential))
        request.pop("_mppx_scope", None)  # pympp adds its route scope itself
        return request
    challenge_id = secrets.token_urlsafe(12)
    made = post("/request", {"amount": "10sat", "challengeID": challenge_id})
    return {"amount": "10", "currency": "sat", "recipient": made["payee"],
            "methodDetails": {"requestID": made["requestID"], "processorKey": made["processorKey"],
                              "challengeID": challenge_id}}


async def verify(context):
    voucher = (context.credential.payload.model_dump() or {}).get("voucher", "")
    redeemed = post("/redeem", {"voucher": voucher, "requestID": context.request["methodDetails"]["requestID"]})
    if "paymentID" not in redeemed:
        raise mpp.VerificationFailedError("the processor did not redeem the voucher")
    return mpp.Receipt.success(reference=redeemed["paymentID"], method="fake")


payments = Mpp(methods=ServerMethod(method=Method(name="fake", intent="charge", request_model=AnyModel,
                                                  payload_model=AnyModel),
                                    verify=verify, resolve_request=resolve),
               realm="pympp-tools.test", secret_key="mcp-interop-secret-" + "y" * 32)
server = MCPServer("pympp-paid-tools")


def request_meta(ctx: Context) -> dict:
    meta = ctx.request_context.meta
    if meta is None:
        return {}
    if isinstance(meta, dict):
        return dict(meta)
    return meta.model_dump(by_alias=True, exclude_none=True)


@server.tool(description="Searches, for 10 sat.")
async def search(q: str, ctx: Context) -> CallToolResult:
    result = await verify_or_challenge(payments.charge(description="search"), tool="search", meta=request_meta(ctx))
    if isinstance(result, list):
        raise PaymentRequiredError(challenges=result)
    credential, receipt = result
    return CallToolResult(content=[TextContent(type="text", text=f"pympp results for {q}")], _meta=receipt.to_meta())


server.run("streamable-http", host="127.0.0.1", port=PORT)
