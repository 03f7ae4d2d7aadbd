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
    /// Remembers the resource's response for a paid pass, so the receipt token (and any idempotency
    /// key) replays it without a second payment, then finishes the rail's flow as served. Call it
    /// after serving a `.pass`; free passes are ignored.
    ///
    /// - Throws: `GateError` when the store could not write (the grant itself stays valid) or the
    ///   rail could not finish the payment (retry safe when the rail was only unreachable).
    public func complete(_ pass: GatePass, response: GateResponse) async throws(GateError) {
        guard let grant = pass.grant else { return }
        defer { granting.end(grant.challengeID) }
        var headers = response.headers
        for field in pass.responseHeaders where headers[field.name] == nil { headers.append(field.name, field.value) }
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
            // The resource was served: the payment is finished whether or not it will replay.
            try? await finish(grant, served: true)
            throw GateError(reason: "the response was not stored (\(error.code))", isRetrySafe: error.isRetrySafe)
        }
        try await finish(grant, served: true)
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
    /// store no longer needs. Run it periodically (each call discards at most `limit` challenges).
    ///
    /// - Throws: `GateError` when the store failed; a rail that cannot discard is logged and skipped
    ///   (an offer that cannot be discarded can still never be granted: its challenge is gone).
    @discardableResult
    public func purgeExpired(now: Date? = nil, limit: Int = 1000) async throws(GateError) -> PurgeReport {
        let now = now ?? configuration.clock.now()
        do {
            for record in try await configuration.store.unpaidChallenges(expiredBefore: now, limit: limit)
            where !record.offers.contains(where: { $0.details[Self.challengeDetail] != nil }) {
                for offer in record.offers { await discard(offer, of: record) }
            }
            return try await configuration.store.purgeExpired(now: now)
        } catch {
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

    private func discard(_ offer: Offer, of record: ChallengeRecord) async {
        guard let rail = configuration.rails.first(where: { $0.id == offer.rail }) else { return }
        do { try await rail.discard(offer) } catch {
            log("discard-failed rail=\(rail.id) challenge=\(Self.short(record.id)) code=\(error.code)")
        }
    }
}
