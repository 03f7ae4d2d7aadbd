/// Why a cryptographic operation was refused or could not run.
///
/// Most codes describe bad input (a key or signature that is malformed): the same input fails the
/// same way every time, so retrying is pointless and the fix belongs to whoever produced it. Only
/// `randomFailure` and `internalFailure` describe a local condition that may clear up on retry;
/// `isRetryable` encodes that rule so callers do not have to.
public struct CryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of failure, extensible without breaking callers that switch over known values.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable identifier, suitable for logs and metrics.
        public let rawValue: String

        /// Creates a code from its stable identifier.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The key bytes, PEM, DER or JWK do not describe a usable key of the expected type
        /// (wrong curve, point not on the curve, scalar out of range, wrong key type).
        public static let invalidKey = Code(rawValue: "invalidKey")
        /// A signature is malformed or out of range, so it can never verify.
        public static let invalidSignature = Code(rawValue: "invalidSignature")
        /// The encoding itself (DER, PEM, base64url) is malformed or not in its strict canonical form.
        public static let invalidEncoding = Code(rawValue: "invalidEncoding")
        /// An input has the wrong number of bytes.
        public static let invalidLength = Code(rawValue: "invalidLength")
        /// The input is well formed but asks for something PayRail does not implement (another curve,
        /// a JWK `alg` that does not match the key).
        public static let unsupported = Code(rawValue: "unsupported")
        /// The system random generator failed; nothing was produced. Safe to retry.
        public static let randomFailure = Code(rawValue: "randomFailure")
        /// OpenSSL failed for a reason unrelated to the input (usually memory exhaustion). Safe to retry.
        public static let internalFailure = Code(rawValue: "internalFailure")

        /// The stable identifier.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A sentence for humans and logs. It never contains key material.
    public var reason: String

    /// Creates an error; public so that other modules can report crypto failures in the same shape.
    public init(code: Code, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// Whether repeating the same call may succeed: true only for local, transient failures.
    /// Bad keys and signatures never become good by retrying.
    public var isRetryable: Bool {
        code == .randomFailure || code == .internalFailure
    }

    /// The code and the reason, plus whether retrying can help.
    public var description: String {
        let advice = isRetryable
            ? "this is a local failure; retrying may succeed"
            : "the input is at fault; retrying the same input will not help"
        return "crypto error (\(code.rawValue)): \(reason); \(advice)"
    }
}
