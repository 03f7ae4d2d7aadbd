import Foundation
import PayRail
import PayRailCrypto
import PayRailStore
import PayRailWire

// Granting: sign the receipt, then consume the challenge atomically with it (durable before any
// answer; exactly one request wins), then let the request through with the receipt fields every
// grant carries and the dialect's own. A request that loses the consumption never settles again:
// it replays, regrants the same payment, or is asked to retry.

extension Gate {
    /// Signs the receipt for a settlement and consumes the challenge; the consumption with its
    /// receipt is durable before any answer.
    func grant(_ settlement: Settlement, paying paid: PaidOffer,
               dialectFields: (Settlement) -> HTTPFields) async throws(GateRefusal) -> GateDecision {
        let (record, offer, resource) = (paid.record, paid.offer, paid.resource)
        guard settlement.amount == offer.amount, settlement.rail == offer.rail else {
            throw GateRefusal.paymentRefused(
                "the rail settled \(settlement.amount), not \(offer.amount); contact the operator with reference \(settlement.reference)",
                logReason: "policy settled-amount-differs challenge=\(Self.short(record.id)) ref=\(settlement.reference)")
        }
        let issuedAt = configuration.clock.now()
        let claims: ReceiptClaims
        let token: String
        do {
            claims = try ReceiptClaims(settlement: settlement, issuer: configuration.realm, resource: resource,
                                       challengeID: record.id, issuedAt: issuedAt, grantSeconds: configuration.grantSeconds)
            token = try configuration.signer.sign(claims)
        } catch {
            throw GateRefusal.internalError("paid but no receipt could be signed; contact the operator with reference \(settlement.reference)",
                                            logReason: "receipt-signing challenge=\(Self.short(record.id)) ref=\(settlement.reference)")
        }
        let grantEnd = Date(timeIntervalSince1970: TimeInterval(claims.exp))
        let receipt = ReceiptRecord(receiptID: record.id, tokenHash: Data(SHA256.hash(Array(token.utf8))), resource: resource,
                                    issuedAt: issuedAt, grantExpiresAt: grantEnd,
                                    // Only a single-use winner keeps its hash: the hash is what makes the
                                    // proof single use for every later presentation, in any dialect.
                                    credentialHash: paid.singleUse ? paid.credentialHash : nil)
        if case .alreadyConsumed(let winner) = try await consume(record.id, settlement: settlement, receipt: receipt) {
            return try await afterLostRace(record: record, resource: resource, reference: settlement.reference, dialect: paid.dialect,
                                           winner: winner, credentialHash: paid.credentialHash, singleUse: paid.singleUse)
        }
        var headers = Self.receiptFields(settlement, token: token, challengeID: paid.echoedChallengeID ?? record.id)
        // x402 responses also carry the receipt in the offer-receipt extension (format jws).
        for field in X402OfferReceipt.attaching(receiptJWS: token, to: dialectFields(settlement)) {
            headers.append(field.name, field.value)
        }
        log("\(resource) granted dialect=\(paid.dialect.rawValue) rail=\(settlement.rail) challenge=\(Self.short(record.id)) ref=\(settlement.reference)")
        let grant = GateGrant(challengeID: record.id, receiptToken: token, settlement: settlement, dialect: paid.dialect,
                              grantExpiresAt: grantEnd, isRegrant: false)
        return .pass(GatePass(resource: resource, grant: grant, responseHeaders: headers, idempotency: paid.slots))
    }

