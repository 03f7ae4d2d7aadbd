import Foundation

/// `payrail demo`: a gated server and a paying agent in one process, over loopback, on the fake rail.
enum DemoCommand {
    static let all: [CommandSpec] = [demo]

    static let demo = CommandSpec(
        path: ["demo"],
        summary: "Run a gated server and a paying agent in one process on the fake rail, showing every step.",
        options: [OptionSpec(name: "mcp", help: "the same job told from an MCP host's side: tools/list, a free tool, a priced tool paid in _meta")],
        details: """
        No option, no external service, no setup. The demo starts a gated server on 127.0.0.1 (a free
        port) with the fake processor in process, a SQLite gate store and an Ed25519 receipt key in a
        temporary directory (removed at the end), and prices GET /premium at 100 sat. Then, each step
        printed on stdout as it happens:

          1. the server starts and publishes its receipt keys at /.well-known/payrail/jwks.json;
          2. an unpaid GET gets a 402 in every dialect it carries, read back into offers;
          3. an agent (max 100 sat per request, 150 sat per hour, a SQLite wallet) negotiates,
             reserves, pays, retries with the credential, verifies the receipt, commits the spend;
          4. the same call again (same payment id) is answered from the receipt, nothing paid;
          5. a new call would exceed the hourly budget and is refused, nothing paid;
          6. a summary: balances, the ledger, and ok or FAILED for every step.

        Every step is checked (statuses, balances, ledger, receipt, refusal code), not assumed. No
        secret is printed: no voucher, credential, account secret or key; receipts appear shortened.
        Exit codes: 0 every step behaved as expected; 1 a step did not (the reason is printed).

        --mcp runs the MCP version: an MCP server over Streamable HTTP at /mcp on 127.0.0.1, with two
        tools written in process, echo (free) and search (10 sat, behind MCPPaywall: the same gate,
        priced as POST /mcp/tools/search), and an MCP host (MCPClient and PayingMCPClient, a SQLite
        wallet, max 10 sat per call and 15 sat per hour, the server's receipt keys pinned):

          1. the server starts and publishes its receipt keys;
          2. the host connects (initialize) and lists the tools: search shows its price in
             _meta["payrail/price"], echo none;
          3. echo is called: its result, nothing paid, the ledger still empty;
          4. search called without payment answers the JSON-RPC error -32042 with its challenges
             (Payment in data.challenges, x402 in data["x402/payment-required"]), read back into offers;
          5. the paying client negotiates, reserves, pays, calls again with the credential in _meta,
             gets the result with its receipts in _meta, verifies the receipt and commits the spend;
          6. the same call again (same payment id) is answered from the receipt, nothing paid;
          7. a new call would exceed the hourly budget and is refused (overBudget), nothing paid;
          8. a summary, checked the same way.
        """,
        run: { arguments in arguments.flag("mcp") ? try await MCPDemoRun().run() : try await DemoRun().run() }
    )
}
