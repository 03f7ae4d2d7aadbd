import Foundation
import PayRail

// What happens to a payment after its grant: refunds the operator makes (`payrail refund`) and
// events the rail reports (Stripe webhooks). Kept apart from `GateStore` so test doubles of the gate's
// store need not implement them; the memory and SQLite stores do.
//
// A refund is reserved before the rail is asked (status `pending`, the total checked against what was
// paid in the same transaction), then completed with the rail's answer. A refund whose outcome is
// unknown stays `pending` and is retried with the same key; a refund the rail refused is `failed`
// and no longer counts. The caller ends the receipt's grant (`endGrant`) once the rail accepted the
// refund or its outcome is unknown: a refund the rail refused leaves the payer's grant alone.

/// A refund of a consumed challenge's settlement, as the gate recorded it.
public struct RefundRecord: Hashable, Sendable {
    /// The consumed challenge refunded.
    public let challengeID: String
    /// The idempotency key (the same request again finds this record instead of refunding twice).
    public let key: String
    /// The amount, in the settlement's unit.
    public let amount: Money
    /// The operator's note.
    public let reason: String?
    /// Where it stands.
    public let status: RefundStatus
    /// The rail's refund id, once the rail answered.
    public let railRefundID: String?
    /// When it was reserved.
    public let createdAt: Date
    /// When its status last changed.
    public let updatedAt: Date

    /// Creates a record; dates are rounded to whole milliseconds.
    public init(challengeID: String, key: String, amount: Money, reason: String?, status: RefundStatus,
                railRefundID: String?, createdAt: Date, updatedAt: Date) {
        self.challengeID = challengeID
        self.key = key
        self.amount = amount
        self.reason = reason
        self.status = status
        self.railRefundID = railRefundID
        self.createdAt = StoreTime.normalized(createdAt)
        self.updatedAt = StoreTime.normalized(updatedAt)
    }

    /// The same record with the rail's answer.
    public func with(status: RefundStatus, railRefundID: String?, at date: Date) -> RefundRecord {
        RefundRecord(challengeID: challengeID, key: key, amount: amount, reason: reason, status: status,
                     railRefundID: railRefundID ?? self.railRefundID, createdAt: createdAt, updatedAt: date)
    }
}

/// The outcome of `reserveRefund`.
public enum RefundReservation: Hashable, Sendable {
    /// A new pending refund: ask the rail with its key.
    case reserved(RefundRecord)
    /// The key is already recorded (pending: ask the rail again with the same key; succeeded: done).
    case existing(RefundRecord)
}

/// A rail event (a Stripe webhook) the gate recorded once, by its id.
public struct PaymentEventRecord: Hashable, Sendable {
    /// The event id (`evt_…`), unique.
    public let id: String
    /// The event type (`charge.dispute.created`).
    public let type: String
    /// The object the event is about (`pi_…`, `ch_…`).
    public let objectID: String
    /// The consumed challenge it was matched to, when one was.
    public let challengeID: String?
    /// When the gate received it.
    public let receivedAt: Date

    /// Creates a record; the date is rounded to whole milliseconds.
    public init(id: String, type: String, objectID: String, challengeID: String?, receivedAt: Date) {
        self.id = id
        self.type = type
        self.objectID = objectID
        self.challengeID = challengeID
        self.receivedAt = StoreTime.normalized(receivedAt)
    }
}

/// Refunds and rail events, recorded against consumed challenges.
public protocol PaymentEventStore: Sendable {
    /// The consumption whose settlement has this rail reference (`pi_…`, `ch_…`, a fake payment id), or
    /// failing that whose offer has this id (the PaymentIntent of Stripe's plain form), if any.
    func consumedChallenge(settlementReference reference: String) async throws(StoreError) -> ConsumedChallenge?

    /// Every refund recorded for a challenge, oldest first.
    func refunds(challengeID: String) async throws(StoreError) -> [RefundRecord]

    /// Records a pending refund, unless the key is known (checked and written in one transaction).
    ///
    /// - Throws: `.notFound` when the challenge was never consumed (or was purged), `.invalidArgument`
    ///   when the amount is not positive, in another unit, or would take the total of pending and
    ///   succeeded refunds above the settled amount (nothing is written).
    func reserveRefund(_ refund: RefundRecord) async throws(StoreError) -> RefundReservation

    /// Records the rail's answer for a reserved refund.
    ///
    /// - Throws: `.notFound` for an unknown key.
    func completeRefund(challengeID: String, key: String, status: RefundStatus, railRefundID: String?) async throws(StoreError) -> RefundRecord

    /// Ends a receipt's grant now (a dispute, a refund): replays of it are refused afterwards.
    func endGrant(challengeID: String) async throws(StoreError)

    /// Records an event by id, once.
    ///
    /// - Returns: `false` when the id was already recorded (a redelivery: do nothing again).
    func recordEvent(_ event: PaymentEventRecord) async throws(StoreError) -> Bool

    /// Whether an event id was recorded (a redelivery is answered at once).
    func knownEvent(id: String) async throws(StoreError) -> Bool
}

extension RefundRecord {
    /// Whether this refund counts against what can still be refunded.
    public var counts: Bool { status != .failed }
}

/// How long rail events are remembered by id.
public enum PaymentEventRetention {
    /// 30 days: Stripe redelivers an event for up to 3 days.
    public static let seconds: TimeInterval = 30 * 86_400
    package static var milliseconds: Int64 { Int64(seconds * 1000) }
}

package enum RefundRules {
    /// How long a payment with a refund reserved against it is kept at least (from the reservation):
    /// a pending refund must still find its payment when it is run again, whatever the gate's own
    /// retention, or money that may have moved could never be recorded.
    package static let consumptionRetention: TimeInterval = 30 * 86_400

    /// Refuses a refund that does not fit `paid` given the refunds already recorded.
    package static func check(_ refund: RefundRecord, paid: Money, earlier: [RefundRecord]) throws(StoreError) {
        guard refund.amount.unit == paid.unit, refund.amount.amount > 0, !refund.key.isEmpty else {
            throw StoreError.invalid("a refund needs a key and a positive amount in \(paid.unit)")
        }
        let taken = earlier.filter(\.counts).reduce(Int64(0)) { $0 + $1.amount.amount }
        guard refund.amount.amount <= paid.amount - taken else {
            throw StoreError.invalid("refunding \(refund.amount) would exceed what was paid (\(paid), \(taken) \(paid.unit.code) already refunded or pending)")
        }
    }
}
