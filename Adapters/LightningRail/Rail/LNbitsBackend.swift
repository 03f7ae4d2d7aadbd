import Foundation
import PayRail
import PayRailCrypto

// LNbits is a wallet server: each wallet has an invoice key (create invoices, read) and an admin key
// (also pay). The backend speaks its REST API (checked against LNbits 1.6.2) and turns every answer
// into the `LightningBackend` vocabulary. Two LNbits habits shape the code:
// - A wrong key is answered 404 "Wallet not found." (401 only when no key is sent), and the status
//   endpoint answers anyone, omitting `details` when the key does not own the payment; so "is this
//   payment ours" is decided by the presence of `details`, never by the HTTP status alone.
// - LNbits has no per-payment fee limit: it lets the funding source spend up to its fee reserve
//   (max(2000 msat, 1 %) by default, 0 between wallets of one instance). `pay` therefore asks for the
//   reserve first and refuses when it exceeds the caller's limit, and it refuses an expired invoice
//   itself because LNbits pays expired invoices of its own wallets.

/// An LNbits API key. Its description and reflection never show the key, so logging a backend or a
/// configuration cannot leak it.
public struct LNbitsAPIKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key as LNbits issued it (32 hex characters); send it only in `X-Api-Key`.
    public let secret: String

    /// Wraps a key.
    public init(_ secret: String) { self.secret = secret }

    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// No children, so `dump` and string interpolation of containers never show the key.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A `LightningBackend` over one LNbits wallet's REST API.
///
/// Error mapping (every reason is free of keys and preimages):
/// - key refused (401 no key, 403 invoice key used to pay, 404 "Wallet not found.") → `.declined`,
///   `.unsafe`: fix the configured key;
/// - 400 validation (`detail` list or string) → `.malformed`;
/// - 520 payment/invoice error → by its `detail`/`status`: insufficient balance or fee reserve →
///   `.insufficientFunds`; "already paid" → `.alreadySettled`; "still pending" → `.unavailable` with
///   `.afterLookup`; undecodable invoice → `.malformed`; amountless / above LNbits' maximum →
///   `.unsupported`; anything else (e.g. "Payment failed: ...") → `.declined`;
/// - 429 rate limit → `.unavailable`, `.safe` (LNbits refuses before acting);
/// - other 5xx, redirects (LNbits not set up) and unreadable answers → `.unavailable`: `.safe` for
///   reads and invoice creation, `.afterLookup` for `pay`;
/// - transport `notSent` → `.unavailable`, `.safe`; `noAnswer` → `.timedOut`, `.afterLookup` for
///   `pay`, `.unavailable`, `.safe` elsewhere (no money moves when an invoice or a read is lost).
public struct LNbitsBackend: LightningBackend, CustomStringConvertible, CustomReflectable {
    /// The instance's base URL, e.g. `http://127.0.0.1:5000` (paths are appended to it).
    public let baseURL: URL
    /// The wallet's admin key: needed only to pay.
    public let adminKey: LNbitsAPIKey?
    /// The wallet's invoice key: creates invoices and reads; the admin key is used when it is absent.
    public let invoiceKey: LNbitsAPIKey?
    /// How long a request other than `pay` may take.
    public let requestTimeout: Duration
    private let transport: any HTTPTransport
    private let clock: any PayRailClock

    /// The rail name put in errors.
    public static let railID = RailID.lightning

    /// Creates a backend for one wallet; give at least one key.
    public init(
        baseURL: URL, adminKey: LNbitsAPIKey?, invoiceKey: LNbitsAPIKey?,
        transport: any HTTPTransport = URLSessionTransport(), requestTimeout: Duration = .seconds(30),
        clock: any PayRailClock = SystemClock()
    ) {
        self.baseURL = baseURL
        self.adminKey = adminKey
        self.invoiceKey = invoiceKey
        self.transport = transport
        self.requestTimeout = requestTimeout
        self.clock = clock
    }

