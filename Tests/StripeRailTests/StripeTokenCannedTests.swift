import Foundation
import PayRail
import Testing
@testable import StripeRail

/// The Payment scheme's `stripe` charge (Shared Payment Token), which localstripe cannot serve: canned
/// exchanges shaped by stripe/openapi, asserting what the rail sends and how it judges each answer.
@Suite("Stripe rail, Shared Payment Token form, canned exchanges")
struct StripeTokenCannedTests {
    static let clock = ManualClock(start: Date(timeIntervalSince1970: 1_796_600_000))
    static let createPath = "/v1/payment_intents"
    static let chargePath = "/v1/charges/ch_3QfixtureCharge01"

    static func rail(_ canned: CannedStripe, capture: StripeCaptureMethod = .automatic) throws -> StripePayeeRail {
        StripePayeeRail(client: try TestKeys.client(canned), form: .sharedPaymentToken(networkID: "profile_fixture_seller"),
                        captureMethod: capture, payee: "acct_fixture", clock: clock)
    }

    static func offer(_ rail: StripePayeeRail) async throws -> Offer {
        try await rail.prepare(TestKeys.charge(clock: clock))
    }

    static func token(_ offer: Offer, _ spt: String = TestKeys.spt) -> Credential {
        Credential(rail: .stripe, offerID: offer.id, payload: ["spt": spt])
    }

    @Test("prepare calls nothing and describes the charge: amount, currency, network id, method types")
    func prepareCallsNothing() async throws {
        let canned = CannedStripe([])
        let offer = try await Self.offer(try Self.rail(canned))
        #expect(canned.requests.isEmpty)
        #expect(offer.details["form"] == "spt" && offer.details["amount"] == "50" && offer.details["currency"] == "usd")
        #expect(offer.details["networkId"] == "profile_fixture_seller" && offer.details["paymentMethodTypes"] == "card")
        #expect(offer.id.hasPrefix("payrail_") && offer.payee == "acct_fixture")
    }

