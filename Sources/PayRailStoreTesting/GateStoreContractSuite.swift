import Foundation
import PayRail
import PayRailStore

// The executable form of the gate store contract, distilled from what the memory and SQLite stores'
// own tests assert: every implementation (memory, SQLite, PostgreSQL, anyone's) runs it. Each check
// opens a fresh database through the caller's factory, so checks are independent and may run in any
// order. Where a check races, it races through several store instances on one database (as several
// gate processes would), which is where a store that is only atomic inside one process breaks.

/// The reusable contract checks for a `GateStore & PaymentEventStore`.
public struct GateStoreContractSuite: Sendable {
    /// The individual rules, runnable one by one (one test per check).
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// A challenge round-trips with its offers in order; a second save of its id is `.duplicate`.
        case challengeRoundTrip
        /// Money keeps every minor unit and its unit, custom currencies included.
        case moneyIsExact
        /// `consume` wins once; later calls get the winner's record; lookups by id and token hash agree.
        case consumeOnce
        /// Many concurrent consumes of one challenge, across store instances: exactly one `.consumed`.
        case concurrentConsumeExactlyOnce
        /// A receipt id or token hash reused for another challenge is `.duplicate` and writes nothing.
        case duplicateReceiptRefused
        /// The response to replay is attached afterwards, replaced by a later one, `.notFound` for an unknown receipt.
        case responseForReplay
        /// Idempotency keys: the same payload replays, another is a conflict, an expired key is reusable.
        case idempotentResponses
        /// Many concurrent saves under one key: exactly one `.saved`, the others replay it.
        case concurrentIdempotentSaveOnce
        /// A token bucket allows its burst, refills at its rate on the injected clock, refuses impossible takes.
        case rateLimitBuckets
        /// Many concurrent takes from one bucket, across store instances: never more than its capacity.
        case concurrentRateLimitNeverOvergrants
        /// Purge removes exactly what expired; a paid challenge stays consumed while its grant or challenge lives.
        case retentionAndPurge
        /// Expired challenges never paid are listed oldest first, up to the limit.
        case unpaidChallengesListed
        /// Refunds: once per key, never above what was paid, a failed one frees its amount; ending a grant sticks.
        case refundsOncePerKey
        /// Concurrent refund reservations across instances never add up to more than was paid.
        case concurrentRefundsNeverExceedPaid
        /// A payment with a reserved refund outlives the gate's retention; rail events are kept 30 days, once.
        case refundAndEventRetention
        /// What one instance wrote, another instance (a restarted process) reads, with the schema at its latest.
        case sharedAcrossInstances

