import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `payrail fetch` or `payrail ledger` child process with its own environment.
struct AgentRun {
    var status: Int32
    var signal: Int32?
    var stdout: String
    var stderr: String
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]) ?? [:] }

    /// Starts the process; `wait()` collects it. Several can run at once.
    final class Running: @unchecked Sendable {
        let process = Process()
        let out: URL
        let err: URL

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            let scratch = try temporaryDirectory()
            out = scratch.appendingPathComponent("out")
            err = scratch.appendingPathComponent("err")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            process.executableURL = PayRail.binary
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            // Hermetic: a run without --wallet must never read or write the developer's own wallet
            // (~/.payrail/wallet.sqlite), whatever schema an older or newer build left there.
            env["PAYRAIL_WALLET"] = scratch.appendingPathComponent("wallet.sqlite").path
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
        }

        func wait() throws -> AgentRun {
            process.waitUntilExit()
            let signalled = process.terminationReason == .uncaughtSignal
            return AgentRun(status: process.terminationStatus, signal: signalled ? process.terminationStatus : nil,
                            stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                            stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
        }
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> AgentRun {
        try Running(arguments, environment: environment).wait()
    }
}

/// `payrail fetch` / `payrail ledger` against a live `payrail serve` child, over loopback.
@Suite("payrail fetch and ledger (live, loopback)", .serialized)
struct FetchTests {
    struct Setup {
        let server: ServeProcess
        let wallet: String
        let payerFile: String

        init() throws {
            server = try ServeProcess([])
            wallet = server.data.deletingLastPathComponent().appendingPathComponent("wallet.sqlite").path
            payerFile = server.data.appendingPathComponent("fake-payer.json").path
        }

        func fetch(_ extra: [String], path: String = "/premium", environment: [String: String] = [:]) throws -> AgentRun {
            try AgentRun.run(["fetch", server.url(path).absoluteString, "--wallet", wallet, "--fake-payer", payerFile] + extra,
                             environment: environment)
        }

        func start(_ extra: [String]) throws -> AgentRun.Running {
            try AgentRun.Running(["fetch", server.url("/premium").absoluteString, "--wallet", wallet, "--fake-payer", payerFile] + extra)
        }

