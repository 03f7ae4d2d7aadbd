import Foundation
import PayRailCrypto

/// `Payment-Receipt: <base64url JSON>`, sent with a 2xx answer only, never on an error.
///
/// `reference` is the rail's public reference (the payment hash for Lightning, never the preimage;
/// `pi_...` for Stripe). PayRail adds `receipt`: its signed receipt token (a compact JWS).
public struct PaymentReceipt: Hashable, Sendable {
    /// The response field name.
    public static let fieldName = "Payment-Receipt"
    /// The only status the draft defines.
    public static let success = "success"

    /// Always `success`.
    public var status: String
    /// The payment method.
    public var method: String
    /// RFC 3339 time of settlement.
    public var timestamp: String
    /// The rail's public reference.
    public var reference: String
    /// The challenge answered (required by the Lightning method).
    public var challengeId: String?
    /// Echo of the credential's `externalId` (Stripe).
    public var externalId: String?
    /// PayRail's signed receipt token.
    public var receipt: String?
    /// Any other members a method adds, kept as read.
    public var extra: [String: JSONValue]

    /// Makes a success receipt.
    public init(
        method: String, timestamp: Date, reference: String, challengeId: String? = nil,
        externalId: String? = nil, receipt: String? = nil, extra: [String: JSONValue] = [:]
    ) {
        self.status = Self.success
        self.method = method
        self.timestamp = PaymentTimestamp.format(timestamp)
        self.reference = reference
        self.challengeId = challengeId
        self.externalId = externalId
        self.receipt = receipt
        self.extra = extra
    }

    /// The JSON object (the named members win over `extra`).
    public var jsonObject: [String: JSONValue] {
        var object = extra
        object["status"] = .string(status)
        object["method"] = .string(method)
        object["timestamp"] = .string(timestamp)
        object["reference"] = .string(reference)
        if let challengeId { object["challengeId"] = .string(challengeId) }
        if let externalId { object["externalId"] = .string(externalId) }
        if let receipt { object["receipt"] = .string(receipt) }
        return object
    }

    /// The field value: base64url (no padding) of the JCS JSON.
    public func headerValue() throws(WireError) -> String {
        try PaymentJSON.encode(jsonObject, what: "receipt")
    }

    /// The longest `method`, `reference`, `challengeId` or `externalId` a receipt may carry.
    public static let maximumIdentifierLength = 512

    /// Printable ASCII (space to tilde), not empty, at most `maximumIdentifierLength`.
    static func isIdentifierText(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= maximumIdentifierLength && text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// Reads a `Payment-Receipt` value.
    ///
    /// - Throws: `.tooLarge` over 16 KB; `.malformed` for bad base64url/JSON, wrong member types, a
    ///   status other than `success` or a timestamp that is not RFC 3339; `.missingField` without
    ///   status, method, timestamp or reference.
    public static func parse(_ value: String) throws(WireError) -> PaymentReceipt {
        guard value.utf8.count <= PaymentCredential.maximumLength else {
            throw WireError(.tooLarge, "the receipt is \(value.utf8.count) bytes; at most \(PaymentCredential.maximumLength) are read")
        }
        let object = try PaymentJSON.decodeObject(value.trimmingWireWhitespace(), what: "receipt")
        let what = "receipt"
        let status = try PaymentJSON.requiredString(object, "status", in: what)
        guard status == success else { throw WireError(.malformed, "receipt.status is \"\(status.prefix(20))\", not success") }
        let timestamp = try PaymentJSON.requiredString(object, "timestamp", in: what)
        var receipt = PaymentReceipt(
            method: try PaymentJSON.requiredString(object, "method", in: what),
            timestamp: try PaymentTimestamp.parse(timestamp),
            reference: try PaymentJSON.requiredString(object, "reference", in: what),
            challengeId: try PaymentJSON.optionalString(object, "challengeId", in: what),
            externalId: try PaymentJSON.optionalString(object, "externalId", in: what),
            receipt: try PaymentJSON.optionalString(object, "receipt", in: what))
        receipt.timestamp = timestamp
        // These are identifiers an agent records and prints: a server must not be able to write
        // terminal escapes, forged lines or megabytes into a ledger through them.
        for (name, text) in [("method", receipt.method), ("reference", receipt.reference)] + [
            ("challengeId", receipt.challengeId), ("externalId", receipt.externalId),
        ].compactMap({ pair in pair.1.map { (pair.0, $0) } }) {
            guard isIdentifierText(text) else {
                throw WireError(.malformed, "receipt.\(name) is not printable ASCII of at most \(maximumIdentifierLength) characters")
            }
        }
        receipt.extra = object.filter { !["status", "method", "timestamp", "reference", "challengeId", "externalId", "receipt"].contains($0.key) }
        return receipt
    }
}
