// JWS compact serialization (RFC 7515 section 7.1), the container of the receipts this project signs.
//
// Parsing is deliberately separate from verification: `JWSCompact` only proves the token is well formed
// and exposes what a verifier needs (algorithm, key id, the exact signing input). Choosing the key,
// matching `alg` to the key type, refusing `none` and checking claims is the receipt verifier's job.

/// The signature algorithms this project issues and verifies (RFC 7518 / RFC 8037 names).
public enum JWSAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// Ed25519 (RFC 8037); the default for receipts.
    case EdDSA
    /// ECDSA P-256 with SHA-256; the signature is the 64-byte r||s, not DER.
    case ES256
    /// HMAC-SHA256 with a shared secret; only for single-node deployments where issuer and verifier are one.
    case HS256
}

/// Why a compact JWS was refused.
///
/// Every code describes a malformed or unsupported token: the same token will always be refused, so do
/// not retry it; ask the issuer for a new one (or fix the issuer).
public struct JWSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of defect; new codes may be added, so switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable identifier for logs and metrics.
        public let rawValue: String

        /// Creates a code from its stable identifier.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Not three dot-separated segments, or an empty header segment.
        public static let malformed = Code(rawValue: "malformed")
        /// Longer than the caller's limit; refused before any decoding work.
        public static let tooLong = Code(rawValue: "tooLong")
        /// A segment is not strict base64url (see ``Base64URL``).
        public static let badBase64 = Code(rawValue: "badBase64")
        /// The header is not a JSON object, repeats a name, or has a missing or mistyped `alg`/`kid`.
        public static let badHeader = Code(rawValue: "badHeader")
        /// The header carries `crit` (or `b64`): extensions we do not implement, so RFC 7515 section 4.1.11
        /// requires rejecting the token.
        public static let unsupportedCriticalHeader = Code(rawValue: "unsupportedCriticalHeader")

        /// The stable identifier.
        public var description: String { rawValue }
    }

    /// What was wrong.
    public let code: Code
    /// Which part of the token: `"token"`, `"header"`, `"payload"` or `"signature"`.
    public let segment: String
    /// A human-readable detail, such as the underlying base64 or JSON error.
    public let detail: String

    /// Creates an error.
    public init(code: Code, segment: String, detail: String = "") {
        self.code = code
        self.segment = segment
        self.detail = detail
    }

    /// A sentence for logs that also says what to do about it.
    public var description: String {
        let suffix = detail.isEmpty ? "" : ": \(detail)"
        return "JWS refused (\(code.rawValue) in \(segment))\(suffix); "
            + "the token itself is invalid, retrying it will not help, obtain a new one from the issuer"
    }
}

/// A parsed compact JWS: exactly three base64url segments, header a JSON object.
///
/// Parsing never verifies the signature. `algorithm` is reported as written, even `"none"` or an unknown
/// name, so the verifier can refuse it with its own error.
public struct JWSCompact: Sendable, Hashable {
    /// Default limit on token length in bytes; receipts are a few hundred bytes, so this only stops abuse.
    public static let defaultMaxLength = 8192

    /// Decoded protected header JSON, byte for byte as the issuer wrote it.
    public let headerBytes: [UInt8]
    /// Decoded payload.
    public let payload: [UInt8]
    /// Decoded signature (may be empty; whether that is acceptable depends on `alg`, the verifier decides).
    public let signature: [UInt8]
    /// ASCII of `"<b64 header>.<b64 payload>"` exactly as received: what the signature covers.
    public let signingInput: [UInt8]
    /// Header `alg` as given (may be `"none"` or unknown; the verifier decides).
    public let algorithm: String
    /// Header `kid`, if present.
    public let keyID: String?
    /// All header parameters.
    public let header: [String: JSONValue]

    /// `algorithm` as one of the algorithms this project implements, or nil for anything else
    /// (including `"none"`), which a verifier must refuse.
    public var knownAlgorithm: JWSAlgorithm? { JWSAlgorithm(rawValue: algorithm) }