    @Test("settle creates and confirms one PaymentIntent with the token; the request is exactly what Stripe expects")
    func settleRequest() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_succeeded.json"),
                                   Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json")])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        let settlement = try await rail.settle(Self.token(offer), for: offer)
        #expect(settlement.reference == TestKeys.intent && settlement.kind == .final)
        #expect(settlement.settledAt == Date(timeIntervalSince1970: 1_796_600_060))  // the charge's `created`
        let post = try #require(canned.requests.first)
        #expect(post.method == "POST" && post.url.path == Self.createPath)
        #expect(post.form.fields.map(\.name) == [
            "amount", "currency", "confirm", "capture_method", "payment_method_data[shared_payment_granted_token]",
            "metadata[payrail_challenge]", "metadata[payrail_offer]",
        ])
        #expect(post.form.value("amount") == "50" && post.form.value("currency") == "usd" && post.form.value("confirm") == "true")
        #expect(post.form.value("payment_method_data[shared_payment_granted_token]") == TestKeys.spt)
        #expect(post.form.value("metadata[payrail_challenge]") == "challenge-fixture-1" && post.form.value("metadata[payrail_offer]") == offer.id)
        #expect(post.header("Stripe-Version") == StripeClient.defaultAPIVersion)
        let key = try #require(post.header("Idempotency-Key"))
        #expect(key.hasPrefix("payrail-settle-spt-") && !key.contains(TestKeys.spt))
        #expect(canned.unused == 0)

        // Presented again: alreadySettled without a Stripe call; another token: a mismatch, not a grant.
        await #expect { _ = try await rail.settle(Self.token(offer), for: offer) } throws: { ($0 as? RailError)?.code == .alreadySettled }
        await #expect { _ = try await rail.settle(Self.token(offer, "spt_1QfixtureTokenBBBB"), for: offer) } throws: {
            ($0 as? RailError)?.code == .mismatch
        }
        #expect(canned.requests.count == 2)
        #expect(try await rail.settlement(of: offer) == settlement)
    }

    @Test("a timeout, then the retry with the same Idempotency-Key replayed by Stripe: one charge, one grant")
    func timeoutThenReplay() async throws {
        let canned = CannedStripe([
            Fixture.failure("POST", Self.createPath, .noAnswer("timed out")),
            Fixture.answer("POST", Self.createPath, 200, "pi_succeeded.json", headers: ["Idempotent-Replayed": "true"]),
            Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
        ])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        do {
            _ = try await rail.settle(Self.token(offer), for: offer)
            Issue.record("a timeout settled")
        } catch {
            #expect(error.code == .timedOut && error.retry == .afterLookup)
        }
        let settlement = try await rail.settle(Self.token(offer), for: offer)
        #expect(settlement.reference == TestKeys.intent)
        let keys = canned.requests.filter { $0.method == "POST" }.map { $0.header("Idempotency-Key") }
        #expect(keys.count == 2 && keys[0] != nil && keys[0] == keys[1])
    }

    @Test("a charge sent in time whose answer was lost is retried after the expiry with the same key; a first one is refused")
    func retryAfterExpiry() async throws {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 1_796_600_000))
        let canned = CannedStripe([
            Fixture.failure("POST", Self.createPath, .noAnswer("timed out")),
            Fixture.answer("POST", Self.createPath, 200, "pi_succeeded.json", headers: ["Idempotent-Replayed": "true"]),
            Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
        ])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), form: .sharedPaymentToken(networkID: "profile_fixture_seller"),
                                   payee: "acct_fixture", clock: clock)
        let offer = try await rail.prepare(TestKeys.charge(clock: clock))
        let late = try await rail.prepare(TestKeys.charge(challenge: "challenge-fixture-2", clock: clock))
        await #expect { _ = try await rail.settle(Self.token(offer), for: offer) } throws: { ($0 as? RailError)?.code == .timedOut }
        clock.advance(by: 600)
        await #expect { _ = try await rail.settle(Self.token(late), for: late) } throws: { ($0 as? RailError)?.code == .expired }
        let settlement = try await rail.settle(Self.token(offer), for: offer)
        #expect(settlement.reference == TestKeys.intent)
        let keys = canned.requests.filter { $0.method == "POST" }.map { $0.header("Idempotency-Key") }
        #expect(keys.count == 2 && keys[0] == keys[1])
    }

    @Test("100 concurrent presentations of one token: one Stripe charge, one grant")
    func concurrentPresentations() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_succeeded.json"),
                                   Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json")], delay: .milliseconds(20))
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        let credential = Self.token(offer)
        let codes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    do throws(RailError) { _ = try await rail.settle(credential, for: offer); return "granted" } catch { return error.code.rawValue }
                }
            }
            var all: [String] = []
            for await code in group { all.append(code) }
            return all
        }
        #expect(codes.filter { $0 == "granted" }.count == 1)
        #expect(codes.filter { $0 == "alreadySettled" }.count == 99)
        #expect(canned.requests.filter { $0.method == "POST" }.count == 1)
    }

    @Test("a decline carries Stripe's decline code, never the token, and consumes nothing")
    func decline() async throws {
        let canned = CannedStripe([
            Fixture.answer("POST", Self.createPath, 402, "error_card_declined.json"),
            Fixture.answer("POST", Self.createPath, 200, "pi_succeeded.json"),
            Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
        ])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        do {
            _ = try await rail.settle(Self.token(offer), for: offer)
            Issue.record("a declined token settled")
        } catch {
            #expect(error.code == .declined && error.retry == .unsafe)
            #expect(error.reason.contains("insufficient_funds") && !error.description.contains(TestKeys.spt))
        }
        // Another token for the same offer is charged (the decline consumed nothing).
        _ = try await rail.settle(Self.token(offer, "spt_1QfixtureTokenBBBB"), for: offer)
    }

    @Test("answers that do not grant", arguments: [
        (402, "pi_declined.json", RailError.Code.declined),
        (200, "pi_declined.json", RailError.Code.declined),
        (200, "pi_processing.json", StripeRailCodes.pending),
        (200, "pi_requires_capture.json", RailError.Code.mismatch),
        (400, "error_idempotency.json", StripeRailCodes.idempotencyError),
        (400, "error_spt_missing.json", RailError.Code.invalidProof),
        (500, "error_api.json", RailError.Code.unavailable),
        (429, "error_rate_limit.json", RailError.Code.unavailable),
        (401, "error_auth.json", StripeRailCodes.configuration),
    ])
    func refusals(status: Int, fixture: String, code: RailError.Code) async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, status, fixture)])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        do {
            _ = try await rail.settle(Self.token(offer), for: offer)
            Issue.record("\(fixture) granted")
        } catch {
            #expect(error.code == code, "\(error)")
            #expect(error.code.permittedAdvice.contains(error.retry))
            #expect(!error.description.contains(TestKeys.spt))
        }
        #expect(await rail.settled.settlement(for: offer.id) == nil)
    }

    @Test("processing answers pending with advice to look up later")
    func processing() async throws {
        let canned = CannedStripe([Fixture.answer("POST", Self.createPath, 200, "pi_processing.json")])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        await #expect { _ = try await rail.settle(Self.token(offer), for: offer) } throws: {
            ($0 as? RailError)?.code == StripeRailCodes.pending && ($0 as? RailError)?.retry == .afterLookup
        }
    }

    @Test("requires_action: the intent is cancelled (with its own Idempotency-Key) and the token refused")
    func requiresAction() async throws {
        let canned = CannedStripe([
            Fixture.answer("POST", Self.createPath, 200, "pi_requires_action.json"),
            Fixture.answer("POST", "/v1/payment_intents/\(TestKeys.intent)/cancel", 200, "pi_canceled.json"),
        ])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        await #expect { _ = try await rail.settle(Self.token(offer), for: offer) } throws: {
            ($0 as? RailError)?.code == .declined && (($0 as? RailError)?.reason.contains("3-D Secure") ?? false)
        }
        let cancel = try #require(canned.requests.last)
        #expect(cancel.url.path.hasSuffix("/cancel") && cancel.header("Idempotency-Key")?.hasPrefix("payrail-cancel-action-") == true)
        #expect(canned.unused == 0)
    }

    @Test("manual capture: requires_capture grants an authorization; finish captures exactly the amount")
    func manualCapture() async throws {
        let canned = CannedStripe([
            Fixture.answer("POST", Self.createPath, 200, "pi_requires_capture.json"),
            Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
            Fixture.answer("POST", "/v1/payment_intents/\(TestKeys.intent)/capture", 200, "pi_captured.json"),
        ])
        let rail = try Self.rail(canned, capture: .manual)
        let offer = try await Self.offer(rail)
        let settlement = try await rail.settle(Self.token(offer), for: offer)
        guard case .authorization = settlement.kind else { Issue.record("not an authorization"); return }
        #expect(canned.requests.first?.form.value("capture_method") == "manual")
        try await rail.finish(settlement, served: true)
        let capture = try #require(canned.requests.last)
        #expect(capture.form.value("amount_to_capture") == "50" && capture.header("Idempotency-Key")?.hasPrefix("payrail-capture-") == true)
    }

    @Test("settlement(of:) finds a lost settlement through Stripe's search by the offer in metadata")
    func lookupBySearch() async throws {
        let rail0 = try Self.rail(CannedStripe([]))
        let offer = try await Self.offer(rail0)
        let query = "metadata%5B%27payrail_offer%27%5D%3A%27\(offer.id)%27"
        let canned = CannedStripe([
            .init(method: "GET", path: "/v1/payment_intents/search?query=\(query)", answer: .success(StripeHTTPResponse(
                status: 200, body: Array("{\"object\":\"search_result\",\"data\":[\(String(decoding: Fixture.bytes("pi_succeeded.json"), as: UTF8.self))],\"has_more\":false}".utf8)))),
            Fixture.answer("GET", Self.chargePath, 200, "charge_succeeded.json"),
        ])
        let found = try await Self.rail(canned).settlement(of: offer)
        #expect(found?.reference == TestKeys.intent && found?.amount == offer.amount)
    }

    @Test("malformed tokens are refused before Stripe is asked")
    func malformed() async throws {
        let canned = CannedStripe([])
        let rail = try Self.rail(canned)
        let offer = try await Self.offer(rail)
        for bad in ["", "pm_card_visa", "spt_a/../b", "spt x"] {
            await #expect { _ = try await rail.settle(Self.token(offer, bad), for: offer) } throws: { ($0 as? RailError)?.code == .malformed }
        }
        #expect(canned.requests.isEmpty)
    }

    @Test("the payer issues a token limited to the offer (amount, currency, expiry, seller) with a stable key")
    func payerIssuesToken() async throws {
        let canned = CannedStripe([Fixture.answer("POST", "/v1/shared_payment/issued_tokens", 200, "spt_issued.json")])
        let offer = try await Self.offer(try Self.rail(CannedStripe([])))
        let payer = try StripePayerRail(client: try TestKeys.client(canned), paymentMethod: "pm_1QfixtureMethod01", clock: Self.clock)
        guard case .payable(let quote) = await payer.quote(offer) else { Issue.record("not payable"); return }
        #expect(quote.total == offer.amount)
        let credential = try await payer.pay(offer)
        #expect(credential.payload == ["spt": TestKeys.spt] && credential.offerID == offer.id)
        let request = try #require(canned.requests.first)
        #expect(request.form.fields.map(\.name) == [
            "payment_method", "usage_limits[currency]", "usage_limits[max_amount]", "usage_limits[expires_at]",
            "seller_details[network_business_profile]",
        ])
        #expect(request.form.value("usage_limits[max_amount]") == "50" && request.form.value("usage_limits[currency]") == "usd")
        #expect(request.form.value("usage_limits[expires_at]") == "1796600300")
        #expect(request.form.value("seller_details[network_business_profile]") == "profile_fixture_seller")
        #expect(request.header("Idempotency-Key")?.hasPrefix("payrail-issue-spt-") == true)
        #expect(throws: StripeConfigurationError.self) { _ = try StripePayerRail(client: try TestKeys.client(canned), paymentMethod: "4242424242424242") }
    }
}

