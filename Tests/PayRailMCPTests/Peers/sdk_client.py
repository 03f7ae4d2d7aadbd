"""The official Python SDK's client (`mcp`, pinned) against PayRail's MCP server.

    sdk_client.py stdio PROGRAM [ARGS...]   (starts our server as a child process)
    sdk_client.py http URL [--cancel]      (--cancel: also abandon a slow call after 0.3 s)

Prints one JSON object: the negotiated version, the tool names, and what each call returned.
"""

import json
import sys

import anyio
import mcp_types as types

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def run(target, cancel: bool = False) -> dict:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_elicit(context, params: types.ElicitRequestParams):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(target, elicitation_callback=on_elicit, read_timeout_seconds=30) as client:
        tools = await client.list_tools()
        echo = await client.call_tool("echo", {"text": "hello from python"})
        slow = await client.call_tool("slow", {"steps": 3, "delayMs": 10}, progress_callback=on_progress)
        ask = await client.call_tool("ask", {})
        unknown_error = None
        try:
            unknown = await client.call_tool("no-such-tool", {})
            unknown_error = "isError" if unknown.is_error else "succeeded"
        except Exception as error:  # the SDK raises MCPError for a JSON-RPC error
            unknown_error = getattr(getattr(error, "error", None), "code", None) or str(error)
        cancelled = None
        if cancel:
            try:
                await client.call_tool("slow", {"steps": 200, "delayMs": 50}, read_timeout_seconds=0.3)
                cancelled = "completed"
            except Exception as error:  # the SDK raises on its read timeout and cancels the request
                cancelled = type(error).__name__
        await client.send_ping()
        return {
            "cancelled": cancelled,
            "protocolVersion": client.protocol_version,
            "server": client.server_info.name if client.server_info else None,
            "tools": sorted(tool.name for tool in tools.tools),
            "echo": text_of(echo),
            "slow": text_of(slow),
            "progress": progress,
            "ask": text_of(ask),
            "askIsError": bool(ask.is_error),
            "unknown": unknown_error,
        }


def main() -> None:
    mode = sys.argv[1]
    if mode == "stdio":
        target = StdioServerParameters(command=sys.argv[2], args=sys.argv[3:])
    elif mode == "http":
        target = sys.argv[2]
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(anyio.run(run, target, mode == "http" and "--cancel" in sys.argv[3:])))


if __name__ == "__main__":
    main()
