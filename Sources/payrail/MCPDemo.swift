import FakeRail
import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailMCPPayments
import PayRailReceipts
import PayRailStore
import PayRailWire

// `payrail demo --mcp` is `payrail demo` told from an MCP host's side: the same gate, fake rail,
// wallet and budgets, with tool calls instead of GETs. Every step states what it expects and checks
// it against what the server, the processor and the wallet actually did; a step that does not behave
// fails the run (exit 1).

/// One run of `payrail demo --mcp`.
struct MCPDemoRun {
    static let firstCallID = "demo-mcp-search-1"
    static let secondCallID = "demo-mcp-search-2"
    static let firstQuery = "http 402"
    static let secondQuery = "mcp payments"
    static let echoText = "hello from the host"
    static let maxPerCall: Int64 = 10
    static let perHour: Int64 = 15
    static let perDay: Int64 = 100

    private let out = DemoOutput()

    func run() async throws -> ExitCode {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-demo-\(UUID().uuidString)", isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandFailure.refused("cannot create a temporary directory in \(FileManager.default.temporaryDirectory.path): check TMPDIR")
        }
        defer { try? FileManager.default.removeItem(at: directory) }

        out.say("payrail demo --mcp: an MCP server with a priced tool and a paying MCP host in one process, over loopback, on the fake rail")
        var step = DemoStep(number: 1, title: "start an MCP server with a free and a priced tool")
        out.heading(step)
        let server: MCPDemoServer
        do {
            server = try await MCPDemoServer(directory: directory)
        } catch {
            step.fail("the server did not start: \(error)")
            out.result(step)
            throw CommandFailure.refused("demo step 1 failed: the server did not start (\(error))")
        }
        let stage = MCPDemoStage(server: server, directory: directory, out: out)
        var steps = await stage.runSteps(first: &step)
        await stage.closeClient()
        await server.stop()

        var summary = DemoStep(number: 8, title: "summary")
        out.heading(summary)
        await stage.summarize(&summary)
        stage.checkNoSecretPrinted(&summary)
        await stage.cleanUp(&summary)
        out.result(summary)
        steps.append(summary)
        return try finish(steps)
    }

    /// The listing of every step, then exit 0 only when all of them passed.
    private func finish(_ steps: [DemoStep]) throws -> ExitCode {
        out.say("")
        let width = (steps.map(\.title.count).max() ?? 0) + 3
        for step in steps {
            let dots = String(repeating: ".", count: width - step.title.count)
            out.say("\(step.number). \(step.title) \(dots) \(step.passed ? "ok" : "FAILED")")
        }
        let failed = steps.filter { !$0.passed }
        guard failed.isEmpty else {
            let list = failed.map { "step \($0.number) (\($0.problems.joined(separator: "; ")))" }.joined(separator: ", ")
            throw CommandFailure.refused("demo failed: \(list)")
        }
        out.say("every step behaved as expected")
        return .success
    }
}

/// Steps 1 to 7 and the summary, sharing the server, the host's MCP session and wallet, and what was seen.
final class MCPDemoStage: @unchecked Sendable {
    // @unchecked: the stage is driven by one task, step after step; the event log it shares with the
    // paying client's callback locks itself.
    let server: MCPDemoServer
    let directory: URL
    let out: DemoOutput
    /// Every secret the demo can name; none may appear in what it printed.
    let secrets = DemoSecrets()
    let events = DemoEventLog()
    var governor: SpendGovernor?
    var walletStore: SQLiteSpendStore?
    var mcpClient: MCPClient?
    var paying: PayingMCPClient?
    /// The receipt keys the server publishes, read in step 1 and pinned by the host.
    var receiptKeys: ReceiptKeySet?
    /// The paid call's result, which the replay must give back exactly.
    var firstResult: MCPToolResult?

