import Foundation
import PayRail
import PayRailCrypto
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// A payee rail shaped like `StripePayeeRail` at the wire (the same offer ids and details, the same
/// checks before Stripe is asked: the credential's rail, its offer id, the proof's member and shape),
/// with Stripe itself replaced by "every well-formed proof pays once". The gate's part of the Stripe
/// forms is what is tested here; the rail itself runs against localstripe in `StripeRailTests`.
final class StripeShapedRail: PayeeRail, @unchecked Sendable {
    let id: RailID = .stripe
    let token: Bool
    private let lock = NSLock()
    private var settledOffers: [String] = []

    init(token: Bool) { self.token = token }

    var settled: [String] { lock.withLock { settledOffers } }

    var capabilities: RailCapabilities {
        let usd = (try? AmountLimit(minimum: Money(amount: 50, unit: .usd), maximum: Money(amount: 99_999_999, unit: .usd))).map { [$0] } ?? []
        return RailCapabilities(limits: usd, settlementTime: .seconds(2), refundable: false, feeModel: .payeePaysProcessingFee)
    }

    func prepare(_ charge: Charge) async throws(RailError) -> Offer {
        let hash = String(Hex.encode(SHA256.hash(Array(("stripe-offer\u{0}" + charge.challengeID).utf8))).prefix(32))
        var details = ["amount": String(charge.amount.amount), "currency": charge.amount.unit.code, "challenge": charge.challengeID,
                       "network": "stripe"]
        if token {
            details.merge(["form": "spt", "networkId": "profile_test", "paymentMethodTypes": "card", "externalId": "payrail_" + hash]) { $1 }
            return Offer(rail: id, amount: charge.amount, payee: "stripe", expiresAt: charge.expiresAt, id: "payrail_" + hash, details: details)
        }
        details.merge(["form": "intent", "paymentIntent": "pi_" + hash, "clientSecret": "pi_\(hash)_secret_x"]) { $1 }
        return Offer(rail: id, amount: charge.amount, payee: "stripe", expiresAt: charge.expiresAt, id: "pi_" + hash, details: details)
    }

    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        guard credential.rail == id, credential.offerID == offer.id else { throw RailError(.mismatch, "the credential pays another offer", rail: id) }
        let proof = token ? credential.payload["spt"] : credential.payload["paymentIntent"]
        guard let proof, proof.hasPrefix(token ? "spt_" : "pi_"), token || proof == offer.id else {
            throw RailError(.malformed, "no proof of this form", rail: id)
        }
        let first = lock.withLock { () -> Bool in
            guard !settledOffers.contains(offer.id) else { return false }
            settledOffers.append(offer.id)
            return true
        }
        guard first else { throw RailError(.alreadySettled, "already settled", rail: id) }
        return Settlement(rail: id, offerID: offer.id, reference: token ? "pi_charged" : "ch_" + offer.id.dropFirst(3), amount: offer.amount,
                          settledAt: Date(timeIntervalSince1970: 1_800_000_000), kind: .final)
    }
}

@Suite("The gate takes both Stripe forms: SPT in the Payment scheme, pi_ in X-Receipt; x402 advertises neither")
struct GateStripeFormsTests {
    func world(token: Bool) async throws -> (GateWorld, Gate, StripeShapedRail) {
        let world = try await GateWorld.make()
        let rail = StripeShapedRail(token: token)
        var configuration = world.configuration
        configuration.rails = [rail]
        configuration.pricing = try PricingTable(parsing: ["GET /premium=0.50usd"], rails: [.stripe])
        return (world, Gate(configuration: configuration), rail)
    }

    @Test("a Shared Payment Token answering a Payment challenge pays the offer stored with that challenge (the rail's own offer id)")
    func sharedPaymentTokenInPaymentScheme() async throws {
        let (world, gate, rail) = try await world(token: true)
        let (_, first) = try await world.challenge(gate: gate)
        let (_, second) = try await world.challenge(gate: gate)
        let read = try world.offer(second, .payment)
        // The request names no offer id: the agent knows the offer by the challenge id.
        guard case .payment(let challenge) = read.answer else { Issue.record("not a Payment offer"); return }
        #expect(read.offer.id == challenge.id && read.offer.details["externalId"]?.hasPrefix("payrail_") == true)
        let fields = try read.credentialFields(for: Credential(rail: .stripe, offerID: read.offer.id, payload: ["spt": "spt_test_1"]))
        let pass = try #require(await gate.handle(world.request("/premium", fields)).pass, "\(world.logs.lines)")
        let grant = try #require(pass.grant)
        // The offer paid is the second challenge's, not the first's.
        #expect(grant.settlement.offerID == read.offer.details["externalId"])
        #expect(grant.settlement.offerID != (try world.offer(first, .payment)).offer.details["externalId"])
        #expect(rail.settled == [grant.settlement.offerID])
        try await gate.complete(pass, response: resourceBody)
    }

