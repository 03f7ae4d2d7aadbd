import Foundation
import PayRailTestPeers
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `payrail serve --rail stripe` refunding, on its own, a payment it could not serve, against a
/// real localstripe: the maintenance round finds the expired challenge's PaymentIntent paid, records
/// it without a grant and refunds it through Stripe's refund API, once.
@Suite("payrail serve: automatic refunds on Stripe, against localstripe", .serialized)
struct AutomaticRefundStripeTests {
    func json(_ data: Data) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:] }

    @Test("a PaymentIntent paid but never presented is found paid when its challenge is purged and refunded once; it buys nothing afterwards")
    func paidNeverPresentedIsRefunded() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let server = try ServeProcess.stripe(api: stripe.baseURL,
                                             extra: ["--challenge-lifetime", "2", "--presentation-grace", "1", "--purge-interval", "1"])
        defer { server.kill() }
        let url = server.url("/premium")
        let challenge = try await exchange(url)
        #expect(challenge.status == 402)
        let payment = json(Data(challenge.body))["payment"] as? [String: Any]
        let intent = try #require((payment?["details"] as? [String: String])?["paymentIntent"], "\(challenge.text)")
        // The payer pays (set the card, confirm), then never presents it: it crashed, or gave up.
        _ = try await stripe.raw("POST", "/v1/payment_intents/\(intent)", form: [("payment_method", "pm_card_visa")])
        let (confirmed, body) = try await stripe.raw("POST", "/v1/payment_intents/\(intent)/confirm")
        #expect(confirmed == 200, "\(String(decoding: body, as: UTF8.self))")
        let charge = try #require((json(body)["latest_charge"] as? String) ?? ((json(body)["latest_charge"] as? [String: Any])?["id"] as? String))

        // Past the challenge's 2 s and its 1 s grace, a round (every second) finds it paid and refunds it.
        var refunded = 0
        for _ in 0..<150 where refunded == 0 {
            try await Task.sleep(for: .milliseconds(100))
            refunded = json(try await stripe.raw("GET", "/v1/charges/\(charge)").body)["amount_refunded"] as? Int ?? 0
        }
        #expect(refunded == 50, "localstripe shows \(refunded) refunded; serve log:\n\(server.log)")
        #expect(server.log.contains("automatic refunds of unserved payments: 1 refunded"), "\(server.log)")

        // Later rounds refund nothing more, and the payment buys nothing.
        try await Task.sleep(for: .milliseconds(2_500))
        let after = json(try await stripe.raw("GET", "/v1/charges/\(charge)").body)
        #expect(after["amount_refunded"] as? Int == 50)
        let refunds = ((after["refunds"] as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        #expect(refunds.count == 1, "one refund at Stripe: \(refunds)")
        #expect(server.log.components(separatedBy: "automatic refunds of unserved payments").count == 2, "one round refunded: \(server.log)")
        let presented = try await exchange(url, headers: HTTPFields([("X-Receipt", intent)]))
        #expect(presented.status != 200, "a refunded, never granted payment was served: \(presented.status) \(presented.text)")
        #expect(!server.log.contains(StripeFlowTests.secret), "the key was printed")
        #expect(server.stop() == 0)
    }

    @Test("a PaymentIntent confirmed after its offer expired, then presented: 402 saying it is refunded, and refunded once")
    func paidAfterExpiryIsRefunded() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        // The default 24 h presentation grace: the late presentation, not the purge, finds this one.
        let server = try ServeProcess.stripe(api: stripe.baseURL, extra: ["--challenge-lifetime", "2", "--purge-interval", "1"])
        defer { server.kill() }
        let url = server.url("/premium")
        let challenge = try await exchange(url)
        let payment = json(Data(challenge.body))["payment"] as? [String: Any]
        let intent = try #require((payment?["details"] as? [String: String])?["paymentIntent"], "\(challenge.text)")
        try await Task.sleep(for: .milliseconds(3_200))  // the offer expires; the intent is not cancelled within the grace
        _ = try await stripe.raw("POST", "/v1/payment_intents/\(intent)", form: [("payment_method", "pm_card_visa")])
        let (confirmed, body) = try await stripe.raw("POST", "/v1/payment_intents/\(intent)/confirm")
        #expect(confirmed == 200, "\(String(decoding: body, as: UTF8.self))")
        let charge = try #require((json(body)["latest_charge"] as? String) ?? ((json(body)["latest_charge"] as? [String: Any])?["id"] as? String))

        let late = try await exchange(url, headers: HTTPFields([("X-Receipt", intent)]))
        #expect(late.status == 402, "\(late.status) \(late.text)")
        #expect(late.text.contains("came after the challenge expired") && late.text.contains("refunded automatically"), "\(late.text)")
        var refunded = 0
        for _ in 0..<100 where refunded == 0 {
            try await Task.sleep(for: .milliseconds(100))
            refunded = json(try await stripe.raw("GET", "/v1/charges/\(charge)").body)["amount_refunded"] as? Int ?? 0
        }
        #expect(refunded == 50, "localstripe shows \(refunded) refunded; serve log:\n\(server.log)")
        try await Task.sleep(for: .milliseconds(2_000))
        let refunds = ((json(try await stripe.raw("GET", "/v1/charges/\(charge)").body)["refunds"] as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        #expect(refunds.count == 1, "one refund at Stripe: \(refunds)")
        #expect(try await exchange(url, headers: HTTPFields([("X-Receipt", intent)])).status != 200)
        #expect(server.stop() == 0)
    }
}
