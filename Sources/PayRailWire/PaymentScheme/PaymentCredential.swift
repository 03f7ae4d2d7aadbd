import PayRailCrypto

/// A Payment credential: `Authorization: Payment <base64url JSON {challenge, source?, payload}>`, or the
/// same in `Payment-Authorization` when the challenge asked for that field.
///
/// `payload` holds the proof (a preimage, a token): ``description`` shows only its member names.
public struct PaymentCredential: Hashable, Sendable, CustomStringConvertible {
    /// Credentials longer than this (the whole field value) are refused before any decoding.
    public static let maximumLength = 16 * 1024

    /// The echo of the challenge being answered.
    public var challenge: PaymentChallenge
    /// Who pays (a DID is recommended); servers must not require it.
    public var source: String?
    /// The method's proof.
    public var payload: [String: JSONValue]

    /// Makes a credential.
    public init(challenge: PaymentChallenge, source: String? = nil, payload: [String: JSONValue]) {
        self.challenge = challenge
        self.source = source
        self.payload = payload
    }

    /// The JSON object.
    public var jsonObject: [String: JSONValue] {
        var object: [String: JSONValue] = ["challenge": .object(challenge.echo), "payload": .object(payload)]
        if let source { object["source"] = .string(source) }
        return object
    }

    /// The field the credential goes in: `Payment-Authorization` when the challenge had `header`.
    public var fieldName: String { challenge.credentialField }

    /// The field value, `Payment <base64url JCS>`.
    ///
    /// - Throws: `.tooLarge` over ``maximumLength`` (a server would refuse it).
    public func headerValue() throws(WireError) -> String {
        let value = PaymentChallenge.scheme + " " + (try PaymentJSON.encode(jsonObject, what: "credential"))
        guard value.utf8.count <= Self.maximumLength else {
            throw WireError(.tooLarge, "the credential is \(value.utf8.count) bytes; servers accept at most \(Self.maximumLength)")
        }
        return value
    }

    /// Reads an `Authorization` (or `Payment-Authorization`) value.
    ///
    /// - Throws: `.tooLarge` over 16 KB (checked first); `.unsupported` for another scheme;
    ///   `.multipleCredentials` for several; `.malformed` for a token that is not strict base64url
    ///   of a JSON object, or a `challenge`/`payload`/`source` of the wrong type; `.missingField` for a
    ///   missing `challenge`, `payload` or required echoed parameter. Every case maps to the
    ///   `malformed-credential` problem (402 with a fresh challenge), `.multipleCredentials` to 400.
    public static func parse(_ value: String) throws(WireError) -> PaymentCredential {
        guard value.utf8.count <= maximumLength else {
            throw WireError(.tooLarge, "the credential is \(value.utf8.count) bytes; at most \(maximumLength) are accepted")
        }
        let parsed = try AuthParameters.parseCredentials(value)
        guard parsed.hasScheme(PaymentChallenge.scheme) else {
            throw WireError(.unsupported, "the credential scheme \(parsed.scheme.prefix(20)) is not Payment")
        }
        guard let token = parsed.token68 else {
            throw WireError(.malformed, "a Payment credential is one base64url token, not parameters")
        }
        let object = try PaymentJSON.decodeObject(token, what: "credential")
        guard let challenge = try PaymentJSON.optionalObject(object, "challenge", in: "credential") else {
            throw WireError(.missingField, "credential.challenge is missing")
        }
        guard let payload = try PaymentJSON.optionalObject(object, "payload", in: "credential") else {
            throw WireError(.missingField, "credential.payload is missing")
        }
        return PaymentCredential(
            challenge: try PaymentChallenge(echo: challenge),
            source: try PaymentJSON.optionalString(object, "source", in: "credential"),
            payload: payload)
    }

    /// Finds the one Payment credential of a request, server side.
    ///
    /// Looks in every `Authorization` and `Payment-Authorization` value (folded values included), and
    /// enforces that the credential came in the field its challenge chose (the `header` echo is HMAC-bound,
    /// so it tells which field the server asked for).
    ///
    /// - Returns: `nil` when the request carries no Payment credential (answer with the challenges).
    /// - Throws: `.multipleCredentials` for more than one (answer 400); `.bindingMismatch` for a credential
    ///   in the wrong field (it must not satisfy the challenge); the errors of ``parse(_:)``.
    public static func find(in fields: HTTPFields) throws(WireError) -> PaymentCredential? {
        var found: [(value: String, field: String)] = []
        for field in CredentialFields.paymentSchemeFields {
            for value in fields.values(field) {
                guard value.utf8.count <= maximumLength else {
                    throw WireError(.tooLarge, "the \(field) value is \(value.utf8.count) bytes; at most \(maximumLength) are accepted")
                }
                let challenges: [AuthChallenge]
                do { challenges = try AuthParameters.parseChallenges(value) } catch {
                    // Another scheme's odd syntax is not ours to judge; a Payment one is.
                    if value.utf8.count >= 8, value.prefix(8).lowercased() == "payment " { throw error }
                    continue
                }
                for challenge in challenges where challenge.hasScheme(PaymentChallenge.scheme) {
                    found.append((try AuthParameters.render(challenge), field))
                }
            }
        }
        guard let first = found.first else { return nil }
        guard found.count == 1 else {
            throw WireError(.multipleCredentials, "the request carries \(found.count) Payment credentials; send exactly one")
        }
        let credential = try parse(first.value)
        guard credential.fieldName.caseInsensitiveEquals(first.field) else {
            throw WireError(.bindingMismatch, "the credential arrived in \(first.field) but its challenge asked for \(credential.fieldName)")
        }
        return credential
    }

    /// The challenge echo and the payload's member names; never the proof itself.
    public var description: String {
        "PaymentCredential(challenge: \(challenge.id), method: \(challenge.method), payload keys: [\(payload.keys.sorted().joined(separator: ","))], source: \(source ?? "-"))"
    }
}
