import Foundation
import PayRail

// The budget arithmetic both stores share, so the memory and SQLite stores give identical answers.
// Everything is whole milliseconds and Int64 minor units, with overflow checked: a sum that does not
// fit 64 bits is a refusal, never a trap.
//
// A record counts against a window at time t while reservedAt > t - window, so it stops counting at
// exactly reservedAt + window. Sums over a window only shrink as time passes (when nothing new is
// reserved), which is what makes "the earliest time it fits" well defined and the latest of the
// per-window answers the time when every window fits.

/// One counted spend: its amount in minor units and when it was reserved.
package struct BudgetEntry: Sendable {
    package let amount: Int64
    package let reservedAtMilliseconds: Int64

    package init(amount: Int64, reservedAtMilliseconds: Int64) {
        self.amount = amount
        self.reservedAtMilliseconds = reservedAtMilliseconds
    }
}

/// What a unit's non-released spends add up to in the hour and in the day window (those reserved after
/// now minus the window, later ones included), as a store's aggregate query gives it, so it can decide
/// without loading the spends; `nil` for a sum that does not fit 64 bits.
package struct WindowSums: Sendable, Hashable {
    package let hour: Int64?
    package let day: Int64?

    package init(hour: Int64?, day: Int64?) {
        self.hour = hour
        self.day = day
    }

    /// The sums of a query that overflowed before it could say which window did: nothing fits by them.
    package static let overflowed = WindowSums(hour: nil, day: nil)
}

/// How a budget window splits over the stores' per-minute running totals of spends (minute m holds
/// the spends reserved in [m * 60,000 ms, (m + 1) * 60,000 ms), floor division): a window counts the
/// spends reserved after `start`, which are the whole minutes from `firstWholeMinute` on (totals) and
/// the spends in (`start`, `wholeMinutesStart`) (rows, at most a minute's worth).
package struct SpendMinutes: Sendable, Hashable {
    package static let minuteMilliseconds: Int64 = 60_000

    /// The window counts spends reserved strictly after this time (ms).
    package let start: Int64
    /// The first minute whose every millisecond is after `start`.
    package let firstWholeMinute: Int64
    /// Where that minute begins (ms): the partial first minute's spends lie before it.
    package let wholeMinutesStart: Int64

    /// The split of the window of spends reserved after `start` (ms since 1970).
    package init(after start: Int64) {
        self.start = start
        firstWholeMinute = Self.minute(of: start) + 1
        wholeMinutesStart = firstWholeMinute * Self.minuteMilliseconds
    }

    /// The minute a spend reserved at `milliseconds` counts in (floor division, also before 1970).
    package static func minute(of milliseconds: Int64) -> Int64 {
        let remainder = milliseconds % minuteMilliseconds
        return (milliseconds - (remainder < 0 ? remainder + minuteMilliseconds : remainder)) / minuteMilliseconds
    }
}

/// What the window sums say of a reservation (`SpendBudget.fit`).
package enum BudgetFit: Sendable, Hashable {
    /// Every cap holds it.
    case fits
    /// A cap does not: only the refusal's details (from the window's spends) are left to compute.
    case refused
    /// A sum the decision needs did not fit 64 bits: the window's spends decide.
    case unsure
}

/// One try of a store's reservation under its lock: finished, or refused by the sums, with the
/// refusal's details left to read from the window's spends after the lock is given back.
package enum ReserveStep: Sendable {
    case finished(ReserveOutcome)
    case refusedBySums

    /// Tries of a reservation before its refusal is computed under the lock.
    package static let attempts = 3

    /// A store's reservation: `step(isLastTry)` runs under the store's lock and may stop at
    /// `.refusedBySums` (never on the last try, which computes the refusal under the lock); then
    /// `refusal()` reads the refusal's details after the lock is given back, since that read grows
    /// with the day's spends and, under the lock, would hold the other writers off for as long.
    /// `nil` there (a spend was released meanwhile) tries again.
    package static func reserve(
        step: (_ isLastTry: Bool) async throws(StoreError) -> ReserveStep,
        refusal: () async throws(StoreError) -> BudgetRefusal?
    ) async throws(StoreError) -> ReserveOutcome {
        for attempt in 1...attempts {
            if case .finished(let outcome) = try await step(attempt == attempts) { return outcome }
            if let refused = try await refusal() { return .refused(refused) }
        }
        throw StoreError(code: .internal, reason: "the reservation did not finish in \(attempts) tries", isRetrySafe: true)
    }
}

