// x402 version 1 (x402-specification-v1.md, transports-v1/http.md), read only: deployed servers and
// clients still speak it. The 402 carries its requirements in the JSON body instead of a header, the
// client answers with `X-PAYMENT`, and the server with `X-PAYMENT-RESPONSE`.

import PayRailCrypto

/// One way to pay in version 1: like version 2, but with `maxAmountRequired`, a network NAME
/// (`base-sepolia`) and the resource inside each entry.
public struct X402V1PaymentRequirements: Hashable, Sendable {
    /// The payment scheme.
    public var scheme: String
    /// The network name (not CAIP-2 in version 1, e.g. `base-sepolia`).
    public var network: String
    /// The amount in atomic units, a decimal string.
    public var maxAmountRequired: String
    /// The asset (token address or currency code).
    public var asset: String
    /// Who is paid.
    public var payTo: String
    /// The URL of the resource (required by the spec).
    public var resource: String
    /// What the resource is (required by the spec; some SDKs omit it, so absent reads as `nil`).
    public var description: String?
    /// The media type of the resource.
    public var mimeType: String?
    /// The JSON schema of the response, if the server publishes one.
    public var outputSchema: JSONValue?
    /// How long the payer has.
    public var maxTimeoutSeconds: Int
    /// Scheme-specific fields.
    public var extra: [String: JSONValue]

    init(json: JSONValue, path: String) throws(WireError) {
        let object = try X402Object(json, path: path)
        scheme = try object.string("scheme")
        network = try object.string("network")
        maxAmountRequired = try object.string("maxAmountRequired")
        guard X402Syntax.isAtomicAmount(maxAmountRequired) else {
            throw WireError(.malformed, "x402 \(object.name("maxAmountRequired")) must be a positive decimal string of atomic units")
        }
        asset = try object.string("asset")
        payTo = try object.string("payTo")
        resource = try object.string("resource")
        description = try object.optionalString("description")
        mimeType = try object.optionalString("mimeType")
        outputSchema = object.members["outputSchema"].flatMap { $0 == .null ? nil : $0 }
        maxTimeoutSeconds = try object.positiveInteger(
            "maxTimeoutSeconds", maximum: X402PaymentRequirements.maximumTimeoutSeconds)
        extra = try object.optionalObject("extra")
    }

    /// The same offer in version 2's shape, so one mapping to `Offer` serves both versions.
    ///
    /// - Throws: `WireError.malformed` when a field breaks version 2's rules.
    public func asVersion2() throws(WireError) -> X402PaymentRequirements {
        try X402PaymentRequirements(
            scheme: scheme, network: network, amount: maxAmountRequired, asset: asset, payTo: payTo,
            maxTimeoutSeconds: maxTimeoutSeconds, extra: extra)
    }
}

/// A version 1 402 body: `{"x402Version":1,"error":…,"accepts":[…]}`.
public struct X402V1PaymentRequired: Hashable, Sendable {
    /// Why payment is required (the spec requires it; read as optional like the SDK does).
    public var error: String?
    /// The ways to pay.
    public var accepts: [X402V1PaymentRequirements]

    /// Reads the parsed JSON body of a version 1 402 response.
    public init(json: JSONValue) throws(WireError) {
        let object = try X402Object(json, path: "PaymentRequired")
        _ = try object.version(allowed: [1])
        error = try object.optionalString("error")
        var accepts: [X402V1PaymentRequirements] = []
        for (index, item) in try object.array("accepts").enumerated() {
            accepts.append(try X402V1PaymentRequirements(json: item, path: "PaymentRequired.accepts[\(index)]"))
        }
        self.accepts = accepts
    }
}

/// The decoded `X-PAYMENT` header of version 1: scheme, network and the scheme's proof.
public struct X402V1PaymentPayload: Hashable, Sendable {
    /// The payment scheme.
    public var scheme: String
    /// The network name.
    public var network: String
    /// The scheme-specific proof. Secret.
    public var payload: [String: JSONValue]

    /// Reads the decoded JSON of an `X-PAYMENT` header.
    public init(json: JSONValue) throws(WireError) {
        let object = try X402Object(json, path: "PaymentPayload")
        _ = try object.version(allowed: [1])
        scheme = try object.string("scheme")
        network = try object.string("network")
        guard object.members["payload"] != nil, object.members["payload"] != .null else {
            throw WireError(.missingField, "x402 PaymentPayload.payload is required")
        }
        payload = try object.optionalObject("payload")
    }
}
