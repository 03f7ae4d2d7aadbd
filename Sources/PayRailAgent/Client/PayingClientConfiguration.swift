import Foundation
import PayRail

/// How the paying client behaves.
public struct PayingClientConfiguration: Sendable {
    /// Chooses among the offers of a 402.
    public var negotiator: Negotiator
    /// Reserves and records every spend.
    public var governor: SpendGovernor
    /// Where receipt keys come from.
    public var receiptKeys: ReceiptKeySource
    /// How many times the paid request is sent (network failures, 409 in progress, 5xx) before giving
    /// up with the spend left pending.
    public var deliveryAttempts: Int
    /// Idle timeout of each HTTP exchange, in seconds (`limits.maxCallDuration` bounds the whole call).
    public var requestTimeout: TimeInterval
    /// How much of each answer is read and how long one call may take.
    public var limits: PayingClientLimits
    /// The clock for expiries and the ledger.
    public var clock: any PayRailClock
    /// Called with every event; never with a secret.
    public var onEvent: (@Sendable (PayingClientEvent) -> Void)?
    /// Called when a ledger write failed, so the ledger may not show what happened (never with a
    /// secret). Such a spend is never reported as released: it stays pending (reserved or paid) in the
    /// ledger, and `LedgerWriteFailure.mayHavePaid` says whether money may have moved.
    public var onLedgerWriteFailure: (@Sendable (LedgerWriteFailure) -> Void)?

    /// Creates a configuration.
    public init(
        negotiator: Negotiator, governor: SpendGovernor, receiptKeys: ReceiptKeySource = .wellKnown(cacheSeconds: 300),
        deliveryAttempts: Int = 3, requestTimeout: TimeInterval = 30, limits: PayingClientLimits = PayingClientLimits(),
        clock: any PayRailClock = SystemClock(),
        onEvent: (@Sendable (PayingClientEvent) -> Void)? = nil,
        onLedgerWriteFailure: (@Sendable (LedgerWriteFailure) -> Void)? = nil
    ) {
        self.negotiator = negotiator
        self.governor = governor
        self.receiptKeys = receiptKeys
        self.deliveryAttempts = max(1, deliveryAttempts)
        self.requestTimeout = requestTimeout
        self.limits = limits
        self.clock = clock
        self.onEvent = onEvent
        self.onLedgerWriteFailure = onLedgerWriteFailure
    }
}
