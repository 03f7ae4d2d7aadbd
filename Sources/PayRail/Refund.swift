import Foundation

// A refund a payee rail made (or accepted) for a settlement. Rails refund only final settlements,
// never more than was paid minus what they already refunded, and idempotently by the caller's key:
// asking again with the same key returns the first refund instead of moving money twice.

/// Where a refund stands at the rail.
public enum RefundStatus: String, Hashable, Sendable, Codable {
    /// The rail accepted the refund but has not finished moving the money (Stripe `pending`).
    case pending
    /// The money went back to the payer.
    case succeeded
    /// The rail gave up (Stripe `failed`/`canceled`); nothing moved.
    case failed
}

/// A refund made through `PayeeRail.refund`.
public struct Refund: Hashable, Sendable, Codable {
    /// The rail that refunded.
    public let rail: RailID
    /// The rail's id of the refund (`re_…`, the fake processor's `rfd_…`); never a secret.
    public let id: String
    /// The settlement's reference the refund belongs to.
    public let settlementReference: String
    /// The amount refunded, in the settlement's unit.
    public let amount: Money
    /// Where the refund stands.
    public let status: RefundStatus

    /// Creates a refund record.
    public init(rail: RailID, id: String, settlementReference: String, amount: Money, status: RefundStatus) {
        self.rail = rail
        self.id = id
        self.settlementReference = settlementReference
        self.amount = amount
        self.status = status
    }
}
