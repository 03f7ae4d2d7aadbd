import Foundation
import PayRail
import PayRailStore
import Testing

/// A spend store of one kind (SQLite in its own temporary wallet file) and a manual clock.
struct SpendFixture: Sendable {
    let store: any SpendStore
    let clock: ManualClock
    let directory: TemporaryDirectory

    init(_ kind: StoreKind) throws {
        clock = ManualClock()
        directory = try TemporaryDirectory()
        switch kind {
        case .memory: store = MemorySpendStore()
        case .sqlite: store = try SQLiteSpendStore(path: directory.path("wallet.sqlite"))
        }
    }

    /// Reserves `amount` sat (or `unit`) under `id` at the clock's time.
    func reserve(_ id: String, _ amount: Int64, _ unit: MoneyUnit = .sat, limits: SpendLimits) async throws -> ReserveOutcome {
        try await store.reserve(try SpendSample.record(id, amount, unit, at: clock.now()), limits: limits, now: clock.now())
    }
}

enum SpendSample {
    static func record(_ id: String, _ amount: Int64, _ unit: MoneyUnit = .sat, at date: Date) throws -> SpendRecord {
        SpendRecord(paymentID: id, amount: try Money(amount: amount, unit: unit), rail: .fake, host: "api.example",
                    method: "GET", url: "https://api.example/premium?q=\(id)", offerID: "offer-\(id)",
                    context: "{\"attempt\":1}", reservedAt: date)
    }

    static func sat(_ amount: Int64) throws -> Money { try Money(amount: amount, unit: .sat) }

    static func limits(perRequest: Int64? = nil, perHour: Int64? = nil, perDay: Int64? = nil) throws -> SpendLimits {
        SpendLimits([.sat: SpendLimits.Limit(perRequest: try perRequest.map(sat), perHour: try perHour.map(sat),
                                             perDay: try perDay.map(sat))])
    }

    static let proof = "{\"Authorization\":\"Payment secret-credential-abc123\"}"
    static let receipt = "eyJhbGciOiJFZERTQSJ9.secret-receipt-token.sig"
}

extension ReserveOutcome {
    var reservedRecord: SpendRecord? { if case .reserved(let record) = self { record } else { nil } }
    var refusal: BudgetRefusal? { if case .refused(let refusal) = self { refusal } else { nil } }
    var existingRecord: SpendRecord? { if case .existing(let record) = self { record } else { nil } }
}

