// The x402 version 2 messages (x402-specification-v2.md section 5), as value types that convert to
// and from `JSONValue`. Unknown members are ignored on read, as the spec's pydantic reference does;
// `extra`, `payload` and `extensions` stay open JSON because schemes and extensions define them.

import PayRailCrypto

/// The resource a `PaymentRequired` is about (`ResourceInfo`).
public struct X402ResourceInfo: Hashable, Sendable {
    /// The absolute URL of the protected resource; required.
    public var url: String
    /// What the resource is, for humans.
    public var description: String?
    /// The media type the resource returns.
    public var mimeType: String?

    /// Makes a resource description.
    public init(url: String, description: String? = nil, mimeType: String? = nil) {
        self.url = url
        self.description = description
        self.mimeType = mimeType
    }

    init(json: JSONValue, path: String) throws(WireError) {
        let object = try X402Object(json, path: path)
        url = try object.string("url")
        description = try object.optionalString("description")
        mimeType = try object.optionalString("mimeType")
    }

    /// The JSON form (absent optionals are omitted rather than `null`, as the SDK writes them).
    public var json: JSONValue {
        var members: [String: JSONValue] = ["url": .string(url)]
        if let description { members["description"] = .string(description) }
        if let mimeType { members["mimeType"] = .string(mimeType) }
        return .object(members)
    }
}

/// One way to pay (`PaymentRequirements`): a scheme on a network, for an atomic amount of an asset.
public struct X402PaymentRequirements: Hashable, Sendable {
    /// The payment scheme (`exact`, `auth-capture`, ...).
    public var scheme: String
    /// The CAIP-2 network (`lnbtc:000000000019d6689c085ae165831e93`, `card:visa`, `payrail:fake`).
    public var network: String
    /// The amount in the asset's atomic units, a decimal string (may exceed 64 bits for tokens).
    public var amount: String
    /// The asset: a token address, `BTC`, or an ISO 4217 code.
    public var asset: String
    /// Who is paid, in the network's terms.
    public var payTo: String
    /// How long the payer has to complete the payment.
    public var maxTimeoutSeconds: Int
    /// Scheme-specific fields; empty means absent.
    public var extra: [String: JSONValue]

    /// The largest `maxTimeoutSeconds` accepted (one year): bigger values are a bug or an attack.
    public static let maximumTimeoutSeconds = 31_536_000

    /// Makes requirements, checking the shapes every x402 peer and `x402-conformance` insist on.
    ///
    /// - Throws: `WireError.malformed` when a field is empty, the amount is not a positive string of
    ///   digits, or the timeout is out of range.
    public init(
        scheme: String, network: String, amount: String, asset: String, payTo: String,
        maxTimeoutSeconds: Int, extra: [String: JSONValue] = [:]
    ) throws(WireError) {
        for (name, value) in [("scheme", scheme), ("network", network), ("asset", asset), ("payTo", payTo)] {
            guard X402Syntax.isPlainText(value, maximum: 256) else {
                throw WireError(.malformed, "x402 \(name) must be a non-empty printable string of at most 256 bytes")
            }
        }
        guard X402Syntax.isAtomicAmount(amount) else {
            throw WireError(.malformed, "x402 amount must be a positive decimal string of atomic units")
        }
        guard maxTimeoutSeconds >= 1, maxTimeoutSeconds <= Self.maximumTimeoutSeconds else {
            throw WireError(.malformed, "x402 maxTimeoutSeconds must be between 1 and \(Self.maximumTimeoutSeconds)")
        }
        self.scheme = scheme
        self.network = network
        self.amount = amount
        self.asset = asset
        self.payTo = payTo
        self.maxTimeoutSeconds = maxTimeoutSeconds
        self.extra = extra
    }

    /// Reads requirements from their JSON object.
    public init(json: JSONValue) throws(WireError) {
        try self.init(json: json, path: "PaymentRequirements")
    }

