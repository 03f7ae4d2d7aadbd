import Foundation

/// A JSON Web Key (RFC 7517): how receipt verifiers publish and fetch public keys.
///
/// Members are kept as the base64url strings (no padding) that appear on the wire; the typed key
/// initialisers below decode and check them. Unknown members are ignored when decoding, as RFC 7517
/// section 4 requires, and absent optional members are omitted when encoding.
public struct JSONWebKey: Codable, Sendable, Hashable {
    /// Key type: "OKP" for Ed25519 (RFC 8037), "EC" for P-256.
    public var kty: String
    /// Curve: "Ed25519" or "P-256".
    public var crv: String?
    /// The public key (OKP) or the x coordinate (EC), base64url.
    public var x: String?
    /// The y coordinate (EC only), base64url.
    public var y: String?
    /// The private part (seed or scalar), base64url. Present only in private JWKs; never publish it.
    public var d: String?
    /// The symmetric key (kty "oct"), base64url. Carried for completeness; PayRail does not publish these.
    public var k: String?
    /// Key id, matched against a JWS header's `kid` to pick the key during rotation.
    public var kid: String?
    /// The algorithm the key is meant for ("EdDSA", "ES256").
    public var alg: String?
    /// Intended use, normally "sig".
    public var use: String?

    /// Creates a JWK from its members.
    public init(
        kty: String, crv: String? = nil, x: String? = nil, y: String? = nil, d: String? = nil,
        k: String? = nil, kid: String? = nil, alg: String? = nil, use: String? = nil
    ) {
        self.kty = kty
        self.crv = crv
        self.x = x
        self.y = y
        self.d = d
        self.k = k
        self.kid = kid
        self.alg = alg
        self.use = use
    }

    /// The same key without its private member, safe to publish.
    public var publicKeyOnly: JSONWebKey {
        var copy = self
        copy.d = nil
        copy.k = nil
        return copy
    }
}

/// A JSON Web Key Set (RFC 7517 section 5), the document served at a JWKS URL.
public struct JSONWebKeySet: Codable, Sendable, Hashable {
    /// The keys, in publication order.
    public var keys: [JSONWebKey]

    /// Creates a set from its keys.
    public init(keys: [JSONWebKey]) { self.keys = keys }

    /// The first key with this `kid`, or nil.
    public func key(withID kid: String) -> JSONWebKey? {
        keys.first { $0.kid == kid }
    }
}

extension JSONWebKey {
    /// Checks kty, crv and (when present) alg before any member is decoded.
    func requireType(kty expectedType: String, crv expectedCurve: String, algorithms: Set<String>) throws(CryptoError) {
        guard kty == expectedType else {
            throw CryptoError(code: .invalidKey, reason: "expected a JWK with kty \"\(expectedType)\", got \"\(kty)\"")
        }
        guard crv == expectedCurve else {
            throw CryptoError(
                code: .invalidKey, reason: "expected a JWK with crv \"\(expectedCurve)\", got \"\(crv ?? "(none)")\"")
        }
        if let alg, !algorithms.contains(alg) {
            throw CryptoError(code: .unsupported, reason: "the JWK is restricted to alg \"\(alg)\", which this key type cannot serve")
        }
    }

    /// Decodes a required base64url member and checks its length.
    static func member(_ value: String?, named name: String, byteCount: Int) throws(CryptoError) -> [UInt8] {
        guard let value else {
            throw CryptoError(code: .invalidKey, reason: "the JWK lacks its \"\(name)\" member")
        }
        let bytes: [UInt8]
        do {
            bytes = try Base64URL.decode(value)
        } catch {
            throw CryptoError(code: .invalidEncoding, reason: "the JWK member \"\(name)\" is not base64url: \(error)")
        }
        guard bytes.count == byteCount else {
            throw CryptoError(
                code: .invalidLength,
                reason: "the JWK member \"\(name)\" must decode to \(byteCount) bytes, got \(bytes.count)")
        }
        return bytes
    }
}

/// Algorithm names a JWK may carry for Ed25519: RFC 8037 "EdDSA" and RFC 9864's fully specified "Ed25519".
private let ed25519Algorithms: Set<String> = ["EdDSA", "Ed25519"]

