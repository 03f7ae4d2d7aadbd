import Foundation
import PayRail
import PayRailStore
import PayRailStoreTesting
import Testing

/// The store contract suite against the memory and SQLite stores (PayRailPostgresTests runs it
/// against PostgreSQL), and proof that the suite catches a store that breaks the contract.
@Suite("Store contract suite")
struct StoreContractTests {
    static let memoryGate = GateStoreContractSuite { clock in
        let store = MemoryGateStore(clock: clock)
        return { store }
    }

    static let sqliteGate = GateStoreContractSuite { clock in
        let directory = try TemporaryDirectory()
        let path = directory.path("gate.sqlite")
        // Every call opens another connection on the same file, as another gate process would.
        return { withExtendedLifetime(directory) {}; return try SQLiteGateStore(path: path, clock: clock) }
    }

    static let memorySpend = SpendStoreContractSuite {
        let store = MemorySpendStore()
        return { store }
    }

    static let sqliteSpend = SpendStoreContractSuite {
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        return { withExtendedLifetime(directory) {}; return try SQLiteSpendStore(path: path) }
    }

    @Test("the memory gate store keeps the gate store contract", arguments: GateStoreContractSuite.Check.allCases)
    func memoryGateStore(check: GateStoreContractSuite.Check) async throws {
        try await Self.memoryGate.run(check)
    }

    @Test("the SQLite gate store keeps the gate store contract", arguments: GateStoreContractSuite.Check.allCases)
    func sqliteGateStore(check: GateStoreContractSuite.Check) async throws {
        try await Self.sqliteGate.run(check)
    }

    @Test("the memory spend store keeps the spend store contract", arguments: SpendStoreContractSuite.Check.allCases)
    func memorySpendStore(check: SpendStoreContractSuite.Check) async throws {
        try await Self.memorySpend.run(check)
    }

    @Test("the SQLite spend store keeps the spend store contract", arguments: SpendStoreContractSuite.Check.allCases)
    func sqliteSpendStore(check: SpendStoreContractSuite.Check) async throws {
        try await Self.sqliteSpend.run(check)
    }

    @Test("a gate store that lets a second payment of one challenge win is caught")
    func catchesDoubleConsume() async throws {
        let suite = GateStoreContractSuite { clock in
            let store = ForgetfulGateStore(inner: MemoryGateStore(clock: clock))
            return { store }
        }
        let violation = await #expect(throws: StoreContractViolation.self) { try await suite.run(.consumeOnce) }
        #expect(violation?.check == "consumeOnce")
        let race = await #expect(throws: StoreContractViolation.self) { try await suite.run(.concurrentConsumeExactlyOnce) }
        #expect(race?.rule.contains("exactly one") == true)
    }

    @Test("a spend store that reserves past the budget is caught")
    func catchesOverspend() async throws {
        let suite = SpendStoreContractSuite {
            let store = OverspendingSpendStore(inner: MemorySpendStore())
            return { store }
        }
        let violations = await suite.runAll()
        #expect(violations.contains { $0.check == "concurrentReservationsNeverOverspend" })
        #expect(violations.contains { $0.check == "hourlyWindowAndRetryAfter" })
    }
}

/// A broken gate store: every consume "wins", as a store ignoring its unique-key conflict would.
private struct ForgetfulGateStore: GateStore, PaymentEventStore {
    let inner: MemoryGateStore

    func saveChallenge(_ challenge: ChallengeRecord) async throws(StoreError) { try await inner.saveChallenge(challenge) }
    func challenge(id: String) async throws(StoreError) -> ChallengeRecord? { try await inner.challenge(id: id) }
    func consume(challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(StoreError) -> ConsumeResult {
        let result = try await inner.consume(challengeID: challengeID, settlement: settlement, receipt: receipt)
        if case .alreadyConsumed(let winner) = result {
            return .consumed(ConsumedChallenge(challengeID: challengeID, settlement: settlement, receipt: receipt, consumedAt: winner.consumedAt))
        }
        return result
    }
    func consumedChallenge(id challengeID: String) async throws(StoreError) -> ConsumedChallenge? { try await inner.consumedChallenge(id: challengeID) }
    func consumedChallenge(receiptTokenHash tokenHash: Data) async throws(StoreError) -> ConsumedChallenge? {
        try await inner.consumedChallenge(receiptTokenHash: tokenHash)
    }
    func saveResponse(_ response: StoredResponse, receiptID: String) async throws(StoreError) { try await inner.saveResponse(response, receiptID: receiptID) }
    func idempotencyLookup(key: String, payloadHash: Data) async throws(StoreError) -> IdempotencyLookup {
        try await inner.idempotencyLookup(key: key, payloadHash: payloadHash)
    }
    func saveIdempotentResponse(_ record: IdempotencyRecord) async throws(StoreError) -> IdempotencySaveResult {
        try await inner.saveIdempotentResponse(record)
    }
    func take(_ count: Int, from clientKey: String, policy: TokenBucketPolicy) async throws(StoreError) -> RateLimitDecision {
        try await inner.take(count, from: clientKey, policy: policy)
    }
    func purgeExpired(now: Date) async throws(StoreError) -> PurgeReport { try await inner.purgeExpired(now: now) }
    func consumedChallenge(settlementReference reference: String) async throws(StoreError) -> ConsumedChallenge? {
        try await inner.consumedChallenge(settlementReference: reference)
    }
    func refunds(challengeID: String) async throws(StoreError) -> [RefundRecord] { try await inner.refunds(challengeID: challengeID) }
    func reserveRefund(_ refund: RefundRecord) async throws(StoreError) -> RefundReservation { try await inner.reserveRefund(refund) }
    func completeRefund(challengeID: String, key: String, status: RefundStatus, railRefundID: String?) async throws(StoreError) -> RefundRecord {
        try await inner.completeRefund(challengeID: challengeID, key: key, status: status, railRefundID: railRefundID)
    }
    func endGrant(challengeID: String) async throws(StoreError) { try await inner.endGrant(challengeID: challengeID) }
    func recordEvent(_ event: PaymentEventRecord) async throws(StoreError) -> Bool { try await inner.recordEvent(event) }
    func knownEvent(id: String) async throws(StoreError) -> Bool { try await inner.knownEvent(id: id) }
}

/// A broken spend store: reserves with every cap of the known units lifted (the budget never checked).
private struct OverspendingSpendStore: SpendStore {
    let inner: MemorySpendStore

    func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        let unlimited = SpendLimits(Dictionary(uniqueKeysWithValues: limits.units.map { ($0, SpendLimits.Limit()) }))
        return try await inner.reserve(record, limits: unlimited, now: now)
    }
    func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await inner.markPaid(paymentID: paymentID, proof: proof, now: now)
    }
    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord {
        try await inner.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, now: now)
    }
    func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await inner.release(paymentID: paymentID, reason: reason, now: now)
    }
    func record(paymentID: String) async throws(StoreError) -> SpendRecord? { try await inner.record(paymentID: paymentID) }
    func unfinished() async throws(StoreError) -> [SpendRecord] { try await inner.unfinished() }
    func records(since: Date?) async throws(StoreError) -> [SpendRecord] { try await inner.records(since: since) }
}
