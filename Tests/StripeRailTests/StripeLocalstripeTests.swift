import Foundation
import PayRail
import PayRailTestPeers
import PayRailTesting
import Testing
@testable import StripeRail

/// The Stripe rail against a real local Stripe server (localstripe 1.15.10): the shared rail contract
/// in the plain PaymentIntent form, and the states localstripe can produce (3-D Secure, a decline,
/// manual capture, cancellation, refunds). Shared Payment Tokens are not in localstripe: see
/// StripeTokenCannedTests.
@Suite("Stripe rail against localstripe", .serialized)
struct StripeLocalstripeTests {
    static func client(_ peer: LocalStripePeer) throws -> StripeClient {
        try StripeClient(apiBase: peer.baseURL, key: StripeSecretKey("sk_test_payrail_localstripe"), timeout: .seconds(20))
    }

    static func charge(lifetime: TimeInterval, amount: Int64 = 50) -> Charge {
        guard let money = try? Money(amount: amount, unit: .usd), let resource = try? Resource(parsing: "GET /premium"),
              let charge = try? Charge(amount: money, resource: resource, expiresAt: Date().addingTimeInterval(lifetime),
                                       challengeID: UUID().uuidString)
        else { preconditionFailure("constant charge") }
        return charge
    }

    static func rails(_ peer: LocalStripePeer, capture: StripeCaptureMethod = .automatic, paymentMethod: String = "pm_card_visa") throws
        -> (StripePayeeRail, StripePayerRail) {
        let payee = StripePayeeRail(client: try client(peer), captureMethod: capture, payee: "acct_localstripe")
        let payer = try StripePayerRail(client: try client(peer), paymentMethod: paymentMethod)
        return (payee, payer)
    }

    /// A card payment method made in localstripe the way a card holder's wallet would (test setup only:
    /// the rails themselves only ever send `pm_…` ids).
    static func paymentMethod(_ peer: LocalStripePeer, card: String) async throws -> String {
        let (status, body) = try await peer.raw("POST", "/v1/payment_methods", form: [
            ("type", "card"), ("card[number]", card), ("card[exp_month]", "12"), ("card[exp_year]", "2034"), ("card[cvc]", "123"),
        ])
        let object = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        guard status == 200, let id = object?["id"] as? String else {
            throw LocalStripePeer.Failure(description: "localstripe made no payment method (\(status)): \(String(decoding: body, as: UTF8.self))")
        }
        return id
    }

    static func status(_ peer: LocalStripePeer, _ intent: String) async throws -> String {
        let (_, body) = try await peer.raw("GET", "/v1/payment_intents/\(intent)")
        return ((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["status"] as? String) ?? "(none)"
    }

    @Test("the rail contract suite, plain form, every check", arguments: RailContractSuite.Check.allCases)
    func contract(_ check: RailContractSuite.Check) async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        // 100 racers: one intent, one grant (`concurrentSettlesSettleOnce`). Short charges live 4 s.
        let suite = RailContractSuite(
            payee: payee, payer: payer, makeCharge: { Self.charge(lifetime: 300) }, clock: SystemClock(),
            expiry: .wait(makeShortCharge: { Self.charge(lifetime: 4) }, maximumWait: .seconds(20)), concurrentSettles: 100)
        do { try await suite.run(check) } catch {
            Issue.record("\(error)\n\(peer.logTail(lines: 10))")
        }
    }

