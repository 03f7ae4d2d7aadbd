import Foundation
import PayRail
import PayRailStore

/// What the paying client asks the governor to reserve for one logical paid call.
public struct SpendRequest: Sendable, Hashable {
    /// The stable id of the call (x402 payment-identifier, Idempotency-Key), the same on every retry.
    public var paymentID: String
    /// The quote's total (price plus maximum fee), in the rail's unit.
    public var amount: Money
    /// The rail that will pay.
    public var rail: RailID
    /// The host asking to be paid.
    public var host: String
    /// The HTTP method of the paid request.
    public var method: String
    /// The paid URL.
    public var url: String
    /// The id of the offer taken.
    public var offerID: String
    /// Agent-defined JSON, without secrets, that a restarted agent needs to finish the call.
    public var context: String

    /// Creates a request.
    public init(paymentID: String, amount: Money, rail: RailID, host: String, method: String, url: String, offerID: String,
                context: String = "{}") {
        self.paymentID = paymentID
        self.amount = amount
        self.rail = rail
        self.host = host
        self.method = method
        self.url = url
        self.offerID = offerID
        self.context = context
    }
}

/// What one unit's budget looks like now, for `payrail ledger` and for explaining a refusal.
public struct SpendTotals: Sendable, Hashable {
    /// The unit these sums count.
    public let unit: MoneyUnit
    /// Reserved, paid and committed spends reserved in the last 60 minutes (what the hourly cap sees).
    public let lastHour: Money
    /// The same over the last 24 hours (what the daily cap sees).
    public let lastDay: Money
    /// Every committed spend ever recorded.
    public let committed: Money
    /// Money in flight: every reserved or paid spend not yet committed.
    public let pending: Money
    /// The caps for this unit, or `nil` when it has no budget (spending in it is refused).
    public let limit: SpendLimits.Limit?

    /// Creates totals. Sums stop at `Int64.max` minor units (far above any real ledger).
    public init(unit: MoneyUnit, lastHour: Money, lastDay: Money, committed: Money, pending: Money, limit: SpendLimits.Limit?) {
        self.unit = unit
        self.lastHour = lastHour
        self.lastDay = lastDay
        self.committed = committed
        self.pending = pending
        self.limit = limit
    }
}
