import Foundation
import PayRail
import PayRailCrypto
import PayRailStore
import PayRailWire

// Every refusal the gate, the paywall and `payrail serve` can give, in one place: what the client
// sees (status, problem type, detail), whether retrying is safe and when, and the short reason the
// log line carries. A refusal is thrown by the stage that finds the fault and answered by the one
// place that renders it, so no stage builds a response of its own.
//
// Two forms exist because the Payment scheme makes them differ: a refused *credential* is answered
// with a fresh challenge set told in the credential's dialect (draft-httpauth-payment: every 402
// carries a fresh challenge), every other refusal with an RFC 9457 problem of PayRail's own type.

/// Why the gate refused a request, what the client should do next, and how the answer is written.
public struct GateRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// How a refusal is written on the wire.
    public enum Form: Hashable, Sendable {
        /// An `application/problem+json` answer of type `https://payrail.dev/problems/<slug>`.
        case problem(status: Int, slug: String, title: String)
        /// A fresh 402 challenge set carrying a Payment-scheme problem type, told in the dialect the
        /// refused credential came in (`dialect`).
        case freshChallenge(PaymentProblemType)
    }

    /// How the refusal is written.
    public let form: Form
    /// What went wrong and what to do next, for the client (never a secret).
    public let detail: String
    /// Seconds after which the same request may succeed (`Retry-After`); `nil` when retrying the same
    /// request cannot succeed.
    public let retryAfter: Int?
    /// A short, secret-free reason for the gate's log line and metrics (`expired`, `store-busy`).
    public var logReason: String
    /// The challenge the refused credential answered, named in the fresh challenge's problem.
    public var challengeID: String?
    /// The dialect a fresh-challenge refusal is told in; the pipeline sets the credential's dialect.
    public var dialect: PaymentDialect?
    /// Extension members of the problem object (RFC 9457 section 3.2), e.g. a rail's error code.
    public var extensions: [String: JSONValue] = [:]

    /// Creates a problem-form refusal (the catalogue below names the gate's own).
    public init(status: Int, slug: String, title: String, detail: String, retryAfter: Int? = nil, logReason: String? = nil) {
        self.form = .problem(status: status, slug: slug, title: title)
        self.detail = detail
        self.retryAfter = retryAfter
        self.logReason = logReason ?? slug
    }

    /// Creates a refusal of a presented credential, answered with a fresh challenge set.
    public init(credential type: PaymentProblemType, detail: String, logReason: String, challengeID: String? = nil) {
        self.form = .freshChallenge(type)
        self.detail = detail
        self.retryAfter = nil
        self.logReason = logReason
        self.challengeID = challengeID
    }

    /// The HTTP status of the answer.
    public var status: Int {
        switch form {
        case .problem(let status, _, _): status
        case .freshChallenge(let type): type.status
        }
    }

    /// Whether sending the same request again later may succeed.
    public var isRetrySafe: Bool { retryAfter != nil }

    /// The problem answer: the whole response for a problem-form refusal. A fresh-challenge refusal
    /// is rendered by the gate with its challenge set; this is only its problem part.
    public func response() -> GateResponse {
        let (type, title): (String, String) = switch form {
        case .problem(_, let slug, let title): ("https://payrail.dev/problems/\(slug)", title)
        case .freshChallenge(let problem): (problem.uri, problem.title)
        }
        let details = ProblemDetails(type: type, title: title, status: status, detail: detail, extensions: extensions)
        var headers = HTTPFields()
        headers.append("Content-Type", ProblemDetails.mediaType)
        headers.append("Cache-Control", "no-store")
        if let retryAfter { headers.append("Retry-After", String(retryAfter)) }
        return GateResponse(status: status, headers: headers, body: (try? details.encoded()) ?? Array(detail.utf8))
    }

    /// The status, reason and retry advice, never a secret.
    public var description: String {
        "\(status) \(logReason): \(detail)" + (retryAfter.map { " (retry after \($0) s)" } ?? " (do not retry as is)")
    }

    /// The same refusal told in `dialect` unless a dialect was already chosen.
    func told(in dialect: PaymentDialect) -> GateRefusal {
        var copy = self
        if copy.dialect == nil { copy.dialect = dialect }
        return copy
    }
}

