import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import Testing

@Suite("Fake processor")
struct FakeProcessorTests {
    @Test("paying holds the payer's funds and redeeming credits the payee exactly once")
    func balancesMove() async throws {
        let world = try await FakeWorld.make(funds: 1_000)
        let offer = try await world.payee.prepare(world.charge(300))
        #expect(await world.processor.status(ofRequest: offer.id) == .open)
        let credential = try await world.payer.pay(offer)
        #expect(await world.balance("agent") == 700)
        #expect(try await world.processor.heldFunds(unit: .sat).amount == 300)
        #expect(await world.processor.status(ofRequest: offer.id) == .paid(payer: "agent"))
        let settlement = try await world.payee.settle(credential, for: offer)
        #expect(settlement.amount == (try Money(amount: 300, unit: .sat)))
        #expect(settlement.reference.hasPrefix("pay_"))
        #expect(await world.processor.status(ofRequest: offer.id) == .settled(paymentID: settlement.reference))
        #expect(await world.balance("merchant") == 300)
        #expect(try await world.processor.heldFunds(unit: .sat).isZero)
        let again = await outcome { () async throws(RailError) in try await world.payee.settle(credential, for: offer) }
        #expect(again.railError?.code == .alreadySettled)
        #expect(await world.balance("merchant") == 300)
    }

    @Test("insufficient funds is a typed refusal and leaves the balance unchanged")
    func insufficientFunds() async throws {
        let world = try await FakeWorld.make(funds: 50)
        let offer = try await world.payee.prepare(world.charge(100))
        guard case .refused(let quoteError) = await world.payer.quote(offer) else {
            Issue.record("an unaffordable offer was quoted payable")
            return
        }
        #expect(quoteError.code == .insufficientFunds)
        let result = await outcome { () async throws(RailError) in try await world.payer.pay(offer) }
        #expect(result.railError?.code == .insufficientFunds)
        #expect(result.railError?.retry == .unsafe)
        #expect(await world.balance("agent") == 50)
        #expect(await world.processor.status(ofRequest: offer.id) == .open)
    }

    @Test("paying the same request twice returns the same voucher and debits once")
    func idempotentPay() async throws {
        let world = try await FakeWorld.make(funds: 1_000)
        let offer = try await world.payee.prepare(world.charge(100))
        let first = try await world.payer.pay(offer)
        let second = try await world.payer.pay(offer)
        #expect(first == second)
        #expect(await world.balance("agent") == 900)
    }

