// A refused invoice must tell the caller two things: which rule it broke (a stable code for logs and
// metrics) and that paying it is out of the question. No BOLT 11 failure is transient: the same
// string fails the same way every time, so the advice is always "ask the payee for a new invoice".

import PayRail

/// Why a BOLT 11 invoice was refused (decoding) or could not be written (encoding).
public struct Bolt11Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule that was broken; a struct of static values so codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Stable identifier for logs and metrics.
        public let rawValue: String
        /// Creates a code (use the static values).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Not bech32: no separator, a character outside the alphabet, mixed case, too long.
        public static let malformed = Code(rawValue: "malformed")
        /// The bech32 checksum does not verify (a typo or a truncated copy).
        public static let badChecksum = Code(rawValue: "badChecksum")
        /// The prefix is not `ln` followed by bc, tb, tbs or bcrt.
        public static let unknownNetwork = Code(rawValue: "unknownNetwork")
        /// The amount is not digits with an optional m/u/n/p multiplier, is below a millisatoshi, or overflows.
        public static let invalidAmount = Code(rawValue: "invalidAmount")
        /// The data part is shorter than a timestamp and a signature, or a tagged field runs past it.
        public static let tooShort = Code(rawValue: "tooShort")
        /// A field the spec requires is missing (p, s, or exactly one of d and h).
        public static let missingField = Code(rawValue: "missingField")
        /// A field's content is unusable (description not UTF-8, non-minimal integer, bad value for encoding).
        public static let invalidField = Code(rawValue: "invalidField")
        /// The feature vector sets an even (required) bit this reader does not know, or misses a dependency.
        public static let unknownRequiredFeature = Code(rawValue: "unknownRequiredFeature")
        /// The signature does not recover a key, does not verify against `n`, or is high-S with `n`.
        public static let invalidSignature = Code(rawValue: "invalidSignature")

        /// The code's identifier.
        public var description: String { rawValue }
    }

    /// The rule that was broken.
    public let code: Code
    /// What exactly is wrong, for a person; never holds a key or a secret.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The reason and what to do next.
    public var description: String {
        "bolt11 \(code): \(reason) (do not pay this invoice; ask the payee for a new one)"
    }

    /// The same failure as a rail error: malformed input or a false signature, never worth retrying.
    public var railError: RailError {
        let railCode: RailError.Code
        switch code {
        case .invalidSignature: railCode = .invalidProof
        case .unknownRequiredFeature, .unknownNetwork: railCode = .unsupported
        default: railCode = .malformed
        }
        return RailError(railCode, "BOLT11 invoice refused (\(code)): \(reason)", retry: .unsafe, rail: .lightning)
    }
}
