import Foundation

// Stripe's v1 API takes `application/x-www-form-urlencoded` bodies with bracketed keys for nested
// fields (`metadata[payrail_challenge]=…`). Pairs keep their order so a request body is byte-for-byte
// predictable, which the canned-exchange tests and the idempotency of retries both rely on.

/// An ordered list of form fields, encoded the way Stripe reads them.
public struct StripeForm: Sendable, Hashable {
    /// The fields in order.
    public private(set) var fields: [(name: String, value: String)]

    /// An empty form.
    public init() { fields = [] }

    /// Appends one field.
    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// Appends one field when the value is present.
    public mutating func add(_ name: String, _ value: String?) {
        if let value { fields.append((name, value)) }
    }

    /// The value of the first field with this name.
    public func value(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    /// `name=value&…`, percent-encoded (RFC 3986 unreserved characters stay as they are).
    public var encoded: String {
        fields.map { Self.escape($0.name) + "=" + Self.escape($0.value) }.joined(separator: "&")
    }

    /// Decodes a body `encoded` produced (tests read what the client sent with it).
    public init(decoding text: String) {
        fields = text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            return (name, value)
        }
    }

    private static let unreserved: CharacterSet = {
        var set = CharacterSet()
        set.insert(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return set
    }()

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// Equal when the same fields are in the same order.
    public static func == (lhs: StripeForm, rhs: StripeForm) -> Bool {
        lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    /// Hashes the encoded form.
    public func hash(into hasher: inout Hasher) { hasher.combine(encoded) }
}
