"""An MCP host played by the official Python SDK's client (`mcp`, pinned), for the `payrail mcp` tests.

    sdk_host.py [--elicit accept|decline|none] [--call TOOL=JSON]... stdio PROGRAM [ARGS...]
    sdk_host.py [--elicit ...] [--call TOOL=JSON]... http URL

Lists the tools (with `_meta["payrail/price"]`), then makes each call in order and prints one JSON
object: {"tools": [{"name", "price"}], "calls": [{"tool", "isError", "text", "meta", "error"}],
"elicitations": [message, ...]}. A JSON-RPC error is reported as {"code", "message", "data"} in "error".
"""

import json
import sys

import anyio
import mcp_types as types

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def run(target, calls, elicit: str) -> dict:
    asked: list[str] = []

    async def on_elicit(context, params: types.ElicitRequestParams):
        asked.append(params.message)
        if elicit == "accept":
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")

    callback = None if elicit == "none" else on_elicit
    outcome = {"tools": [], "calls": [], "elicitations": asked}
    async with Client(target, elicitation_callback=callback, read_timeout_seconds=60) as client:
        tools = await client.list_tools()
        for tool in tools.tools:
            meta = tool.meta or {}
            outcome["tools"].append({"name": tool.name, "price": meta.get("payrail/price")})
        for name, arguments in calls:
            entry = {"tool": name, "isError": None, "text": None, "meta": None, "error": None}
            try:
                result = await client.call_tool(name, arguments)
                entry["isError"] = bool(result.is_error)
                entry["text"] = text_of(result)
                entry["meta"] = sorted((result.meta or {}).keys())
            except Exception as error:  # the SDK raises MCPError for a JSON-RPC error
                inner = getattr(error, "error", None)
                entry["error"] = {
                    "code": getattr(inner, "code", None),
                    "message": getattr(inner, "message", str(error)),
                    "data": getattr(inner, "data", None),
                }
            outcome["calls"].append(entry)
    return outcome


def main() -> None:
    arguments = sys.argv[1:]
    calls = []
    elicit = "none"
    while arguments and arguments[0].startswith("--"):
        flag, value = arguments[0], arguments[1]
        arguments = arguments[2:]
        if flag == "--call":
            name, _, payload = value.partition("=")
            calls.append((name, json.loads(payload or "{}")))
        elif flag == "--elicit":
            elicit = value
        else:
            raise SystemExit(f"unknown flag {flag}")
    mode = arguments[0]
    if mode == "stdio":
        target = StdioServerParameters(command=arguments[1], args=arguments[2:])
    elif mode == "http":
        target = arguments[1]
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(anyio.run(run, target, calls, elicit)))


if __name__ == "__main__":
    main()
