import Foundation

// The secret key moves money on the account that owns it. It is kept in a type whose every textual
// form is redacted, so no log line, error, `dump` or debugger view can print it by accident; only the
// transport reads `bearerValue`, to build the Authorization header.

/// A Stripe secret (`sk_…`) or restricted (`rk_…`) API key that never prints itself.
public struct StripeSecretKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    /// Wraps a key read from a file or the environment; surrounding whitespace (a trailing newline
    /// in a key file) is removed.
    ///
    /// - Throws: `StripeConfigurationError` when the key is empty or does not look like a Stripe key.
    public init(_ text: String) throws(StripeConfigurationError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw StripeConfigurationError(reason: "the Stripe secret key is empty") }
        guard trimmed.hasPrefix("sk_") || trimmed.hasPrefix("rk_") else {
            // Do not echo the text: it may be a key of another kind pasted into the wrong place.
            throw StripeConfigurationError(reason: "a Stripe secret key starts with sk_ or rk_")
        }
        guard trimmed.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw StripeConfigurationError(reason: "a Stripe secret key is printable ASCII without spaces")
        }
        value = trimmed
    }

    /// The Authorization header value. Read only by `StripeClient` when it builds a request.
    var bearerValue: String { "Bearer " + value }

    /// Whether this is a test-mode key (`sk_test_…`/`rk_test_…`); said in logs instead of the key.
    public var isTestMode: Bool { value.hasPrefix("sk_test_") || value.hasPrefix("rk_test_") }

    /// `StripeSecretKey(test, redacted)`: the mode, never the key.
    public var description: String { "StripeSecretKey(\(isTestMode ? "test" : "live"), redacted)" }

    /// Same as `description`.
    public var debugDescription: String { description }

    /// Shows no children, so `dump` and debuggers never print the key.
    public var customMirror: Mirror { Mirror(self, children: ["mode": isTestMode ? "test" : "live"]) }
}

/// A Stripe rail setting that cannot work (empty key, bad API base, unknown currency).
public struct StripeConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, never the secret itself.
    public let reason: String

    /// Creates the error.
    public init(reason: String) { self.reason = reason }

    /// What is wrong and that it is configuration.
    public var description: String { "Stripe configuration: \(reason)" }
}
