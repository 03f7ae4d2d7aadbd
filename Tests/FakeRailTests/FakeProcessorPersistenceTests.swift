import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailTesting
import Testing

/// A processor kept in a file, reopened as a restarted server would: same key, same file, same clock.
private struct StoredWorld {
    let clock = ManualClock()
    let key: Ed25519.PrivateKey
    let file: URL
    let merchant = FakeAccountCredentials(accountID: "merchant", secret: "sk_fake_merchant-secret")
    let agent = FakeAccountCredentials(accountID: "agent", secret: "sk_fake_agent-secret")

    init() throws {
        key = try Ed25519.PrivateKey()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-fake-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        file = folder.appendingPathComponent("fake-processor.sqlite")
    }

    /// Opens the file (a start or a restart) with the merchant and a funded agent provisioned.
    func open(funds: Int64 = 1_000) async throws -> FakeProcessor {
        let processor = try FakeProcessor(signingKey: key, databaseURL: file, clock: clock)
        try await processor.provisionAccount(merchant)
        try await processor.provisionAccount(agent, funding: [Money(amount: funds, unit: .sat)])
        return processor
    }

    func payee(_ processor: FakeProcessor) -> FakePayeeRail {
        FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant, clock: clock)
    }

    func payer(_ processor: FakeProcessor) -> FakePayerRail {
        FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent, clock: clock)
    }

    func charge(_ amount: Int64, lifetime: TimeInterval = 300) throws -> Charge {
        try Charge(amount: Money(amount: amount, unit: .sat), resource: Resource(parsing: "GET /fake/resource"),
                   expiresAt: clock.now().addingTimeInterval(lifetime), challengeID: UUID().uuidString)
    }
}

@Suite("Fake processor kept in a file")
struct FakeProcessorPersistenceTests {
    @Test("reopened from its file, the processor answers .alreadySettled for a redeemed voucher, finds its redemption and knows balances")
    func survivesReopening() async throws {
        let world = try StoredWorld()
        let first = try await world.open()
        let redeemedOffer = try await world.payee(first).prepare(world.charge(300))
        let redeemedCredential = try await world.payer(first).pay(redeemedOffer)
        let settlement = try await world.payee(first).settle(redeemedCredential, for: redeemedOffer)
        let heldOffer = try await world.payee(first).prepare(world.charge(200))
        let heldCredential = try await world.payer(first).pay(heldOffer)
        let openOffer = try await world.payee(first).prepare(world.charge(50))
        await first.close()

        let second = try await world.open(funds: 999_999)  // funded once: a restart does not fund again
        #expect(await second.balance(ofAccount: "agent", unit: .sat).amount == 500)
        #expect(await second.balance(ofAccount: "merchant", unit: .sat).amount == 300)
        #expect(try await second.heldFunds(unit: .sat).amount == 200)
        #expect(await second.status(ofRequest: redeemedOffer.id) == .settled(paymentID: settlement.reference))
        #expect(await second.status(ofRequest: heldOffer.id) == .paid(payer: "agent"))
        #expect(await second.status(ofRequest: openOffer.id) == .open)

        // The same voucher again: the same payment, never a second credit.
        let again = await outcome { () async throws(RailError) in try await world.payee(second).settle(redeemedCredential, for: redeemedOffer) }
        #expect(again.railError?.code == .alreadySettled)
        #expect(try await world.payee(second).settlement(of: redeemedOffer) == settlement)
        #expect(await second.balance(ofAccount: "merchant", unit: .sat).amount == 300)
        // The payer looking its payment up gets the same voucher without a second debit.
        #expect(try await world.payer(second).pay(heldOffer) == heldCredential)
        #expect(await second.balance(ofAccount: "agent", unit: .sat).amount == 500)
        // Paid before the restart, redeemed after it; opened before, paid after.
        _ = try await world.payee(second).settle(heldCredential, for: heldOffer)
        let late = try await world.payer(second).pay(openOffer)
        _ = try await world.payee(second).settle(late, for: openOffer)
        #expect(await second.balance(ofAccount: "agent", unit: .sat).amount == 450)
        #expect(await second.balance(ofAccount: "merchant", unit: .sat).amount == 550)
        await second.close()
    }

    @Test("twenty concurrent redeems of one stored voucher: one success, the rest .alreadySettled, also after reopening")
    func concurrentRedeemStaysExactlyOnce() async throws {
        let world = try StoredWorld()
        let processor = try await world.open()
        let offer = try await world.payee(processor).prepare(world.charge(100))
        let credential = try await world.payer(processor).pay(offer)
        let payee = world.payee(processor)
        let codes = await withTaskGroup(of: RailError.Code?.self) { group in
            for _ in 0..<20 {
                group.addTask { await outcome { () async throws(RailError) in try await payee.settle(credential, for: offer) }.railError?.code }
            }
            var codes: [RailError.Code?] = []
            for await code in group { codes.append(code) }
            return codes
        }
        #expect(codes.filter { $0 == nil }.count == 1)
        #expect(codes.filter { $0 == .alreadySettled }.count == 19)
        await processor.close()
        let reopened = try await world.open()
        let again = await outcome { () async throws(RailError) in try await world.payee(reopened).settle(credential, for: offer) }
        #expect(again.railError?.code == .alreadySettled)
        #expect(await reopened.balance(ofAccount: "merchant", unit: .sat).amount == 100)
        await reopened.close()
    }

