import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// The real fake payee rail, with a network in front of its refunds that can fail the way real
/// ones do (and a switch that makes it a rail that cannot refund, as Lightning): every other call
/// and every refund that gets through is the processor's own.
private final class RefundNetwork: PayeeRail, @unchecked Sendable {
    enum Fault { case lostAfterRefund, unreachable }
    let inner: FakePayeeRail
    let refundable: Bool
    private let lock = NSLock()
    private var faults: [Fault]
    private var keysSeen: [String] = []

    init(_ inner: FakePayeeRail, refundable: Bool = true, faults: [Fault] = []) {
        self.inner = inner
        self.refundable = refundable
        self.faults = faults
    }

    var id: RailID { inner.id }
    var capabilities: RailCapabilities {
        let real = inner.capabilities
        return RailCapabilities(limits: real.limits, settlementTime: real.settlementTime, refundable: refundable, feeModel: real.feeModel)
    }
    var keys: [String] { lock.withLock { keysSeen } }

    func prepare(_ charge: Charge) async throws(RailError) -> Offer { try await inner.prepare(charge) }
    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement { try await inner.settle(credential, for: offer) }
    func settlement(of offer: Offer) async throws(RailError) -> Settlement? { try await inner.settlement(of: offer) }

    func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        let fault: Fault? = lock.withLock {
            keysSeen.append(idempotencyKey)
            return faults.isEmpty ? nil : faults.removeFirst()
        }
        guard refundable else {
            throw RailError(.unsupported, "a refund needs an invoice from the payer", rail: id)
        }
        switch fault {
        case .unreachable?:
            throw RailError(.unavailable, "the processor could not be reached; nothing was sent", retry: .safe, rail: id)
        case .lostAfterRefund?:
            _ = try await inner.refund(settlement, amount: amount, reason: reason, idempotencyKey: idempotencyKey)
            throw RailError(.timedOut, "the processor's answer was lost", retry: .afterLookup, rail: id)
        case nil:
            return try await inner.refund(settlement, amount: amount, reason: reason, idempotencyKey: idempotencyKey)
        }
    }
}

/// A fake processor with a funded agent, and a gate selling `GET /premium` for 100 sat through a
/// `RefundNetwork`; 5-minute challenges, a 60 s presentation grace, 1-hour grants.
private struct RefundWorld {
    let clock: ManualClock
    let processor: FakeProcessor
    let payer: FakePayerRail
    let rail: RefundNetwork
    let store: any GateStore & PaymentEventStore
    let gate: Gate
    let logs: LogSink
    let configuration: GateConfiguration
    /// The SQLite file, when the store is one (a second gate process can open it).
    let databasePath: String?

    static func make(sqlite: Bool, refundable: Bool = true, faults: [RefundNetwork.Fault] = []) async throws -> RefundWorld {
        let clock = ManualClock()
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key, clock: clock)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: 100_000, unit: .sat), into: "agent")
        let payee = FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant, clock: clock)
        let rail = RefundNetwork(payee, refundable: refundable, faults: faults)
        let store: any GateStore & PaymentEventStore
        var databasePath: String?
        if sqlite {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-autorefund-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            databasePath = directory.appendingPathComponent("gate.sqlite").path
            store = try SQLiteGateStore(path: databasePath ?? "", clock: clock)
        } else {
            store = MemoryGateStore(clock: clock)
        }
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate-1")
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
        let logs = LogSink()
        var configuration = GateConfiguration(
            realm: "api.example.com", rails: [rail], pricing: try PricingTable(parsing: ["GET /premium=100sat"], rails: [.fake]),
            store: store, keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)), signer: signer,
            verifier: verifier, clock: clock, log: { logs.append($0) })
        configuration.presentationGrace = 60
        return RefundWorld(clock: clock, processor: processor,
                           payer: FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent, clock: clock),
                           rail: rail, store: store, gate: Gate(configuration: configuration), logs: logs,
                           configuration: configuration, databasePath: databasePath)
    }

    func request(_ headers: HTTPFields = HTTPFields()) -> GateRequest {
        GateRequest(method: "GET", path: "/premium", headers: headers, clientAddress: "10.0.0.1")
    }

    /// Pays a fresh challenge in the plain dialect (the credential is not presented yet): its fields,
    /// the offer as the gate stored it, and the credential.
    func paidOffer() async throws -> (HTTPFields, Offer, Credential) {
        let decision = await gate.handle(request())
        guard case .respond(let response) = decision else { throw TestFailure("expected a 402, got \(decision)") }
        let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: clock.now())
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        let credential = try await payer.pay(read.offer)
        return (try read.credentialFields(for: credential), read.offer, credential)
    }

    /// Pays and presents: the grant, whose resource the test then serves or fails.
    func granted() async throws -> GatePass {
        try #require(await gate.handle(request(try await paidOffer().0)).pass)
    }

    func balances() async -> (agent: Int64, merchant: Int64) {
        (await processor.balance(ofAccount: "agent", unit: .sat).amount, await processor.balance(ofAccount: "merchant", unit: .sat).amount)
    }

    /// The maintenance task's round: discards, automatic refunds, purge.
    @discardableResult
    func maintain() async throws -> GateMaintenanceReport { try await gate.maintain() }
}