    /// Consumes the challenge, marked as being granted here before the durable write (and unmarked
    /// unless this request won), so a concurrent presentation that sees the consumption also sees it
    /// is being served and answers 409 instead of granting it again.
    private func consume(_ challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(GateRefusal) -> ConsumeResult {
        granting.begin(challengeID, now: configuration.clock.now())
        let result: ConsumeResult
        do {
            result = try await store { () async throws(StoreError) in
                try await configuration.store.consume(challengeID: challengeID, settlement: settlement, receipt: receipt)
            }
        } catch {
            granting.end(challengeID)
            // The money moved but nothing here records it: the same credential sent again is the way
            // back (the rail answers `.alreadySettled` and `settlement(of:)` recovers it), so the
            // answer is always "retry", whatever the store's own advice; never a 500 that reads
            // as "give up" to a payer who already paid.
            if settlement.kind.isFinal { throw GateRefusal.paidButNotRecorded(reference: settlement.reference, storeCode: error.logReason) }
            // Nothing recorded this authorization, so nothing will ever capture it: release the hold.
            if !settlement.kind.isFinal, let rail = configuration.rails.first(where: { $0.id == settlement.rail }) {
                do { try await rail.finish(settlement, served: false) } catch {
                    log("finish-failed rail=\(rail.id) challenge=\(Self.short(challengeID)) served=false code=\(error.code)")
                }
            }
            throw error
        }
        if case .alreadyConsumed = result { granting.end(challengeID) }
        return result
    }

    /// Another request settled or consumed this challenge first: replay its stored response when the
    /// same payment is behind both (for a single-use proof: the same credential bytes, else refused);
    /// while that request is still being served here, ask to retry; once it is not (its response was
    /// never stored: the client lost the answer, the process restarted, the resource failed), a
    /// single-use proof gets the grant's receipt instead (`receiptInstead`), a reusable one (L402) is
    /// granted the same payment again within its grant. Never settles.
    func afterLostRace(record: ChallengeRecord, resource: Resource, reference: String?, dialect: PaymentDialect,
                       winner known: ConsumedChallenge? = nil, credentialHash: Data? = nil,
                       singleUse: Bool) async throws(GateRefusal) -> GateDecision {
        let winner: ConsumedChallenge?
        if let known { winner = known } else {
            winner = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: record.id) }
        }
        let challenge = Self.short(record.id)
        guard let winner else {
            var refusal = GateRefusal.paymentInProgress
            refusal.logReason = "in-progress challenge=\(challenge)"
            throw refusal
        }
        if let reference, winner.settlement.reference != reference {
            throw GateRefusal.paymentRefused(
                "this challenge was already paid by another payment; contact the operator with reference \(reference)",
                logReason: "policy paid-twice challenge=\(challenge) ref=\(reference)")
        }
        // Single use follows the winner, not the dialect presenting now: a proof that won as a Payment,
        // x402 or plain credential stays single use when re-sent as a (reusable) L402 token.
        let singleUse = singleUse || winner.receipt.credentialHash != nil
        if singleUse { try refuseReuse(of: winner, credentialHash: credentialHash) }
        // The same payment buys its response for the grant's time only, however it is presented.
        guard configuration.clock.now() < winner.receipt.grantExpiresAt, winner.receipt.resource == resource else {
            throw GateRefusal.grantOver
        }
        if let response = winner.receipt.response {
            log("\(resource) replay same-payment challenge=\(challenge)")
            return .replay(Self.response(response))
        }
        guard !granting.contains(record.id, now: configuration.clock.now()) else {
            var refusal = GateRefusal.paymentInProgress
            refusal.logReason = "in-progress challenge=\(challenge)"
            throw refusal
        }
        let token = try resign(winner, resource: resource)
        if singleUse {
            // A voided authorization bought nothing: no receipt to hand back (see `regrant`).
            guard winner.settlement.kind.isFinal else { throw GateRefusal.authorizationNotCaptured }
            return receiptInstead(of: winner, token: token, resource: resource)
        }
        log("\(resource) regrant same-payment challenge=\(challenge) ref=\(winner.settlement.reference)")
        return try regrant(winner, token: token, dialect: dialect, resource: resource)
    }

    /// A receipt for the rest of an earlier grant of the same payment.
    private func resign(_ winner: ConsumedChallenge, resource: Resource) throws(GateRefusal) -> String {
        let now = configuration.clock.now()
        let remaining = Int64(winner.receipt.grantExpiresAt.timeIntervalSince(now).rounded(.down))
        guard remaining >= 1,
              let claims = try? ReceiptClaims(settlement: winner.settlement, issuer: configuration.realm, resource: resource,
                                              challengeID: winner.challengeID, issuedAt: now, grantSeconds: remaining),
              let token = try? configuration.signer.sign(claims)
        else {
            throw GateRefusal.internalError("the receipt could not be signed again", logReason: "resign")
        }
        return token
    }

    /// Serves an earlier grant again with `token` (no new settlement): its response was never stored.
    /// An authorization is not re-served: its flow was finished when its first grant was abandoned
    /// (voided) or never finished at all, so nothing paid for a second serving.
    func regrant(_ found: ConsumedChallenge, token: String, dialect: PaymentDialect, resource: Resource) throws(GateRefusal) -> GateDecision {
        guard found.settlement.kind.isFinal else { throw GateRefusal.authorizationNotCaptured }
        let headers = Self.receiptFields(found.settlement, token: token, challengeID: found.challengeID)
        // One serving of a payment at a time: K concurrent re-servings of one unstored grant would be
        // K services for one payment.
        guard granting.beginIfIdle(found.challengeID, now: configuration.clock.now()) else {
            var refusal = GateRefusal.paymentInProgress
            refusal.logReason = "in-progress regrant challenge=\(Self.short(found.challengeID))"
            throw refusal
        }
        let grant = GateGrant(challengeID: found.challengeID, receiptToken: token, settlement: found.settlement, dialect: dialect,
                              grantExpiresAt: found.receipt.grantExpiresAt, isRegrant: true)
        return .pass(GatePass(resource: resource, grant: grant, responseHeaders: headers, idempotency: []))
    }

    /// `Payment-Receipt` and `X-Receipt`: the fields every grant carries, whatever its dialect, with
    /// the `Cache-Control: private` every response carrying them must have (`ReceiptCaching`).
    static func receiptFields(_ settlement: Settlement, token: String, challengeID: String) -> HTTPFields {
        var headers = HTTPFields()
        let paymentReceipt = PaymentReceipt(method: settlement.rail.rawValue, timestamp: settlement.settledAt,
                                            reference: settlement.reference, challengeId: challengeID, receipt: token)
        if let value = try? paymentReceipt.headerValue() { headers.append(PaymentReceipt.fieldName, value) }
        headers.append(PlainReceipt.fieldName, token)
        return ReceiptCaching.applied(to: headers)
    }
}
