import Foundation
import PayRail
import PayRailStore
import Testing

/// The two implementations every behavioural test runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case sqlite

    var testDescription: String { rawValue }
}

/// A fresh temporary directory per test, removed when the test ends.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}

/// A store of one kind on a manual clock (SQLite in its own temporary file).
struct StoreFixture: Sendable {
    let store: any GateStore
    let clock: ManualClock
    let directory: TemporaryDirectory

    init(_ kind: StoreKind) throws {
        clock = ManualClock()
        directory = try TemporaryDirectory()
        switch kind {
        case .memory: store = MemoryGateStore(clock: clock)
        case .sqlite: store = try SQLiteGateStore(path: directory.path("gate.sqlite"), clock: clock)
        }
    }
}

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Copies a fixture into `directory` (tests never modify the committed file) and returns the copy's path.
    static func copy(_ name: String, into directory: TemporaryDirectory) throws -> String {
        let target = directory.path(name)
        try FileManager.default.copyItem(atPath: path(name), toPath: target)
        return target
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// Sample values; amounts and times are exact so records compare equal after a round trip.
enum Sample {
    static let start = Date(timeIntervalSince1970: 1_767_225_600)

    static func money(_ amount: Int64, _ unit: MoneyUnit = .sat) throws -> Money {
        try Money(amount: amount, unit: unit)
    }

    static func challenge(_ id: String, expiresIn seconds: TimeInterval = 300, now: Date = start) throws -> ChallengeRecord {
        let expiry = now.addingTimeInterval(seconds)
        return ChallengeRecord(
            id: id, resource: try Resource(parsing: "GET /premium/report"),
            offers: [
                Offer(rail: .fake, amount: try money(100), payee: "acct_payee", expiresAt: expiry, id: "offer-\(id)-fake",
                      details: ["processorKey": "pk_1", "requestID": "req-\(id)"]),
                Offer(rail: .stripe, amount: try money(5, .usd), payee: "acct_stripe", expiresAt: expiry, id: "pi_\(id)",
                      details: ["networkId": "net_1"]),
            ],
            bodyDigest: "sha-256=:abc=:", createdAt: now.addingTimeInterval(0.1234), expiresAt: expiry)
    }

    static func settlement(_ challengeID: String, reference: String = "pay-1", at date: Date = start) throws -> Settlement {
        Settlement(rail: .fake, offerID: "offer-\(challengeID)-fake", reference: reference, amount: try money(100), settledAt: date)
    }

    static func receipt(_ receiptID: String, grantSeconds: TimeInterval = 600, response: StoredResponse? = nil) throws -> ReceiptRecord {
        ReceiptRecord(receiptID: receiptID, tokenHash: Data("hash-of-\(receiptID)".utf8),
                      resource: try Resource(parsing: "GET /premium/report"), issuedAt: start,
                      grantExpiresAt: start.addingTimeInterval(grantSeconds), response: response, credentialHash: nil)
    }

    static let response = StoredResponse(
        status: 200,
        headers: [StoredHeader(name: "Content-Type", value: "application/json"), StoredHeader(name: "Set-Cookie", value: "a=1"),
                  StoredHeader(name: "Set-Cookie", value: "b=2")],
        body: Data("{\"report\":42}".utf8))
}

/// Runs `body` and returns the `StoreError` it threw, or records an issue when it did not throw one.
func storeError(_ body: () async throws(StoreError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> StoreError? {
    do {
        try await body()
        Issue.record("expected a StoreError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}
