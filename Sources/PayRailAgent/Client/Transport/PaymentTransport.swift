// The seam between the paying client and the protocol that carries a paid call. The client owns the
// money (the ledger, the wallets, the order of the steps); a transport owns the wire: how a request is
// sent, where a server puts its challenges, and what an answer means. HTTP is the first transport; an
// MCP one (challenges in a JSON-RPC error, credentials in `_meta`) is meant to fit the same shape, which
// is why no requirement interprets a status code or a header field, or names a URL session: only the
// transport knows which answer is a challenge, a refusal or worth another attempt. The values passed
// across (`PaidRequest`, `PaymentAnswer`, name/value fields) keep HTTP's shape because `PaidResponse`
// and the spends the ledger already holds are in it.

import Foundation
import PayRailWire

/// Carries a paid call to a server and tells the paying client what the server answered.
///
/// The client calls it in a fixed order: `validate`, then `send` without a presentation; when
/// `classify` says the answer is a challenge, `challenges(in:for:receivedAt:)` reads the offers, and
/// once paid, `send` presents the credential until `classify` says the answer is final. A transport
/// never pays, reserves or records anything: that order is the client's safety argument.
public protocol PaymentTransport: Sendable {
    /// Refuses a request this transport cannot carry, before anything is sent or looked up in the ledger.
    ///
    /// - Throws: why; the client reports it as `PayingClientError.Code.invalidRequest`.
    func validate(_ request: PaidRequest) throws(PaymentTransportError)

    /// Sends `request` once, presenting `presentation` (the credential, or a receipt) when given.
    ///
    /// Must never forward a presentation anywhere but to the request's own target: a credential
    /// replayed to another server (a followed redirect) could be spent by it.
    ///
    /// - Throws: when no answer came back; the client retries a presentation, and fails an unpaid
    ///   request with `PayingClientError.Code.transport`.
    func send(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer

    /// Reads the offers of a challenge, bound to `request` where the dialect can bind (x402 `lnbtc`),
    /// so an offer meant for another request is skipped rather than paid.
    func challenges(in answer: PaymentAnswer, for request: PaidRequest, receivedAt: Date) -> PaymentResponseReading

    /// What `answer` means for the payment: `presented` says whether it answers a presentation, since
    /// the same answer (a new challenge, an error) is final for an unpaid request but a refusal, or
    /// worth another attempt, once money moved.
    func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind
}

/// One answer from a server, as the paying client keeps and returns it.
///
/// `status` is in HTTP's terms because that is what `PaidResponse` and the ledger's stored challenges
/// already speak; a transport without status codes maps its answers onto them (a result as 200, a
/// payment challenge as 402).
public struct PaymentAnswer: Sendable {
    /// The status, in HTTP's terms.
    public var status: Int
    /// The answer's metadata fields (HTTP header fields).
    public var headers: HTTPFields
    /// The answer's body, as received (empty when it was streamed to the caller's sink).
    public var body: [UInt8]
    /// Whether reading stopped at the client's limit (`PayingClientLimits`), so `body`, or what was
    /// streamed, is only the start of what the server sent.
    public var bodyTruncated: Bool

    /// Creates an answer.
    public init(status: Int, headers: HTTPFields = HTTPFields(), body: [UInt8] = [], bodyTruncated: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyTruncated = bodyTruncated
    }
}

/// What the client presents with a paid attempt.
public struct PaymentPresentation: Sendable {
    /// The proof: the dialect's credential fields, or the receipt that replaces them.
    public var fields: HTTPFields
    /// The call's payment identifier, sent with every attempt so the server can tell a retry from a
    /// new purchase and never charge twice.
    public var paymentID: String

    /// Creates a presentation.
    public init(fields: HTTPFields, paymentID: String) {
        self.fields = fields
        self.paymentID = paymentID
    }
}

/// What an answer means for the payment, as a transport classifies it.
public enum PaymentAnswerKind: Hashable, Sendable {
    /// Final: the answer goes back to the caller. After a presentation it completes the spend, with
    /// the receipt it carries (if any) checked and recorded.
    case served(receipt: String?)
    /// The server asks for payment. After a presentation the client takes it as a refusal of the
    /// credential (money moved, so it never pays the new challenge).
    case challenged
    /// The server refused the presented credential; `detail` says why, for the error and the ledger.
    case refused(detail: String)
    /// Not final: the same proof may be presented again. A `receipt` the answer carries replaces the
    /// proof (the server granted the payment but could not serve yet); `retryAfterSeconds` is the
    /// server's hint, which the client bounds.
    case retry(receipt: String?, retryAfterSeconds: Int?)
    /// The server holds another request under this payment id: presenting again cannot help.
    case conflict
}

/// Why a transport could not carry a request. Says nothing secret.
public struct PaymentTransportError: Error, Sendable, CustomStringConvertible {
    /// One line a person understands.
    public let reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }

    /// The reason.
    public var description: String { reason }
}