    @Test("twenty concurrent pays of one offer debit once and agree on the voucher")
    func concurrentIdempotentPay() async throws {
        let world = try await FakeWorld.make(funds: 1_000)
        let offer = try await world.payee.prepare(world.charge(100))
        let payer = world.payer
        let vouchers = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<20 {
                group.addTask { try? await payer.pay(offer).payload["voucher"] }
            }
            var all: [String?] = []
            for await voucher in group { all.append(voucher) }
            return all
        }
        #expect(vouchers.allSatisfy { $0 != nil })
        #expect(Set(vouchers.compactMap { $0 }).count == 1)
        #expect(await world.balance("agent") == 900)
    }

    @Test("concurrent pays of different offers never overdraw")
    func concurrentPaysNeverOverdraw() async throws {
        let world = try await FakeWorld.make(funds: 1_000)
        var offers: [Offer] = []
        for _ in 0..<15 { offers.append(try await world.payee.prepare(world.charge(100))) }
        let payer = world.payer
        let results = await withTaskGroup(of: RailError.Code?.self) { group in
            for offer in offers {
                group.addTask { await outcome { () async throws(RailError) in try await payer.pay(offer) }.railError?.code }
            }
            var all: [RailError.Code?] = []
            for await code in group { all.append(code) }
            return all
        }
        #expect(results.filter { $0 == nil }.count == 10)
        #expect(results.filter { $0 == .insufficientFunds }.count == 5)
        #expect(await world.balance("agent") == 0)
        #expect(try await world.processor.heldFunds(unit: .sat).amount == 1_000)
    }

    @Test("a timeout after the debit is recovered by paying again, never by paying twice")
    func timeoutAfterDebit() async throws {
        let world = try await FakeWorld.make(behaviour: FakeProcessorBehaviour(timeoutAfterDebitPerMille: 1000), funds: 1_000)
        let offer = try await world.payee.prepare(world.charge(100))
        let first = await outcome { () async throws(RailError) in try await world.payer.pay(offer) }
        #expect(first.railError?.code == .timedOut)
        #expect(first.railError?.retry == .afterLookup)
        #expect(await world.balance("agent") == 900)
        let credential = try await world.payer.pay(offer)
        #expect(await world.balance("agent") == 900)
        let settlement = try await world.payee.settle(credential, for: offer)
        #expect(settlement.offerID == offer.id)
        #expect(await world.balance("merchant") == 100)
    }

    @Test("an unavailable processor did nothing and says retrying is safe")
    func unavailable() async throws {
        let world = try await FakeWorld.make(funds: 1_000)
        let offer = try await world.payee.prepare(world.charge(100))
        let flaky = FakeProcessor(signingKey: world.key, clock: world.clock, behaviour: FakeProcessorBehaviour(unavailablePerMille: 1000))
        let payer = FakePayerRail(processor: flaky, processorKey: world.key.publicKey, account: world.payerAccount, clock: world.clock)
        let result = await outcome { () async throws(RailError) in try await payer.pay(offer) }
        #expect(result.railError?.code == .unavailable)
        #expect(result.railError?.retry == .safe)
        #expect(await world.balance("agent") == 1_000)
    }

    @Test("a declined payment moves no money and must not be retried")
    func declined() async throws {
        let world = try await FakeWorld.make(behaviour: FakeProcessorBehaviour(declinePerMille: 1000), funds: 1_000)
        let offer = try await world.payee.prepare(world.charge(100))
        let result = await outcome { () async throws(RailError) in try await world.payer.pay(offer) }
        #expect(result.railError?.code == .declined)
        #expect(result.railError?.retry == .unsafe)
        #expect(await world.balance("agent") == 1_000)
        #expect(await world.processor.status(ofRequest: offer.id) == .open)
    }

    /// The outcome codes of a fixed call sequence on a processor with failures.
    static func trace(seed: UInt64) async throws -> [String] {
        let behaviour = FakeProcessorBehaviour(
            seed: seed, unavailablePerMille: 200, declinePerMille: 150, timeoutAfterDebitPerMille: 150)
        let world = try await FakeWorld.make(behaviour: behaviour, funds: 1_000_000)
        var trace: [String] = []
        for _ in 0..<60 {
            let charge = try world.charge(10)
            let prepared = await outcome { () async throws(RailError) in try await world.payee.prepare(charge) }
            guard case .success(let offer) = prepared else {
                trace.append("prepare:\(prepared.railError?.code.rawValue ?? "?")")
                continue
            }
            let paid = await outcome { () async throws(RailError) in try await world.payer.pay(offer) }
            trace.append("pay:\(paid.railError?.code.rawValue ?? "ok")")
        }
        trace.append("balance:\(await world.balance("agent"))")
        return trace
    }

    @Test("failures are reproducible from the seed")
    func seededFailures() async throws {
        let first = try await Self.trace(seed: 42)
        let second = try await Self.trace(seed: 42)
        let other = try await Self.trace(seed: 43)
        #expect(first == second)
        #expect(first != other)
        for code in ["unavailable", "declined", "timedOut", "ok"] {
            #expect(first.contains { $0.hasSuffix(code) }, "no \(code) in \(first)")
        }
    }

    @Test("SplitMix64 matches the reference sequence")
    func splitMix() {
        // Reference values for seed 0 from the SplitMix64 reference implementation (Vigna).
        var generator = SplitMix64(seed: 0)
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(generator.next() == 0x06C4_5D18_8009_454F)
    }

    @Test("latency is applied to every call")
    func latency() async throws {
        let world = try await FakeWorld.make(behaviour: FakeProcessorBehaviour(latency: .milliseconds(50)))
        let start = ContinuousClock.now
        _ = try await world.payee.prepare(world.charge(100))
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }

    @Test("a voucher is base64url claims and an Ed25519 signature by the processor")
    func voucherFormat() async throws {
        let world = try await FakeWorld.make()
        let offer = try await world.payee.prepare(world.charge(250))
        let token = try #require(try await world.payer.pay(offer).payload["voucher"])
        let parts = token.split(separator: ".")
        #expect(parts.count == 2)
        let claims = try JSONSerialization.jsonObject(with: Data(Base64URL.decode(parts[0]))) as? [String: Any]
        #expect(claims?["rid"] as? String == offer.id)
        #expect(claims?["payer"] as? String == "agent")
        #expect(claims?["payee"] as? String == "merchant")
        #expect(claims?["amount"] as? String == "250")
        #expect(claims?["unit"] as? String == "sat")
        #expect(claims?["exp"] as? Int == Int(offer.expiresAt.timeIntervalSince1970))
        #expect(world.key.publicKey.isValidSignature(try Base64URL.decode(parts[1]), for: Array(parts[0].utf8)))
        let decoded = try FakeVoucher.verify(token, publicKey: world.key.publicKey)
        #expect(decoded.requestID == offer.id)
    }

    @Test("a payee configured with another processor key refuses genuine vouchers")
    func wrongProcessorKey() async throws {
        let world = try await FakeWorld.make()
        let stranger = try Ed25519.PrivateKey()
        let payee = FakePayeeRail(
            processor: world.processor, processorKey: stranger.publicKey, account: world.payeeAccount, clock: world.clock)
        let offer = try await world.payee.prepare(world.charge(100))
        let credential = try await world.payer.pay(offer)
        let result = await outcome { () async throws(RailError) in try await payee.settle(credential, for: offer) }
        #expect(result.railError?.code == .invalidProof)
        #expect(await world.balance("merchant") == 0)
    }

    @Test("the payer refuses offers from another processor")
    func payerRefusesOtherProcessor() async throws {
        let world = try await FakeWorld.make()
        let other = try await FakeWorld.make()
        let foreign = try await other.payee.prepare(other.charge(100))
        guard case .refused(let error) = await world.payer.quote(foreign) else {
            Issue.record("quoted an offer from another processor")
            return
        }
        #expect(error.code == .unsupported)
        let result = await outcome { () async throws(RailError) in try await world.payer.pay(foreign) }
        #expect(result.railError?.code == .unsupported)
    }

    @Test("a correctly signed voucher that the processor never issued is refused")
    func unissuedVoucher() async throws {
        let world = try await FakeWorld.make()
        let offer = try await world.payee.prepare(world.charge(100))
        let forged = try FakeVoucher(
            requestID: offer.id, payer: "agent", payee: "merchant", amount: offer.amount,
            issuedAt: Int64(world.clock.now().timeIntervalSince1970),
            expiresAt: Int64(offer.expiresAt.timeIntervalSince1970)
        ).signed(with: world.key)
        let credential = Credential(rail: .fake, offerID: offer.id, payload: ["voucher": forged])
        let result = await outcome { () async throws(RailError) in try await world.payee.settle(credential, for: offer) }
        #expect(result.railError?.code == .invalidProof)
        #expect(result.railError.map { !$0.description.contains(forged) } == true)
        #expect(await world.balance("merchant") == 0)
    }

    @Test("another payer cannot pay a request that was already paid")
    func secondPayer() async throws {
        let world = try await FakeWorld.make()
        let rival = try await world.processor.openAccount("rival")
        try await world.processor.deposit(Money(amount: 1_000, unit: .sat), into: "rival")
        let rivalPayer = FakePayerRail(processor: world.processor, processorKey: world.key.publicKey, account: rival, clock: world.clock)
        let offer = try await world.payee.prepare(world.charge(100))
        _ = try await world.payer.pay(offer)
        let result = await outcome { () async throws(RailError) in try await rivalPayer.pay(offer) }
        #expect(result.railError?.code == .alreadySettled)
        #expect(await world.balance("rival") == 1_000)
    }

    @Test("wrong account credentials are refused")
    func wrongCredentials() async throws {
        let world = try await FakeWorld.make()
        let impostor = FakeAccountCredentials(accountID: "agent", secret: "sk_fake_guess")
        let payer = FakePayerRail(processor: world.processor, processorKey: world.key.publicKey, account: impostor, clock: world.clock)
        let offer = try await world.payee.prepare(world.charge(100))
        let result = await outcome { () async throws(RailError) in try await payer.pay(offer) }
        #expect(result.railError?.code == .declined)
        #expect(await world.balance("agent") == 100_000)
        #expect(!"\(world.payerAccount)".contains(world.payerAccount.secret))
    }

    @Test("offers never outlive the charge nor the payee's maximum lifetime")
    func offerLifetime() async throws {
        let world = try await FakeWorld.make()
        let short = try await world.payee.prepare(world.charge(100, lifetime: 60))
        #expect(short.expiresAt <= world.clock.now().addingTimeInterval(60))
        let long = try await world.payee.prepare(world.charge(100, lifetime: 10 * 86_400))
        #expect(long.expiresAt <= world.clock.now().addingTimeInterval(3600))
        let expired = try world.charge(100, lifetime: -1)
        let result = await outcome { () async throws(RailError) in try await world.payee.prepare(expired) }
        #expect(result.railError?.code == .expired)
    }

    @Test("ISO currency payments work like sat ones")
    func currencyPayment() async throws {
        let world = try await FakeWorld.make()
        try await world.processor.deposit(Money(parsing: "20.00usd"), into: "agent")
        let offer = try await world.payee.prepare(world.charge(150, unit: .usd))
        let credential = try await world.payer.pay(offer)
        _ = try await world.payee.settle(credential, for: offer)
        #expect(await world.balance("agent", .usd) == 1_850)
        #expect(await world.balance("merchant", .usd) == 150)
        #expect(await world.balance("agent", .sat) == 100_000)
    }
}