    init(json: JSONValue, path: String) throws(WireError) {
        let object = try X402Object(json, path: path)
        let amount = try object.string("amount")
        guard X402Syntax.isAtomicAmount(amount) else {
            throw WireError(.malformed, "x402 \(object.name("amount")) must be a positive decimal string of atomic units")
        }
        try self.init(
            scheme: object.string("scheme"), network: object.string("network"), amount: amount,
            asset: object.string("asset"), payTo: object.string("payTo"),
            maxTimeoutSeconds: object.positiveInteger("maxTimeoutSeconds", maximum: Self.maximumTimeoutSeconds),
            extra: object.optionalObject("extra"))
    }

    /// The JSON form; `extra` is omitted when empty.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "scheme": .string(scheme), "network": .string(network), "amount": .string(amount),
            "asset": .string(asset), "payTo": .string(payTo), "maxTimeoutSeconds": .number(Double(maxTimeoutSeconds)),
        ]
        if !extra.isEmpty { members["extra"] = .object(extra) }
        return .object(members)
    }

    /// A string member of `extra`, or `nil` when absent or not a string.
    public func extraString(_ key: String) -> String? {
        if case .string(let text)? = extra[key] { return text }
        return nil
    }
}

/// The body of a `PAYMENT-REQUIRED` header: what the server accepts for a resource.
public struct X402PaymentRequired: Hashable, Sendable {
    /// The version this type speaks; the header is always version 2.
    public static let version = 2
    /// Why payment is (still) required, e.g. after a refused credential.
    public var error: String?
    /// The resource being sold.
    public var resource: X402ResourceInfo
    /// The ways to pay, in the server's order of preference.
    public var accepts: [X402PaymentRequirements]
    /// Extensions by id (`payment-identifier`, ...), each `{info, schema}`.
    public var extensions: [String: JSONValue]

    /// Makes a payment-required message.
    public init(
        resource: X402ResourceInfo, accepts: [X402PaymentRequirements], error: String? = nil,
        extensions: [String: JSONValue] = [:]
    ) {
        self.resource = resource
        self.accepts = accepts
        self.error = error
        self.extensions = extensions
    }

    /// Reads the decoded JSON of a `PAYMENT-REQUIRED` header (version 2 only).
    public init(json: JSONValue) throws(WireError) {
        let object = try X402Object(json, path: "PaymentRequired")
        _ = try object.version(allowed: [2])
        error = try object.optionalString("error")
        guard let resourceJSON = object.members["resource"], resourceJSON != .null else {
            throw WireError(.missingField, "x402 PaymentRequired.resource is required in version 2")
        }
        resource = try X402ResourceInfo(json: resourceJSON, path: "PaymentRequired.resource")
        var accepts: [X402PaymentRequirements] = []
        for (index, item) in try object.array("accepts").enumerated() {
            accepts.append(try X402PaymentRequirements(json: item, path: "PaymentRequired.accepts[\(index)]"))
        }
        self.accepts = accepts
        extensions = try object.optionalObject("extensions")
    }

    /// The JSON form.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "x402Version": .number(Double(Self.version)), "resource": resource.json, "accepts": .array(accepts.map(\.json)),
        ]
        if let error { members["error"] = .string(error) }
        if !extensions.isEmpty { members["extensions"] = .object(extensions) }
        return .object(members)
    }
}

/// The body of a `PAYMENT-SIGNATURE` header: the chosen requirements and the scheme's proof.
public struct X402PaymentPayload: Hashable, Sendable {
    /// The version this type speaks.
    public static let version = 2
    /// The resource, echoed by the client (optional).
    public var resource: X402ResourceInfo?
    /// The requirements the client chose, echoed exactly.
    public var accepted: X402PaymentRequirements
    /// The scheme-specific proof (`preimage`, `token`/`paymentId`, `voucher`). Secret.
    public var payload: [String: JSONValue]
    /// The echoed extensions, with the client's additions (e.g. a payment identifier).
    public var extensions: [String: JSONValue]

    /// Makes a payment payload.
    public init(
        accepted: X402PaymentRequirements, payload: [String: JSONValue], resource: X402ResourceInfo? = nil,
        extensions: [String: JSONValue] = [:]
    ) {
        self.accepted = accepted
        self.payload = payload
        self.resource = resource
        self.extensions = extensions
    }

