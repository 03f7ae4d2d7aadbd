import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailTesting

/// A processor with a funded payer and a payee, and the two rails wired to it, on a manual clock.
struct FakeWorld {
    let clock: ManualClock
    let key: Ed25519.PrivateKey
    let processor: FakeProcessor
    let payeeAccount: FakeAccountCredentials
    let payerAccount: FakeAccountCredentials
    let payee: FakePayeeRail
    let payer: FakePayerRail

    static func make(behaviour: FakeProcessorBehaviour = .reliable, funds: Int64 = 100_000) async throws -> FakeWorld {
        let clock = ManualClock()
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key, clock: clock, behaviour: behaviour)
        let payeeAccount = try await processor.openAccount("merchant")
        let payerAccount = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: funds, unit: .sat), into: "agent")
        return FakeWorld(
            clock: clock, key: key, processor: processor, payeeAccount: payeeAccount, payerAccount: payerAccount,
            payee: FakePayeeRail(processor: processor, processorKey: key.publicKey, account: payeeAccount, clock: clock),
            payer: FakePayerRail(processor: processor, processorKey: key.publicKey, account: payerAccount, clock: clock))
    }

    func charge(_ amount: Int64 = 100, unit: MoneyUnit = .sat, lifetime: TimeInterval = 300) throws -> Charge {
        try Charge(
            amount: Money(amount: amount, unit: unit), resource: Resource(parsing: "GET /fake/resource"),
            description: "a test resource", expiresAt: clock.now().addingTimeInterval(lifetime),
            challengeID: UUID().uuidString)
    }

    func suite() -> RailContractSuite {
        let clock = self.clock
        return RailContractSuite(
            payee: payee, payer: payer,
            makeCharge: {
                // Constant valid inputs: failure would be a bug in this helper, not in the rail.
                guard let amount = try? Money(amount: 100, unit: .sat),
                      let resource = try? Resource(parsing: "GET /fake/resource"),
                      let charge = try? Charge(
                        amount: amount, resource: resource, expiresAt: clock.now().addingTimeInterval(300),
                        challengeID: UUID().uuidString)
                else { preconditionFailure("invalid constant charge") }
                return charge
            },
            clock: clock, expiry: .advance(clock))
    }

    func balance(_ account: String, _ unit: MoneyUnit = .sat) async -> Int64 {
        await processor.balance(ofAccount: account, unit: unit).amount
    }
}

extension Result where Failure == RailError {
    var railError: RailError? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Runs a typed-throwing operation and keeps its outcome.
func outcome<T>(_ body: () async throws(RailError) -> T) async -> Result<T, RailError> {
    do throws(RailError) {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
