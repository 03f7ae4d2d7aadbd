import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailMCPPayments
import PayRailWire

/// `payrail mcp tools` and `payrail mcp call`: an MCP client on the command line, paying priced tools
/// under the same policy, budgets and ledger as `payrail fetch`.
enum MCPToolsCallCommands {
    static let endpointOptions = [
        OptionSpec(name: "command", valueName: "\"CMD ARGS\"", help: "start this MCP server as a child process and talk to it over stdio"),
        OptionSpec(name: "timeout", valueName: "SECONDS", help: "most one MCP request may wait for its answer (default 60)"),
    ]

    static let tools = CommandSpec(
        path: ["mcp", "tools"],
        summary: "List an MCP server's tools with their prices.",
        options: endpointOptions + [OptionSpec(name: "json", help: "print {\"server\",\"tools\":[...]} instead of text")],
        positionals: [PositionalSpec(name: "URL", help: "Streamable HTTP endpoint (or --command)", isRequired: false)],
        details: """
        One line per tool: its name, its price as the server advertises it in the tool's
        _meta["payrail/price"] (or "free"), and its description. Nothing is paid.

        --json prints {"server","tools":[{"name","title","description","price":{"amount","unit","rails"}|null,
        "inputSchema"}]} (amounts are decimal strings of integer minor units: "10" with unit "sat").
        Exit codes: 0 listed; 2 usage error; 5 the server could not be reached or refused the session.
        """,
        run: { arguments in try await runTools(arguments) }
    )

    static let call = CommandSpec(
        path: ["mcp", "call"],
        summary: "Call an MCP tool, paying its price by policy and within budget, and print the result.",
        options: RailCommandRegistry.options(for: .payer, merging: endpointOptions + [
            OptionSpec(name: "args", valueName: "JSON", help: "the tool's arguments, a JSON object (default {}); @FILE reads a file"),
        ] + payingOptions(approval: false) + [
            OptionSpec(name: "payment-id", valueName: "ID", help: "stable id of this call: the same id never pays twice"),
            OptionSpec(name: "json", help: "print one JSON object on stdout instead of the result's text"),
            OptionSpec(name: "explain", help: "print the negotiation on stderr: every offer, taken or refused and why"),
            OptionSpec(name: "verbose", help: "print each step on stderr as it happens", short: "v"),
        ]),
        positionals: [
            PositionalSpec(name: "URL", help: "Streamable HTTP endpoint (leave out with --command)", isRequired: false),
            PositionalSpec(name: "TOOL", help: "the tool's name", isRequired: false),
        ],
        details: RailCommandRegistry.details(for: .payer, after: """
        Lists the server's tools first (remembering each advertised price), then calls TOOL. A priced
        tool answers with a payment challenge (the Payment scheme's -32042 error, or x402's isError
        result); the call is paid exactly as payrail fetch pays a 402: by policy, within --max and the
        wallet's budgets, reserved in the ledger before paying, and presented in _meta. A challenge
        asking more than the tool's advertised price (or in another unit) is refused: nothing is paid.
        The same --payment-id after a lost answer presents the same proof and never pays twice.

        The result's text content goes to stdout and a one-line payment summary to stderr.
        --json prints {"server","tool","paid","result":{"content","structuredContent","isError"}|null,
        "error":{"code","message"}|null,"payment":{...as payrail fetch --json...}|null,"negotiation"};
        on a payment failure {"server","tool","error":{"code","reason","retrySafe","paymentId"},"negotiation"}.

        Exit codes (as payrail fetch): 0 the tool answered (its result may be isError); 1 refused by
        policy, budget, approval or a price above the advertised one (nothing paid), or the server
        answered with a JSON-RPC error; 2 usage error; 3 no payment could be made; 4 paid but not
        finished (run the same command again) or paid and refused; 5 the server could not be reached.
        """),
        run: { arguments in try await runCall(arguments) }
    )

