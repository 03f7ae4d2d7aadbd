import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import Testing

/// A processor that answers `createRequest` with other terms than asked (a buggy or hostile remote
/// processor); everything else is forwarded to a real one.
private struct AlteringProcessor: FakeProcessorAPI {
    enum Alteration: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case amount, payee, expiry
        var testDescription: String { rawValue }
    }

    let inner: FakeProcessor
    let alteration: Alteration

    func createRequest(
        amount: Money, expiresAt: Date, challengeID: String, payee: FakeAccountCredentials
    ) async throws(RailError) -> FakePaymentRequest {
        let real = try await inner.createRequest(amount: amount, expiresAt: expiresAt, challengeID: challengeID, payee: payee)
        switch alteration {
        case .amount:
            let doubled = (try? real.amount.multiplied(by: 2)) ?? real.amount
            return FakePaymentRequest(
                id: real.id, payee: real.payee, amount: doubled, expiresAt: real.expiresAt, challengeID: challengeID)
        case .payee:
            return FakePaymentRequest(
                id: real.id, payee: "someone-else", amount: real.amount, expiresAt: real.expiresAt, challengeID: challengeID)
        case .expiry:
            return FakePaymentRequest(
                id: real.id, payee: real.payee, amount: real.amount, expiresAt: real.expiresAt.addingTimeInterval(86_400),
                challengeID: challengeID)
        }
    }

    func pay(requestID: String, amount: Money, payee: String, payer: FakeAccountCredentials) async throws(RailError) -> String {
        try await inner.pay(requestID: requestID, amount: amount, payee: payee, payer: payer)
    }

    func redeem(voucher: String, requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption {
        try await inner.redeem(voucher: voucher, requestID: requestID, payee: payee)
    }

    func redemption(ofRequest requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption? {
        try await inner.redemption(ofRequest: requestID, payee: payee)
    }

    func balance(of account: FakeAccountCredentials, unit: MoneyUnit) async throws(RailError) -> Money {
        try await inner.balance(of: account, unit: unit)
    }
}

@Suite("Fake rail review fixes")
struct FakeRailReviewTests {
    @Test("dump of account credentials never shows the secret")
    func credentialsDumpHidesSecret() async throws {
        let world = try await FakeWorld.make()
        let secret = world.payerAccount.secret
        var dumped = ""
        dump(world.payerAccount, to: &dumped)
        #expect(!dumped.contains(secret), "\(dumped)")
        #expect(dumped.contains("agent"))
        #expect(!"\(world.payerAccount)".contains(secret))
        #expect(!String(reflecting: world.payerAccount).contains(secret))
    }

    @Test("held funds that do not fit 64 bits are refused, not wrapped to zero")
    func heldFundsOverflow() async throws {
        let world = try await FakeWorld.make()
        let processor = world.processor
        let huge = try Money(amount: .max, unit: .sat)
        var total: [FakeAccountCredentials] = []
        for name in ["whale-1", "whale-2"] {
            let account = try await processor.openAccount(name)
            try await processor.deposit(huge, into: name)
            total.append(account)
        }
        for payer in total {
            let request = try await processor.createRequest(
                amount: huge, expiresAt: world.clock.now().addingTimeInterval(60), challengeID: "ch",
                payee: world.payeeAccount)
            _ = try await processor.pay(requestID: request.id, amount: huge, payee: "merchant", payer: payer)
        }
        let held = await outcome { () async throws(RailError) in try await processor.heldFunds(unit: .sat) }
        #expect(held.railError?.code == .unsupported, "\(held)")
    }

    @Test("prepare never offers terms the processor changed", arguments: AlteringProcessor.Alteration.allCases)
    fileprivate func prepareChecksProcessorAnswer(alteration: AlteringProcessor.Alteration) async throws {
        let world = try await FakeWorld.make()
        let rail = FakePayeeRail(
            processor: AlteringProcessor(inner: world.processor, alteration: alteration),
            processorKey: world.key.publicKey, account: world.payeeAccount, clock: world.clock)
        let charge = try world.charge(100)
        let result = await outcome { () async throws(RailError) in try await rail.prepare(charge) }
        #expect(result.railError?.code == .unavailable, "\(result)")
    }
}