// MARK: - The catalogue

extension GateRefusal {
    /// The request cannot be handled as sent (400); fix it before retrying.
    public static func badRequest(_ detail: String, logReason: String = "bad-request") -> GateRefusal {
        GateRefusal(status: 400, slug: "bad-request", title: "Bad Request", detail: detail, logReason: logReason)
    }

    /// The gate failed in a way retrying does not fix (500).
    public static func internalError(_ detail: String, logReason: String) -> GateRefusal {
        GateRefusal(status: 500, slug: "internal", title: "Internal Error", detail: detail, logReason: logReason)
    }

    /// The gate's store failed; busy stores ask for a retry in a second (503), broken ones do not (500).
    public static func storeUnavailable(retrySafe: Bool, code: String) -> GateRefusal {
        GateRefusal(status: retrySafe ? 503 : 500, slug: "store-unavailable", title: "Store Unavailable",
                    detail: retrySafe ? "the gate's store is busy; retrying is safe" : "the gate's store failed",
                    retryAfter: retrySafe ? 1 : nil, logReason: "store-\(code)")
    }

    /// The refusal for a failed store call.
    public static func store(_ error: StoreError) -> GateRefusal {
        storeUnavailable(retrySafe: error.isRetrySafe, code: "\(error.code)")
    }

    /// The rail took the payment but the store could not record it (503, retry in 2 s): the same
    /// credential presented again is recovered through the rail and granted once.
    public static func paidButNotRecorded(reference: String, storeCode: String) -> GateRefusal {
        GateRefusal(status: 503, slug: "store-unavailable", title: "Store Unavailable",
                    detail: "the payment was received but could not be recorded yet; retry the same credential (nothing is charged twice; reference \(reference))",
                    retryAfter: 2, logReason: "paid-not-recorded \(storeCode)")
    }

    /// Too many challenges were issued to this client (429).
    public static func rateLimited(retryAfter seconds: Int) -> GateRefusal {
        GateRefusal(status: 429, slug: "rate-limited", title: "Too Many Requests",
                    detail: "too many payment challenges for this client; retry after \(seconds) seconds",
                    retryAfter: seconds, logReason: "rate-limited retry-after=\(seconds)")
    }

    /// No rail could prepare an offer: retry in 5 s when the rails were only unreachable.
    public static func railsUnavailable(retrySafe: Bool) -> GateRefusal {
        GateRefusal(status: retrySafe ? 503 : 500, slug: "rails-unavailable", title: "Payment Rails Unavailable",
                    detail: "no rail could prepare an offer for this resource", retryAfter: retrySafe ? 5 : nil, logReason: "no-offer")
    }

    /// The rail did not answer a settlement; the same credential may be sent again (503).
    public static func railUnavailable(_ rail: RailID) -> GateRefusal {
        GateRefusal(status: 503, slug: "rail-unavailable", title: "Payment Rail Unavailable",
                    detail: "the \(rail) rail did not answer; retrying the same credential is safe", retryAfter: 2,
                    logReason: "settle-unavailable")
    }

    /// The payment stands but cannot buy this grant (a settlement that differs from the offer, a
    /// challenge paid by another payment): the operator must look at `reference` (403).
    public static func paymentRefused(_ detail: String, logReason: String) -> GateRefusal {
        GateRefusal(status: 403, slug: "payment-refused", title: "Payment Refused", detail: detail, logReason: logReason)
    }

    /// An `Idempotency-Key` came back with another request (409).
    public static let idempotencyKeyReused = GateRefusal(
        status: 409, slug: "idempotency-conflict", title: "Idempotency Key Reused",
        detail: "this Idempotency-Key was used with another request; use a new key", logReason: "idempotency-key-reused")

    /// An x402 `payment-identifier` came back with another payment (409).
    public static let paymentIdentifierReused = GateRefusal(
        status: 409, slug: "idempotency-conflict", title: "Payment Identifier Reused",
        detail: "this x402 payment-identifier was used with another payment; use a new identifier",
        logReason: "payment-identifier-reused")

