import Foundation
import PayRail
import PayRailStore

// Automatic refunds: a payment the gate took but never served is given back through the same
// refund path as `payrail refund` (a reservation in the store first, never above what was paid,
// one deterministic idempotency key per payment), by a periodic pass (`purgeExpired(automaticRefunds:)`
// in `payrail serve`'s maintenance task, or `refundUnserved` alone).
//
// When is a payment "not served"? When its grant is over and no response was ever stored for it:
// the resource failed (a 5xx or a timeout is never stored) on the first presentation and on every
// replay of the receipt within the grant, or the payment came after its challenge's presentation
// grace and was recorded without a grant (`GateAutomaticRefundsLate.swift`). The grant window is the
// whole rule: within it, a retry with the receipt is served again (and then stored, and never
// refunded), so nothing is refunded before the grant ended plus `margin` (a regrant that started
// just before the end may still be waiting for its upstream); a late payment, which never had a
// grant, is refunded at the first pass after it was recorded. A payment is considered once: any
// refund row (pending, succeeded, failed) takes it off the unserved list for good.
//
// Failing closed: a rail that cannot be reached, or whose answer is lost, leaves the refund
// `pending`, and the next pass asks again with the same key (the rail returns the first refund
// instead of moving money twice). A rail that refuses records `failed` and the log says so. A rail
// that cannot refund at all (Lightning: a refund needs an invoice from the payer) gets a `failed`
// row that says why, which keeps the payment in the store for 30 days and in the refunds table for
// good, and a log line with its reference: the operator settles it, nothing is lost silently.

/// How the gate refunds payments it could not serve; see `Gate.refundUnserved(now:policy:)`.
public struct AutomaticRefunds: Hashable, Sendable {
    /// Seconds after a grant ended before its unserved payment is refunded (default 120, above the
    /// 60 s a grant in progress holds its challenge): a request regranted just before the end may
    /// still be waiting for its upstream and storing the response.
    public var margin: TimeInterval
    /// Seconds a pending refund is left alone before it is asked again (default 60): the call that
    /// reserved it (this pass, or `payrail refund` in another process) may still be waiting for the rail.
    public var retryAfter: TimeInterval
    /// At most this many unserved payments, and as many pending refunds, per pass.
    public var limit: Int

    /// Creates a policy.
    public init(margin: TimeInterval = 120, retryAfter: TimeInterval = 60, limit: Int = 100) {
        self.margin = max(0, margin)
        self.retryAfter = max(0, retryAfter)
        self.limit = max(1, limit)
    }

    /// The defaults.
    public static let standard = AutomaticRefunds()
}

/// What one automatic refund pass did.
public struct AutomaticRefundReport: Hashable, Sendable {
    /// Refunds the rail accepted (succeeded, or accepted and still moving at the rail).
    public var refunded = 0
    /// Refunds left pending (the rail was unreachable or its answer was lost): asked again next pass.
    public var pending = 0
    /// Payments on a rail that cannot refund (or is not configured here): recorded for the operator.
    public var kept = 0
    /// Refunds the rail refused: recorded as failed for the operator.
    public var refused = 0
    /// Creates an empty report.
    public init() {}

    /// The settlement references of the payments kept for the operator (`kept`) or refused by the
    /// rail (`refused`) in this pass: what to refund by hand. References only, never a secret.
    public var forTheOperator: [String] = []

    /// Whether the pass did nothing worth a log line.
    public var isEmpty: Bool { refunded == 0 && pending == 0 && kept == 0 && refused == 0 }
}

/// What one maintenance round did: the purge, and the automatic refunds before it.
public struct GateMaintenanceReport: Hashable, Sendable {
    /// What the store deleted.
    public var purged: PurgeReport
    /// What the automatic refund pass did.
    public var refunds: AutomaticRefundReport
}

