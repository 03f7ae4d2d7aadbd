import Foundation
import PayRail

// Every operation is short and never waits for I/O, so one lock (not an actor) keeps reserve's
// check-then-insert atomic and the async methods never suspend while holding it.
//
// The ledger only grows, and a reservation must cost what its budget window holds, not what the
// whole ledger holds. So the store keeps the ledger order (reservation time, then insertion) as an
// index maintained on insert (an append, unless a clock moved back), the same order per unit for the
// budget windows (found by binary search), the unfinished ids, and each host and rail's ids for the
// price memory: no operation sorts or scans the whole ledger.

/// A `SpendStore` in memory, for tests and demos; forgets every budget when the process ends, so never
/// use it for an agent with real money.
public final class MemorySpendStore: SpendStore, @unchecked Sendable {
    // @unchecked: every stored property below `lock` is only touched inside `locked` / `lock.withLock`.
    private let lock = NSLock()
    private var records: [String: SpendRecord] = [:]

    /// One record's place in the ledger order: reservation time, then insertion (like SQLite's rowid).
    private struct Position: Comparable {
        let reservedAt: Int64
        let sequence: Int
        let paymentID: String
        static func < (lhs: Position, rhs: Position) -> Bool {
            (lhs.reservedAt, lhs.sequence) < (rhs.reservedAt, rhs.sequence)
        }
    }

    private struct HostRail: Hashable {
        let host: String
        let rail: RailID
    }

    private var nextSequence = 0
    /// Every record, oldest reservation first.
    private var ledger: [Position] = []
    /// Every record of each unit, oldest reservation first.
    private var byUnit: [MoneyUnit: [Position]] = [:]
    /// Every record of each host and rail, oldest reservation first.
    private var byHostRail: [HostRail: [Position]] = [:]
    /// Reserved or paid records.
    private var unfinishedIDs: Set<String> = []

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
            // The sums decide an acceptance; only a refusal needs the entries (see `SpendBudget.fits`).
            let fits = SpendBudget.fits(record.amount, limits: limits) { windowSums(of: record.amount.unit, now: nowMilliseconds) }
            if !fits {
                let entries = windowEntries(of: record.amount.unit, since: nowMilliseconds - SpendBudget.dayMilliseconds)
                if let refusal = SpendBudget.refusal(for: record.amount, limits: limits, entries: entries, now: nowMilliseconds) {
                    return .refused(refusal)
                }
            }
            insert(record)
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