    init(server: MCPDemoServer, directory: URL, out: DemoOutput) {
        self.server = server
        self.directory = directory
        self.out = out
        secrets.add([server.agentCredentials.secret, server.merchantCredentials.secret,
                     Base64URL.encode(server.challengeSecret), server.challengeSecret.map { String(format: "%02x", $0) }.joined()])
        if let pem = try? String(contentsOfFile: server.signingKeyPath, encoding: .utf8) {
            secrets.add([pem] + pem.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("-----") })
        }
    }

    /// The priced route and receipt subject of the priced tool.
    static let pricedResource = "\(MCPToolRoute.method) \(MCPToolRoute.path(for: MCPDemoServer.pricedTool))"

    /// Runs steps 1 (already started) to 7; each later step runs even if an earlier one failed, so
    /// the summary shows everything that went wrong at once.
    func runSteps(first: inout DemoStep) async -> [DemoStep] {
        await describeServer(&first)
        out.result(first)
        var steps = [first]
        let later: [(Int, String, (inout DemoStep) async -> Void)] = [
            (2, "the host connects and lists the tools with their prices", { await self.listTools(&$0) }),
            (3, "a free tool is called, nothing is paid", { await self.callFreeTool(&$0) }),
            (4, "an unpaid call of the priced tool gets -32042 with its challenges", { await self.unpaidCall(&$0) }),
            (5, "the host pays the priced tool and gets the result and the receipt", { await self.paidCall(&$0) }),
            (6, "the same call again replays, no new payment", { await self.replayCall(&$0) }),
            (7, "a new call over the hourly budget is refused", { await self.overBudgetCall(&$0) }),
        ]
        for (number, title, body) in later {
            var step = DemoStep(number: number, title: title)
            out.heading(step)
            await body(&step)
            if !step.passed, !server.witness.diagnosticLines.isEmpty {
                for line in server.witness.diagnosticLines.suffix(3) { out.detail("server said: \(DemoOutput.shorten(line, to: 120))") }
            }
            out.result(step)
            steps.append(step)
        }
        return steps
    }

    // MARK: 1. The server

    private func describeServer(_ step: inout DemoStep) async {
        out.detail("listening on \(server.origin) (libmicrohttpd), MCP over Streamable HTTP at \(MCPDemoServer.mcpPath)")
        out.detail("tools in this process (MCPToolRegistry): \(MCPDemoServer.freeTool) (free), \(MCPDemoServer.pricedTool) "
            + "behind MCPPaywall at \(MCPDemoServer.price)sat on rail fake, priced as \(Self.pricedResource)")
        out.detail("gate store: SQLite \(server.databasePath); fake processor in this process")
        out.detail("receipts: signed \(server.receiptAlgorithm), key id \(server.receiptKeyID), public keys at \(DemoServer.jwksPath)")
        out.detail("temporary directory \(directory.path) (removed at the end)")
        let balances = await server.balances()
        out.detail("fake processor accounts: \(MCPDemoServer.agentAccount) \(balances.agent)sat, \(MCPDemoServer.merchantAccount) \(balances.merchant)sat")
        step.expect(balances.agent == MCPDemoServer.agentFunds && balances.merchant == 0,
                    "the accounts should start at \(MCPDemoServer.agentFunds)sat and 0sat, not \(balances.agent)sat and \(balances.merchant)sat")
        do {
            let jwks = try await DemoHTTP.get(try server.url(DemoServer.jwksPath))
            step.expect(jwks.status == 200, "the JWKS answered \(jwks.status), not 200")
            receiptKeys = try? ReceiptKeySet(jwksJSON: Data(jwks.body))
            step.expect(receiptKeys != nil, "the JWKS does not parse as a receipt key set")
            out.detail("GET \(DemoServer.jwksPath): HTTP \(jwks.status), \(jwks.body.count) bytes of public keys (the host pins them)")
        } catch {
            step.fail("the JWKS could not be fetched: \(error)")
        }
    }

    // MARK: 2. Listing the tools

    private func listTools(_ step: inout DemoStep) async {
        do {
            try await connect(&step)
        } catch {
            return step.fail("the host could not be set up: \(error)")
        }
        guard let paying else { return step.fail("no MCP session") }
        let tools: [MCPTool]
        do {
            tools = try await paying.listTools()
        } catch {
            return step.fail("tools/list failed: \(error)")
        }
        out.detail("tools/list: \(tools.count) tools")
        for tool in tools {
            let price = MCPToolsCallCommands.advertisedPrice(tool)
            out.detail("  \(tool.name.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                + "\(price.map { "_meta[\"\(MCPPaymentMeta.price)\"] = \(MCPToolsCallCommands.describe($0)) (\(railsText($0)))" } ?? "free (no price in _meta)")"
                + "  \(tool.description ?? "")")
        }
        step.expect(tools.map(\.name).sorted() == [MCPDemoServer.freeTool, MCPDemoServer.pricedTool].sorted(),
                    "the tools are \(tools.map(\.name)), not \(MCPDemoServer.freeTool) and \(MCPDemoServer.pricedTool)")
        let priced = tools.first { $0.name == MCPDemoServer.pricedTool }.flatMap(MCPToolsCallCommands.advertisedPrice)
        step.expect(priced?["amount"]?.stringValue == String(MCPDemoServer.price) && priced?["unit"]?.stringValue == "sat",
                    "\(MCPDemoServer.pricedTool) does not advertise \(MCPDemoServer.price) sat")
        let fake = priced?["rails"]?.objectValue?["fake"]?.objectValue
        step.expect(fake?["amount"]?.stringValue == String(MCPDemoServer.price), "\(MCPDemoServer.pricedTool) is not priced on rail fake")
        let free = tools.first { $0.name == MCPDemoServer.freeTool }
        step.expect(free != nil && free?.meta[MCPPaymentMeta.price] == nil, "\(MCPDemoServer.freeTool) should be listed as free")
    }

    private func railsText(_ price: [String: JSONValue]) -> String {
        let rails = price["rails"]?.objectValue ?? [:]
        return "rail" + (rails.count == 1 ? " " : "s ") + rails.keys.sorted().joined(separator: ", ")
    }

    /// Opens the host's MCP session and its paying client: a SQLite wallet, the budgets, the pinned keys.
    private func connect(_ step: inout DemoStep) async throws {
        let client = MCPClient(transport: MCPStreamableHTTPClientTransport(url: try server.mcpURL),
                               options: MCPClient.Options(info: MCPImplementation(name: "payrail-demo-host", version: PayRailVersion.current),
                                                          requestTimeout: .seconds(10)))
        try await client.connect()
        mcpClient = client
        let info = await client.serverInfo
        out.detail("host: initialize: server \(info?.name ?? "?") \(info?.version ?? "?"), protocol \(await client.protocolVersion ?? "?")")
        guard let receiptKeys else {
            step.fail("no receipt keys to pin (step 1 could not read the JWKS)")
            return
        }
        paying = PayingMCPClient(caller: client, configuration: try configuration(keys: receiptKeys), server: ledgerName)
    }

    /// The host's name for the server in its ledger, as `payrail mcp call` names it: `host:port`.
    var ledgerName: String { String(server.origin.dropFirst("http://".count)) }

    private func configuration(keys: ReceiptKeySet) throws -> PayingClientConfiguration {
        let agent = try DemoAgentWallet(
            directory: directory, maximum: MCPDemoRun.maxPerCall, perHour: MCPDemoRun.perHour, perDay: MCPDemoRun.perDay,
            payer: FakePayerRail(processor: server.processor, processorKey: server.processorKey, account: server.agentCredentials),
            secrets: secrets)
        (walletStore, governor) = (agent.store, agent.governor)
        let (negotiator, governor) = (agent.negotiator, agent.governor)
        out.detail("host: fake wallet '\(MCPDemoServer.agentAccount)' at the same processor, SQLite wallet \(agent.path)")
        out.detail("host: budgets \(agent.maximum) per call, \(agent.perHour) per hour, \(agent.perDay) per day; receipt keys pinned from the JWKS")
        let events = self.events
        let out = self.out
        return PayingClientConfiguration(
            negotiator: negotiator, governor: governor, receiptKeys: .pinned(keys), deliveryAttempts: 3, requestTimeout: 10,
            onEvent: { event in
                events.append(event)
                for line in MCPDemoStage.lines(for: event, replaying: events.replaysReceipt) { out.detail(line) }
            })
    }

    /// Ends the host's MCP session (DELETE) before the server stops.
    func closeClient() async {
        await mcpClient?.close()
    }

    func ledgerRecords() async -> [SpendRecord] {
        (try? await governor?.ledger()) ?? []
    }
}