    /// Reads the decoded JSON of a `PAYMENT-SIGNATURE` header (version 2 only).
    public init(json: JSONValue) throws(WireError) {
        let object = try X402Object(json, path: "PaymentPayload")
        _ = try object.version(allowed: [2])
        if let resourceJSON = object.members["resource"], resourceJSON != .null {
            resource = try X402ResourceInfo(json: resourceJSON, path: "PaymentPayload.resource")
        } else {
            resource = nil
        }
        guard let acceptedJSON = object.members["accepted"], acceptedJSON != .null else {
            throw WireError(.missingField, "x402 PaymentPayload.accepted is required")
        }
        accepted = try X402PaymentRequirements(json: acceptedJSON, path: "PaymentPayload.accepted")
        guard object.members["payload"] != nil, object.members["payload"] != .null else {
            throw WireError(.missingField, "x402 PaymentPayload.payload is required")
        }
        payload = try object.optionalObject("payload")
        extensions = try object.optionalObject("extensions")
    }

    /// The JSON form.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "x402Version": .number(Double(Self.version)), "accepted": accepted.json, "payload": .object(payload),
        ]
        if let resource { members["resource"] = resource.json }
        if !extensions.isEmpty { members["extensions"] = .object(extensions) }
        return .object(members)
    }

    /// A string member of `payload`, or `nil`.
    public func payloadString(_ key: String) -> String? {
        if case .string(let text)? = payload[key] { return text }
        return nil
    }
}

/// The body of a `PAYMENT-RESPONSE` (or v1 `X-PAYMENT-RESPONSE`) header: how settlement went.
public struct X402SettlementResponse: Hashable, Sendable {
    /// Whether the payment settled.
    public var success: Bool
    /// The rail's reference (payment hash, PaymentIntent id, voucher id); `""` on failure.
    public var transaction: String
    /// The network it settled on.
    public var network: String
    /// Who paid, when known (omitted for Lightning, which does not reveal the payer).
    public var payer: String?
    /// A machine-readable reason on failure (`insufficient_funds`, `invalid_exact_lnbtc_*`, ...).
    public var errorReason: String?
    /// A human-readable explanation on failure.
    public var errorMessage: String?
    /// The settled amount in atomic units, when the scheme reports it (card authorizations).
    public var amount: String?
    /// Extension results.
    public var extensions: [String: JSONValue]

    /// Makes a settlement response.
    public init(
        success: Bool, transaction: String, network: String, payer: String? = nil, errorReason: String? = nil,
        errorMessage: String? = nil, amount: String? = nil, extensions: [String: JSONValue] = [:]
    ) {
        self.success = success
        self.transaction = transaction
        self.network = network
        self.payer = payer
        self.errorReason = errorReason
        self.errorMessage = errorMessage
        self.amount = amount
        self.extensions = extensions
    }

    /// Reads the decoded JSON of a settlement response header.
    public init(json: JSONValue) throws(WireError) {
        let object = try X402Object(json, path: "SettlementResponse")
        success = try object.bool("success")
        transaction = try object.string("transaction", allowEmpty: true)
        network = try object.string("network")
        payer = try object.optionalString("payer")
        errorReason = try object.optionalString("errorReason")
        errorMessage = try object.optionalString("errorMessage")
        amount = try object.optionalString("amount")
        if let amount, !X402Syntax.isAtomicAmount(amount) && amount != "0" {
            throw WireError(.malformed, "x402 SettlementResponse.amount must be a decimal string of atomic units")
        }
        extensions = try object.optionalObject("extensions")
    }

    /// The JSON form.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "success": .bool(success), "transaction": .string(transaction), "network": .string(network),
        ]
        if let payer { members["payer"] = .string(payer) }
        if let errorReason { members["errorReason"] = .string(errorReason) }
        if let errorMessage { members["errorMessage"] = .string(errorMessage) }
        if let amount { members["amount"] = .string(amount) }
        if !extensions.isEmpty { members["extensions"] = .object(extensions) }
        return .object(members)
    }
}