    /// The same payment is being granted to another request right now (409, retry in a second).
    public static let paymentInProgress = GateRefusal(
        status: 409, slug: "payment-in-progress", title: "Payment In Progress",
        detail: "this payment is being granted to another request; retry shortly (retrying is safe, nothing is charged twice)",
        retryAfter: 1, logReason: "in-progress")

    /// A single-use credential came back after its grant, whose response was never stored: the proof
    /// buys no second serving, so the answer carries the grant's receipt in `X-Receipt` instead,
    /// which re-serves the resource at no charge (409; retrying with the receipt is safe).
    public static let grantNotStored = GateRefusal(
        status: 409, slug: "grant-not-stored", title: "Grant Not Stored",
        detail: "this payment credential was already used and its response was not stored; present the receipt in X-Receipt "
            + "to fetch the resource within its grant (nothing is charged again)",
        retryAfter: 1, logReason: "grant-not-stored")

    /// The payment's grant ended; only a fresh challenge can buy the resource again (402).
    public static let grantOver = GateRefusal(
        status: 402, slug: "grant-over", title: "Grant Over", detail: "this payment's grant is over; pay a fresh challenge",
        logReason: "grant-over")

    /// The grant's payment was only authorized and its response never served: the authorization
    /// was voided (or will lapse), so only a fresh challenge buys the resource (402).
    public static let authorizationNotCaptured = GateRefusal(
        status: 402, slug: "grant-over", title: "Grant Over",
        detail: "this payment was only authorized and its response was not served; the hold is released, pay a fresh challenge",
        logReason: "authorization-not-captured")

    /// An authorized payment whose capture failed after the resource was produced: the resource is
    /// withheld (it was not paid for), nothing was charged, and the payer may pay a fresh challenge.
    public static let captureFailed = GateRefusal(
        status: 502, slug: "capture-failed", title: "Payment Not Captured",
        detail: "the payment was authorized but could not be captured, so the response is withheld and nothing was charged; "
            + "pay a fresh challenge (retrying is safe)",
        retryAfter: 1, logReason: "capture-failed")

    /// The route exists but not for this method (405).
    public static func methodNotAllowed(_ method: String) -> GateRefusal {
        GateRefusal(status: 405, slug: "method-not-allowed", title: "Method Not Allowed", detail: "this route does not take \(method)")
    }

    /// Nothing is served here; priced routes answer 402 (404).
    public static let notFound = GateRefusal(
        status: 404, slug: "not-found", title: "Not Found", detail: "no such resource; priced routes answer 402")

    /// The proxied upstream did not answer (502, retry in 5 s); a paid request is told its receipt
    /// fetches the resource again at no further charge.
    public static func upstreamUnavailable(_ reason: String, paid: Bool) -> GateRefusal {
        GateRefusal(status: 502, slug: "upstream-unavailable", title: "Bad Gateway",
                    detail: "the upstream did not answer (\(reason))"
                        + (paid ? "; the payment was settled: retry with the X-Receipt header at no further charge" : ""),
                    retryAfter: 5)
    }

    /// The fake processor refused a payment or balance call; its rail error code travels as
    /// `railError` so a remote wallet keeps the same typed error (503 when retrying is safe).
    public static func fakeProcessorRefused(_ error: RailError) -> GateRefusal {
        let retry = error.code == .unavailable || error.code == .timedOut
        var refusal = GateRefusal(status: retry ? 503 : 400, slug: "fake-pay-refused", title: "Payment Refused",
                                  detail: "the fake processor refused: \(error.reason)", retryAfter: retry ? 1 : nil)
        refusal.extensions = ["railError": .string(error.code.rawValue)]
        return refusal
    }

    /// The server is starting and has no gate yet (503, retry in a second).
    public static let starting = GateRefusal(
        status: 503, slug: "starting", title: "Starting", detail: "the server is starting; retry in a second", retryAfter: 1)
}
