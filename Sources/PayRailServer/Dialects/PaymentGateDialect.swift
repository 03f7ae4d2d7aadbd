import Foundation
import PayRail
import PayRailStore
import PayRailWire

/// The IETF "Payment" authentication scheme (draft-httpauth-payment): `Authorization: Payment <credential>`
/// (or `Payment-Authorization`), answering a challenge whose id is an HMAC of its parameters.
///
/// Its credentials come back under the challenge's id (`payment:<id>`), not a rail's offer id: the
/// echoed challenge is what the scheme carries, and a method such as Stripe's has no offer id a
/// payer could echo (its credential is relabelled with the offer stored under that key). A PayRail
/// receipt token presented as `Authorization: Payment <jws>` replays.
public struct PaymentGateDialect: GateDialect {
    /// Creates the dialect.
    public init() {}

    /// The Payment scheme.
    public var wireDialect: PaymentDialect { .payment }

    /// Its credentials name their offer id, so a bound offer is found without a stored record.
    public var findsBoundOffers: Bool { true }

    /// The key of a Payment credential: the id of the challenge it echoes.
    public static func key(challengeID: String) -> String { "payment:\(challengeID)" }

    /// A receipt token in a `Payment` authorization, else the scheme's credential.
    public func read(_ request: GateRequest) throws(WireError) -> GateReading<PaymentCredential>? {
        // Over MCP the credential is a JSON object in `_meta` (draft-payment-transport-mcp-00).
        if case .mcpMeta(let meta) = request.source { return try MCPCredentialMeta.paymentCredential(in: meta).map { .credential($0) } }
        let headers = request.headers
        for field in CredentialFields.paymentSchemeFields {
            for value in headers.values(field) {
                // Every request with an Authorization field comes through here: trimmed without
                // Foundation, which copies the whole value to UTF-16 and back on Linux.
                let trimmed = value.trimmingWireWhitespace()
                guard trimmed.utf8.count > 8, trimmed.prefix(8).lowercased() == "payment " else { continue }
                let token = trimmed.dropFirst(8).trimmingWireWhitespace()
                if case .receiptToken? = try? PlainReceipt.parse(token) { return .receiptToken(token) }
            }
        }
        return try PaymentCredential.find(in: headers).map { .credential($0) }
    }

    /// One key per bound challenge written, each naming the offer that challenge carries.
    ///
    /// The challenge set writes one Payment challenge per offer, in the offers' order, leaving out
    /// (and listing as skipped) the offers it cannot carry; pairing them back needs no decoding of
    /// invoices on the 402 path. A count or method that does not line up names no key at all: its
    /// credentials are then refused as unknown, never matched to the wrong offer.
    public func keys(for issued: IssuedChallenge, context: GateDialectContext) -> [ChallengeKey] {
        let rendered = issued.rendered
        let skipped = Set(rendered.skipped.filter { $0.dialect == .payment }.map { "\($0.rail.rawValue)|\($0.offerID)" })
        let carried = rendered.offers.filter { !skipped.contains("\($0.rail.rawValue)|\($0.id)") }
        guard carried.count == rendered.paymentChallenges.count else { return [] }
        var keys: [ChallengeKey] = []
        for (offer, challenge) in zip(carried, rendered.paymentChallenges) {
            guard challenge.method == offer.rail.rawValue else { return [] }
            keys.append(ChallengeKey(key: Self.key(challengeID: challenge.id), offer: offer))
        }
        return keys
    }

