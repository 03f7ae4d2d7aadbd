import Foundation
import PayRail
import PayRailCrypto

// Refunds at the fake processor: the payee gives back part or all of a redeemed payment; the money
// moves from the payee's balance to the payer's, at most once per caller key, never more than was
// paid minus what was refunded. Each refund is committed with both balances before anyone is told,
// so a retry after a restart finds it under its key and moves nothing again.

/// A refund the fake processor made.
public struct FakeRefund: Hashable, Sendable, Codable {
    /// The processor's refund id (`rfd_…`).
    public let id: String
    /// The request whose payment was refunded.
    public let requestID: String
    /// The amount moved back to the payer.
    public let amount: Money
    /// The caller's idempotency key.
    public let key: String
    /// When the processor recorded it (whole milliseconds).
    public let refundedAt: Date

    /// Creates a refund record.
    public init(id: String, requestID: String, amount: Money, key: String, refundedAt: Date) {
        self.id = id
        self.requestID = requestID
        self.amount = amount
        self.key = key
        self.refundedAt = refundedAt
    }
}

extension FakeProcessorAPI {
    /// Processors that cannot refund (an HTTP-hosted one, which exposes only what payers need).
    public func refund(requestID: String, amount: Money?, key: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRefund {
        throw RailError(.unsupported, "this fake processor cannot refund; refund on the gate that holds the processor's data directory",
                        rail: .fake)
    }
}

extension FakeProcessor {
    /// Moves `amount` (default: all that is left) of a redeemed request back to its payer, at most
    /// once per `key` (the same key returns the first refund, moving nothing).
    ///
    /// - Throws: `.mismatch` for another payee's or an unknown request, or a key reused for another
    ///   amount; `.unsupported` for an unredeemed request, another unit, nothing or more than is left;
    ///   `.insufficientFunds` when the payee's balance no longer holds the amount; `.unavailable`.
    public func refund(requestID: String, amount: Money?, key: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRefund {
        try await enterCall()
        try authenticatePayee(payee)
        guard let request = requestState(requestID), request.record.payee == payee.accountID else {
            throw RailError(.mismatch, "the processor has no request \(requestID) of this payee", rail: .fake)
        }
        guard request.redemption != nil, let payer = request.payer else {
            throw RailError(.unsupported, "request \(requestID) was not redeemed, so there is nothing to refund", rail: .fake)
        }
        if let earlier = request.refunds.first(where: { $0.key == key }) {
            guard amount == nil || amount == earlier.amount else {
                throw RailError(.mismatch, "refund key already used for \(earlier.amount)", rail: .fake)
            }
            return earlier
        }
        let paid = request.record.amount
        let left = paid.amount - request.refunds.reduce(Int64(0)) { $0 + $1.amount.amount }
        let wanted = amount ?? ((try? Money(amount: left, unit: paid.unit)) ?? .zero(paid.unit))
        guard wanted.unit == paid.unit, wanted.amount > 0, wanted.amount <= left else {
            throw RailError(.unsupported, "\(wanted) cannot be refunded: \(left) of \(paid) is left", rail: .fake)
        }
        let refund = FakeRefund(id: "rfd_" + Base64URL.encode(try refundIDBytes()), requestID: requestID, amount: wanted, key: key,
                                refundedAt: FakeProcessorJournal.truncatedToMilliseconds(now()))
        try moveBack(refund, from: payee.accountID, to: payer, request: request)
        return refund
    }
}
