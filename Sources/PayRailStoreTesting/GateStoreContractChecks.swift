import Foundation
import PayRail
import PayRailStore

// The gate store contract, continued: idempotency, rate limits, retention and purge, refunds and
// rail events, and what several instances on one database share.

extension GateStoreContractSuite {
    func idempotency(_ store: any GateStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let payload = Data("sha256-of-body-A".utf8), other = Data("sha256-of-body-B".utf8)
        func record(_ hash: Data, status: Int = 200) -> IdempotencyRecord {
            IdempotencyRecord(key: "client-1:key-1", payloadHash: hash,
                              response: status == 200 ? ContractSample.response : StoredResponse(status: status, headers: [], body: Data()),
                              createdAt: clock.now(), expiresAt: clock.now().addingTimeInterval(60))
        }
        try probe.expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: payload) == .notFound, "a new key is not found")
        let saved = record(payload)
        try probe.expect(try await store.saveIdempotentResponse(saved) == .saved, "the first save stores")
        try probe.expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: payload) == .replay(saved),
                         "the same payload replays the stored response")
        try probe.expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: other) == .payloadMismatch,
                         "another payload under the key is a conflict")
        try probe.expect(try await store.idempotencyLookup(key: "client-2:key-1", payloadHash: payload) == .notFound, "keys are exact")
        try probe.expect(try await store.saveIdempotentResponse(record(payload, status: 500)) == .alreadySaved(saved),
                         "a second save of the same payload returns the first record")
        try probe.expect(try await store.saveIdempotentResponse(record(other)) == .payloadMismatch,
                         "a save with another payload is a conflict")
        clock.advance(by: 60)
        try probe.expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: payload) == .notFound,
                         "a key is forgotten the moment it expires")
        let reused = record(other)
        try probe.expect(try await store.saveIdempotentResponse(reused) == .saved, "an expired key may be reused")
        try probe.expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: other) == .replay(reused),
                         "the reused key replays its new record")
    }

    func concurrentIdempotency(_ open: GateStoreOpener, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let stores = [try await open(), try await open()]
        let now = clock.now()
        let results = try await ContractProbe.race(concurrency) { index in
            try await stores[index % 2].saveIdempotentResponse(IdempotencyRecord(
                key: "race-key", payloadHash: Data([1]), response: StoredResponse(status: 200, headers: [], body: Data("\(index)".utf8)),
                createdAt: now, expiresAt: now.addingTimeInterval(60)))
        }
        let saved = results.filter { $0 == .saved }.count
        try probe.expect(saved == 1, "exactly one of \(concurrency) concurrent saves under one key stores", "\(saved) stored")
        guard case .replay(let stored) = try await stores[1].idempotencyLookup(key: "race-key", payloadHash: Data([1])) else {
            throw probe.fail("the stored record replays", "no replay")
        }
        try probe.expect(results.allSatisfy { $0 == .saved || $0 == .alreadySaved(stored) }, "every other save returns the stored record")
    }

    func rateLimit(_ store: any GateStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let policy = try TokenBucketPolicy(capacity: 3, refillTokens: 1, per: .seconds(10))
        let steps: [(TimeInterval, Int, String, RateLimitDecision)] = [
            (0, 1, "a", .allowed(remaining: 2)), (0, 1, "a", .allowed(remaining: 1)), (0, 1, "a", .allowed(remaining: 0)),
            (0, 1, "a", .limited(retryAfterSeconds: 10)), (0, 1, "b", .allowed(remaining: 2)),
            (4, 1, "a", .limited(retryAfterSeconds: 6)), (5.5, 1, "a", .limited(retryAfterSeconds: 1)),
            (0.5, 1, "a", .allowed(remaining: 0)), (3600, 3, "a", .allowed(remaining: 0)), (0, 2, "a", .limited(retryAfterSeconds: 20)),
        ]
        for (index, (advance, count, client, expected)) in steps.enumerated() {
            clock.advance(by: advance)
            let decision = try await store.take(count, from: "10.0.0.\(client)", policy: policy)
            try probe.expect(decision == expected, "a token bucket allows its burst and refills at its rate",
                             "step \(index): \(decision), expected \(expected)")
        }
        for count in [0, 4] {
            let error = try await probe.error("an impossible take is refused") { _ = try await store.take(count, from: "x", policy: policy) }
            try probe.expect(error.code == .invalidArgument, "taking \(count) of 3 is .invalidArgument", "\(error)")
        }
    }

    func concurrentRateLimit(_ open: GateStoreOpener, _ probe: ContractProbe) async throws {
        let stores = [try await open(), try await open()]
        let capacity = max(1, concurrency / 4)
        let policy = try TokenBucketPolicy(capacity: capacity, refillTokens: 1, per: .seconds(86_400))
        let results = try await ContractProbe.race(concurrency) { index in
            try await stores[index % 2].take(1, from: "burst", policy: policy)
        }
        let allowed = results.filter(\.isAllowed).count
        try probe.expect(allowed == capacity, "\(concurrency) concurrent takes from a bucket of \(capacity) allow exactly \(capacity)",
                         "\(allowed) allowed")
    }

    func purge(_ store: any GateStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        let now = clock.now()
        try await store.saveChallenge(try ContractSample.challenge("ch-short", expiresIn: 60))
        try await store.saveChallenge(try ContractSample.challenge("ch-long", expiresIn: 3600))
        _ = try await store.consume(challengeID: "ch-short", settlement: try ContractSample.settlement("ch-short"),
                                    receipt: try ContractSample.receipt("rc-short", grantSeconds: 600))
        _ = try await store.saveIdempotentResponse(IdempotencyRecord(key: "k", payloadHash: Data([1]), response: ContractSample.response,
                                                                     createdAt: now, expiresAt: now.addingTimeInterval(120)))
        _ = try await store.take(2, from: "client", policy: try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(30)))
        try probe.expect(try await store.purgeExpired(now: now) == PurgeReport(), "nothing has expired yet")
        let first = try await store.purgeExpired(now: now.addingTimeInterval(61))
        try probe.expect(first == PurgeReport(challenges: 1, rateLimitBuckets: 1), "an expired challenge and a full bucket go", "\(first)")
        let short = try await store.challenge(id: "ch-short"), long = try await store.challenge(id: "ch-long")
        try probe.expect(short == nil && long != nil, "only the expired challenge is gone")
        try probe.expect(try await store.consumedChallenge(id: "ch-short") != nil, "a paid challenge stays consumed during its grant")
        let second = try await store.purgeExpired(now: now.addingTimeInterval(601))
        try probe.expect(second == PurgeReport(consumedChallenges: 1, idempotencyKeys: 1), "the grant's end frees the consumption", "\(second)")
        try probe.expect(try await store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-short".utf8)) == nil, "its receipt goes with it")
        try probe.expect(try await store.purgeExpired(now: now.addingTimeInterval(3601)).challenges == 1, "the long challenge goes last")

        try await store.saveChallenge(try ContractSample.challenge("ch-k", expiresIn: 3600, now: now.addingTimeInterval(4000)))
        _ = try await store.consume(challengeID: "ch-k", settlement: try ContractSample.settlement("ch-k"),
                                    receipt: try ContractSample.receipt("rc-k", grantSeconds: 60))
        try probe.expect(try await store.purgeExpired(now: now.addingTimeInterval(4200)).consumedChallenges == 0,
                         "a consumption is kept while its challenge could still be presented, past the grant")
        let again = try await store.consume(challengeID: "ch-k", settlement: try ContractSample.settlement("ch-k"),
                                            receipt: try ContractSample.receipt("rc-k2"))
        try probe.expect(again.loser != nil, "a still-payable challenge stays consumed", "\(again)")
    }

    func unpaid(_ store: any GateStore, _ probe: ContractProbe) async throws {
        for (id, seconds) in [("u-late", 120.0), ("u-early", 60.0), ("u-paid", 30.0), ("u-live", 3600.0)] {
            try await store.saveChallenge(try ContractSample.challenge(id, expiresIn: seconds))
        }
        _ = try await store.consume(challengeID: "u-paid", settlement: try ContractSample.settlement("u-paid"),
                                    receipt: try ContractSample.receipt("rc-u"))
        let later = ContractSample.start.addingTimeInterval(600)
        let listed = try await store.unpaidChallenges(expiredBefore: later, limit: 10).map(\.id)
        try probe.expect(listed == ["u-early", "u-late"], "expired unpaid challenges are listed oldest first", "\(listed)")
        try probe.expect(try await store.unpaidChallenges(expiredBefore: later, limit: 1).map(\.id) == ["u-early"], "the limit holds")
    }

    func refundsOnce(_ store: any GateStore & PaymentEventStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        try await paid(store, "ch-r")
        try probe.expect(try await store.consumedChallenge(settlementReference: "pay-r")?.challengeID == "ch-r", "found by reference")
        try probe.expect(try await store.consumedChallenge(settlementReference: "offer-ch-r-fake")?.challengeID == "ch-r",
                         "found by offer id when no reference matches")
        try probe.expect(try await store.consumedChallenge(settlementReference: "pay-unknown") == nil, "an unknown reference is nil")
        let grant = try await store.consumedChallenge(id: "ch-r")?.receipt.grantExpiresAt
        guard case .reserved(let first) = try await store.reserveRefund(try ContractSample.refund("ch-r", "k1", 60)) else {
            throw probe.fail("a first reservation is new", "it was not")
        }
        try probe.expect(try await store.consumedChallenge(id: "ch-r")?.receipt.grantExpiresAt == grant, "reserving leaves the grant")
        try await store.endGrant(challengeID: "ch-r")
        let ended = try await store.consumedChallenge(id: "ch-r")?.receipt.grantExpiresAt
        try probe.expect(ended.map { $0 <= clock.now() } == true, "ending a grant ends it now")
        try probe.expect(try await store.reserveRefund(try ContractSample.refund("ch-r", "k1", 60)) == .existing(first), "a key is reserved once")
        let over = try await probe.error("a refund above what was paid is refused") {
            _ = try await store.reserveRefund(try ContractSample.refund("ch-r", "k2", 41))
        }
        try probe.expect(over.code == .invalidArgument, "refunding above what was paid is .invalidArgument", "\(over)")
        let done = try await store.completeRefund(challengeID: "ch-r", key: "k1", status: .succeeded, railRefundID: "rfd_1")
        try probe.expect(done.status == .succeeded && done.railRefundID == "rfd_1", "completion records the rail's answer")
        try probe.expect(try await store.refunds(challengeID: "ch-r") == [done], "refunds read back")
        _ = try await store.reserveRefund(try ContractSample.refund("ch-r", "k3", 40))
        _ = try await store.completeRefund(challengeID: "ch-r", key: "k3", status: .failed, railRefundID: nil)
        guard case .reserved = try await store.reserveRefund(try ContractSample.refund("ch-r", "k3", 40)) else {
            throw probe.fail("a failed refund's key may be reserved again", "it was not")
        }
        let unknown = try await probe.error("a refund of an unpaid challenge is refused") {
            _ = try await store.reserveRefund(try ContractSample.refund("ch-none", "k", 1))
        }
        try probe.expect(unknown.code == .notFound, "refunding an unknown challenge is .notFound", "\(unknown)")
        let missing = try await probe.error("completing an unknown refund is refused") {
            _ = try await store.completeRefund(challengeID: "ch-r", key: "k-none", status: .succeeded, railRefundID: nil)
        }
        try probe.expect(missing.code == .notFound, "completing an unknown refund is .notFound", "\(missing)")
    }

    func concurrentRefunds(_ open: GateStoreOpener, _ probe: ContractProbe) async throws {
        let stores = [try await open(), try await open()]
        try await paid(stores[0], "ch-r")
        let results = try await ContractProbe.race(20) { index -> Bool in
            do {
                _ = try await stores[index % 2].reserveRefund(try ContractSample.refund("ch-r", "k\(index)", 30))
                return true
            } catch let error as StoreError where error.code == .invalidArgument {
                return false
            }
        }
        let reserved = results.filter { $0 }.count
        try probe.expect(reserved == 3, "20 concurrent refunds of 30 against 100 paid reserve exactly 3", "\(reserved) reserved")
    }

    func refundRetention(_ store: any GateStore & PaymentEventStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        try await paid(store, "ch-r")
        _ = try await store.reserveRefund(try ContractSample.refund("ch-r", "k-pending", 60))
        _ = try await store.purgeExpired(now: clock.now().addingTimeInterval(10 * 86_400))
        try probe.expect(try await store.consumedChallenge(id: "ch-r") != nil, "a payment with a pending refund outlives the retention")
        _ = try await store.purgeExpired(now: clock.now().addingTimeInterval(31 * 86_400))
        try probe.expect(try await store.consumedChallenge(id: "ch-r") == nil, "and is purged after 30 days")

        let event = PaymentEventRecord(id: "evt_1", type: "charge.dispute.created", objectID: "dp_1", challengeID: "ch-r",
                                       receivedAt: ContractSample.start)
        try probe.expect(try await store.recordEvent(event), "a new event id is recorded")
        try probe.expect(try await store.recordEvent(event) == false, "a redelivered event id is not recorded again")
        _ = try await store.purgeExpired(now: ContractSample.start.addingTimeInterval(29 * 86_400))
        try probe.expect(try await store.knownEvent(id: "evt_1"), "an event id is remembered for 30 days")
        _ = try await store.purgeExpired(now: ContractSample.start.addingTimeInterval(31 * 86_400))
        try probe.expect(try await store.knownEvent(id: "evt_1") == false, "then forgotten")
    }

    func sharedAcrossInstances(_ open: GateStoreOpener, _ probe: ContractProbe) async throws {
        let first = try await open()
        try await first.saveChallenge(try ContractSample.challenge("ch-shared"))
        let result = try await first.consume(challengeID: "ch-shared", settlement: try ContractSample.settlement("ch-shared"),
                                             receipt: try ContractSample.receipt("rc-shared", response: ContractSample.response))
        let policy = try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(60))
        _ = try await first.take(1, from: "client", policy: policy)
        let second = try await open()
        try probe.expect(try await second.challenge(id: "ch-shared") == (try ContractSample.challenge("ch-shared")), "challenges are shared")
        try probe.expect(try await second.consumedChallenge(id: "ch-shared") == result.winner, "consumptions are shared")
        _ = try await second.take(1, from: "client", policy: policy)
        try probe.expect(try await first.take(1, from: "client", policy: policy) == .limited(retryAfterSeconds: 60),
                         "rate-limit buckets are shared")
    }

    private func paid(_ store: any GateStore, _ id: String) async throws {
        try await store.saveChallenge(try ContractSample.challenge(id))
        _ = try await store.consume(challengeID: id, settlement: try ContractSample.settlement(id, reference: "pay-r"),
                                    receipt: try ContractSample.receipt("rc-\(id)"))
    }
}