    /// The budget, wallet and rail flags of a paying MCP command, as `payrail fetch` has them
    /// (`--approve-above` for the bridge, which can ask a person).
    static func payingOptions(approval: Bool) -> [OptionSpec] {
        var options = [
            OptionSpec(name: "max", valueName: "AMOUNT", help: "most one call may cost, fees included (default \(AgentCommands.defaultMax))"),
            OptionSpec(name: "budget-hour", valueName: "AMOUNT",
                       help: "most spent in any sliding hour (default \(AgentCommands.defaultHourBudget))"),
            OptionSpec(name: "budget-day", valueName: "AMOUNT",
                       help: "most spent in any sliding day (default \(AgentCommands.defaultDayBudget))"),
        ]
        if approval {
            options.append(OptionSpec(name: "approve-above", valueName: "AMOUNT",
                                      help: "ask the person (MCP elicitation) before paying more than this; refused when the host cannot ask"))
        }
        options += [
            OptionSpec(name: "rail", valueName: "RAIL",
                       help: "wallet to pay with: \(RailCommandRegistry.nameChoice); repeat it (or \(RailCommandRegistry.nameList)) "
                           + "to offer several (default \(RailCommandRegistry.defaultRail.rawValue))",
                       isRepeatable: true),
            OptionSpec(name: "rate", valueName: "AMOUNT=AMOUNT", help: "an exchange rate of the owner's table, e.g. 0.01usd=10sat",
                       isRepeatable: true),
            OptionSpec(name: "dialect", valueName: "DIALECT", help: "pay only in this dialect; repeatable, best first",
                       isRepeatable: true, allowedValues: PaymentDialect.allCases.map(\.rawValue)),
            OptionSpec(name: "wallet", valueName: "FILE|URL",
                       help: "spend ledger: a SQLite file or a postgres:// URL (default $PAYRAIL_WALLET or ~/.payrail/wallet.sqlite)"),
        ]
        return options + StoreLocation.tuningOptions + [
            OptionSpec(name: "max-time", valueName: "SECONDS", help: "most one paid call may take (default \(AgentCommands.defaultMaxTime))"),
            OptionSpec(name: "min-expiry", valueName: "SECONDS",
                       help: "refuse offers due to expire sooner than this (default \(AgentCommands.defaultMinExpiry))"),
        ]
    }

    // MARK: - tools

    private static func runTools(_ arguments: ParsedArguments) async throws -> ExitCode {
        let endpoint = try MCPEndpoint.parse(url: arguments.positionals.first, command: arguments.value("command"),
                                             urlFlag: "URL", commandFlag: "--command")
        let client = try await endpoint.connect(options: try clientOptions(arguments))
        defer { Task { await client.close() } }
        let tools: [MCPTool]
        do { tools = try await client.listTools() } catch {
            await client.close()
            throw CommandFailure(exitCode: .network, message: "tools/list of \(endpoint.display) failed: \(error)")
        }
        await client.close()
        if arguments.flag("json") {
            try AgentCommands.printJSON(["server": endpoint.display, "tools": tools.map(toolJSON)])
        } else {
            for tool in tools {
                let price = advertisedPrice(tool).map(describe) ?? "free"
                let summary = (tool.description ?? tool.title ?? "").split(separator: "\n").first.map(String.init) ?? ""
                FileHandle.standardOutput.write(Data("\(tool.name)\t\(price)\t\(summary)\n".utf8))
            }
        }
        return .success
    }

    static func clientOptions(_ arguments: ParsedArguments, elicitation: MCPElicitationHandler? = nil) throws(CommandFailure) -> MCPClient.Options {
        let text = arguments.value("timeout") ?? "60"
        guard let seconds = Int(text), seconds > 0, seconds <= 3_600 else {
            throw .usage("--timeout must be a whole number of seconds from 1 to 3600, not '\(text)'")
        }
        return MCPClient.Options(info: MCPImplementation(name: "payrail", version: PayRailVersion.current),
                                 requestTimeout: .seconds(seconds), elicitationHandler: elicitation)
    }