/// The behaviour every `SpendStore` must have, run against the memory and the SQLite store alike.
@Suite("SpendStore behaviour")
struct SpendStoreBehaviourTests {
    @Test("the per-request cap refuses a single amount above it, for good", arguments: StoreKind.allCases)
    func perRequest(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perRequest: 500, perHour: 10_000)
        let refusal = try #require(try await fixture.reserve("big", 501, limits: limits).refusal)
        #expect(refusal.window == .perRequest)
        #expect(refusal.limit == (try SpendSample.sat(500)))
        #expect(refusal.requested == (try SpendSample.sat(501)))
        #expect(refusal.retryAfter == nil)
        #expect(refusal.description.contains("per-request limit is 500sat"))
        let exact = try #require(try await fixture.reserve("exact", 500, limits: limits).reservedRecord)
        #expect(exact.state == .reserved)
        #expect(try await fixture.store.records(since: nil).map(\.paymentID) == ["exact"])
    }

    @Test("the hourly budget refuses what does not fit and says when it will", arguments: StoreKind.allCases)
    func hourlyBudgetAndRetryAfter(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1000)
        let start = fixture.clock.now()
        #expect(try await fixture.reserve("a", 400, limits: limits).reservedRecord != nil)
        fixture.clock.advance(by: 600)
        #expect(try await fixture.reserve("b", 400, limits: limits).reservedRecord != nil)
        #expect(try await fixture.reserve("c", 200, limits: limits).reservedRecord != nil)  // exactly 1000

        fixture.clock.advance(by: 60)
        let refusal = try #require(try await fixture.reserve("d", 300, limits: limits).refusal)
        #expect(refusal.window == .hour)
        #expect(refusal.unit == .sat)
        #expect(refusal.limit == (try SpendSample.sat(1000)))
        #expect(refusal.alreadySpent == (try SpendSample.sat(1000)))
        #expect(refusal.requested == (try SpendSample.sat(300)))
        // "a" (400) slides out first, after which 600 + 300 fits.
        #expect(refusal.retryAfter == start.addingTimeInterval(3600))
        #expect(refusal.description.hasPrefix("the hourly budget of 1000sat has nothing left; this needs 300sat"))

        // One millisecond before retryAfter it still does not fit; at retryAfter it does.
        fixture.clock.set(to: start.addingTimeInterval(3599.999))
        #expect(try await fixture.reserve("d", 300, limits: limits).refusal?.window == .hour)
        fixture.clock.set(to: start.addingTimeInterval(3600))
        #expect(try await fixture.reserve("d", 300, limits: limits).reservedRecord != nil)
    }

    @Test("retryAfter waits for as many old spends as must slide out, and is nil when the amount exceeds the cap",
          arguments: StoreKind.allCases)
    func retryAfterNeedsSeveral(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1000)
        let start = fixture.clock.now()
        for (index, amount) in [Int64(100), 200, 300].enumerated() {
            #expect(try await fixture.reserve("s\(index)", amount, limits: limits).reservedRecord != nil)
            fixture.clock.advance(by: 60)
        }
        let partial = try #require(try await fixture.reserve("x", 800, limits: limits).refusal)
        #expect(partial.alreadySpent == (try SpendSample.sat(600)))
        #expect(partial.description.contains("has 400sat left; this needs 800sat"))
        // 600 + 800 > 1000; without s0: 500 + 800 > 1000; without s0 and s1: 300 + 800 > 1000; all gone: fits.
        #expect(partial.retryAfter == start.addingTimeInterval(120 + 3600))
        let never = try #require(try await fixture.reserve("y", 1001, limits: limits).refusal)
        #expect(never.window == .hour)
        #expect(never.retryAfter == nil)
        #expect(never.description.contains("it can never fit"))
    }

    @Test("a spend 61 minutes ago no longer counts against the hour but still against the day", arguments: StoreKind.allCases)
    func slidingWindows(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1000, perDay: 1500)
        let start = fixture.clock.now()
        #expect(try await fixture.reserve("early", 1000, limits: limits).reservedRecord != nil)
        fixture.clock.advance(by: 60)
        #expect(try await fixture.reserve("blocked", 1, limits: limits).refusal?.window == .hour)

        fixture.clock.set(to: start.addingTimeInterval(61 * 60))
        #expect(try await fixture.reserve("later", 500, limits: limits).reservedRecord != nil)
        let day = try #require(try await fixture.reserve("one-more", 1, limits: limits).refusal)
        #expect(day.window == .day)
        #expect(day.alreadySpent == (try SpendSample.sat(1500)))
        #expect(day.retryAfter == start.addingTimeInterval(86_400))
        #expect(day.description.hasPrefix("the daily budget of 1500sat has nothing left"))

        fixture.clock.set(to: start.addingTimeInterval(86_400))
        #expect(try await fixture.reserve("next-day", 1000, limits: limits).reservedRecord != nil)
    }

    @Test("when both windows refuse, the refusal is the one that clears last", arguments: StoreKind.allCases)
    func bothWindowsRefuse(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 500, perDay: 600)
        let start = fixture.clock.now()
        #expect(try await fixture.reserve("a", 500, limits: limits).reservedRecord != nil)
        fixture.clock.advance(by: 120)
        let refusal = try #require(try await fixture.reserve("b", 200, limits: limits).refusal)
        // The hour clears at start + 1 h, but the day (500 + 200 > 600) only at start + 24 h.
        #expect(refusal.window == .day)
        #expect(refusal.retryAfter == start.addingTimeInterval(86_400))
    }

    @Test("units have separate budgets; a unit without a budget is refused outright", arguments: StoreKind.allCases)
    func unitsIndependent(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = SpendLimits([
            .sat: SpendLimits.Limit(perHour: try SpendSample.sat(100)),
            .usd: SpendLimits.Limit(perHour: try Money(amount: 500, unit: .usd)),
        ])
        #expect(try await fixture.reserve("sat-1", 100, limits: limits).reservedRecord != nil)
        #expect(try await fixture.reserve("sat-2", 1, limits: limits).refusal?.window == .hour)
        #expect(try await fixture.reserve("usd-1", 500, .usd, limits: limits).reservedRecord != nil)
        #expect(try await fixture.reserve("usd-2", 1, .usd, limits: limits).refusal?.window == .hour)

        // msat is not sat: it has no budget of its own, so it is refused even though sat has one.
        let msat = try #require(try await fixture.reserve("msat-1", 1, .msat, limits: limits).refusal)
        #expect(msat.window == .noBudget)
        #expect(msat.unit == .msat)
        #expect(msat.limit == nil)
        #expect(msat.retryAfter == nil)
        #expect(msat.description.contains("no budget for msat"))
        let none = try #require(try await fixture.reserve("eur-1", 1, .eur, limits: .none).refusal)
        #expect(none.window == .noBudget)
        #expect(try await fixture.store.records(since: nil).count == 2)
    }

    @Test("reserved and paid spends count against the budget; released ones do not", arguments: StoreKind.allCases)
    func inFlightCounts(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 300)
        _ = try await fixture.reserve("reserved", 100, limits: limits)
        _ = try await fixture.reserve("paid", 100, limits: limits)
        _ = try await fixture.store.markPaid(paymentID: "paid", proof: SpendSample.proof, now: fixture.clock.now())
        _ = try await fixture.reserve("committed", 100, limits: limits)
        _ = try await fixture.store.commit(paymentID: "committed", receipt: nil, reference: "ref", note: nil, now: fixture.clock.now())
        #expect(try await fixture.reserve("over", 1, limits: limits).refusal?.alreadySpent == (try SpendSample.sat(300)))

        _ = try await fixture.store.release(paymentID: "reserved", reason: "the server answered 500 before payment",
                                            now: fixture.clock.now())
        #expect(try await fixture.reserve("fits", 100, limits: limits).reservedRecord != nil)
        #expect(try await fixture.reserve("over-again", 1, limits: limits).refusal?.alreadySpent == (try SpendSample.sat(300)))
    }

    @Test("reserve -> paid -> committed, each once; commit erases the proof", arguments: StoreKind.allCases)
    func exactlyOnceCommit(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1000)
        let reserved = try #require(try await fixture.reserve("p1", 100, limits: limits).reservedRecord)
        #expect(try await fixture.store.record(paymentID: "p1") == reserved)

        fixture.clock.advance(by: 1)
        let paid = try await fixture.store.markPaid(paymentID: "p1", proof: SpendSample.proof, now: fixture.clock.now())
        #expect(paid.state == .paid)
        #expect(paid.proof == SpendSample.proof)
        #expect(paid.updatedAt == fixture.clock.now())
        #expect(paid.reservedAt == reserved.reservedAt)
        #expect(try await fixture.store.record(paymentID: "p1") == paid)
        let paidTwice = await storeError { () throws(StoreError) in
            _ = try await fixture.store.markPaid(paymentID: "p1", proof: "other", now: fixture.clock.now())
        }
        #expect(paidTwice?.code == .invalidTransition)

        let releaseAfterPaid = await storeError { () throws(StoreError) in
            _ = try await fixture.store.release(paymentID: "p1", reason: "changed my mind", now: fixture.clock.now())
        }
        #expect(releaseAfterPaid?.code == .invalidTransition)
        #expect(releaseAfterPaid?.reason.contains("cannot be given back") == true)
        #expect(releaseAfterPaid?.isRetrySafe == false)
        #expect(try await fixture.store.record(paymentID: "p1")?.state == .paid)

        fixture.clock.advance(by: 1)
        let committed = try await fixture.store.commit(paymentID: "p1", receipt: SpendSample.receipt, reference: "pay_123",
                                                       note: nil, now: fixture.clock.now())
        #expect(committed.state == .committed)
        #expect(committed.proof == nil)
        #expect(committed.receipt == SpendSample.receipt)
        #expect(committed.reference == "pay_123")
        #expect(try await fixture.store.record(paymentID: "p1") == committed)

        let secondCommit = await storeError { () throws(StoreError) in
            _ = try await fixture.store.commit(paymentID: "p1", receipt: nil, reference: "pay_456", note: nil, now: fixture.clock.now())
        }
        #expect(secondCommit?.code == .invalidTransition)
        let releaseAfterCommit = await storeError { () throws(StoreError) in
            _ = try await fixture.store.release(paymentID: "p1", reason: "x", now: fixture.clock.now())
        }
        #expect(releaseAfterCommit?.code == .invalidTransition)
        #expect(try await fixture.store.record(paymentID: "p1") == committed)
    }

    @Test("release once; nothing after it; unknown ids are notFound", arguments: StoreKind.allCases)
    func exactlyOnceRelease(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1000)
        _ = try await fixture.reserve("r1", 100, limits: limits)
        let released = try await fixture.store.release(paymentID: "r1", reason: "offer expired before paying", now: fixture.clock.now())
        #expect(released.state == .released)
        #expect(released.note == "offer expired before paying")
        let secondRelease = await storeError { () throws(StoreError) in
            _ = try await fixture.store.release(paymentID: "r1", reason: "again", now: fixture.clock.now())
        }
        #expect(secondRelease?.code == .invalidTransition)
        let commitAfterRelease = await storeError { () throws(StoreError) in
            _ = try await fixture.store.commit(paymentID: "r1", receipt: nil, reference: nil, note: nil, now: fixture.clock.now())
        }
        #expect(commitAfterRelease?.code == .invalidTransition)
        let paidAfterRelease = await storeError { () throws(StoreError) in
            _ = try await fixture.store.markPaid(paymentID: "r1", proof: "p", now: fixture.clock.now())
        }
        #expect(paidAfterRelease?.code == .invalidTransition)
        #expect(try await fixture.store.record(paymentID: "r1") == released)

        // Committing straight from reserved (the rail paid but the proof was never recorded) is allowed once.
        _ = try await fixture.reserve("r2", 100, limits: limits)
        let direct = try await fixture.store.commit(paymentID: "r2", receipt: nil, reference: "pay_9",
                                                    note: "server sent no receipt", now: fixture.clock.now())
        #expect(direct.state == .committed)
        #expect(direct.note == "server sent no receipt")

        let missing = await storeError { () throws(StoreError) in
            _ = try await fixture.store.commit(paymentID: "nope", receipt: nil, reference: nil, note: nil, now: fixture.clock.now())
        }
        #expect(missing?.code == .notFound)
        #expect(try await fixture.store.record(paymentID: "nope") == nil)
    }

    @Test("a payment id is reserved once; the duplicate returns the stored record and writes nothing", arguments: StoreKind.allCases)
    func duplicates(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 150)
        let first = try #require(try await fixture.reserve("same", 100, limits: limits).reservedRecord)
        fixture.clock.advance(by: 5)
        // Checked before the budget: the same id is not a second spend even though 200 would not fit.
        let again = try await fixture.store.reserve(try SpendSample.record("same", 100, at: fixture.clock.now()), limits: limits,
                                                    now: fixture.clock.now())
        #expect(again.existingRecord == first)
        _ = try await fixture.store.markPaid(paymentID: "same", proof: SpendSample.proof, now: fixture.clock.now())
        #expect(try await fixture.reserve("same", 1, limits: limits).existingRecord?.state == .paid)
        #expect(try await fixture.store.records(since: nil).count == 1)
    }

    @Test("ledger and unfinished are oldest first; since is inclusive", arguments: StoreKind.allCases)
    func ledgerOrder(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 10_000)
        let start = fixture.clock.now()
        let now = start.addingTimeInterval(100)
        // Inserted out of time order (reservedAt comes from the caller); equal times keep insertion order.
        for (id, offset) in [("t30", 30.0), ("t10", 10.0), ("t20-first", 20.0), ("t20-second", 20.0), ("t40", 40.0)] {
            let outcome = try await fixture.store.reserve(try SpendSample.record(id, 10, at: start.addingTimeInterval(offset)),
                                                          limits: limits, now: now)
            #expect(outcome.reservedRecord != nil)
        }
        _ = try await fixture.store.commit(paymentID: "t10", receipt: nil, reference: nil, note: "free", now: now)
        _ = try await fixture.store.markPaid(paymentID: "t30", proof: SpendSample.proof, now: now)
        _ = try await fixture.store.release(paymentID: "t40", reason: "x", now: now)

        #expect(try await fixture.store.records(since: nil).map(\.paymentID) == ["t10", "t20-first", "t20-second", "t30", "t40"])
        #expect(try await fixture.store.records(since: start.addingTimeInterval(20)).map(\.paymentID)
                == ["t20-first", "t20-second", "t30", "t40"])
        #expect(try await fixture.store.records(since: start.addingTimeInterval(41)).isEmpty)
        let unfinished = try await fixture.store.unfinished()
        #expect(unfinished.map(\.paymentID) == ["t20-first", "t20-second", "t30"])
        #expect(unfinished.last?.proof == SpendSample.proof)
    }

    @Test("a record dated after now (a clock that moved back) still counts", arguments: StoreKind.allCases)
    func futureRecordsCount(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 100)
        let now = fixture.clock.now()
        let ahead = try SpendSample.record("ahead", 100, at: now.addingTimeInterval(600))
        #expect(try await fixture.store.reserve(ahead, limits: limits, now: now.addingTimeInterval(600)).reservedRecord != nil)
        let refusal = try #require(try await fixture.reserve("now", 1, limits: limits).refusal)
        #expect(refusal.alreadySpent == (try SpendSample.sat(100)))
        #expect(refusal.retryAfter == now.addingTimeInterval(600 + 3600))
    }

    @Test("sums that do not fit 64 bits are refused, never a crash", arguments: StoreKind.allCases)
    func overflowRefused(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let max = try SpendSample.sat(Int64.max)
        let capped = SpendLimits([.sat: SpendLimits.Limit(perRequest: max, perHour: max, perDay: max)])
        #expect(try await fixture.reserve("huge", Int64.max - 10, limits: capped).reservedRecord != nil)
        let refusal = try #require(try await fixture.reserve("more", 100, limits: capped).refusal)
        #expect(refusal.window == .hour || refusal.window == .day)
        #expect(refusal.alreadySpent == (try SpendSample.sat(Int64.max - 10)))
        #expect(refusal.retryAfter != nil)

        // An explicitly uncapped unit lets two huge spends in; a cap added later then sees a sum
        // beyond 64 bits and refuses even a zero amount.
        let uncapped = SpendLimits([.sat: SpendLimits.Limit()])
        #expect(try await fixture.reserve("huge-2", Int64.max, limits: uncapped).reservedRecord != nil)
        let beyond = try #require(try await fixture.reserve("zero", 0, limits: capped).refusal)
        #expect(beyond.alreadySpent == max)
        #expect(beyond.retryAfter != nil)
    }

    @Test("an empty id, a record not in state reserved, and caps in the wrong unit are refused", arguments: StoreKind.allCases)
    func invalidArguments(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1000)
        let now = fixture.clock.now()
        let emptyID = try SpendSample.record("", 1, at: now)
        let empty = await storeError { () throws(StoreError) in _ = try await fixture.store.reserve(emptyID, limits: limits, now: now) }
        #expect(empty?.code == .invalidArgument)
        var paid = try SpendSample.record("paid", 1, at: now)
        paid.state = .paid
        let wrongState = paid
        let state = await storeError { () throws(StoreError) in _ = try await fixture.store.reserve(wrongState, limits: limits, now: now) }
        #expect(state?.code == .invalidArgument)
        let mixed = SpendLimits([.sat: SpendLimits.Limit(perHour: try Money(amount: 5, unit: .usd))])
        let plain = try SpendSample.record("u", 1, at: now)
        let unit = await storeError { () throws(StoreError) in _ = try await fixture.store.reserve(plain, limits: mixed, now: now) }
        #expect(unit?.code == .invalidArgument)
        #expect(unit?.reason.contains("hourly") == true)
        #expect(try await fixture.store.records(since: nil).isEmpty)
    }

    @Test("amounts, units and every field round-trip exactly", arguments: StoreKind.allCases)
    func roundTrip(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let custom = try MoneyUnit(isoCode: "xts", exponent: 3)
        let limits = SpendLimits([custom: SpendLimits.Limit(perRequest: try Money(amount: 5000, unit: custom))])
        let record = SpendRecord(paymentID: "id-ü-1", amount: try Money(amount: 4321, unit: custom), rail: .lightning,
                                 host: "h.example:8443", method: "POST", url: "https://h.example:8443/jobs",
                                 offerID: "lnbc1...", context: "{\"body\":\"sha-256=:abc=:\"}",
                                 reservedAt: fixture.clock.now().addingTimeInterval(0.1234))
        let stored = try #require(try await fixture.store.reserve(record, limits: limits, now: fixture.clock.now()).reservedRecord)
        #expect(stored == record)
        let loaded = try #require(try await fixture.store.record(paymentID: "id-ü-1"))
        #expect(loaded == record)
        #expect(loaded.amount.unit.exponent == 3)
        #expect(loaded.reservedAt == record.reservedAt)
    }

    @Test("proofs and receipts never appear in description, debugDescription, interpolation or dump")
    func secretsNeverPrinted() throws {
        var record = try SpendSample.record("secret-check", 100, at: Sample.start)
        record.state = .paid
        record.proof = SpendSample.proof
        record.receipt = SpendSample.receipt
        var dumped = ""
        dump(record, to: &dumped)
        let texts = [record.description, record.debugDescription, "\(record)", String(describing: record),
                     String(reflecting: record), dumped, "\([record])", "\(Optional(record) as Any)"]
        for text in texts {
            #expect(!text.contains("secret-credential"), "\(text)")
            #expect(!text.contains("secret-receipt-token"), "\(text)")
            #expect(text.contains("secret-check"))
        }
        #expect(record.description == "spend secret-check paid 100sat on fake for GET api.example with receipt (proof kept)")
    }
}