@Suite("Stripe payer rail, offers as the Payment scheme's wire gives them")
struct StripeWireOfferTests {
    @Test("a Payment-scheme stripe charge (networkId, no form, no amount detail) is paid with a token")
    func wireOffer() async throws {
        let clock = StripeTokenCannedTests.clock
        let canned = CannedStripe([Fixture.answer("POST", "/v1/shared_payment/issued_tokens", 200, "spt_issued.json")])
        let payer = try StripePayerRail(client: try TestKeys.client(canned), paymentMethod: "pm_1QfixtureMethod01", clock: clock)
        let offer = Offer(rail: .stripe, amount: try Money(amount: 50, unit: .usd), payee: "acct_fixture",
                          expiresAt: clock.now().addingTimeInterval(300), id: "challenge-id-from-the-wire",
                          details: ["networkId": "profile_fixture_seller", "paymentMethodTypes": "card", "externalId": "payrail_x"])
        let credential = try await payer.pay(offer)
        #expect(credential.payload["spt"] == TestKeys.spt)
        // A plain-form offer without its PaymentIntent is refused, not paid as a token.
        let broken = Offer(rail: .stripe, amount: offer.amount, payee: "acct_fixture", expiresAt: offer.expiresAt, id: "pi_3QfixtureIntent01",
                           details: ["form": "intent"])
        await #expect { _ = try await payer.pay(broken) } throws: { ($0 as? RailError)?.code == .malformed }
        #expect(canned.requests.count == 1)
    }
}

