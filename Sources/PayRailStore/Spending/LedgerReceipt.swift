import Foundation

// What a server's standard receipt (draft-httpauth-payment-02, "Payment-Receipt Header": base64url
// JSON {status, method, timestamp, reference, challengeId?}) said about a spend, kept in the ledger
// next to the spend it proves, and how far the agent could check it. Servers other than PayRail send
// it unsigned: it is then recorded as the server's word, never as proof.

/// The standard `Payment-Receipt` of a committed spend and how it was checked.
public struct LedgerReceipt: Sendable, Hashable, Codable {
    /// How far a receipt could be checked.
    public enum Trust: String, Sendable, Hashable, Codable, CaseIterable {
        /// It carried PayRail's signed receipt token (JWS), which verified: signed and verified.
        case verified
        /// It carried no signature: recorded as the server sent it, not verified.
        case unsigned
        /// It carried a signed token that could not be checked (no key set reachable).
        case unverifiable
        /// It carried a signed token that does not verify.
        case invalid
    }

    /// The receipt's `method` (the rail or payment method).
    public let method: String
    /// The method's reference (payment hash, PaymentIntent id, transaction hash): never a secret.
    public let reference: String
    /// The receipt's `status` (`success`, the only one the draft defines).
    public let status: String
    /// The settlement time exactly as the server wrote it (RFC 3339).
    public let timestamp: String
    /// The challenge it answers, when the receipt names one.
    public let challengeID: String?
    /// Whether it was signed and verified, or only recorded.
    public let trust: Trust

    /// Creates a record.
    public init(method: String, reference: String, status: String, timestamp: String, challengeID: String?, trust: Trust) {
        self.method = method
        self.reference = reference
        self.status = status
        self.timestamp = timestamp
        self.challengeID = challengeID
        self.trust = trust
    }

    /// The JSON the SQLite ledger keeps (sorted keys, so equal records store equal text).
    package func encoded() throws(StoreError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self), let text = String(data: data, encoding: .utf8) else {
            throw StoreError.invalid("the spend's receipt cannot be encoded")
        }
        return text
    }

    /// Reads what `encoded()` wrote.
    package static func decoded(_ text: String) throws(StoreError) -> LedgerReceipt {
        guard let record = try? JSONDecoder().decode(LedgerReceipt.self, from: Data(text.utf8)) else {
            throw StoreError.corrupt("a stored spend receipt does not decode")
        }
        return record
    }
}
