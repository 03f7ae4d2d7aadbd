import Foundation
import PayRail
import PayRailStore

// The executable form of the spend ledger contract, distilled from the memory and SQLite stores'
// tests: budgets and their refusals, the exactly-once state machine, ordering, exact round trips,
// and atomic reservation under concurrency across store instances on one ledger.

/// The reusable contract checks for a `SpendStore`.
public struct SpendStoreContractSuite: Sendable {
    /// The individual rules, runnable one by one.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// The per-request cap refuses an amount above it, for good; the cap itself fits.
        case perRequestCap
        /// The hourly window refuses what does not fit and says exactly when it will.
        case hourlyWindowAndRetryAfter
        /// A spend leaves the hour after 60 minutes but still counts against the day.
        case slidingWindows
        /// Units have separate budgets; a unit without one is refused outright.
        case unitsHaveSeparateBudgets
        /// Reserved, paid and committed spends count; released ones do not.
        case inFlightSpendsCount
        /// reserved -> paid -> committed, each once; commit erases the proof; release only from reserved.
        case transitionsHappenOnce
        /// A payment id is reserved once; a repeat returns the stored record and writes nothing.
        case reserveIsIdempotent
        /// The ledger and the unfinished list are oldest first; `since` is inclusive; paging by host and rail.
        case ledgerOrder
        /// A commit may lower the amount to what was spent, never raise it or change its unit.
        case commitActualAmount
        /// Sums beyond 64 bits and records dated after now are refused or counted, never a crash.
        case overflowAndFutureRecords
        /// An empty id, a record not reserved, caps in the wrong unit are `.invalidArgument`.
        case invalidArgumentsRefused
        /// Every field, custom units and the standard receipt round-trip exactly.
        case exactRoundTrip
        /// Concurrent reservations across store instances never exceed the budget.
        case concurrentReservationsNeverOverspend
        /// Concurrent commits of one spend across instances: exactly one succeeds.
        case concurrentCommitsOnce
        /// A spend exactly an hour (a day) old no longer counts in that window; a millisecond younger still does.
        case windowBoundsExact
        /// Released spends count in no window and in no refusal, even one of Int64.max.
        case releasedSpendsNeverCount
        /// Reservations that fill a cap exactly fit; the next minor unit is refused with what the window
        /// holds and when enough of it slides out.
        case capsFilledExactly
        /// A window holding more than 64 bits refuses under its cap, and a unit without that cap still reserves.
        case windowSumsBeyond64Bits
        /// Units (a code with another exponent too) fill and refuse on their own.
        case unitsIndependentUnderFullCaps
        /// Sums are exact when a window starts inside a minute, on a minute's first millisecond or its
        /// last, with spends committed lower, released, paid, or reserved in the future: what a store
        /// that keeps running totals per minute must get right at the window's first, partial minute.
        case windowsSplitAtMinutes
        /// `unfinished(method:url:)` lists exactly the reserved and paid spends of that method and URL,
        /// oldest first: not another method's, another URL's (even one that starts the same), nor a
        /// committed or released one.
        case unfinishedOfOneRequest

