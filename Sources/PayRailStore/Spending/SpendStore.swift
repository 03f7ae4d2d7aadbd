import Foundation
import PayRail

// The budget check and the insert must be one atomic step: checking first and inserting later lets
// fifty tasks (or two processes) all see the same room in the budget and all spend it. So the store,
// not its caller, decides whether a reservation fits: in SQLite inside one BEGIN IMMEDIATE
// transaction, in memory under one lock.

extension StoreError.Code {
    /// The spend is not in a state that allows this step (a second commit, a release after paying):
    /// each step happens exactly once. Read the record to see where it stands; repeating will not help.
    public static let invalidTransition = StoreError.Code(rawValue: "invalidTransition")
}

/// The agent's spend ledger: budget reservations and what became of them.
///
/// Every method takes `now` from its caller (the `SpendGovernor`'s clock) so tests can slide the
/// windows without sleeping.
public protocol SpendStore: Sendable {
    /// Reserves budget for `record` (which must be in state `.reserved`), atomically.
    ///
    /// In one step (one `BEGIN IMMEDIATE` transaction in SQLite, so other tasks and other processes
    /// sharing the file wait): returns `.existing` when the payment id is already stored (nothing is
    /// written), refuses a unit without a budget and an amount above the per-request cap, then adds
    /// this amount to the sum of every non-released record of the same unit reserved in the last hour
    /// and the last 24 hours (`reservedAt > now - window`; records dated after `now`, from a clock that
    /// moved back or a process whose clock is ahead, count too) and refuses when a cap would be passed
    /// or the sum overflows. Otherwise it inserts the record.
    ///
    /// - Throws: `StoreError` `.invalidArgument` for an empty payment id, a record not in state
    ///   `.reserved` or limits written in the wrong unit; `.busy` when the file stayed locked (nothing
    ///   was written, retrying is safe).
    func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome

    /// Records that the wallet paid, keeping `proof` to retry with: reserved -> paid only.
    ///
    /// - Throws: `StoreError` `.notFound`, or `.invalidTransition` when the spend is not reserved.
    func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord

    /// Finishes a spend: reserved or paid -> committed, storing the receipt and reference and erasing the proof.
    ///
    /// - Throws: `StoreError` `.notFound`, or `.invalidTransition` when the spend is already committed or released.
    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord

    /// Finishes a spend like `commit(paymentID:receipt:reference:note:now:)`, lowering its amount to
    /// what was actually spent (the price plus the fee the wallet reported), so budgets are not held by
    /// fees never paid. `nil` keeps the reserved amount.
    ///
    /// - Throws: `StoreError` `.invalidArgument` when `amount` is in another unit than the reservation,
    ///   negative or above it (a commit never counts more than was reserved); otherwise as `commit`.
    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                now: Date) async throws(StoreError) -> SpendRecord

    /// Finishes a spend like `commit(paymentID:receipt:reference:note:amount:now:)`, keeping the
    /// server's standard `Payment-Receipt` and how it was checked (`LedgerReceipt`).
    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                standardReceipt: LedgerReceipt?, now: Date) async throws(StoreError) -> SpendRecord

    /// Gives the budget back: reserved -> released only (money that was paid cannot be given back).
    ///
    /// - Throws: `StoreError` `.notFound`, or `.invalidTransition` when the spend is paid, committed or released.
    func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord

    /// The record with this payment id, or `nil`.
    func record(paymentID: String) async throws(StoreError) -> SpendRecord?

    /// Every reserved or paid record, oldest reservation first: what a restarted agent must finish.
    func unfinished() async throws(StoreError) -> [SpendRecord]

    /// The reserved or paid records of one request (`method` and `url` exactly as recorded), oldest
    /// reservation first: what a paying client looks for before paying afresh, without reading
    /// every unfinished spend of every agent on the ledger.
    func unfinished(method: String, url: String) async throws(StoreError) -> [SpendRecord]

    /// The ledger: every record reserved at or after `since` (all when `nil`), oldest first.
    func records(since: Date?) async throws(StoreError) -> [SpendRecord]

    /// The committed records of `host` on `rail`, newest reservation first, skipping the first `offset`
    /// and returning at most `limit`: what a price memory pages through, without reading the ledger.
    func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord]
}

