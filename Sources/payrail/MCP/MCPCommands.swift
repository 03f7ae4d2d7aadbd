/// `payrail mcp`: paid MCP tools on the command line.
enum MCPCommands {
    static let all: [CommandSpec] = [MCPProxyCommand.proxy, MCPBridgeCommand.bridge, MCPToolsCallCommands.tools, MCPToolsCallCommands.call]
}
