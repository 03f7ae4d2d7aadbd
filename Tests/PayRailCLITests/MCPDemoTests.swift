import Foundation
import PayRailTestPeers
import Testing

/// `payrail demo --mcp` run as a user would (`runDemo` of DemoTests.swift: its own TMPDIR), and
/// `scripts/demo --mcp` on the built binary.
@Suite("payrail demo --mcp", .serialized)
struct MCPDemoTests {
    @Test("runs every step of the MCP host's view on loopback, each says ok, and it exits 0")
    func everyStepOK() throws {
        let run = try runDemo(["demo", "--mcp"])
        #expect(run.status == 0, "stdout:\n\(run.stdout)\nstderr:\n\(run.stderr)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)

        let titles = [
            "start an MCP server with a free and a priced tool", "the host connects and lists the tools with their prices",
            "a free tool is called, nothing is paid", "an unpaid call of the priced tool gets -32042 with its challenges",
            "the host pays the priced tool and gets the result and the receipt", "the same call again replays, no new payment",
            "a new call over the hourly budget is refused", "summary",
        ]
        for (index, title) in titles.enumerated() {
            let line = lines.first { $0.hasPrefix("\(index + 1). \(title) .") }
            #expect(line?.hasSuffix(" ok") == true, "step \(index + 1): \(line ?? "missing")")
        }
        #expect(!run.stdout.contains("FAILED"))
        #expect(lines.filter { $0.hasSuffix("-> ok") }.count == 8)
        #expect(lines.last == "every step behaved as expected")

        let expected = [
            // 1. and 2.: the server, the session, the tools with their prices.
            "listening on http://127.0.0.1:", "MCP over Streamable HTTP at /mcp", "priced as POST /mcp/tools/search",
            "host: initialize: server payrail-demo ", "host: budgets 10sat per call, 15sat per hour, 100sat per day",
            "tools/list: 2 tools", "echo     free (no price in _meta)", "search   _meta[\"payrail/price\"] = 10 sat (rail fake)",
            // 3. the free tool.
            "tools/call echo {\"text\": \"hello from the host\"}", "result: echo: hello from the host",
            "nothing paid: balances unchanged: agent 1000sat, merchant 0sat; ledger 0 spends",
            // 4. the payment-required answer and its offers.
            "tools/call search without payment: JSON-RPC error -32042 \"Payment Required\"",
            "Payment  data.challenges[]: method fake, intent charge, amount 10 sat",
            "x402     data[\"x402/payment-required\"].accepts[]: scheme exact", "read back by the paying client (MCPPaymentTransport): 2 offers",
            "payment  rail fake  10sat  payee merchant", "x402     rail fake  10sat  payee merchant",
            "search did not run (0 runs); balances unchanged: agent 1000sat, merchant 0sat",
            // 5. paying.
            "host: -32042 read, 2 offers (payment, x402)", ": taken #1 (cost 10sat)",
            "host: reserved 10sat of budget for fake via payment (payment id demo-mcp-search-1)", "host: paid on fake",
            "with the payment credential in _meta[\"org.paymentauth/credential\"] (attempt 1)",
            "host: receipt verified against the server's JWKS (POST /mcp/tools/search, 10 sat)",
            "host: committed 10sat to the ledger (payment id demo-mcp-search-1)",
            "result: 3 results for \"http 402\"", "result _meta[\"payrail/receipt\"]: signed receipt eyJ",
            "result _meta[\"org.paymentauth/receipt\"]: status success, method fake",
            "checked again by the demo with the published JWKS: sub \"POST /mcp/tools/search\", 10 sat",
            "balances: agent 1000sat -> 990sat, merchant 0sat -> 10sat",
            // 6. the replay.
            "is already committed in the wallet: presenting its receipt instead of paying",
            "with its receipt in _meta[\"payrail/receipt\"]", "the same result as in step 5, its receipts in _meta included: yes",
            // 7. the budget.
            "refused (payment, overBudget): the hourly budget of 15sat has 5sat left; this needs 10sat",
            // 8. the summary.
            "payer agent: 990sat", "payee merchant: 10sat", "tool runs: echo 1, search 1", "ledger (1 spend):",
            "demo-mcp-search-1  committed  10sat  fake  POST mcp://127.0.0.1:",
            "totals sat: last hour 10sat, last day 10sat, committed 10sat, pending 0sat",
        ]
        for text in expected { #expect(run.stdout.contains(text), "missing: \(text)") }
        // Only step 5 paid: one "paid" line in the whole run, and the balances stayed put after the
        // replay and the refused call.
        #expect(lines.filter { $0.contains("host: paid on") }.count == 1)
        #expect(lines.filter { $0.hasSuffix("balances unchanged: agent 990sat, merchant 10sat") }.count == 2)
    }

    @Test("prints no secret: no voucher, credential, key or full receipt; removes its temporary directory")
    func noSecretAndNoLeftovers() throws {
        let run = try runDemo(["demo", "--mcp"])
        #expect(run.status == 0, "\(run.stderr)")
        let output = run.stdout + run.stderr

        let check = try #require(output.split(separator: "\n").first { $0.contains("secrets checked:") })
        #expect(check.contains("secrets checked: 0 of "), "\(check)")
        #expect(!check.contains(" 0 of 0 "), "the demo knew of no secret to look for")

        for forbidden in ["voucher\"", "\"secret\"", "PRIVATE KEY", "\"payload\"", "Authorization:"] {
            #expect(!output.contains(forbidden), "the output contains \(forbidden)")
        }
        let jws = try Regex(#"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"#)
        #expect(output.firstMatch(of: jws) == nil, "a full JWS (receipt or voucher) was printed")
        let runs = try Regex(#"[A-Za-z0-9_+/-]{24,}"#)
        for match in output.matches(of: runs) {
            guard let decoded = decodeBase64(String(output[match.range])) else { continue }
            #expect(!decoded.contains("voucher") && !decoded.contains("secret"), "a base64 run decodes to a secret-bearing text")
        }

        let named = try #require(output.split(separator: "\n").first { $0.contains("temporary directory ") })
        #expect(named.contains(run.temporaryRoot.path), "\(named)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run.temporaryRoot.path)
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }
}

/// Runs `scripts/demo` with `PAYRAIL_BIN` (so nothing is rebuilt) and its own TMPDIR.
private func runDemoScript(_ arguments: [String]) throws -> (status: Int32, output: String, temporaryRoot: URL) {
    let scratch = try temporaryDirectory()
    let temporaryRoot = scratch.appendingPathComponent("tmp", isDirectory: true)
    try FileManager.default.createDirectory(at: temporaryRoot, withIntermediateDirectories: true)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [PythonPeer.packageRoot.appendingPathComponent("scripts/demo").path] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["PAYRAIL_BIN"] = PayRail.binary.path
    environment["TMPDIR"] = temporaryRoot.path
    process.environment = environment
    let out = scratch.appendingPathComponent("out")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = process.standardOutput
    try process.run()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self), temporaryRoot)
}

@Suite("scripts/demo --mcp", .serialized)
struct MCPDemoScriptTests {
    @Test("runs payrail demo --mcp on PAYRAIL_BIN: every step ok, exit 0, nothing left in TMPDIR")
    func runsTheMCPDemo() throws {
        let run = try runDemoScript(["--mcp"])
        #expect(run.status == 0, "\(run.output)")
        for text in ["running payrail demo --mcp", "tools/call search without payment: JSON-RPC error -32042",
                     "host: receipt verified against the server's JWKS (POST /mcp/tools/search, 10 sat)",
                     "refused (payment, overBudget)", "every step behaved as expected", "MCP demo finished: every step behaved as expected"] {
            #expect(run.output.contains(text), "missing: \(text)")
        }
        #expect(!run.output.contains("FAILED"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.temporaryRoot.path).isEmpty, "left files in TMPDIR")
    }

    @Test("--mcp with another rail flag is a usage error (exit 2), and the usage names --mcp")
    func oneFlagAtATime() throws {
        let run = try runDemoScript(["--mcp", "--stripe"])
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("usage: scripts/demo [--mcp | --lightning | --stripe]"), "\(run.output)")
    }
}
