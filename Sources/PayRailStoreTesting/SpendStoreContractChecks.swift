import Foundation
import PayRail
import PayRailStore

// The spend ledger contract, continued: the state machine, idempotent reservation, ordering, exact
// round trips and the races.

extension SpendStoreContractSuite {
    func transitions(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 1000)
        let reserved = try await store.reserve(try ContractSample.spend("p1", 100, at: clock.now()), limits: limits, now: clock.now())
        try probe.expect(try await store.record(paymentID: "p1") == reserved.reservedRecord, "a reservation reads back")
        clock.advance(by: 1)
        let paid = try await store.markPaid(paymentID: "p1", proof: ContractSample.proof, now: clock.now())
        try probe.expect(paid.state == .paid && paid.proof == ContractSample.proof && paid.updatedAt == clock.now(), "paid keeps the proof")
        try probe.expect(try await store.record(paymentID: "p1") == paid, "the paid record reads back")
        let refused: [(String, () async throws -> Void)] = [
            ("paid twice", { _ = try await store.markPaid(paymentID: "p1", proof: "x", now: clock.now()) }),
            ("released after paying", { _ = try await store.release(paymentID: "p1", reason: "x", now: clock.now()) }),
        ]
        for (rule, step) in refused {
            let error = try await probe.error("\(rule) is refused", step)
            try probe.expect(error.code == .invalidTransition && !error.isRetrySafe, "\(rule) is .invalidTransition", "\(error)")
        }
        clock.advance(by: 1)
        let committed = try await store.commit(paymentID: "p1", receipt: ContractSample.receiptToken, reference: "pay_123", note: nil,
                                               now: clock.now())
        try probe.expect(committed.state == .committed && committed.proof == nil && committed.receipt == ContractSample.receiptToken,
                         "commit erases the proof and keeps the receipt")
        let again = try await probe.error("a second commit is refused") {
            _ = try await store.commit(paymentID: "p1", receipt: nil, reference: "pay_456", note: nil, now: clock.now())
        }
        try probe.expect(again.code == .invalidTransition, "a second commit is .invalidTransition", "\(again)")
        try probe.expect(try await store.record(paymentID: "p1") == committed, "refused steps change nothing")

