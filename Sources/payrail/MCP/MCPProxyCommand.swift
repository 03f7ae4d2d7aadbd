import Foundation
import PayRail
import PayRailHTTP
import PayRailMCP
import PayRailMCPPayments
import PayRailServer

/// `payrail mcp proxy`: the gate in front of any MCP server, as `payrail serve --upstream` is for HTTP.
enum MCPProxyCommand {
    static let proxy = CommandSpec(
        path: ["mcp", "proxy"],
        summary: "Paywall the tools of any MCP server (stdio child or Streamable HTTP) behind MCP payment challenges.",
        options: RailCommandRegistry.options(for: .payee, merging: [
            OptionSpec(name: "price", valueName: "\"tool:NAME=AMOUNT\"",
                       help: "a priced tool (also NAME=AMOUNT, or NAME=rail:AMOUNT,rail:AMOUNT); repeatable; other tools stay free",
                       isRequired: true, isRepeatable: true),
            OptionSpec(name: "rail", valueName: "RAIL",
                       help: "payment rail: \(RailCommandRegistry.nameChoice); repeat it or write \(RailCommandRegistry.nameList) "
                           + "for several (default \(RailCommandRegistry.defaultRail.rawValue))",
                       isRepeatable: true),
            OptionSpec(name: "upstream-command", valueName: "\"CMD ARGS\"", help: "the MCP server to paywall, started as a child (stdio)"),
            OptionSpec(name: "upstream-url", valueName: "URL", help: "the MCP server to paywall, at this Streamable HTTP endpoint"),
            OptionSpec(name: "listen", valueName: "stdio|http://127.0.0.1:PORT",
                       help: "serve MCP on standard input and output (default), or Streamable HTTP at PATH (default /mcp)"),
            OptionSpec(name: "http-port", valueName: "PORT",
                       help: "with --listen stdio: port of the side HTTP listener (receipt keys, fake processor; default 0, any free)"),
            OptionSpec(name: "unpaid-answer", valueName: "payment-error|x402-result",
                       help: "how an unpaid call is answered: -32042 with every dialect (default), or x402's isError tool result",
                       allowedValues: ["payment-error", "x402-result"]),
            OptionSpec(name: "data", valueName: "DIR", help: "data directory, created with mode 0700 (default ./.payrail)"),
            OptionSpec(name: "db", valueName: "FILE|URL",
                       help: "SQLite file or postgres:// URL shared by several gates (default $PAYRAIL_DB, else DIR/gate.sqlite)"),
        ] + StoreLocation.tuningOptions + [
            OptionSpec(name: "fake-processor", valueName: "URL", help: "take fake payments through the fake processor of this payrail serve"),
            OptionSpec(name: "keys", valueName: "DIR", help: "receipt keys folder (default DIR/keys)"),
            OptionSpec(name: "realm", valueName: "NAME", help: "realm and receipt issuer (default localhost)"),
            OptionSpec(name: "rate-limit", valueName: "N", help: "challenges per client per minute, burst N (default 120; 0 turns it off)"),
            OptionSpec(name: "challenge-lifetime", valueName: "SECONDS", help: "how long a challenge can be paid (default 300)"),
            OptionSpec(name: "presentation-grace", valueName: "SECONDS",
                       help: "how long after its challenge expired a payment made in time is still granted (default 86400)"),
            OptionSpec(name: "purge-interval", valueName: "SECONDS", help: "how often expired records are purged (default 300)"),
            OptionSpec(name: "timeout", valueName: "SECONDS", help: "most one upstream request may wait for its answer (default 60)"),
        ]),
        details: RailCommandRegistry.details(for: .payee, after: """
        Clients see the upstream's tools; priced ones show their price in _meta["payrail/price"]. An
        unpaid call of a priced tool is answered with the Payment scheme's -32042 error carrying its
        challenges (x402's PaymentRequired beside them in data["x402/payment-required"]); a call
        carrying a credential in _meta (org.paymentauth/credential or x402/payment) is settled by the
        same gate as payrail serve (every rail, rate limits, single use, expiry, receipts) and then
        forwarded without any payment member of _meta; the result comes back with the receipt in
        _meta. The same credential again replays the stored result without a new settlement. When
        the upstream fails after the payment (it crashed or answered an error), nothing is stored:
        the same credential is served again at no charge within the grant, and a payment never
        served is refunded automatically where the rail can (see payrail serve's details).

        --listen stdio (the default) serves one MCP client on standard input and output (log lines
        go to stderr) and still binds a loopback HTTP listener (--http-port) for the receipt keys
        and the fake processor: its first stderr line names it. --listen http://127.0.0.1:PORT[/PATH]
        serves Streamable HTTP at PATH (default /mcp) beside those routes. The upstream child
        (--upstream-command, split like a shell's words, nothing expanded) is started once and again
        after it dies; it is stopped by its PID when the proxy stops (end of input, SIGTERM, SIGINT).
        """),
        run: { arguments in try await run(arguments) }
    )

