import Foundation
import PayRail

// Why async: the SQLite store can wait up to its busy timeout (seconds) while another process holds
// the write lock. Blocking a thread of Swift's cooperative pool for that long would stall every other
// request on a small machine (the pool has one thread per core), so the protocols are `async` and
// the SQLite store does its blocking work on its own serial queue. The memory store simply takes a
// lock and returns at once.
//
// The protocols are split by concern so a test double or a future PostgreSQL store can implement one
// part at a time; `GateStore` is all of them, which is what the Gate takes.

/// Issued 402 challenges, kept until they expire so a credential can be checked against its offer.
public protocol ChallengeStore: Sendable {
    /// Remembers a challenge before the 402 goes out.
    ///
    /// - Throws: `StoreError` `.duplicate` when the id is already stored (ids must be unique).
    func saveChallenge(_ challenge: ChallengeRecord) async throws(StoreError)

    /// Remembers several challenges (a challenge and its per-offer aliases) before the 402 goes out,
    /// all or none where the store can: one durable commit instead of one per record.
    ///
    /// - Throws: as `saveChallenge`; a store with transactions then stores none of them.
    func saveChallenges(_ challenges: [ChallengeRecord]) async throws(StoreError)

    /// The challenge with this id, or `nil` when unknown or purged (expired records may still be
    /// returned until purged: compare `expiresAt` with the clock).
    func challenge(id: String) async throws(StoreError) -> ChallengeRecord?

    /// Up to `limit` challenges that expired before `now` and were never consumed, oldest first: the
    /// offers a gate asks its rails to discard before purging them (an unpaid PaymentIntent is
    /// cancelled so nothing can pay it late).
    func unpaidChallenges(expiredBefore now: Date, limit: Int) async throws(StoreError) -> [ChallengeRecord]
}

extension ChallengeStore {
    /// Stores that cannot list expired challenges let their rails' offers lapse on their own.
    public func unpaidChallenges(expiredBefore now: Date, limit: Int) async throws(StoreError) -> [ChallengeRecord] { [] }

    /// Saves each challenge in turn (a store without transactions; a failure leaves the earlier ones saved).
    public func saveChallenges(_ challenges: [ChallengeRecord]) async throws(StoreError) {
        for challenge in challenges { try await saveChallenge(challenge) }
    }
}

/// Consumed challenges with their settlement and receipt: the record that prevents paying twice.
public protocol ConsumptionStore: Sendable {
    /// Marks a challenge paid, storing its settlement and receipt in one transaction, exactly once.
    ///
    /// Of any number of concurrent calls for one `challengeID` (from any thread, or any process
    /// sharing a SQLite file), exactly one returns `.consumed`; all others return `.alreadyConsumed`
    /// with the winner's record. When this returns, the record is durable: answer only after it.
    ///
    /// - Throws: `StoreError` `.duplicate` when `receipt`'s id or token hash already belongs to another
    ///   challenge (nothing is written), `.busy` when the database stayed locked (retry is safe:
    ///   nothing was written), `.invalidArgument` for an empty id.
    func consume(challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(StoreError) -> ConsumeResult

    /// The consumption of a challenge, or `nil` when it was never consumed (or was purged).
    func consumedChallenge(id challengeID: String) async throws(StoreError) -> ConsumedChallenge?

    /// The consumption whose receipt token hashes to `tokenHash`: how a presented receipt is replayed.
    func consumedChallenge(receiptTokenHash tokenHash: Data) async throws(StoreError) -> ConsumedChallenge?

    /// Attaches the response to replay to an issued receipt (replacing any earlier one).
    ///
    /// - Throws: `StoreError` `.notFound` when no consumed challenge carries that receipt id.
    func saveResponse(_ response: StoredResponse, receiptID: String) async throws(StoreError)
}

/// Responses remembered under idempotency keys.
public protocol IdempotencyStore: Sendable {
    /// What is stored under `key` for this payload: nothing, a response to replay, or a conflict.
    /// Expired records count as nothing even before they are purged.
    func idempotencyLookup(key: String, payloadHash: Data) async throws(StoreError) -> IdempotencyLookup

    /// Stores a response under its key unless a live record already holds the key (then says which).
    func saveIdempotentResponse(_ record: IdempotencyRecord) async throws(StoreError) -> IdempotencySaveResult
}

/// Token buckets per client, so one client cannot make the gate issue unlimited challenges.
public protocol RateLimitStore: Sendable {
    /// Takes `count` tokens from `clientKey`'s bucket (a new bucket starts full), at the store's clock.
    ///
    /// - Throws: `StoreError` `.invalidArgument` when `count` is not in `1...policy.capacity`
    ///   (such a request could never be allowed).
    func take(_ count: Int, from clientKey: String, policy: TokenBucketPolicy) async throws(StoreError) -> RateLimitDecision
}

/// Everything the Gate remembers, plus the clean-up of what has expired.
public protocol GateStore: ChallengeStore, ConsumptionStore, IdempotencyStore, RateLimitStore {
    /// Deletes what can no longer matter at `now`: expired challenges, consumed challenges whose
    /// challenge and receipt grant have both expired, expired idempotency keys and full buckets.
    func purgeExpired(now: Date) async throws(StoreError) -> PurgeReport
}
