import Foundation

/// The command table: every command the CLI offers, in the order `payrail --help` lists them.
let tool = CommandLineTool(
    version: PayRailVersion.current,
    commands: KeysCommands.all + ReceiptCommands.all + DemoCommand.all + WireCommands.all + ServeCommand.all + RefundCommand.all + AgentCommands.all + DiscoverCommand.all + InvoiceCommands.all + MCPCommands.all
)

// A peer that closes its end (an MCP host, a child server, a reader of stdout) makes a write fail
// with EPIPE, which every writer handles; the default SIGPIPE would kill the process instead, maybe
// between a settlement and its answer.
signal(SIGPIPE, SIG_IGN)

let exitCode = await tool.run(Array(CommandLine.arguments.dropFirst()))
exit(exitCode.rawValue)
