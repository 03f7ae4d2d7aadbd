import Foundation
import PayRail
import PayRailStore
import PayRailWire

// After the response: a paid pass is completed (its response stored for replays, then the rail's
// flow finished as served: an authorization is captured) or abandoned (the rail's flow finished as
// not served: an authorization is voided). Regrants re-serve an earlier settlement whose flow was
// already finished, so they finish nothing. Purging asks the rails to discard offers that expired
// unpaid before their challenges are deleted.

extension Gate {
    /// Finishes the rail's flow as served (an authorization is captured), then remembers the
    /// resource's response for a paid pass, so the receipt token (and any idempotency key) replays
    /// it without a second payment. Call it after serving a `.pass`; free passes are ignored.
    ///
    /// A capture that failed stores nothing: a receipt must not replay a response its payment never
    /// paid for (the authorization is then not regranted either; see `regrant`).
    ///
    /// - Throws: `GateError` when the rail could not finish the payment (retry safe when the rail
    ///   was only unreachable) or the store could not write (the grant itself stays valid).
    public func complete(_ pass: GatePass, response: GateResponse) async throws(GateError) {
        guard let grant = pass.grant else { return }
        defer { granting.end(grant.challengeID) }
        try await finish(grant, served: true)
        var headers = response.headers
        for field in pass.responseHeaders where headers[field.name] == nil { headers.append(field.name, field.value) }
        // The host's own Cache-Control (an upstream's `public`) never makes a paid answer shareable.
        headers = ReceiptCaching.applied(to: headers, status: response.status)
        let stored = StoredResponse(status: response.status, headers: headers.map { StoredHeader(name: $0.name, value: $0.value) },
                                    body: Data(response.body))
        let now = configuration.clock.now()
        do {
            try await configuration.store.saveResponse(stored, receiptID: grant.challengeID)
            for slot in pass.idempotency {
                _ = try await configuration.store.saveIdempotentResponse(IdempotencyRecord(
                    key: slot.key, payloadHash: slot.payloadHash, response: stored, createdAt: now,
                    expiresAt: now.addingTimeInterval(configuration.idempotencyLifetime)))
            }
        } catch {
            throw GateError(reason: "the response was not stored (\(error.code))", isRetrySafe: error.isRetrySafe)
        }
    }

    /// Says that a paid pass's response will not be stored (it failed, or it was a HEAD): the
    /// payer's next presentation of the same credential is granted again at once instead of being
    /// asked to wait for this one, and the rail's flow is finished as not served (an authorization
    /// is voided). Free passes are ignored.
    public func abandon(_ pass: GatePass) async {
        guard let grant = pass.grant else { return }
        granting.end(grant.challengeID)
        try? await finish(grant, served: false)
    }

    /// Asks each rail to discard the offers of challenges that expired unpaid, then deletes what the
    /// store no longer needs. Run it periodically; each call looks at most `limit` expired records.
    ///
    /// Challenges are taken oldest first, and the purge stops short of the first one whose rail did
    /// not answer (it is tried again next round) and of any the limit left unread; a rail's
    /// `discard` may therefore see an offer more than once. Other refusals are logged and do not
    /// hold the purge (see `discardOffers`).
    ///
    /// With `automaticRefunds`, payments the gate could not serve are refunded first
    /// (`refundUnserved`), and the purge keeps every payment that pass has not looked at yet.
    ///
    /// - Throws: `GateError` when the store failed.
    @discardableResult
    public func purgeExpired(now: Date? = nil, limit: Int = 1000, automaticRefunds: AutomaticRefunds? = nil) async throws(GateError) -> PurgeReport {
        try await purge(now: now, limit: limit, automaticRefunds: automaticRefunds).purged
    }

