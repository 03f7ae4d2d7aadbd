import Foundation
import PayRail
import PayRailStore

// The governor is the one door to the agent's money: the paying client reserves before the wallet
// pays, and commits or releases afterwards. The budget decision itself happens inside the store's
// atomic reserve (one SQLite transaction, or one lock), so the actor adds no correctness of its own
// across processes; it gives the limits and the clock one owner and turns store failures into errors
// that say what to do next.

/// Budgets per request, per sliding hour and per sliding day, per unit, over a persistent spend ledger.
///
/// Flow for one paid call: `reserve` (refused when over budget, before any money moves) -> the wallet
/// pays -> `markPaid` with the proof to retry with -> retry -> `commit` with the receipt. When paying
/// fails before money moved, `release` gives the budget back. Each step happens exactly once; after a
/// crash, `unfinished()` lists what still needs finishing.
public actor SpendGovernor {
    private let store: any SpendStore
    private let clock: any PayRailClock
    /// The budgets every reservation is checked against.
    public private(set) var limits: SpendLimits

    /// Creates a governor over `store` with `limits`, reading the time from `clock`.
    public init(store: any SpendStore, limits: SpendLimits, clock: any PayRailClock = SystemClock()) {
        self.store = store
        self.limits = limits
        self.clock = clock
    }

    /// Replaces the budgets for later reservations; spends already reserved keep counting.
    public func updateLimits(_ limits: SpendLimits) {
        self.limits = limits
    }

    /// Reserves `request.amount` against every budget of its unit, atomically with other tasks and
    /// processes sharing the ledger.
    ///
    /// - Throws: `SpendError` `.overBudget` with the refusal (nothing reserved: do not pay),
    ///   `.duplicate` with the existing record when the payment id was already reserved (a retry:
    ///   continue from that record), `.store` when the ledger failed.
    public func reserve(_ request: SpendRequest) async throws(SpendError) -> SpendRecord {
        let now = clock.now()
        let record = SpendRecord(paymentID: request.paymentID, amount: request.amount, rail: request.rail, host: request.host,
                                 method: request.method, url: request.url, offerID: request.offerID, context: request.context,
                                 reservedAt: now)
        let outcome: ReserveOutcome
        do {
            outcome = try await store.reserve(record, limits: limits, now: now)
        } catch {
            throw await translate(error, paymentID: request.paymentID)
        }
        switch outcome {
        case .reserved(let stored): return stored
        case .refused(let refusal): throw SpendError.overBudget(refusal)
        case .existing(let existing): throw SpendError.duplicate(existing)
        }
    }

    /// Records that the wallet paid, with the proof (credential headers) needed to retry without paying again.
    ///
    /// - Throws: `SpendError` `.notFound`, `.invalidTransition` when the spend is not reserved, `.store`.
    public func markPaid(_ paymentID: String, proof: String) async throws(SpendError) -> SpendRecord {
        do {
            return try await store.markPaid(paymentID: paymentID, proof: proof, now: clock.now())
        } catch {
            throw await translate(error, paymentID: paymentID)
        }
    }

    /// Finishes a reserved or paid spend with its receipt and settlement reference; erases the proof.
    ///
    /// - Parameters:
    ///   - note: why there is no receipt, when there is none.
    ///   - amount: what was actually spent (price plus the fee the wallet reported), at most the reserved
    ///     amount and in its unit; `nil` (an unknown fee) keeps the reserved amount.
    /// - Throws: `SpendError` `.notFound`, `.invalidTransition` when already committed or released, `.store`
    ///   (with `.invalidArgument` for an amount above the reservation or in another unit).
    ///   - standardReceipt: the server's standard `Payment-Receipt` and how it was checked, when it sent one.
    public func commit(_ paymentID: String, receipt: String?, reference: String?, note: String? = nil,
                       amount: Money? = nil, standardReceipt: LedgerReceipt? = nil) async throws(SpendError) -> SpendRecord {
        do {
            return try await store.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, amount: amount,
                                          standardReceipt: standardReceipt, now: clock.now())
        } catch {
            throw await translate(error, paymentID: paymentID)
        }
    }

    /// Gives back the budget of a spend that did not pay.
    ///
    /// - Throws: `SpendError` `.notFound`, `.invalidTransition` when the spend was paid (that money is
    ///   gone: retry with the proof and commit instead), committed or already released, `.store`.
    public func release(_ paymentID: String, reason: String) async throws(SpendError) -> SpendRecord {
        do {
            return try await store.release(paymentID: paymentID, reason: reason, now: clock.now())
        } catch {
            throw await translate(error, paymentID: paymentID)
        }
    }

    /// The spend with this payment id, or `nil`.
    public func record(_ paymentID: String) async throws(SpendError) -> SpendRecord? {
        do {
            return try await store.record(paymentID: paymentID)
        } catch {
            throw await translate(error, paymentID: paymentID)
        }
    }

    /// Every reserved or paid spend, oldest first: what to finish after a restart.
    public func unfinished() async throws(SpendError) -> [SpendRecord] {
        do {
            return try await store.unfinished()
        } catch {
            throw await translate(error, paymentID: nil)
        }
    }

    /// The reserved or paid spends of one request (`method` and absolute `url`), oldest first.
    public func unfinished(method: String, url: String) async throws(SpendError) -> [SpendRecord] {
        do {
            return try await store.unfinished(method: method, url: url)
        } catch {
            throw await translate(error, paymentID: nil)
        }
    }

    /// The ledger from `since` (every spend when `nil`), oldest first.
    public func ledger(since: Date? = nil) async throws(SpendError) -> [SpendRecord] {
        do {
            return try await store.records(since: since)
        } catch {
            throw await translate(error, paymentID: nil)
        }
    }

    /// The committed spends of `host` on `rail`, newest first, a page at a time (for the price memory).
    public func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(SpendError) -> [SpendRecord] {
        do {
            return try await store.committed(host: host, rail: rail, offset: offset, limit: limit)
        } catch {
            throw await translate(error, paymentID: nil)
        }
    }

    /// Per unit (every unit with a budget or a spend, sorted by code): what the hourly and daily caps
    /// see now, all committed spends, and money in flight.
    public func totals() async throws(SpendError) -> [SpendTotals] {
        let records = try await ledger()
        let now = clock.now()
        let hourStart = now.addingTimeInterval(-3600)
        let dayStart = now.addingTimeInterval(-86_400)
        var units = Set(limits.units)
        for record in records { units.insert(record.amount.unit) }
        return units.sorted { ($0.code, $0.exponent) < ($1.code, $1.exponent) }.map { unit in
            var hour: Int64 = 0, day: Int64 = 0, committed: Int64 = 0, pending: Int64 = 0
            for record in records where record.amount.unit == unit {
                let amount = record.amount.amount
                if record.state.countsAgainstBudget, record.reservedAt > hourStart { hour = Self.add(hour, amount) }
                if record.state.countsAgainstBudget, record.reservedAt > dayStart { day = Self.add(day, amount) }
                if record.state == .committed { committed = Self.add(committed, amount) }
                if record.state.isUnfinished { pending = Self.add(pending, amount) }
            }
            return SpendTotals(unit: unit, lastHour: Self.money(hour, unit), lastDay: Self.money(day, unit),
                               committed: Self.money(committed, unit), pending: Self.money(pending, unit),
                               limit: limits.limit(for: unit))
        }
    }

    // MARK: - Private

    /// Sums for display stop at Int64.max instead of trapping; reservations themselves are checked exactly.
    private static func add(_ total: Int64, _ amount: Int64) -> Int64 {
        let (sum, overflow) = total.addingReportingOverflow(amount)
        return overflow ? Int64.max : sum
    }

    private static func money(_ amount: Int64, _ unit: MoneyUnit) -> Money {
        (try? Money(amount: amount, unit: unit)) ?? .zero(unit)
    }

    /// Maps a store failure to the governor's codes; an invalid transition carries the record as it now stands.
    private func translate(_ error: StoreError, paymentID: String?) async -> SpendError {
        switch error.code {
        case .invalidTransition:
            var current: SpendRecord?
            if let paymentID { current = try? await store.record(paymentID: paymentID) }
            return SpendError(code: .invalidTransition, reason: error.reason, record: current)
        case .notFound:
            return SpendError(code: .notFound, reason: error.reason)
        default:
            return SpendError(code: .store, reason: error.description, storeError: error)
        }
    }
}
