import Foundation
import PayRail
import PayRailCrypto

/// Why a receipt token was refused: each cause has its own code, so a gate can tell a forged
/// receipt from an expired one. Never carries the token itself.
public struct ReceiptVerificationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The cause.
    public var code: Code
    /// A sentence for logs and the CLI.
    public var reason: String

    /// Causes of refusal, open for additions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Longer than the verifier accepts (8 KB by default): refused before any parsing.
        public static let tooLarge = Code(name: "too-large")
        /// Not three base64url segments, or a header or claims that are not JSON objects.
        public static let malformed = Code(name: "malformed")
        /// `alg: none`: an unsigned token is never a receipt.
        public static let algorithmNone = Code(name: "alg-none")
        /// An `alg` other than EdDSA, ES256 and HS256.
        public static let unsupportedAlgorithm = Code(name: "unsupported-alg")
        /// The `alg` does not match the type of the key named by `kid` (e.g. HS256 against a public key).
        public static let algorithmMismatch = Code(name: "alg-key-mismatch")
        /// No `kid`, or one the key set does not hold.
        public static let unknownKeyID = Code(name: "unknown-kid")
        /// The signature does not verify: header, claims or signature were altered.
        public static let badSignature = Code(name: "bad-signature")
        /// A required claim is missing or has the wrong type.
        public static let badClaims = Code(name: "bad-claims")
        /// `exp` has passed (beyond the leeway).
        public static let expired = Code(name: "expired")
        /// `iat` or `nbf` is in the future (beyond the leeway).
        public static let notYetValid = Code(name: "not-yet-valid")
        /// `sub` names another resource than the one being asked for.
        public static let wrongResource = Code(name: "wrong-resource")
        /// The name, as printed.
        public var description: String { name }
    }

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The code and the reason on one line.
    public var description: String { "\(code): \(reason)" }
}

/// Verifies receipt tokens against a key set, a resource and a clock.
///
/// The key type decides the algorithm, never the token's header; checks run cheapest first
/// and the signature is checked before any claim is trusted.
public struct ReceiptVerifier: Sendable {
    /// The trusted keys by `kid`.
    public let keys: ReceiptKeySet
    /// Seconds of clock skew tolerated on `exp`, `iat` and `nbf`.
    public let leewaySeconds: Int64
    /// Tokens longer than this many bytes are refused unread.
    public let maxTokenLength: Int
    private let clock: any PayRailClock

    /// Makes a verifier; `leewaySeconds` defaults to 30 seconds, `maxTokenLength` to 8 KB.
    public init(keys: ReceiptKeySet, leewaySeconds: Int64 = 30, maxTokenLength: Int = 8192,
                clock: any PayRailClock = SystemClock()) {
        self.keys = keys
        self.leewaySeconds = leewaySeconds
        self.maxTokenLength = maxTokenLength
        self.clock = clock
    }

    /// Verifies `token` and returns its claims; `resource` ("METHOD /path") must equal `sub`
    /// when given.
    public func verify(_ token: String, resource: String?) throws(ReceiptVerificationError) -> ReceiptClaims {
        guard token.utf8.count <= maxTokenLength else {
            throw ReceiptVerificationError(.tooLarge, "token is \(token.utf8.count) bytes, over the \(maxTokenLength)-byte limit")
        }
        let jws: JWSCompact
        do {
            jws = try JWSCompact(parsing: token, maxLength: maxTokenLength)
        } catch {
            throw ReceiptVerificationError(.malformed, "not a JWS compact token: \(error)")
        }
        guard let algorithm = JWSAlgorithm(rawValue: jws.algorithm) else {
            if jws.algorithm.lowercased() == "none" {
                throw ReceiptVerificationError(.algorithmNone, "unsigned token (alg none) refused")
            }
            throw ReceiptVerificationError(.unsupportedAlgorithm, "alg '\(jws.algorithm.prefix(32))' is not EdDSA, ES256 or HS256")
        }
        guard let keyID = jws.keyID, let key = keys.keys[keyID] else {
            throw ReceiptVerificationError(.unknownKeyID, jws.keyID.map { "no key with kid '\($0.prefix(64))' in the key set" } ?? "the token names no kid")
        }
        guard key.algorithm == algorithm else {
            throw ReceiptVerificationError(.algorithmMismatch, "token says \(algorithm.rawValue) but key '\(keyID)' is a \(key.algorithm.rawValue) key")
        }
        guard key.isValidSignature(jws.signature, signingInput: jws.signingInput) else {
            throw ReceiptVerificationError(.badSignature, "signature does not verify with key '\(keyID)'")
        }
        let claims = try Self.decodeClaims(jws.payload)
        let now = Int64(clock.now().timeIntervalSince1970.rounded(.down))
        if claims.claims.exp + leewaySeconds < now {
            throw ReceiptVerificationError(.expired, "expired at \(claims.claims.exp), now \(now)")
        }
        if claims.claims.iat - leewaySeconds > now || (claims.notBefore.map { $0 - leewaySeconds > now } ?? false) {
            throw ReceiptVerificationError(.notYetValid, "issued for a time after now (\(now))")
        }
        if let resource, claims.claims.sub != resource {
            throw ReceiptVerificationError(.wrongResource, "receipt is for '\(claims.claims.sub.prefix(200))', not '\(resource.prefix(200))'")
        }
        return claims.claims
    }

    private static func decodeClaims(_ payload: [UInt8]) throws(ReceiptVerificationError) -> (claims: ReceiptClaims, notBefore: Int64?) {
        let value: JSONValue
        do {
            value = try CanonicalJSON.parse(payload)
        } catch {
            throw ReceiptVerificationError(.malformed, "claims are not JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw ReceiptVerificationError(.malformed, "claims are not a JSON object")
        }
        func string(_ name: String) throws(ReceiptVerificationError) -> String {
            guard case .string(let text)? = object[name] else {
                throw ReceiptVerificationError(.badClaims, "claim '\(name)' is missing or not a string")
            }
            return text
        }
        func integer(_ name: String) throws(ReceiptVerificationError) -> Int64? {
            guard let member = object[name] else { return nil }
            guard case .number(let number) = member, let whole = Int64(exactly: number) else {
                throw ReceiptVerificationError(.badClaims, "claim '\(name)' is not an integer")
            }
            return whole
        }
        guard let iat = try integer("iat"), let exp = try integer("exp") else {
            throw ReceiptVerificationError(.badClaims, "claims 'iat' and 'exp' are required")
        }
        let claims = ReceiptClaims(
            iss: try string("iss"), sub: try string("sub"), jti: try string("jti"),
            iat: iat, exp: exp, method: try string("method"), amount: try string("amount"),
            currency: try string("currency"), ref: try string("ref"))
        return (claims, try integer("nbf"))
    }
}
