import Foundation
import PayRail
import PayRailCrypto

// A small Stripe REST client: the few v1 endpoints the rail needs, form-encoded, with the API version
// pinned (a Stripe account's default version can change under us; a pinned one cannot) and an
// Idempotency-Key on every POST, so a retry after a timeout replays instead of charging again.

/// A Stripe v1 REST client over a `StripeTransport`.
public struct StripeClient: Sendable, CustomStringConvertible {
    /// The API version sent as `Stripe-Version` on every request. Pinned: it decides the shapes read.
    public static let defaultAPIVersion = "2026-04-22.dahlia"

    /// `https://api.stripe.com` in production, a localstripe URL in tests.
    public let apiBase: URL
    /// The `Stripe-Version` sent.
    public let apiVersion: String
    /// How long one request may take.
    public let timeout: Duration
    private let key: StripeSecretKey
    private let transport: any StripeTransport

    /// Creates a client.
    ///
    /// - Throws: `StripeConfigurationError` when `apiBase` is not http(s) with a host, or is plain
    ///   http to anything but a loopback address (the key would cross the network in clear).
    public init(apiBase: URL = URL(string: "https://api.stripe.com")!, key: StripeSecretKey,
                apiVersion: String = StripeClient.defaultAPIVersion, timeout: Duration = .seconds(30),
                transport: any StripeTransport = StripeURLSessionTransport()) throws(StripeConfigurationError) {
        guard let scheme = apiBase.scheme?.lowercased(), let host = apiBase.host, !host.isEmpty else {
            throw StripeConfigurationError(reason: "the Stripe API base must be an http(s) URL with a host")
        }
        let loopback = host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]"
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw StripeConfigurationError(reason: "the Stripe API base must be https (plain http only to a loopback address)")
        }
        self.apiBase = apiBase
        self.key = key
        self.apiVersion = apiVersion
        self.timeout = timeout
        self.transport = transport
    }

    /// The API base and version; never the key.
    public var description: String { "StripeClient(\(apiBase.absoluteString), version \(apiVersion), \(key))" }

    // MARK: PaymentIntents

    /// `POST /v1/payment_intents`.
    public func createPaymentIntent(_ form: StripeForm, idempotencyKey: String) async throws(StripeError) -> StripeReply<StripePaymentIntent> {
        try await post("/v1/payment_intents", form, idempotencyKey: idempotencyKey)
    }

    /// `GET /v1/payment_intents/{id}`.
    public func retrievePaymentIntent(_ id: String) async throws(StripeError) -> StripePaymentIntent {
        try await get("/v1/payment_intents/" + Self.checked(id, prefix: "pi_")).value
    }

    /// `POST /v1/payment_intents/{id}` (update; sets the payment method before a confirmation).
    public func updatePaymentIntent(_ id: String, _ form: StripeForm, idempotencyKey: String) async throws(StripeError) -> StripeReply<StripePaymentIntent> {
        try await post("/v1/payment_intents/" + Self.checked(id, prefix: "pi_"), form, idempotencyKey: idempotencyKey)
    }

    /// `POST /v1/payment_intents/{id}/confirm`.
    public func confirmPaymentIntent(_ id: String, _ form: StripeForm = StripeForm(), idempotencyKey: String) async throws(StripeError) -> StripeReply<StripePaymentIntent> {
        try await post("/v1/payment_intents/" + Self.checked(id, prefix: "pi_") + "/confirm", form, idempotencyKey: idempotencyKey)
    }

    /// `POST /v1/payment_intents/{id}/capture`, capturing `amountToCapture` (at most what was authorized).
    public func capturePaymentIntent(_ id: String, amountToCapture: Int64?, idempotencyKey: String) async throws(StripeError) -> StripeReply<StripePaymentIntent> {
        var form = StripeForm()
        form.add("amount_to_capture", amountToCapture.map(String.init))
        return try await post("/v1/payment_intents/" + Self.checked(id, prefix: "pi_") + "/capture", form, idempotencyKey: idempotencyKey)
    }

    /// `POST /v1/payment_intents/{id}/cancel` with an optional `cancellation_reason`
    /// (`abandoned`, `duplicate`, `fraudulent`, `requested_by_customer`).
    public func cancelPaymentIntent(_ id: String, reason: String?, idempotencyKey: String) async throws(StripeError) -> StripeReply<StripePaymentIntent> {
        var form = StripeForm()
        form.add("cancellation_reason", reason)
        return try await post("/v1/payment_intents/" + Self.checked(id, prefix: "pi_") + "/cancel", form, idempotencyKey: idempotencyKey)
    }

    /// `GET /v1/payment_intents/search?query=metadata['key']:'value'` (Stripe's search is eventually
    /// consistent: a PaymentIntent made a second ago may not be found yet).
    public func searchPaymentIntents(metadataKey: String, value: String) async throws(StripeError) -> [StripePaymentIntent] {
        guard Self.isIdentifier(metadataKey), Self.isIdentifier(value) else {
            throw .invalidIdentifier("a metadata search term")
        }
        let query = "metadata['\(metadataKey)']:'\(value)'"
        let reply: StripeReply<StripePaymentIntentList> = try await get("/v1/payment_intents/search?query=" + StripeForm.escape(query))
        return reply.value.data
    }

    // MARK: Shared Payment Tokens (private preview)

    /// `POST /v1/shared_payment/issued_tokens`: the agent's token for a seller.
    public func issueSharedPaymentToken(_ form: StripeForm, idempotencyKey: String) async throws(StripeError) -> StripeReply<StripeIssuedToken> {
        try await post("/v1/shared_payment/issued_tokens", form, idempotencyKey: idempotencyKey)
    }

    // MARK: Charges and refunds

    /// `GET /v1/charges/{id}`: when a payment was made, for an intent whose `latest_charge` is an id.
    func retrieveCharge(_ id: String) async throws(StripeError) -> StripeCharge {
        try await get("/v1/charges/" + Self.checked(id, prefix: "")).value
    }

    /// `POST /v1/refunds` for a PaymentIntent, all of it or `amount`.
    public func createRefund(paymentIntent: String, amount: Int64?, idempotencyKey: String) async throws(StripeError) -> StripeReply<StripeRefund> {
        var form = StripeForm()
        form.add("payment_intent", try Self.checked(paymentIntent, prefix: "pi_"))
        form.add("amount", amount.map(String.init))
        return try await post("/v1/refunds", form, idempotencyKey: idempotencyKey)
    }

    // MARK: Requests

    /// Sends a POST with the idempotency key and decodes a `Value`.
    func post<Value: Decodable & Sendable>(_ path: String, _ form: StripeForm, idempotencyKey: String) async throws(StripeError) -> StripeReply<Value> {
        var headers = baseHeaders()
        headers.append(StripeHeader("Content-Type", "application/x-www-form-urlencoded"))
        headers.append(StripeHeader("Idempotency-Key", idempotencyKey))
        return try await exchange("POST", path, headers: headers, body: Array(form.encoded.utf8))
    }

    /// Sends a GET and decodes a `Value`.
    func get<Value: Decodable & Sendable>(_ path: String) async throws(StripeError) -> StripeReply<Value> {
        try await exchange("GET", path, headers: baseHeaders(), body: [])
    }

    private func baseHeaders() -> [StripeHeader] {
        [StripeHeader("Authorization", key.bearerValue), StripeHeader("Stripe-Version", apiVersion),
         StripeHeader("Accept", "application/json")]
    }

    private func exchange<Value: Decodable & Sendable>(_ method: String, _ path: String, headers: [StripeHeader], body: [UInt8]) async throws(StripeError) -> StripeReply<Value> {
        let base = apiBase.absoluteString.hasSuffix("/") ? String(apiBase.absoluteString.dropLast()) : apiBase.absoluteString
        guard let url = URL(string: base + path) else { throw .invalidIdentifier("a request path") }
        let request = StripeHTTPRequest(method: method, url: url, headers: headers, body: body, timeout: timeout)
        let response: StripeHTTPResponse
        do { response = try await transport.send(request) } catch { throw .transport(error) }
        guard (200..<300).contains(response.status) else { throw .api(StripeAPIError(response: response)) }
        let value: Value
        do { value = try JSONDecoder().decode(Value.self, from: Data(response.body)) } catch {
            throw .unexpectedAnswer("HTTP \(response.status) body is not a \(Value.self)")
        }
        return StripeReply(value: value, replayed: response.headers["idempotent-replayed"]?.lowercased() == "true",
                           requestID: response.headers["request-id"])
    }

    // MARK: Identifiers

    /// Whether `text` is a Stripe-style identifier: 1...255 of `[A-Za-z0-9_]`.
    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
        }
    }

    /// `id` when it is an identifier with `prefix`, so input can never reshape a request path.
    static func checked(_ id: String, prefix: String) throws(StripeError) -> String {
        guard isIdentifier(id), id.hasPrefix(prefix) else {
            throw .invalidIdentifier(prefix.isEmpty ? "an object id" : "an id starting with \(prefix)")
        }
        return id
    }
}

/// Deterministic Idempotency-Keys: the same operation on the same challenge and credential always
/// gets the same key, so a retry (after a timeout, a crash, a second racer) can never act twice.
public enum StripeIdempotency {
    /// `payrail-<operation>-<48 hex of SHA-256 over the parts>`; secrets among the parts are hashed,
    /// never sent (Stripe logs keys in the dashboard).
    public static func key(_ operation: String, _ parts: [String]) -> String {
        var bytes = Array("payrail-stripe-idempotency-v1".utf8)
        for part in [operation] + parts {
            bytes.append(0)
            bytes += Array(String(part.utf8.count).utf8)
            bytes.append(0x3A)
            bytes += Array(part.utf8)
        }
        return "payrail-\(operation)-" + String(Hex.encode(SHA256.hash(bytes)).prefix(48))
    }
}
