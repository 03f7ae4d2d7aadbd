import Foundation
import PayRail
import PayRailStore

// The spend ledger contract at the edges of the budget windows, where a store that decides from
// window sums (instead of the window's spends) would go wrong first: the exact window bounds,
// released spends, caps filled to the last minor unit, sums beyond 64 bits and units that share a
// code. Every refusal is compared field by field with what the exact arithmetic gives.

extension SpendStoreContractSuite {
    /// Reserves `amount` of `unit` as `id` at `date` (the reservation's own time is now).
    private func reserve(_ store: any SpendStore, _ id: String, _ amount: Int64, _ unit: MoneyUnit = .sat, at date: Date,
                         limits: SpendLimits) async throws -> ReserveOutcome {
        try await store.reserve(try ContractSample.spend(id, amount, unit, at: date), limits: limits, now: date)
    }

    func windowBounds(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let start = clock.now()
        try await windowBound(store, probe, window: .hour, seconds: 3600, prefix: "h", from: start,
                              limits: try ContractSample.limits(perHour: 1000, perDay: 100_000))
        try await windowBound(store, probe, window: .day, seconds: 86_400, prefix: "d", from: start.addingTimeInterval(6 * 86_400),
                              limits: try ContractSample.limits(perHour: 100_000, perDay: 1000))
    }

    /// One window's bound, to the millisecond, under `limits` whose cap for that window is 1000: a
    /// spend exactly `seconds` old no longer counts, one a millisecond younger still does (refused with
    /// what is already spent and when it fits), and what is left of the window fits.
    private func windowBound(_ store: any SpendStore, _ probe: ContractProbe, window: BudgetRefusal.Window, seconds: TimeInterval,
                             prefix: String, from start: Date, limits: SpendLimits) async throws {
        let name = window == .hour ? "an hour" : "a day"
        _ = try await reserve(store, "\(prefix)-old", 700, at: start, limits: limits)
        try probe.expect(try await reserve(store, "\(prefix)-at-bound", 1000, at: start.addingTimeInterval(seconds), limits: limits)
                            .reservedRecord != nil, "a spend reserved exactly \(name) ago no longer counts in the \(window == .hour ? "hour" : "day")")
        let inside = start.addingTimeInterval(3 * 86_400)
        _ = try await reserve(store, "\(prefix)-inside", 700, at: inside, limits: limits)
        let almost = inside.addingTimeInterval(seconds - 0.001)
        let refusal = try await reserve(store, "\(prefix)-301", 301, at: almost, limits: limits).refusal
        try probe.expect(refusal?.window == window && refusal?.alreadySpent == (try ContractSample.money(700))
                            && refusal?.retryAfter == inside.addingTimeInterval(seconds),
                         "a spend one millisecond younger than \(name) still counts", "\(String(describing: refusal))")
        try probe.expect(try await reserve(store, "\(prefix)-300", 300, at: almost, limits: limits).reservedRecord != nil,
                         "what is left of the \(window == .hour ? "hour" : "day") fits")
    }