    /// Parses a compact JWS strictly.
    ///
    /// Refuses: more or fewer than three segments, an empty header segment, any byte outside strict
    /// base64url in a segment, a header that is not a JSON object (or has duplicate names, per
    /// ``CanonicalJSON/parse(_:)``), a missing or non-string `alg`, a non-string `kid`, and any `crit` or
    /// `b64` parameter. An empty payload or signature segment is allowed here.
    public init(parsing token: String, maxLength: Int = JWSCompact.defaultMaxLength) throws(JWSError) {
        var token = token
        let byteCount = token.utf8.count
        guard byteCount <= maxLength else {
            throw JWSError(code: .tooLong, segment: "token", detail: "\(byteCount) bytes, limit \(maxLength)")
        }
        // Native Swift strings are contiguous UTF-8; makeContiguousUTF8 is free then, and copies once if
        // the string was bridged, so the parse below always runs on one buffer.
        token.makeContiguousUTF8()
        let parsed: Result<JWSCompact, JWSError>? = token.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(JWSError) -> JWSCompact in try JWSCompact(bytes: bytes) }
        }
        guard let parsed else {
            throw JWSError(code: .malformed, segment: "token", detail: "not contiguous UTF-8")
        }
        self = try parsed.get()
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) throws(JWSError) {
        // One pass to find the two separators; a third one means a JWE or garbage.
        var firstDot = -1
        var secondDot = -1
        for index in 0..<bytes.count where bytes[index] == UInt8(ascii: ".") {
            if firstDot < 0 {
                firstDot = index
            } else if secondDot < 0 {
                secondDot = index
            } else {
                throw JWSError(code: .malformed, segment: "token", detail: "more than three segments")
            }
        }
        guard secondDot >= 0 else {
            throw JWSError(code: .malformed, segment: "token", detail: "fewer than three segments")
        }
        guard firstDot > 0 else {
            throw JWSError(code: .malformed, segment: "header", detail: "empty header segment")
        }

        headerBytes = try Self.decodeSegment(bytes, 0, firstDot, name: "header")
        payload = try Self.decodeSegment(bytes, firstDot + 1, secondDot, name: "payload")
        signature = try Self.decodeSegment(bytes, secondDot + 1, bytes.count, name: "signature")
        signingInput = Array(UnsafeBufferPointer(rebasing: bytes[0..<secondDot]))

        let parsedHeader: [String: JSONValue]?
        do {
            parsedHeader = try headerBytes.withUnsafeBufferPointer { (buffer) throws(CanonicalJSONError) in
                var parser = JSONParser(buffer)
                return try parser.parseObjectDocument()
            }
        } catch {
            throw JWSError(code: .badHeader, segment: "header", detail: error.description)
        }
        guard let parsedHeader else {
            throw JWSError(code: .badHeader, segment: "header", detail: "not a JSON object")
        }
        if parsedHeader["crit"] != nil {
            throw JWSError(code: .unsupportedCriticalHeader, segment: "header", detail: "crit is not supported")
        }
        if parsedHeader["b64"] != nil {
            // RFC 7797 requires b64 to be listed in crit; alone it is malformed, and we support neither.
            throw JWSError(code: .unsupportedCriticalHeader, segment: "header", detail: "b64 is not supported")
        }
        guard case .string(let algorithm)? = parsedHeader["alg"] else {
            throw JWSError(code: .badHeader, segment: "header", detail: "alg missing or not a string")
        }
        switch parsedHeader["kid"] {
        case nil:
            keyID = nil
        case .string(let kid)?:
            keyID = kid
        default:
            throw JWSError(code: .badHeader, segment: "header", detail: "kid is not a string")
        }
        self.algorithm = algorithm
        header = parsedHeader
    }

    private static func decodeSegment(
        _ bytes: UnsafeBufferPointer<UInt8>,
        _ start: Int,
        _ end: Int,
        name: String
    ) throws(JWSError) -> [UInt8] {
        let segment = UnsafeBufferPointer(rebasing: bytes[start..<end])
        // JOSE forbids padding (RFC 7515 section 2), unlike the general decoder which tolerates it.
        if segment.last == UInt8(ascii: "=") {
            throw JWSError(code: .badBase64, segment: name, detail: "padding is not allowed in JWS")
        }
        do {
            return try Base64URL.decode(bytes: segment)
        } catch {
            throw JWSError(code: .badBase64, segment: name, detail: error.description)
        }
    }

    /// Builds a token: header JSON (alg, kid, typ) and payload bytes, signed by `sign`.
    ///
    /// The header is written in RFC 8785 canonical form so that the same header always yields the same
    /// token prefix. `sign` receives the ASCII signing input and returns the raw signature bytes (for
    /// ES256 the 64-byte r||s). `header` must contain a string `alg` and no `crit`, so that every token we
    /// emit is one we would accept ourselves. Errors thrown by `sign` are rethrown unchanged.
    public static func serialize(
        header: [String: JSONValue],
        payload: [UInt8],
        sign: ([UInt8]) throws -> [UInt8]
    ) throws -> String {
        guard case .string? = header["alg"] else {
            throw JWSError(code: .badHeader, segment: "header", detail: "alg missing or not a string")
        }
        if header["crit"] != nil || header["b64"] != nil {
            throw JWSError(code: .unsupportedCriticalHeader, segment: "header", detail: "crit and b64 are not supported")
        }
        switch header["kid"] {
        case nil, .string?:
            break
        default:
            throw JWSError(code: .badHeader, segment: "header", detail: "kid is not a string")
        }
        let headerJSON: [UInt8]
        do {
            headerJSON = try CanonicalJSON.serialize(.object(header))
        } catch {
            throw JWSError(code: .badHeader, segment: "header", detail: error.description)
        }
        var signingInput = Array(Base64URL.encode(headerJSON).utf8)
        signingInput.append(UInt8(ascii: "."))
        signingInput.append(contentsOf: Base64URL.encode(payload).utf8)
        let signature = try sign(signingInput)
        return String(decoding: signingInput, as: UTF8.self) + "." + Base64URL.encode(signature)
    }
}
