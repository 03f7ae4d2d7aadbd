import Foundation
import PayRailTestPeers
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs `payrail demo` as a user would, with its own TMPDIR so the test can see what it leaves behind.
struct DemoRunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The TMPDIR given to the demo; it must be empty again afterwards.
    var temporaryRoot: URL
}

func runDemo(_ arguments: [String] = ["demo"]) throws -> DemoRunResult {
    let scratch = try temporaryDirectory()
    let temporaryRoot = scratch.appendingPathComponent("tmp", isDirectory: true)
    try FileManager.default.createDirectory(at: temporaryRoot, withIntermediateDirectories: true)
    let process = Process()
    process.executableURL = PayRail.binary
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["TMPDIR"] = temporaryRoot.path
    process.environment = environment
    let out = scratch.appendingPathComponent("out")
    let err = scratch.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    process.waitUntilExit()
    return DemoRunResult(status: process.terminationStatus,
                         stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self),
                         temporaryRoot: temporaryRoot)
}

/// Decodes base64url (or base64) text, padding as needed; `nil` when it is not base64.
func decodeBase64(_ text: String) -> String? {
    var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    standard = String(standard.prefix(standard.count - standard.count % 4))
    guard let data = Data(base64Encoded: standard) else { return nil }
    return String(decoding: data, as: UTF8.self)
}

