import Foundation
import PayRail
import PayRailStore
import Testing

/// The behaviour every `GateStore` must have, run against the memory and the SQLite store alike.
@Suite("GateStore behaviour")
struct GateStoreBehaviourTests {
    @Test("a challenge round-trips with its offers in order; ids are unique", arguments: StoreKind.allCases)
    func challengeRoundTrip(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let challenge = try Sample.challenge("ch-1")
        try await fixture.store.saveChallenge(challenge)

        let loaded = try #require(try await fixture.store.challenge(id: "ch-1"))
        #expect(loaded == challenge)
        #expect(loaded.offers.map(\.rail) == [.fake, .stripe])
        #expect(loaded.offer(on: .stripe)?.amount == (try Sample.money(5, .usd)))
        #expect(try await fixture.store.challenge(id: "ch-unknown") == nil)

        let duplicate = await storeError { () throws(StoreError) in try await fixture.store.saveChallenge(challenge) }
        #expect(duplicate?.code == .duplicate)
        #expect(duplicate?.isRetrySafe == false)
    }

    @Test("money keeps every minor unit and its unit, including custom currencies", arguments: StoreKind.allCases)
    func moneyIsExact(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let custom = try MoneyUnit(isoCode: "xts", exponent: 3)
        let expiry = Sample.start.addingTimeInterval(60)
        let challenge = ChallengeRecord(
            id: "ch-money", resource: try Resource(parsing: "POST /jobs"),
            offers: [
                Offer(rail: .lightning, amount: try Sample.money(Int64.max, .msat), payee: "node", expiresAt: expiry, id: "h1"),
                Offer(rail: .fake, amount: try Sample.money(1, custom), payee: "acct", expiresAt: expiry, id: "f1"),
                Offer(rail: .stripe, amount: try Sample.money(0, .jpy), payee: "acct", expiresAt: expiry, id: "s1"),
            ],
            createdAt: Sample.start, expiresAt: expiry)
        try await fixture.store.saveChallenge(challenge)
        let loaded = try #require(try await fixture.store.challenge(id: "ch-money"))
        #expect(loaded.offers.map(\.amount) == challenge.offers.map(\.amount))
        #expect(loaded.offers[1].amount.unit.exponent == 3)
        #expect(loaded.bodyDigest == nil)
    }

    @Test("consume succeeds once; later calls get the winner's settlement and receipt", arguments: StoreKind.allCases)
    func consumeOnce(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        try await fixture.store.saveChallenge(try Sample.challenge("ch-2"))
        let first = try await fixture.store.consume(
            challengeID: "ch-2", settlement: try Sample.settlement("ch-2", reference: "pay-first"), receipt: try Sample.receipt("rc-1"))
        guard case .consumed(let winner) = first else {
            Issue.record("the first consume must win, got \(first)")
            return
        }
        #expect(winner.consumedAt == fixture.clock.now())
        #expect(winner.receipt.response == nil)

        fixture.clock.advance(by: 5)
        let second = try await fixture.store.consume(
            challengeID: "ch-2", settlement: try Sample.settlement("ch-2", reference: "pay-second"), receipt: try Sample.receipt("rc-2"))
        #expect(second == .alreadyConsumed(winner))

        #expect(try await fixture.store.consumedChallenge(id: "ch-2") == winner)
        #expect(try await fixture.store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-1".utf8)) == winner)
        #expect(try await fixture.store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-2".utf8)) == nil)
        #expect(try await fixture.store.consumedChallenge(id: "ch-other") == nil)
    }

    @Test("the response to replay is attached to the receipt afterwards", arguments: StoreKind.allCases)
    func responseForReplay(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        _ = try await fixture.store.consume(challengeID: "ch-3", settlement: try Sample.settlement("ch-3"),
                                            receipt: try Sample.receipt("rc-3"))
        try await fixture.store.saveResponse(Sample.response, receiptID: "rc-3")
        let replay = try #require(try await fixture.store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-3".utf8)))
        #expect(replay.receipt.response == Sample.response)
        #expect(replay.receipt.response?.headers.filter { $0.name == "Set-Cookie" }.count == 2)

        let empty = StoredResponse(status: 204, headers: [], body: Data())
        try await fixture.store.saveResponse(empty, receiptID: "rc-3")
        #expect(try await fixture.store.consumedChallenge(id: "ch-3")?.receipt.response == empty)

        let missing = await storeError { () throws(StoreError) in
            try await fixture.store.saveResponse(Sample.response, receiptID: "rc-unknown")
        }
        #expect(missing?.code == .notFound)
    }

