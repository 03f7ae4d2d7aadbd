import Foundation
import PayRail

// The memory store keeps everything in dictionaries behind one lock. Every operation is short and
// never waits for I/O, so a lock (not an actor) is enough and the async methods never suspend while
// holding it. Nothing survives the process: use it for tests and demos, never with real money.

/// A `GateStore` in memory, for tests and demos; forgets everything when the process ends.
public final class MemoryGateStore: GateStore, PaymentEventStore, @unchecked Sendable {
    // @unchecked: every stored property below `lock` is only touched inside `lock.withLock` (also in
    // AutomaticRefundStore.swift, hence internal rather than private).
    private let clock: any PayRailClock
    let lock = NSLock()
    private var challenges: [String: ChallengeRecord] = [:]
    var consumed: [String: ConsumedChallenge] = [:]
    private var keepUntil: [String: Date] = [:]
    private var challengeByReceiptID: [String: String] = [:]
    private var challengeByTokenHash: [Data: String] = [:]
    private var idempotency: [String: IdempotencyRecord] = [:]
    private var buckets: [String: TokenBucketState] = [:]
    var refundsByChallenge: [String: [RefundRecord]] = [:]
    var events: [String: PaymentEventRecord] = [:]

    /// `NSLock.withLock` rethrows untyped errors; this keeps `StoreError` typed.
    private func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Creates an empty store whose consumption times and rate limits follow `clock`.
    public init(clock: any PayRailClock = SystemClock()) {
        self.clock = clock
    }

    /// Remembers a challenge; `.duplicate` when the id is taken.
    public func saveChallenge(_ challenge: ChallengeRecord) async throws(StoreError) {
        guard !challenge.id.isEmpty else { throw StoreError.invalid("a challenge id must not be empty") }
        try locked { () throws(StoreError) in
            guard challenges[challenge.id] == nil else {
                throw StoreError(code: .duplicate, reason: "challenge \(challenge.id) is already stored", isRetrySafe: false)
            }
            challenges[challenge.id] = challenge
        }
    }

    /// The challenge with this id, if stored.
    public func challenge(id: String) async throws(StoreError) -> ChallengeRecord? {
        lock.withLock { challenges[id] }
    }

    /// Expired challenges never consumed, oldest first (see `ChallengeStore.unpaidChallenges`).
    public func unpaidChallenges(expiredBefore now: Date, limit: Int) async throws(StoreError) -> [ChallengeRecord] {
        let now = StoreTime.normalized(now)
        return lock.withLock {
            let unpaid = challenges.values.filter { $0.expiresAt < now && consumed[$0.id] == nil }
            return Array(unpaid.sorted { ($0.expiresAt, $0.id) < ($1.expiresAt, $1.id) }.prefix(max(0, limit)))
        }
    }

