import Foundation
import PayRail
import PayRailCrypto

// LND speaks gRPC; its REST gateway (grpc-gateway v2) maps each call to JSON in which int64 values
// are strings, `bytes` are standard base64 (URL-safe when put in a path), enums are their names, and
// server-streaming calls answer one JSON object a line, `{"result": ...}` or `{"error": ...}`.
// Errors are `{"code", "message", "details"}` with the gRPC code; an error ending a stream is the
// same object wrapped in `{"error": ...}`, with HTTP 200 when lines were already sent.

/// The admin (or invoice + offchain) macaroon that authorises calls to an LND node.
///
/// Sent as hex in `Grpc-Metadata-macaroon`; `description` never shows it.
public struct LNDMacaroon: Sendable, CustomStringConvertible {
    /// The macaroon as LND writes it to `admin.macaroon` (binary).
    let bytes: [UInt8]

    /// Wraps macaroon bytes.
    ///
    /// - Throws: `.malformed` when `bytes` is empty.
    public init(bytes: [UInt8]) throws(RailError) {
        guard !bytes.isEmpty else { throw RailError(.malformed, "the LND macaroon is empty") }
        self.bytes = bytes
    }

    /// Reads a macaroon file (such as `~/.lnd/data/chain/bitcoin/mainnet/admin.macaroon`).
    ///
    /// - Throws: `.malformed` when the file cannot be read or is empty (the path is named, never the content).
    public init(contentsOf file: URL) throws(RailError) {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw RailError(.malformed, "cannot read the LND macaroon file \(file.path)")
        }
        try self.init(bytes: Array(data))
    }

    /// The header value: lower-case hex.
    var headerValue: String { LNDCoding.hex(bytes) }

    /// Says that a macaroon is present and its size, never its content.
    public var description: String { "LNDMacaroon(\(bytes.count) bytes, redacted)" }
}

/// A `LightningBackend` over LND's REST gateway.
///
/// - Important: This backend has **not** been run against a live lnd: no lnd binary can run where it
///   was written. It is tested with canned exchanges whose requests and answers follow LND's own
///   swagger files (`lnrpc/lightning.swagger.json`, `lnrpc/routerrpc/router.swagger.json`) and
///   the gRPC-gateway error and streaming conventions, and its TLS pinning against a local
///   `openssl s_server`. Treat its first run against a real node as a test.
///
/// Calls used: `POST /v1/invoices`, `GET /v1/invoice/{r_hash_str}`, `POST /v2/router/send` (stream),
/// `GET /v2/router/track/{payment_hash}` (stream) with `GET /v1/payments` when that stream stays
/// open (payment in flight), `GET /v1/balance/channels`.
public struct LNDBackend: LightningBackend {
    /// The node's REST address, such as `https://127.0.0.1:8080`.
    public let baseURL: URL
    private let macaroon: LNDMacaroon
    private let transport: any HTTPTransport
    private let requestTimeout: Duration
    private let clock: any PayRailClock

    /// Creates a backend over any transport (production: `LNDPinnedTransport`).
    ///
    /// - Parameters:
    ///   - baseURL: the REST address; must be `https` (LND serves REST only over TLS).
    ///   - requestTimeout: the limit for every call except `pay`, which uses its own timeout.
    ///   - clock: decides whether an OPEN invoice has already expired.
    /// - Throws: `.malformed` when `baseURL` is not an https URL with a host.
    public init(
        baseURL: URL, macaroon: LNDMacaroon, transport: any HTTPTransport,
        requestTimeout: Duration = .seconds(30), clock: any PayRailClock = SystemClock()
    ) throws(RailError) {
        guard baseURL.scheme?.lowercased() == "https", let host = baseURL.host, !host.isEmpty else {
            throw RailError(.malformed, "the LND REST address must be an https URL with a host")
        }
        self.baseURL = baseURL
        self.macaroon = macaroon
        self.transport = transport
        self.requestTimeout = requestTimeout
        self.clock = clock
    }

    /// Creates a backend for a node whose REST port presents `tlsCertificateFile` (LND's `tls.cert`),
    /// using the macaroon in `macaroonFile`; the connection is refused unless the node presents
    /// exactly that certificate.
    ///
    /// - Throws: `.malformed` when a file cannot be read or parsed or `baseURL` is not https;
    ///   `.unsupported` when the system TLS library cannot be loaded.
    public static func pinned(baseURL: URL, macaroonFile: URL, tlsCertificateFile: URL) throws(RailError) -> LNDBackend {
        let transport = try LNDPinnedTransport(certificateFile: tlsCertificateFile)
        return try LNDBackend(baseURL: baseURL, macaroon: LNDMacaroon(contentsOf: macaroonFile), transport: transport)
    }

