import Foundation
import PayRail
import PayRailCrypto
import Testing
@testable import StripeRail

/// x402 card `auth-capture` (x402-foundation/x402 specs/schemes/auth-capture/scheme_auth_capture_card.md,
/// v0.2.0 DRAFT) against canned exchanges shaped by stripe/openapi (`payment_intent`, `charge` and
/// `error` schemas; see Fixtures/README.md): what the rail sends to authorize, capture and void, and how
/// it judges each answer. The same flow runs against localstripe in StripeLocalstripeTests and end to
/// end in PayRailCLITests/StripeCardFlowTests.
@Suite("Stripe rail, x402 card auth-capture, canned exchanges")
struct StripeCardCannedTests {
    static let createPath = "/v1/payment_intents"
    static let chargePath = "/v1/charges/ch_3QfixtureCharge01"
    static let capturePath = "/v1/payment_intents/pi_3QfixtureIntent01/capture"
    static let cancelPath = "/v1/payment_intents/pi_3QfixtureIntent01/cancel"
    /// The `paymentId` the fixtures' metadata carries (the draft's own example, §4.4).
    static let paymentID = "pay_7d5d747be160e280504c099d984bcfe0"
    static let token = "pm_1QfixtureMethod01"

    static func rail(_ canned: CannedStripe, clock: ManualClock) throws -> StripePayeeRail {
        // `.automatic` is asked for and ignored: the card form always authorizes first.
        StripePayeeRail(client: try TestKeys.client(canned), form: .x402Card, captureMethod: .automatic, payee: "acct_fixture", clock: clock)
    }

    static func clock() -> ManualClock { ManualClock(start: Date(timeIntervalSince1970: 1_796_600_000)) }

    static func card(_ offer: Offer, token: String = Self.token, paymentID: String = Self.paymentID) -> Credential {
        Credential(rail: .stripe, offerID: offer.id, payload: ["token": token, "paymentId": paymentID])
    }

    @Test("prepare calls nothing; the offer is the card form, named after its challenge, with psp stripe and flow escrow")
    func prepareCallsNothing() async throws {
        let canned = CannedStripe([])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        #expect(rail.captureMethod == .manual)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        #expect(canned.requests.isEmpty)
        // The fixtures' `metadata.payrail_offer` is this id: SHA-256 of "stripe-card-offer", NUL, the challenge.
        #expect(offer.id == "payrail_0959d23dd25518c65b6ba42916a122b8" && offer.payee == "acct_fixture")
        #expect(offer.details["form"] == "auth-capture" && offer.details["psp"] == "stripe" && offer.details["paymentFlow"] == "escrow")
        #expect(offer.details["amount"] == "50" && offer.details["currency"] == "usd" && offer.details["challenge"] == "challenge-fixture-1")
    }

