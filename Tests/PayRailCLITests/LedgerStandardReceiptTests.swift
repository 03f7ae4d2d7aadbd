import Foundation
import PayRail
import PayRailStore
import Testing

/// Issue #16, point 2, on the command line: `payrail ledger` shows each spend's standard
/// `Payment-Receipt` and says whether it was signed and verified or only recorded; the JSON keeps
/// every field it had and adds `standardReceipt`.
@Suite("payrail ledger shows standard receipts (issue 16)", .serialized)
struct LedgerStandardReceiptTests {
    @Test("a spend paid at payrail serve: its Payment-Receipt is in the ledger, signed and verified, with its reference")
    func verifiedStandardReceiptIsListed() async throws {
        let setup = try FetchTests.Setup()
        defer { setup.server.kill() }
        let fetched = try setup.fetch([])
        #expect(fetched.status == 0, "\(fetched.stderr)")

        let spends = try #require(try setup.ledger()["spends"] as? [[String: Any]])
        let spend = try #require(spends.first)
        for key in ["paymentId", "state", "amount", "rail", "host", "method", "url", "offerId", "receipt", "reference", "note",
                    "reservedAt", "updatedAt"] {
            #expect(spend.keys.contains(key), "\(key) is still in the JSON")
        }
        let standard = try #require(spend["standardReceipt"] as? [String: Any])
        #expect(standard["trust"] as? String == "verified")
        #expect(standard["signed"] as? Bool == true && standard["verified"] as? Bool == true)
        #expect(standard["status"] as? String == "success" && standard["method"] as? String == "fake")
        #expect(standard["reference"] as? String == spend["reference"] as? String)
        #expect((standard["timestamp"] as? String)?.isEmpty == false)

        let text = try AgentRun.run(["ledger", "--wallet", setup.wallet])
        #expect(text.status == 0 && text.stdout.contains("Payment-Receipt success") && text.stdout.contains("(signed, verified)"),
                "\(text.stdout)")
    }

    @Test("a spend whose server sent only an unsigned standard receipt is listed as recorded only, never as verified")
    func unsignedStandardReceiptIsListed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wallet = directory.appendingPathComponent("wallet.sqlite").path
        let store = try SQLiteSpendStore(path: wallet)
        let now = Date()
        let record = SpendRecord(paymentID: "unsigned-1", amount: try Money(amount: 5, unit: .sat), rail: .fake, host: "other.example",
                                 method: "GET", url: "https://other.example/x", offerID: "o-1", context: "{}", reservedAt: now)
        let limits = SpendLimits([.sat: .init(perRequest: try Money(parsing: "10sat"), perHour: try Money(parsing: "10sat"),
                                              perDay: try Money(parsing: "10sat"))])
        _ = try await store.reserve(record, limits: limits, now: now)
        let receipt = LedgerReceipt(method: "fake", reference: "ref-unsigned", status: "success", timestamp: "2026-12-07T04:00:00Z",
                                    challengeID: nil, trust: .unsigned)
        _ = try await store.commit(paymentID: "unsigned-1", receipt: nil, reference: "ref-unsigned", note: nil, amount: nil,
                                   standardReceipt: receipt, now: now)
        await store.close()

        let json = try AgentRun.run(["ledger", "--wallet", wallet, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let spend = try #require((json.json["spends"] as? [[String: Any]])?.first)
        let standard = try #require(spend["standardReceipt"] as? [String: Any])
        #expect(standard["trust"] as? String == "unsigned")
        #expect(standard["signed"] as? Bool == false && standard["verified"] as? Bool == false)
        #expect(spend["reference"] as? String == "ref-unsigned")
        let text = try AgentRun.run(["ledger", "--wallet", wallet])
        #expect(text.stdout.contains("ref ref-unsigned") && text.stdout.contains("(unsigned, recorded only)"), "\(text.stdout)")
    }
}