    // MARK: LightningBackend

    /// `POST /v1/invoices` with `value_msat`, `memo` or `description_hash`, and `expiry`.
    public func createInvoice(amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) async throws(RailError) -> CreatedInvoice {
        guard amountMsat > 0 else { throw RailError(.unsupported, "an LND invoice needs a positive amount in millisatoshi") }
        guard expirySeconds > 0 else { throw RailError(.malformed, "the invoice expiry must be positive") }
        var body: [String: Any] = ["value_msat": String(amountMsat), "expiry": String(expirySeconds)]
        if let descriptionHash {
            guard descriptionHash.count == 32 else { throw RailError(.malformed, "a description hash is 32 bytes") }
            body["description_hash"] = Data(descriptionHash).base64EncodedString()
        } else if let memo {
            body["memo"] = memo
        }
        let response = try await exchange("POST", "/v1/invoices", json: body, timeout: requestTimeout)
        let object = try Self.successObject(response, context: .read)
        guard let rHash = object["r_hash"] as? String, let hash = LNDCoding.base64(rHash), hash.count == 32 else {
            throw RailError(.malformed, "LND's AddInvoice answer has no 32-byte r_hash")
        }
        guard let request = object["payment_request"] as? String, request.lowercased().hasPrefix("ln") else {
            throw RailError(.malformed, "LND's AddInvoice answer has no BOLT11 payment_request")
        }
        return CreatedInvoice(bolt11: request, paymentHash: LNDCoding.hex(hash))
    }

    /// `GET /v1/invoice/{r_hash_str}`: SETTLED is paid; OPEN and ACCEPTED (HTLCs held, preimage not
    /// released) are open unless the expiry has passed; CANCELED is closed.
    ///
    /// - Throws: `.mismatch` when the node has no invoice with this hash.
    public func incomingStatus(paymentHash: String) async throws(RailError) -> IncomingInvoiceStatus {
        let hash = try Self.checkedHash(paymentHash)
        let response = try await exchange("GET", "/v1/invoice/\(hash)", timeout: requestTimeout)
        if let status = LNDCoding.rpcStatus(response.body), status.code == LNDGRPCCode.notFound {
            throw RailError(.mismatch, "the LND node has no invoice with this payment hash")
        }
        let invoice = try Self.successObject(response, context: .read)
        guard let state = invoice["state"] as? String ?? (invoice["state"] == nil ? "OPEN" : nil) else {
            throw RailError(.malformed, "LND's invoice state is not a name")
        }
        switch state {
        case "SETTLED":
            let paid = try LNDCoding.int64(invoice["amt_paid_msat"], "amt_paid_msat")
            var preimage: String?
            if let text = invoice["r_preimage"] as? String, !text.isEmpty {
                guard let bytes = LNDCoding.base64(text), bytes.count == 32 else {
                    throw RailError(.malformed, "LND's r_preimage is not 32 bytes of base64")
                }
                preimage = LNDCoding.hex(bytes)
            }
            let settleDate = try LNDCoding.int64(invoice["settle_date"], "settle_date")
            return .paid(amountMsat: paid, preimage: preimage, settledAt: settleDate > 0 ? Date(timeIntervalSince1970: TimeInterval(settleDate)) : nil)
        case "OPEN", "ACCEPTED":
            // LND cancels expired invoices itself, but only on its own schedule: an OPEN invoice past
            // its expiry can no longer be paid by anyone, so it is closed for the payee already.
            let created = try LNDCoding.int64(invoice["creation_date"], "creation_date")
            let expiry = try LNDCoding.int64(invoice["expiry"], "expiry")
            if state == "OPEN", created > 0, expiry > 0, clock.now().timeIntervalSince1970 >= TimeInterval(created) + TimeInterval(expiry) {
                return .closed
            }
            return .open
        case "CANCELED":
            return .closed
        default:
            throw RailError(.malformed, "LND reported an unknown invoice state")
        }
    }

