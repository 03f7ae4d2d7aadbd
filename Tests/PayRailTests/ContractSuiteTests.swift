import Foundation
import PayRail
import PayRailTesting
import Testing

@Suite("Rail contract suite")
struct ContractSuiteTests {
    static func suite(bug: ToyBug?, clock: ManualClock = ManualClock()) -> RailContractSuite {
        let ledger = ToyLedger()
        return RailContractSuite(
            payee: ToyPayee(ledger: ledger, clock: clock, bug: bug),
            payer: ToyPayer(ledger: ledger, clock: clock),
            makeCharge: { Self.charge(clock: clock, lifetime: 300) },
            clock: clock,
            expiry: .advance(clock))
    }

    static func charge(clock: any PayRailClock, lifetime: TimeInterval) -> Charge {
        // Both values are valid constants; a failure here is a bug in this helper, reported loudly.
        guard let amount = try? Money(amount: 100, unit: .sat),
              let resource = try? Resource(parsing: "GET /toy"),
              let charge = try? Charge(
                amount: amount, resource: resource, expiresAt: clock.now().addingTimeInterval(lifetime),
                challengeID: UUID().uuidString)
        else { preconditionFailure("invalid constant charge") }
        return charge
    }

    @Test("an honest rail passes every check", arguments: RailContractSuite.Check.allCases)
    func honestRailPasses(check: RailContractSuite.Check) async throws {
        try await Self.suite(bug: nil).run(check)
    }

    @Test("runAll finds nothing wrong with an honest rail")
    func honestRunAll() async {
        let violations = await Self.suite(bug: nil).runAll()
        #expect(violations.isEmpty, "\(violations)")
    }

    /// The check that must catch each defect.
    static let catchers: [ToyBug: RailContractSuite.Check] = [
        .settlesTwice: .secondSettleIsRefused,
        .racySettle: .concurrentSettlesSettleOnce,
        .ignoresOfferBinding: .credentialIsBoundToItsOffer,
        .acceptsAnyProof: .tamperedCredentialIsRefused,
        .losesLatePayment: .expiredOfferIsRefused,
        .ignoresCapabilities: .amountOutsideCapabilitiesIsRefused,
        .leaksSecretInErrors: .secondSettleIsRefused,
        .wrongRetryAdvice: .secondSettleIsRefused,
        .offerOutlivesCharge: .prepareMatchesCharge,
        .shortchangesSettlement: .payThenSettle,
        .consumesOnRefusal: .tamperedCredentialIsRefused,
    ]

    @Test("each defect is caught by its check", arguments: ToyBug.allCases)
    func defectIsCaught(bug: ToyBug) async throws {
        let check = try #require(Self.catchers[bug])
        let suite = Self.suite(bug: bug)
        let violation = await #expect(throws: ContractViolation.self) { try await suite.run(check) }
        #expect(violation?.check == check)
    }

    @Test("runAll reports each defect", arguments: ToyBug.allCases)
    func runAllReportsDefect(bug: ToyBug) async throws {
        let check = try #require(Self.catchers[bug])
        let violations = await Self.suite(bug: bug).runAll()
        #expect(violations.contains { $0.check == check }, "\(violations)")
    }

    @Test("a rail that settles twice also fails the concurrency check")
    func settlesTwiceFailsRace() async {
        let suite = Self.suite(bug: .settlesTwice)
        await #expect(throws: ContractViolation.self) { try await suite.run(.concurrentSettlesSettleOnce) }
    }

    @Test("the wait expiry hook works against the real clock")
    func waitHook() async throws {
        let clock = SystemClock()
        let ledger = ToyLedger()
        let honest = RailContractSuite(
            payee: ToyPayee(ledger: ledger, clock: clock, bug: nil),
            payer: ToyPayer(ledger: ledger, clock: clock),
            makeCharge: { Self.charge(clock: clock, lifetime: 300) },
            clock: clock,
            expiry: .wait(makeShortCharge: { Self.charge(clock: clock, lifetime: 0.3) }, maximumWait: .seconds(5)))
        try await honest.run(.expiredOfferIsRefused)

        let careless = RailContractSuite(
            payee: ToyPayee(ledger: ledger, clock: clock, bug: .losesLatePayment),
            payer: ToyPayer(ledger: ledger, clock: clock),
            makeCharge: { Self.charge(clock: clock, lifetime: 300) },
            clock: clock,
            expiry: .wait(makeShortCharge: { Self.charge(clock: clock, lifetime: 0.3) }, maximumWait: .seconds(5)))
        await #expect(throws: ContractViolation.self) { try await careless.run(.expiredOfferIsRefused) }
    }

    @Test("a violation names the check and the rule")
    func violationDescription() {
        let violation = ContractViolation(check: .payThenSettle, rule: "pay then settle", detail: "settled 1sat")
        #expect(violation.description == "[payThenSettle] pay then settle: settled 1sat")
    }
}
