// Rail identifiers appear in headers (`method="lightning"`), receipts and configuration, so the
// allowed spelling is narrow: a wrong-case or spaced name would silently never match.

/// The name of a payment rail: `fake`, `lightning`, `stripe`, or a custom one.
///
/// Lowercase ASCII letters, digits and `-`, starting with a letter, at most 32 characters.
public struct RailID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The validated name.
    public let rawValue: String

    /// Validates a rail name.
    ///
    /// - Throws: `RailIDError` naming the rule broken.
    public init(_ rawValue: String) throws(RailIDError) {
        let bytes = Array(rawValue.utf8)
        guard let first = bytes.first, first >= 0x61, first <= 0x7A else {
            throw RailIDError(rawValue: rawValue, reason: "must start with a lowercase letter")
        }
        guard bytes.count <= 32 else {
            throw RailIDError(rawValue: rawValue, reason: "must be at most 32 characters")
        }
        let allowed = bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        guard allowed else {
            throw RailIDError(rawValue: rawValue, reason: "may contain only lowercase letters, digits and '-'")
        }
        self.rawValue = rawValue
    }

    private init(known: String) { rawValue = known }

    /// The in-process and hosted fake processor (for tests and demos; moves no real money).
    public static let fake = RailID(known: "fake")
    /// Lightning Network (BOLT11 invoices, preimage proofs).
    public static let lightning = RailID(known: "lightning")
    /// Stripe PaymentIntents paid with a shared payment token.
    public static let stripe = RailID(known: "stripe")

    /// The name itself.
    public var description: String { rawValue }

    /// Decodes a JSON string and validates it like `init(_:)`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the name as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A rail name that breaks the spelling rules; fix the configuration or the peer's message.
public struct RailIDError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rejected text.
    public let rawValue: String
    /// The rule it broke.
    public let reason: String

    /// What was wrong and how to write it instead.
    public var description: String {
        "invalid rail name \"\(rawValue)\": \(reason) (e.g. lightning, stripe, fake, my-rail2)"
    }
}
