import Foundation
import PayRail
import PayRailStore
import PayRailWire

/// One logical HTTP call the agent is willing to pay for.
public struct PaidRequest: Sendable {
    /// The method, upper case (`GET`, `POST`).
    public var method: String
    /// The absolute http(s) URL.
    public var url: URL
    /// Header fields sent on every attempt (credentials of the agent's own, `Accept`, ...).
    public var headers: HTTPFields
    /// The body, if any; a paid request with a body is bound to it by its digest.
    public var body: [UInt8]?
    /// The call's stable payment identifier, sent as `Idempotency-Key` and x402 `payment-identifier`
    /// on every attempt, so a retry (by the client or by the caller's own retry loop with the same
    /// value) presents the same credential and never pays twice. Made once here when not given, so
    /// sending the same `PaidRequest` value again is the same logical call.
    public var paymentID: String?

    /// Creates a request.
    public init(method: String = "GET", url: URL, headers: HTTPFields = HTTPFields(), body: [UInt8]? = nil, paymentID: String? = nil) {
        self.method = method.uppercased()
        self.url = url
        self.headers = headers
        self.body = body
        self.paymentID = paymentID ?? headers["Idempotency-Key"] ?? (try? X402PaymentIdentifier.generate())?.id
    }

    /// The RFC 9530 digest of the body, or `nil` without one.
    var bodyDigest: String? {
        guard let body, !body.isEmpty else { return nil }
        return PayingClient.digest(body)
    }
}

/// What became of a receipt the server returned.
public enum ReceiptCheck: Hashable, Sendable {
    /// Signed by one of the server's keys, for this resource, within its validity.
    case verified(ReceiptClaims)
    /// It could not be checked: the server published no keys (a non-PayRail server) or none came back.
    case unverifiable(String)
    /// It does not verify: the payment is recorded, but the server's receipt cannot prove it.
    case invalid(String)
}

/// How a paid call was paid.
public struct PaymentOutcome: Sendable {
    /// The call's payment identifier (the ledger's key).
    public let paymentID: String
    /// The rail that paid.
    public let rail: RailID
    /// The dialect the credential was sent in.
    public let dialect: PaymentDialect
    /// The offer's amount.
    public let amount: Money
    /// What was reserved against the budget: the amount plus the rail's maximum fee.
    public let reserved: Money
    /// The receipt token, when the server sent one.
    public let receipt: String?
    /// Whether the receipt verified.
    public let receiptCheck: ReceiptCheck
    /// The rail's public settlement reference: the verified receipt's, else the standard receipt's (unsigned).
    public let reference: String?
    /// True when this call completed a payment made by an earlier run (or an earlier attempt with the
    /// same payment id) instead of paying.
    public let resumed: Bool
    /// Set when the ledger could not commit this spend: it stays pending (reserved or paid) in the
    /// ledger, never released, and a later call with the same request commits it without paying again.
    public let ledgerWriteFailure: LedgerWriteFailure?
    /// The server's standard `Payment-Receipt` and whether it was signed and verified or only
    /// recorded (unsigned), when the server sent one; `reference` falls back to its reference.
    public let standardReceipt: LedgerReceipt?

    init(paymentID: String, rail: RailID, dialect: PaymentDialect, amount: Money, reserved: Money, receipt: String?,
         receiptCheck: ReceiptCheck, reference: String?, resumed: Bool, ledgerWriteFailure: LedgerWriteFailure? = nil,
         standardReceipt: LedgerReceipt? = nil) {
        self.paymentID = paymentID
        self.rail = rail
        self.dialect = dialect
        self.amount = amount
        self.reserved = reserved
        self.receipt = receipt
        self.receiptCheck = receiptCheck
        self.reference = reference
        self.resumed = resumed
        self.ledgerWriteFailure = ledgerWriteFailure
        self.standardReceipt = standardReceipt
    }
}

/// The answer to a paid call.
public struct PaidResponse: Sendable {
    /// The final HTTP status.
    public let status: Int
    /// The final response's header fields.
    public let headers: HTTPFields
    /// The final response's body.
    public let body: [UInt8]
    /// How it was paid; `nil` when the server asked for no payment.
    public let payment: PaymentOutcome?
    /// The negotiation over the 402's offers; `nil` when there was none (no 402, or a resumed payment).
    public let negotiation: Negotiation?
}
