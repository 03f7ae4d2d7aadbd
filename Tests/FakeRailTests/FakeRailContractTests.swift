import FakeRail
import PayRailTesting
import Testing

/// The reusable rail contract, one test per rule, each on a fresh processor.
@Suite("Fake rail honours the rail contract")
struct FakeRailContractTests {
    func run(_ check: RailContractSuite.Check) async throws {
        try await FakeWorld.make().suite().run(check)
    }

    @Test func prepareMatchesCharge() async throws { try await run(.prepareMatchesCharge) }
    @Test func quoteIsPayable() async throws { try await run(.quoteIsPayable) }
    @Test func payThenSettle() async throws { try await run(.payThenSettle) }
    @Test func secondSettleIsRefused() async throws { try await run(.secondSettleIsRefused) }
    @Test func concurrentSettlesSettleOnce() async throws { try await run(.concurrentSettlesSettleOnce) }
    @Test func credentialIsBoundToItsOffer() async throws { try await run(.credentialIsBoundToItsOffer) }
    @Test func tamperedCredentialIsRefused() async throws { try await run(.tamperedCredentialIsRefused) }
    @Test func amountOutsideCapabilitiesIsRefused() async throws { try await run(.amountOutsideCapabilitiesIsRefused) }
    @Test func errorsCarryConsistentAdvice() async throws { try await run(.errorsCarryConsistentAdvice) }
    @Test func expiredOfferIsRefused() async throws { try await run(.expiredOfferIsRefused) }

    @Test("every check is covered above")
    func coverage() {
        #expect(RailContractSuite.Check.allCases.count == 11)
    }

    @Test("runAll on one shared processor finds no violation")
    func runAll() async throws {
        let world = try await FakeWorld.make()
        let violations = await world.suite().runAll()
        #expect(violations.isEmpty, "\(violations)")
    }
}

extension FakeRailContractTests {
    @Test func refundsOnceNeverMoreThanPaid() async throws { try await run(.refundsOnceNeverMoreThanPaid) }
}
