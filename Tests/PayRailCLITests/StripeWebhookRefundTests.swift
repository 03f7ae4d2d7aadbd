import Foundation
import PayRail
import PayRailHTTP
import PayRailStore
import PayRailWire
import PayRailTestPeers
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Signs webhook bodies with stripe-python (`stripe.WebhookSignature`), the judge the Stripe tests use.
private enum StripePythonSigner {
    static let judge = PythonPeer.packageRoot.appendingPathComponent("Tests/StripeRailTests/Peers/stripe_webhook_judge.py")

    static func header(_ body: String, secret: String, at timestamp: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        let request: [String: Any] = ["sign": [["payload": body, "secret": secret, "timestamp": timestamp]], "verify": [] as [Any]]
        let output = try PythonPeer.run(judge, [], input: try JSONSerialization.data(withJSONObject: request))
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        guard let header = (object?["headers"] as? [String])?.first else {
            throw LocalStripePeer.Failure(description: "stripe-python signed nothing: \(output.prefix(200))")
        }
        return header
    }
}

private func json(_ data: Data) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:] }

private func event(_ id: String, _ type: String, object: String, kind: String) -> String {
    "{\"id\": \"\(id)\", \"object\": \"event\", \"type\": \"\(type)\", \"created\": \(Int(Date().timeIntervalSince1970)), "
        + "\"data\": {\"object\": {\"id\": \"\(object)\", \"object\": \"\(kind)\"}}}"
}

@Suite("payrail serve --stripe-webhook-path and payrail refund against localstripe", .serialized)
struct StripeWebhookRefundTests {
    static let secret = "sk_test_51QwebhookSecretNeverPrinted00"
    static let hookSecret = "whsec_webhookTestSecretOld000000000"
    static let nextHookSecret = "whsec_webhookTestSecretNew000000000"

    /// A PaymentIntent paid with pm_card_visa in localstripe, recorded as a consumed challenge in the gate's store.
    func paidIntent(_ peer: LocalStripePeer, store: SQLiteGateStore, challenge: String, confirm: Bool = true) async throws -> (String, String?) {
        var form = [("amount", "50"), ("currency", "usd"), ("payment_method", "pm_card_visa")]
        if confirm { form.append(("confirm", "true")) }
        let intent = json(try await peer.raw("POST", "/v1/payment_intents", form: form).body)
        let id = try #require(intent["id"] as? String)
        let charge = (intent["latest_charge"] as? String) ?? ((intent["latest_charge"] as? [String: Any])?["id"] as? String)
        let now = Date()
        let offer = Offer(rail: .stripe, amount: try Money(amount: 50, unit: .usd), payee: "acct_test", expiresAt: now.addingTimeInterval(300), id: id)
        try await store.saveChallenge(ChallengeRecord(id: challenge, resource: try Resource(parsing: "GET /premium"), offers: [offer],
                                                      createdAt: now, expiresAt: now.addingTimeInterval(300)))
        let settlement = Settlement(rail: .stripe, offerID: id, reference: charge ?? "stripe-unconfirmed-\(challenge)",
                                    amount: offer.amount, settledAt: now)
        let receipt = ReceiptRecord(receiptID: "rc-\(challenge)", tokenHash: Data("hash-\(challenge)".utf8), resource: offer.id.isEmpty ? try Resource(parsing: "GET /x") : try Resource(parsing: "GET /premium"),
                                    issuedAt: now, grantExpiresAt: now.addingTimeInterval(3600), credentialHash: nil)
        _ = try await store.consume(challengeID: challenge, settlement: settlement, receipt: receipt)
        return (id, charge)
    }