    @Test("a receipt id or token hash reused for another challenge is refused and writes nothing", arguments: StoreKind.allCases)
    func duplicateReceipt(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let receipt = try Sample.receipt("rc-dup", response: Sample.response)
        _ = try await fixture.store.consume(challengeID: "ch-a", settlement: try Sample.settlement("ch-a"), receipt: receipt)
        let settlementB = try Sample.settlement("ch-b")
        let error = await storeError { () throws(StoreError) in
            _ = try await fixture.store.consume(challengeID: "ch-b", settlement: settlementB, receipt: receipt)
        }
        #expect(error?.code == .duplicate)
        #expect(error.map { !$0.description.contains("hash-of-rc-dup") } == true)
        #expect(try await fixture.store.consumedChallenge(id: "ch-b") == nil)
        #expect(try await fixture.store.consumedChallenge(id: "ch-a")?.receipt.response == Sample.response)

        let empty = await storeError { () throws(StoreError) in
            _ = try await fixture.store.consume(challengeID: "", settlement: settlementB, receipt: receipt)
        }
        #expect(empty?.code == .invalidArgument)
    }

    @Test("200 concurrent consumers of one challenge: exactly one winner, 199 see its record", arguments: StoreKind.allCases)
    func concurrentConsume(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        try await fixture.store.saveChallenge(try Sample.challenge("ch-race"))
        let store = fixture.store
        var attempts: [(Settlement, ReceiptRecord)] = []
        for index in 0..<200 {
            attempts.append((try Sample.settlement("ch-race", reference: "pay-\(index)"), try Sample.receipt("rc-race-\(index)")))
        }
        let results = try await withThrowingTaskGroup(of: ConsumeResult.self) { group in
            for (settlement, receipt) in attempts {
                group.addTask { try await store.consume(challengeID: "ch-race", settlement: settlement, receipt: receipt) }
            }
            var collected: [ConsumeResult] = []
            for try await result in group { collected.append(result) }
            return collected
        }
        let winners = results.compactMap { if case .consumed(let record) = $0 { record } else { nil } }
        let losers = results.compactMap { if case .alreadyConsumed(let record) = $0 { record } else { nil } }
        try #require(winners.count == 1)
        #expect(losers.count == 199)
        #expect(losers.allSatisfy { $0 == winners[0] })
        #expect(try await store.consumedChallenge(id: "ch-race") == winners[0])
    }

    @Test("idempotency keys: same payload replays, a different payload is a conflict", arguments: StoreKind.allCases)
    func idempotency(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let store = fixture.store
        let payload = Data("sha256-of-body-A".utf8)
        let other = Data("sha256-of-body-B".utf8)
        #expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: payload) == .notFound)

        let record = IdempotencyRecord(key: "client-1:key-1", payloadHash: payload, response: Sample.response,
                                       createdAt: fixture.clock.now(), expiresAt: fixture.clock.now().addingTimeInterval(60))
        #expect(try await store.saveIdempotentResponse(record) == .saved)
        #expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: payload) == .replay(record))
        #expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: other) == .payloadMismatch)
        #expect(try await store.idempotencyLookup(key: "client-2:key-1", payloadHash: payload) == .notFound)

        let racer = IdempotencyRecord(key: "client-1:key-1", payloadHash: payload, response: StoredResponse(status: 500, headers: [], body: Data()),
                                      createdAt: fixture.clock.now(), expiresAt: fixture.clock.now().addingTimeInterval(60))
        #expect(try await store.saveIdempotentResponse(racer) == .alreadySaved(record))
        let conflicting = IdempotencyRecord(key: "client-1:key-1", payloadHash: other, response: Sample.response,
                                            createdAt: fixture.clock.now(), expiresAt: fixture.clock.now().addingTimeInterval(60))
        #expect(try await store.saveIdempotentResponse(conflicting) == .payloadMismatch)

        fixture.clock.advance(by: 60)  // the key expires exactly now and may be reused
        #expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: payload) == .notFound)
        let reused = IdempotencyRecord(key: "client-1:key-1", payloadHash: other, response: Sample.response,
                                       createdAt: fixture.clock.now(), expiresAt: fixture.clock.now().addingTimeInterval(60))
        #expect(try await store.saveIdempotentResponse(reused) == .saved)
        #expect(try await store.idempotencyLookup(key: "client-1:key-1", payloadHash: other) == .replay(reused))
    }