/// What only the SQLite wallet file promises: durability, several connections, permissions, versioning.
@Suite("SQLite spend store")
struct SQLiteSpendStoreTests {
    @Test("a paid spend survives closing and reopening: unfinished returns it with its proof; the budget still counts it")
    func survivesRestart() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        let clock = ManualClock()
        let limits = try SpendSample.limits(perHour: 1000)
        let first = try SQLiteSpendStore(path: path)
        let record = try SpendSample.record("crash-1", 800, at: clock.now())
        #expect(try await first.reserve(record, limits: limits, now: clock.now()).reservedRecord != nil)
        let paid = try await first.markPaid(paymentID: "crash-1", proof: SpendSample.proof, now: clock.now())
        await first.close()
        let closed = await storeError { () throws(StoreError) in _ = try await first.unfinished() }
        #expect(closed?.code == .closed)

        clock.advance(by: 30)
        let reopened = try SQLiteSpendStore(path: path)
        let unfinished = try await reopened.unfinished()
        #expect(unfinished == [paid])
        #expect(unfinished.first?.proof == SpendSample.proof)
        #expect(unfinished.first?.context == "{\"attempt\":1}")
        let refusal = try #require(try await reopened.reserve(try SpendSample.record("after", 300, at: clock.now()), limits: limits,
                                                              now: clock.now()).refusal)
        #expect(refusal.alreadySpent == (try SpendSample.sat(800)))
        let committed = try await reopened.commit(paymentID: "crash-1", receipt: SpendSample.receipt, reference: "pay_1", note: nil,
                                                  now: clock.now())
        #expect(committed.proof == nil)
        #expect(try await reopened.unfinished().isEmpty)
        #expect(try await reopened.schemaVersion() == SQLiteSpendStore.latestSchemaVersion)
    }

    @Test("a paid spend's commit (not synced) and a reserved spend's commit (synced) both survive reopening; a second commit is refused")
    func commitsOfPaidAndReservedSpendsSurviveReopening() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        let clock = ManualClock()
        let limits = try SpendSample.limits(perHour: 10_000)
        let first = try SQLiteSpendStore(path: path)
        for id in ["paid-then-committed", "reserved-then-committed", "paid-left"] {
            #expect(try await first.reserve(try SpendSample.record(id, 100, at: clock.now()), limits: limits, now: clock.now())
                .reservedRecord != nil)
        }
        _ = try await first.markPaid(paymentID: "paid-then-committed", proof: SpendSample.proof, now: clock.now())
        let paidCommit = try await first.commit(paymentID: "paid-then-committed", receipt: SpendSample.receipt, reference: "pay_1",
                                                note: nil, amount: nil, standardReceipt: nil, now: clock.now())
        let reservedCommit = try await first.commit(paymentID: "reserved-then-committed", receipt: nil, reference: nil, note: "n",
                                                    now: clock.now())
        let paidLeft = try await first.markPaid(paymentID: "paid-left", proof: SpendSample.proof, now: clock.now())
        let again = await storeError { () throws(StoreError) in
            _ = try await first.commit(paymentID: "paid-then-committed", receipt: nil, reference: nil, note: nil, now: clock.now())
        }
        #expect(again?.code == .invalidTransition)
        await first.close()

        let reopened = try SQLiteSpendStore(path: path)
        #expect(try await reopened.record(paymentID: "paid-then-committed") == paidCommit)
        #expect(paidCommit.state == .committed && paidCommit.proof == nil && paidCommit.receipt == SpendSample.receipt)
        #expect(try await reopened.record(paymentID: "reserved-then-committed") == reservedCommit)
        #expect(try await reopened.unfinished() == [paidLeft])
    }

    @Test("two connections on one file (as two processes would), 25 reserves each of 100 sat against 1000 sat: exactly 10")
    func twoConnectionsNeverOverspend() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        let stores = [try SQLiteSpendStore(path: path), try SQLiteSpendStore(path: path)]
        let limits = try SpendSample.limits(perHour: 1000)
        let now = Sample.start
        let outcomes = try await withThrowingTaskGroup(of: ReserveOutcome.self) { group in
            for index in 0..<50 {
                let store = stores[index % 2]
                let record = try SpendSample.record("race-\(index)", 100, at: now)
                group.addTask { try await store.reserve(record, limits: limits, now: now) }
            }
            var collected: [ReserveOutcome] = []
            for try await outcome in group { collected.append(outcome) }
            return collected
        }
        #expect(outcomes.compactMap(\.reservedRecord).count == 10)
        let refusals = outcomes.compactMap(\.refusal)
        #expect(refusals.count == 40)
        #expect(refusals.allSatisfy { $0.window == .hour && $0.alreadySpent == (try? SpendSample.sat(1000)) })
        #expect(try await stores[0].records(since: nil).count == 10)
        #expect(try await stores[1].records(since: nil).count == 10)
    }

    @Test("the wallet file is created with mode 0600, and an existing file open to others is narrowed")
    func privateFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        let store = try SQLiteSpendStore(path: path)
        _ = try await store.reserve(try SpendSample.record("m", 1, at: Sample.start), limits: try SpendSample.limits(perHour: 10),
                                    now: Sample.start)
        func mode(_ path: String) throws -> Int {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return try #require(attributes[.posixPermissions] as? Int)
        }
        #expect(try mode(path) == 0o600)
        #expect(try mode(path + "-wal") == 0o600)  // SQLite gives its side files the database's mode

        // A wallet someone loosened: made by PayRail, then chmod 0644 (an empty file is refused outright).
        let loose = directory.path("loose.sqlite")
        await (try SQLiteSpendStore(path: loose)).close()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: loose)
        #expect(try mode(loose) == 0o644)
        _ = try SQLiteSpendStore(path: loose)
        #expect(try mode(loose) == 0o600)
    }

    @Test("a wallet file from a newer PayRail is refused with .newerSchema and left untouched")
    func refusesNewerSchema() async throws {
        let directory = try TemporaryDirectory()
        let path = try Fixtures.copy("spend-newer-schema.sqlite", into: directory)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let error = await storeError { () throws(StoreError) in _ = try SQLiteSpendStore(path: path) }
        #expect(error?.code == .newerSchema)
        #expect(error?.isRetrySafe == false)
        #expect(error?.reason.contains("99") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("the spend schema lives beside the gate's in one file without touching its version")
    func sharesFileWithGate() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("both.sqlite")
        let gate = try SQLiteGateStore(path: path, clock: ManualClock())
        let spends = try SQLiteSpendStore(path: path)
        #expect(try await gate.schemaVersion() == SQLiteGateStore.latestSchemaVersion)
        #expect(try await spends.schemaVersion() == SQLiteSpendStore.latestSchemaVersion)
        try await gate.saveChallenge(try Sample.challenge("ch-both"))
        _ = try await spends.reserve(try SpendSample.record("both", 5, at: Sample.start), limits: try SpendSample.limits(perHour: 10),
                                     now: Sample.start)
        let reopenedGate = try SQLiteGateStore(path: path, clock: ManualClock())
        let reopenedSpends = try SQLiteSpendStore(path: path)
        #expect(try await reopenedGate.challenge(id: "ch-both") != nil)
        #expect(try await reopenedSpends.record(paymentID: "both") != nil)
    }

    @Test("a path in a missing directory is unavailable; an empty path is invalid")
    func badPaths() async throws {
        let directory = try TemporaryDirectory()
        let missing = await storeError { () throws(StoreError) in _ = try SQLiteSpendStore(path: directory.path("no/such/wallet.sqlite")) }
        #expect(missing?.code == .unavailable)
        let empty = await storeError { () throws(StoreError) in _ = try SQLiteSpendStore(path: "") }
        #expect(empty?.code == .invalidArgument)
    }
}