    /// Consumes a challenge exactly once (see `ConsumptionStore.consume`).
    public func consume(challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(StoreError) -> ConsumeResult {
        guard !challengeID.isEmpty, !receipt.receiptID.isEmpty, !receipt.tokenHash.isEmpty else {
            throw StoreError.invalid("challenge id, receipt id and token hash must not be empty")
        }
        let now = clock.now()
        return try locked { () throws(StoreError) -> ConsumeResult in
            if let existing = consumed[challengeID] { return .alreadyConsumed(existing) }
            guard challengeByReceiptID[receipt.receiptID] == nil, challengeByTokenHash[receipt.tokenHash] == nil else {
                throw StoreError(code: .duplicate, reason: "receipt \(receipt.receiptID) or its token hash is already issued",
                                 isRetrySafe: false)
            }
            let record = ConsumedChallenge(challengeID: challengeID, settlement: settlement, receipt: receipt, consumedAt: now)
            consumed[challengeID] = record
            keepUntil[challengeID] = max(record.receipt.grantExpiresAt, challenges[challengeID]?.expiresAt ?? .distantPast)
            challengeByReceiptID[receipt.receiptID] = challengeID
            challengeByTokenHash[receipt.tokenHash] = challengeID
            return .consumed(record)
        }
    }

    /// The consumption of a challenge, if any.
    public func consumedChallenge(id challengeID: String) async throws(StoreError) -> ConsumedChallenge? {
        lock.withLock { consumed[challengeID] }
    }

    /// The consumption whose receipt token hashes to `tokenHash`, if any.
    public func consumedChallenge(receiptTokenHash tokenHash: Data) async throws(StoreError) -> ConsumedChallenge? {
        lock.withLock { challengeByTokenHash[tokenHash].flatMap { consumed[$0] } }
    }

    /// Attaches the response to replay to an issued receipt.
    public func saveResponse(_ response: StoredResponse, receiptID: String) async throws(StoreError) {
        try locked { () throws(StoreError) in
            guard let challengeID = challengeByReceiptID[receiptID], let record = consumed[challengeID] else {
                throw StoreError(code: .notFound, reason: "no issued receipt \(receiptID)", isRetrySafe: false)
            }
            consumed[challengeID] = ConsumedChallenge(
                challengeID: challengeID, settlement: record.settlement,
                receipt: record.receipt.with(response: response), consumedAt: record.consumedAt)
        }
    }

    /// What is stored under `key` for this payload.
    public func idempotencyLookup(key: String, payloadHash: Data) async throws(StoreError) -> IdempotencyLookup {
        let now = StoreTime.normalized(clock.now())
        return lock.withLock {
            guard let record = idempotency[key], record.expiresAt > now else { return .notFound }
            return record.payloadHash == payloadHash ? .replay(record) : .payloadMismatch
        }
    }

    /// Stores a response under its key unless a live record already holds it.
    public func saveIdempotentResponse(_ record: IdempotencyRecord) async throws(StoreError) -> IdempotencySaveResult {
        guard !record.key.isEmpty else { throw StoreError.invalid("an idempotency key must not be empty") }
        let now = StoreTime.normalized(clock.now())
        return lock.withLock {
            if let existing = idempotency[record.key], existing.expiresAt > now {
                return existing.payloadHash == record.payloadHash ? .alreadySaved(existing) : .payloadMismatch
            }
            idempotency[record.key] = record
            return .saved
        }
    }

    /// Takes tokens from a client's bucket.
    public func take(_ count: Int, from clientKey: String, policy: TokenBucketPolicy) async throws(StoreError) -> RateLimitDecision {
        try policy.checkCount(count)
        let now = StoreTime.milliseconds(clock.now())
        return lock.withLock {
            let state = buckets[clientKey] ?? .full(policy, at: now)
            let (next, decision) = policy.take(count, from: state, now: now)
            buckets[clientKey] = next
            return decision
        }
    }

    /// Deletes everything that expired before `now`.
    public func purgeExpired(now: Date) async throws(StoreError) -> PurgeReport {
        let nowMilliseconds = StoreTime.milliseconds(now)
        let now = StoreTime.normalized(now)
        return lock.withLock {
            var report = PurgeReport()
            for (id, record) in challenges where record.expiresAt < now {
                challenges[id] = nil
                report.challenges += 1
            }
            for (id, until) in keepUntil where until < now {
                if let record = consumed.removeValue(forKey: id) {
                    challengeByReceiptID[record.receipt.receiptID] = nil
                    challengeByTokenHash[record.receipt.tokenHash] = nil
                }
                keepUntil[id] = nil
                report.consumedChallenges += 1
            }
            for (key, record) in idempotency where record.expiresAt <= now {
                idempotency[key] = nil
                report.idempotencyKeys += 1
            }
            for (id, event) in events where event.receivedAt < now.addingTimeInterval(-PaymentEventRetention.seconds) {
                events[id] = nil
            }
            for (key, state) in buckets where state.fullAtMilliseconds <= nowMilliseconds {
                buckets[key] = nil
                report.rateLimitBuckets += 1
            }
            return report
        }
    }

    // MARK: - Refunds and rail events (PaymentEventStore)

    /// The consumption whose settlement has this reference (or, failing that, this offer id), if any.
    public func consumedChallenge(settlementReference reference: String) async throws(StoreError) -> ConsumedChallenge? {
        lock.withLock {
            consumed.values.first { $0.settlement.reference == reference } ?? consumed.values.first { $0.settlement.offerID == reference }
        }
    }

    /// Every refund recorded for a challenge, oldest first.
    public func refunds(challengeID: String) async throws(StoreError) -> [RefundRecord] {
        lock.withLock { refundsByChallenge[challengeID] ?? [] }
    }

    /// Records a pending refund (see `PaymentEventStore.reserveRefund`).
    public func reserveRefund(_ refund: RefundRecord) async throws(StoreError) -> RefundReservation {
        try locked { () throws(StoreError) -> RefundReservation in
            guard let record = consumed[refund.challengeID] else {
                throw StoreError(code: .notFound, reason: "no consumed challenge \(refund.challengeID)", isRetrySafe: false)
            }
            var list = refundsByChallenge[refund.challengeID] ?? []
            if let existing = list.first(where: { $0.key == refund.key }), existing.counts { return .existing(existing) }
            list.removeAll { $0.key == refund.key }
            try RefundRules.check(refund, paid: record.settlement.amount, earlier: list)
            let keep = clock.now().addingTimeInterval(RefundRules.consumptionRetention)
            keepUntil[refund.challengeID] = max(keepUntil[refund.challengeID] ?? .distantPast, keep)
            list.append(refund)
            refundsByChallenge[refund.challengeID] = list
            return .reserved(refund)
        }
    }

    /// Records the rail's answer for a reserved refund.
    public func completeRefund(challengeID: String, key: String, status: RefundStatus, railRefundID: String?) async throws(StoreError) -> RefundRecord {
        let now = clock.now()
        return try locked { () throws(StoreError) -> RefundRecord in
            guard var list = refundsByChallenge[challengeID], let index = list.firstIndex(where: { $0.key == key }) else {
                throw StoreError(code: .notFound, reason: "no refund \(key) for \(challengeID)", isRetrySafe: false)
            }
            list[index] = list[index].with(status: status, railRefundID: railRefundID, at: now)
            refundsByChallenge[challengeID] = list
            return list[index]
        }
    }

    /// Ends a receipt's grant now.
    public func endGrant(challengeID: String) async throws(StoreError) {
        // A millisecond back: times are kept to the nearest millisecond, and an end rounded up would
        // let the grant run on for a fraction of one.
        let now = StoreTime.normalized(clock.now()).addingTimeInterval(-0.001)
        lock.withLock { endGrantLocked(challengeID, now: now) }
    }

    private func endGrantLocked(_ challengeID: String, now: Date) {
        guard let record = consumed[challengeID], record.receipt.grantExpiresAt > now else { return }
        let receipt = ReceiptRecord(receiptID: record.receipt.receiptID, tokenHash: record.receipt.tokenHash,
                                    resource: record.receipt.resource, issuedAt: record.receipt.issuedAt, grantExpiresAt: now,
                                    response: record.receipt.response, credentialHash: record.receipt.credentialHash)
        consumed[challengeID] = ConsumedChallenge(challengeID: challengeID, settlement: record.settlement, receipt: receipt,
                                                  consumedAt: record.consumedAt)
    }

    /// Whether an event id was recorded.
    public func knownEvent(id: String) async throws(StoreError) -> Bool {
        lock.withLock { events[id] != nil }
    }

    /// Records an event once; `false` for an id seen before.
    public func recordEvent(_ event: PaymentEventRecord) async throws(StoreError) -> Bool {
        guard !event.id.isEmpty else { throw StoreError.invalid("an event id must not be empty") }
        return lock.withLock {
            guard events[event.id] == nil else { return false }
            events[event.id] = event
            return true
        }
    }
}