    /// Realm, then the HMAC binding (an expired challenge only when it was paid before it expired),
    /// then the method's payload.
    public func lookup(_ presentation: PaymentCredential, context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup {
        let echoedID = presentation.challenge.id
        func refusal(_ type: PaymentProblemType, _ detail: String, _ reason: String) -> GateRefusal {
            GateRefusal(credential: type, detail: detail, logReason: reason, challengeID: echoedID)
        }
        guard presentation.challenge.realm == context.configuration.realm else {
            throw refusal(.invalidChallenge, "the challenge was issued by another realm", "other-realm")
        }
        do { try context.configuration.keyring.verify(presentation.challenge, now: context.now) } catch {
            guard error.code == .expired else {
                throw refusal(.invalidChallenge, "the challenge id does not match its parameters", "binding")
            }
            // A challenge already paid may come back after its lifetime (the payer lost the answer):
            // its binding is checked as of when it was consumed, and the rail decides later. The
            // consumption is the stored challenge's, found through this credential's keys.
            // A challenge that expired less than the presentation grace ago is checked as of its own
            // last valid instant: the gate then lets the rail say whether it was paid in time.
            let consumed = try await context.consumption(underKeys: Self.keys(presentation, (try? PaymentCharge.domainCredential(from: presentation))))
            // A consumption made late (within the grace) is bound as of the challenge's last valid
            // instant, like the late presentation that made it.
            let lastValid = (try? presentation.challenge.expiryDate()).map { $0.addingTimeInterval(-0.001) }
            let bindingTime = consumed.map { consumption in lastValid.map { min($0, consumption.consumedAt) } ?? consumption.consumedAt }
                ?? Self.lastValidInstant(presentation.challenge, grace: context.configuration.presentationGrace, now: context.now)
            guard let bindingTime, (try? context.configuration.keyring.verify(presentation.challenge, now: bindingTime)) != nil else {
                throw refusal(.paymentExpired, "the challenge expired; pay the fresh one", "expired")
            }
        }
        let credential: Credential
        do { credential = try PaymentCharge.domainCredential(from: presentation) } catch {
            throw refusal(.invalidPayload, "the payload is not valid for this method: \(error.reason)", "invalid-payload")
        }
        let keys = Self.keys(presentation, credential)
        // Only Stripe charges name no offer id of their own; other rails' credentials never get relabelled.
        if credential.rail == .stripe, credential.offerID == echoedID {
            return try await Self.relabelled(credential, keys: keys, echoedID: echoedID, context: context)
        }
        return CredentialLookup(key: keys[0], fallbackKeys: Array(keys.dropFirst()), rail: credential.rail, credential: credential,
                                echoedChallengeID: echoedID)
    }

    /// A credential whose request names no offer id of its own (a Stripe charge: draft-stripe-charge-00
    /// has no such field, and its `externalId` is the merchant's optional reference, neither required
    /// nor unique) is relabelled with the id of the offer this gate stored under the challenge's own
    /// key, and looked up under that key only. The challenge id is the HMAC over every parameter the
    /// payer echoed, so the stored offer is the one this gate issued with exactly this challenge: a
    /// client cannot point its credential at another offer without breaking the HMAC, and nothing a
    /// server writes in the request (an `externalId` reused across challenges) can make two challenges
    /// share an offer. `credential(_:lookup:answering:of:context:)` then checks the echo against it.
    ///
    /// A stateless 402 stored nothing under the challenge's key: its `externalId` is then a bound offer
    /// id (the terms and a MAC under this gate's secret, `Pipeline/GateBoundOffers.swift`), unique to
    /// its challenge and checked before anything is trusted, and the offer key it names is the only one
    /// looked up.
    static func relabelled(_ credential: Credential, keys: [String], echoedID: String,
                           context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup {
        let key = keys[0]
        let offerKey = keys.dropFirst().first { key in
            [BoundOfferToken.prefix, BoundOfferToken.legacyPrefix].contains { key.hasPrefix(ChallengeKey.railOfferKey(credential.rail, $0)) }
        }
        var found = try await context.keyRecord([key]).map { (key, $0) }
        if found == nil, let offerKey { found = try await context.keyRecord([offerKey]).map { (offerKey, $0) } }
        guard let (foundKey, record) = found, let stored = record.offers.first, stored.rail == credential.rail else {
            throw GateRefusal(credential: .invalidChallenge, detail: "this server issued no challenge for that offer", logReason: "unknown-challenge",
                              challengeID: echoedID)
        }
        let bound = Credential(rail: credential.rail, offerID: stored.id, payload: credential.payload, payerID: credential.payerID)
        return CredentialLookup(key: foundKey, rail: credential.rail, credential: bound, echoedChallengeID: echoedID)
    }

    /// The last instant the challenge was valid, when that is less than `grace` before `now`.
    static func lastValidInstant(_ challenge: PaymentChallenge, grace: TimeInterval, now: Date) -> Date? {
        guard let expiry = try? challenge.expiryDate(), now < expiry.addingTimeInterval(grace) else { return nil }
        return expiry.addingTimeInterval(-0.001)
    }

    /// The challenge's own key, then the rail offer key the HMAC-bound echo names: challenges issued
    /// before Payment keys existed (a gate upgraded while its 402s were out) are found by it, and
    /// `answered` still checks the credential pays exactly the offer found.
    static func keys(_ presentation: PaymentCredential, _ credential: Credential?) -> [String] {
        var keys = [key(challengeID: presentation.challenge.id)] + (credential.map { [ChallengeKey.railOfferKey($0.rail, $0.offerID)] } ?? [])
        // A Stripe charge of a stateless 402 names its bound offer as the request's `externalId`.
        if let credential, credential.rail == .stripe,
           let echoed = try? PaymentCharge.offer(from: presentation.challenge, defaultExpiry: Date(timeIntervalSince1970: 0)),
           let external = echoed.details["externalId"], BoundOfferToken.looksBound(external) {
            keys.append(ChallengeKey.railOfferKey(.stripe, external))
        }
        return keys
    }

    /// The echo is HMAC-bound; it must still say what the stored offer says: amount, payee, and for
    /// Stripe (draft-stripe-charge-00, "Challenge Binding": currency, business network, metadata) the
    /// network id, payment method types, `externalId` and metadata.
    public func credential(_ presentation: PaymentCredential, lookup: CredentialLookup, answering offer: Offer, of record: ChallengeRecord,
                           context: GateDialectContext) throws(GateRefusal) -> Credential {
        guard let credential = lookup.credential,
              let echoed = try? PaymentCharge.offer(from: presentation.challenge, defaultExpiry: context.now),
              echoed.amount == offer.amount, echoed.payee == offer.payee
        else {
            throw GateRefusal(credential: .paymentInsufficient, detail: "the credential does not pay the offered amount", logReason: "amount",
                              challengeID: record.id)
        }
        if offer.rail == .stripe {
            let bound = ["networkId", "paymentMethodTypes", "externalId"].filter { echoed.details[$0] != offer.details[$0] }
            let metadata = { (details: [String: String]) in details.filter { $0.key.hasPrefix("metadata.") } }
            guard bound.isEmpty, metadata(echoed.details) == metadata(offer.details) else {
                throw GateRefusal(credential: .invalidChallenge, detail: "the credential answers another Stripe charge than the one offered",
                                  logReason: "stripe-binding", challengeID: record.id)
            }
        }
        return credential
    }
}
