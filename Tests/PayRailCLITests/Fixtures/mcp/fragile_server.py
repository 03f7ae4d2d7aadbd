"""An MCP server written with the official Python SDK whose `fragile` tool kills its own process the
first time it is called (mid-call, before answering), and answers normally after a restart; its
`meta_seen` tool says which `_meta` members reached it (a paywall must pass no credential on).

    fragile_server.py MARKER_FILE     (stdio; the marker file records that the crash happened)
"""

import os
import sys

import json

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

server = MCPServer("fragile-peer")
marker = sys.argv[1]


@server.tool(description="Echoes its text; the first call ever crashes the server mid-call.")
def fragile(text: str) -> str:
    if not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write("crashed once\n")
        os._exit(3)
    return f"survived: {text}"


@server.tool(description="Returns the names of the _meta members its request carried.")
def meta_seen(ctx: Context) -> str:
    meta = ctx.request_context.meta
    if meta is None:
        return "[]"
    names = meta.keys() if isinstance(meta, dict) else (meta.model_dump(by_alias=True, exclude_none=True).keys())
    return json.dumps(sorted(names))


if __name__ == "__main__":
    server.run("stdio")