    /// `POST /v2/router/send` with the invoice, an explicit `fee_limit_msat` (LND's default is 0,
    /// which only finds fee-free routes) and `timeout_seconds`; reads the stream to its final update.
    ///
    /// `timeout_seconds` is 80% of `timeout` (at least 1 s) so that LND gives up looking for routes
    /// before this call stops listening, and a final FAILED arrives instead of an unknown outcome.
    ///
    /// - Returns: `.succeeded` with the preimage and fee, or `.inFlight` when LND says a payment for
    ///   this hash is already under way.
    /// - Throws: for a FAILED payment, the failure reason as a typed error (`.insufficientFunds`,
    ///   `.declined`, `.unavailable` for a route-finding timeout, retry `.safe`: nothing was paid);
    ///   `.expired` for an expired invoice; `.alreadySettled` when this node already paid it;
    ///   `.timedOut` (`.afterLookup`) when the stream ends or breaks before a final status.
    public func pay(bolt11: String, maxFeeMsat: Int64, timeout: Duration) async throws(RailError) -> OutgoingPaymentStatus {
        guard maxFeeMsat >= 0 else { throw RailError(.malformed, "the fee limit cannot be negative") }
        let seconds = max(1, min(Int64(Int32.max), timeout.components.seconds * 4 / 5))
        let body: [String: Any] = [
            "payment_request": bolt11,
            "fee_limit_msat": String(maxFeeMsat),
            "timeout_seconds": Int(seconds),
            // Intermediate IN_FLIGHT lines show the node took the payment; the final line decides.
            "no_inflight_updates": false,
        ]
        let sendRequest = try request("POST", "/v2/router/send", json: body, timeout: timeout)
        let response: BackendResponse
        do {
            response = try await transport.send(sendRequest)
        } catch {
            switch error {
            case .notSent(let why): throw RailError(.unavailable, "LND could not be reached (\(why)); nothing was sent", retry: .safe)
            case .noAnswer(let why): throw RailError(.timedOut, "no final payment status from LND (\(why))", retry: .afterLookup)
            }
        }
        return try Self.readPaymentStream(response)
    }

