import Foundation
import PayRail

// Every operation is short and never waits for I/O, so one lock (not an actor) keeps reserve's
// check-then-insert atomic and the async methods never suspend while holding it.

/// A `SpendStore` in memory, for tests and demos; forgets every budget when the process ends, so never
/// use it for an agent with real money.
public final class MemorySpendStore: SpendStore, @unchecked Sendable {
    // @unchecked: `records` and `order` are only touched inside `locked`.
    private let lock = NSLock()
    private var records: [String: SpendRecord] = [:]
    /// Payment ids in insertion order, which breaks ties between equal reservation times like SQLite's rowid.
    private var order: [String] = []

    /// Creates an empty ledger.
    public init() {}

    /// `NSLock.withLock` rethrows untyped errors; this keeps `StoreError` typed.
    private func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Reserves budget atomically under the store's lock (see `SpendStore.reserve`).
    public func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        try SpendBudget.validate(record, limits: limits)
        let nowMilliseconds = StoreTime.milliseconds(now)
        return try locked { () throws(StoreError) -> ReserveOutcome in
            if let existing = records[record.paymentID] { return .existing(existing) }
            let since = nowMilliseconds - SpendBudget.dayMilliseconds
            let entries = sorted(order.compactMap { records[$0] }).compactMap { stored -> BudgetEntry? in
                let reservedAt = StoreTime.milliseconds(stored.reservedAt)
                guard stored.amount.unit == record.amount.unit, stored.state.countsAgainstBudget, reservedAt > since else { return nil }
                return BudgetEntry(amount: stored.amount.amount, reservedAtMilliseconds: reservedAt)
            }
            if let refusal = SpendBudget.refusal(for: record.amount, limits: limits, entries: entries, now: nowMilliseconds) {
                return .refused(refusal)
            }
            records[record.paymentID] = record
            order.append(record.paymentID)
            return .reserved(record)
        }
    }

    /// Reserved -> paid, keeping the proof.
    public func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord {
        try update(paymentID) { record throws(StoreError) in try SpendTransition.markPaid(record, proof: proof, now: now) }
    }

    /// Reserved or paid -> committed, erasing the proof.
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord {
        try update(paymentID) { record throws(StoreError) in
            try SpendTransition.commit(record, receipt: receipt, reference: reference, note: note, now: now)
        }
    }

    /// Reserved or paid -> committed at the amount actually spent (at most the reserved one).
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                       now: Date) async throws(StoreError) -> SpendRecord {
        try update(paymentID) { record throws(StoreError) in
            try SpendTransition.commit(record, receipt: receipt, reference: reference, note: note, amount: amount, now: now)
        }
    }

    /// Reserved -> released.
    public func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord {
        try update(paymentID) { record throws(StoreError) in try SpendTransition.release(record, reason: reason, now: now) }
    }

    /// The record with this payment id, if any.
    public func record(paymentID: String) async throws(StoreError) -> SpendRecord? {
        lock.withLock { records[paymentID] }
    }

    /// Reserved or paid records, oldest first.
    public func unfinished() async throws(StoreError) -> [SpendRecord] {
        lock.withLock { sorted(order.compactMap { records[$0] }).filter { $0.state.isUnfinished } }
    }

    /// The ledger from `since` (inclusive), oldest first.
    public func records(since: Date?) async throws(StoreError) -> [SpendRecord] {
        let since = since.map(StoreTime.normalized)
        return lock.withLock {
            sorted(order.compactMap { records[$0] }).filter { record in since.map { record.reservedAt >= $0 } ?? true }
        }
    }

    /// Oldest reservation first; the stable sort keeps insertion order between equal times.
    private func sorted(_ list: [SpendRecord]) -> [SpendRecord] {
        list.enumerated().sorted { ($0.element.reservedAt, $0.offset) < ($1.element.reservedAt, $1.offset) }.map(\.element)
    }

    private func update(_ paymentID: String, _ change: (SpendRecord) throws(StoreError) -> SpendRecord) throws(StoreError) -> SpendRecord {
        try locked { () throws(StoreError) -> SpendRecord in
            guard let record = records[paymentID] else { throw SpendTransition.notFound(paymentID) }
            let next = try change(record)
            records[paymentID] = next
            return next
        }
    }
}
