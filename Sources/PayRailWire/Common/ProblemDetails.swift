import PayRailCrypto

/// One problem type of the Payment scheme: its URI, its title and the HTTP status it is sent with.
public struct PaymentProblemType: Hashable, Sendable {
    /// The `type` URI.
    public let uri: String
    /// The short human title.
    public let title: String
    /// The HTTP status of the response carrying it.
    public let status: Int
    /// Whether the response must carry a fresh `WWW-Authenticate: Payment` challenge (every 402 does).
    public var needsFreshChallenge: Bool { status == 402 }

    /// Makes a type (methods may define their own).
    public init(uri: String, title: String, status: Int) {
        self.uri = uri
        self.title = title
        self.status = status
    }

    static let base = "https://paymentauth.org/problems/"

    /// No credential was sent.
    public static let paymentRequired = PaymentProblemType(uri: base + "payment-required", title: "Payment Required", status: 402)
    /// The amount paid is too low.
    public static let paymentInsufficient = PaymentProblemType(uri: base + "payment-insufficient", title: "Payment Insufficient", status: 402)
    /// The challenge or the authorization expired.
    public static let paymentExpired = PaymentProblemType(uri: base + "payment-expired", title: "Payment Expired", status: 402)
    /// The proof does not verify.
    public static let verificationFailed = PaymentProblemType(uri: base + "verification-failed", title: "Payment Verification Failed", status: 402)
    /// The method is not accepted here.
    public static let methodUnsupported = PaymentProblemType(uri: base + "method-unsupported", title: "Method Unsupported", status: 400)
    /// The credential is not base64url JSON of the right shape.
    public static let malformedCredential = PaymentProblemType(uri: base + "malformed-credential", title: "Malformed Credential", status: 402)
    /// The challenge id is unknown, forged or already used.
    public static let invalidChallenge = PaymentProblemType(uri: base + "invalid-challenge", title: "Invalid Challenge", status: 402)
    /// The request or its parameters are malformed (also: several Payment credentials in one request).
    public static let badRequest = PaymentProblemType(uri: base + "bad-request", title: "Bad Request", status: 400)
    /// The payload does not match the method's schema.
    public static let invalidPayload = PaymentProblemType(uri: base + "invalid-payload", title: "Invalid Payload", status: 402)
    /// Something failed on the server's side; the client may retry later.
    public static let internalPaymentError = PaymentProblemType(uri: base + "internal-payment-error", title: "Internal Payment Error", status: 500)
    /// The payment needs more action from the payer (e.g. a card asks for authentication).
    public static let paymentActionRequired = PaymentProblemType(uri: base + "payment-action-required", title: "Payment Action Required", status: 402)

    /// The Lightning charge method's own types (all 402 with a fresh challenge).
    public enum Lightning {
        static let base = PaymentProblemType.base + "lightning/"
        /// The credential cannot be decoded or the preimage is not 64 lowercase hex.
        public static let malformedCredential = PaymentProblemType(uri: base + "malformed-credential", title: "Malformed Credential", status: 402)
        /// The challenge is unknown or already consumed.
        public static let unknownChallenge = PaymentProblemType(uri: base + "unknown-challenge", title: "Unknown Challenge", status: 402)
        /// SHA-256 of the preimage is not the payment hash.
        public static let invalidPreimage = PaymentProblemType(uri: base + "invalid-preimage", title: "Invalid Preimage", status: 402)
        /// The invoice or the challenge expired.
        public static let expiredInvoice = PaymentProblemType(uri: base + "expired-invoice", title: "Expired Invoice", status: 402)
        /// Every Lightning type.
        public static let all = [malformedCredential, unknownChallenge, invalidPreimage, expiredInvoice]
    }

    /// Every core type of draft -02.
    public static let core = [
        paymentRequired, paymentInsufficient, paymentExpired, verificationFailed, methodUnsupported, malformedCredential,
        invalidChallenge, badRequest, invalidPayload, internalPaymentError, paymentActionRequired,
    ]
}

/// An RFC 9457 problem document (`application/problem+json`).
public struct ProblemDetails: Hashable, Sendable {
    /// The media type to send it with.
    public static let mediaType = "application/problem+json"

    /// The problem type URI.
    public var type: String
    /// A short summary of the type.
    public var title: String
    /// The HTTP status.
    public var status: Int
    /// What happened this time, for humans (never a secret).
    public var detail: String
    /// A URI for this occurrence.
    public var instance: String?
    /// Extension members, such as `challengeId`.
    public var extensions: [String: JSONValue]

    /// Makes a problem document.
    public init(type: String, title: String, status: Int, detail: String, instance: String? = nil, extensions: [String: JSONValue] = [:]) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.instance = instance
        self.extensions = extensions
    }

    /// Makes a problem of a Payment problem type; `challengeID` becomes the `challengeId` extension.
    public init(_ problemType: PaymentProblemType, detail: String, instance: String? = nil, challengeID: String? = nil) {
        self.init(type: problemType.uri, title: problemType.title, status: problemType.status, detail: detail, instance: instance)
        if let challengeID { extensions["challengeId"] = .string(challengeID) }
    }

    /// The known Payment problem type this document has, if any.
    public var paymentProblemType: PaymentProblemType? {
        (PaymentProblemType.core + PaymentProblemType.Lightning.all).first { $0.uri == type }
    }

    /// The JSON object (the standard members win over extensions of the same name).
    public var jsonObject: [String: JSONValue] {
        var object = extensions
        object["type"] = .string(type)
        object["title"] = .string(title)
        object["status"] = .number(Double(status))
        object["detail"] = .string(detail)
        if let instance { object["instance"] = .string(instance) }
        return object
    }

    /// The body bytes (JCS JSON).
    public func encoded() throws(WireError) -> [UInt8] {
        do { return try CanonicalJSON.serialize(.object(jsonObject)) } catch {
            throw WireError(.malformed, "the problem document cannot be serialized (\(error.code))")
        }
    }

    /// Reads a problem body.
    ///
    /// - Throws: `.malformed` for JSON that is not an object, a member of the wrong type or a status
    ///   that is not an integer from 100 to 599; `.missingField` without `type` or `status`.
    ///   (RFC 9457 lets `type` default to `about:blank`; a Payment problem always names it.)
    public static func parse(_ bytes: [UInt8]) throws(WireError) -> ProblemDetails {
        guard bytes.count <= 64 * 1024 else { throw WireError(.tooLarge, "a problem body over 64 KB is not read") }
        let object = try PaymentJSON.parseObject(bytes, what: "problem")
        guard case .number(let status)? = object["status"] else {
            throw WireError(object["status"] == nil ? .missingField : .malformed, "problem.status must be a number")
        }
        guard status >= 100, status <= 599, status == status.rounded() else {
            throw WireError(.malformed, "problem.status is not an HTTP status")
        }
        let standard: Set<String> = ["type", "title", "status", "detail", "instance"]
        return ProblemDetails(
            type: try PaymentJSON.requiredString(object, "type", in: "problem"),
            title: try PaymentJSON.optionalString(object, "title", in: "problem") ?? "",
            status: Int(status),
            detail: try PaymentJSON.optionalString(object, "detail", in: "problem") ?? "",
            instance: try PaymentJSON.optionalString(object, "instance", in: "problem"),
            extensions: object.filter { !standard.contains($0.key) })
    }
}