extension SpendStore {
    /// For stores written before this query existed: filters `unfinished()` (correct, not fast).
    public func unfinished(method: String, url: String) async throws(StoreError) -> [SpendRecord] {
        try await unfinished().filter { $0.method == method && $0.url == url }
    }

    /// For stores written before this query existed: reads the whole ledger (correct, not fast).
    public func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord] {
        let matching = try await records(since: nil).reversed().filter { $0.state == .committed && $0.host == host && $0.rail == rail }
        return Array(matching.dropFirst(max(0, offset)).prefix(max(0, limit)))
    }

    /// For stores written before actual amounts existed: commits and keeps the reserved amount, which
    /// never counts less than was spent (only more, by the unused fee).
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                       now: Date) async throws(StoreError) -> SpendRecord {
        try await commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, now: now)
    }

    /// For stores written before standard receipts were kept: commits without it (the reference is
    /// still kept in `reference`).
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                       standardReceipt: LedgerReceipt?, now: Date) async throws(StoreError) -> SpendRecord {
        try await commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, amount: amount, now: now)
    }
}

/// What `SpendStore.reserve` did.
public enum ReserveOutcome: Sendable, Hashable {
    /// The budget was reserved; this is the stored record.
    case reserved(SpendRecord)
    /// A budget would be exceeded; nothing was written.
    case refused(BudgetRefusal)
    /// The payment id is already stored (a retry of the same call); nothing was written.
    case existing(SpendRecord)
}

/// Why a reservation did not fit, in numbers a person can act on.
public struct BudgetRefusal: Sendable, Hashable, CustomStringConvertible {
    /// The budget that refused.
    public enum Window: String, Sendable, Hashable {
        /// The amount alone is above the per-request cap.
        case perRequest
        /// The sliding 60-minute budget.
        case hour
        /// The sliding 24-hour budget.
        case day
        /// The unit has no budget at all.
        case noBudget
    }

    /// The budget that refused (when several would, the one that clears last).
    public let window: Window
    /// The unit of the refused amount.
    public let unit: MoneyUnit
    /// The cap that would be passed (`nil` for `.noBudget`).
    public let limit: Money?
    /// What already counts against `window` (reserved, paid and committed); `Int64.max` minor units when
    /// the true sum does not fit 64 bits.
    public let alreadySpent: Money
    /// The amount asked for.
    public let requested: Money
    /// When enough of the window will have slid out for this amount to fit, if nothing else is reserved
    /// meanwhile; `nil` when it never will (the amount alone is above the cap, or there is no budget).
    public let retryAfter: Date?

    /// Creates a refusal.
    public init(window: Window, unit: MoneyUnit, limit: Money?, alreadySpent: Money, requested: Money, retryAfter: Date?) {
        self.window = window
        self.unit = unit
        self.limit = limit
        self.alreadySpent = alreadySpent
        self.requested = requested
        self.retryAfter = retryAfter
    }

    /// One line, e.g. "the hourly budget of 2000sat has 100sat left; this needs 300sat (enough frees up at ...)".
    public var description: String {
        let needs = "this needs \(requested)"
        switch window {
        case .noBudget:
            return "there is no budget for \(unit), so nothing may be spent in it; \(needs) (set a budget for \(unit))"
        case .perRequest:
            let cap = limit.map { "\($0)" } ?? "unset"
            return "the per-request limit is \(cap); \(needs), which no budget window will ever allow"
        case .hour, .day:
            let name = window == .hour ? "hourly" : "daily"
            let cap = limit.map { "\($0)" } ?? "unset"
            let left: String
            if let limit, limit.amount > alreadySpent.amount {
                left = "\((try? limit.subtracting(alreadySpent)) ?? Money.zero(unit)) left"
            } else {
                left = "nothing left"
            }
            let when: String
            if let retryAfter {
                when = "enough frees up at \(retryAfter.formatted(.iso8601))"
            } else {
                when = "it can never fit"
            }
            return "the \(name) budget of \(cap) has \(left); \(needs) (\(when))"
        }
    }
}