        func ledger() throws -> [String: Any] {
            let run = try AgentRun.run(["ledger", "--wallet", wallet, "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            return run.json
        }

        /// The demo payer's balance at the server's fake processor.
        func payerBalance() async throws -> String {
            let payer = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: payerFile))) as? [String: String])
            let body = try JSONSerialization.data(withJSONObject: ["accountID": payer["accountID"] ?? "", "secret": payer["secret"] ?? "", "unit": "sat"])
            let answer = try await exchange(server.url("/.well-known/payrail/fake/balance"), method: "POST", body: Array(body))
            return answer.json["balance"] as? String ?? "?"
        }

        func grants() async throws -> Int {
            let metrics = try await exchange(server.url("/metrics")).text
            return metrics.split(separator: "\n").filter { $0.hasPrefix("payrail_grants_total") }
                .compactMap { Int(Double($0.split(separator: " ").last ?? "") ?? -1) }.reduce(0, +)
        }
    }

    @Test("pays, prints the body on stdout and one summary line on stderr; --json, --explain and the ledger agree")
    func paysAndReports() async throws {
        let setup = try Setup()
        defer { setup.server.kill() }
        let initial = try await setup.payerBalance()

        let plain = try setup.fetch(["--explain"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("\"paidWith\":\"fake\""))
        #expect(plain.stderr.contains("paid 100sat on fake"))
        #expect(plain.stderr.contains("receipt verified"))
        #expect(plain.stderr.contains("taken #1"))

        let json = try setup.fetch(["--json"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.json["status"] as? Int == 200 && json.json["paid"] as? Bool == true)
        let payment = try #require(json.json["payment"] as? [String: Any])
        #expect(payment["amount"] as? String == "100sat")
        #expect(payment["receiptVerified"] as? Bool == true)
        #expect((payment["receipt"] as? String)?.split(separator: ".").count == 3)

        let ledger = try setup.ledger()
        let spends = try #require(ledger["spends"] as? [[String: Any]])
        #expect(spends.count == 2)
        #expect(spends.allSatisfy { $0["state"] as? String == "committed" && $0["receipt"] is String })
        #expect(spends.allSatisfy { $0["proof"] == nil })
        let totals = try #require((ledger["totals"] as? [[String: Any]])?.first)
        #expect(totals["lastHour"] as? String == "200sat")
        #expect(try await setup.grants() == 2)
        #expect(initial != (try await setup.payerBalance()))

        let text = try AgentRun.run(["ledger", "--wallet", setup.wallet])
        #expect(text.status == 0 && text.stdout.contains("committed") && text.stdout.contains("sat: last hour 200sat"))
    }

    @Test("refusals: policy maximum and hourly budget exit 1 with the reason, usage errors exit 2, nothing paid")
    func refusals() async throws {
        let setup = try Setup()
        defer { setup.server.kill() }
        let before = try await setup.payerBalance()

        let tooExpensive = try setup.fetch(["--max", "50sat", "--json"])
        #expect(tooExpensive.status == 1)
        #expect(tooExpensive.stderr.contains("max-per-request"))
        #expect((tooExpensive.json["error"] as? [String: Any])?["code"] as? String == "refusedByPolicy")
        #expect(try await setup.payerBalance() == before)

        #expect(try setup.fetch(["--budget-hour", "150sat"]).status == 0)
        let overBudget = try setup.fetch(["--budget-hour", "150sat"])
        #expect(overBudget.status == 1)
        #expect(overBudget.stderr.contains("hour"), "\(overBudget.stderr)")

        #expect(try AgentRun.run(["fetch", "ftp://example.com/x"]).status == 2)
        #expect(try setup.fetch(["--max", "lots"]).status == 2)
        #expect(try setup.fetch(["-H", "no colon"]).status == 2)
        let missingPayer = try AgentRun.run(["fetch", setup.server.url("/premium").absoluteString, "--wallet", setup.wallet,
                                             "--fake-payer", "/nonexistent/fake-payer.json"])
        #expect(missingPayer.status == 2 && missingPayer.stderr.contains("payrail serve"))
        #expect(try await setup.grants() == 1)
    }

    @Test("six processes sharing one wallet at once never overspend: a 300 sat hourly budget buys exactly three")
    func concurrentProcessesShareTheBudget() async throws {
        let setup = try Setup()
        defer { setup.server.kill() }
        let running = try (0..<6).map { _ in try setup.start(["--budget-hour", "300sat"]) }
        let runs = try running.map { try $0.wait() }
        #expect(runs.filter { $0.status == 0 }.count == 3, "\(runs.map(\.stderr))")
        #expect(runs.filter { $0.status == 1 }.count == 3)
        let spends = try #require(try setup.ledger()["spends"] as? [[String: Any]])
        #expect(spends.filter { $0["state"] as? String == "committed" }.count == 3)
        #expect(try await setup.grants() == 3)
    }

    @Test("killed by SIGKILL after paying (before or while retrying): the next run finishes the payment without paying twice",
          arguments: ["paid", "presenting"])
    func crashAfterPayingResumes(_ point: String) async throws {
        let setup = try Setup()
        defer { setup.server.kill() }
        let before = try await setup.payerBalance()

        let crashed = try setup.fetch([], environment: ["PAYRAIL_CRASH_AT": point])
        #expect(crashed.signal == SIGKILL, "status \(crashed.status): \(crashed.stderr)")
        let pending = try #require(try setup.ledger()["spends"] as? [[String: Any]])
        #expect(pending.count == 1)
        #expect(pending.first?["state"] as? String == (point == "paid" ? "reserved" : "paid"))
        let afterCrash = try await setup.payerBalance()
        #expect(afterCrash != before)  // the money moved before the crash

        let rerun = try setup.fetch(["-v"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("finishing payment"))
        #expect(rerun.stderr.contains("finished an earlier payment of 100sat"))
        let spends = try #require(try setup.ledger()["spends"] as? [[String: Any]])
        #expect(spends.count == 1 && spends.first?["state"] as? String == "committed")
        // Charged once: the balance did not move again, and the server granted once.
        #expect(try await setup.payerBalance() == afterCrash)
        #expect(try await setup.grants() == 1)
    }
}
