import Foundation
import PayRail
import PayRailPostgres
import PayRailStore
import PayRailTestPeers
import Testing

/// A fresh database on the shared test server (started on first use by `PostgresPeer`).
struct PostgresFixture: Sendable {
    let server: PostgresServer
    let database: String

    init(_ prefix: String) async throws {
        server = try await PostgresPeer.server()
        database = try server.createDatabase(prefix: prefix)
    }

    var url: DatabaseURL {
        get throws { try DatabaseURL(server.url(database: database)) }
    }

    /// Small pools: many tests run against one server, each with its own database and stores.
    static let options = PostgresStoreOptions(poolSize: 4)
}

/// Runs `body` and returns the `StoreError` it threw, or records an issue when it threw none.
func storeError(_ body: () async throws(StoreError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> StoreError? {
    do {
        try await body()
        Issue.record("expected a StoreError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}
