import PayRail
import PayRailStore
import PayRailWire

/// Something the client did, reported as it happens (for `--explain`, the demo, logs). Carries no
/// secret: no credential, proof or preimage.
public enum PayingClientEvent: Sendable {
    /// The server asked for payment; the offers read from its 402, and what could not be read.
    case challenged(offers: [ReadOffer], skipped: [SkippedChallenge])
    /// The negotiation over those offers.
    case negotiated(Negotiation)
    /// Budget reserved for a candidate.
    case reserved(paymentID: String, amount: Money, rail: RailID, dialect: PaymentDialect)
    /// A reservation given back (the wallet could not pay; nothing moved).
    case released(paymentID: String, reason: String)
    /// The wallet paid.
    case paid(paymentID: String, rail: RailID, dialect: PaymentDialect)
    /// The request was sent again with the credential (or the receipt).
    case presenting(attempt: Int, dialect: PaymentDialect)
    /// A pending spend from an earlier run or attempt is being finished instead of paying again.
    case resuming(paymentID: String, state: SpendState)
    /// The receipt was checked.
    case receipt(ReceiptCheck)
    /// The spend is committed to the ledger.
    case committed(paymentID: String, amount: Money)
}