    /// `GET /v2/router/track/{payment_hash}` first: LND answers at once with NotFound for a hash it
    /// never paid (`nil`) and with the final update, then the end of the stream, for a finished payment.
    /// While a payment is in flight that stream stays open, so when it has not ended within
    /// `trackWait` the unary `GET /v1/payments` list (paged back from the newest payment until the
    /// hash is found) gives the current state instead.
    public func outgoingStatus(paymentHash: String) async throws(RailError) -> OutgoingPaymentStatus? {
        let hash = try Self.checkedHash(paymentHash)
        let hashBytes = LNDCoding.hexBytes(hash) ?? []
        // bytes in a path are URL-safe base64 (the gateway decodes both alphabets).
        let pathHash = Data(hashBytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let track = try request("GET", "/v2/router/track/\(pathHash)?no_inflight_updates=false", json: nil, timeout: min(requestTimeout, Self.trackWait))
        let response: BackendResponse
        do {
            response = try await transport.send(track)
        } catch {
            switch error {
            case .notSent(let why): throw RailError(.unavailable, "LND could not be reached (\(why))", retry: .safe)
            case .noAnswer: return try await listedStatus(hash)
            }
        }
        if let status = LNDCoding.rpcStatus(response.body), status.code == LNDGRPCCode.notFound { return nil }
        guard (200..<300).contains(response.status) else { throw Self.error(from: response, context: .read) }
        var last: [String: Any]?
        for line in response.body.split(separator: UInt8(ascii: "\n")) {
            guard let object = LNDCoding.object(Array(line)) else { continue }
            if let result = object["result"] as? [String: Any] {
                last = result
            } else if let status = LNDCoding.rpcStatus(object), last == nil {
                throw Self.error(from: status, context: .read)
            }
        }
        guard let last else { return try await listedStatus(hash) }
        return try Self.status(of: last, final: false)
    }

    /// How long a track stream may stay open before the payment is read from the list instead.
    static let trackWait: Duration = .seconds(5)

    /// The payment's state from `GET /v1/payments?include_incomplete=true&reversed=true`, paged back
    /// until the hash is found; `nil` only after the whole history was seen.
    private func listedStatus(_ hash: String) async throws(RailError) -> OutgoingPaymentStatus? {
        var indexOffset: String? = nil
        while true {
            var query = "include_incomplete=true&reversed=true&max_payments=\(Self.lookupPageSize)"
            if let indexOffset { query += "&index_offset=\(indexOffset)" }
            let response = try await exchange("GET", "/v1/payments?\(query)", timeout: requestTimeout)
            let page = try Self.successObject(response, context: .read)
            let payments = page["payments"] as? [[String: Any]] ?? []
            if let payment = payments.first(where: { ($0["payment_hash"] as? String)?.lowercased() == hash }) {
                return try Self.status(of: payment, final: false)
            }
            // The page's oldest index is where the next (older) page ends; 0 or 1 means none is left.
            let first = try LNDCoding.int64(page["first_index_offset"], "first_index_offset")
            guard !payments.isEmpty, first > 1, String(first) != indexOffset else { return nil }
            indexOffset = String(first)
        }
    }

    /// `GET /v1/balance/channels`: `local_balance.msat`, what this node can send over its channels.
    public func balanceMsat() async throws(RailError) -> Int64 {
        let response = try await exchange("GET", "/v1/balance/channels", timeout: requestTimeout)
        let object = try Self.successObject(response, context: .read)
        // The gateway omits an empty Amount: no channel, nothing to spend.
        guard let local = object["local_balance"] else { return 0 }
        guard let amount = local as? [String: Any] else { throw RailError(.malformed, "LND's local_balance is not an object") }
        return try LNDCoding.int64(amount["msat"], "local_balance.msat")
    }

    // MARK: Exchange

    /// Payments looked at per `/v1/payments` page.
    static let lookupPageSize = 100

    private func request(_ method: String, _ pathAndQuery: String, json: [String: Any]?, timeout: Duration) throws(RailError) -> BackendRequest {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + pathAndQuery) else { throw RailError(.malformed, "cannot form the LND URL for \(pathAndQuery)") }
        var headers: [(name: String, value: String)] = [("Grpc-Metadata-macaroon", macaroon.headerValue), ("Accept", "application/json")]
        var body: [UInt8] = []
        if let json {
            guard let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]) else {
                throw RailError(.malformed, "cannot encode the LND request body")
            }
            body = Array(data)
            headers.append(("Content-Type", "application/json"))
        }
        return BackendRequest(method: method, url: url, headers: headers, body: body, timeout: timeout)
    }

    /// Sends a call that moves no money: any transport failure leaves nothing to look up.
    private func exchange(_ method: String, _ pathAndQuery: String, json: [String: Any]? = nil, timeout: Duration) async throws(RailError) -> BackendResponse {
        let request = try request(method, pathAndQuery, json: json, timeout: timeout)
        do {
            return try await transport.send(request)
        } catch {
            switch error {
            case .notSent(let why): throw RailError(.unavailable, "LND could not be reached (\(why))", retry: .safe)
            case .noAnswer(let why): throw RailError(.unavailable, "LND did not answer (\(why)); this call moves no money", retry: .safe)
            }
        }
    }

    /// Whether an error interrupts a call that may have moved money.
    enum ErrorContext { case read, payment }

    /// The JSON object of a 2xx answer, or the typed error the answer carries.
    static func successObject(_ response: BackendResponse, context: ErrorContext) throws(RailError) -> [String: Any] {
        guard (200..<300).contains(response.status) else { throw error(from: response, context: context) }
        guard let object = LNDCoding.object(response.body) else { throw RailError(.malformed, "LND's answer is not a JSON object") }
        return object
    }

    /// Maps a non-2xx answer (gRPC status JSON or a bare HTTP status from a proxy) to a typed error.
    static func error(from response: BackendResponse, context: ErrorContext) -> RailError {
        if let status = LNDCoding.rpcStatus(response.body) { return error(from: status, context: context) }
        let unknownOutcome: RetryAdvice = context == .payment ? .afterLookup : .safe
        switch response.status {
        case 401, 403: return RailError(.unavailable, "LND refused the macaroon (HTTP \(response.status)): check the macaroon file", retry: .safe)
        case 429, 500..<600: return RailError(.unavailable, "LND answered HTTP \(response.status) without a status", retry: unknownOutcome)
        default: return RailError(.malformed, "LND answered HTTP \(response.status) without a status")
        }
    }

    /// Maps a gRPC status (`{"code","message"}`) to a typed error. `message` is LND's text, which
    /// names no secret (LND never echoes macaroons or preimages in errors).
    static func error(from status: LNDStatus, context: ErrorContext) -> RailError {
        let message = status.message.lowercased()
        let said = "LND: \(status.message.prefix(200))"
        if message.contains("macaroon") || message.contains("verification failed") || status.code == LNDGRPCCode.unauthenticated
            || status.code == LNDGRPCCode.permissionDenied {
            return RailError(.unavailable, "\(said) (the node refused the macaroon: check the macaroon file)", retry: .safe)
        }
        if message.contains("wallet locked") || message.contains("still in the process of starting") || status.code == LNDGRPCCode.unavailable
            || status.code == LNDGRPCCode.resourceExhausted {
            return RailError(.unavailable, "\(said) (the node is not ready)", retry: .safe)
        }
        if context == .payment {
            if message.contains("already paid") { return RailError(.alreadySettled, "\(said) (this node already paid this invoice: look it up for the preimage)") }
            if message.contains("expired") { return RailError(.expired, said) }
            if status.code == LNDGRPCCode.deadlineExceeded || status.code == LNDGRPCCode.canceled {
                return RailError(.timedOut, said, retry: .afterLookup)
            }
        }
        switch status.code {
        case LNDGRPCCode.invalidArgument, LNDGRPCCode.outOfRange, LNDGRPCCode.failedPrecondition:
            return RailError(.malformed, said)
        case LNDGRPCCode.notFound:
            return RailError(.mismatch, said)
        case LNDGRPCCode.deadlineExceeded:
            return RailError(.unavailable, said, retry: .safe)
        default:
            // Unknown/Internal: LND's validation errors (bad invoice, amount, self-payment) carry
            // code 2; before a payment is initiated none of them has moved money.
            return context == .payment ? RailError(.declined, said) : RailError(.unavailable, said, retry: .safe)
        }
    }

    /// Reads the `/v2/router/send` stream: the last `result` decides; an `error` line before any
    /// result is a refusal, after one it leaves the outcome unknown.
    static func readPaymentStream(_ response: BackendResponse) throws(RailError) -> OutgoingPaymentStatus {
        guard (200..<300).contains(response.status) else {
            // An error before the first update: the gateway sends `{"error": status}` with its HTTP code.
            if let status = LNDCoding.rpcStatus(response.body) {
                if status.code == LNDGRPCCode.alreadyExists, !status.message.lowercased().contains("already paid") { return .inFlight }
                throw error(from: status, context: .payment)
            }
            throw error(from: response, context: .payment)
        }
        var last: [String: Any]?
        for line in response.body.split(separator: UInt8(ascii: "\n")) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            guard let object = LNDCoding.object(Array(line)) else {
                throw RailError(.timedOut, "LND's payment stream has a line that is not JSON; the outcome is unknown", retry: .afterLookup)
            }
            if let result = object["result"] as? [String: Any] {
                last = result
                if let status = result["status"] as? String, status == "SUCCEEDED" || status == "FAILED" { break }
            } else if let status = LNDCoding.rpcStatus(object) {
                guard last != nil else {
                    if status.code == LNDGRPCCode.alreadyExists, !status.message.lowercased().contains("already paid") { return .inFlight }
                    throw error(from: status, context: .payment)
                }
                throw RailError(.timedOut, "LND's payment stream ended with an error after the payment started (LND: \(status.message.prefix(200)))", retry: .afterLookup)
            }
        }
        guard let last else {
            throw RailError(.timedOut, "LND's payment stream ended before any update; the outcome is unknown", retry: .afterLookup)
        }
        return try status(of: last, final: true)
    }

    /// A `Payment` as a status; with `final`, anything but SUCCEEDED/FAILED means the stream was cut
    /// and the outcome is unknown, and FAILED is thrown as the typed refusal.
    static func status(of payment: [String: Any], final: Bool) throws(RailError) -> OutgoingPaymentStatus {
        switch payment["status"] as? String {
        case "SUCCEEDED":
            // Succeeded means money moved: an unreadable answer is "look it up", never "not paid".
            guard let text = payment["payment_preimage"] as? String, let preimage = LNDCoding.hexBytes(text), preimage.count == 32 else {
                throw RailError(.timedOut, "LND reported SUCCEEDED without a 32-byte payment_preimage; look the payment up", retry: .afterLookup)
            }
            // A missing or unreadable fee is unknown, not zero: zero would let the ledger under-state the spend.
            let fee: Int64? = payment["fee_msat"] == nil ? nil : try? LNDCoding.int64(payment["fee_msat"], "fee_msat")
            return .succeeded(preimage: LNDCoding.hex(preimage), feeMsat: fee)
        case "FAILED":
            let reason = payment["failure_reason"] as? String ?? "FAILURE_REASON_NONE"
            let error = failureError(reason)
            if final { throw error }
            return .failed(reason: error.reason)
        case "IN_FLIGHT", "INITIATED", nil, "UNKNOWN":
            if final {
                throw RailError(.timedOut, "LND's payment stream ended while the payment was in flight", retry: .afterLookup)
            }
            return .inFlight
        default:
            throw RailError(.malformed, "LND reported an unknown payment status")
        }
    }

    /// The typed error for each `lnrpc.PaymentFailureReason`. A FAILED payment has no HTLC left in
    /// flight, so nothing was paid.
    static func failureError(_ reason: String) -> RailError {
        switch reason {
        case "FAILURE_REASON_TIMEOUT":
            return RailError(.unavailable, "LND found no route before the payment timeout (FAILURE_REASON_TIMEOUT); nothing was paid", retry: .safe)
        case "FAILURE_REASON_NO_ROUTE":
            return RailError(.declined, "LND found no route within the fee limit (FAILURE_REASON_NO_ROUTE); nothing was paid")
        case "FAILURE_REASON_ERROR":
            return RailError(.declined, "LND hit a non-recoverable error (FAILURE_REASON_ERROR); nothing was paid")
        case "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS":
            return RailError(.declined, "the payee's node refused the payment: unknown hash, wrong amount or expired invoice (FAILURE_REASON_INCORRECT_PAYMENT_DETAILS); nothing was paid")
        case "FAILURE_REASON_INSUFFICIENT_BALANCE":
            return RailError(.insufficientFunds, "the LND node's channels cannot cover amount plus fees (FAILURE_REASON_INSUFFICIENT_BALANCE); nothing was paid")
        case "FAILURE_REASON_CANCELED":
            return RailError(.declined, "the payment was canceled on the LND node (FAILURE_REASON_CANCELED); nothing was paid")
        default:
            return RailError(.declined, "LND reported the payment FAILED without a known reason; nothing was paid")
        }
    }

    /// Lower-cased 64-hex payment hash, or `.malformed`.
    static func checkedHash(_ paymentHash: String) throws(RailError) -> String {
        let hash = paymentHash.lowercased()
        guard hash.utf8.count == 64, LNDCoding.hexBytes(hash) != nil else {
            throw RailError(.malformed, "a payment hash is 64 hex characters")
        }
        return hash
    }
}