package enum SpendBudget {
    package static let hourMilliseconds: Int64 = 3_600_000
    package static let dayMilliseconds: Int64 = 86_400_000

    /// Validates what a caller may pass to `reserve`, before anything is locked or read.
    package static func validate(_ record: SpendRecord, limits: SpendLimits) throws(StoreError) {
        guard !record.paymentID.isEmpty else { throw StoreError.invalid("a payment id must not be empty") }
        guard record.state == .reserved, record.proof == nil, record.receipt == nil else {
            throw StoreError.invalid("a new spend must be in state reserved without proof or receipt, got \(record.state.rawValue)")
        }
        try limits.validate()
    }

    /// The refusal for `amount` given the non-released `entries` of its unit reserved within the last
    /// day (or later than now), or `nil` when it fits every window.
    ///
    /// - Parameter entries: sorted by reservation time, oldest first.
    package static func refusal(for amount: Money, limits: SpendLimits, entries: [BudgetEntry], now: Int64) -> BudgetRefusal? {
        let unit = amount.unit
        guard let limit = limits.limit(for: unit) else {
            return BudgetRefusal(window: .noBudget, unit: unit, limit: nil, alreadySpent: .zero(unit), requested: amount,
                                 retryAfter: nil)
        }
        if let cap = limit.perRequest, amount.amount > cap.amount {
            return BudgetRefusal(window: .perRequest, unit: unit, limit: cap, alreadySpent: .zero(unit), requested: amount,
                                 retryAfter: nil)
        }
        var refusals: [BudgetRefusal] = []
        for (window, cap, length) in [(BudgetRefusal.Window.hour, limit.perHour, hourMilliseconds),
                                      (.day, limit.perDay, dayMilliseconds)] {
            guard let cap else { continue }
            let counted = entries.filter { $0.reservedAtMilliseconds > now - length }
            if let refusal = check(amount, cap: cap, window: window, length: length, entries: counted) {
                refusals.append(refusal)
            }
        }
        // When several windows refuse, report the one that clears last: its retryAfter is when all fit.
        return refusals.max { earlier, later in
            switch (earlier.retryAfter, later.retryAfter) {
            case (nil, _): return false
            case (_, nil): return true
            case (let a?, let b?): return a < b
            }
        }
    }

    /// Whether `amount` fits every cap of its unit, decided from what the windows hold, so that a store
    /// accepts without loading the window's spends (a reservation then costs one aggregate query, not
    /// a read of every spend of the last day).
    ///
    /// `.fits` exactly when `refusal(for:limits:entries:now:)` returns `nil` for the spends that make
    /// up the sums, `.refused` exactly when it returns a refusal: the same caps, the same `<=`, and,
    /// amounts never being negative, a sum overflows in any order exactly when the exact path's does.
    /// `.unsure` when a sum the decision needs is missing (an overflowed query): load the entries and
    /// ask `refusal`, which only loses time, never money. Only `refusal` builds a refusal (its window,
    /// what is already spent, when it will fit).
    ///
    /// - Parameter sums: the unit's window sums; called only when the unit has an hourly or daily cap.
    package static func fit<Failure: Error>(_ amount: Money, limits: SpendLimits,
                                            sums: () throws(Failure) -> WindowSums) throws(Failure) -> BudgetFit {
        guard let limit = limits.limit(for: amount.unit) else { return .refused }
        if let cap = limit.perRequest, amount.amount > cap.amount { return .refused }
        if limit.perHour == nil, limit.perDay == nil { return .fits }
        func within(_ cap: Money?, _ spent: Int64?) -> Bool? {
            guard let cap else { return true }
            guard let spent else { return nil }
            let (total, overflow) = spent.addingReportingOverflow(amount.amount)
            return !overflow && total <= cap.amount
        }
        let spent = try sums()
        let windows = [within(limit.perHour, spent.hour), within(limit.perDay, spent.day)]
        if windows.contains(false) { return .refused }
        return windows.contains(nil) ? .unsure : .fits
    }

    /// `fit(_:limits:sums:) == .fits`: for a store that reads the entries whenever it is not sure.
    package static func fits<Failure: Error>(_ amount: Money, limits: SpendLimits,
                                             sums: () throws(Failure) -> WindowSums) throws(Failure) -> Bool {
        try fit(amount, limits: limits, sums: sums) == .fits
    }

    /// Checks one window; `entries` are exactly those counting in it now, oldest first.
    private static func check(_ amount: Money, cap: Money, window: BudgetRefusal.Window, length: Int64,
                              entries: [BudgetEntry]) -> BudgetRefusal? {
        // remaining[i]: the sum of entries[i...], i.e. what still counts once the i oldest have slid
        // out; nil once it overflows (then every earlier suffix overflows too).
        var remaining = [Int64?](repeating: nil, count: entries.count + 1)
        remaining[entries.count] = 0
        var index = entries.count - 1
        while index >= 0 {
            if let later = remaining[index + 1] {
                let (sum, overflow) = later.addingReportingOverflow(entries[index].amount)
                remaining[index] = overflow ? nil : sum
            }
            index -= 1
        }
        func fits(_ spent: Int64?) -> Bool {
            guard let spent else { return false }
            let (total, overflow) = spent.addingReportingOverflow(amount.amount)
            return !overflow && total <= cap.amount
        }
        if fits(remaining[0]) { return nil }
        var retryAfter: Date?
        if amount.amount <= cap.amount {
            for dropped in 1..<(entries.count + 1) where fits(remaining[dropped]) {
                let (clears, overflow) = entries[dropped - 1].reservedAtMilliseconds.addingReportingOverflow(length)
                retryAfter = overflow ? nil : StoreTime.date(milliseconds: clears)
                break
            }
        }
        let spent = remaining[0] ?? Int64.max
        let alreadySpent = (try? Money(amount: spent, unit: amount.unit)) ?? .zero(amount.unit)
        return BudgetRefusal(window: window, unit: amount.unit, limit: cap, alreadySpent: alreadySpent, requested: amount,
                             retryAfter: retryAfter)
    }
}