@Suite("Gate: automatic refunds of payments it could not serve")
struct GateAutomaticRefundsTests {
    @Test("a grant never served (the upstream failed, no replay) is refunded once, only after its window and the margin",
          arguments: [false, true])
    func unservedGrantRefundedOnceAfterItsWindow(sqlite: Bool) async throws {
        let world = try await RefundWorld.make(sqlite: sqlite)
        let pass = try await world.granted()
        let grant = try #require(pass.grant)
        await world.gate.abandon(pass)  // what the Paywall does for a 5xx or a timeout: nothing stored
        #expect(await world.balances() == (99_900, 100))
        try await world.maintain()
        // The grant is over, but a regrant begun before its end may still run. The 60 s presentation
        // grace is also over: the purge would delete the consumption now, and must keep it instead.
        world.clock.advance(by: 3600 + 90)
        try await world.maintain()
        #expect(await world.balances() == (99_900, 100), "nothing is refunded within the grant or the margin after it")
        #expect(world.rail.keys.isEmpty)
        #expect(try await world.store.consumedChallenge(id: grant.challengeID) != nil, "an unserved payment outlives a short grace")
        world.clock.advance(by: 31)
        try await world.maintain()
        #expect(await world.balances() == (100_000, 0), "the unserved payment went back to the payer")
        let refunds = try await world.store.refunds(challengeID: grant.challengeID)
        #expect(refunds.count == 1 && refunds.first?.status == .succeeded && refunds.first?.amount.amount == 100)
        #expect(refunds.first?.reason?.hasPrefix("automatic: not served") == true)
        world.clock.advance(by: 600)
        try await world.maintain()
        try await world.maintain()
        #expect(await world.balances() == (100_000, 0))
        #expect(world.rail.keys.count == 1, "asked the rail once, ever")
        #expect(try await world.store.refunds(challengeID: grant.challengeID).count == 1)
        #expect(world.logs.lines.contains { $0.contains("auto-refunded") && $0.contains(grant.settlement.reference) })
        let replay = await world.gate.handle(world.request(HTTPFields([("X-Receipt", grant.receiptToken)])))
        #expect(replay.pass == nil && replay.response?.status == 402, "a refunded receipt buys nothing")
    }

    @Test("a grant served on a replay of its receipt within the window is never refunded", arguments: [false, true])
    func replayedGrantNeverRefunded(sqlite: Bool) async throws {
        let world = try await RefundWorld.make(sqlite: sqlite)
        let pass = try await world.granted()
        let grant = try #require(pass.grant)
        await world.gate.abandon(pass)
        world.clock.advance(by: 1800)
        // The client retries with its receipt: granted again, this time served and stored.
        let again = try #require(await world.gate.handle(world.request(HTTPFields([("X-Receipt", grant.receiptToken)]))).pass)
        try await world.gate.complete(again, response: resourceBody)
        world.clock.advance(by: 3600 + 600)
        try await world.maintain()
        try await world.maintain()
        #expect(await world.balances() == (99_900, 100))
        #expect(world.rail.keys.isEmpty)
        #expect(try await world.store.refunds(challengeID: grant.challengeID).isEmpty)
    }

    @Test("a payment the rail took but the gate never recorded, presented after its challenge's grace, is never granted and is refunded",
          arguments: [false, true])
    func latePresentationRefunded(sqlite: Bool) async throws {
        let world = try await RefundWorld.make(sqlite: sqlite)
        let (fields, offer, credential) = try await world.paidOffer()
        // A gate process settled it and died before recording it (the payer never got its answer).
        _ = try await world.rail.settle(credential, for: offer)
        #expect(await world.balances() == (99_900, 100))
        world.clock.advance(by: 300 + 61)  // past the challenge and its 60 s grace: nothing can be granted
        let late = await world.gate.handle(world.request(fields))
        #expect(late.pass == nil)
        let response = try #require(late.response)
        #expect(response.status == 402)
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(body.contains("refunded automatically"), "the payer is told what happens to its money: \(body)")
        #expect(world.logs.lines.contains { $0.contains("late-payment recorded") })
        #expect(await world.gate.handle(world.request(fields)).pass == nil, "presented again: still nothing granted")
        #expect(await world.balances() == (99_900, 100))
        world.clock.advance(by: 1)
        try await world.maintain()
        #expect(await world.balances() == (100_000, 0), "never granted, so refunded at the next round, with no margin")
        try await world.maintain()
        #expect(world.rail.keys.count == 1)
    }

