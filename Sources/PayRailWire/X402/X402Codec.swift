// The x402 header encodings: standard base64 WITH padding over UTF-8 JSON (transports-v2/http.md).
// We always write the padded form because the Python SDK's decoder rejects unpadded input; we read
// missing padding too because other peers omit it, but refuse the URL alphabet, whitespace inside the
// value, and anything that is not a JSON object.

import PayRailCrypto

/// The header field names x402 uses.
public enum X402HeaderName {
    /// Version 2 challenge, sent with 402.
    public static let paymentRequired = "PAYMENT-REQUIRED"
    /// Version 2 credential, sent by the client on the retry.
    public static let paymentSignature = "PAYMENT-SIGNATURE"
    /// Version 2 settlement result, sent with 200 (success) or 402 (failure).
    public static let paymentResponse = "PAYMENT-RESPONSE"
    /// Version 1 credential.
    public static let xPayment = "X-PAYMENT"
    /// Version 1 settlement result.
    public static let xPaymentResponse = "X-PAYMENT-RESPONSE"
}

/// What a 402 response offers in x402, in whichever version the server spoke.
public enum X402Challenge: Hashable, Sendable {
    /// A version 2 `PAYMENT-REQUIRED` header.
    case version2(X402PaymentRequired)
    /// A version 1 JSON body.
    case version1(X402V1PaymentRequired)
}

/// Encodes and decodes the x402 headers and the version 1 body. Pure functions, no I/O.
public enum X402Codec {
    /// Headers we write stay strictly below this many bytes (8 KB), so no proxy truncates them.
    public static let maximumWrittenHeaderBytes = 8192
    /// Headers we read may be at most this many bytes (16 KB); larger ones are refused before decoding.
    public static let maximumReadHeaderBytes = 16384
    /// A version 1 402 body may be at most this many bytes.
    public static let maximumVersion1BodyBytes = 65536

    // MARK: Version 2, written and read

    /// The `PAYMENT-REQUIRED` value for a message.
    ///
    /// - Throws: `missingField` without any `accepts`, `malformed` when a network is not of the
    ///   CAIP-2 shape x402 peers check, `tooLarge` when the value would reach 8 KB.
    public static func encodePaymentRequired(_ message: X402PaymentRequired) throws(WireError) -> String {
        guard !message.accepts.isEmpty else {
            throw WireError(.missingField, "an x402 PaymentRequired needs at least one entry in accepts")
        }
        for requirements in message.accepts where !X402Network.isCAIP2(requirements.network) {
            throw WireError(.malformed, "x402 network \"\(requirements.network)\" is not of the CAIP-2 shape namespace:reference")
        }
        return try encode(message.json, what: "PAYMENT-REQUIRED")
    }

    /// Reads a `PAYMENT-REQUIRED` value.
    ///
    /// - Throws: `tooLarge` over 16 KB, `malformed` for bad base64 or JSON, `unsupported` for another
    ///   version, `missingField`/`malformed` for a message of the wrong shape.
    public static func decodePaymentRequired(_ header: String) throws(WireError) -> X402PaymentRequired {
        try X402PaymentRequired(json: decodeHeaderJSON(header))
    }

    /// The `PAYMENT-SIGNATURE` value for a payload.
    ///
    /// - Throws: `tooLarge` when the value would reach 8 KB.
    public static func encodePaymentSignature(_ payload: X402PaymentPayload) throws(WireError) -> String {
        try encode(payload.json, what: "PAYMENT-SIGNATURE")
    }

    /// Reads a `PAYMENT-SIGNATURE` value (the server side of the retry).
    ///
    /// - Throws: `tooLarge` over 16 KB (checked before decoding), otherwise as `decodePaymentRequired`.
    public static func decodePaymentSignature(_ header: String) throws(WireError) -> X402PaymentPayload {
        try X402PaymentPayload(json: decodeHeaderJSON(header))
    }

    /// The `PAYMENT-RESPONSE` value for a settlement result.
    public static func encodePaymentResponse(_ response: X402SettlementResponse) throws(WireError) -> String {
        try encode(response.json, what: "PAYMENT-RESPONSE")
    }