    /// Names the instance and which keys are configured, never the keys.
    public var description: String {
        "LNbitsBackend(\(baseURL.absoluteString), admin key \(adminKey == nil ? "absent" : "set"), invoice key \(invoiceKey == nil ? "absent" : "set"))"
    }

    /// The URL and which keys are set: `dump` must not reach the keys, nor requests a transport keeps.
    public var customMirror: Mirror {
        Mirror(self, children: ["baseURL": baseURL, "adminKey": adminKey == nil ? "absent" : "set", "invoiceKey": invoiceKey == nil ? "absent" : "set"], displayStyle: .struct)
    }

    // MARK: LightningBackend

    /// `POST /api/v1/payments {"out":false,"amount":<sat>,"memo"|"description_hash","expiry"}` → 201.
    ///
    /// LNbits invoices whole satoshis only: an amount that is not a multiple of 1000 msat is refused
    /// (`.unsupported`) rather than rounded. The answer is checked: the invoice's payment hash and
    /// description hash must be the ones LNbits reports and the ones asked for.
    public func createInvoice(amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) async throws(RailError) -> CreatedInvoice {
        guard amountMsat > 0, amountMsat % 1000 == 0 else {
            throw RailError(.unsupported, "LNbits invoices whole satoshis only; \(amountMsat) msat is not a positive multiple of 1000", rail: Self.railID)
        }
        guard expirySeconds > 0 else { throw RailError(.malformed, "an invoice expiry must be positive, not \(expirySeconds) s", rail: Self.railID) }
        if let descriptionHash, descriptionHash.count != 32 {
            throw RailError(.malformed, "a description hash is 32 bytes, not \(descriptionHash.count)", rail: Self.railID)
        }
        let key = try readKey()
        let body = LNbitsCreateInvoiceBody(
            amount: amountMsat / 1000, memo: descriptionHash == nil ? memo : nil,
            descriptionHash: descriptionHash.map(LNbitsHex.encode), expiry: expirySeconds
        )
        let response = try await exchange(.createInvoice, method: "POST", path: "/api/v1/payments", key: key, body: Self.encode(body))
        guard response.status == 201 || response.status == 200 else { throw failure(.createInvoice, response, key: key) }
        let payment: LNbitsPayment = try decode(.createInvoice, response)
        guard let facts = LNbitsInvoiceFacts(bolt11: payment.bolt11), facts.paymentHash == payment.paymentHash.lowercased() else {
            throw RailError(.unavailable, "LNbits answered with an invoice whose payment hash is not the one it reported", rail: Self.railID)
        }
        guard payment.amount == amountMsat, facts.descriptionHash == descriptionHash || descriptionHash == nil else {
            throw RailError(.unavailable, "LNbits made an invoice other than the one asked for (amount or description hash)", rail: Self.railID)
        }
        return CreatedInvoice(bolt11: payment.bolt11, paymentHash: facts.paymentHash)
    }

    /// `GET /api/v1/payments/{hash}` with this wallet's key.
    ///
    /// - Throws: `.mismatch` when this wallet issued no invoice with that hash.
    public func incomingStatus(paymentHash: String) async throws(RailError) -> IncomingInvoiceStatus {
        guard let status = try await lookUp(paymentHash, .incomingStatus) else {
            throw RailError(.mismatch, "this LNbits wallet issued no invoice with that payment hash", rail: Self.railID)
        }
        guard let details = status.details, details.amount > 0 else {
            throw RailError(.mismatch, "the payment with that hash in this LNbits wallet is not an invoice it issued", rail: Self.railID)
        }
        switch details.status {
        case "success":
            let preimage = (status.preimage ?? details.preimage).map { $0.lowercased() }
            return .paid(amountMsat: details.amount, preimage: preimage, settledAt: details.updatedAt.flatMap(Self.parseDate))
        case "failed": return .closed
        default:
            // LNbits marks an expired invoice failed only when something looks at it; be sure here.
            if let facts = LNbitsInvoiceFacts(bolt11: details.bolt11), facts.expiresAt <= clock.now() { return .closed }
            return .open
        }
    }