        _ = try await store.reserve(try ContractSample.spend("r1", 100, at: clock.now()), limits: limits, now: clock.now())
        let released = try await store.release(paymentID: "r1", reason: "offer expired", now: clock.now())
        try probe.expect(released.state == .released && released.note == "offer expired", "release keeps its reason")
        let afterRelease = try await probe.error("commit after release is refused") {
            _ = try await store.commit(paymentID: "r1", receipt: nil, reference: nil, note: nil, now: clock.now())
        }
        try probe.expect(afterRelease.code == .invalidTransition, "commit after release is .invalidTransition")
        let missing = try await probe.error("an unknown id is refused") {
            _ = try await store.commit(paymentID: "nope", receipt: nil, reference: nil, note: nil, now: clock.now())
        }
        try probe.expect(missing.code == .notFound, "an unknown payment id is .notFound", "\(missing)")
    }

    func idempotentReserve(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 150)
        let first = try await store.reserve(try ContractSample.spend("same", 100, at: clock.now()), limits: limits, now: clock.now())
        clock.advance(by: 5)
        let again = try await store.reserve(try ContractSample.spend("same", 100, at: clock.now()), limits: limits, now: clock.now())
        try probe.expect(again.existingRecord != nil && again.existingRecord == first.reservedRecord,
                         "the same id returns the stored record, checked before the budget", "\(again)")
        try probe.expect(try await store.records(since: nil).count == 1, "the repeat wrote nothing")
    }

    func ledgerOrder(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 10_000)
        let start = clock.now(), now = start.addingTimeInterval(100)
        for (id, offset) in [("t30", 30.0), ("t10", 10.0), ("t20-first", 20.0), ("t20-second", 20.0), ("t40", 40.0)] {
            _ = try await store.reserve(try ContractSample.spend(id, 10, at: start.addingTimeInterval(offset)), limits: limits, now: now)
        }
        _ = try await store.commit(paymentID: "t10", receipt: nil, reference: nil, note: "free", now: now)
        _ = try await store.markPaid(paymentID: "t30", proof: ContractSample.proof, now: now)
        _ = try await store.release(paymentID: "t40", reason: "x", now: now)
        let all = try await store.records(since: nil).map(\.paymentID)
        try probe.expect(all == ["t10", "t20-first", "t20-second", "t30", "t40"], "the ledger is oldest first, ties in insertion order", "\(all)")
        let since = try await store.records(since: start.addingTimeInterval(20)).map(\.paymentID)
        try probe.expect(since == ["t20-first", "t20-second", "t30", "t40"], "since is inclusive", "\(since)")
        let unfinished = try await store.unfinished().map(\.paymentID)
        try probe.expect(unfinished == ["t20-first", "t20-second", "t30"], "unfinished is reserved and paid, oldest first", "\(unfinished)")
        for id in ["t20-first", "t20-second"] { _ = try await store.commit(paymentID: id, receipt: nil, reference: nil, note: nil, now: now) }
        let page = try await store.committed(host: "api.example", rail: .fake, offset: 1, limit: 1).map(\.paymentID)
        try probe.expect(page == ["t20-first"], "committed pages newest first", "\(page)")
    }

    func commitAmount(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 200)
        _ = try await store.reserve(try ContractSample.spend("fee", 110, at: clock.now()), limits: limits, now: clock.now())
        for amount in [try ContractSample.money(111), try ContractSample.money(100, .msat)] {
            let error = try await probe.error("committing \(amount) is refused") {
                _ = try await store.commit(paymentID: "fee", receipt: nil, reference: nil, note: nil, amount: amount, now: clock.now())
            }
            try probe.expect(error.code == .invalidArgument, "a commit never counts more, nor another unit", "\(error)")
        }
        let committed = try await store.commit(paymentID: "fee", receipt: nil, reference: nil, note: nil,
                                               amount: try ContractSample.money(103), now: clock.now())
        try probe.expect(committed.amount == (try ContractSample.money(103)), "a commit may lower the amount")
        try probe.expect(try await store.reserve(try ContractSample.spend("next", 97, at: clock.now()), limits: limits, now: clock.now())
                            .reservedRecord != nil, "the budget then counts the lower amount")
    }

    func overflow(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let max = try ContractSample.money(Int64.max)
        let capped = SpendLimits([.sat: SpendLimits.Limit(perRequest: max, perHour: max, perDay: max)])
        _ = try await store.reserve(try ContractSample.spend("huge", Int64.max - 10, at: clock.now()), limits: capped, now: clock.now())
        let refusal = try await store.reserve(try ContractSample.spend("more", 100, at: clock.now()), limits: capped, now: clock.now()).refusal
        try probe.expect(refusal?.alreadySpent == (try ContractSample.money(Int64.max - 10)), "a sum beyond 64 bits is refused")
        let limits = try ContractSample.limits(perHour: 100)
        let ahead = clock.now().addingTimeInterval(7 * 86_400)
        let future = try ContractSample.spend("ahead", 100, .sat, at: ahead.addingTimeInterval(600))
        _ = try await store.reserve(future, limits: limits, now: ahead.addingTimeInterval(600))
        let now = try await store.reserve(try ContractSample.spend("now", 1, at: ahead), limits: limits, now: ahead).refusal
        try probe.expect(now?.retryAfter == ahead.addingTimeInterval(600 + 3600), "a record dated after now still counts",
                         "\(String(describing: now))")
    }

    func invalidArguments(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 1000)
        let now = clock.now()
        var paid = try ContractSample.spend("paid", 1, at: now)
        paid.state = .paid
        let mixed = SpendLimits([.sat: SpendLimits.Limit(perHour: try ContractSample.money(5, .usd))])
        let cases: [(String, SpendRecord, SpendLimits)] = [
            ("an empty id", try ContractSample.spend("", 1, at: now), limits), ("a paid record", paid, limits),
            ("caps in the wrong unit", try ContractSample.spend("u", 1, at: now), mixed),
        ]
        for (name, record, caps) in cases {
            let error = try await probe.error("\(name) is refused") { _ = try await store.reserve(record, limits: caps, now: now) }
            try probe.expect(error.code == .invalidArgument, "\(name) is .invalidArgument", "\(error)")
        }
        try probe.expect(try await store.records(since: nil).isEmpty, "nothing was written")
    }

    func roundTrip(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let custom = try MoneyUnit(isoCode: "xts", exponent: 3)
        let limits = SpendLimits([custom: SpendLimits.Limit(perRequest: try Money(amount: 5000, unit: custom))])
        let record = SpendRecord(paymentID: "id-ü-1", amount: try Money(amount: 4321, unit: custom), rail: .lightning,
                                 host: "h.example:8443", method: "POST", url: "https://h.example:8443/jobs", offerID: "lnbc1...",
                                 context: "{\"body\":\"sha-256=:abc=:\"}", reservedAt: clock.now().addingTimeInterval(0.1234))
        try probe.expect(try await store.reserve(record, limits: limits, now: clock.now()).reservedRecord == record, "reserve returns the record")
        try probe.expect(try await store.record(paymentID: "id-ü-1") == record, "every field reads back exactly")
        let standard = LedgerReceipt(method: "fake", reference: "pay_1", status: "success", timestamp: "2026-01-01T00:00:00Z",
                                     challengeID: "ch-1", trust: .unsigned)
        let committed = try await store.commit(paymentID: "id-ü-1", receipt: "tok", reference: "pay_1", note: "n", amount: nil,
                                               standardReceipt: standard, now: clock.now())
        try probe.expect(try await store.record(paymentID: "id-ü-1") == committed && committed.standardReceipt == standard,
                         "the standard receipt is kept")
    }

    func concurrentReserve(_ open: SpendStoreOpener, _ probe: ContractProbe) async throws {
        let stores = [try await open(), try await open()]
        let limits = try ContractSample.limits(perHour: 1000)
        let now = ContractSample.start
        let outcomes = try await ContractProbe.race(concurrency) { index in
            try await stores[index % 2].reserve(try ContractSample.spend("race-\(index)", 100, at: now), limits: limits, now: now)
        }
        let reserved = outcomes.compactMap(\.reservedRecord).count
        try probe.expect(reserved == Swift.min(10, concurrency), "\(concurrency) concurrent reserves of 100 against 1000 reserve exactly 10",
                         "\(reserved) reserved")
        try probe.expect(outcomes.compactMap(\.refusal).allSatisfy { $0.window == .hour }, "the others are refused by the hour")
        try probe.expect(try await stores[1].records(since: nil).count == reserved, "the ledger holds exactly the reserved ones")
    }

    func concurrentCommit(_ open: SpendStoreOpener, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let stores = [try await open(), try await open()]
        let now = clock.now()
        _ = try await stores[0].reserve(try ContractSample.spend("once", 100, at: now), limits: try ContractSample.limits(perHour: 1000), now: now)
        let results = try await ContractProbe.race(concurrency) { index -> Bool in
            do {
                _ = try await stores[index % 2].commit(paymentID: "once", receipt: nil, reference: "ref-\(index)", note: nil, now: now)
                return true
            } catch let error as StoreError where error.code == .invalidTransition {
                return false
            }
        }
        let committed = results.filter { $0 }.count
        try probe.expect(committed == 1, "exactly one of \(concurrency) concurrent commits succeeds", "\(committed) succeeded")
    }

    func unfinishedOfOneRequest(_ store: any SpendStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let limits = try ContractSample.limits(perHour: 1_000_000, perDay: 1_000_000)
        let url = "https://api.example/premium?q=1"
        let start = clock.now()
        func spend(_ id: String, method: String = "GET", url: String, seconds: TimeInterval) throws -> SpendRecord {
            SpendRecord(paymentID: id, amount: try ContractSample.money(10), rail: .fake, host: "api.example", method: method,
                        url: url, offerID: "offer-\(id)", context: "{\"attempt\":1}", reservedAt: start.addingTimeInterval(seconds))
        }
        let spends = [try spend("later", url: url, seconds: 20), try spend("earlier", url: url, seconds: 10),
                      try spend("paid", url: url, seconds: 30), try spend("committed", url: url, seconds: 5),
                      try spend("released", url: url, seconds: 6), try spend("post", method: "POST", url: url, seconds: 7),
                      try spend("longer-url", url: url + "0", seconds: 8), try spend("other-url", url: "https://api.example/other", seconds: 9)]
        for record in spends { _ = try await store.reserve(record, limits: limits, now: record.reservedAt) }
        _ = try await store.markPaid(paymentID: "paid", proof: ContractSample.proof, now: start.addingTimeInterval(31))
        _ = try await store.commit(paymentID: "committed", receipt: nil, reference: nil, note: nil, now: start.addingTimeInterval(31))
        _ = try await store.release(paymentID: "released", reason: "test", now: start.addingTimeInterval(31))
        let found = try await store.unfinished(method: "GET", url: url).map(\.paymentID)
        try probe.expect(found == ["earlier", "later", "paid"], "one request's unfinished spends, oldest first", "\(found)")
        let posted = try await store.unfinished(method: "POST", url: url).map(\.paymentID)
        try probe.expect(posted == ["post"], "another method is another request", "\(posted)")
        let none = try await store.unfinished(method: "GET", url: "https://api.example/none").map(\.paymentID)
        try probe.expect(none.isEmpty, "a URL with no spends has none", "\(none)")
    }
}