    @Test("signed events update the payment's record once; a bad signature is 400 and changes nothing; refund runs beside serve")
    func webhookAndRefund() async throws {
        let peer = try await LocalStripePeer.shared()
        let directory = try temporaryDirectory()
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let database = data.appendingPathComponent("gate.sqlite").path
        let store = try SQLiteGateStore(path: database)
        let (intent, chargeID) = try await paidIntent(peer, store: store, challenge: "ch-webhook-1")
        let charge = try #require(chargeID)

        let environment = ["PAYRAIL_STRIPE_SECRET_KEY": Self.secret,
                           "PAYRAIL_STRIPE_WEBHOOK_SECRET": "\(Self.hookSecret), \(Self.nextHookSecret)"]
        let server = try ServeProcess(["--rail", "stripe", "--price", "GET /premium=0.50usd", "--stripe-api-base", peer.baseURL.absoluteString,
                                       "--stripe-webhook-path", "/stripe/hook"], data: data, environment: environment)
        defer { server.kill() }
        let hook = server.url("/stripe/hook")

        // Refund beside the running server (the store is shared through SQLite's locks).
        let refund = try AgentRun.run(["refund", charge, "--data", data.path, "--stripe-api-base", peer.baseURL.absoluteString, "--amount", "0.20usd", "--json"], environment: environment)
        #expect(refund.status == 0, "\(refund.stderr)")
        #expect(refund.json["status"] as? String == "succeeded" && refund.json["remaining"] as? String == "0.30usd", "\(refund.stdout)")
        #expect((refund.json["refundID"] as? String)?.hasPrefix("re_") == true)
        let chargeNow = json(try await peer.raw("GET", "/v1/charges/\(charge)").body)
        #expect(chargeNow["amount_refunded"] as? Int == 20)
        let again = try AgentRun.run(["refund", charge, "--data", data.path, "--stripe-api-base", peer.baseURL.absoluteString, "--amount", "0.20usd", "--json"], environment: environment)
        #expect(again.status == 0 && again.json["alreadyRefunded"] as? Bool == true, "\(again.stderr)")
        #expect(json(try await peer.raw("GET", "/v1/charges/\(charge)").body)["amount_refunded"] as? Int == 20, "refunded once")
        let over = try AgentRun.run(["refund", charge, "--data", data.path, "--stripe-api-base", peer.baseURL.absoluteString, "--amount", "0.31usd"], environment: environment)
        #expect(over.status == 1 && !over.stderr.contains("51Qwebhook"), "\(over.stderr)")

        // A refund made outside PayRail (the dashboard), reported by charge.refunded: recorded once.
        _ = try await peer.raw("POST", "/v1/refunds", form: [("payment_intent", intent), ("amount", "10")])
        let refunded = event("evt_refundOutside1", "charge.refunded", object: charge, kind: "charge")
        let tampered = refunded.replacingOccurrences(of: "charge.refunded", with: "charge.dispute.created")
        let bad = try await exchange(hook, method: "POST", headers: HTTPFields([("Stripe-Signature", try StripePythonSigner.header(refunded, secret: Self.hookSecret))]),
                                     body: Array(tampered.utf8))
        #expect(bad.status == 400 && bad.headers["Content-Type"]?.contains("problem+json") == true, "\(bad.status) \(bad.text)")
        #expect(try await store.knownEvent(id: "evt_refundOutside1") == false, "a refused delivery changes nothing")
        let rotated = try StripePythonSigner.header(refunded, secret: Self.nextHookSecret)
        let good = try await exchange(hook, method: "POST", headers: HTTPFields([("Stripe-Signature", rotated)]), body: Array(refunded.utf8))
        #expect(good.status == 200, "\(good.text) \(server.log)")
        let duplicate = try await exchange(hook, method: "POST", headers: HTTPFields([("Stripe-Signature", rotated)]), body: Array(refunded.utf8))
        #expect(duplicate.status == 200)
        let refunds = try await store.refunds(challengeID: "ch-webhook-1")
        #expect(refunds.map(\.amount.amount) == [20, 10], "\(refunds)")
        #expect(try await store.knownEvent(id: "evt_refundOutside1"))
        let consumed = try #require(try await store.consumedChallenge(id: "ch-webhook-1"))
        #expect(consumed.receipt.grantExpiresAt <= Date(), "the refund ended the grant")

        // A dispute Stripe cannot show now (localstripe has no disputes): 503, not recorded, so Stripe delivers it again.
        let dispute = event("evt_disputeUnseen1", "charge.dispute.created", object: "dp_unknownDispute1", kind: "dispute")
        let unseen = try await exchange(hook, method: "POST", headers: HTTPFields([("Stripe-Signature", try StripePythonSigner.header(dispute, secret: Self.hookSecret))]),
                                        body: Array(dispute.utf8))
        #expect(unseen.status == 503, "\(unseen.status) \(unseen.text)")
        #expect(try await store.knownEvent(id: "evt_disputeUnseen1") == false)

        // A charge this server can never read (a non-card `py_` payment): recorded once, 200, so Stripe
        // does not redeliver it for days; a 503 could never turn into a success.
        let foreign = event("evt_pyCharge00001", "charge.refunded", object: "py_nonCardPayment1", kind: "charge")
        let unreadable = try await exchange(hook, method: "POST", headers: HTTPFields([("Stripe-Signature", try StripePythonSigner.header(foreign, secret: Self.hookSecret))]),
                                            body: Array(foreign.utf8))
        #expect(unreadable.status == 200, "\(unreadable.status) \(unreadable.text)")
        #expect(try await store.knownEvent(id: "evt_pyCharge00001") == true)

        // An event about another payment is acknowledged and recorded, nothing else.
        let (otherIntent, _) = try await paidIntent(peer, store: store, challenge: "ch-webhook-2")
        let succeeded = event("evt_succeededOther1", "payment_intent.succeeded", object: otherIntent, kind: "payment_intent")
        let answer = try await exchange(hook, method: "POST", headers: HTTPFields([("Stripe-Signature", try StripePythonSigner.header(succeeded, secret: Self.hookSecret))]),
                                        body: Array(succeeded.utf8))
        #expect(answer.status == 200)
        #expect(try await store.consumedChallenge(id: "ch-webhook-2")?.receipt.grantExpiresAt ?? .distantPast > Date(), "succeeded keeps the grant")
        #expect(server.log.contains("evt_succeededOther1 payment_intent.succeeded \(otherIntent) status=succeeded"), "\(server.log)")
        #expect(server.log.contains("evt_refundOutside1 charge.refunded") && server.log.contains("again (already recorded)"))
        #expect(!server.log.contains("whsec_") && !server.log.contains("51Qwebhook"))

        // localstripe's own delivery: register this endpoint, confirm an intent, the signed event arrives.
        let registration = try await peer.raw("POST", "/_config/webhooks/payrail-wt-f-\(UUID().uuidString.prefix(8))",
                                              form: [("url", hook.absoluteString), ("secret", Self.hookSecret), ("events[]", "payment_intent.succeeded")])
        #expect(registration.status == 200)
        let (delivered, _) = try await paidIntent(peer, store: store, challenge: "ch-webhook-3", confirm: false)
        _ = try await peer.raw("POST", "/v1/payment_intents/\(delivered)/confirm")
        var seen = false
        for _ in 0..<60 where !seen {
            try await Task.sleep(for: .milliseconds(100))
            seen = server.log.contains("payment_intent.succeeded \(delivered) status=succeeded")
        }
        #expect(seen, "localstripe's delivery was not received: \(server.log)")
        #expect(server.log.contains("challenge=ch-webhook-3"), "matched to the payment by its intent")
        _ = try await peer.raw("POST", "/_config/webhooks/payrail-wt-f-off", form: [("url", "http://127.0.0.1:9/"), ("secret", "x"), ("events[]", "none")])
        #expect(server.stop() == 0)
    }
}

