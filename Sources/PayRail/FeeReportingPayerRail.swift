// `PayerRail.pay` returns only the proof, so the ledger can only keep what was reserved: the price
// plus the rail's *maximum* fee. A wallet that learns the fee it actually paid (Lightning routing
// fees are known only after paying) reports it through this refinement, and the paying client
// commits the price plus that fee instead, so budgets are not held by fees never paid.

/// What a fee-reporting wallet paid: the proof, and the fee it actually spent when it knows it.
public struct PaidCredential: Sendable {
    /// The proof to present to the payee.
    public let credential: Credential
    /// The fee actually paid on top of the offer's amount, in the offer's unit; `nil` when unknown
    /// (the reserved maximum then stays committed).
    public let fee: Money?

    /// Creates a paid credential.
    public init(credential: Credential, fee: Money?) {
        self.credential = credential
        self.fee = fee
    }
}

/// A wallet that can tell, after paying, which fee it actually paid.
///
/// The paying client calls `payReportingFee` instead of `pay` for such wallets. The same idempotency
/// rules as `pay` apply: asked again after `.timedOut`, it returns the same proof without paying twice.
public protocol FeeReportingPayerRail: PayerRail {
    /// Pays `offer` like `pay`, and reports the fee actually spent.
    func payReportingFee(_ offer: Offer) async throws(RailError) -> PaidCredential
}
