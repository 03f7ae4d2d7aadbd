import Foundation
import PayRail
import Testing
@testable import StripeRail

/// What a verified event means, from the object fetched again (canned answers shaped by the OpenAPI schemas).
@Suite("Stripe webhook facts: the object is fetched again, never trusted from the event")
struct StripeWebhookFactsTests {
    static func event(_ type: String, object: String, kind: String) throws -> StripeWebhookEvent {
        let body = "{\"id\":\"evt_3QfixtureFacts01\",\"object\":\"event\",\"type\":\"\(type)\",\"data\":{\"object\":{\"id\":\"\(object)\",\"object\":\"\(kind)\",\"amount\":999999}}}"
        return try StripeWebhookEvent(body: Array(body.utf8))
    }

    @Test("charge.dispute.created: the dispute, then its charge, name the intent; the effect ends the grant")
    func dispute() async throws {
        let canned = CannedStripe([
            Fixture.answer("GET", "/v1/disputes/dp_3QfixtureDispute01", 200, "dispute_created.json"),
            Fixture.answer("GET", "/v1/charges/ch_3QfixtureCharge01", 200, "charge_succeeded.json"),
        ])
        let facts = try await TestKeys.client(canned).facts(of: Self.event("charge.dispute.created", object: "dp_3QfixtureDispute01", kind: "dispute"))
        #expect(facts.paymentIntentID == TestKeys.intent && facts.chargeID == "ch_3QfixtureCharge01")
        #expect(facts.effect == .disputed(amount: 50))
        #expect(canned.unused == 0)
    }

    @Test("payment_intent events read the intent's state now; a cancelled one ends the grant; unknown types are ignored")
    func intents() async throws {
        let succeeded = CannedStripe([Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_succeeded.json")])
        let facts = try await TestKeys.client(succeeded).facts(of: Self.event("payment_intent.canceled", object: TestKeys.intent, kind: "payment_intent"))
        #expect(facts.effect == .note, "the event says canceled, Stripe says succeeded: Stripe wins")
        let canceled = CannedStripe([Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_canceled.json")])
        let cancel = try await TestKeys.client(canceled).facts(of: Self.event("payment_intent.canceled", object: TestKeys.intent, kind: "payment_intent"))
        #expect(cancel.effect == .canceled)
        let none = CannedStripe([])
        let ignored = try await TestKeys.client(none).facts(of: Self.event("customer.created", object: "cus_1", kind: "customer"))
        #expect(ignored.effect == .note && ignored.paymentIntentID == nil && none.requests.isEmpty)
    }

    @Test("a Stripe outage while fetching is a retryable RailError (the delivery is answered 503 and comes again)")
    func outage() async throws {
        let canned = CannedStripe([Fixture.failure("GET", "/v1/charges/ch_3QfixtureCharge01", .notSent("connection refused"))])
        await #expect { _ = try await TestKeys.client(canned).facts(of: Self.event("charge.refunded", object: "ch_3QfixtureCharge01", kind: "charge")) }
            throws: { ($0 as? RailError)?.code == .unavailable }
    }
}
