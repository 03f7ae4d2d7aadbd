import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailHTTP
import PayRailMCP
import PayRailMCPPayments
import PayRailWire

/// `payrail mcp bridge`: a local stdio MCP server a host (an IDE, a desktop agent) starts from its MCP
/// configuration; it forwards to a remote paid MCP server and pays for the host within the budgets,
/// ledger and policy of `payrail fetch`. The host never sees a wallet key or a credential.
enum MCPBridgeCommand {
    static let bridge = CommandSpec(
        path: ["mcp", "bridge"],
        summary: "Serve a remote paid MCP server's tools on stdio to a local host, paying within budget (asking above a threshold).",
        options: RailCommandRegistry.options(for: .payer, merging: [
            OptionSpec(name: "remote", valueName: "URL", help: "the remote MCP server's Streamable HTTP endpoint", isRequired: true),
        ] + MCPToolsCallCommands.payingOptions(approval: true) + [
            OptionSpec(name: "timeout", valueName: "SECONDS", help: "most one request to the remote may wait for its answer (default 60)"),
            OptionSpec(name: "verbose", help: "print each payment step on stderr", short: "v"),
        ]),
        details: RailCommandRegistry.details(for: .payer, after: """
        The host talks MCP to this process on its standard input and output; every log line goes to
        stderr. tools/list shows the remote's tools with their advertised prices (_meta["payrail/price"]).
        A tools/call the remote prices is paid exactly as payrail fetch pays a 402: by policy, within
        --max and the wallet's budgets (kept in the wallet across runs and processes), reserved before
        paying, presented in _meta, and a challenge above the advertised price is refused. Above
        --approve-above the bridge asks the person through MCP elicitation ("Pay 50 sat for tool
        search?"), when the host declared the elicitation capability, and refuses otherwise: nothing
        is paid without a yes. A refusal (budget, policy, approval, price) reaches the host as an
        isError tool result saying why, so the model can tell the person; nothing was paid then.

        Hosts start servers with a reduced environment (the official Python SDK passes only HOME,
        LOGNAME, PATH, SHELL, TERM and USER): give --wallet, --fake-payer and the rail keys' files as
        flags in the host's configuration rather than through other environment variables.
        """),
        run: { arguments in try await run(arguments) }
    )

    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        let endpoint = try MCPEndpoint.parse(url: arguments.value("remote"), command: nil, urlFlag: "--remote", commandFlag: "--command")
        let approval = try arguments.value("approve-above").map { text throws(CommandFailure) -> (threshold: Money, approver: any Approver) in
            (try AgentCommands.money(text, flag: "--approve-above"), MCPToolApprover(askPerson))
        }
        let options = try MCPToolsCallCommands.clientOptions(arguments)
        let agent = try await AgentCommands.payingAgent(arguments, approval: approval)
        if let threshold = approval?.threshold, threshold.unit != agent.maximum.unit {
            throw CommandFailure.usage("--approve-above must be in --max's unit (\(agent.maximum.unit.code)), not \(threshold.unit.code)")
        }
        let remote = try await endpoint.connect(options: options)
        var configuration = agent.configuration
        if let keys = await endpoint.receiptKeys() { configuration.receiptKeys = keys }
        let paying = PayingMCPClient(caller: remote, configuration: configuration, server: endpoint.ledgerName)
        let server = MCPServer(info: MCPImplementation(name: "payrail-mcp-bridge", version: PayRailVersion.current),
                               provider: PayingRemoteTools(paying: paying), diagnostics: MCPServer.standardError)
        FileHandle.standardError.write(Data("payrail mcp bridge: serving \(endpoint.display) on stdio\n".utf8))
        do { try await server.serve(MCPStdioTransport()) } catch {
            FileHandle.standardError.write(Data("payrail mcp bridge: stdio ended: \(error.reason)\n".utf8))
        }
        await remote.close()
        return .success
    }

    /// Asks the person behind the host, through the tools/call being served, whether to pay `cost`
    /// for `tool`. No way to ask, no answer, or anything but an explicit yes is a no.
    @Sendable static func askPerson(_ cost: Money, _ tool: String) async -> Bool {
        guard let context = MCPCallContext.current, context.canElicit else { return false }
        let schema: JSONValue = .object([
            "type": .string("object"),
            "properties": .object(["approve": .object([
                "type": .string("boolean"), "title": .string("Pay \(cost) for \(tool)?"),
                "description": .string("payrail mcp bridge pays from your wallet only if you say yes"),
            ])]),
            "required": .array([.string("approve")]),
        ])
        guard let answer = try? await context.elicit(message: "The tool \(tool) costs \(cost), above your approval threshold. Pay it?",
                                                     requestedSchema: schema, timeout: .seconds(300))
        else { return false }
        return answer.action == .accept && answer.content?["approve"] == .bool(true)
    }
}

/// The remote's tools, paid for through a `PayingMCPClient`.
struct PayingRemoteTools: MCPToolProvider {
    let paying: PayingMCPClient

    func listTools() async throws(MCPError) -> [MCPTool] {
        try await paying.listTools()
    }

    func callTool(_ call: MCPToolCall) async -> MCPToolOutcome {
        do {
            let paid = try await paying.callTool(name: call.name, arguments: call.arguments)
            if let payment = paid.payment {
                FileHandle.standardError.write(Data(("payrail mcp bridge: \(LogText.escaped(call.name, limit: 128)): paid \(payment.amount) "
                    + "on \(payment.rail) (payment \(payment.paymentID))\n").utf8))
            }
            // Receipts are bearer tokens of the wallet's owner: the host (and the model) never see them;
            // they stay in the ledger.
            return MCPPaymentMeta.withoutPaymentMembers(paid.outcome)
        } catch {
            FileHandle.standardError.write(Data("payrail mcp bridge: \(LogText.escaped(call.name, limit: 128)): \(LogText.escaped(error.description))\n".utf8))
            // The model sees why nothing happened (and that nothing was paid, unless the error says so).
            return .result(.text("payrail mcp bridge: \(error.description)", isError: true))
        }
    }
}
