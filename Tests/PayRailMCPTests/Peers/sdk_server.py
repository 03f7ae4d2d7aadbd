"""An MCP server written with the official Python SDK (`mcp`, pinned in scripts/peers-requirements.txt).

PayRail's Swift client lists and calls its tools in Tests/PayRailMCPTests.

    sdk_server.py stdio
    sdk_server.py http PORT [--json]    (Streamable HTTP on 127.0.0.1:PORT/mcp)
"""

import sys

import anyio
from pydantic import BaseModel

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

server = MCPServer("python-sdk-peer")


@server.tool(description="Returns the text it is given.")
def echo(text: str) -> str:
    return text


@server.tool(description="Counts steps, reporting progress on each.")
async def slow(ctx: Context, steps: int = 3, delay_ms: int = 20) -> str:
    for step in range(1, steps + 1):
        await anyio.sleep(delay_ms / 1000)
        await ctx.report_progress(step, steps, f"step {step}")
    return f"done after {steps} steps"


class Name(BaseModel):
    name: str


@server.tool(description="Asks the person for a name through elicitation.")
async def ask(ctx: Context) -> str:
    answer = await ctx.elicit("What is your name?", Name)
    if answer.action == "accept":
        return f"hello {answer.data.name}"
    return f"no answer: {answer.action}"


def main() -> None:
    mode = sys.argv[1]
    if mode == "stdio":
        server.run("stdio")
    elif mode == "http":
        server.run(
            "streamable-http",
            host="127.0.0.1",
            port=int(sys.argv[2]),
            json_response="--json" in sys.argv,
        )
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