extension Gate {
    /// One maintenance round: `purgeExpired(now:limit:automaticRefunds:)` with automatic refunds,
    /// reporting both (for a host's log line; the gate's own log has one line per payment).
    ///
    /// - Throws: `GateError` when the store failed (retry safe when the store says so).
    public func maintain(now: Date? = nil, limit: Int = 1000, automaticRefunds: AutomaticRefunds = .standard) async throws(GateError) -> GateMaintenanceReport {
        try await purge(now: now, limit: limit, automaticRefunds: automaticRefunds)
    }

    /// The idempotency key of the automatic refund of a payment: the same for every pass and every
    /// process, so a payment is refunded at most once however often it is looked at.
    static func automaticRefundKey(_ challengeID: String) -> String {
        GateRefunder.key(challengeID: challengeID, amount: nil, reason: "automatic")
    }

    /// Finishes pending refunds, then refunds the payments whose grant ended `policy.margin` ago
    /// without a response ever being stored, and late payments (recorded without a grant) at once. Run it periodically (`purgeExpired(automaticRefunds:)`
    /// runs it before purging). A store that cannot list them (not an `AutomaticRefundStore` and
    /// `PaymentEventStore`) refunds nothing.
    ///
    /// - Throws: `GateError` when the store could not list the candidates (retry safe: nothing moved).
    @discardableResult
    public func refundUnserved(now: Date? = nil, policy: AutomaticRefunds = .standard) async throws(GateError) -> AutomaticRefundReport {
        var report = AutomaticRefundReport()
        guard let store = configuration.store as? any GateStore & AutomaticRefundStore & PaymentEventStore else { return report }
        let now = now ?? configuration.clock.now()
        let pending: [RefundRecord]
        let unserved: [ConsumedChallenge]
        do {
            pending = try await store.pendingRefunds(updatedBefore: now.addingTimeInterval(-policy.retryAfter), limit: policy.limit)
            unserved = try await store.unservedConsumptions(grantEndedBefore: now, limit: policy.limit)
        } catch {
            throw GateError(reason: "unserved payments were not listed (\(error.code))", isRetrySafe: error.isRetrySafe)
        }
        for record in pending { await retry(record, store: store, report: &report) }
        let marginEnd = now.addingTimeInterval(-policy.margin)
        for consumed in unserved where !granting.contains(consumed.challengeID, now: now) {
            // A late payment never had a grant, so no replay can race its refund: no margin.
            guard consumed.receipt.grantExpiresAt < marginEnd || Self.isLate(consumed) else { continue }
            await refund(consumed, store: store, report: &report)
        }
        return report
    }

    /// Reserves the automatic refund of one unserved payment (or records why there is none) and asks the rail.
    private func refund(_ consumed: ConsumedChallenge, store: any GateStore & AutomaticRefundStore & PaymentEventStore,
                        report: inout AutomaticRefundReport) async {
        let challenge = Self.short(consumed.challengeID)
        let settlement = consumed.settlement
        // Looked at again just before the reservation: a response stored since the list was read
        // means the payer was served after all.
        guard settlement.amount.amount > 0,
              let current = try? await store.consumedChallenge(id: consumed.challengeID), current.receipt.response == nil else { return }
        let late = Self.isLate(consumed)
        let now = configuration.clock.now()
        let rail = configuration.rails.first { $0.id == settlement.rail }
        guard let rail, rail.capabilities.refundable else {
            let why = rail == nil ? "rail \(settlement.rail) is not configured here" : "the \(settlement.rail) rail cannot refund"
            let marker = RefundRecord(challengeID: consumed.challengeID, key: Self.automaticRefundKey(consumed.challengeID),
                                      amount: settlement.amount, reason: "automatic: not refunded, \(why); kept for the operator",
                                      status: .failed, railRefundID: nil, createdAt: now, updatedAt: now)
            do { _ = try await store.reserveRefund(marker) } catch {
                log("auto-refund-unrecorded rail=\(settlement.rail) challenge=\(challenge) ref=\(settlement.reference) code=\(error.code)")
                return
            }
            report.kept += 1
            report.forTheOperator.append(settlement.reference)
            log("auto-refund-kept rail=\(settlement.rail) challenge=\(challenge) ref=\(settlement.reference) amount=\(settlement.amount) "
                + "\(late ? "paid-late" : "unserved"): \(why); the payment stays recorded, refund it by hand")
            return
        }
        let reason = late ? "automatic: paid after its challenge expired, never granted" : "automatic: not served within its grant"
        let pending = RefundRecord(challengeID: consumed.challengeID, key: Self.automaticRefundKey(consumed.challengeID),
                                   amount: settlement.amount, reason: reason, status: .pending, railRefundID: nil,
                                   createdAt: now, updatedAt: now)
        let record: RefundRecord
        do {
            // `.existing`: another process reserved it first and is asking the rail; a later pass
            // finishes it if that process died.
            guard case .reserved(let reserved) = try await store.reserveRefund(pending) else { return }
            record = reserved
        } catch {
            log("auto-refund-unreserved rail=\(settlement.rail) challenge=\(challenge) code=\(error.code) (tried again next pass)")
            return
        }
        await ask(rail, consumed, record, store: store, report: &report)
    }