    /// A tool's advertised price (`_meta["payrail/price"]`), when it has one.
    static func advertisedPrice(_ tool: MCPTool) -> [String: JSONValue]? {
        tool.meta[MCPPaymentMeta.price]?.objectValue
    }

    /// `10 sat`, or each rail's amount when they differ (`fake:10 sat, lightning:12 sat`).
    static func describe(_ price: [String: JSONValue]) -> String {
        if let amount = price["amount"]?.stringValue, let unit = price["unit"]?.stringValue { return "\(amount) \(unit)" }
        let rails = price["rails"]?.objectValue ?? [:]
        return rails.keys.sorted().map { rail in
            let entry = rails[rail]?.objectValue ?? [:]
            return "\(rail):\(entry["amount"]?.stringValue ?? "?") \(entry["unit"]?.stringValue ?? "?")"
        }.joined(separator: ", ")
    }

    private static func toolJSON(_ tool: MCPTool) -> [String: Any] {
        [
            "name": tool.name, "title": tool.title ?? NSNull(), "description": tool.description ?? NSNull(),
            "price": advertisedPrice(tool).map { JSONBridge.foundation(.object($0)) } ?? NSNull(),
            "inputSchema": JSONBridge.foundation(tool.inputSchema),
        ]
    }

    // MARK: - call

    private static func runCall(_ arguments: ParsedArguments) async throws -> ExitCode {
        let command = arguments.value("command")
        let positionals = arguments.positionals
        guard positionals.count == (command == nil ? 2 : 1) else {
            throw CommandFailure.usage(command == nil ? "usage: payrail mcp call URL TOOL [--args JSON]"
                                                      : "usage: payrail mcp call --command \"CMD\" TOOL [--args JSON]")
        }
        let endpoint = try MCPEndpoint.parse(url: command == nil ? positionals[0] : nil, command: command,
                                             urlFlag: "URL", commandFlag: "--command")
        let tool = positionals[positionals.count - 1]
        let toolArguments = try parseArguments(arguments.value("args"))
        // Connected first: a proxy started by --command writes its fake payer file (the fake rail's pay
        // endpoint) as it starts, before it answers initialize, and the wallets read that file.
        let client = try await endpoint.connect(options: try clientOptions(arguments))
        let agent: AgentCommands.PayingAgent
        do { agent = try await AgentCommands.payingAgent(arguments) } catch {
            await client.close()
            throw error
        }
        AgentCommands.startWatchdog(after: agent.bounds.limits.maxCallDuration)
        var configuration = agent.configuration
        if let keys = await endpoint.receiptKeys() { configuration.receiptKeys = keys }
        let paying = PayingMCPClient(caller: client, configuration: configuration, server: endpoint.ledgerName)
        do {
            _ = try await paying.listTools()
        } catch {
            await client.close()
            throw CommandFailure(exitCode: .network, message: "tools/list of \(endpoint.display) failed: \(error)")
        }
        let exit = try await MCPCallPrinting.callAndPrint(paying, tool: tool, arguments: toolArguments, endpoint: endpoint,
                                                          paymentID: arguments.value("payment-id"), asJSON: arguments.flag("json"),
                                                          explain: agent.explain)
        await client.close()
        return exit
    }

    /// `--args`: a JSON object, inline or `@FILE`.
    static func parseArguments(_ text: String?) throws(CommandFailure) -> [String: JSONValue] {
        guard let text else { return [:] }
        var bytes = Array(text.utf8)
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else { throw .usage("--args @\(path): cannot read the file") }
            bytes = Array(data)
        }
        guard bytes.count <= 1 << 20 else { throw .usage("--args is larger than 1 MiB") }
        guard let value = try? CanonicalJSON.parse(bytes), case .object(let object) = value else {
            throw .usage("--args must be a JSON object, such as '{\"q\":\"swift\"}'")
        }
        return object
    }
}
