import Foundation
import PayRail
import PayRailCrypto
import PayRailServer
import PayRailStore
import Testing

/// A payee rail whose refunds answer as told, counting calls and keys.
private final class ScriptedRefunds: PayeeRail, @unchecked Sendable {
    let id: RailID = .fake
    let capabilities = RailCapabilities(limits: [], settlementTime: .zero, refundable: true, feeModel: .free)
    private let lock = NSLock()
    private var answers: [Result<RefundStatus, RailError>]
    private(set) var keys: [String] = []

    init(_ answers: [Result<RefundStatus, RailError>]) { self.answers = answers }

    func prepare(_ charge: Charge) async throws(RailError) -> Offer { throw RailError(.unsupported, "not here", rail: id) }
    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement { throw RailError(.unsupported, "not here", rail: id) }
    func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        let next: Result<RefundStatus, RailError> = lock.withLock {
            keys.append(idempotencyKey)
            return answers.isEmpty ? .failure(RailError(.unsupported, "no answer left", rail: .fake)) : answers.removeFirst()
        }
        let status = try next.get()
        return Refund(rail: id, id: "rfd_\(keys.count)", settlementReference: settlement.reference, amount: amount ?? settlement.amount,
                      status: status)
    }
    var calls: Int { lock.withLock { keys.count } }
}

@Suite("GateRefunder: refunds of consumed challenges, fail closed")
struct GateRefunderTests {
    static let token = "receipt-token-for-refunds"

    func paid(_ store: MemoryGateStore) async throws {
        let now = Date()
        let amount = try Money(amount: 100, unit: .sat)
        let offer = Offer(rail: .fake, amount: amount, payee: "merchant", expiresAt: now.addingTimeInterval(300), id: "req-1")
        try await store.saveChallenge(ChallengeRecord(id: "ch-1", resource: try Resource(parsing: "GET /premium"), offers: [offer],
                                                      createdAt: now, expiresAt: now.addingTimeInterval(300)))
        _ = try await store.consume(
            challengeID: "ch-1", settlement: Settlement(rail: .fake, offerID: "req-1", reference: "pay-1", amount: amount, settledAt: now),
            receipt: ReceiptRecord(receiptID: "rc-1", tokenHash: Data(SHA256.hash(Array(Self.token.utf8))), resource: try Resource(parsing: "GET /premium"),
                                   issuedAt: now, grantExpiresAt: now.addingTimeInterval(3600), credentialHash: nil))
    }

    func grantRuns(_ store: MemoryGateStore) async throws -> Bool {
        try await store.consumedChallenge(id: "ch-1").map { $0.receipt.grantExpiresAt > Date() } ?? false
    }

    @Test("a timeout leaves the refund pending and the grant ended; the same refund again asks the rail with the same key, once more")
    func timeoutThenRetry() async throws {
        let store = MemoryGateStore()
        try await paid(store)
        let rail = ScriptedRefunds([.failure(RailError(.timedOut, "no answer", rail: .fake)), .success(.succeeded)])
        let refunder = GateRefunder(store: store, rails: [rail])
        let amount = try Money(amount: 40, unit: .sat)
        await #expect { _ = try await refunder.refund(Self.token, amount: amount, reason: nil) } throws: { ($0 as? GateRefundError)?.kind == .pending }
        #expect(try await store.refunds(challengeID: "ch-1").map(\.status) == [.pending])
        #expect(try await grantRuns(store) == false, "the money may have moved: the grant ends")
        let done = try await refunder.refund("pay-1", amount: amount, reason: nil)
        #expect(done.record.status == .succeeded && !done.alreadyRecorded && done.remaining.amount == 60)
        #expect(rail.keys.count == 2 && rail.keys[0] == rail.keys[1], "the retry used the same key")
        let again = try await refunder.refund(Self.token, amount: amount, reason: nil)
        #expect(again.alreadyRecorded && rail.calls == 2, "an identical call refunds nothing more")
        await #expect { _ = try await refunder.refund(Self.token, amount: try Money(amount: 61, unit: .sat), reason: "more") } throws: {
            ($0 as? GateRefundError)?.kind == .refused
        }
        #expect(rail.calls == 2, "a total above what was paid never reaches the rail")
    }

    @Test("a refund the rail reports failed, or one that never reached the rail, moved nothing: refused, the grant stands, nothing counts",
          arguments: [Result<RefundStatus, RailError>.success(.failed),
                      .failure(RailError(.unavailable, "the processor could not be reached; nothing was sent", retry: .safe, rail: .fake))])
    func nothingMovedKeepsGrant(_ answer: Result<RefundStatus, RailError>) async throws {
        let store = MemoryGateStore()
        try await paid(store)
        let rail = ScriptedRefunds([answer, .success(.succeeded)])
        let refunder = GateRefunder(store: store, rails: [rail])
        await #expect { _ = try await refunder.refund(Self.token, amount: nil, reason: nil) } throws: { ($0 as? GateRefundError)?.kind == .refused }
        #expect(try await grantRuns(store), "no money moved: the payer keeps the grant")
        #expect(try await store.refunds(challengeID: "ch-1").map(\.status) == [.failed])
        // Nothing counts against what is left: the whole amount can still be refunded.
        let done = try await refunder.refund(Self.token, amount: try Money(amount: 100, unit: .sat), reason: "again")
        #expect(done.record.status == .succeeded && done.remaining.amount == 0)
        #expect(try await grantRuns(store) == false)
    }

    @Test("a refund the rail refuses is recorded failed, counts for nothing and leaves the grant running")
    func refusalKeepsGrant() async throws {
        let store = MemoryGateStore()
        try await paid(store)
        let rail = ScriptedRefunds([.failure(RailError(.unsupported, "a Lightning refund needs an invoice from the payer", rail: .fake))])
        let refunder = GateRefunder(store: store, rails: [rail])
        await #expect { _ = try await refunder.refund(Self.token, amount: nil, reason: nil) } throws: { ($0 as? GateRefundError)?.kind == .unsupported }
        #expect(try await store.refunds(challengeID: "ch-1").map(\.status) == [.failed])
        #expect(try await grantRuns(store), "nothing moved: the payer keeps the grant")
        await #expect { _ = try await GateRefunder(store: store, rails: []).refund("unknown", amount: nil, reason: nil) } throws: {
            ($0 as? GateRefundError)?.kind == .notFound
        }
    }
}
