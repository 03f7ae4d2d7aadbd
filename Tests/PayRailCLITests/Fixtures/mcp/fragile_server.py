"""An MCP server written with the official Python SDK whose `fragile` tool kills its own process the
first time it is called (mid-call, before answering), and answers normally after a restart.

    fragile_server.py MARKER_FILE     (stdio; the marker file records that the crash happened)
"""

import os
import sys

from mcp.server import MCPServer

server = MCPServer("fragile-peer")
marker = sys.argv[1]


@server.tool(description="Echoes its text; the first call ever crashes the server mid-call.")
def fragile(text: str) -> str:
    if not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write("crashed once\n")
        os._exit(3)
    return f"survived: {text}"


if __name__ == "__main__":
    server.run("stdio")
