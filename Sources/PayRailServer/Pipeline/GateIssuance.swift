import Foundation
import PayRail
import PayRailCrypto
import PayRailStore
import PayRailWire

// Issuing a 402: rate-limit the client, prepare an offer on every rail that prices the resource,
// render the challenge set in every dialect, then save the challenge and every dialect's keys in one
// commit (one disk sync per 402, and never a challenge saved without the keys its credentials will
// be looked up by). A refused credential gets the same, with its problem told in its dialect.

extension Gate {
    /// The 402 for an unpaid request.
    func challenge(_ request: GateRequest, resource: Resource, price: Price, now: Date) async throws(GateRefusal) -> GateDecision {
        let (record, response) = try await issue(request, resource: resource, price: price, failure: nil)
        log("\(resource) 402 challenge=\(Self.short(record.id)) rails=\(record.offers.map(\.rail.rawValue).joined(separator: ","))")
        return .respond(response)
    }

    /// A refused credential's answer: a fresh challenge set carrying the refusal in its dialect.
    func refuse(_ request: GateRequest, resource: Resource, price: Price, _ refusal: GateRefusal) async throws(GateRefusal) -> GateDecision {
        let (record, response) = try await issue(request, resource: resource, price: price, failure: refusal)
        let dialect = refusal.dialect ?? .payment
        log("\(resource) refused dialect=\(dialect.rawValue) reason=\(refusal.logReason) challenge=\(refusal.challengeID.map(Self.short) ?? "-") fresh=\(Self.short(record.id))")
        return .respond(response)
    }

    /// Takes one challenge from the client's bucket. Every 402 passes here, the refused
    /// credential's included: a fresh challenge costs rails and the store the same whatever asked for
    /// it, so a client already answered 429 cannot get challenges by sending bad credentials.
    private func takeChallengeToken(_ request: GateRequest) async throws(GateRefusal) {
        guard let policy = configuration.rateLimit else { return }
        let scope = configuration.challengeRateScope
        let buckets: any RateLimitStore = scope == .shared ? configuration.store : challengeBuckets
        let decision = try await store { () async throws(StoreError) in
            try await buckets.take(1, from: "challenge|" + ClientNetwork.rateLimitKey(request.clientAddress), policy: scope.processPolicy(policy))
        }
        if case .limited(let seconds) = decision { throw GateRefusal.rateLimited(retryAfter: seconds) }
    }

    /// Prepares the offers, renders the 402 (or the refusal's 402) in every dialect, and saves the
    /// challenge with every dialect's keys, once the client's rate limit allows a challenge.
    private func issue(_ request: GateRequest, resource: Resource, price: Price, failure: GateRefusal?) async throws(GateRefusal) -> (ChallengeRecord, GateResponse) {
        try await takeChallengeToken(request)
        let createdAt = StoreTimeRounding.normalized(configuration.clock.now())
        let expiresAt = createdAt.addingTimeInterval(configuration.challengeLifetime)
        let id: String
        do { id = Base64URL.encode(try SecureRandom.bytes(count: 32)) } catch {
            throw GateRefusal.internalError("no randomness for a challenge id", logReason: "no-randomness")
        }
        let binding = requestBinding(request, resource: resource)
        let offers = try await prepareOffers(request, resource: resource, price: price, challengeID: id, createdAt: createdAt,
                                             expiresAt: expiresAt, binding: binding)
        let record = ChallengeRecord(id: id, resource: resource, offers: offers, bodyDigest: request.bodyDigest,
                                     createdAt: createdAt, expiresAt: expiresAt)
        // Bound offers carry their challenge: a 402 made only of them, in dialects that look them up by
        // their offer id, writes nothing (Pipeline/GateBoundOffers.swift) and needs only its bytes, from
        // the challenge set's template. The usual such 402 needs no dialect context either (making one
        // copies the whole configuration).
        let allBound = offers.allSatisfy { BoundOfferToken.looksBound($0.id) }
        let storesNothing = allBound && configuration.dialects.allSatisfy(\.findsBoundOffers)
        if failure == nil, storesNothing {
            let fresh = try renderFresh(record, request: request, binding: binding)
            return (record, Self.noStore(GateResponse(status: fresh.status, headers: fresh.headers, body: fresh.body)))
        }
        let rendered = try render(record, request: request, binding: binding, failure: failure)
        if !storesNothing {
            let context = GateDialectContext(configuration: configuration, now: createdAt, requestBinding: binding,
                                             x402CardNetworks: challengeSet.x402CardNetworks, health: health)
            let issued = IssuedChallenge(record: record, rendered: rendered)
            let carriesItself = allBound && configuration.dialects.allSatisfy {
                $0.findsBoundOffers || $0.keys(for: issued, context: context).isEmpty
            }
            if !carriesItself {
                let toSave = try records(for: issued, context: context)
                try await store { () async throws(StoreError) in try await configuration.store.saveChallenges(toSave) }
            }
        }
        return (record, Self.noStore(GateResponse(status: rendered.status, headers: rendered.headers, body: rendered.body)))
    }

