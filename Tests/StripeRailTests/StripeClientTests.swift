import Foundation
import PayRail
import Testing
@testable import StripeRail

@Suite("StripeRail client: requests, idempotency, errors, secrecy")
struct StripeClientTests {
    @Test("a POST is form-encoded with Bearer key, pinned Stripe-Version and the given Idempotency-Key")
    func postShape() async throws {
        let canned = CannedStripe([Fixture.answer("POST", "/v1/payment_intents", 200, "pi_requires_payment_method.json")])
        let client = try TestKeys.client(canned)
        var form = StripeForm()
        form.add("amount", "50")
        form.add("metadata[payrail_challenge]", "a b&c=d")
        let reply = try await client.createPaymentIntent(form, idempotencyKey: "payrail-test-key")
        #expect(reply.value.id == TestKeys.intent)
        #expect(reply.replayed == false)
        #expect(reply.requestID == "req_fixture")
        let request = try #require(canned.requests.first)
        #expect(request.method == "POST")
        #expect(request.url.absoluteString == "https://api.stripe.com/v1/payment_intents")
        #expect(request.header("Authorization") == "Bearer \(TestKeys.secret)")
        #expect(request.header("Stripe-Version") == StripeClient.defaultAPIVersion)
        #expect(request.header("Idempotency-Key") == "payrail-test-key")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(String(decoding: request.body, as: UTF8.self) == "amount=50&metadata%5Bpayrail_challenge%5D=a%20b%26c%3Dd")
    }