    @Test("a token bucket allows a burst, then refills at its rate on the injected clock", arguments: StoreKind.allCases)
    func rateLimit(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let store = fixture.store
        let policy = try TokenBucketPolicy(capacity: 3, refillTokens: 1, per: .seconds(10))
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .allowed(remaining: 2))
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .allowed(remaining: 1))
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .allowed(remaining: 0))
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .limited(retryAfterSeconds: 10))
        #expect(try await store.take(1, from: "10.0.0.2", policy: policy) == .allowed(remaining: 2))

        fixture.clock.advance(by: 4)
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .limited(retryAfterSeconds: 6))
        fixture.clock.advance(by: 5.5)
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .limited(retryAfterSeconds: 1))
        fixture.clock.advance(by: 0.5)
        #expect(try await store.take(1, from: "10.0.0.1", policy: policy) == .allowed(remaining: 0))
        fixture.clock.advance(by: 3600)  // refills to capacity, never beyond
        #expect(try await store.take(3, from: "10.0.0.1", policy: policy) == .allowed(remaining: 0))
        #expect(try await store.take(2, from: "10.0.0.1", policy: policy) == .limited(retryAfterSeconds: 20))

        let tooMany = await storeError { () throws(StoreError) in _ = try await store.take(4, from: "10.0.0.1", policy: policy) }
        #expect(tooMany?.code == .invalidArgument)
        let zero = await storeError { () throws(StoreError) in _ = try await store.take(0, from: "10.0.0.1", policy: policy) }
        #expect(zero?.code == .invalidArgument)
    }

    @Test("purge removes only what expired; a paid challenge stays consumed until its grant ends", arguments: StoreKind.allCases)
    func purge(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let store = fixture.store
        let now = fixture.clock.now()
        try await store.saveChallenge(try Sample.challenge("ch-short", expiresIn: 60))
        try await store.saveChallenge(try Sample.challenge("ch-long", expiresIn: 3600))
        _ = try await store.consume(challengeID: "ch-short", settlement: try Sample.settlement("ch-short"),
                                    receipt: try Sample.receipt("rc-short", grantSeconds: 600))
        _ = try await store.saveIdempotentResponse(IdempotencyRecord(
            key: "k", payloadHash: Data([1]), response: Sample.response, createdAt: now, expiresAt: now.addingTimeInterval(120)))
        let policy = try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(30))
        _ = try await store.take(2, from: "client", policy: policy)

        #expect(try await store.purgeExpired(now: now) == PurgeReport())
        #expect(try await store.purgeExpired(now: now.addingTimeInterval(61))
                == PurgeReport(challenges: 1, consumedChallenges: 0, idempotencyKeys: 0, rateLimitBuckets: 1))
        #expect(try await store.challenge(id: "ch-short") == nil)
        #expect(try await store.challenge(id: "ch-long") != nil)
        #expect(try await store.consumedChallenge(id: "ch-short") != nil)

        #expect(try await store.purgeExpired(now: now.addingTimeInterval(601))
                == PurgeReport(challenges: 0, consumedChallenges: 1, idempotencyKeys: 1, rateLimitBuckets: 0))
        #expect(try await store.consumedChallenge(id: "ch-short") == nil)
        #expect(try await store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-short".utf8)) == nil)
        #expect(try await store.purgeExpired(now: now.addingTimeInterval(3601)).challenges == 1)
    }

    @Test("a consumed challenge is kept while its challenge is still payable, even past the grant", arguments: StoreKind.allCases)
    func consumedKeptUntilChallengeExpires(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        let now = fixture.clock.now()
        try await fixture.store.saveChallenge(try Sample.challenge("ch-k", expiresIn: 3600))
        _ = try await fixture.store.consume(challengeID: "ch-k", settlement: try Sample.settlement("ch-k"),
                                            receipt: try Sample.receipt("rc-k", grantSeconds: 60))
        #expect(try await fixture.store.purgeExpired(now: now.addingTimeInterval(120)).consumedChallenges == 0)
        let again = try await fixture.store.consume(challengeID: "ch-k", settlement: try Sample.settlement("ch-k"),
                                                    receipt: try Sample.receipt("rc-k2"))
        guard case .alreadyConsumed = again else {
            Issue.record("a still-payable challenge must stay consumed, got \(again)")
            return
        }
    }

    @Test("rate-limit policies refuse impossible values")
    func policyValidation() throws {
        #expect(throws: StoreError.self) { try TokenBucketPolicy(capacity: 0, refillTokens: 1, per: .seconds(1)) }
        #expect(throws: StoreError.self) { try TokenBucketPolicy(capacity: 1, refillTokens: 0, per: .seconds(1)) }
        #expect(throws: StoreError.self) { try TokenBucketPolicy(capacity: 1, refillTokens: 1, per: .zero) }
        #expect(throws: StoreError.self) { try TokenBucketPolicy(capacity: 1, refillTokens: 1, per: .seconds(86_401)) }
        #expect(throws: Never.self) { try TokenBucketPolicy(capacity: 1_000_000, refillTokens: 1_000_000, per: .seconds(86_400)) }
    }
}