        /// The check's name.
        public var description: String { rawValue }
    }

    /// Makes a fresh, empty ledger and returns its opener.
    public let makeLedger: @Sendable () async throws -> SpendStoreOpener
    /// How many racers the concurrency checks start.
    public let concurrency: Int

    /// Creates the suite; `makeLedger` makes a fresh empty ledger and returns an opener of store
    /// instances on it (each call another instance, as another agent process would open).
    public init(concurrency: Int = 50, makeLedger: @escaping @Sendable () async throws -> SpendStoreOpener) {
        self.concurrency = concurrency
        self.makeLedger = makeLedger
    }

    /// Runs one check; throws the first `StoreContractViolation` (or the store's unexpected error).
    public func run(_ check: Check) async throws {
        let open = try await makeLedger()
        let probe = ContractProbe(check: check.rawValue)
        let clock = ManualClock(start: ContractSample.start)
        switch check {
        case .perRequestCap: try await perRequest(try await open(), clock, probe)
        case .hourlyWindowAndRetryAfter: try await hourly(try await open(), clock, probe)
        case .slidingWindows: try await sliding(try await open(), clock, probe)
        case .unitsHaveSeparateBudgets: try await units(try await open(), clock, probe)
        case .inFlightSpendsCount: try await inFlight(try await open(), clock, probe)
        case .transitionsHappenOnce: try await transitions(try await open(), clock, probe)
        case .reserveIsIdempotent: try await idempotentReserve(try await open(), clock, probe)
        case .ledgerOrder: try await ledgerOrder(try await open(), clock, probe)
        case .commitActualAmount: try await commitAmount(try await open(), clock, probe)
        case .overflowAndFutureRecords: try await overflow(try await open(), clock, probe)
        case .invalidArgumentsRefused: try await invalidArguments(try await open(), clock, probe)
        case .exactRoundTrip: try await roundTrip(try await open(), clock, probe)
        case .concurrentReservationsNeverOverspend: try await concurrentReserve(open, probe)
        case .concurrentCommitsOnce: try await concurrentCommit(open, clock, probe)
        case .windowBoundsExact: try await windowBounds(try await open(), clock, probe)
        case .releasedSpendsNeverCount: try await releasedNeverCount(try await open(), clock, probe)
        case .capsFilledExactly: try await capsFilledExactly(try await open(), clock, probe)
        case .windowSumsBeyond64Bits: try await sumsBeyond64Bits(try await open(), clock, probe)
        case .unitsIndependentUnderFullCaps: try await unitsIndependent(try await open(), clock, probe)
        case .windowsSplitAtMinutes: try await windowsSplitAtMinutes(try await open(), clock, probe)
        case .unfinishedOfOneRequest: try await unfinishedOfOneRequest(try await open(), clock, probe)
        }
    }

    /// Runs every check and returns every violation (an unexpected error counts as one).
    public func runAll() async -> [StoreContractViolation] {
        var violations: [StoreContractViolation] = []
        for check in Check.allCases {
            do {
                try await run(check)
            } catch let violation as StoreContractViolation {
                violations.append(violation)
            } catch {
                violations.append(StoreContractViolation(check: check.rawValue, rule: "no unexpected error", detail: "\(error)"))
            }
        }
        return violations
    }

    private func reserve(_ store: any SpendStore, _ clock: ManualClock, _ id: String, _ amount: Int64, _ unit: MoneyUnit = .sat,
                         limits: SpendLimits) async throws -> ReserveOutcome {
        try await store.reserve(try ContractSample.spend(id, amount, unit, at: clock.now()), limits: limits, now: clock.now())
    }

    private func perRequest(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perRequest: 500, perHour: 10_000)
        let refusal = try await reserve(store, clock, "big", 501, limits: limits).refusal
        try probe.expect(refusal?.window == .perRequest && refusal?.retryAfter == nil, "501 against a 500 cap is refused for good")
        try probe.expect(refusal?.limit == (try ContractSample.money(500)) && refusal?.requested == (try ContractSample.money(501)),
                         "the refusal names the cap and the amount")
        try probe.expect(try await reserve(store, clock, "exact", 500, limits: limits).reservedRecord?.state == .reserved, "the cap fits")
        try probe.expect(try await store.records(since: nil).map(\.paymentID) == ["exact"], "a refusal writes nothing")
    }

    private func hourly(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 1000)
        let start = clock.now()
        _ = try await reserve(store, clock, "a", 400, limits: limits)
        clock.advance(by: 600)
        _ = try await reserve(store, clock, "b", 400, limits: limits)
        try probe.expect(try await reserve(store, clock, "c", 200, limits: limits).reservedRecord != nil, "exactly the cap fits")
        clock.advance(by: 60)
        let refusal = try await reserve(store, clock, "d", 300, limits: limits).refusal
        try probe.expect(refusal?.window == .hour && refusal?.alreadySpent == (try ContractSample.money(1000)),
                         "the hour refuses and says what it holds", "\(String(describing: refusal))")
        try probe.expect(refusal?.retryAfter == start.addingTimeInterval(3600), "retryAfter is when the oldest spend slides out",
                         "\(String(describing: refusal?.retryAfter))")
        clock.set(to: start.addingTimeInterval(3599.999))
        try probe.expect(try await reserve(store, clock, "d", 300, limits: limits).refusal?.window == .hour, "a millisecond early it does not fit")
        clock.set(to: start.addingTimeInterval(3600))
        try probe.expect(try await reserve(store, clock, "d", 300, limits: limits).reservedRecord != nil, "at retryAfter it fits")
    }

    private func sliding(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 1000, perDay: 1500)
        let start = clock.now()
        _ = try await reserve(store, clock, "early", 1000, limits: limits)
        clock.set(to: start.addingTimeInterval(61 * 60))
        try probe.expect(try await reserve(store, clock, "later", 500, limits: limits).reservedRecord != nil, "the hour slid")
        let day = try await reserve(store, clock, "one-more", 1, limits: limits).refusal
        try probe.expect(day?.window == .day && day?.retryAfter == start.addingTimeInterval(86_400), "the day still counts it",
                         "\(String(describing: day))")
        clock.set(to: start.addingTimeInterval(86_400))
        try probe.expect(try await reserve(store, clock, "next-day", 1000, limits: limits).reservedRecord != nil, "the day slid")
        let both = try ContractSample.limits(perHour: 500, perDay: 600)
        clock.advance(by: 86_400 * 2)
        let base = clock.now()
        _ = try await reserve(store, clock, "h1", 500, limits: both)
        clock.advance(by: 120)
        let refusal = try await reserve(store, clock, "h2", 200, limits: both).refusal
        try probe.expect(refusal?.window == .day && refusal?.retryAfter == base.addingTimeInterval(86_400),
                         "when both windows refuse, the one that clears last is reported", "\(String(describing: refusal))")
    }

    private func units(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = SpendLimits([.sat: SpendLimits.Limit(perHour: try ContractSample.money(100)),
                                  .usd: SpendLimits.Limit(perHour: try ContractSample.money(500, .usd))])
        _ = try await reserve(store, clock, "sat-1", 100, limits: limits)
        try probe.expect(try await reserve(store, clock, "sat-2", 1, limits: limits).refusal?.window == .hour, "sat is full")
        try probe.expect(try await reserve(store, clock, "usd-1", 500, .usd, limits: limits).reservedRecord != nil, "usd is separate")
        let msat = try await reserve(store, clock, "msat-1", 1, .msat, limits: limits).refusal
        try probe.expect(msat?.window == .noBudget && msat?.unit == .msat && msat?.limit == nil, "msat is not sat: no budget")
        try probe.expect(try await store.records(since: nil).count == 2, "refusals write nothing")
    }

    private func inFlight(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 300)
        for id in ["reserved", "paid", "committed"] { _ = try await reserve(store, clock, id, 100, limits: limits) }
        _ = try await store.markPaid(paymentID: "paid", proof: ContractSample.proof, now: clock.now())
        _ = try await store.commit(paymentID: "committed", receipt: nil, reference: "ref", note: nil, now: clock.now())
        try probe.expect(try await reserve(store, clock, "over", 1, limits: limits).refusal?.alreadySpent == (try ContractSample.money(300)),
                         "reserved, paid and committed spends count")
        _ = try await store.release(paymentID: "reserved", reason: "the server answered 500 before payment", now: clock.now())
        try probe.expect(try await reserve(store, clock, "fits", 100, limits: limits).reservedRecord != nil, "a released spend frees its amount")
    }
}