    @Test("a payment the processor only holds, presented after the grace, is neither settled nor recorded: the processor gives it back",
          arguments: [false, true])
    func lateHeldPaymentIsNotSettled(sqlite: Bool) async throws {
        let world = try await RefundWorld.make(sqlite: sqlite)
        let (fields, _, _) = try await world.paidOffer()
        world.clock.advance(by: 300 + 61)
        let late = try #require(await world.gate.handle(world.request(fields)).response)
        #expect(late.status == 402 && !String(decoding: late.body, as: UTF8.self).contains("refunded"))
        #expect(await world.balances() == (99_900, 0), "never charged here only to be refunded")
        world.clock.advance(by: 121)
        try await world.maintain()
        #expect(world.rail.keys.isEmpty)
        let held = try await world.processor.purgeExpired(now: world.clock.now().addingTimeInterval(FakeProcessor.defaultPaidRetention))
        #expect(held.refunded == 1)
        #expect(await world.balances() == (100_000, 0))
    }

    @Test("a refund whose answer is lost, then whose rail is unreachable, stays pending and is finished later, moving money once",
          arguments: [false, true])
    func failedRefundRetriedExactlyOnce(sqlite: Bool) async throws {
        let world = try await RefundWorld.make(sqlite: sqlite, faults: [.lostAfterRefund, .unreachable])
        let pass = try await world.granted()
        let grant = try #require(pass.grant)
        await world.gate.abandon(pass)
        world.clock.advance(by: 3600 + 121)
        try await world.maintain()
        #expect(try await world.store.refunds(challengeID: grant.challengeID).map(\.status) == [.pending])
        #expect(await world.balances() == (100_000, 0), "the processor refunded; only its answer was lost")
        world.clock.advance(by: 30)
        try await world.maintain()
        #expect(world.rail.keys.count == 1, "a pending refund is left alone while its first call may still be running")
        world.clock.advance(by: 31)
        try await world.maintain()  // unreachable: nothing sent
        #expect(try await world.store.refunds(challengeID: grant.challengeID).map(\.status) == [.pending])
        world.clock.advance(by: 61)
        try await world.maintain()  // the same key again: the processor returns its first refund
        let refunds = try await world.store.refunds(challengeID: grant.challengeID)
        #expect(refunds.map(\.status) == [.succeeded] && refunds.first?.railRefundID?.hasPrefix("rfd_") == true)
        #expect(await world.balances() == (100_000, 0), "refunded exactly once")
        world.clock.advance(by: 600)
        try await world.maintain()
        #expect(world.rail.keys.count == 3 && Set(world.rail.keys).count == 1, "every attempt used the one key")
    }

    @Test("two gate processes on one SQLite file, running their rounds at once, refund an unserved payment once")
    func twoGatesRefundOnce() async throws {
        let world = try await RefundWorld.make(sqlite: true)
        var other = world.configuration
        other.store = try SQLiteGateStore(path: try #require(world.databasePath), clock: world.clock)
        let second = Gate(configuration: other)
        for _ in 0..<3 {
            let pass = try await world.granted()
            await world.gate.abandon(pass)
        }
        #expect(await world.balances() == (99_700, 300))
        world.clock.advance(by: 3600 + 121)
        for _ in 0..<3 {
            async let first = world.gate.maintain()
            async let other = second.maintain()
            let rounds = try await [first, other]
            #expect(rounds.allSatisfy { $0.refunds.pending == 0 && $0.refunds.refused == 0 })
        }
        #expect(await world.balances() == (100_000, 0))
        #expect(world.rail.keys.count == 3 && Set(world.rail.keys).count == 3, "one call per payment, each with its own key")
    }

    @Test("on a rail that cannot refund, the unserved payment is recorded and kept for the operator, never refunded",
          arguments: [false, true])
    func nonRefundableRailKeepsThePayment(sqlite: Bool) async throws {
        let world = try await RefundWorld.make(sqlite: sqlite, refundable: false)
        let pass = try await world.granted()
        let grant = try #require(pass.grant)
        await world.gate.abandon(pass)
        world.clock.advance(by: 3600 + 121)
        let round = try await world.maintain()
        #expect(round.refunds.kept == 1 && round.refunds.refunded == 0)
        #expect(round.refunds.forTheOperator == [grant.settlement.reference], "the operator is told which payment to settle by hand")
        #expect(world.rail.keys.isEmpty, "a rail that declares no refunds is not asked")
        #expect(await world.balances() == (99_900, 100))
        let refunds = try await world.store.refunds(challengeID: grant.challengeID)
        #expect(refunds.count == 1 && refunds.first?.status == .failed)
        #expect(refunds.first?.reason?.contains("cannot refund") == true)
        #expect(world.logs.lines.contains { $0.contains("auto-refund-kept") && $0.contains(grant.settlement.reference) })
        // Past every ordinary retention (grant, challenge, grace), the payment is still in the store.
        world.clock.advance(by: 2 * 86_400)
        try await world.maintain()
        #expect(try await world.store.consumedChallenge(id: grant.challengeID) != nil)
        #expect(try await world.store.refunds(challengeID: grant.challengeID).count == 1, "considered once")
    }
}