    @Test("100 concurrent presentations of one pi_: one grant, and the intent has one charge in localstripe")
    func concurrentPresentations() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        let offer = try await payee.prepare(Self.charge(lifetime: 300))
        let credential = try await payer.pay(offer)
        let codes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    do throws(RailError) { _ = try await payee.settle(credential, for: offer); return "granted" } catch { return error.code.rawValue }
                }
            }
            var all: [String] = []
            for await code in group { all.append(code) }
            return all
        }
        #expect(codes.filter { $0 == "granted" }.count == 1 && codes.filter { $0 == "alreadySettled" }.count == 99)
        let (_, body) = try await peer.raw("GET", "/v1/charges?limit=100")
        let charges = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]] ?? []
        #expect(charges.filter { $0["payment_intent"] as? String == offer.id }.count == 1)
    }

    @Test("settlement(of:) after a restart (a fresh rail) finds the same settlement from Stripe alone; an unpaid offer finds nil")
    func lookupAfterRestart() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        let offer = try await payee.prepare(Self.charge(lifetime: 300))
        let unpaid = try await payee.prepare(Self.charge(lifetime: 300))
        let settlement = try await payee.settle(try await payer.pay(offer), for: offer)
        let (restarted, _) = try Self.rails(peer)
        #expect(try await restarted.settlement(of: offer) == settlement)
        #expect(try await restarted.settlement(of: unpaid) == nil)
    }

    @Test("a PaymentIntent refunded before it was presented buys nothing (it stays succeeded; its charge says refunded)")
    func refundedIntentIsRefused() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        let offer = try await payee.prepare(Self.charge(lifetime: 300))
        let credential = try await payer.pay(offer)
        let (status, body) = try await peer.raw("POST", "/v1/refunds", form: [("payment_intent", offer.id)])
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        #expect(try await Self.status(peer, offer.id) == "succeeded")
        await #expect { _ = try await payee.settle(credential, for: offer) } throws: { ($0 as? RailError)?.code == .mismatch }
    }

    @Test("zero-decimal jpy: 50 yen is the amount Stripe gets, whole")
    func yen() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        guard let money = try? Money(amount: 50, unit: .jpy), let resource = try? Resource(parsing: "GET /premium"),
              let charge = try? Charge(amount: money, resource: resource, expiresAt: Date().addingTimeInterval(300), challengeID: UUID().uuidString)
        else { preconditionFailure("constant charge") }
        let offer = try await payee.prepare(charge)
        let created = try await StripeClient.retrieve(Self.client(peer), offer.id)
        #expect(created.amount == 50 && created.currency == "jpy")
        let settlement = try await payee.settle(try await payer.pay(offer), for: offer)
        #expect(settlement.amount == money)
        await #expect { _ = try await payee.prepare(charge.with(amount: try Money(amount: 49, unit: .jpy))) } throws: {
            ($0 as? RailError)?.code == .unsupported
        }
    }

    @Test("prepare creates one PaymentIntent bound to the challenge; pay confirms it with the agent's pm_")
    func prepareAndPay() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        let charge = Self.charge(lifetime: 300, amount: 1234)
        let offer = try await payee.prepare(charge)
        #expect(offer.id.hasPrefix("pi_") && offer.details["paymentIntent"] == offer.id)
        #expect(offer.details["clientSecret"]?.hasPrefix(offer.id + "_secret_") == true)
        #expect(offer.details["amount"] == "1234" && offer.details["currency"] == "usd" && offer.details["challenge"] == charge.challengeID)
        let created = try await StripeClient.retrieve(Self.client(peer), offer.id)
        #expect(created.metadata["payrail_challenge"] == charge.challengeID && created.status == "requires_payment_method")
        let credential = try await payer.pay(offer)
        #expect(try await Self.status(peer, offer.id) == "succeeded")
        // Paying again finds the intent paid and returns the same proof, without confirming again.
        #expect(try await payer.pay(offer) == credential)
        let settlement = try await payee.settle(credential, for: offer)
        #expect(settlement.reference.hasPrefix("ch_") && settlement.kind == .final)
    }

    @Test("requires_action (3-D Secure card): the payer refuses, the payee cancels the intent and refuses")
    func threeDSecure() async throws {
        let peer = try await LocalStripePeer.shared()
        let method = try await Self.paymentMethod(peer, card: "4000002500003155")
        let (payee, payer) = try Self.rails(peer, paymentMethod: method)
        let offer = try await payee.prepare(Self.charge(lifetime: 300))
        await #expect { _ = try await payer.pay(offer) } throws: { ($0 as? RailError)?.code == .declined }
        #expect(try await Self.status(peer, offer.id) == "requires_action")
        let credential = Credential(rail: .stripe, offerID: offer.id, payload: ["paymentIntent": offer.id])
        do {
            _ = try await payee.settle(credential, for: offer)
            Issue.record("an intent that requires action was granted")
        } catch {
            #expect(error.code == .declined && error.reason.contains("3-D Secure"), "\(error)")
        }
        #expect(try await Self.status(peer, offer.id) == "canceled")
    }

    @Test("a declined card (4000000000000341): the payer and the payee say declined, with Stripe's code")
    func decline() async throws {
        let peer = try await LocalStripePeer.shared()
        let method = try await Self.paymentMethod(peer, card: "4000000000000341")
        let (payee, payer) = try Self.rails(peer, paymentMethod: method)
        let offer = try await payee.prepare(Self.charge(lifetime: 300))
        await #expect { _ = try await payer.pay(offer) } throws: { ($0 as? RailError)?.code == .declined }
        let credential = Credential(rail: .stripe, offerID: offer.id, payload: ["paymentIntent": offer.id])
        do {
            _ = try await payee.settle(credential, for: offer)
            Issue.record("a declined intent was granted")
        } catch {
            #expect(error.code == .declined && error.reason.contains("card_declined"), "\(error)")
        }
    }

    @Test("discard cancels an unpaid intent, and refuses (alreadySettled) to cancel a paid one")
    func discard() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        let unpaid = try await payee.prepare(Self.charge(lifetime: 300))
        try await payee.discard(unpaid)
        try await payee.discard(unpaid)  // the gate may discard twice
        #expect(try await Self.status(peer, unpaid.id) == "canceled")
        let paid = try await payee.prepare(Self.charge(lifetime: 300))
        _ = try await payer.pay(paid)
        await #expect { try await payee.discard(paid) } throws: { ($0 as? RailError)?.code == .alreadySettled }
        #expect(try await Self.status(peer, paid.id) == "succeeded")
        // A presentation after the discard of an unpaid offer is refused.
        let late = Credential(rail: .stripe, offerID: unpaid.id, payload: ["paymentIntent": unpaid.id])
        await #expect { _ = try await payee.settle(late, for: unpaid) } throws: { ($0 as? RailError)?.code == .expired }
    }

    @Test("manual capture: requires_capture grants an authorization; finish captures (served) or voids (not served), twice safely")
    func manualCapture() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer, capture: .manual)
        let served = try await payee.prepare(Self.charge(lifetime: 300))
        let settlement = try await payee.settle(try await payer.pay(served), for: served)
        guard case .authorization = settlement.kind else { Issue.record("not an authorization: \(settlement.kind)"); return }
        #expect(try await Self.status(peer, served.id) == "requires_capture")
        try await payee.finish(settlement, served: true)
        #expect(try await Self.status(peer, served.id) == "succeeded")
        try await payee.finish(settlement, served: true)

        let unserved = try await payee.prepare(Self.charge(lifetime: 300))
        let held = try await payee.settle(try await payer.pay(unserved), for: unserved)
        try await payee.finish(held, served: false)
        #expect(try await Self.status(peer, unserved.id) == "canceled")
    }

    @Test("an automatic-capture rail refuses an intent that is only authorized")
    func authorizationNotGrantedWhenCapturing() async throws {
        let peer = try await LocalStripePeer.shared()
        let (manual, payer) = try Self.rails(peer, capture: .manual)
        let (automatic, _) = try Self.rails(peer)
        let offer = try await manual.prepare(Self.charge(lifetime: 300))
        let credential = try await payer.pay(offer)
        await #expect { _ = try await automatic.settle(credential, for: offer) } throws: { ($0 as? RailError)?.code == .mismatch }
    }

    @Test("refunds: in parts, never more than was captured, an authorization not at all")
    func refund() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try Self.rails(peer)
        let offer = try await payee.prepare(Self.charge(lifetime: 300, amount: 500))
        let settlement = try await payee.settle(try await payer.pay(offer), for: offer)
        let first = try await payee.refund(settlement, amount: try Money(amount: 200, unit: .usd), reference: "ticket-1")
        #expect(first.amount == 200 && first.currency == "usd" && first.status == "succeeded")
        // 300 are left: 400 is refused before Stripe is asked (localstripe would refund it).
        await #expect { _ = try await payee.refund(settlement, amount: try Money(amount: 400, unit: .usd), reference: "ticket-2") } throws: {
            ($0 as? RailError)?.code == .unsupported
        }
        await #expect { _ = try await payee.refund(settlement, amount: try Money(amount: 100, unit: .eur), reference: "ticket-2") } throws: {
            ($0 as? RailError)?.code == .unsupported
        }
        let rest = try await payee.refund(settlement, reference: "ticket-3")
        #expect(rest.amount == 300)
        await #expect { _ = try await payee.refund(settlement, reference: "ticket-4") } throws: { ($0 as? RailError)?.code == .unsupported }

        // A partial capture leaves only what was captured to refund.
        let (manual, _) = try Self.rails(peer, capture: .manual)
        let held = try await manual.prepare(Self.charge(lifetime: 300, amount: 500))
        let authorization = try await manual.settle(try await payer.pay(held), for: held)
        await #expect { _ = try await manual.refund(authorization, reference: "ticket-5") } throws: { ($0 as? RailError)?.code == .unsupported }
        _ = try await Self.client(peer).capturePaymentIntent(held.id, amountToCapture: 300, idempotencyKey: "capture-300")
        let captured = Settlement(rail: .stripe, offerID: held.id, reference: authorization.reference, amount: authorization.amount,
                                  settledAt: authorization.settledAt)
        await #expect { _ = try await manual.refund(captured, amount: try Money(amount: 301, unit: .usd), reference: "ticket-6") } throws: {
            ($0 as? RailError)?.code == .unsupported
        }
        #expect(try await manual.refund(captured, reference: "ticket-7").amount == 300)
    }

    @Test("the launcher writes no /tmp/localstripe.pickle")
    func noPickle() async throws {
        let pickle = "/tmp/localstripe.pickle"
        let before = try? FileManager.default.attributesOfItem(atPath: pickle)[.modificationDate] as? Date
        let peer = try await LocalStripePeer.shared()
        _ = try await Self.rails(peer).0.prepare(Self.charge(lifetime: 300))
        let after = try? FileManager.default.attributesOfItem(atPath: pickle)[.modificationDate] as? Date
        #expect(before == after, "localstripe wrote its pickle")
    }
}

extension StripeClient {
    /// A retrieve for tests (the typed-throws method, wrapped for `try await` in an expression).
    static func retrieve(_ client: StripeClient, _ id: String) async throws -> StripePaymentIntent {
        try await client.retrievePaymentIntent(id)
    }
}