    /// Pays with the admin key: `GET /api/v1/payments/fee-reserve` (refused when above `maxFeeMsat`),
    /// then `POST /api/v1/payments {"out":true,"bolt11":...}` → 201 with the payment row.
    ///
    /// Refused before anything is sent: an invoice that is not BOLT11 or has expired by this
    /// backend's clock (LNbits itself would pay it). A success is returned only with a preimage whose
    /// SHA-256 is the invoice's payment hash.
    public func pay(bolt11: String, maxFeeMsat: Int64, timeout: Duration) async throws(RailError) -> OutgoingPaymentStatus {
        guard let adminKey else {
            throw RailError(.declined, "this LNbits backend has no admin key, which paying needs", rail: Self.railID)
        }
        guard let facts = LNbitsInvoiceFacts(bolt11: bolt11) else {
            throw RailError(.malformed, "the invoice is not a BOLT11 invoice with a payment hash", rail: Self.railID)
        }
        guard facts.expiresAt > clock.now() else {
            throw RailError(.expired, "the invoice expired at \(facts.expiresAt) (unix \(facts.timestamp + facts.expirySeconds))", rail: Self.railID)
        }
        guard maxFeeMsat >= 0 else { throw RailError(.malformed, "a fee limit cannot be negative", rail: Self.railID) }

        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "invoice", value: bolt11)]
        let reserveResponse = try await exchange(
            .feeReserve, method: "GET", path: "/api/v1/payments/fee-reserve?\(components.percentEncodedQuery ?? "")", key: adminKey, body: []
        )
        guard reserveResponse.status == 200 else { throw failure(.feeReserve, reserveResponse, key: adminKey) }
        let reserve: LNbitsFeeReserve = try decode(.feeReserve, reserveResponse)
        guard reserve.feeReserve <= maxFeeMsat else {
            throw RailError(
                .unsupported,
                "LNbits may spend up to \(reserve.feeReserve) msat in routing fees on this invoice (its fee reserve), above the limit of \(maxFeeMsat) msat",
                rail: Self.railID
            )
        }

        let response = try await exchange(
            .pay, method: "POST", path: "/api/v1/payments", key: adminKey, body: Self.encode(LNbitsPayBody(bolt11: bolt11)), timeout: timeout
        )
        guard response.status == 201 || response.status == 200 else { throw failure(.pay, response, key: adminKey) }
        let payment: LNbitsPayment = try decode(.pay, response)
        guard payment.paymentHash.lowercased() == facts.paymentHash else {
            throw RailError(.unavailable, "LNbits reported a payment of another invoice; look this one up", retry: .afterLookup, rail: Self.railID)
        }
        return try outgoing(payment, hash: facts.paymentHash)
    }

    /// `GET /api/v1/payments/{hash}` with this wallet's key; `nil` when this wallet never paid it.
    public func outgoingStatus(paymentHash: String) async throws(RailError) -> OutgoingPaymentStatus? {
        guard let status = try await lookUp(paymentHash, .outgoingStatus), let details = status.details, details.amount < 0 else {
            return nil
        }
        var payment = details
        if payment.preimage == nil, let preimage = status.preimage {
            payment = LNbitsPayment(
                paymentHash: details.paymentHash, bolt11: details.bolt11, amount: details.amount, fee: details.fee,
                status: details.status, preimage: preimage, updatedAt: details.updatedAt
            )
        }
        return try outgoing(payment, hash: paymentHash.lowercased())
    }

    /// `GET /api/v1/wallet` → `{"name","balance"}`, the balance in millisatoshi.
    public func balanceMsat() async throws(RailError) -> Int64 {
        let key = try readKey()
        let response = try await exchange(.balance, method: "GET", path: "/api/v1/wallet", key: key, body: [])
        guard response.status == 200 else { throw failure(.balance, response, key: key) }
        let wallet: LNbitsWallet = try decode(.balance, response)
        return wallet.balance
    }

    // MARK: Helpers

    /// What the backend was doing, which decides the advice when the answer is missing or odd.
    enum Operation: String {
        case createInvoice = "creating an invoice", incomingStatus = "looking up an invoice"
        case feeReserve = "asking the fee reserve", pay = "paying", outgoingStatus = "looking up a payment"
        case balance = "reading the balance"

        /// Whether money may have moved when this request's outcome is unknown.
        var movesMoney: Bool { self == .pay }
    }

    private func readKey() throws(RailError) -> LNbitsAPIKey {
        guard let key = invoiceKey ?? adminKey else {
            throw RailError(.declined, "this LNbits backend has neither an invoice key nor an admin key", rail: Self.railID)
        }
        return key
    }

    /// The status answer, or `nil` for LNbits' 404 "Payment does not exist.".
    private func lookUp(_ paymentHash: String, _ operation: Operation) async throws(RailError) -> LNbitsPaymentStatus? {
        guard LNbitsHex.isHash(paymentHash) else {
            throw RailError(.malformed, "a payment hash is 64 hex characters", rail: Self.railID)
        }
        let key = try readKey()
        let response = try await exchange(operation, method: "GET", path: "/api/v1/payments/\(paymentHash.lowercased())", key: key, body: [])
        if response.status == 404, Self.errorBody(response)?.detail == "Payment does not exist." { return nil }
        guard response.status == 200 else { throw failure(operation, response, key: key) }
        let status: LNbitsPaymentStatus = try decode(operation, response)
        // Without `details` LNbits did not match the key to a wallet (a wrong key gets the public view).
        guard status.details != nil else {
            throw RailError(.declined, "LNbits did not accept the wallet key (it answered the public view of the payment)", rail: Self.railID)
        }
        return status
    }

    private func outgoing(_ payment: LNbitsPayment, hash: String) throws(RailError) -> OutgoingPaymentStatus {
        switch payment.status {
        case "success":
            guard let preimage = payment.preimage?.lowercased(), let bytes = LNbitsHex.decode(preimage), bytes.count == 32 else {
                throw RailError(.unavailable, "LNbits reports the payment succeeded but gave no preimage; look it up again", retry: .afterLookup, rail: Self.railID)
            }
            guard LNbitsHex.encode(SHA256.hash(bytes)) == hash else {
                // Money moved by LNbits' own account: never let the caller read this as "not paid".
                throw RailError(.timedOut, "LNbits reports the payment succeeded with a preimage that does not hash to the payment hash; look it up",
                                retry: .afterLookup, rail: Self.railID)
            }
            return .succeeded(preimage: preimage, feeMsat: abs(payment.fee))
        case "failed": return .failed(reason: "LNbits reports the payment failed")
        default: return .inFlight
        }
    }

    private func exchange(
        _ operation: Operation, method: String, path: String, key: LNbitsAPIKey, body: [UInt8], timeout: Duration? = nil
    ) async throws(RailError) -> BackendResponse {
        guard let url = URL(string: baseURL.absoluteString.trimmingSuffix("/") + path) else {
            throw RailError(.malformed, "the LNbits base URL \(baseURL.absoluteString) cannot take the path \(path)", rail: Self.railID)
        }
        var headers: [(name: String, value: String)] = [("X-Api-Key", key.secret), ("Accept", "application/json")]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        let request = BackendRequest(method: method, url: url, headers: headers, body: body, timeout: timeout ?? requestTimeout)
        do {
            return try await transport.send(request)
        } catch {
            switch error {
            case .notSent(let why):
                throw RailError(.unavailable, "LNbits could not be reached while \(operation.rawValue) (\(redact(why, key)))", retry: .safe, rail: Self.railID)
            case .noAnswer(let why):
                if operation.movesMoney {
                    throw RailError(.timedOut, "LNbits did not answer while \(operation.rawValue) (\(redact(why, key)))", retry: .afterLookup, rail: Self.railID)
                }
                throw RailError(.unavailable, "LNbits did not answer while \(operation.rawValue) (\(redact(why, key)))", retry: .safe, rail: Self.railID)
            }
        }
    }

    private func decode<Value: Decodable>(_ operation: Operation, _ response: BackendResponse) throws(RailError) -> Value {
        do {
            return try JSONDecoder().decode(Value.self, from: Data(response.body))
        } catch {
            throw RailError(
                .unavailable, "LNbits answered \(operation.rawValue) with a body this backend cannot read (HTTP \(response.status))",
                retry: operation.movesMoney ? .afterLookup : .safe, rail: Self.railID
            )
        }
    }

    private static func errorBody(_ response: BackendResponse) -> LNbitsErrorBody? {
        try? JSONDecoder().decode(LNbitsErrorBody.self, from: Data(response.body))
    }

    /// The typed error for a non-success answer (see the type's documentation for the table).
    func failure(_ operation: Operation, _ response: BackendResponse, key: LNbitsAPIKey) -> RailError {
        let body = Self.errorBody(response)
        let detail = redact(body?.detail ?? "no detail", key)
        let said = "LNbits answered \(response.status) while \(operation.rawValue): \(detail)"
        let unknownOutcome: RetryAdvice = operation.movesMoney ? .afterLookup : .safe
        switch response.status {
        case 401, 403:
            return RailError(.declined, "\(said) (check the configured wallet key: paying needs the admin key)", rail: Self.railID)
        case 404:
            return RailError(.declined, "\(said) (the wallet key is not known to this LNbits)", rail: Self.railID)
        case 400, 422:
            return RailError(.malformed, said, rail: Self.railID)
        case 429:
            return RailError(.unavailable, "\(said) (rate limited; nothing was done)", retry: .safe, rail: Self.railID)
        case 520:
            return paymentFailure(said: said, detail: detail.lowercased(), status: body?.status, operation: operation)
        case 300..<400:
            return RailError(.unavailable, "LNbits redirected (\(response.status)) while \(operation.rawValue): it is not set up yet (first install) or the URL is wrong", retry: .safe, rail: Self.railID)
        default:
            return RailError(.unavailable, said, retry: unknownOutcome, rail: Self.railID)
        }
    }

    private func paymentFailure(said: String, detail: String, status: String?, operation: Operation) -> RailError {
        if status == "pending" {
            return RailError(.unavailable, "\(said) (a payment of this invoice is in flight)", retry: .afterLookup, rail: Self.railID)
        }
        if status == "success" || detail.contains("already paid") {
            return RailError(.alreadySettled, said, rail: Self.railID)
        }
        if detail.contains("insufficient balance") || detail.contains("must reserve") {
            return RailError(.insufficientFunds, said, rail: Self.railID)
        }
        if detail.contains("decoding failed") || detail.contains("bolt11 changed") {
            return RailError(.malformed, said, rail: Self.railID)
        }
        if detail.contains("amountless") || detail.contains("too high") || detail.contains("cannot exceed") {
            return RailError(.unsupported, said, rail: Self.railID)
        }
        if operation == .createInvoice, status == nil || status == "pending" {
            return RailError(.unavailable, said, retry: .safe, rail: Self.railID)
        }
        return RailError(.declined, said, rail: Self.railID)
    }

    /// Removes the key from text that came from elsewhere, in case a server or transport echoed it.
    private func redact(_ text: String, _ key: LNbitsAPIKey) -> String {
        var text = text
        for secret in [key.secret, adminKey?.secret, invoiceKey?.secret].compactMap({ $0 }) where secret.count >= 4 {
            text = text.replacingOccurrences(of: secret, with: "<key>")
        }
        return text
    }

    private static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs of strings and integers cannot fail.
        return (try? encoder.encode(value)).map { Array($0) } ?? []
    }

    private static func parseDate(_ text: String) -> Date? {
        // LNbits writes "2026-11-25T03:14:44.405193+00:00" (microseconds) or without fraction.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
