import Foundation
import PayRail
import PayRailCrypto

/// Signs receipt claims into a JWS compact token (`alg` from the key, `kid` in the header).
public struct ReceiptSigner: Sendable {
    /// The signing key.
    public let key: ReceiptSigningKey
    /// The `kid` written in every token's header, naming the verification key in the JWKS.
    public let keyID: String
    private let hmac: HMACKey?

    /// Makes a signer for `key`, announced as `keyID`.
    public init(key: ReceiptSigningKey, keyID: String) throws(ReceiptKeyError) {
        guard !keyID.isEmpty else { throw ReceiptKeyError(.badKeyID, "a receipt signer needs a non-empty kid") }
        self.key = key
        self.keyID = keyID
        if case .hs256(let secret) = key {
            do { hmac = try HMACKey(secret) } catch { throw ReceiptKeyError(.unreadableKey, "HS256 secret: \(error)") }
        } else {
            hmac = nil
        }
    }

    /// The JWS algorithm of every token this signer makes.
    public var algorithm: JWSAlgorithm { key.algorithm }

    /// The key a verifier needs, as a JWK (for HS256 the secret itself: publish it nowhere).
    public var verificationJWK: JSONWebKey { key.verificationJWK(keyID: keyID) }

    /// Signs `claims` and returns the compact token.
    public func sign(_ claims: ReceiptClaims) throws(ReceiptKeyError) -> String {
        // JSON numbers are IEEE doubles to most readers: times beyond 2^53 would not read back exactly.
        let safe: ClosedRange<Int64> = -9_007_199_254_740_991...9_007_199_254_740_991
        guard safe.contains(claims.iat), safe.contains(claims.exp) else {
            throw ReceiptKeyError(.signingFailed, "iat and exp must be within +-(2^53 - 1) seconds to survive JSON")
        }
        let payload: [UInt8]
        do {
            payload = try CanonicalJSON.serialize(claims.jsonValue)
        } catch {
            throw ReceiptKeyError(.signingFailed, "claims could not be serialized: \(error)")
        }
        let header: [String: JSONValue] = [
            "alg": .string(algorithm.rawValue),
            "kid": .string(keyID),
            "typ": .string("JWT"),
        ]
        do {
            return try JWSCompact.serialize(header: header, payload: payload) { signingInput in
                switch key {
                case .ed25519(let privateKey): return try privateKey.signature(for: signingInput)
                case .es256(let privateKey): return try privateKey.signature(for: signingInput).rawRepresentation
                case .hs256:
                    guard let hmac else { throw ReceiptKeyError(.signingFailed, "HS256 key missing") }
                    return hmac.authenticationCode(for: signingInput)
                }
            }
        } catch let error as ReceiptKeyError {
            throw error
        } catch {
            throw ReceiptKeyError(.signingFailed, "\(error)")
        }
    }
}

extension ReceiptClaims {
    /// The claims as a JSON object, as signed: times as integers, the amount as a decimal string.
    public var jsonValue: JSONValue {
        .object([
            "iss": .string(iss), "sub": .string(sub), "jti": .string(jti),
            "iat": .number(Double(iat)), "exp": .number(Double(exp)),
            "method": .string(method), "amount": .string(amount),
            "currency": .string(currency), "ref": .string(ref),
        ])
    }
}