    /// `purgeExpired`, with what the automatic refund pass did (empty without `automaticRefunds`).
    func purge(now: Date?, limit: Int, automaticRefunds: AutomaticRefunds?) async throws(GateError) -> GateMaintenanceReport {
        let clockNow = now ?? configuration.clock.now()
        // A challenge is kept for the presentation grace after it expires: a payment made in time
        // may still come back (and must find its offer), and only then is its offer discarded.
        let now = clockNow.addingTimeInterval(-configuration.presentationGrace)
        var cutoff = now
        do {
            let expired = try await configuration.store.unpaidChallenges(expiredBefore: now, limit: limit)
            if expired.count >= limit, let last = expired.last { cutoff = min(cutoff, last.expiresAt) }
            // Key records carry their challenge's id; the challenge itself lists the offers to discard.
            for record in expired where !record.offers.contains(where: { $0.details[Self.challengeDetail] != nil }) {
                guard record.expiresAt < cutoff else { break }
                guard await discardOffers(of: record) else {
                    cutoff = record.expiresAt
                    break
                }
            }
        } catch {
            throw GateError(reason: "expired challenges were not purged (\(error.code))", isRetrySafe: error.isRetrySafe)
        }
        var refunds = AutomaticRefundReport()
        if let automaticRefunds, let store = configuration.store as? any AutomaticRefundStore {
            // After the discards (which record expired offers found paid), before the deletions. An
            // unserved payment the pass left (within its margin, beyond its limit, being granted) is
            // kept, whatever the presentation grace: the purge stops short of the oldest one.
            refunds = try await refundUnserved(now: clockNow, policy: automaticRefunds)
            do {
                if let left = try await store.unservedConsumptions(grantEndedBefore: cutoff, limit: 1).first {
                    cutoff = min(cutoff, left.receipt.grantExpiresAt)
                }
            } catch {
                throw GateError(reason: "unserved payments were not listed (\(error.code)); nothing was purged", isRetrySafe: error.isRetrySafe)
            }
        }
        do { return GateMaintenanceReport(purged: try await configuration.store.purgeExpired(now: cutoff), refunds: refunds) } catch {
            throw GateError(reason: "expired challenges were not purged (\(error.code))", isRetrySafe: error.isRetrySafe)
        }
    }

    /// Captures (served) or voids (not served) a new grant's settlement; regrants finish nothing.
    func finish(_ grant: GateGrant, served: Bool) async throws(GateError) {
        guard !grant.isRegrant, let rail = configuration.rails.first(where: { $0.id == grant.settlement.rail }) else { return }
        do { try await rail.finish(grant.settlement, served: served) } catch {
            log("finish-failed rail=\(rail.id) challenge=\(Self.short(grant.challengeID)) served=\(served) code=\(error.code)")
            throw GateError(reason: "the \(rail.id) rail could not \(served ? "capture" : "void") the payment (\(error.code))",
                            isRetrySafe: error.code == .unavailable || error.code == .timedOut)
        }
    }

    /// Whether the purge may go past this expired challenge. A rail that did not answer holds the
    /// purge there until the next round. Any other refusal does not: the challenge is past the
    /// presentation grace, so no credential can be granted on it any more, and keeping it would
    /// stop every later purge for good. An offer paid but never presented (`.alreadySettled`) is
    /// logged with its reference for the rail's refund (the fake processor refunds on its own).
    private func discardOffers(of record: ChallengeRecord) async -> Bool {
        for offer in record.offers {
            guard let rail = configuration.rails.first(where: { $0.id == offer.rail }) else { continue }
            do { try await rail.discard(offer) } catch {
                if error.code == .unavailable || error.code == .timedOut {
                    log("discard-failed rail=\(rail.id) challenge=\(Self.short(record.id)) code=\(error.code) kept")
                    return false
                }
                let paid = error.code == .alreadySettled ? " paid-unpresented offer=\(offer.id)" : ""
                log("discard-refused rail=\(rail.id) challenge=\(Self.short(record.id)) code=\(error.code)\(paid)")
                // Paid but never presented: recorded as late, so it is refunded (or kept for the operator).
                if error.code == .alreadySettled { await recordedLate(offer, record: record, rail: rail) }
            }
        }
        return true
    }
}