        /// The check's name.
        public var description: String { rawValue }
    }

    /// Makes a fresh, empty database on `clock` and returns its opener.
    public let makeDatabase: @Sendable (ManualClock) async throws -> GateStoreOpener
    /// How many racers the concurrency checks start.
    public let concurrency: Int

    /// Creates the suite.
    ///
    /// - Parameters:
    ///   - concurrency: racers for the exactly-once checks (100 by default).
    ///   - makeDatabase: makes a fresh empty database whose stores read `clock`, and returns an opener
    ///     that opens another store instance on it at every call.
    public init(concurrency: Int = 100, makeDatabase: @escaping @Sendable (ManualClock) async throws -> GateStoreOpener) {
        self.concurrency = concurrency
        self.makeDatabase = makeDatabase
    }

    /// Runs one check; throws the first `StoreContractViolation` (or the store's unexpected error).
    public func run(_ check: Check) async throws {
        let clock = ManualClock(start: ContractSample.start)
        let open = try await makeDatabase(clock)
        let probe = ContractProbe(check: check.rawValue)
        switch check {
        case .challengeRoundTrip: try await challengeRoundTrip(try await open(), probe)
        case .moneyIsExact: try await moneyIsExact(try await open(), probe)
        case .consumeOnce: try await consumeOnce(try await open(), clock, probe)
        case .concurrentConsumeExactlyOnce: try await concurrentConsume(open, probe)
        case .duplicateReceiptRefused: try await duplicateReceipt(try await open(), probe)
        case .responseForReplay: try await responseForReplay(try await open(), probe)
        case .idempotentResponses: try await idempotency(try await open(), clock, probe)
        case .concurrentIdempotentSaveOnce: try await concurrentIdempotency(open, clock, probe)
        case .rateLimitBuckets: try await rateLimit(try await open(), clock, probe)
        case .concurrentRateLimitNeverOvergrants: try await concurrentRateLimit(open, probe)
        case .retentionAndPurge: try await purge(try await open(), clock, probe)
        case .unpaidChallengesListed: try await unpaid(try await open(), probe)
        case .refundsOncePerKey: try await refundsOnce(try await open(), clock, probe)
        case .concurrentRefundsNeverExceedPaid: try await concurrentRefunds(open, probe)
        case .refundAndEventRetention: try await refundRetention(try await open(), clock, probe)
        case .sharedAcrossInstances: try await sharedAcrossInstances(open, probe)
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

    // MARK: - Challenges and consumption

    private func challengeRoundTrip(_ store: any GateStore, _ probe: ContractProbe) async throws {
        let challenge = try ContractSample.challenge("ch-1")
        try await store.saveChallenge(challenge)
        let loaded = try await store.challenge(id: "ch-1")
        try probe.expect(loaded == challenge, "a saved challenge reads back equal", "\(String(describing: loaded))")
        try probe.expect(loaded?.offers.map(\.rail) == [.fake, .stripe], "offers keep their order")
        try probe.expect(try await store.challenge(id: "ch-unknown") == nil, "an unknown id reads as nil")
        let duplicate = try await probe.error("saving an id twice is refused") { try await store.saveChallenge(challenge) }
        try probe.expect(duplicate.code == .duplicate && !duplicate.isRetrySafe, "a second save is .duplicate, not retry-safe",
                         "\(duplicate)")
        try await store.saveChallenges([try ContractSample.challenge("ch-2"), try ContractSample.challenge("ch-3")])
        try probe.expect(try await store.challenge(id: "ch-3") != nil, "saveChallenges stores every record")
    }

    private func moneyIsExact(_ store: any GateStore, _ probe: ContractProbe) async throws {
        let custom = try MoneyUnit(isoCode: "xts", exponent: 3)
        let expiry = ContractSample.start.addingTimeInterval(60)
        let challenge = ChallengeRecord(
            id: "ch-money", resource: try Resource(parsing: "POST /jobs"),
            offers: [
                Offer(rail: .lightning, amount: try ContractSample.money(Int64.max, .msat), payee: "node", expiresAt: expiry, id: "h1"),
                Offer(rail: .fake, amount: try ContractSample.money(1, custom), payee: "acct", expiresAt: expiry, id: "f1"),
                Offer(rail: .stripe, amount: try ContractSample.money(0, .jpy), payee: "acct", expiresAt: expiry, id: "s1"),
            ],
            createdAt: ContractSample.start, expiresAt: expiry)
        try await store.saveChallenge(challenge)
        let loaded = try await store.challenge(id: "ch-money")
        try probe.expect(loaded?.offers.map(\.amount) == challenge.offers.map(\.amount), "amounts and units round-trip exactly",
                         "\(String(describing: loaded?.offers.map(\.amount)))")
        try probe.expect(loaded?.offers[1].amount.unit.exponent == 3 && loaded?.bodyDigest == nil, "exponent and a nil digest round-trip")
    }

    private func consumeOnce(_ store: any GateStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        try await store.saveChallenge(try ContractSample.challenge("ch-2"))
        let first = try await store.consume(challengeID: "ch-2", settlement: try ContractSample.settlement("ch-2", reference: "pay-first"),
                                            receipt: try ContractSample.receipt("rc-1", credentialHash: Data([7, 7])))
        guard let winner = first.winner else { throw probe.fail("the first consume wins", "\(first)") }
        try probe.expect(winner.consumedAt == clock.now() && winner.receipt.response == nil, "the record carries the store's clock")
        clock.advance(by: 5)
        let second = try await store.consume(challengeID: "ch-2", settlement: try ContractSample.settlement("ch-2", reference: "pay-second"),
                                             receipt: try ContractSample.receipt("rc-2"))
        try probe.expect(second == .alreadyConsumed(winner), "a later consume gets the winner's record", "\(second)")
        try probe.expect(try await store.consumedChallenge(id: "ch-2") == winner, "the consumption reads back by id")
        try probe.expect(try await store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-1".utf8)) == winner,
                         "the consumption reads back by token hash, credential hash included")
        try probe.expect(try await store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-2".utf8)) == nil,
                         "the loser's receipt was never stored")
        try probe.expect(try await store.consumedChallenge(id: "ch-other") == nil, "an unknown id reads as nil")
    }

    private func concurrentConsume(_ open: GateStoreOpener, _ probe: ContractProbe) async throws {
        let stores = [try await open(), try await open()]
        try await stores[0].saveChallenge(try ContractSample.challenge("ch-race"))
        let results = try await ContractProbe.race(concurrency) { index in
            try await stores[index % 2].consume(challengeID: "ch-race",
                                                settlement: try ContractSample.settlement("ch-race", reference: "pay-\(index)"),
                                                receipt: try ContractSample.receipt("rc-race-\(index)"))
        }
        let winners = results.compactMap(\.winner)
        let losers = results.compactMap(\.loser)
        try probe.expect(winners.count == 1, "exactly one of \(concurrency) concurrent consumes wins", "\(winners.count) won")
        try probe.expect(losers.count == concurrency - 1 && losers.allSatisfy { $0 == winners[0] },
                         "every other racer sees the winner's record")
        try probe.expect(try await stores[1].consumedChallenge(id: "ch-race") == winners[0], "every instance reads the winner")
    }

    private func duplicateReceipt(_ store: any GateStore, _ probe: ContractProbe) async throws {
        let receipt = try ContractSample.receipt("rc-dup", response: ContractSample.response)
        _ = try await store.consume(challengeID: "ch-a", settlement: try ContractSample.settlement("ch-a"), receipt: receipt)
        let settlementB = try ContractSample.settlement("ch-b")
        let error = try await probe.error("a reused receipt is refused") {
            _ = try await store.consume(challengeID: "ch-b", settlement: settlementB, receipt: receipt)
        }
        try probe.expect(error.code == .duplicate, "a reused receipt id or token hash is .duplicate", "\(error)")
        try probe.expect(!error.description.contains("hash-of-rc-dup"), "the error does not quote the token hash")
        try probe.expect(try await store.consumedChallenge(id: "ch-b") == nil, "the refused consume wrote nothing")
        try probe.expect(try await store.consumedChallenge(id: "ch-a")?.receipt.response == ContractSample.response,
                         "the first consumption is untouched")
        let empty = try await probe.error("an empty id is refused") {
            _ = try await store.consume(challengeID: "", settlement: settlementB, receipt: receipt)
        }
        try probe.expect(empty.code == .invalidArgument, "an empty challenge id is .invalidArgument", "\(empty)")
    }

    private func responseForReplay(_ store: any GateStore, _ probe: ContractProbe) async throws {
        _ = try await store.consume(challengeID: "ch-3", settlement: try ContractSample.settlement("ch-3"),
                                    receipt: try ContractSample.receipt("rc-3", credentialHash: Data([1, 2, 3])))
        try await store.saveResponse(ContractSample.response, receiptID: "rc-3")
        let replay = try await store.consumedChallenge(receiptTokenHash: Data("hash-of-rc-3".utf8))
        try probe.expect(replay?.receipt.response == ContractSample.response, "the saved response replays byte for byte")
        try probe.expect(replay?.receipt.credentialHash == Data([1, 2, 3]), "saving a response keeps the credential hash")
        let empty = StoredResponse(status: 204, headers: [], body: Data())
        try await store.saveResponse(empty, receiptID: "rc-3")
        try probe.expect(try await store.consumedChallenge(id: "ch-3")?.receipt.response == empty, "a later response replaces the earlier")
        let missing = try await probe.error("an unknown receipt is refused") {
            try await store.saveResponse(ContractSample.response, receiptID: "rc-unknown")
        }
        try probe.expect(missing.code == .notFound, "saving for an unknown receipt is .notFound", "\(missing)")
    }
}
