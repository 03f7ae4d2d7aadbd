import Foundation
import PayRail
import PayRailHTTP
import PayRailStore
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

private func demoPayerBalance(_ server: ServeProcess) async throws -> String {
    let payer = try DemoPayer(dataDirectory: server.data)
    let body = try JSONSerialization.data(withJSONObject: ["accountID": payer.accountID, "secret": payer.secret, "unit": "sat"])
    let answer = try await exchange(server.url("/.well-known/payrail/fake/balance"), method: "POST", body: Array(body))
    return answer.json["balance"] as? String ?? "?"
}

@Suite("payrail refund (fake rail, live, loopback)", .serialized)
struct RefundCommandTests {
    @Test("refund by receipt: the money goes back, the same command refunds once, more than paid is refused, the grant ends")
    func refundFakePayment() async throws {
        let first = try ServeProcess(["--rail", "fake"])
        defer { first.kill() }
        let initial = try await demoPayerBalance(first)
        let unpaid = try await exchange(first.url("/premium"))
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .payment })
        let credential = try await DemoPayer(dataDirectory: first.data).pay(read.offer)
        let paid = try await exchange(first.url("/premium"), headers: try read.credentialFields(for: credential))
        #expect(paid.status == 200, "\(paid.text)")
        let token = try #require(paid.headers["X-Receipt"])
        #expect(try await exchange(first.url("/premium"), headers: HTTPFields([("X-Receipt", token)])).status == 200)
        let data = first.data.path

        // The refund endpoint refuses an amount that is not a text such as "40sat" (it used to read a
        // number as "no amount" and refund everything), and one naming a member twice.
        let accounts = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: first.data.appendingPathComponent("fake-accounts.json"))) as? [String: String])
        let secret = try #require(accounts["merchant"])
        for malformed in [#"{"accountID":"merchant","secret":"\#(secret)","requestID":"\#(read.offer.id)","key":"k1","amount":40}"#,
                          #"{"accountID":"merchant","secret":"\#(secret)","requestID":"\#(read.offer.id)","key":"k2","amount":null}"#,
                          #"{"accountID":"merchant","secret":"\#(secret)","requestID":"\#(read.offer.id)","key":"k3","key":"k4"}"#] {
            let refused = try await exchange(first.url("/.well-known/payrail/fake/refund"), method: "POST", body: Array(malformed.utf8))
            #expect(refused.status == 400, "\(refused.status) \(refused.text)")
        }
        #expect(try await demoPayerBalance(first) != initial, "nothing was refunded by the refused requests")

        // While serve holds the fake processor, the refund goes through its refund endpoint.
        let part = try AgentRun.run(["refund", token, "--data", data, "--amount", "40sat", "--reason", "late answer", "--json"])
        #expect(part.status == 0, "\(part.stderr)")
        #expect(part.json["amount"] as? String == "40sat")
        #expect(part.json["status"] as? String == "succeeded")
        #expect(part.json["remaining"] as? String == "60sat")
        #expect((part.json["refundID"] as? String)?.hasPrefix("rfd_") == true)
        #expect(part.json["alreadyRefunded"] as? Bool == false)
        #expect(!part.stdout.contains(token) && !part.stderr.contains("sk_fake_"))
        try await Task.sleep(for: .seconds(2.5))
        let refused = try await exchange(first.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(refused.status == 402, "the running server stops granting a refunded receipt: \(refused.status)")
        let again = try AgentRun.run(["refund", token, "--data", data, "--amount", "40sat", "--reason", "late answer", "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.json["alreadyRefunded"] as? Bool == true)
        #expect(again.json["refundID"] as? String == part.json["refundID"] as? String)
        let tooMuch = try AgentRun.run(["refund", token, "--data", data, "--amount", "61sat"])
        #expect(tooMuch.status == 1)
        #expect(tooMuch.stderr.split(separator: "\n").count == 1, "\(tooMuch.stderr)")
        #expect(first.stop() == 0)

        // With the server stopped, the processor's file is opened directly.
        let reference = try #require(part.json["reference"] as? String)
        let rest = try AgentRun.run(["refund", reference, "--data", data, "--json"])
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(rest.json["amount"] as? String == "60sat")
        #expect(rest.json["remaining"] as? String == "0sat")
        #expect(try AgentRun.run(["refund", reference, "--data", data, "--amount", "1sat", "--reason", "more"]).status == 1)
        #expect(try AgentRun.run(["refund", "no-such-payment", "--data", data]).status == 1)

        let second = try ServeProcess(["--rail", "fake"], data: first.data)
        defer { second.kill() }
        #expect(try await demoPayerBalance(second) == initial, "the payer has all of it back")
        let replay = try await exchange(second.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replay.status == 402, "a refunded receipt grants nothing: \(replay.status) \(replay.text)")
        #expect(second.stop() == 0)
    }
}

extension RefundCommandTests {
    /// The claims of a compact receipt token (test reading only; the gate verifies them).
    static func claims(_ token: String) -> [String: Any] {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return [:] }
        var text = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return [:] }
        return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:]
    }

    @Test("a grant ended by another process sharing the store (payrail refund, a webhook) stops replaying within seconds")
    func grantEndedElsewhereStopsReplaying() async throws {
        let server = try ServeProcess(["--rail", "fake"])
        defer { server.kill() }
        let unpaid = try await exchange(server.url("/premium"))
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .payment })
        let credential = try await DemoPayer(dataDirectory: server.data).pay(read.offer)
        let paid = try await exchange(server.url("/premium"), headers: try read.credentialFields(for: credential))
        let token = try #require(paid.headers["X-Receipt"])
        for _ in 0..<2 { #expect(try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)])).status == 200) }

        let store = try SQLiteGateStore(path: server.data.appendingPathComponent("gate.sqlite").path)
        let reference = try #require(Self.claims(token)["ref"] as? String)
        let consumed = try #require(try await store.consumedChallenge(settlementReference: reference))
        try await store.endGrant(challengeID: consumed.challengeID)
        try await Task.sleep(for: .seconds(2.5))
        let replay = try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replay.status == 402, "the replay cache served an ended grant: \(replay.status)")
        #expect(server.stop() == 0)
    }
}
