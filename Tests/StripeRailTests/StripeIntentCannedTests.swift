import Foundation
import PayRail
import Testing
@testable import StripeRail

/// The plain PaymentIntent form against canned exchanges: what localstripe cannot show (issuer decline
/// codes, `processing`, a lost answer) and the exact requests both sides send.
@Suite("Stripe rail, PaymentIntent form, canned exchanges")
struct StripeIntentCannedTests {
    static let clock = StripeTokenCannedTests.clock
    static let intentPath = "/v1/payment_intents/\(TestKeys.intent)"

    /// The offer `prepare` makes from the canned `pi_requires_payment_method.json`.
    static func offer() async throws -> Offer {
        let canned = CannedStripe([Fixture.answer("POST", "/v1/payment_intents", 200, "pi_requires_payment_method.json")])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), payee: "acct_fixture", clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        let create = try #require(canned.requests.first)
        #expect(create.form.fields.map(\.name) == [
            "amount", "currency", "payment_method_types[]", "capture_method", "metadata[payrail_challenge]", "metadata[payrail_resource]",
            "metadata[payrail_expires_at]",
        ])
        #expect(create.form.value("metadata[payrail_challenge]") == "challenge-fixture-1" && create.form.value("capture_method") == "automatic")
        #expect(create.header("Idempotency-Key")?.hasPrefix("payrail-create-intent-") == true)
        return offer
    }

    static func payer(_ canned: CannedStripe) throws -> StripePayerRail {
        try StripePayerRail(client: try TestKeys.client(canned), paymentMethod: "pm_1QfixtureMethod01", clock: clock)
    }

    @Test("pay: look up, set the payment method, confirm, each POST with its own stable key; paying again only looks up")
    func payRequests() async throws {
        let offer = try await Self.offer()
        let canned = CannedStripe([
            Fixture.answer("GET", Self.intentPath, 200, "pi_requires_payment_method.json"),
            Fixture.answer("POST", Self.intentPath, 200, "pi_requires_payment_method.json"),
            Fixture.answer("POST", Self.intentPath + "/confirm", 200, "pi_succeeded.json"),
            Fixture.answer("GET", Self.intentPath, 200, "pi_succeeded.json"),
        ])
        let payer = try Self.payer(canned)
        let credential = try await payer.pay(offer)
        #expect(credential.payload == ["paymentIntent": TestKeys.intent])
        #expect(try await payer.pay(offer) == credential)
        let requests = canned.requests
        #expect(requests.map(\.method) == ["GET", "POST", "POST", "GET"])
        #expect(requests[1].form.fields.map(\.name) == ["payment_method"] && requests[1].form.value("payment_method") == "pm_1QfixtureMethod01")
        #expect(requests[2].body.isEmpty)
        #expect(requests[1].header("Idempotency-Key")?.hasPrefix("payrail-attach-") == true)
        #expect(requests[2].header("Idempotency-Key")?.hasPrefix("payrail-confirm-") == true)
        #expect(requests.allSatisfy { $0.header("Stripe-Version") == StripeClient.defaultAPIVersion })
    }

    @Test("a confirmation whose answer was lost is timedOut/afterLookup; paying again finds it paid without a second confirmation")
    func lostConfirmation() async throws {
        let offer = try await Self.offer()
        let canned = CannedStripe([
            Fixture.answer("GET", Self.intentPath, 200, "pi_requires_payment_method.json"),
            Fixture.answer("POST", Self.intentPath, 200, "pi_requires_payment_method.json"),
            Fixture.failure("POST", Self.intentPath + "/confirm", .noAnswer("timed out")),
            Fixture.answer("GET", Self.intentPath, 200, "pi_succeeded.json"),
        ])
        let payer = try Self.payer(canned)
        await #expect { _ = try await payer.pay(offer) } throws: {
            ($0 as? RailError)?.code == .timedOut && ($0 as? RailError)?.retry == .afterLookup
        }
        #expect(try await payer.pay(offer).payload["paymentIntent"] == TestKeys.intent)
        #expect(canned.requests.filter { $0.url.path.hasSuffix("/confirm") }.count == 1)
    }

    @Test("a card decline at confirmation is declined with the issuer's code, and the token is not in the text")
    func declinedConfirmation() async throws {
        let offer = try await Self.offer()
        let canned = CannedStripe([
            Fixture.answer("GET", Self.intentPath, 200, "pi_requires_payment_method.json"),
            Fixture.answer("POST", Self.intentPath, 200, "pi_requires_payment_method.json"),
            Fixture.answer("POST", Self.intentPath + "/confirm", 402, "error_card_declined.json"),
        ])
        let payer = try Self.payer(canned)
        do throws(RailError) {
            _ = try await payer.pay(offer)
            Issue.record("a declined card paid")
        } catch {
            #expect(error.code == .declined && error.reason.contains("insufficient_funds") && !error.description.contains(TestKeys.spt))
        }
    }

    @Test("settle judges the intent Stripe returns", arguments: [
        ("pi_succeeded.json", "granted"),
        ("pi_processing.json", StripeRailCodes.pending.rawValue),
        ("pi_declined.json", RailError.Code.declined.rawValue),
        ("pi_canceled.json", RailError.Code.expired.rawValue),
        ("pi_requires_payment_method.json", RailError.Code.invalidProof.rawValue),
        ("pi_requires_capture.json", RailError.Code.mismatch.rawValue),
    ])
    func settleStates(fixture: String, outcome: String) async throws {
        let offer = try await Self.offer()
        let canned = CannedStripe([
            Fixture.answer("GET", Self.intentPath, 200, fixture),
            Fixture.answer("GET", "/v1/charges/ch_3QfixtureCharge01", 200, "charge_succeeded.json"),
        ])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), payee: "acct_fixture", clock: Self.clock)
        let credential = Credential(rail: .stripe, offerID: offer.id, payload: ["paymentIntent": offer.id])
        do throws(RailError) {
            let settlement = try await rail.settle(credential, for: offer)
            #expect(outcome == "granted")
            #expect(settlement.reference == "ch_3QfixtureCharge01" && settlement.settledAt == Date(timeIntervalSince1970: 1_796_600_060))
        } catch {
            #expect(error.code.rawValue == outcome, "\(error)")
            #expect(!error.description.contains(TestKeys.intent))
            if fixture == "pi_declined.json" { #expect(error.reason.contains("insufficient_funds")) }
        }
    }

    @Test("an intent for another challenge, amount or currency is a mismatch; an unknown intent an invalid proof")
    func binding() async throws {
        let offer = try await Self.offer()
        let other = Offer(rail: .stripe, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt, id: offer.id,
                          details: offer.details.merging(["challenge": "another-challenge"]) { _, new in new })
        let canned = CannedStripe([
            Fixture.answer("GET", Self.intentPath, 200, "pi_succeeded.json"),
            Fixture.answer("GET", Self.intentPath, 404, "error_spt_missing.json"),
        ])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), payee: "acct_fixture", clock: Self.clock)
        let credential = Credential(rail: .stripe, offerID: offer.id, payload: ["paymentIntent": offer.id])
        await #expect { _ = try await rail.settle(credential, for: other) } throws: { ($0 as? RailError)?.code == .mismatch }
        await #expect { _ = try await rail.settle(credential, for: offer) } throws: { ($0 as? RailError)?.code == .invalidProof }
    }
}