    /// A 402 is never cached (each carries fresh challenges).
    private static func noStore(_ response: GateResponse) -> GateResponse {
        var response = response
        if response.headers["Cache-Control"] == nil { response.headers.append("Cache-Control", "no-store") }
        return response
    }

    /// One offer per rail that prices the resource; none at all is a 503 when a rail was only unreachable.
    private func prepareOffers(_ request: GateRequest, resource: Resource, price: Price, challengeID: String, createdAt: Date,
                               expiresAt: Date, binding: X402RequestBinding?) async throws(GateRefusal) -> [Offer] {
        var offers: [Offer] = []
        var lastError: RailError?
        let commitment = try? binding?.requestHashBytes()
        for (rail, stateless) in railsForOffers {
            guard let amount = price.amount(on: rail.id) else { continue }
            let charge: Charge
            do {
                charge = try Charge(amount: amount, resource: resource, description: resource.description,
                                    expiresAt: expiresAt, challengeID: challengeID, bodyDigest: request.bodyDigest,
                                    commitment: rail.id == .lightning ? commitment : nil)
            } catch {
                throw GateRefusal.internalError("the gate failed unexpectedly", logReason: "unexpected charge")
            }
            do {
                if let stateless, let bound = try statelessOffer(on: stateless, charge: charge, createdAt: createdAt) {
                    offers.append(bound)
                } else {
                    offers.append(try await rail.prepare(charge))
                }
            } catch {
                lastError = error
                log("\(resource) rail=\(rail.id) prepare-failed code=\(error.code)")
            }
        }
        guard !offers.isEmpty else {
            throw GateRefusal.railsUnavailable(retrySafe: lastError?.code == .unavailable || lastError?.code == .timedOut)
        }
        return offers
    }

    /// The challenge set this request's 402 is written with: x402 names the resource being paid for
    /// (this route's URL, not the server's).
    private func challengeSet(for record: ChallengeRecord, binding: X402RequestBinding?) -> ChallengeSet {
        var challengeSet = self.challengeSet
        challengeSet.x402Resource = X402ResourceInfo(url: origin + record.resource.path)
        challengeSet.x402RequestBinding = binding
        return challengeSet
    }

    /// A fresh 402's bytes only, in every dialect, ordered by the client's `Accept-Payment`.
    private func renderFresh(_ record: ChallengeRecord, request: GateRequest, binding: X402RequestBinding?) throws(GateRefusal) -> FreshPaymentRequired {
        do {
            return try challengeSet(for: record, binding: binding)
                .freshPaymentRequired(offers: record.offers, acceptPayment: request.headers.values("Accept-Payment"), now: record.createdAt)
        } catch {
            throw GateRefusal.internalError("the challenge could not be written", logReason: "render-failed")
        }
    }

    /// The 402 in every dialect, ordered by the client's `Accept-Payment`.
    private func render(_ record: ChallengeRecord, request: GateRequest, binding: X402RequestBinding?,
                        failure: GateRefusal?) throws(GateRefusal) -> PaymentRequiredResponse {
        let accept = request.headers.values("Accept-Payment")
        let challengeSet = challengeSet(for: record, binding: binding)
        do {
            if let failure, case .freshChallenge(let problem) = failure.form {
                return try challengeSet.failure(offers: record.offers, acceptPayment: accept, now: record.createdAt,
                                                dialect: failure.dialect ?? .payment, problem: problem, detail: failure.detail,
                                                challengeID: failure.challengeID)
            }
            return try challengeSet.paymentRequired(offers: record.offers, acceptPayment: accept, now: record.createdAt)
        } catch {
            throw GateRefusal.internalError("the challenge could not be written", logReason: "render-failed")
        }
    }

    /// The challenge and one record per key the dialects named, each holding its exact offer and the
    /// challenge id in the reserved detail. Two dialects naming one key for the same offer share it;
    /// one key for two different offers is a gate bug and issues nothing (fail closed).
    private func records(for issued: IssuedChallenge, context: GateDialectContext) throws(GateRefusal) -> [ChallengeRecord] {
        let record = issued.record
        var records = [record]
        var seen: [String: Offer] = [:]
        for dialect in configuration.dialects {
            for key in dialect.keys(for: issued, context: context) {
                if let earlier = seen[key.key] {
                    guard earlier == key.offer else {
                        throw GateRefusal.internalError("the challenge could not be written", logReason: "key-collision")
                    }
                    continue
                }
                seen[key.key] = key.offer
                var details = key.offer.details
                details[Self.challengeDetail] = record.id
                let offer = key.offer
                records.append(ChallengeRecord(
                    id: key.key, resource: record.resource,
                    offers: [Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt,
                                   id: offer.id, details: details)],
                    bodyDigest: record.bodyDigest, createdAt: record.createdAt, expiresAt: record.expiresAt))
            }
        }
        return records
    }
}
