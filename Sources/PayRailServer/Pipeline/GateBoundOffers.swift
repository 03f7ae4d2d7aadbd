import Foundation
import PayRail
import PayRailStore
import PayRailWire

// Stateless 402s (issue 18). On a rail that can make them (`StatelessOfferRail`), an offer's id is a
// bound offer id: the challenge's terms plus a MAC under the gate's rotating secret
// (`BoundOfferToken`, `ChallengeIDKeyring.offerMAC`). A 402 whose offers are all bound writes nothing:
// no challenge record, no keys, and (with the per-process rate scope) no bucket. Every dialect's
// credential names its offer id, so when a key is not in the store the gate rebuilds the challenge
// and the exact offer from the id, after checking the MAC and that the rail named is one of this
// gate's stateless rails; the rest of the pipeline (resource, body, expiry, price, dialect checks,
// the atomic consume keyed by the challenge id) runs unchanged. What a credential is checked against
// is therefore exactly what the gate issued: the terms cannot be altered without breaking the MAC,
// and the offer is rebuilt by the same function that built it.
//
// Several gates verify each other's offers when they share the keyring (the same secret files); the
// previous secret keeps verifying until `acceptUntil`, as for the Payment scheme's challenge ids.

extension Gate {
    /// The offer for `charge` on a stateless rail: a bound offer id and the rail's offer for it, or
    /// `nil` when this gate makes no stateless offers on it.
    func statelessOffer(on stateless: any StatelessOfferRail, charge: Charge, createdAt: Date) throws(RailError) -> Offer? {
        guard configuration.statelessOffers, stateless.makesStatelessOffers else { return nil }
        // The terms (the charge's, this rail's payee, `createdAt`) are written once, after the MAC's
        // version tag, straight from the charge; the id is composed from the terms in that buffer.
        guard let input = BoundOfferToken.macInput(for: charge, payee: stateless.statelessPayee, createdAt: createdAt),
              let mac = configuration.keyring.offerMAC(input.bytes)
        else { return nil }
        let boundID = BoundOfferToken.compose(input, mac: mac)
        // A very long resource path makes a very long id; such a challenge is stored instead.
        guard boundID.utf8.count <= Self.boundOfferIDMaximum else { return nil }
        return try stateless.statelessOffer(charge, boundID: boundID)
    }

    /// The longest bound offer id the gate makes (every dialect carries one this long).
    public static let boundOfferIDMaximum = 1024
}

extension GateDialectContext {
    /// The key record and the challenge a bound offer key stands for: `key` is `offer:<rail>:<id>`,
    /// the rail is one of this gate's stateless rails, the id is a bound offer id whose MAC verifies
    /// under a live secret, and the rail rebuilds an offer with exactly the bound terms. `nil` otherwise
    /// (then the key is simply unknown).
    func boundChallenge(forKey key: String) -> (keyRecord: ChallengeRecord, challenge: ChallengeRecord)? {
        guard configuration.statelessOffers, key.hasPrefix("offer:") else { return nil }
        let parts = key.dropFirst("offer:".count).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let token = BoundOfferToken(String(parts[1])),
              configuration.keyring.verifyOfferMAC(token.macInput, mac: token.mac, now: now),
              let rail = configuration.rails.first(where: { $0.id.rawValue == parts[0] }) as? any StatelessOfferRail,
              rail.makesStatelessOffers
        else { return nil }
        let terms = token.terms
        guard let charge = try? Charge(amount: terms.amount, resource: terms.resource, description: terms.resource.description,
                                       expiresAt: terms.expiresAt, challengeID: terms.challengeID, bodyDigest: terms.bodyDigest),
              let offer = try? rail.statelessOffer(charge, boundID: String(parts[1])),
              offer.payee == terms.payee, offer.amount == terms.amount
        else { return nil }
        let challenge = ChallengeRecord(id: terms.challengeID, resource: terms.resource, offers: [offer], bodyDigest: terms.bodyDigest,
                                        createdAt: terms.createdAt, expiresAt: terms.expiresAt)
        var details = offer.details
        details[Gate.challengeDetail] = terms.challengeID
        let keyed = Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt, id: offer.id, details: details)
        let keyRecord = ChallengeRecord(id: key, resource: terms.resource, offers: [keyed], bodyDigest: terms.bodyDigest,
                                        createdAt: terms.createdAt, expiresAt: terms.expiresAt)
        return (keyRecord, challenge)
    }
}

/// Where a gate counts challenge issuance for its rate limit.
///
/// A shared count costs a store write per 402, which is what stateless 402s avoid; a count per
/// process costs nothing, and several gates split the limit between them: with `gates: n` each
/// process allows `1/n` of the burst (at least one) and refills `n` times slower, so a client spread
/// over the `n` gates gets at most the configured rate in all, and a client that reaches only one
/// gate gets `1/n` of it (stricter, never looser). A restart forgets the counts (a fresh full bucket).
public enum ChallengeRateScope: Hashable, Sendable {
    /// One bucket per client in the gate store, shared by every gate on it: exact, one write per 402.
    case shared
    /// One bucket per client in this process, sized for `gates` gates sharing the traffic.
    case perProcess(gates: Int)

    /// The policy one process applies for a configured `policy`.
    func processPolicy(_ policy: TokenBucketPolicy) -> TokenBucketPolicy {
        guard case .perProcess(let gates) = self, gates > 1 else { return policy }
        let capacity = max(1, policy.capacity / gates)
        // `refill` per `interval * gates` is the share; when that refill exceeds the smaller bucket,
        // the same rate is written as `capacity` tokens per proportionally shorter interval.
        let refillTokens = min(policy.refillTokens, capacity)
        let interval = policy.refillInterval * gates * refillTokens / policy.refillTokens
        return (try? TokenBucketPolicy(capacity: capacity, refillTokens: refillTokens, per: interval)) ?? policy
    }
}