    @Test("purge forgets requests that expired unpaid, keeps paid ones within retention, then refunds what was never redeemed")
    func purgeKeepsWhatALatePresentationNeeds() async throws {
        let world = try StoredWorld()
        let processor = try await world.open()
        let unpaid = try await world.payee(processor).prepare(world.charge(10, lifetime: 60))
        let redeemedOffer = try await world.payee(processor).prepare(world.charge(100, lifetime: 60))
        let redeemed = try await world.payer(processor).pay(redeemedOffer)
        _ = try await world.payee(processor).settle(redeemed, for: redeemedOffer)
        let heldOffer = try await world.payee(processor).prepare(world.charge(200, lifetime: 60))
        _ = try await world.payer(processor).pay(heldOffer)
        let fresh = try await world.payee(processor).prepare(world.charge(10, lifetime: 3600))
        #expect(await processor.requestCount == 4)

        world.clock.advance(by: 120)
        let first = try await processor.purgeExpired()
        #expect(first == { var report = FakePurgeReport(); report.expiredUnpaid = 1; return report }())
        #expect(await processor.status(ofRequest: unpaid.id) == nil)
        #expect(await processor.status(ofRequest: fresh.id) == .open)
        // A late presentation within the retention is still checkable.
        let late = await outcome { () async throws(RailError) in try await world.payee(processor).settle(redeemed, for: redeemedOffer) }
        #expect(late.railError?.code == .alreadySettled)
        #expect(await processor.status(ofRequest: heldOffer.id) == .paid(payer: "agent"))

        // A retention shorter than a day is raised to one: 23 hours on, nothing paid is forgotten.
        world.clock.advance(by: 23 * 3600)
        #expect(try await processor.purgeExpired(paidRetention: 60).total == 1)  // only `fresh`, unpaid
        #expect(await processor.requestCount == 2)

        world.clock.advance(by: FakeProcessor.defaultPaidRetention)
        let last = try await processor.purgeExpired()
        #expect(last.settled == 1 && last.refunded == 1 && last.expiredUnpaid == 0)
        #expect(await processor.requestCount == 0)
        #expect(await processor.balance(ofAccount: "agent", unit: .sat).amount == 900, "the unredeemed 200 went back to the payer")
        #expect(await processor.balance(ofAccount: "merchant", unit: .sat).amount == 100)
        await processor.close()

        let reopened = try await world.open()
        #expect(await reopened.requestCount == 0, "the purge is stored")
        #expect(await reopened.balance(ofAccount: "agent", unit: .sat).amount == 900)
        await reopened.close()
    }

    @Test("a file for another key, an empty file, a second opener and a wrong account secret are refused")
    func refusals() async throws {
        let world = try StoredWorld()
        let processor = try await world.open()
        let busy = await outcome { () async throws(RailError) in try FakeProcessor(signingKey: world.key, databaseURL: world.file) }
        #expect(busy.railError?.code == .unavailable, "one process owns the file")
        await processor.close()

        let stranger = try Ed25519.PrivateKey()
        let otherKey = await outcome { () async throws(RailError) in try FakeProcessor(signingKey: stranger, databaseURL: world.file) }
        #expect(otherKey.railError?.reason.contains("another signing key") == true)

        let reopened = try FakeProcessor(signingKey: world.key, databaseURL: world.file)
        let impostor = FakeAccountCredentials(accountID: "agent", secret: "sk_fake_guessed")
        let wrongSecret = await outcome { () async throws(RailError) in try await reopened.provisionAccount(impostor, funding: []) }
        #expect(wrongSecret.railError?.code == .declined)
        await reopened.close()

        let empty = world.file.deletingLastPathComponent().appendingPathComponent("empty.sqlite")
        #expect(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        let truncated = await outcome { () async throws(RailError) in try FakeProcessor(signingKey: world.key, databaseURL: empty) }
        #expect(truncated.railError?.reason.contains("is empty") == true, "an empty file is not a new processor")
        let attributes = try FileManager.default.attributesOfItem(atPath: world.file.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test("the rail contract holds on a processor kept in a file")
    func contract() async throws {
        let world = try StoredWorld()
        let processor = try await world.open(funds: 100_000)
        let clock = world.clock
        let suite = RailContractSuite(
            payee: world.payee(processor), payer: world.payer(processor),
            makeCharge: {
                guard let charge = try? Charge(
                    amount: Money(amount: 100, unit: .sat), resource: Resource(parsing: "GET /fake/resource"),
                    expiresAt: clock.now().addingTimeInterval(300), challengeID: UUID().uuidString)
                else { preconditionFailure("invalid constant charge") }
                return charge
            },
            clock: clock, expiry: .advance(clock))
        let violations = await suite.runAll()
        #expect(violations.isEmpty, "\(violations)")
        await processor.close()
    }
}
