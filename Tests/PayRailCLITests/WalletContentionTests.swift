import Foundation
import PayRail
import PayRailTestPeers
import Testing

/// Fifty `payrail fetch` processes at once, each with its own home directory, on one wallet with a
/// budget for ten payments: exactly ten pay and forty are refused by the budget, on a SQLite file
/// and on a PostgreSQL database; none fails on a lock or a timeout before paying.
@Suite("payrail fetch: 50 processes on one wallet (live, loopback)", .serialized)
struct WalletContentionTests {
    static let processes = 50

    /// Runs the fifty fetches against `server` with `wallet` and checks the outcome.
    private func contend(_ server: ServeProcess, wallet: String, extra: [String] = []) async throws -> [AgentRun] {
        let payerFile = server.data.appendingPathComponent("fake-payer.json").path
        let payerBefore = try await balance(server, of: "demo-payer")
        var running: [AgentRun.Running] = []
        for _ in 0..<Self.processes {
            let home = try temporaryDirectory().path
            running.append(try AgentRun.Running(
                ["fetch", server.url("/premium").absoluteString, "--wallet", wallet, "--fake-payer", payerFile, "--json",
                 "--max", "100sat", "--budget-hour", "1000sat", "--budget-day", "1000sat"] + extra,
                environment: ["HOME": home]))
        }
        let runs = try running.map { try $0.wait() }
        let paid = runs.filter { $0.status == 0 && $0.json["paid"] as? Bool == true }
        let refused = runs.filter { $0.status == 1 }
        #expect(paid.count == 10, "exactly ten paid: statuses \(runs.map(\.status))")
        let others = runs.filter { $0.status != 0 && $0.status != 1 }.map { "exit \($0.status): \($0.stderr)" }
        #expect(refused.count == 40, "the rest refused by the budget, not failed: \(others)")
        for run in runs {
            let text = (run.stderr + run.stdout).lowercased()
            #expect(!text.contains("locked") && !text.contains("sqlite code 5") && !text.contains("timed out")
                        && !text.contains("did not answer"),
                    "no lock or timeout failure: \(run.stderr)")
        }
        #expect(try await balance(server, of: "demo-payer") == payerBefore - 1000, "ten payments of 100 sat, no more")
        return runs
    }

    private func balance(_ server: ServeProcess, of accountID: String) async throws -> Int64 {
        let accounts = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: server.data.appendingPathComponent("fake-accounts.json")))
                as? [String: String])
        let body = try JSONSerialization.data(withJSONObject: ["accountID": accountID, "secret": accounts[accountID] ?? "", "unit": "sat"])
        let answer = try await exchange(server.url("/.well-known/payrail/fake/balance"), method: "POST", body: Array(body))
        try #require(answer.status == 200, "\(answer.text)")
        return try GateCluster.sat(try #require(answer.json["balance"] as? String))
    }

    /// With the default lock wait, and with the shortest (`--db-timeout 1`), where the retry with
    /// backoff has to carry the processes that waited a second in vain.
    @Test("one SQLite wallet file: exactly 10 of 50 pay, 40 refused by the budget, none 'database is locked'",
          arguments: [[], ["--db-timeout", "1"]])
    func sqliteWallet(extra: [String]) async throws {
        let server = try ServeProcess(["--rate-limit", "0"])
        defer { server.kill() }
        let wallet = try temporaryDirectory().appendingPathComponent("shared-wallet.sqlite").path
        _ = try await contend(server, wallet: wallet, extra: extra)
        let ledger = try AgentRun.run(["ledger", "--wallet", wallet, "--json"])
        #expect(ledger.status == 0, "\(ledger.stderr)")
        let spends = ledger.json["spends"] as? [[String: Any]] ?? []
        #expect(spends.filter { $0["state"] as? String == "committed" }.count == 10)
        #expect(server.stop() == 0)
    }

    @Test("one PostgreSQL wallet: exactly 10 of 50 pay, and payrail ledger reads it")
    func postgresWallet() async throws {
        let postgres = try await PostgresPeer.server()
        let database = try postgres.createDatabase(prefix: "wallet")
        let server = try ServeProcess(["--rate-limit", "0"])
        defer { server.kill() }
        let url = postgres.url(database: database)
        _ = try await contend(server, wallet: url)
        let ledger = try AgentRun.run(["ledger", "--wallet", url, "--json"])
        #expect(ledger.status == 0, "\(ledger.stderr)")
        let spends = ledger.json["spends"] as? [[String: Any]] ?? []
        #expect(spends.filter { $0["state"] as? String == "committed" }.count == 10)
        #expect((ledger.json["wallet"] as? String)?.hasPrefix("postgres://") == true)
        // $PAYRAIL_WALLET may name the database too.
        let viaEnvironment = try AgentRun.run(["ledger", "--json"], environment: ["PAYRAIL_WALLET": url])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment.stderr)")
        #expect((viaEnvironment.json["spends"] as? [[String: Any]])?.count == spends.count)
        // A wallet database that does not exist: one line on stderr, the password shown as ***.
        let secretURL = url.replacingOccurrences(of: "payrail@", with: "payrail:w4ll3t-pw@")
            .replacingOccurrences(of: "/\(database)", with: "/nosuchwallet")
        let missing = try AgentRun.run(["ledger", "--wallet", secretURL])
        #expect(missing.status == 1, "\(missing.stderr)")
        #expect(missing.stderr.contains("postgres://payrail:***@") && !missing.stderr.contains("w4ll3t-pw"), "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count == 1, "one line: \(missing.stderr)")
        #expect(server.stop() == 0)
    }
}