/// The exactly-once state machine both stores apply.
package enum SpendTransition {
    package static func markPaid(_ record: SpendRecord, proof: String, now: Date) throws(StoreError) -> SpendRecord {
        guard record.state == .reserved else {
            throw refused(record, "cannot be marked paid", allowed: "only a reserved spend can be marked paid, once")
        }
        var next = record
        next.state = .paid
        next.proof = proof
        next.updatedAt = StoreTime.normalized(now)
        return next
    }

    package static func commit(_ record: SpendRecord, receipt: String?, reference: String?, note: String?, amount: Money? = nil,
                       standardReceipt: LedgerReceipt? = nil, now: Date) throws(StoreError) -> SpendRecord {
        guard record.state.isUnfinished else {
            throw refused(record, "cannot be committed", allowed: "a spend is committed once, and never after it was released")
        }
        var next = record
        if let amount, amount != record.amount {
            guard amount.unit == record.amount.unit, amount.amount >= 0, amount.amount <= record.amount.amount else {
                throw StoreError.invalid("spend \(record.paymentID) reserved \(record.amount) and cannot be committed as \(amount): "
                                         + "a commit counts at most the reserved amount, in its unit")
            }
            next = SpendRecord(paymentID: record.paymentID, state: record.state, amount: amount, rail: record.rail, host: record.host,
                               method: record.method, url: record.url, offerID: record.offerID, context: record.context,
                               proof: record.proof, receipt: record.receipt, reference: record.reference, note: record.note,
                               reservedAt: record.reservedAt, updatedAt: record.updatedAt, standardReceipt: record.standardReceipt)
        }
        next.state = .committed
        next.standardReceipt = standardReceipt
        next.proof = nil
        next.receipt = receipt
        next.reference = reference
        next.note = note
        next.updatedAt = StoreTime.normalized(now)
        return next
    }

    package static func release(_ record: SpendRecord, reason: String, now: Date) throws(StoreError) -> SpendRecord {
        guard record.state == .reserved else {
            let allowed = record.state == .paid
                ? "the wallet already paid, so the money cannot be given back: retry with the proof, then commit"
                : "a spend is released once, and never after it was committed"
            throw refused(record, "cannot be released", allowed: allowed)
        }
        var next = record
        next.state = .released
        next.note = reason
        next.updatedAt = StoreTime.normalized(now)
        return next
    }

    package static func notFound(_ paymentID: String) -> StoreError {
        StoreError(code: .notFound, reason: "no spend has payment id \(paymentID)", isRetrySafe: false)
    }

    private static func refused(_ record: SpendRecord, _ what: String, allowed: String) -> StoreError {
        StoreError(code: .invalidTransition,
                   reason: "spend \(record.paymentID) is \(record.state.rawValue) and \(what): \(allowed)", isRetrySafe: false)
    }
}