    /// Asks the rail again for a refund left pending (by this path or by `payrail refund`), with its own key.
    private func retry(_ record: RefundRecord, store: any GateStore & AutomaticRefundStore & PaymentEventStore,
                       report: inout AutomaticRefundReport) async {
        let challenge = Self.short(record.challengeID)
        guard let consumed = try? await store.consumedChallenge(id: record.challengeID) else {
            log("auto-refund-orphan challenge=\(challenge) key=\(record.key.prefix(15))… (the payment is no longer in the store)")
            return
        }
        guard let rail = configuration.rails.first(where: { $0.id == consumed.settlement.rail }) else {
            report.pending += 1
            log("auto-refund-pending rail=\(consumed.settlement.rail) challenge=\(challenge) (the rail is not configured here)")
            return
        }
        await ask(rail, consumed, record, store: store, report: &report)
    }

    /// Asks the rail for a reserved refund and records its answer: an unknown outcome stays pending
    /// (the same key asked again never refunds twice), a refusal is recorded as failed.
    private func ask(_ rail: any PayeeRail, _ consumed: ConsumedChallenge, _ record: RefundRecord,
                     store: any GateStore & AutomaticRefundStore & PaymentEventStore, report: inout AutomaticRefundReport) async {
        let line = "rail=\(rail.id) challenge=\(Self.short(consumed.challengeID)) ref=\(consumed.settlement.reference) amount=\(record.amount)"
        let refund: Refund
        do {
            refund = try await rail.refund(consumed.settlement, amount: record.amount, reason: record.reason, idempotencyKey: record.key)
        } catch {
            let transient = error.retry != .unsafe || error.code == .unavailable || error.code == .timedOut
            if transient {
                report.pending += 1
                log("auto-refund-pending \(line) code=\(error.code) (asked again next pass with the same key)")
            } else {
                report.refused += 1
                report.forTheOperator.append(consumed.settlement.reference)
                _ = try? await store.completeRefund(challengeID: consumed.challengeID, key: record.key, status: .failed, railRefundID: nil)
                log("auto-refund-refused \(line) code=\(error.code); nothing was refunded, refund it by hand")
            }
            return
        }
        do {
            _ = try await store.completeRefund(challengeID: consumed.challengeID, key: record.key, status: refund.status,
                                               railRefundID: refund.id)
        } catch {
            // The rail answered but nothing here recorded it: the refund stays pending and the next
            // pass asks again with the same key, which returns this refund.
            report.pending += 1
            log("auto-refund-unrecorded \(line) refund=\(refund.id) code=\(error.code) (recorded next pass)")
            return
        }
        switch refund.status {
        case .failed:
            report.refused += 1
            report.forTheOperator.append(consumed.settlement.reference)
            log("auto-refund-refused \(line) refund=\(refund.id) (the rail gave up; nothing was refunded)")
        case .pending, .succeeded:
            report.refunded += 1
            // A manual refund left pending ended the grant already; ending it again changes nothing.
            try? await store.endGrant(challengeID: consumed.challengeID)
            log("auto-refunded \(line) refund=\(refund.id) status=\(refund.status.rawValue)")
        }
    }
}