/// gRPC status codes that appear in LND's REST errors.
enum LNDGRPCCode {
    static let canceled = 1, invalidArgument = 3, deadlineExceeded = 4, notFound = 5, alreadyExists = 6
    static let permissionDenied = 7, resourceExhausted = 8, failedPrecondition = 9, outOfRange = 11
    static let unavailable = 14, unauthenticated = 16
}

/// A gRPC status as the REST gateway writes it.
struct LNDStatus: Hashable, Sendable {
    /// The gRPC code.
    var code: Int
    /// LND's message.
    var message: String
}

/// The JSON conventions of LND's REST gateway.
enum LNDCoding {
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        guard !bytes.isEmpty, let value = try? JSONSerialization.jsonObject(with: Data(bytes)) else { return nil }
        return value as? [String: Any]
    }

    /// The status in an error body: bare `{"code","message"}` or wrapped `{"error": {...}}`.
    static func rpcStatus(_ bytes: [UInt8]) -> LNDStatus? {
        object(bytes).flatMap { rpcStatus($0) }
    }

    static func rpcStatus(_ object: [String: Any]) -> LNDStatus? {
        if let inner = object["error"] as? [String: Any] { return rpcStatus(inner) }
        guard object["result"] == nil, let message = object["message"] as? String else { return nil }
        let code = (object["code"] as? NSNumber)?.intValue ?? 2
        return LNDStatus(code: code, message: message)
    }

    /// An int64 field: a decimal string (the gateway's form), a JSON number, or absent (zero,
    /// because the gateway omits zero values).
    static func int64(_ value: Any?, _ name: String) throws(RailError) -> Int64 {
        switch value {
        case nil: return 0
        case let text as String:
            guard let number = Int64(text) else { throw RailError(.malformed, "LND's \(name) is not an int64") }
            return number
        case let number as NSNumber:
            let exact = number.int64Value
            guard number.stringValue == String(exact) else { throw RailError(.malformed, "LND's \(name) is not an int64") }
            return exact
        default:
            throw RailError(.malformed, "LND's \(name) is not an int64")
        }
    }

    /// Standard or URL-safe base64, padded or not.
    static func base64(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.utf8.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    static func hexBytes(_ text: String) -> [UInt8]? { Hex.decode(text) }
}
