import Foundation
import PayRail
import PayRailStore

// The store contract suites run inside any test framework (Swift Testing here, XCTest in someone
// else's project, a self-check of a deployment), so they report by throwing instead of `#expect`,
// like the rail contract suite.

/// A rule of the store contract that a store broke, with enough detail to find the bug.
public struct StoreContractViolation: Error, Hashable, Sendable, CustomStringConvertible {
    /// The check that failed (a `GateStoreContractSuite.Check` or `SpendStoreContractSuite.Check` name).
    public let check: String
    /// The rule, in one sentence.
    public let rule: String
    /// What actually happened.
    public let detail: String

    /// Creates a violation.
    public init(check: String, rule: String, detail: String) {
        self.check = check
        self.rule = rule
        self.detail = detail
    }

    /// `[check] rule: detail`.
    public var description: String { "[\(check)] \(rule): \(detail)" }
}

/// Opens a store instance on one database: each call another instance on the same data, as another
/// process would (the memory store returns its one instance every time).
public typealias GateStoreOpener = @Sendable () async throws -> any GateStore & PaymentEventStore

/// Opens a spend store instance on one ledger: each call another instance on the same data.
public typealias SpendStoreOpener = @Sendable () async throws -> any SpendStore

/// Assertions that throw a `StoreContractViolation` for one check.
struct ContractProbe: Sendable {
    let check: String

    func expect(_ condition: Bool, _ rule: String, _ detail: @autoclosure () -> String = "") throws(StoreContractViolation) {
        guard condition else { throw StoreContractViolation(check: check, rule: rule, detail: detail()) }
    }

    func fail(_ rule: String, _ detail: String) -> StoreContractViolation {
        StoreContractViolation(check: check, rule: rule, detail: detail)
    }

    /// The `StoreError` `body` threw, or a violation when it threw nothing (or something else).
    func error(_ rule: String, _ body: () async throws -> Void) async throws -> StoreError {
        do {
            try await body()
        } catch let error as StoreError {
            return error
        } catch {
            throw fail(rule, "threw \(error) instead of a StoreError")
        }
        throw fail(rule, "nothing was thrown")
    }

    /// Runs `count` tasks of `body` at once and collects their results in any order.
    static func race<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: T.self) { group in
            for index in 0..<count { group.addTask { try await body(index) } }
            var results: [T] = []
            for try await result in group { results.append(result) }
            return results
        }
    }
}

/// Sample records; amounts and times are exact so records compare equal after a round trip.
enum ContractSample {
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

    static func receipt(_ receiptID: String, grantSeconds: TimeInterval = 600, response: StoredResponse? = nil,
                        credentialHash: Data? = nil) throws -> ReceiptRecord {
        ReceiptRecord(receiptID: receiptID, tokenHash: Data("hash-of-\(receiptID)".utf8),
                      resource: try Resource(parsing: "GET /premium/report"), issuedAt: start,
                      grantExpiresAt: start.addingTimeInterval(grantSeconds), response: response, credentialHash: credentialHash)
    }

    static let response = StoredResponse(
        status: 200,
        headers: [StoredHeader(name: "Content-Type", value: "application/json"), StoredHeader(name: "Set-Cookie", value: "a=1"),
                  StoredHeader(name: "Set-Cookie", value: "b=2")],
        body: Data("{\"report\":42}".utf8))

    static func refund(_ challengeID: String, _ key: String, _ amount: Int64, at date: Date = start) throws -> RefundRecord {
        RefundRecord(challengeID: challengeID, key: key, amount: try money(amount), reason: "test", status: .pending,
                     railRefundID: nil, createdAt: date, updatedAt: date)
    }

    static func spend(_ id: String, _ amount: Int64, _ unit: MoneyUnit = .sat, at date: Date, host: String = "api.example") throws -> SpendRecord {
        SpendRecord(paymentID: id, amount: try Money(amount: amount, unit: unit), rail: .fake, host: host,
                    method: "GET", url: "https://\(host)/premium?q=\(id)", offerID: "offer-\(id)",
                    context: "{\"attempt\":1}", reservedAt: date)
    }

    static func limits(perRequest: Int64? = nil, perHour: Int64? = nil, perDay: Int64? = nil) throws -> SpendLimits {
        SpendLimits([.sat: SpendLimits.Limit(perRequest: try perRequest.map { try money($0) }, perHour: try perHour.map { try money($0) },
                                             perDay: try perDay.map { try money($0) })])
    }

    static let proof = "{\"Authorization\":\"Payment secret-credential-abc123\"}"
    static let receiptToken = "eyJhbGciOiJFZERTQSJ9.secret-receipt-token.sig"
}

extension ReserveOutcome {
    var reservedRecord: SpendRecord? { if case .reserved(let record) = self { record } else { nil } }
    var refusal: BudgetRefusal? { if case .refused(let refusal) = self { refusal } else { nil } }
    var existingRecord: SpendRecord? { if case .existing(let record) = self { record } else { nil } }
}

extension ConsumeResult {
    var winner: ConsumedChallenge? { if case .consumed(let record) = self { record } else { nil } }
    var loser: ConsumedChallenge? { if case .alreadyConsumed(let record) = self { record } else { nil } }
}