@Suite("Stripe refunds, canned exchanges")
struct StripeRefundCannedTests {
    @Test("a refund asks for the charge, then POSTs /v1/refunds with the amount and a key made of the settlement, amount and reference")
    func refundRequest() async throws {
        let clock = StripeTokenCannedTests.clock
        let canned = CannedStripe([
            Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_succeeded.json"),
            Fixture.answer("GET", "/v1/charges/ch_3QfixtureCharge01", 200, "charge_succeeded.json"),
            Fixture.answer("POST", "/v1/refunds", 200, "refund_succeeded.json"),
            Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_succeeded.json"),
            Fixture.answer("GET", "/v1/charges/ch_3QfixtureCharge01", 200, "charge_succeeded.json"),
            Fixture.answer("POST", "/v1/refunds", 200, "refund_succeeded.json", headers: ["Idempotent-Replayed": "true"]),
        ])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), payee: "acct_fixture", clock: clock)
        let settlement = Settlement(rail: .stripe, offerID: TestKeys.intent, reference: "ch_3QfixtureCharge01",
                                    amount: try Money(amount: 50, unit: .usd), settledAt: clock.now())
        let refund = try await rail.refund(settlement, reference: "receipt-1")
        _ = try await rail.refund(settlement, reference: "receipt-1")
        #expect(refund.id == "re_3QfixtureRefund01" && refund.amount == 50)
        let posts = canned.requests.filter { $0.method == "POST" }
        #expect(posts.count == 2)
        #expect(posts[0].form.fields.map(\.name) == ["payment_intent", "amount"])
        #expect(posts[0].form.value("payment_intent") == TestKeys.intent && posts[0].form.value("amount") == "50")
        #expect(posts[0].header("Idempotency-Key") == posts[1].header("Idempotency-Key"))
        #expect(posts[0].header("Idempotency-Key") != StripeIdempotency.key("refund", [TestKeys.intent, "50", "usd", "receipt-2"]))
    }
}