    @Test("authorize: one POST creating and confirming a manual-capture intent with the token, bound by metadata; requires_capture grants an authorization")
    func authorizeRequest() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_card_requires_capture.json"),
                                   Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json")])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        let settlement = try await rail.settle(Self.card(offer), for: offer)
        #expect(settlement.reference == TestKeys.intent && settlement.amount == offer.amount)
        guard case .authorization = settlement.kind else { Issue.record("not an authorization: \(settlement.kind)"); return }
        let post = try #require(canned.requests.first)
        #expect(post.method == "POST" && post.url.path == Self.createPath)
        #expect(post.form.fields.map(\.name) == [
            "amount", "currency", "confirm", "capture_method", "payment_method_types[]", "payment_method",
            "metadata[payrail_challenge]", "metadata[payrail_offer]", "metadata[payrail_payment_id]",
        ])
        #expect(post.form.value("amount") == "50" && post.form.value("currency") == "usd" && post.form.value("confirm") == "true")
        #expect(post.form.value("capture_method") == "manual" && post.form.value("payment_method_types[]") == "card")
        #expect(post.form.value("payment_method") == Self.token)
        #expect(post.form.value("metadata[payrail_challenge]") == "challenge-fixture-1" && post.form.value("metadata[payrail_offer]") == offer.id)
        #expect(post.form.value("metadata[payrail_payment_id]") == Self.paymentID)
        #expect(post.header("Stripe-Version") == StripeClient.defaultAPIVersion)
        #expect(post.header("Content-Type") == "application/x-www-form-urlencoded")
        // The key is payTo and paymentId only (Stripe refuses it with other parameters), never the token.
        let key = try #require(post.header("Idempotency-Key"))
        #expect(key == StripeIdempotency.key("authorize-card", ["acct_fixture", Self.paymentID]))
        #expect(key.hasPrefix("payrail-authorize-card-") && !key.contains(Self.token) && !key.contains(Self.paymentID))
        #expect(canned.unused == 0)

        // The same payment again: already settled, no Stripe call.
        await #expect { _ = try await rail.settle(Self.card(offer), for: offer) } throws: { ($0 as? RailError)?.code == .alreadySettled }
        #expect(canned.requests.count == 2)
    }

    @Test("a Shared Payment Token as the card token goes in payment_method_data[shared_payment_granted_token], never payment_method")
    func sharedPaymentTokenAsCardToken() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_card_requires_capture.json"),
                                   Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json")])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        _ = try await rail.settle(Self.card(offer, token: TestKeys.spt), for: offer)
        let post = try #require(canned.requests.first)
        #expect(post.form.value("payment_method_data[shared_payment_granted_token]") == TestKeys.spt)
        #expect(post.form.value("payment_method") == nil && post.form.value("capture_method") == "manual")
    }

    @Test("capture: finish(served) captures at most the authorized amount; void: finish(not served) cancels the hold")
    func captureAndVoid() async throws {
        for served in [true, false] {
            let canned = CannedStripe([
                Fixture.answer("POST", Self.createPath, 200, "pi_card_requires_capture.json"),
                Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
                served ? Fixture.answer("POST", Self.capturePath, 200, "pi_card_captured.json")
                    : Fixture.answer("POST", Self.cancelPath, 200, "pi_card_canceled.json"),
            ])
            let clock = Self.clock()
            let rail = try Self.rail(canned, clock: clock)
            let offer = try await rail.prepare(TestKeys.charge(clock: clock))
            let settlement = try await rail.settle(Self.card(offer), for: offer)
            try await rail.finish(settlement, served: served)
            #expect(canned.unused == 0 && canned.requests.count == 3)
            let last = try #require(canned.requests.last)
            #expect(last.method == "POST" && last.header("Stripe-Version") == StripeClient.defaultAPIVersion)
            if served {
                #expect(last.url.path == Self.capturePath)
                #expect(last.form.fields.map(\.name) == ["amount_to_capture"] && last.form.value("amount_to_capture") == "50")
                #expect(last.header("Idempotency-Key") == StripeIdempotency.key("capture", [TestKeys.intent, "50"]))
            } else {
                #expect(last.url.path == Self.cancelPath && last.form.fields.isEmpty)
                #expect(last.header("Idempotency-Key") == StripeIdempotency.key("void", [TestKeys.intent]))
            }
        }
    }

    @Test("the same paymentId with another token, or for another offer or amount, is refused before Stripe is called")
    func duplicatePaymentIDRefused() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_card_requires_capture.json"),
                                   Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json")])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        _ = try await rail.settle(Self.card(offer), for: offer)
        // Another token on the settled offer.
        await #expect { _ = try await rail.settle(Self.card(offer, token: "pm_1QfixtureOther02"), for: offer) } throws: {
            ($0 as? RailError)?.code == StripeCardCodes.paymentIdReused
        }
        // The same paymentId for another challenge at another amount, with the same or another token.
        let dearer = try await rail.prepare(TestKeys.charge(challenge: "challenge-fixture-2", amount: 75, clock: clock))
        for token in [Self.token, "pm_1QfixtureOther02"] {
            await #expect { _ = try await rail.settle(Self.card(dearer, token: token), for: dearer) } throws: { error in
                let rail = error as? RailError
                return rail?.code == StripeCardCodes.paymentIdReused && rail?.reason.contains("paymentId") == true
                    && rail?.reason.contains(token) == false
            }
        }
        // The same paymentId for another challenge at the same amount is still another payment.
        let same = try await rail.prepare(TestKeys.charge(challenge: "challenge-fixture-3", clock: clock))
        await #expect { _ = try await rail.settle(Self.card(same), for: same) } throws: { ($0 as? RailError)?.code == StripeCardCodes.paymentIdReused }
        #expect(canned.requests.count == 2, "a refused duplicate reached Stripe")
    }

    @Test("after a restart, Stripe's idempotency_error on the payTo+paymentId key is the duplicate refusal, not a bug report")
    func duplicateAcrossRestartRefusedByStripe() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 400, "error_idempotency.json")])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        await #expect { _ = try await rail.settle(Self.card(offer, token: "pm_1QfixtureOther02"), for: offer) } throws: { error in
            let rail = error as? RailError
            return rail?.code == StripeCardCodes.paymentIdReused && rail?.retry == .unsafe
        }
        let key = try #require(canned.requests.first?.header("Idempotency-Key"))
        #expect(key == StripeIdempotency.key("authorize-card", ["acct_fixture", Self.paymentID]))
    }

    @Test("a timeout, then the same payment again: Stripe replays the first authorization under the same key; one hold, one grant")
    func timeoutThenReplay() async throws {
        let canned = CannedStripe([
            Fixture.failure("POST", Self.createPath, .noAnswer("timed out")),
            Fixture.answer("POST", Self.createPath, 200, "pi_card_requires_capture.json", headers: ["Idempotent-Replayed": "true"]),
            Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
        ])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        await #expect { _ = try await rail.settle(Self.card(offer), for: offer) } throws: {
            ($0 as? RailError)?.code == .timedOut && ($0 as? RailError)?.retry == .afterLookup
        }
        // Past the expiry the retry is still sent: it was first sent in time.
        clock.advance(by: 600)
        let settlement = try await rail.settle(Self.card(offer), for: offer)
        #expect(settlement.reference == TestKeys.intent)
        let keys = canned.requests.filter { $0.method == "POST" }.compactMap { $0.header("Idempotency-Key") }
        #expect(keys.count == 2 && Set(keys).count == 1)
        #expect(canned.requests[0].body == canned.requests[1].body)
    }

    @Test("a first presentation after the expiry authorizes nothing")
    func expiredOfferAuthorizesNothing() async throws {
        let canned = CannedStripe([])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        clock.advance(by: 301)
        await #expect { _ = try await rail.settle(Self.card(offer), for: offer) } throws: { ($0 as? RailError)?.code == .expired }
        #expect(canned.requests.isEmpty)
    }

    @Test("requires_action (3-D Secure): the intent is cancelled and the payment refused as authenticationRequired")
    func requiresActionCancels() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_card_requires_action.json"),
                                   Fixture.answer("POST", Self.cancelPath, 200, "pi_card_action_canceled.json")])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        await #expect { _ = try await rail.settle(Self.card(offer), for: offer) } throws: { error in
            let rail = error as? RailError
            return rail?.code == StripeCardCodes.cardAuthenticationRequired && rail?.reason.contains("card_authentication_required") == true
        }
        let cancel = try #require(canned.requests.last)
        #expect(cancel.method == "POST" && cancel.url.path == Self.cancelPath)
        #expect(cancel.header("Idempotency-Key") == StripeIdempotency.key("cancel-action", [TestKeys.intent]))
        #expect(canned.unused == 0)
    }

    @Test("a decline is refused with Stripe's decline code in the reason, and the message (which quotes the token) is not copied")
    func declineCarriesDeclineCode() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 402, "error_card_declined.json")])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        await #expect { _ = try await rail.settle(Self.card(offer), for: offer) } throws: { error in
            let rail = error as? RailError
            return rail?.code == StripeCardCodes.cardDeclined && rail?.reason.contains("insufficient_funds") == true
                && rail?.reason.contains("card_declined") == true && rail?.description.contains("spt_") == false
                && rail?.retry == .unsafe
        }
    }

    @Test("malformed payloads are refused without a Stripe call: a card number, an unknown token kind, a short paymentId")
    func malformedPayloads() async throws {
        let canned = CannedStripe([])
        let clock = Self.clock()
        let rail = try Self.rail(canned, clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        for (token, paymentID) in [("4242424242424242", Self.paymentID), ("tok_visa", Self.paymentID), (Self.token, "pay_short"),
                                   (Self.token, "pay_with space_0000000000"), (Self.token, "")] {
            await #expect { _ = try await rail.settle(Self.card(offer, token: token, paymentID: paymentID), for: offer) } throws: {
                ($0 as? RailError)?.code == .malformed
            }
        }
        #expect(canned.requests.isEmpty)
    }

    @Test("payer: a card entry is paid with the saved payment method and a paymentId stable per offer; no Stripe call")
    func payerPresentsToken() async throws {
        let canned = CannedStripe([])
        let clock = Self.clock()
        let payer = try StripePayerRail(client: try TestKeys.client(canned), paymentMethod: Self.token, clock: clock)
        let details = ["cardNetwork": "visa", "psp": "stripe", "paymentFlow": "escrow"]
        let offer = Offer(rail: .stripe, amount: try Money(amount: 50, unit: .usd), payee: "acct_fixture",
                          expiresAt: clock.now().addingTimeInterval(300), id: "x402-offer-one", details: details)
        guard case .payable(let quote) = await payer.quote(offer) else { Issue.record("the card offer was not payable"); return }
        #expect(quote.total == offer.amount)
        let first = try await payer.pay(offer)
        let again = try await payer.pay(offer)
        #expect(first.payload["token"] == Self.token && first.offerID == offer.id)
        let paymentID = try #require(first.payload["paymentId"])
        #expect(again.payload["paymentId"] == paymentID && paymentID.hasPrefix("pay_") && paymentID.count == 36)
        let other = Offer(rail: .stripe, amount: offer.amount, payee: "acct_fixture", expiresAt: offer.expiresAt, id: "x402-offer-two", details: details)
        #expect(try await payer.pay(other).payload["paymentId"] != paymentID)
        // What the payer presents, the payee accepts as a well-formed payload.
        #expect(throws: Never.self) { _ = try StripePayeeRail.cardPayload(first) }
        #expect(canned.requests.isEmpty)
        clock.advance(by: 301)
        await #expect { _ = try await payer.pay(offer) } throws: { ($0 as? RailError)?.code == .expired }
        // Another PSP is not this rail's to pay.
        var adyen = details
        adyen["psp"] = "adyen"
        let foreign = Offer(rail: .stripe, amount: offer.amount, payee: "acct_fixture", expiresAt: clock.now().addingTimeInterval(300),
                            id: "x402-offer-three", details: adyen)
        await #expect { _ = try await payer.pay(foreign) } throws: { ($0 as? RailError)?.code == .unsupported }
    }
}