@Suite("payrail demo", .serialized)
struct DemoTests {
    @Test("with no option it runs every step on loopback, each says ok, and it exits 0")
    func everyStepOK() throws {
        let run = try runDemo()
        #expect(run.status == 0, "stdout:\n\(run.stdout)\nstderr:\n\(run.stderr)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)

        // The final listing: one line per step, in order, each ending in "ok".
        let titles = [
            "start a gated server", "an unpaid GET gets a 402 in every dialect", "the agent negotiates, pays and gets it",
            "the same call again replays, no new payment", "a new call over the hourly budget is refused", "summary",
        ]
        for (index, title) in titles.enumerated() {
            let line = lines.first { $0.hasPrefix("\(index + 1). \(title) .") }
            #expect(line?.hasSuffix(" ok") == true, "step \(index + 1): \(line ?? "missing")")
        }
        #expect(!run.stdout.contains("FAILED"))
        #expect(lines.filter { $0.hasSuffix("-> ok") }.count == 6)
        #expect(lines.last == "every step behaved as expected")

        // What each step showed, as it happened.
        let expected = [
            "listening on http://127.0.0.1:", "public keys at /.well-known/payrail/jwks.json",
            "GET /premium without payment: HTTP 402", "Payment      WWW-Authenticate: Payment ", "x402 v2      PAYMENT-REQUIRED: ",
            "plain JSON   body", "read back with PaymentResponseReader: 3 offers",
            "payment  rail fake  100sat  payee merchant", "x402     rail fake  100sat  payee merchant",
            "plain    rail fake  100sat  payee merchant",
            "budgets 100sat per request, 150sat per hour", ": taken #1 (cost 100sat)",
            "agent: reserved 100sat of budget for fake", "agent: paid on fake", "with the payment credential (attempt 1)",
            "agent: receipt verified against the server's JWKS (GET /premium, 100 sat)", "agent: committed 100sat to the ledger",
            "HTTP 200: premium content", "checked again by the demo with the published JWKS",
            "balances: agent 1000sat -> 900sat, merchant 0sat -> 100sat",
            "is already committed in the wallet: presenting its receipt instead of paying",
            "balances unchanged: agent 900sat, merchant 100sat",
            "refused (overBudget): the hourly budget of 150sat has 50sat left; this needs 100sat",
            "payer agent: 900sat", "payee merchant: 100sat", "ledger (1 spend):", "demo-premium-call-1  committed  100sat",
            "totals sat: last hour 100sat, last day 100sat, committed 100sat, pending 0sat",
        ]
        for text in expected { #expect(run.stdout.contains(text), "missing: \(text)") }
        // The replay and the refused call never paid: exactly one "paid" line in the whole run, and the
        // balances stayed put after each of them.
        #expect(lines.filter { $0.contains("agent: paid on") }.count == 1)
        #expect(lines.filter { $0.hasSuffix("balances unchanged: agent 900sat, merchant 100sat") }.count == 2)
    }

    @Test("prints no secret: no voucher, credential, key or full receipt; removes its temporary directory")
    func noSecretAndNoLeftovers() throws {
        let run = try runDemo()
        #expect(run.status == 0, "\(run.stderr)")
        let output = run.stdout + run.stderr

        // The demo's own check of every secret it knows (account secrets, vouchers, proof headers, keys).
        let check = try #require(output.split(separator: "\n").first { $0.contains("secrets checked:") })
        #expect(check.contains("secrets checked: 0 of "), "\(check)")
        #expect(!check.contains(" 0 of 0 "), "the demo knew of no secret to look for")

        // What a leak would look like from outside, whatever the values.
        for forbidden in ["voucher\"", "\"secret\"", "PRIVATE KEY", "Authorization:", "PAYMENT-SIGNATURE:", "X-Receipt:"] {
            #expect(!output.contains(forbidden), "the output contains \(forbidden)")
        }
        let jws = try Regex(#"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"#)
        #expect(output.firstMatch(of: jws) == nil, "a full JWS (receipt or voucher) was printed")
        // Any long base64 run (a shortened challenge, a receipt head) must not hide a voucher or a secret.
        let runs = try Regex(#"[A-Za-z0-9_+/-]{24,}"#)
        for match in output.matches(of: runs) {
            guard let decoded = decodeBase64(String(output[match.range])) else { continue }
            #expect(!decoded.contains("voucher") && !decoded.contains("secret"), "a base64 run decodes to a secret-bearing text")
        }

        // The temporary directory named in the output existed under our TMPDIR and is gone.
        let named = try #require(output.split(separator: "\n").first { $0.contains("temporary directory ") })
        #expect(named.contains(run.temporaryRoot.path), "\(named)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run.temporaryRoot.path)
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }
}

/// Runs `scripts/demo --stripe` on the built binary (`PAYRAIL_BIN`, so nothing is rebuilt) and the
/// peers venv the other Stripe tests use, with the loopback guard on every Python it starts.
@Suite("scripts/demo --stripe", .serialized)
struct StripeDemoScriptTests {
    @Test("pays 0.50usd through a local localstripe, shows the 402, the paid 200 with its verified receipt and one refund, and stops everything")
    func paidThenRefunded() throws {
        let python = try PythonPeer.interpreter()
        let network = try PeerNetworkGuard.prepare()
        defer { network.remove() }
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let temporaryRoot = scratch.appendingPathComponent("tmp", isDirectory: true)
        try FileManager.default.createDirectory(at: temporaryRoot, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [PythonPeer.packageRoot.appendingPathComponent("scripts/demo").path, "--stripe"]
        var environment = network.environment(ProcessInfo.processInfo.environment)
        environment["PAYRAIL_BIN"] = PayRail.binary.path
        environment["PAYRAIL_PEERS_PYTHON"] = python.path
        environment["TMPDIR"] = temporaryRoot.path
        environment["PAYRAIL_STRIPE_SECRET_KEY"] = nil
        process.environment = environment
        let out = scratch.appendingPathComponent("out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = process.standardOutput
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: try Data(contentsOf: out), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")

        let shown = [
            "step 1: starting localstripe on 127.0.0.1", "listening on http://127.0.0.1:", "rail=stripe",
            "step 3: GET /premium without paying", "    HTTP 402", "offer: stripe 50 usd minor units, PaymentIntent pi_",
            "HTTP 200, paid 0.50usd on stripe: ", "\"paidWith\":\"stripe\"", "verified against the server's JWKS: True, reference ch_",
            "succeeded, amount 50 usd, refunded 0", ": succeeded, 0.50usd of 0.50usd refunded, 0.00usd left", "refunded 50 of 50",
            "already refunded: True, 0.00usd left", "its grant ended with the refund, so it buys nothing\n    HTTP 402",
            "committed 0.50usd    stripe", "stripe demo finished: paid 0.50usd through localstripe",
        ]
        for text in shown { #expect(output.contains(text), "missing: \(text)") }
        #expect(output.components(separatedBy: "refund re_").count == 3, "one refund id, shown for the refund and its repetition")

        // No key, client secret or full receipt is printed.
        for forbidden in ["sk_test", "_secret_", "Authorization", "X-Receipt:"] {
            #expect(!output.contains(forbidden), "the output contains \(forbidden)")
        }
        let jws = try Regex(#"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"#)
        #expect(output.firstMatch(of: jws) == nil, "a full receipt was printed")

        // Both processes it started are gone, and so is its temporary directory.
        let pids = try Regex(#"stopping payrail serve \((\d+)\) and localstripe \((\d+)\)"#)
        let match = try #require(output.firstMatch(of: pids), "the demo names the PIDs it stops")
        for pid in [match.output[1].substring, match.output[2].substring].compactMap({ $0.flatMap { Int32($0) } }) {
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "process \(pid) is still running")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporaryRoot.path).isEmpty, "left files in TMPDIR")
        try network.check(peer: "localstripe started by scripts/demo --stripe")
    }
}