extension StripeWebhookRefundTests {
    @Test("webhook settings are checked before anything is written, and a secret is never printed")
    func settings() throws {
        let directory = try temporaryDirectory()
        func serve(_ extra: [String], _ environment: [String: String]) throws -> AgentRun {
            try AgentRun.run(["serve", "--port", "0", "--data", directory.appendingPathComponent("d").path] + extra,
                             environment: ["PAYRAIL_STRIPE_SECRET_KEY": Self.secret].merging(environment) { _, given in given })
        }
        let noStripe = try serve(["--stripe-webhook-path", "/hook"], ["PAYRAIL_STRIPE_WEBHOOK_SECRET": Self.hookSecret])
        #expect(noStripe.status == 2 && noStripe.stderr.contains("--rail stripe"), "\(noStripe.stderr)")
        let noSecret = try serve(["--rail", "stripe", "--stripe-webhook-path", "/hook"], ["PAYRAIL_STRIPE_WEBHOOK_SECRET": ""])
        #expect(noSecret.status == 2 && noSecret.stderr.contains("PAYRAIL_STRIPE_WEBHOOK_SECRET"), "\(noSecret.stderr)")
        let wrong = "sk_live_looksLikeAKeyNotAWebhookSecret1"
        let notWhsec = try serve(["--rail", "stripe", "--stripe-webhook-path", "/hook"], ["PAYRAIL_STRIPE_WEBHOOK_SECRET": wrong])
        #expect(notWhsec.status == 2 && !notWhsec.stderr.contains(wrong), "\(notWhsec.stderr)")
        let reserved = try serve(["--rail", "stripe", "--stripe-webhook-path", "/metrics"], ["PAYRAIL_STRIPE_WEBHOOK_SECRET": Self.hookSecret])
        #expect(reserved.status == 2, "\(reserved.stderr)")
        let file = directory.appendingPathComponent("secrets")
        try Data("\(Self.hookSecret)\n\(Self.nextHookSecret)\n".utf8).write(to: file)
        let fileOnly = try serve(["--rail", "fake", "--stripe-webhook-secret-file", file.path], [:])
        #expect(fileOnly.status == 2 && fileOnly.stderr.contains("--stripe-webhook-path"), "\(fileOnly.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("d").path), "nothing written")
    }
}