    /// Reads a `PAYMENT-RESPONSE` (or version 1 `X-PAYMENT-RESPONSE`) value.
    public static func decodePaymentResponse(_ header: String) throws(WireError) -> X402SettlementResponse {
        try X402SettlementResponse(json: decodeHeaderJSON(header))
    }

    // MARK: Version 1, read only

    /// Reads a version 1 402 body.
    ///
    /// - Throws: `tooLarge` over 64 KB, `malformed` for bad JSON, `unsupported` for another version.
    public static func decodeVersion1PaymentRequired(body: [UInt8]) throws(WireError) -> X402V1PaymentRequired {
        guard body.count <= maximumVersion1BodyBytes else {
            throw WireError(.tooLarge, "an x402 version 1 body over \(maximumVersion1BodyBytes) bytes is refused")
        }
        return try X402V1PaymentRequired(json: parseJSON(body, what: "x402 version 1 body"))
    }

    /// Reads a version 1 `X-PAYMENT` value.
    public static func decodeVersion1Payment(_ header: String) throws(WireError) -> X402V1PaymentPayload {
        try X402V1PaymentPayload(json: decodeHeaderJSON(header))
    }

    /// Reads a version 1 `X-PAYMENT-RESPONSE` value (same shape as version 2's settlement response).
    public static func decodeVersion1PaymentResponse(_ header: String) throws(WireError) -> X402SettlementResponse {
        try decodePaymentResponse(header)
    }

    /// Finds the x402 challenge in a 402 response: the version 2 header when present (it wins, as the
    /// SDK's `detect_payment_required_version` decides), else a version 1 body.
    ///
    /// - Returns: `nil` when the response carries neither (a body that is not x402 JSON is not an error).
    /// - Throws: when a `PAYMENT-REQUIRED` header is present but unreadable, or the body declares
    ///   `x402Version` 1 but is malformed.
    public static func readChallenge(headers: HTTPFields, body: [UInt8]) throws(WireError) -> X402Challenge? {
        if let header = headers[X402HeaderName.paymentRequired] {
            return .version2(try decodePaymentRequired(header))
        }
        guard body.count <= maximumVersion1BodyBytes, let json = try? CanonicalJSON.parse(body),
              case .object(let members) = json, members["x402Version"] == .number(1)
        else { return nil }
        return .version1(try X402V1PaymentRequired(json: json))
    }

    // MARK: Shared

    /// Decodes any x402 header value to its JSON object, with the 16 KB bound applied first.
    public static func decodeHeaderJSON(_ header: String) throws(WireError) -> JSONValue {
        guard header.utf8.count <= maximumReadHeaderBytes else {
            throw WireError(.tooLarge, "an x402 header over \(maximumReadHeaderBytes) bytes is refused")
        }
        let trimmed = trimOptionalWhitespace(header)
        guard !trimmed.isEmpty else { throw WireError(.missingField, "the x402 header is empty") }
        let bytes: [UInt8]
        do {
            bytes = try Base64.decode(trimmed)
        } catch {
            throw WireError(.malformed, "the x402 header is not standard base64 (\(error.code))")
        }
        let json = try parseJSON(bytes, what: "x402 header")
        guard case .object = json else { throw WireError(.malformed, "the x402 header does not hold a JSON object") }
        return json
    }

    static func parseJSON(_ bytes: [UInt8], what: String) throws(WireError) -> JSONValue {
        do {
            return try CanonicalJSON.parse(bytes)
        } catch {
            throw WireError(.malformed, "the \(what) is not valid JSON (\(error.code) at byte \(error.offset))")
        }
    }

    private static func encode(_ json: JSONValue, what: String) throws(WireError) -> String {
        let bytes: [UInt8]
        do {
            bytes = try CanonicalJSON.serialize(json)
        } catch {
            throw WireError(.malformed, "the \(what) JSON cannot be serialized (\(error.code))")
        }
        let value = Base64.encode(bytes)
        guard value.utf8.count < maximumWrittenHeaderBytes else {
            throw WireError(.tooLarge, "the \(what) header would be \(value.utf8.count) bytes, at or over the 8 KB bound")
        }
        return value
    }

    private static func trimOptionalWhitespace(_ text: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        var slice = Substring(text)
        while let first = slice.first, isSpace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isSpace(last) { slice = slice.dropLast() }
        return slice
    }
}
