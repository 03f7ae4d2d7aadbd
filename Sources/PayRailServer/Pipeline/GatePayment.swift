import Foundation
import PayRail
import PayRailStore
import PayRailWire

// Paying: a dialect's credential is bound to the challenge and exact offer its key names, checked
// (resource, body, expiry, price, then the dialect's own checks), and settled on the offer's rail at
// most once. A challenge already consumed, presented in a single-use dialect, is answered before the
// rail by the hash of the credential that won it (`Pipeline/GateSingleUse.swift`: the same bytes
// replay, others are refused). Otherwise (L402's reusable tokens, consumptions recorded before the
// hash existed) the rail must first prove this credential is the payment behind it (it answers
// `.alreadySettled` only for the same valid proof), then `afterLostRace` answers; never a second charge.

extension Gate {
    /// Resolves a credential to the challenge and offer it pays, then settles, consumes and grants.
    func pay<Dialect: GateDialect>(
        _ presentation: Dialect.Presentation, with dialect: Dialect, request: GateRequest, resource: Resource, price: Price,
        slots: [IdempotencySlot], context: GateDialectContext
    ) async throws(GateRefusal) -> GateDecision {
        let lookup = try await dialect.lookup(presentation, context: context)
        let (record, offer) = try await answered(lookup, context: context)
        // Past the presentation grace nothing is granted or settled, but a payment the rail already
        // took is recorded and refunded (`GateAutomaticRefundsLate.swift`), so the credential is still read.
        let consumed: ConsumedChallenge?
        var late: GateRefusal?
        do { consumed = try await check(record, offer: offer, request: request, resource: resource, price: price, now: context.now) } catch {
            guard error.logReason == "expired" else { throw error }
            (consumed, late) = (nil, error)
        }
        let credential: Credential
        do {
            credential = try dialect.credential(presentation, lookup: lookup, answering: offer, of: record, context: context)
        } catch {
            if let late { throw late }
            var refusal = error
            if refusal.challengeID == nil { refusal.challengeID = record.id }
            throw refusal
        }
        // Whatever a dialect built, the rail settles only the offer the key named.
        guard credential.rail == offer.rail, credential.offerID == offer.id else {
            throw GateRefusal(credential: offer.rail == .lightning ? .Lightning.unknownChallenge : .invalidChallenge,
                              detail: "this server issued no challenge for that offer", logReason: "credential-offer-mismatch",
                              challengeID: record.id)
        }
        let credentialHash = Self.credentialHash(request, resource: resource, dialect: dialect.wireDialect, credential: credential)
        let paid = PaidOffer(record: record, offer: offer, resource: resource, dialect: dialect.wireDialect,
                             echoedChallengeID: lookup.echoedChallengeID, slots: slots, credentialHash: credentialHash,
                             singleUse: dialect.proofIsSingleUse)
        if let late { throw await presentedLate(paying: paid, refusal: late) }
        // A proof already granted as single use (whatever dialect presents it now): replay by its exact
        // bytes or refuse, before any rail call.
        if let consumed,
           let decision = try await presentedAgain(consumed, record: record, credentialHash: credentialHash, dialect: dialect.wireDialect,
                                                   resource: resource) {
            return decision
        }
        guard let settlement = try await settle(credential, paying: paid) else {
            return try await afterLostRace(record: record, resource: resource, reference: nil, dialect: paid.dialect,
                                           credentialHash: credentialHash, singleUse: paid.singleUse)
        }
        return try await grant(settlement, paying: paid) { dialect.grantFields(presentation, settlement: $0, context: context) }
    }

