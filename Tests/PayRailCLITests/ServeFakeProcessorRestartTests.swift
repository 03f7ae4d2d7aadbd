import Foundation
import PayRail
import PayRailHTTP
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The demo payer's balance at a server's fake processor, in the payer file's own words.
private func payerBalance(_ server: ServeProcess) async throws -> String {
    let payer = try DemoPayer(dataDirectory: server.data)
    let body = try JSONSerialization.data(withJSONObject: ["accountID": payer.accountID, "secret": payer.secret, "unit": "sat"])
    let answer = try await exchange(server.url("/.well-known/payrail/fake/balance"), method: "POST", body: Array(body))
    #expect(answer.status == 200, "balance: \(answer.text)")
    return answer.json["balance"] as? String ?? "?"
}

@Suite("payrail serve --rail fake: the fake processor survives a restart (live, loopback)", .serialized)
struct ServeFakeProcessorRestartTests {
    @Test("a voucher paid before a restart gets the same grant after it, with no second charge, and the payer file still pays")
    func voucherSurvivesRestart() async throws {
        let first = try ServeProcess(["--rail", "fake"])
        defer { first.kill() }
        let initial = try await payerBalance(first)
        let unpaid = try await exchange(first.url("/premium"))
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .payment })
        let credential = try await DemoPayer(dataDirectory: first.data).pay(read.offer)
        let credentialFields = try read.credentialFields(for: credential)
        let paid = try await exchange(first.url("/premium"), headers: credentialFields)
        #expect(paid.status == 200, "\(paid.text)")
        let afterPaying = try await payerBalance(first)
        #expect(afterPaying != initial)
        // Killed, as a crash would: the payer never saw the answer and presents its voucher again.
        first.kill()

        let second = try ServeProcess(["--rail", "fake"], data: first.data)
        defer { second.kill() }
        let again = try await exchange(second.url("/premium"), headers: credentialFields)
        #expect(again.status == 200, "the same voucher after the restart: \(again.status) \(again.text)")
        #expect(again.text == paid.text)
        let metrics = try await exchange(second.url("/metrics")).text
        #expect(metric(metrics, "payrail_settlements_total{rail=\"fake\"}") == nil, "no second settlement")
        #expect(try await payerBalance(second) == afterPaying, "no second charge, and the balance is the one left before the restart")

        // The payer file (rewritten with the new address) pays a new request on the restarted server.
        let wallet = second.data.deletingLastPathComponent().appendingPathComponent("wallet.sqlite").path
        let fetched = try AgentRun.run(["fetch", second.url("/premium").absoluteString, "--wallet", wallet, "--fake-payer",
                                        second.data.appendingPathComponent("fake-payer.json").path, "--json"])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(fetched.json["paid"] as? Bool == true)
        let spent = try #require(Money.parseMinorUnits(String(afterPaying.prefix { $0.isNumber })))
        #expect(try await payerBalance(second) == "\(spent - 100)sat", "the new payment comes out of what was left")
        #expect(second.stop() == 0)
    }

    @Test("a data directory whose processor key or account secrets went missing is refused at start, not given a new processor")
    func missingProcessorFilesAreRefused() async throws {
        let first = try ServeProcess([])
        defer { first.kill() }
        #expect(first.stop() == 0)
        let key = first.data.appendingPathComponent("fake-processor.pem")
        let accounts = first.data.appendingPathComponent("fake-accounts.json")
        let keyText = try Data(contentsOf: key)
        try FileManager.default.removeItem(at: key)
        #expect(throws: ServeTestFailure.self, "a new key would refuse every voucher paid") {
            let server = try ServeProcess([], data: first.data, captureErrors: true)
            server.kill()
        }
        #expect(!FileManager.default.fileExists(atPath: key.path), "no new key was written")
        try keyText.write(to: key)
        let accountsText = try Data(contentsOf: accounts)
        try FileManager.default.removeItem(at: accounts)
        do {
            let server = try ServeProcess([], data: first.data, captureErrors: true)
            server.kill()
            Issue.record("started with account secrets the processor does not know")
        } catch let failure as ServeTestFailure {
            #expect(failure.description.contains("fake-accounts.json"), "\(failure)")
        }
        #expect(!FileManager.default.fileExists(atPath: accounts.path), "no new secrets were written")
        // With both files back the same processor starts again.
        try accountsText.write(to: accounts)
        let restored = try ServeProcess([], data: first.data)
        restored.kill()
    }
}
