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
    let clock: any PayRailClock

    /// Makes a verifier; `leewaySeconds` defaults to 30 seconds, `maxTokenLength` to 8 KB.
    public init(keys: ReceiptKeySet, leewaySeconds: Int64 = 30, maxTokenLength: Int = 8192,
                clock: any PayRailClock = SystemClock()) {
        self.keys = keys
        // Clamped so that now +- leeway can never overflow, whatever a configuration says.
        self.leewaySeconds = min(max(leewaySeconds, 0), 366 * 86_400)
        self.maxTokenLength = maxTokenLength
        self.clock = clock
    }

    /// Verifies `token` and returns its claims; `resource` ("METHOD /path") must equal `sub`
    /// when given.
    public func verify(_ token: String, resource: String?) throws(ReceiptVerificationError) -> ReceiptClaims {
        var verified = VerifiedSlots()
        try verifySignedClaims(token, expectedSubject: resource, into: &verified)
        guard let claims = verified.claims.take() else {
            throw ReceiptVerificationError(.malformed, "the token could not be read")
        }
        try checkClaims(claims, notBefore: verified.notBefore, resource: resource)
        return claims
    }

    /// Verifies `token` and also returns its `nbf` and the `kid` that verified it (the cache keeps both).
    func verifyDetailed(_ token: String, resource: String?) throws(ReceiptVerificationError) -> (claims: ReceiptClaims, notBefore: Int64?, keyID: String) {
        var verified = VerifiedSlots()
        try verifySignedClaims(token, expectedSubject: resource, into: &verified)
        guard let claims = verified.claims.take(), verified.keyIndex >= 0 else {
            throw ReceiptVerificationError(.malformed, "the token could not be read")
        }
        try checkClaims(claims, notBefore: verified.notBefore, resource: resource)
        return (claims, verified.notBefore, keys.ordered[verified.keyIndex].keyID)
    }

    /// Where the signature-and-claims stage writes what it read. Slots the caller owns, rather than a
    /// returned tuple or enum: a 128-byte `ReceiptClaims` is then written once, where it is used.
    struct VerifiedSlots {
        var claims: ReceiptClaims?
        var notBefore: Int64?
        var keyIndex = -1
    }

    /// Everything but the time and resource checks: size, form, header, key, signature, claims.
    /// A `sub` whose bytes are `expectedSubject`'s is returned as that very string (no copy made).
    @inline(__always)
    private func verifySignedClaims(_ token: String, expectedSubject: String?, into verified: inout VerifiedSlots) throws(ReceiptVerificationError) {
        guard token.utf8.count <= maxTokenLength else {
            throw ReceiptVerificationError(.tooLarge, "token is \(token.utf8.count) bytes, over the \(maxTokenLength)-byte limit")
        }
        // Work on the token's own UTF-8 storage: the signing input is verified in place, never copied
        // (the caller's string is borrowed while verifying; the claims returned hold it, to read
        // their texts from it when asked).
        var failure: ReceiptVerificationError?
        let inPlace: Void? = token.utf8.withContiguousStorageIfAvailable { bytes in
            verifyToken(UnsafeRawBufferPointer(bytes), token: token, expectedSubject: expectedSubject, into: &verified, failure: &failure)
        }
        if inPlace == nil {
            // A bridged string without contiguous UTF-8: one copy.
            var text = token
            text.makeContiguousUTF8()
            let native = text
            native.utf8.withContiguousStorageIfAvailable { bytes in
                verifyToken(UnsafeRawBufferPointer(bytes), token: native, expectedSubject: expectedSubject, into: &verified, failure: &failure)
            }
        }
        if let failure { throw failure }
    }

    /// `verifyToken`, with a refusal written to the caller's variable (closures over the token's
    /// storage then return nothing generic that would be copied through value witnesses).
    @inline(__always)
    private func verifyToken(_ bytes: UnsafeRawBufferPointer, token: String, expectedSubject: String?, into verified: inout VerifiedSlots,
                             failure: inout ReceiptVerificationError?) {
        do throws(ReceiptVerificationError) {
            try verifyToken(bytes, token: token, expectedSubject: expectedSubject, into: &verified)
        } catch {
            failure = error
        }
    }

    /// The header, signature and claims checks, in that order, over the token's bytes (`token`'s UTF-8).
    private func verifyToken(_ bytes: UnsafeRawBufferPointer, token: String, expectedSubject: String?, into verified: inout VerifiedSlots) throws(ReceiptVerificationError) {
        // Exactly three segments; RFC 7515 compact form has no padding. memchr scans a word at a time.
        guard let base = bytes.baseAddress else { throw ReceiptVerificationError(.malformed, "empty token") }
        func dot(after start: Int) -> Int {
            guard start < bytes.count, let found = memchr(base + start, Int32(UInt8(ascii: ".")), bytes.count - start) else { return -1 }
            return base.distance(to: UnsafeRawPointer(found))
        }
        // Tokens as our signer writes them are read without allocating (ReceiptFastPath.swift). That
        // path decodes all three segments before it answers, so a token with `=` or a fourth segment
        // never leaves it with an answer: the checks for those below still decide, in the same order.
        do {
            switch verifyFast(bytes, token: token, expectedSubject: expectedSubject, claims: &verified.claims, notBefore: &verified.notBefore) {
            case .verified(let keyIndex):
                verified.keyIndex = keyIndex
                return
            case .badSignature(let keyIndex):
                throw ReceiptVerificationError(.badSignature, "signature does not verify with key '\(keys.ordered[keyIndex].keyID)'")
            case .signedButClaimsIrregular(let keyIndex, let firstDot, let secondDot):
                let payload = try Self.decodeSegment(bytes, firstDot + 1, secondDot, "claims")
                (verified.claims, verified.notBefore) = try Self.decodeClaims(payload)
                verified.keyIndex = keyIndex
                return
            case .irregular:
                break
            }
        }
        // The general path decides everything else, and every refusal but a bad signature.
        let firstDot = dot(after: 0)
        let secondDot = firstDot < 0 ? -1 : dot(after: firstDot + 1)
        if memchr(base, Int32(UInt8(ascii: "=")), bytes.count) != nil {
            throw ReceiptVerificationError(.malformed, "padding in a segment (JWS base64url has none)")
        }
        if secondDot >= 0, dot(after: secondDot + 1) >= 0 {
            throw ReceiptVerificationError(.malformed, "more than three segments")
        }
        guard firstDot > 0, secondDot > firstDot + 1 else {
            throw ReceiptVerificationError(.malformed, "not three segments with a header and claims")
        }
        let header = try Self.decodeSegment(bytes, 0, firstDot, "header")
        let (algorithmName, declaredKeyID) = try Self.readHeader(header)
        guard let algorithm = JWSAlgorithm(rawValue: algorithmName) else {
            if algorithmName.lowercased() == "none" {
                throw ReceiptVerificationError(.algorithmNone, "unsigned token (alg none) refused")
            }
            throw ReceiptVerificationError(.unsupportedAlgorithm, "alg '\(algorithmName.prefix(32))' is not EdDSA, ES256 or HS256")
        }
        guard let keyID = declaredKeyID, let key = keys.keys[keyID] else {
            throw ReceiptVerificationError(.unknownKeyID, declaredKeyID.map { "no key with kid '\($0.prefix(64))' in the key set" } ?? "the token names no kid")
        }
        guard key.algorithm == algorithm else {
            throw ReceiptVerificationError(.algorithmMismatch, "token says \(algorithm.rawValue) but key '\(keyID)' is a \(key.algorithm.rawValue) key")
        }
        let signature = try Self.decodeSegment(bytes, secondDot + 1, bytes.count, "signature")
        let signingInput = UnsafeRawBufferPointer(rebasing: bytes[0..<secondDot])
        guard key.isValidSignature(signature, signingInput: signingInput) else {
            throw ReceiptVerificationError(.badSignature, "signature does not verify with key '\(keyID)'")
        }
        let payload = try Self.decodeSegment(bytes, firstDot + 1, secondDot, "claims")
        let (claims, notBefore) = try Self.decodeClaims(payload)
        guard let keyIndex = keys.ordered.firstIndex(where: { $0.keyID == key.keyID }) else {
            throw ReceiptVerificationError(.unknownKeyID, "no key with kid '\(keyID.prefix(64))' in the key set")
        }
        verified = VerifiedSlots(claims: claims, notBefore: notBefore, keyIndex: keyIndex)
    }

    private static func decodeSegment(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ name: String) throws(ReceiptVerificationError) -> [UInt8] {
        do {
            return try Base64URL.decode(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        } catch {
            throw ReceiptVerificationError(.malformed, "the \(name) is not base64url: \(error)")
        }
    }

    /// `alg` (required string) and `kid` (optional string); `crit` and `b64` are refused because
    /// this verifier understands no header extension.
    private static func readHeader(_ header: [UInt8]) throws(ReceiptVerificationError) -> (alg: String, kid: String?) {
        var algorithm: String?
        var keyID: String?
        var refusal: String?
        do {
            try JSONObjectReader.read(header) { (reader: inout JSONObjectReader) throws(CanonicalJSONError) in
                while let name = try reader.nextMember() {
                    if reader.name(name, is: "alg") {
                        algorithm = try reader.stringValue()
                        if algorithm == nil { refusal = "alg is not a string" }
                    } else if reader.name(name, is: "kid") {
                        keyID = try reader.stringValue()
                        if keyID == nil { refusal = "kid is not a string" }
                    } else if reader.name(name, is: "crit") || reader.name(name, is: "b64") {
                        refusal = "header parameter '\(reader.text(of: name))' is not supported"
                        _ = try reader.value()
                    } else {
                        _ = try reader.value()
                    }
                }
            }
        } catch {
            throw ReceiptVerificationError(.malformed, "the header is not a JSON object: \(error)")
        }
        if let refusal { throw ReceiptVerificationError(.malformed, refusal) }
        guard let algorithm else { throw ReceiptVerificationError(.malformed, "the header has no alg") }
        return (algorithm, keyID)
    }

    /// The checks that depend on the time and the resource asked for: re-run on every cache hit.
    func checkClaims(_ claims: ReceiptClaims, notBefore: Int64?, resource: String?) throws(ReceiptVerificationError) {
        let now = clock.unixSeconds()
        // The claims are input: compare against now +- leeway (both sane) so no claim can overflow.
        if claims.exp < now - leewaySeconds {
            throw ReceiptVerificationError(.expired, "expired at \(claims.exp), now \(now)")
        }
        if claims.iat > now + leewaySeconds || (notBefore.map { $0 > now + leewaySeconds } ?? false) {
            throw ReceiptVerificationError(.notYetValid, "issued for a time after now (\(now))")
        }
        if let resource, claims.sub != resource {
            throw ReceiptVerificationError(.wrongResource, "receipt is for '\(claims.sub.prefix(200))', not '\(resource.prefix(200))'")
        }
    }

    /// Reads the claims member by member: strings for the text claims, whole numbers for the times.
    private static func decodeClaims(_ payload: [UInt8]) throws(ReceiptVerificationError) -> (claims: ReceiptClaims, notBefore: Int64?) {
        var iss: String?, sub: String?, jti: String?, method: String?, amount: String?, currency: String?, ref: String?
        var iat: Int64?, exp: Int64?, nbf: Int64?
        var wrongType: String?
        do {
            try JSONObjectReader.read(payload) { (reader: inout JSONObjectReader) throws(CanonicalJSONError) in
                while let name = try reader.nextMember() {
                    // Each claim reads its own type; a value of another type leaves it nil and is reported.
                    func text(_ slot: inout String?) throws(CanonicalJSONError) {
                        slot = try reader.stringValue()
                        if slot == nil { wrongType = reader.text(of: name) }
                    }
                    func whole(_ slot: inout Int64?) throws(CanonicalJSONError) {
                        slot = try reader.integerValue()
                        if slot == nil { wrongType = reader.text(of: name) }
                    }
                    if reader.name(name, is: "iss") { try text(&iss) }
                    else if reader.name(name, is: "sub") { try text(&sub) }
                    else if reader.name(name, is: "jti") { try text(&jti) }
                    else if reader.name(name, is: "iat") { try whole(&iat) }
                    else if reader.name(name, is: "exp") { try whole(&exp) }
                    else if reader.name(name, is: "nbf") { try whole(&nbf) }
                    else if reader.name(name, is: "method") { try text(&method) }
                    else if reader.name(name, is: "amount") { try text(&amount) }
                    else if reader.name(name, is: "currency") { try text(&currency) }
                    else if reader.name(name, is: "ref") { try text(&ref) }
                    else { _ = try reader.value() }
                }
            }
        } catch {
            throw ReceiptVerificationError(.malformed, "claims are not a JSON object: \(error)")
        }
        if let wrongType {
            throw ReceiptVerificationError(.badClaims, "claim '\(wrongType.prefix(64))' has the wrong type")
        }
        guard let iat, let exp else {
            throw ReceiptVerificationError(.badClaims, "claims 'iat' and 'exp' are required")
        }
        guard let iss, let sub, let jti, let method, let amount, let currency, let ref else {
            let present: [(String, String?)] = [("iss", iss), ("sub", sub), ("jti", jti), ("method", method),
                                                ("amount", amount), ("currency", currency), ("ref", ref)]
            let missing = present.first { $0.1 == nil }?.0 ?? "?"
            throw ReceiptVerificationError(.badClaims, "claim '\(missing)' is missing")
        }
        let claims = ReceiptClaims(iss: iss, sub: sub, jti: jti, iat: iat, exp: exp, method: method,
                                   amount: amount, currency: currency, ref: ref)
        return (claims, nbf)
    }
}
