import Foundation
import PayRail

// The Lightning rail talks to a node or wallet server only through this protocol, so LNbits, LND and
// test doubles are interchangeable. Amounts are millisatoshi integers, hashes and preimages lower-case
// hex; every failure is a `RailError` whose code and retry advice say what the caller may do next.

/// An invoice the backend created.
public struct CreatedInvoice: Hashable, Sendable {
    /// The BOLT11 invoice.
    public let bolt11: String
    /// Its payment hash, 64 lower-case hex characters.
    public let paymentHash: String

    /// Creates a value.
    public init(bolt11: String, paymentHash: String) {
        self.bolt11 = bolt11
        self.paymentHash = paymentHash
    }
}

/// The state of an invoice this backend issued.
public enum IncomingInvoiceStatus: Hashable, Sendable {
    /// Not paid yet.
    case open
    /// Paid: the amount received and, when the backend tells, the preimage.
    case paid(amountMsat: Int64, preimage: String?, settledAt: Date?)
    /// Expired or canceled: it can no longer be paid.
    case closed
}

/// The outcome of an outgoing payment.
public enum OutgoingPaymentStatus: Hashable, Sendable {
    /// Paid: the preimage proves it; the fee actually spent, `nil` when the node did not say (the
    /// agent's ledger then keeps the reserved maximum rather than a fee of zero).
    case succeeded(preimage: String, feeMsat: Int64?)
    /// Definitely not paid (no route, refused, expired): paying again is a new attempt.
    case failed(reason: String)
    /// Still in flight (HTLCs pending): look it up again later, never pay again.
    case inFlight
}

/// A Lightning node or wallet server, as the rail needs it.
public protocol LightningBackend: Sendable {
    /// Creates an invoice for `amountMsat`. `descriptionHash` (32 bytes) replaces the memo when the
    /// invoice must commit to a request (x402 `lnbtc`); `expirySeconds` is the invoice's expiry.
    func createInvoice(amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) async throws(RailError) -> CreatedInvoice

    /// The state of an invoice this backend issued, by payment hash.
    func incomingStatus(paymentHash: String) async throws(RailError) -> IncomingInvoiceStatus

    /// Pays `bolt11` spending at most `maxFeeMsat` in routing fees, waiting at most `timeout`.
    ///
    /// - Throws: `.timedOut` (advice `.afterLookup`) when the outcome is unknown: call
    ///   `outgoingStatus` with the invoice's payment hash, never pay again blindly.
    func pay(bolt11: String, maxFeeMsat: Int64, timeout: Duration) async throws(RailError) -> OutgoingPaymentStatus

    /// The outcome of a payment this backend made, by payment hash; `nil` when it never tried.
    func outgoingStatus(paymentHash: String) async throws(RailError) -> OutgoingPaymentStatus?

    /// The wallet's spendable balance in millisatoshi.
    func balanceMsat() async throws(RailError) -> Int64
}