    @Test("a GET carries no Idempotency-Key and no body")
    func getShape() async throws {
        let canned = CannedStripe([Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_succeeded.json")])
        let intent = try await TestKeys.client(canned).retrievePaymentIntent(TestKeys.intent)
        #expect(intent.status == "succeeded")
        #expect(intent.latestChargeID == "ch_3QfixtureCharge01")
        #expect(intent.amountReceived == 50)
        let request = try #require(canned.requests.first)
        #expect(request.header("Idempotency-Key") == nil)
        #expect(request.body.isEmpty)
    }

    @Test("Idempotent-Replayed: true is reported")
    func replayed() async throws {
        let canned = CannedStripe([Fixture.answer("POST", "/v1/payment_intents", 200, "pi_succeeded.json", headers: ["Idempotent-Replayed": "true"])])
        let reply = try await TestKeys.client(canned).createPaymentIntent(StripeForm(), idempotencyKey: "k")
        #expect(reply.replayed)
    }

    @Test("ids from input never reshape a request path")
    func pathInjection() async throws {
        let canned = CannedStripe([])
        let client = try TestKeys.client(canned)
        for bad in ["pi_x/../../v1/refunds", "pi_x?expand=1", "ch_not_an_intent", "", "pi_a b"] {
            await #expect(throws: StripeError.self) { _ = try await client.retrievePaymentIntent(bad) }
        }
        #expect(canned.requests.isEmpty)
    }

    @Test("idempotency keys are deterministic, distinct per operation and part, and hide their parts")
    func idempotencyKeys() {
        let a = StripeIdempotency.key("settle-spt", ["offer-1", TestKeys.spt])
        #expect(a == StripeIdempotency.key("settle-spt", ["offer-1", TestKeys.spt]))
        #expect(a != StripeIdempotency.key("settle-spt", ["offer-2", TestKeys.spt]))
        #expect(a != StripeIdempotency.key("capture", ["offer-1", TestKeys.spt]))
        // Length-prefixed parts: moving a boundary changes the key.
        #expect(StripeIdempotency.key("x", ["ab", "c"]) != StripeIdempotency.key("x", ["a", "bc"]))
        #expect(!a.contains(TestKeys.spt) && a.count <= 255)
    }

    @Test("the secret key never appears in a description, dump, error or client description")
    func secretNeverPrinted() async throws {
        let key = try StripeSecretKey(TestKeys.secret)
        var dumped = ""
        dump(key, to: &dumped)
        let canned = CannedStripe([Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 401, "error_auth.json")])
        let client = try TestKeys.client(canned)
        var texts = ["\(key)", String(reflecting: key), dumped, "\(client)", String(reflecting: client)]
        do { _ = try await client.retrievePaymentIntent(TestKeys.intent) } catch {
            texts += ["\(error)", String(reflecting: error), "\(error.railError("retrieving"))"]
        }
        #expect(texts.count == 8)
        for text in texts { #expect(!text.contains("51QfixtureSecretKey"), "leaked in: \(text)") }
        #expect(throws: StripeConfigurationError.self) { _ = try StripeSecretKey("pk_test_publishable") }
        #expect(throws: StripeConfigurationError.self) { _ = try StripeSecretKey("  \n") }
    }

    @Test("the API base is https, or plain http only to loopback")
    func apiBase() throws {
        let key = try StripeSecretKey(TestKeys.secret)
        #expect(throws: StripeConfigurationError.self) { _ = try StripeClient(apiBase: URL(string: "http://stripe.example.com")!, key: key) }
        #expect(throws: StripeConfigurationError.self) { _ = try StripeClient(apiBase: URL(string: "ftp://127.0.0.1")!, key: key) }
        _ = try StripeClient(apiBase: URL(string: "http://127.0.0.1:12111")!, key: key)
    }

    @Test("Stripe errors map to retry advice", arguments: [
        (402, "error_card_declined.json", StripeRetry.newPaymentMethod, RailError.Code.declined, RetryAdvice.unsafe),
        (400, "error_idempotency.json", .never, StripeRailCodes.idempotencyError, .unsafe),
        (409, "error_idempotency_in_use.json", .sameKey, .unavailable, .safe),
        (429, "error_rate_limit.json", .sameKey, .unavailable, .safe),
        (500, "error_api.json", .sameKey, .unavailable, .afterLookup),
        (401, "error_auth.json", .fixConfiguration, StripeRailCodes.configuration, .unsafe),
        (403, "error_auth.json", .fixConfiguration, StripeRailCodes.configuration, .unsafe),
        (404, "error_spt_missing.json", .fixConfiguration, StripeRailCodes.configuration, .unsafe),
        (400, "error_unexpected_state.json", .fixConfiguration, StripeRailCodes.configuration, .unsafe),
    ])
    func errorMapping(status: Int, fixture: String, retry: StripeRetry, code: RailError.Code, advice: RetryAdvice) async throws {
        let canned = CannedStripe([Fixture.answer("POST", "/v1/payment_intents", status, fixture)])
        let client = try TestKeys.client(canned)
        do throws(StripeError) {
            _ = try await client.createPaymentIntent(StripeForm(), idempotencyKey: "k")
            Issue.record("an error answer was accepted")
        } catch {
            #expect(error.retry == retry)
            let railError = error.railError("charging")
            #expect(railError.code == code)
            #expect(railError.retry == advice)
            #expect(railError.rail == .stripe)
            // Stripe's free-text message can quote a token back: it is never copied.
            #expect(!railError.description.contains(TestKeys.spt))
            #expect(railError.description.contains("req_fixture"))
        }
    }

    @Test("a card error carries the issuer's decline code")
    func declineCode() async throws {
        let canned = CannedStripe([Fixture.answer("POST", "/v1/payment_intents", 402, "error_card_declined.json")])
        let client = try TestKeys.client(canned)
        do throws(StripeError) {
            _ = try await client.createPaymentIntent(StripeForm(), idempotencyKey: "k")
            Issue.record("a decline was accepted")
        } catch {
            guard case .api(let api) = error else { Issue.record("not an API error: \(error)"); return }
            #expect(api.declineCode == "insufficient_funds")
            #expect(error.railError("charging").reason.contains("insufficient_funds"))
        }
    }

    @Test("transport failures: not sent is safe, no answer is a timeout to look up")
    func transportFailures() async throws {
        let canned = CannedStripe([
            Fixture.failure("POST", "/v1/payment_intents", .notSent("refused")),
            Fixture.failure("POST", "/v1/payment_intents", .noAnswer("timed out")),
        ])
        let client = try TestKeys.client(canned)
        var errors: [RailError] = []
        for _ in 0..<2 {
            do { _ = try await client.createPaymentIntent(StripeForm(), idempotencyKey: "same") } catch { errors.append(error.railError("charging")) }
        }
        #expect(errors.map(\.code) == [.unavailable, .timedOut])
        #expect(errors.map(\.retry) == [.safe, .afterLookup])
        #expect(canned.requests.map { $0.header("Idempotency-Key") } == ["same", "same"])
    }

    @Test("a 2xx answer that is not a PaymentIntent is refused")
    func wrongObject() async throws {
        let canned = CannedStripe([Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "refund_succeeded.json")])
        await #expect(throws: StripeError.self) { _ = try await TestKeys.client(canned).retrievePaymentIntent(TestKeys.intent) }
    }
}