    func releasedNeverCount(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 1000, perDay: 1000)
        let now = clock.now()
        _ = try await reserve(store, "released", 1000, at: now, limits: limits)
        _ = try await store.release(paymentID: "released", reason: "the server answered 500 before payment", now: now)
        try probe.expect(try await reserve(store, "fills", 1000, at: now, limits: limits).reservedRecord != nil,
                         "a released spend counts in neither window")
        let refusal = try await reserve(store, "over", 1, at: now, limits: limits).refusal
        try probe.expect(refusal?.alreadySpent == (try ContractSample.money(1000)) && refusal?.retryAfter == now.addingTimeInterval(86_400),
                         "nor in what a refusal reports", "\(String(describing: refusal))")
        let usdMax = try ContractSample.money(Int64.max, .usd)
        let huge = SpendLimits([.usd: SpendLimits.Limit(perHour: usdMax, perDay: usdMax)])
        _ = try await reserve(store, "huge-released", Int64.max, .usd, at: now, limits: huge)
        _ = try await store.release(paymentID: "huge-released", reason: "offer expired", now: now)
        try probe.expect(try await reserve(store, "huge", Int64.max, .usd, at: now, limits: huge).reservedRecord != nil,
                         "a released spend of the whole 64 bits leaves room for another")
    }

    func capsFilledExactly(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let hourly = try ContractSample.limits(perHour: 1000, perDay: 5000)
        let start = clock.now()
        for (id, amount, minutes) in [("h1", 250, 0.0), ("h2", 250, 10), ("h3", 500, 20)] as [(String, Int64, Double)] {
            try probe.expect(try await reserve(store, id, amount, at: start.addingTimeInterval(minutes * 60), limits: hourly)
                                .reservedRecord != nil, "reservations up to exactly the hourly cap fit", id)
        }
        let later = start.addingTimeInterval(30 * 60)
        let one = try await reserve(store, "h-1", 1, at: later, limits: hourly).refusal
        try probe.expect(one?.window == .hour && one?.alreadySpent == (try ContractSample.money(1000))
                            && one?.retryAfter == start.addingTimeInterval(3600),
                         "the next minor unit is refused until the oldest spend slides out", "\(String(describing: one))")
        let more = try await reserve(store, "h-251", 251, at: later, limits: hourly).refusal
        try probe.expect(more?.window == .hour && more?.retryAfter == start.addingTimeInterval(70 * 60),
                         "a bigger amount waits for as many spends as it needs", "\(String(describing: more))")

        let daily = try ContractSample.limits(perDay: 1000)
        let day = start.addingTimeInterval(3 * 86_400)
        _ = try await reserve(store, "d1", 400, at: day, limits: daily)
        try probe.expect(try await reserve(store, "d2", 600, at: day.addingTimeInterval(7200), limits: daily).reservedRecord != nil,
                         "a reservation that fills the daily cap exactly fits")
        let next = try await reserve(store, "d-1", 1, at: day.addingTimeInterval(3 * 3600), limits: daily).refusal
        try probe.expect(next?.window == .day && next?.alreadySpent == (try ContractSample.money(1000))
                            && next?.retryAfter == day.addingTimeInterval(86_400) && next?.limit == (try ContractSample.money(1000)),
                         "the next is refused by the day", "\(String(describing: next))")
    }

    func sumsBeyond64Bits(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        // Only caps bound what a window holds, so with an hourly cap alone the day may hold more than
        // 64 bits: two spends of Int64.max an hour apart. Later reservations come when the hour is
        // empty, so only the day's sum (beyond 64 bits) can refuse them.
        let max = try ContractSample.money(Int64.max)
        let hourOnly = SpendLimits([.sat: SpendLimits.Limit(perHour: max)])
        let daily = SpendLimits([.sat: SpendLimits.Limit(perHour: max, perDay: max)])
        let start = clock.now()
        let second = start.addingTimeInterval(3600), third = second.addingTimeInterval(3600)
        _ = try await reserve(store, "max-1", Int64.max, at: start, limits: hourOnly)
        _ = try await reserve(store, "max-2", Int64.max, at: second, limits: hourOnly)
        let refusal = try await reserve(store, "one", 1, at: third, limits: daily).refusal
        try probe.expect(refusal?.window == .day && refusal?.alreadySpent == max && refusal?.retryAfter == second.addingTimeInterval(86_400),
                         "a day holding more than 64 bits refuses even one minor unit", "\(String(describing: refusal))")
        try probe.expect(try await reserve(store, "hour-only", 1, at: third, limits: hourOnly).reservedRecord != nil,
                         "a day beyond 64 bits does not refuse a unit without a daily cap")
        let another = try await reserve(store, "max-3", Int64.max, at: third.addingTimeInterval(3600), limits: daily).refusal
        try probe.expect(another?.window == .day && another?.alreadySpent == max && another?.retryAfter == third.addingTimeInterval(86_400),
                         "nor is another Int64.max accepted under a daily cap", "\(String(describing: another))")
    }

    func unitsIndependent(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let cents = try MoneyUnit(isoCode: "xts", exponent: 2), mills = try MoneyUnit(isoCode: "xts", exponent: 3)
        func cap(_ amount: Int64, _ unit: MoneyUnit) throws -> SpendLimits.Limit {
            SpendLimits.Limit(perHour: try Money(amount: amount, unit: unit), perDay: try Money(amount: amount, unit: unit))
        }
        let limits = SpendLimits([.sat: try cap(1000, .sat), .msat: try cap(5000, .msat), .usd: try cap(300, .usd),
                                  cents: try cap(100, cents), mills: try cap(100_000, mills)])
        let now = clock.now()
        // sat holds little, every other unit its whole cap: a sum taken over the wrong unit (or over
        // the code without its exponent) would let the next minor unit through somewhere.
        for (id, amount, unit) in [("mills", 99_000, mills), ("cents", 100, cents), ("msat", 5000, .msat), ("usd", 300, .usd),
                                   ("sat", 10, .sat)] as [(String, Int64, MoneyUnit)] {
            try probe.expect(try await reserve(store, id, amount, unit, at: now, limits: limits).reservedRecord != nil,
                             "each unit fills its own caps, whatever the others hold", "\(id)")
        }
        for (unit, spent) in [(MoneyUnit.msat, 5000), (.usd, 300), (cents, 100)] as [(MoneyUnit, Int64)] {
            let refusal = try await reserve(store, "over-\(unit)", 1, unit, at: now, limits: limits).refusal
            try probe.expect(refusal?.window == .day && refusal?.unit == unit && refusal?.alreadySpent == (try Money(amount: spent, unit: unit)),
                             "a refusal counts its own unit only", "\(String(describing: refusal))")
        }
        try probe.expect(try await reserve(store, "sat-rest", 990, at: now, limits: limits).reservedRecord != nil,
                         "sat still has its own room")
        try probe.expect(try await reserve(store, "mills-rest", 1000, mills, at: now, limits: limits).reservedRecord != nil,
                         "a code with another exponent is another unit")
    }

    func windowsSplitAtMinutes(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let base = clock.now().addingTimeInterval(10 * 86_400)
        // (id, milliseconds after base, amount, what happens to it, amount it ends at)
        let plan: [(String, Int64, Int64, String, Int64)] = [
            ("m-first-ms", 0, 100, "commit", 100), ("m-last-ms", 59_999, 200, "keep", 200), ("m-next", 60_000, 300, "paid", 300),
            ("m-lower", 60_001, 400, "commit-lower", 150), ("m-released", 90_000, 500, "release", 0),
            ("m-late", 119_999, 600, "commit", 600), ("m-later", 185_432, 700, "keep", 700), ("m-future", 3 * 86_400_000, 50, "keep", 50),
        ]
        let roomy = try ContractSample.limits(perHour: 1_000_000, perDay: 1_000_000)
        for (id, offset, amount, fate, final) in plan {
            let at = base.addingTimeInterval(Double(offset) / 1000)
            _ = try await reserve(store, id, amount, at: at, limits: roomy)
            switch fate {
            case "commit": _ = try await store.commit(paymentID: id, receipt: nil, reference: nil, note: nil, now: at)
            case "paid": _ = try await store.markPaid(paymentID: id, proof: ContractSample.proof, now: at)
            case "commit-lower":
                _ = try await store.commit(paymentID: id, receipt: nil, reference: nil, note: nil, amount: try ContractSample.money(final), now: at)
            case "release": _ = try await store.release(paymentID: id, reason: "test", now: at)
            default: break
            }
        }
        var probeNumber = 0
        for (window, seconds) in [(BudgetRefusal.Window.day, 86_400.0), (.hour, 3600)] {
            let cap: Int64 = 5000
            let limits = window == .day ? try ContractSample.limits(perHour: 1_000_000, perDay: cap)
                                        : try ContractSample.limits(perHour: cap, perDay: 1_000_000)
            for (_, offset, _, _, _) in plan.dropLast() {
                for delta: Int64 in [-1, 0, 1] {
                    // The window starts right at, before or after a spend's millisecond.
                    let start = offset + delta
                    let now = base.addingTimeInterval(Double(start) / 1000 + seconds)
                    let spent = plan.filter { $0.1 > start }.reduce(Int64(0)) { $0 + $1.4 }
                    probeNumber += 1
                    let over = try await reserve(store, "probe-\(probeNumber)-over", cap - spent + 1, at: now, limits: limits).refusal
                    try probe.expect(over?.window == window && over?.alreadySpent == (try ContractSample.money(spent)),
                                     "one minor unit over the \(window) cap is refused, counting exactly the spends after the window's start",
                                     "start \(start) ms: \(String(describing: over)), expected \(spent) spent")
                    let fits = try await reserve(store, "probe-\(probeNumber)-fits", cap - spent, at: now, limits: limits)
                    try probe.expect(fits.reservedRecord != nil, "what is left of the \(window) cap fits", "start \(start) ms")
                    _ = try await store.release(paymentID: "probe-\(probeNumber)-fits", reason: "probe", now: now)
                }
            }
        }
    }
}
