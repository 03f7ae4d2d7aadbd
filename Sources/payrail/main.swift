import Foundation

/// The command table: every command the CLI offers, in the order `payrail --help` lists them.
let tool = CommandLineTool(
    version: PayRailVersion.current,
    commands: KeysCommands.all + ReceiptCommands.all + DemoCommand.all + WireCommands.all + ServeCommand.all + RefundCommand.all + AgentCommands.all + DiscoverCommand.all + InvoiceCommands.all + MCPCommands.all
)

let exitCode = await tool.run(Array(CommandLine.arguments.dropFirst()))
exit(exitCode.rawValue)