    /// The challenge and the exact offer the credential's key names.
    private func answered(_ lookup: CredentialLookup, context: GateDialectContext) async throws(GateRefusal) -> (ChallengeRecord, Offer) {
        let keys = [lookup.key] + lookup.fallbackKeys
        let key = try await context.keyRecord(keys)
        if let key, let offer = key.offers.first, let challengeID = offer.details[Self.challengeDetail],
           let record = try await challengeRecord(challengeID, keyRecord: key, context: context),
           lookup.credential.map({ $0.rail == offer.rail && $0.offerID == offer.id }) ?? true {
            var details = offer.details
            details[Self.challengeDetail] = nil
            return (record, Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt,
                                  id: offer.id, details: details))
        }
        let type: PaymentProblemType = lookup.rail == .lightning ? .Lightning.unknownChallenge : .invalidChallenge
        throw GateRefusal(credential: type, detail: "this server issued no challenge for that offer", logReason: "unknown-challenge",
                          challengeID: lookup.echoedChallengeID)
    }

    /// The challenge a bound offer key carries (read from the key, not the store: a stateless 402
    /// stored none), else the stored one.
    private func challengeRecord(_ challengeID: String, keyRecord: ChallengeRecord,
                                 context: GateDialectContext) async throws(GateRefusal) -> ChallengeRecord? {
        if let bound = context.boundChallenge(forKey: keyRecord.id) {
            return bound.challenge.id == challengeID ? bound.challenge : nil
        }
        return try await store({ () async throws(StoreError) in try await configuration.store.challenge(id: challengeID) })
    }

    /// What every dialect's credential must satisfy: this resource and body, and, unless the
    /// challenge was already consumed (then only the rail's word can follow), unexpired and still
    /// this price. A challenge that expired less than `presentationGrace` ago is still presented
    /// to the rail, which settles only a payment made while the offer was valid: a payment made in
    /// time is never lost, and its price is the one it paid. Returns the challenge's consumption, if any.
    private func check(_ record: ChallengeRecord, offer: Offer, request: GateRequest, resource: Resource, price: Price,
                       now: Date) async throws(GateRefusal) -> ConsumedChallenge? {
        func refusal(_ type: PaymentProblemType, _ detail: String, _ reason: String) -> GateRefusal {
            GateRefusal(credential: type, detail: detail, logReason: reason, challengeID: record.id)
        }
        guard record.resource == resource else {
            throw refusal(.invalidChallenge, "the credential pays for \(record.resource), not \(resource)", "other-resource")
        }
        guard record.bodyDigest == nil || record.bodyDigest == request.bodyDigest else {
            throw refusal(.invalidChallenge, "the credential pays for another request body", "other-body")
        }
        let consumed = try await store { () async throws(StoreError) in
            try await configuration.store.consumedChallenge(id: record.id)
        }
        let alreadyConsumed = consumed != nil
        let inTime = now < record.expiresAt && now < offer.expiresAt
        let withinGrace = now < min(record.expiresAt, offer.expiresAt).addingTimeInterval(configuration.presentationGrace)
        guard alreadyConsumed || inTime || withinGrace else {
            throw refusal(.paymentExpired, "the challenge expired; pay the fresh one", "expired")
        }
        guard alreadyConsumed || !inTime || price.amount(on: offer.rail) == offer.amount else {
            throw refusal(.paymentInsufficient, "the price changed; pay the fresh challenge", "price-changed")
        }
        return consumed
    }

    /// Settles on the offer's rail: the settlement, or `nil` when the rail says it was settled
    /// before and this gate has it recorded (a concurrent or earlier request won).
    private func settle(_ credential: Credential, paying paid: PaidOffer) async throws(GateRefusal) -> Settlement? {
        let offer = paid.offer
        let payeeRail = try rail(offer.rail)
        do {
            let settlement = try await payeeRail.settle(credential, for: offer)
            if paid.singleUse { firstPresentations.settled(paid.record.id, hash: paid.credentialHash, now: configuration.clock.now()) }
            return settlement
        } catch where error.code == .alreadySettled {
            // Only the bytes that settled may recover a settlement nobody recorded (`FirstPresentations`).
            if let first = firstPresentations.first(paid.record.id, now: configuration.clock.now()), first != paid.credentialHash {
                throw GateRefusal(credential: .invalidChallenge,
                                  detail: "this challenge is being paid by another credential; a payment proof is usable once",
                                  logReason: "credential-reused-unrecorded challenge=\(Self.short(paid.record.id))", challengeID: paid.record.id)
            }
            guard let recovered = try await unrecordedSettlement(of: offer, record: paid.record, rail: payeeRail) else { return nil }
            // The rail settled this offer but nothing here recorded it (the store failed or the
            // process died between the two): the payer paid once, so grant now, once.
            log("\(paid.resource) recovered settlement challenge=\(Self.short(paid.record.id)) ref=\(recovered.reference)")
            return recovered
        } catch where error.code == .unavailable || error.code == .timedOut {
            var refusal = GateRefusal.railUnavailable(offer.rail)
            refusal.logReason = "rail=\(offer.rail) settle-unavailable challenge=\(Self.short(paid.record.id))"
            throw refusal
        } catch {
            // Paid after the offer expired (the rail took the money, the gate grants nothing): recorded, refunded.
            if error.code == .expired, let found = await recordedLate(offer, record: paid.record, rail: payeeRail) {
                throw Self.lateRefusal(found, refusal: GateRefusal(credential: .paymentExpired, detail: "", logReason: "settle-expired",
                                                                  challengeID: paid.record.id), refundable: payeeRail.capabilities.refundable)
            }
            let type: PaymentProblemType = switch error.code {
            case .expired: .paymentExpired
            case .malformed: .invalidPayload
            case .insufficientFunds: .paymentInsufficient
            case .authenticationRequired: .paymentActionRequired
            default: offer.rail == .lightning ? .Lightning.invalidPreimage : .verificationFailed
            }
            // The issuer's decline code tells the payer what to fix (another card, more funds). x402's
            // card binding asks for a bare decline on the wire (scheme_auth_capture_card.md §8.2:
            // decline reasons help card testing), so it is left out there.
            let decline = paid.dialect == .x402 ? nil : error.declineCode.map { ", decline code \($0)" }
            throw GateRefusal(credential: type, detail: "the payment was refused (\(error.code)\(decline ?? "")): \(error.code.nextStep)",
                              logReason: "settle-\(error.code)", challengeID: paid.record.id)
        }
    }

    /// The settlement of an offer the rail reports settled but this server never recorded, or `nil`
    /// when it did record it (a concurrent request is granting it) or the rail cannot tell.
    private func unrecordedSettlement(of offer: Offer, record: ChallengeRecord, rail: any PayeeRail) async throws(GateRefusal) -> Settlement? {
        let consumed = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: record.id) }
        guard consumed == nil else { return nil }
        do {
            return try await rail.settlement(of: offer)
        } catch {
            if error.code != .unsupported {
                log("lookup-failed rail=\(offer.rail) challenge=\(Self.short(record.id)) code=\(error.code)")
            }
            return nil
        }
    }
}

/// The challenge and exact offer a credential pays, with what the grant must say about it.
struct PaidOffer {
    let record: ChallengeRecord
    let offer: Offer
    let resource: Resource
    /// The dialect the credential came in.
    let dialect: PaymentDialect
    /// The challenge id the payer holds, when its dialect carries one (Payment).
    let echoedChallengeID: String?
    /// Where the paid response will be remembered for idempotent retries.
    let slots: [IdempotencySlot]
    /// The hash of the exact credential and request (`Gate.credentialHash`), kept with the consumption.
    let credentialHash: Data
    /// Whether the dialect's proof is single use (`GateDialect.proofIsSingleUse`).
    let singleUse: Bool
}
