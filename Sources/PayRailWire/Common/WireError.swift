/// Why a message on the wire could not be read or written. Never carries a credential, preimage or secret.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    public var code: Code
    /// A sentence saying what was wrong (never quoting secret material).
    public var reason: String

    /// The kinds of wire problem, open for additions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The name, as printed.
        public let name: String
        /// Makes a code; dialects may add their own.
        public init(_ name: String) { self.name = name }
        /// Not of the dialect's syntax (bad header grammar, bad base64, JSON of the wrong shape).
        public static let malformed = Code("malformed")
        /// Larger than the dialect's bound (e.g. a credential over 16 KB).
        public static let tooLarge = Code("too-large")
        /// A required field is missing or empty.
        public static let missingField = Code("missing-field")
        /// A version, scheme, method or network this codec does not speak.
        public static let unsupported = Code("unsupported")
        /// A binding or signature does not verify (challenge id, macaroon signature).
        public static let bindingMismatch = Code("binding-mismatch")
        /// The message has expired.
        public static let expired = Code("expired")
        /// The name.
        public var description: String { name }
    }

    /// Makes an error.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The code and the reason on one line.
    public var description: String { "\(code): \(reason)" }
}