    /// Reserved or paid -> committed, keeping the server's standard receipt.
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                       standardReceipt: LedgerReceipt?, now: Date) async throws(StoreError) -> SpendRecord {
        try update(paymentID) { record throws(StoreError) in
            try SpendTransition.commit(record, receipt: receipt, reference: reference, note: note, amount: amount,
                                       standardReceipt: standardReceipt, now: now)
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
        lock.withLock {
            unfinishedIDs.compactMap { id in records[id].map { (Self.position(of: $0, in: ledger), $0) } }
                .sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The ledger from `since` (inclusive), oldest first.
    public func records(since: Date?) async throws(StoreError) -> [SpendRecord] {
        let since = since.map(StoreTime.milliseconds)
        return lock.withLock {
            let start = since.map { since in Self.firstIndex(in: ledger) { $0.reservedAt >= since } } ?? 0
            return ledger[start...].compactMap { records[$0.paymentID] }
        }
    }

    /// Committed records of `host` on `rail`, newest reservation first (see `SpendStore`).
    public func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord] {
        lock.withLock {
            let positions = byHostRail[HostRail(host: host, rail: rail)] ?? []
            return Array(positions.reversed().lazy.compactMap { self.records[$0.paymentID] }.filter { $0.state == .committed }
                .dropFirst(max(0, offset)).prefix(max(0, limit)))
        }
    }

    // MARK: - Private (called with the lock held)

    /// The non-released spends of `unit` reserved after `since` (later ones, from a clock ahead, count
    /// too), oldest first. A function of its own so no copy of the unit's index outlives it: `insert`
    /// then grows the index in place instead of copying it.
    private func windowEntries(of unit: MoneyUnit, since: Int64) -> [BudgetEntry] {
        guard let unitLedger = byUnit[unit] else { return [] }
        let start = Self.firstIndex(in: unitLedger) { $0.reservedAt > since }
        return unitLedger[start...].compactMap { position -> BudgetEntry? in
            guard let stored = records[position.paymentID], stored.state.countsAgainstBudget else { return nil }
            return BudgetEntry(amount: stored.amount.amount, reservedAtMilliseconds: position.reservedAt)
        }
    }

    /// What the non-released spends of `unit` add up to in the hour and the day before `now` (later
    /// ones count too), in one pass over the day and without building its entries; `nil` past 64 bits.
    private func windowSums(of unit: MoneyUnit, now: Int64) -> WindowSums {
        guard let unitLedger = byUnit[unit] else { return WindowSums(hour: 0, day: 0) }
        let hourStart = now - SpendBudget.hourMilliseconds
        var hour: Int64? = 0
        var day: Int64? = 0
        func add(_ amount: Int64, to sum: Int64?) -> Int64? {
            guard let sum else { return nil }
            let (total, overflow) = sum.addingReportingOverflow(amount)
            return overflow ? nil : total
        }
        let start = Self.firstIndex(in: unitLedger) { $0.reservedAt > now - SpendBudget.dayMilliseconds }
        for position in unitLedger[start...] {
            guard let stored = records[position.paymentID], stored.state.countsAgainstBudget else { continue }
            day = add(stored.amount.amount, to: day)
            if position.reservedAt > hourStart { hour = add(stored.amount.amount, to: hour) }
        }
        return WindowSums(hour: hour, day: day)
    }

    private func insert(_ record: SpendRecord) {
        let position = Position(reservedAt: StoreTime.milliseconds(record.reservedAt), sequence: nextSequence, paymentID: record.paymentID)
        nextSequence += 1
        records[record.paymentID] = record
        unfinishedIDs.insert(record.paymentID)
        Self.insert(position, into: &ledger)
        // Taken out of the dictionary while changed, so the array is uniquely referenced and grows in place.
        var unitList = byUnit.removeValue(forKey: record.amount.unit) ?? []
        Self.insert(position, into: &unitList)
        byUnit[record.amount.unit] = unitList
        let key = HostRail(host: record.host, rail: record.rail)
        var hostList = byHostRail.removeValue(forKey: key) ?? []
        Self.insert(position, into: &hostList)
        byHostRail[key] = hostList
    }

    /// Keeps `list` sorted; an append when times only grow, as they do unless a clock moves back.
    private static func insert(_ position: Position, into list: inout [Position]) {
        if let last = list.last, position < last {
            list.insert(position, at: firstIndex(in: list) { position < $0 })
        } else {
            list.append(position)
        }
    }

    /// The first index of sorted `list` whose element satisfies `predicate` (false, then true), or `list.count`.
    private static func firstIndex(in list: [Position], where predicate: (Position) -> Bool) -> Int {
        var low = 0
        var high = list.count
        while low < high {
            let middle = (low + high) / 2
            if predicate(list[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// A record's ledger position (for sorting the few unfinished ones): found by binary search on time.
    private static func position(of record: SpendRecord, in ledger: [Position]) -> Position {
        let reservedAt = StoreTime.milliseconds(record.reservedAt)
        var index = firstIndex(in: ledger) { $0.reservedAt >= reservedAt }
        while index < ledger.count, ledger[index].reservedAt == reservedAt {
            if ledger[index].paymentID == record.paymentID { return ledger[index] }
            index += 1
        }
        return Position(reservedAt: reservedAt, sequence: Int.max, paymentID: record.paymentID)
    }

    private func update(_ paymentID: String, _ change: (SpendRecord) throws(StoreError) -> SpendRecord) throws(StoreError) -> SpendRecord {
        try locked { () throws(StoreError) -> SpendRecord in
            guard let record = records[paymentID] else { throw SpendTransition.notFound(paymentID) }
            let next = try change(record)
            records[paymentID] = next
            if next.state.isUnfinished { unfinishedIDs.insert(paymentID) } else { unfinishedIDs.remove(paymentID) }
            return next
        }
    }
}
