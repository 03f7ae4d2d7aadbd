import Foundation
import PayRailCrypto

/// One `WWW-Authenticate: Payment ...` challenge (draft-httpauth-payment-02): one offer.
///
/// `request` and `opaque` are kept as the exact base64url strings seen on the wire, because the
/// challenge id is an HMAC over those strings and the credential must echo them unchanged.
public struct PaymentChallenge: Hashable, Sendable {
    /// The authentication scheme name.
    public static let scheme = "Payment"
    /// The field a client answers in by default.
    public static let authorizationField = "Authorization"
    /// The only allowed value of the `header` parameter, and the field the client then answers in
    /// (so an `Authorization: Bearer` the request already needs can stay).
    public static let paymentAuthorizationField = "Payment-Authorization"
    /// Challenges we write stay under this many bytes (the draft: servers SHOULD stay under 8 KB).
    public static let maximumHeaderLength = 8 * 1024

    /// The challenge id: HMAC-bound to the other parameters (see ``ChallengeIDKeyring``); echoed unchanged.
    public var id: String
    /// The protection space (the server's name).
    public var realm: String
    /// The payment method (`lightning`, `stripe`, `fake`): lowercase letters only.
    public var method: String
    /// The intent (`charge`): letters, digits and `-`.
    public var intent: String
    /// base64url (no padding) of the JCS JSON of the method's request.
    public var request: String
    /// RFC 3339 expiry; a client must not answer after it.
    public var expires: String?
    /// RFC 9530 digest of the request body the challenge is bound to.
    public var digest: String?
    /// Text for humans; not HMAC-bound, so never used to decide anything.
    public var description: String?
    /// base64url JCS of a flat string map the server gets back unchanged.
    public var opaque: String?
    /// `Payment-Authorization` when the credential must come in that field; `nil` for `Authorization`.
    public var header: String?

    /// Makes a challenge; give `id: ""` and call ``ChallengeIDKeyring/bind(_:)`` to fill it in.
    public init(
        id: String = "", realm: String, method: String, intent: String, request: String,
        expires: String? = nil, digest: String? = nil, description: String? = nil,
        opaque: String? = nil, header: String? = nil
    ) {
        self.id = id
        self.realm = realm
        self.method = method
        self.intent = intent
        self.request = request
        self.expires = expires
        self.digest = digest
        self.description = description
        self.opaque = opaque
        self.header = header
    }

    // MARK: Reading

    /// Reads one parsed challenge, checking every rule of draft -02.
    ///
    /// - Throws: `.unsupported` for another scheme or a `header` value other than
    ///   `Payment-Authorization` (the client must not pay such a challenge); `.missingField` for a
    ///   missing or empty `id` or another required parameter; `.malformed` for a `method`, `intent` or
    ///   `request` outside its grammar.
    public init(_ challenge: AuthChallenge) throws(WireError) {
        guard challenge.hasScheme(Self.scheme) else {
            throw WireError(.unsupported, "not a Payment challenge (scheme \(challenge.scheme))")
        }
        func required(_ name: String) throws(WireError) -> String {
            guard let value = challenge[name] else { throw WireError(.missingField, "the Payment challenge has no \(name)") }
            return value
        }
        self.init(
            id: try required("id"), realm: try required("realm"), method: try required("method"),
            intent: try required("intent"), request: try required("request"),
            expires: challenge["expires"], digest: challenge["digest"], description: challenge["description"],
            opaque: challenge["opaque"], header: challenge["header"])
        try validate()
    }

    /// Every usable Payment challenge in the values of the `WWW-Authenticate` fields, in order.
    ///
    /// Other schemes are ignored; an incomplete or invalid Payment challenge is skipped rather than
    /// fatal, so one bad offer does not hide the good ones.
    ///
    /// - Throws: `.malformed` when a value breaks the RFC 9110 grammar; `.missingField` when no usable
    ///   Payment challenge remains (the response cannot be paid in this dialect).
    public static func parseAll(_ values: [String]) throws(WireError) -> [PaymentChallenge] {
        let challenges = try AuthParameters.parseChallenges(values)
        var usable: [PaymentChallenge] = []
        var skipped: [String] = []
        for challenge in challenges where challenge.hasScheme(scheme) {
            do { usable.append(try PaymentChallenge(challenge)) } catch { skipped.append(error.reason) }
        }
        guard !usable.isEmpty else {
            let why = skipped.isEmpty ? "there is no Payment challenge" : "every Payment challenge is unusable (\(skipped.joined(separator: "; ")))"
            throw WireError(.missingField, why)
        }
        return usable
    }