    /// Where MCP clients reach the proxy.
    enum Listen {
        case stdio
        case http(host: String, port: UInt16, path: String)

        static func parse(_ text: String?) throws(CommandFailure) -> Listen {
            guard let text, text != "stdio" else { return .stdio }
            guard let url = URLComponents(string: text), url.scheme == "http", let host = url.host, !host.isEmpty,
                  url.user == nil, url.query == nil, url.fragment == nil
            else {
                throw .usage("--listen must be stdio or http://HOST:PORT[/PATH] (a numeric address), not '\(text)'")
            }
            let port = url.port ?? 80
            guard (0...65_535).contains(port) else { throw .usage("--listen: port \(port) is out of range") }
            let path = url.path.isEmpty || url.path == "/" ? "/mcp" : url.path
            return .http(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: UInt16(port), path: path)
        }
    }

    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        let listen = try Listen.parse(arguments.value("listen"))
        let sidePort = try arguments.value("http-port").map { text throws(CommandFailure) -> UInt16 in
            guard let port = UInt16(text) else { throw .usage("--http-port must be a port number, not '\(text)'") }
            return port
        } ?? 0
        let (host, port): (String, UInt16)
        switch listen {
        case .stdio: (host, port) = ("127.0.0.1", sidePort)
        case .http(let address, let bound, _): (host, port) = (address, bound)
        }
        let priceTexts = arguments.values("price")
        let settings = try ServeSettings(arguments, overrides: ServeSettings.Overrides(host: host, port: port) { rails in
            do {
                return try MCPToolPrice.pricingTable(try priceTexts.map { text throws(PricingError) in try MCPToolPrice(parsing: text, rails: rails) })
            } catch {
                throw CommandFailure.usage("--price: \(error)")
            }
        })
        let endpoint = try MCPEndpoint.parse(url: arguments.value("upstream-url"), command: arguments.value("upstream-command"),
                                             urlFlag: "--upstream-url", commandFlag: "--upstream-command")
        let log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let upstream = MCPUpstreamTools(endpoint: endpoint, options: try MCPToolsCallCommands.clientOptions(arguments), log: log)
        try await upstream.start()

        let mcpHandler = MCPHandlerBox()
        var host_ = ServeHost(name: "payrail mcp proxy", log: log, servesResource: false,
                              describePrice: { rule in
                                  MCPToolRoute.tool(inPath: rule.pathPattern).map { "tool:" + MCPToolPrice(tool: $0, price: rule.price).description }
                                      ?? "\(rule)"
                              })
        if case .http(_, _, let path) = listen {
            host_.extraRoute = ServeExtraRoute(path: path, handler: { request in await mcpHandler.handle(request) })
        }
        let running: ServeRunning
        do { running = try await ServeCommand.start(settings, arguments, host: host_) } catch {
            await upstream.close()
            throw error
        }
        let unpaid: MCPPaywall.UnpaidAnswer = arguments.value("unpaid-answer") == "x402-result" ? .x402ToolResult : .paymentError
        let server = MCPServer(info: MCPImplementation(name: "payrail-mcp-proxy", version: PayRailVersion.current),
                               provider: upstream, middleware: [MCPPaywall(gate: running.gate, unpaidAnswer: unpaid)], diagnostics: log)
        switch listen {
        case .stdio:
            log("payrail mcp proxy: serving MCP on stdio, upstream \(endpoint.display)")
            await serveStdioUntilSignal(server, running: running)
        case .http(_, _, let path):
            mcpHandler.set(MCPStreamableHTTPServer(server: server, options: .init(path: path)).handler)
            log("payrail mcp proxy: serving MCP at \(running.origin)\(path), upstream \(endpoint.display)")
            await running.waitForSignal()
        }
        await upstream.close()
        await running.stop()
        return .success
    }

    /// Serves the one stdio client until it closes its input or a signal arrives.
    private static func serveStdioUntilSignal(_ server: MCPServer, running: ServeRunning) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await server.serve(MCPStdioTransport())
                    running.host.log("payrail mcp proxy: the client closed standard input, shutting down")
                } catch {
                    running.host.log("payrail mcp proxy: stdio ended: \(error)")
                }
            }
            group.addTask { await running.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The MCP endpoint's handler, set once the gate exists (the HTTP server starts before it).
final class MCPHandlerBox: Sendable {
    private let handler = LockedValue<HTTPHandler?>(nil)

    func set(_ value: @escaping HTTPHandler) { handler.set(value) }

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        guard let current = handler.get() else {
            return HTTPResponse(status: .init(code: 503), headers: ["Retry-After": "1"], text: "starting\n")
        }
        return await current(request)
    }
}

/// A value behind a lock.
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}
