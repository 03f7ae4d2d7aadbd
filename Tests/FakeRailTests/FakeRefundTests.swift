import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailTesting
import Testing

@Suite("Fake processor refunds")
struct FakeRefundTests {
    @Test("the contract's refund check passes, and the money goes back to the payer")
    func contractAndBalances() async throws {
        let world = try await FakeWorld.make()
        try await world.suite().run(.refundsOnceNeverMoreThanPaid)
        // One payment of 100 sat, refunded 50 + 50: the payer has everything back, the payee nothing.
        #expect(await world.balance("agent") == 100_000)
        #expect(await world.balance("merchant") == 0)
    }

    @Test("a refund survives a restart: the same key returns it, nothing moves twice, no more than paid")
    func survivesRestart() async throws {
        let clock = ManualClock()
        let key = try Ed25519.PrivateKey()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-fake-refund-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("fake-processor.sqlite")
        let merchant = FakeAccountCredentials(accountID: "merchant", secret: "sk_fake_merchant-secret")
        let agent = FakeAccountCredentials(accountID: "agent", secret: "sk_fake_agent-secret")
        func open() async throws -> FakeProcessor {
            let processor = try FakeProcessor(signingKey: key, databaseURL: file, clock: clock)
            try await processor.provisionAccount(merchant)
            try await processor.provisionAccount(agent, funding: [Money(amount: 1_000, unit: .sat)])
            return processor
        }
        let first = try await open()
        let payee = FakePayeeRail(processor: first, processorKey: key.publicKey, account: merchant, clock: clock)
        let payer = FakePayerRail(processor: first, processorKey: key.publicKey, account: agent, clock: clock)
        let offer = try await payee.prepare(Charge(amount: Money(amount: 300, unit: .sat), resource: Resource(parsing: "GET /x"),
                                                   expiresAt: clock.now().addingTimeInterval(300), challengeID: "c1"))
        let settlement = try await payee.settle(try await payer.pay(offer), for: offer)
        let refund = try await payee.refund(settlement, amount: Money(amount: 200, unit: .sat), reason: "late", idempotencyKey: "k1")
        #expect(refund.status == .succeeded && refund.amount.amount == 200)
        await first.close()

        let second = try await open()
        let again = FakePayeeRail(processor: second, processorKey: key.publicKey, account: merchant, clock: clock)
        let replay = try await again.refund(settlement, amount: Money(amount: 200, unit: .sat), reason: nil, idempotencyKey: "k1")
        #expect(replay == refund)
        #expect(await second.balance(ofAccount: "agent", unit: .sat).amount == 900)
        #expect(await second.balance(ofAccount: "merchant", unit: .sat).amount == 100)
        await #expect { _ = try await again.refund(settlement, amount: Money(amount: 101, unit: .sat), reason: nil, idempotencyKey: "k2") }
            throws: { ($0 as? RailError)?.code == .unsupported }
        await #expect { _ = try await again.refund(settlement, amount: Money(amount: 50, unit: .sat), reason: nil, idempotencyKey: "k1") }
            throws: { ($0 as? RailError)?.code == .mismatch }
        #expect(try await again.refund(settlement, amount: nil, reason: nil, idempotencyKey: "k3").amount.amount == 100)
        #expect(await second.balance(ofAccount: "agent", unit: .sat).amount == 1_000)
        await second.close()
    }
}