    /// Every usable Payment challenge in one `WWW-Authenticate` value (see ``parseAll(_:)-([String])``).
    public static func parseAll(_ value: String) throws(WireError) -> [PaymentChallenge] {
        try parseAll([value])
    }

    /// Checks the grammar rules that both reading and writing enforce.
    func validate() throws(WireError) {
        guard !id.isEmpty else { throw WireError(.missingField, "the Payment challenge id is empty") }
        guard !method.isEmpty, method.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else {
            throw WireError(.malformed, "method \"\(method.prefix(40))\" is not lowercase letters only")
        }
        guard !intent.isEmpty, intent.utf8.allSatisfy({ AuthParameters.isAlphaNumeric($0) || $0 == 0x2D }) else {
            throw WireError(.malformed, "intent \"\(intent.prefix(40))\" is not letters, digits and '-'")
        }
        guard !request.isEmpty, AuthParameters.isToken68(request) else {
            throw WireError(.malformed, "request is not base64url")
        }
        if let header, !header.caseInsensitiveEquals(Self.paymentAuthorizationField) {
            throw WireError(.unsupported, "header=\"\(header.prefix(40))\" is not Payment-Authorization; such a challenge must not be paid")
        }
    }

    // MARK: Writing

    /// The parameters in the order the reference implementations write them.
    public var authChallenge: AuthChallenge {
        let pairs: [(String, String?)] = [
            ("id", id), ("realm", realm), ("method", method), ("intent", intent), ("request", request),
            ("expires", expires), ("digest", digest), ("description", description), ("opaque", opaque), ("header", header),
        ]
        return AuthChallenge(scheme: Self.scheme, parameters: pairs.compactMap { name, value in
            value.map { AuthParameter(name: name, value: $0) }
        })
    }

    /// The `WWW-Authenticate` value.
    ///
    /// - Throws: `.missingField`/`.malformed` as ``init(_:)`` would on reading it back, `.tooLarge`
    ///   over ``maximumHeaderLength``.
    public func headerValue() throws(WireError) -> String {
        try validate()
        let text = try AuthParameters.render(authChallenge)
        guard text.utf8.count < Self.maximumHeaderLength else {
            throw WireError(.tooLarge, "the Payment challenge is \(text.utf8.count) bytes; keep it under \(Self.maximumHeaderLength)")
        }
        return text
    }

    // MARK: Use

    /// The request field the credential must arrive in.
    public var credentialField: String { header == nil ? Self.authorizationField : Self.paymentAuthorizationField }

    /// The decoded `request` JSON object.
    public func decodedRequest() throws(WireError) -> [String: JSONValue] {
        try PaymentJSON.decodeObject(request, what: "request")
    }

    /// The decoded `opaque` map (all values strings), or `nil` without one.
    public func decodedOpaque() throws(WireError) -> [String: String]? {
        guard let opaque else { return nil }
        return try PaymentJSON.stringMap(PaymentJSON.decodeObject(opaque, what: "opaque"), in: "opaque")
    }

    /// The `expires` moment, or `nil` when the challenge has none.
    public func expiryDate() throws(WireError) -> Date? {
        guard let expires else { return nil }
        return try PaymentTimestamp.parse(expires)
    }

    /// The echo a credential carries: every parameter the challenge had, and no others.
    public var echo: [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        for parameter in authChallenge.parameterList { object[parameter.name] = .string(parameter.value) }
        return object
    }

    /// Reads a credential's echo back into a challenge (the server then re-checks its binding).
    public init(echo object: [String: JSONValue]) throws(WireError) {
        let what = "credential challenge"
        self.init(
            id: try PaymentJSON.requiredString(object, "id", in: what),
            realm: try PaymentJSON.requiredString(object, "realm", in: what),
            method: try PaymentJSON.requiredString(object, "method", in: what),
            intent: try PaymentJSON.requiredString(object, "intent", in: what),
            request: try PaymentJSON.requiredString(object, "request", in: what),
            expires: try PaymentJSON.optionalString(object, "expires", in: what),
            digest: try PaymentJSON.optionalString(object, "digest", in: what),
            description: try PaymentJSON.optionalString(object, "description", in: what),
            opaque: try PaymentJSON.optionalString(object, "opaque", in: what),
            header: try PaymentJSON.optionalString(object, "header", in: what))
        try validate()
    }
}

extension AuthParameters {
    static func isAlphaNumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}
