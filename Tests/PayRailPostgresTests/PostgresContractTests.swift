import Foundation
import PayRail
import PayRailPostgres
import PayRailStore
import PayRailStoreTesting
import Testing

/// The store contract suite against a real PostgreSQL server (started by the tests, see PostgresPeer):
/// every check on a fresh database, its races through two store instances (two gate processes).
@Suite("PostgreSQL store contract")
struct PostgresContractTests {
    @Test("the PostgreSQL gate store keeps the gate store contract", arguments: GateStoreContractSuite.Check.allCases)
    func gateStore(check: GateStoreContractSuite.Check) async throws {
        let suite = GateStoreContractSuite(concurrency: 100) { clock in
            let url = try await PostgresFixture("gate_\(check.rawValue)").url
            return { try await PostgresGateStore.open(url: url, options: PostgresFixture.options, clock: clock) }
        }
        try await suite.run(check)
    }

    @Test("the PostgreSQL spend store keeps the spend store contract", arguments: SpendStoreContractSuite.Check.allCases)
    func spendStore(check: SpendStoreContractSuite.Check) async throws {
        let suite = SpendStoreContractSuite(concurrency: 50) {
            let url = try await PostgresFixture("spend_\(check.rawValue)").url
            return { try await PostgresSpendStore.open(url: url, options: PostgresFixture.options) }
        }
        try await suite.run(check)
    }
}