    @Test("a Payment credential for Stripe whose challenge this gate did not store is refused before the rail")
    func unknownChallengeRefused() async throws {
        let (world, gate, rail) = try await world(token: true)
        let (_, reading) = try await world.challenge(gate: gate)
        let read = try world.offer(reading, .payment)
        guard case .payment(let challenge) = read.answer else { Issue.record("not a Payment offer"); return }
        // Rebind the same parameters under another HMAC-valid id: the gate never issued it.
        let forged = try world.configuration.keyring.bind(PaymentChallenge(
            realm: challenge.realm, method: challenge.method, intent: challenge.intent, request: challenge.request,
            expires: PaymentTimestamp.format(world.clock.now().addingTimeInterval(100)), digest: challenge.digest,
            description: "other", opaque: challenge.opaque, header: challenge.header))
        let credential = PaymentCharge.credential(answering: forged, with: Credential(rail: .stripe, offerID: forged.id, payload: ["spt": "spt_x"]))
        let answer = await gate.handle(world.request("/premium", HTTPFields([("Authorization", try credential.headerValue())])))
        #expect(answer.pass == nil && answer.response?.status == 402)
        #expect(rail.settled.isEmpty)
    }

    @Test("an echo that names another Stripe charge than the stored offer (network id) is refused even when its key names that offer")
    func echoMustMatchTheStoredOffer() async throws {
        let (world, gate, rail) = try await world(token: true)
        let (_, reading) = try await world.challenge(gate: gate)
        let read = try world.offer(reading, .payment)
        guard case .payment(let challenge) = read.answer else { Issue.record("not a Payment offer"); return }
        // A validly bound challenge for another network id, filed (as an inconsistent store could) under
        // the stored offer: only the echo check stands between it and the rail.
        var request = try ChargeRequest.decode(challenge.request)
        request.methodDetails?["networkId"] = .string("profile_other")
        let other = try world.configuration.keyring.bind(PaymentChallenge(
            realm: challenge.realm, method: challenge.method, intent: challenge.intent, request: try request.encoded(),
            expires: challenge.expires, digest: challenge.digest, description: challenge.description, opaque: challenge.opaque,
            header: challenge.header))
        let stored = try #require(try await world.store.challenge(id: PaymentGateDialect.key(challengeID: challenge.id)))
        try await world.store.saveChallenge(ChallengeRecord(id: PaymentGateDialect.key(challengeID: other.id), resource: stored.resource,
                                                            offers: stored.offers, createdAt: stored.createdAt, expiresAt: stored.expiresAt))
        let credential = PaymentCharge.credential(answering: other, with: Credential(rail: .stripe, offerID: other.id, payload: ["spt": "spt_x"]))
        let answer = await gate.handle(world.request("/premium", HTTPFields([("Authorization", try credential.headerValue())])))
        #expect(answer.pass == nil && answer.response?.status == 402)
        let body = String(decoding: answer.response?.body ?? [], as: UTF8.self)
        #expect(body.contains("another Stripe charge"), "\(body)")
        #expect(rail.settled.isEmpty)
    }

    @Test("X-Receipt: pi_… pays the offer whose PaymentIntent it is; a client secret or an unknown intent names no offer")
    func paymentIntentInXReceipt() async throws {
        let (world, gate, rail) = try await world(token: false)
        let (_, reading) = try await world.challenge(gate: gate)
        let read = try world.offer(reading, .plain)
        #expect(read.offer.id.hasPrefix("pi_"))
        for wrong in [read.offer.id + "_secret_x", "pi_unknown", "spt_x"] {
            let answer = await gate.handle(world.request("/premium", HTTPFields([("X-Receipt", wrong)])))
            #expect(answer.pass == nil && answer.response?.status == 402, "\(wrong)")
        }
        #expect(rail.settled.isEmpty)
        let fields = try read.credentialFields(for: Credential(rail: .stripe, offerID: read.offer.id, payload: ["paymentIntent": read.offer.id]))
        #expect(fields["X-Receipt"] == read.offer.id)
        let pass = try #require(await gate.handle(world.request("/premium", fields)).pass, "\(world.logs.lines)")
        #expect(pass.grant?.settlement.offerID == read.offer.id && rail.settled == [read.offer.id])
        try await gate.complete(pass, response: resourceBody)
    }

    @Test("x402 carries no card entry for a PaymentIntent or Shared Payment Token offer (neither settles {token, paymentId})")
    func noCardEntryForOtherForms() async throws {
        for token in [false, true] {
            let (world, gate, _) = try await world(token: token)
            let (response, reading) = try await world.challenge(gate: gate)
            #expect(response.headers["PAYMENT-REQUIRED"] == nil, "token=\(token)")
            #expect(!reading.offers.contains { $0.dialect == .x402 }, "token=\(token)")
        }
    }
}