extension Ed25519.PublicKey {
    /// Loads a key from an OKP JWK with crv "Ed25519" (RFC 8037 section 2). A private member `d`,
    /// if present, is ignored.
    public init(jwk: JSONWebKey) throws(CryptoError) {
        try jwk.requireType(kty: "OKP", crv: "Ed25519", algorithms: ed25519Algorithms)
        try self.init(rawRepresentation: JSONWebKey.member(jwk.x, named: "x", byteCount: Ed25519.publicKeyByteCount))
    }

    /// The key as a public JWK with `alg` "EdDSA" and `use` "sig".
    public func jwk(kid: String?) -> JSONWebKey {
        JSONWebKey(kty: "OKP", crv: "Ed25519", x: Base64URL.encode(rawRepresentation), kid: kid, alg: "EdDSA", use: "sig")
    }
}

extension Ed25519.PrivateKey {
    /// Loads a key from a private OKP JWK (`d` is the seed). If `x` is present it must match the key
    /// derived from `d`, so a JWK whose halves belong to different keys is refused.
    public init(jwk: JSONWebKey) throws(CryptoError) {
        try jwk.requireType(kty: "OKP", crv: "Ed25519", algorithms: ed25519Algorithms)
        try self.init(rawRepresentation: JSONWebKey.member(jwk.d, named: "d", byteCount: Ed25519.seedByteCount))
        if jwk.x != nil {
            let claimed = try JSONWebKey.member(jwk.x, named: "x", byteCount: Ed25519.publicKeyByteCount)
            guard claimed == publicKey.rawRepresentation else {
                throw CryptoError(code: .invalidKey, reason: "the JWK's x does not belong to its d")
            }
        }
    }

    /// The key as a private JWK, including `d`. Keep it secret; publish `publicKey.jwk(kid:)` instead.
    public func jwk(kid: String?) -> JSONWebKey {
        var key = publicKey.jwk(kid: kid)
        key.d = Base64URL.encode(rawRepresentation)
        return key
    }
}

extension P256.PublicKey {
    /// Loads a key from an EC JWK with crv "P-256"; x and y must be exactly 32 bytes each (RFC 7518
    /// section 6.2.1.2) and the point must lie on the curve. A private member `d` is ignored.
    public init(jwk: JSONWebKey) throws(CryptoError) {
        try jwk.requireType(kty: "EC", crv: "P-256", algorithms: ["ES256"])
        try self.init(
            x: JSONWebKey.member(jwk.x, named: "x", byteCount: P256.coordinateByteCount),
            y: JSONWebKey.member(jwk.y, named: "y", byteCount: P256.coordinateByteCount))
    }

    /// The key as a public JWK with `alg` "ES256" and `use` "sig".
    public func jwk(kid: String?) -> JSONWebKey {
        JSONWebKey(
            kty: "EC", crv: "P-256", x: Base64URL.encode(x), y: Base64URL.encode(y), kid: kid, alg: "ES256", use: "sig")
    }
}

extension P256.PrivateKey {
    /// Loads a key from a private EC JWK (`d` is the scalar). If `x`/`y` are present they must match
    /// the key derived from `d`.
    public init(jwk: JSONWebKey) throws(CryptoError) {
        try jwk.requireType(kty: "EC", crv: "P-256", algorithms: ["ES256"])
        try self.init(rawRepresentation: JSONWebKey.member(jwk.d, named: "d", byteCount: P256.coordinateByteCount))
        if jwk.x != nil || jwk.y != nil {
            let claimed = try P256.PublicKey(jwk: jwk)
            guard claimed == publicKey else {
                throw CryptoError(code: .invalidKey, reason: "the JWK's x and y do not belong to its d")
            }
        }
    }

    /// The key as a private JWK, including `d`. Keep it secret; publish `publicKey.jwk(kid:)` instead.
    public func jwk(kid: String?) -> JSONWebKey {
        var key = publicKey.jwk(kid: kid)
        key.d = Base64URL.encode(rawRepresentation)
        return key
    }
}
