import Foundation
import PayRailCrypto

/// Why a receipt key could not be loaded or used. Never carries key material.
public struct ReceiptKeyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    public var code: Code
    /// A sentence saying what is wrong and what to do.
    public var reason: String

    /// The kinds of key problem, open for additions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The key file or JWK could not be parsed.
        public static let unreadableKey = Code(name: "unreadable-key")
        /// The key's type has no receipt algorithm (e.g. an RSA or X25519 key).
        public static let unsupportedKeyType = Code(name: "unsupported-key-type")
        /// The JWK names an `alg` that contradicts its key type.
        public static let algorithmMismatch = Code(name: "algorithm-mismatch")
        /// Two keys in one set share a `kid`, or a key has none.
        public static let badKeyID = Code(name: "bad-key-id")
        /// Signing failed inside the crypto library.
        public static let signingFailed = Code(name: "signing-failed")
        /// The name of the code, as printed.
        public var description: String { name }
    }

    /// Makes an error with a code and a reason.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The code and the reason on one line.
    public var description: String { "\(code): \(reason)" }
}

/// A private key that signs receipts, with the JWS algorithm its type implies.
public enum ReceiptSigningKey: Sendable {
    /// Ed25519, JWS `EdDSA` (RFC 8037): the default.
    case ed25519(Ed25519.PrivateKey)
    /// P-256, JWS `ES256`, signature as 64-byte r||s.
    case es256(P256.PrivateKey)
    /// A shared secret, JWS `HS256`: only for a single node that also verifies its own receipts.
    case hs256(secret: [UInt8])

    /// The JWS algorithm this key signs with.
    public var algorithm: JWSAlgorithm {
        switch self {
        case .ed25519: .EdDSA
        case .es256: .ES256
        case .hs256: .HS256
        }
    }

    /// Reads a key file as `payrail keys generate` writes it: PEM PKCS#8 for Ed25519 and P-256,
    /// or a base64url secret (one line) for HS256.
    public init(keyFile contents: String) throws(ReceiptKeyError) {
        let text = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("-----BEGIN") {
            guard text.contains("-----BEGIN PRIVATE KEY-----") else {
                throw ReceiptKeyError(.unreadableKey, "the PEM file is not a PKCS#8 private key (expected 'BEGIN PRIVATE KEY')")
            }
            if let key = try? Ed25519.PrivateKey(pemRepresentation: text) {
                self = .ed25519(key)
            } else if let key = try? P256.PrivateKey(pemRepresentation: text) {
                self = .es256(key)
            } else {
                throw ReceiptKeyError(.unsupportedKeyType, "the private key is neither Ed25519 nor P-256")
            }
            return
        }
        guard let secret = try? Base64URL.decode(text), secret.count >= 32 else {
            throw ReceiptKeyError(.unreadableKey, "an HS256 secret file must hold at least 32 bytes as base64url on one line")
        }
        self = .hs256(secret: secret)
    }

    /// The key a verifier needs, as a JWK: the public key, or for HS256 the shared secret itself.
    public func verificationJWK(keyID: String) -> JSONWebKey {
        var jwk: JSONWebKey
        switch self {
        case .ed25519(let key): jwk = key.publicKey.jwk(kid: keyID)
        case .es256(let key): jwk = key.publicKey.jwk(kid: keyID)
        case .hs256(let secret):
            jwk = JSONWebKey(kty: "oct")
            jwk.k = Base64URL.encode(secret)
            jwk.kid = keyID
        }
        jwk.alg = algorithm.rawValue
        jwk.use = "sig"
        return jwk
    }
}

/// A key that verifies receipts, parsed once and held ready for many verifications.
public struct ReceiptVerificationKey: Sendable {
    enum Material: Sendable {
        case ed25519(Ed25519.PublicKey)
        case es256(P256.PublicKey)
        case hs256(HMACKey)
    }

    /// The key id tokens name in their header.
    public let keyID: String
    /// The only algorithm this key accepts: its type decides, never the token.
    public let algorithm: JWSAlgorithm
    let material: Material

    /// Loads one JWK: OKP/Ed25519 (EdDSA), EC/P-256 (ES256) or oct (HS256).
    public init(jwk: JSONWebKey) throws(ReceiptKeyError) {
        guard let kid = jwk.kid, !kid.isEmpty else {
            throw ReceiptKeyError(.badKeyID, "every receipt key needs a non-empty 'kid'")
        }
        let material: Material
        let algorithm: JWSAlgorithm
        do {
            switch (jwk.kty, jwk.crv) {
            case ("OKP", "Ed25519"?):
                material = .ed25519(try Ed25519.PublicKey(jwk: jwk))
                algorithm = .EdDSA
            case ("EC", "P-256"?):
                material = .es256(try P256.PublicKey(jwk: jwk))
                algorithm = .ES256
            case ("oct", _):
                guard let k = jwk.k, let secret = try? Base64URL.decode(k), secret.count >= 32 else {
                    throw ReceiptKeyError(.unreadableKey, "key '\(kid)': an oct key needs 'k' with at least 32 bytes")
                }
                material = .hs256(try HMACKey(secret))
                algorithm = .HS256
            default:
                throw ReceiptKeyError(.unsupportedKeyType, "key '\(kid)': kty \(jwk.kty) crv \(jwk.crv ?? "none") has no receipt algorithm (use OKP/Ed25519, EC/P-256 or oct)")
            }
        } catch let error as ReceiptKeyError {
            throw error
        } catch {
            throw ReceiptKeyError(.unreadableKey, "key '\(kid)': \(error)")
        }
        if let declared = jwk.alg, declared != algorithm.rawValue {
            throw ReceiptKeyError(.algorithmMismatch, "key '\(kid)' declares alg \(declared) but its type signs \(algorithm.rawValue)")
        }
        self.keyID = kid
        self.algorithm = algorithm
        self.material = material
    }

    /// Checks a signature over the JWS signing input; the algorithm was matched before.
    @inline(__always)
    func isValidSignature(_ signature: some ContiguousBytes, signingInput: UnsafeRawBufferPointer) -> Bool {
        switch material {
        case .ed25519(let key):
            return key.isValidSignature(signature, for: signingInput)
        case .es256(let key):
            // JWS ES256 carries exactly r||s; any other length (e.g. DER) is refused.
            guard signature.withUnsafeBytes({ $0.count }) == 64,
                  let parsed = try? ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: signingInput)
        case .hs256(let key):
            return key.isValidAuthenticationCode(signature, for: signingInput)
        }
    }
}

/// The keys a verifier trusts, by `kid`. Parsed once; look-ups are a dictionary access.
public struct ReceiptKeySet: Sendable {
    /// The keys by their `kid`.
    public let keys: [String: ReceiptVerificationKey]
    /// The same keys in a fixed order, with every `kid`'s UTF-8 laid end to end in `keyIDBytes`
    /// (`keyIDEnds[i]` is where key `i`'s ends): the verifier finds a token's key by comparing bytes,
    /// without making a `String` of the token's `kid` or hashing one. Key sets hold a handful of keys.
    let ordered: [ReceiptVerificationKey]
    let keyIDBytes: [UInt8]
    let keyIDEnds: [Int]
    /// Each key's header segment exactly as `ReceiptSigner` writes it for that key (base64url of
    /// `{"alg":…,"kid":…,"typ":"JWT"}` in canonical JSON), laid out like `keyIDBytes`: a token whose
    /// header segment is one of these needs no decoding or parsing of its header to find its key.
    let signerHeaderBytes: [UInt8]
    let signerHeaderEnds: [Int]
    /// The HMAC keys of `ordered` at the same positions (nil for other types), without reference
    /// counting: taking an `HMACKey` out of its enum copies it, changing the count of an object that
    /// every verifying thread shares. `ordered` keeps each key alive as long as this set exists.
    let hmacKeys: [UnretainedHMACKey?]

    /// Loads every key of a JWKS; a key that cannot be loaded, or a repeated `kid`, is an error.
    public init(jwks: JSONWebKeySet) throws(ReceiptKeyError) {
        var keys: [String: ReceiptVerificationKey] = [:]
        for jwk in jwks.keys {
            let key = try ReceiptVerificationKey(jwk: jwk)
            guard keys[key.keyID] == nil else {
                throw ReceiptKeyError(.badKeyID, "the key set has two keys with kid '\(key.keyID)'")
            }
            keys[key.keyID] = key
        }
        self.init(keys: keys)
    }

    /// Loads a JWKS document (`{"keys":[...]}`).
    public init(jwksJSON: Data) throws(ReceiptKeyError) {
        let set: JSONWebKeySet
        do {
            set = try JSONDecoder().decode(JSONWebKeySet.self, from: jwksJSON)
        } catch {
            throw ReceiptKeyError(.unreadableKey, "not a JWKS document: \(error.localizedDescription)")
        }
        try self.init(jwks: set)
    }

    /// A set without the key `keyID`, for revoking a key.
    public func removing(keyID: String) -> ReceiptKeySet {
        var copy = keys
        copy[keyID] = nil
        return ReceiptKeySet(keys: copy)
    }

    private init(keys: [String: ReceiptVerificationKey]) {
        self.keys = keys
        ordered = keys.keys.sorted().compactMap { keys[$0] }
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var headers: [UInt8] = []
        var headerEnds: [Int] = []
        for key in ordered {
            bytes.append(contentsOf: key.keyID.utf8)
            ends.append(bytes.count)
            // The same serialization as ReceiptSigner's (JWSCompact: canonical JSON, then base64url).
            // A header that cannot be written stays empty: no token matches it, the parser decides.
            let header: JSONValue = .object([
                "alg": .string(key.algorithm.rawValue), "kid": .string(key.keyID), "typ": .string("JWT"),
            ])
            if let json = try? CanonicalJSON.serialize(header) {
                headers.append(contentsOf: Base64URL.encode(json).utf8)
            }
            headerEnds.append(headers.count)
        }
        keyIDBytes = bytes
        keyIDEnds = ends
        hmacKeys = ordered.map { key in
            if case .hs256(let hmac) = key.material { return hmac.unretained }
            return nil
        }
        signerHeaderBytes = headers
        signerHeaderEnds = headerEnds
    }

    /// The position in `ordered` of the key whose `kid` is exactly `keyID` (UTF-8 bytes), if any.
    /// Reads the arrays in place (no iterator, no copy), so no reference count changes: the key set
    /// is shared by every thread that verifies, and a count changing there bounces between cores.
    @inline(__always)
    func index(ofKeyID keyID: UnsafeRawBufferPointer) -> Int? {
        Self.index(of: keyID, in: keyIDBytes, ends: keyIDEnds)
    }

    /// The key whose signer-written header segment `token` starts with, followed by a dot, and that
    /// segment's length (the position of the dot), if any.
    @inline(__always)
    func signerHeader(startingTokenIn token: UnsafeRawBufferPointer) -> (keyIndex: Int, length: Int)? {
        guard let tokenBase = token.baseAddress else { return nil }
        return signerHeaderBytes.withUnsafeBytes { allBytes -> (keyIndex: Int, length: Int)? in
            guard let allBase = allBytes.baseAddress else { return nil }
            return signerHeaderEnds.withUnsafeBufferPointer { ends -> (keyIndex: Int, length: Int)? in
                var start = 0
                for index in 0..<ends.count {
                    let length = ends[index] - start
                    if length > 0, length < token.count, token[length] == UInt8(ascii: "."),
                       memcmp(allBase + start, tokenBase, length) == 0 {
                        return (index, length)
                    }
                    start = ends[index]
                }
                return nil
            }
        }
    }

    /// Which of the byte strings laid end to end in `all` (`ends[i]` is where string `i` ends) is
    /// exactly `wanted`; empty strings never match.
    @inline(__always)
    private static func index(of wanted: UnsafeRawBufferPointer, in all: [UInt8], ends: [Int]) -> Int? {
        guard let wantedBase = wanted.baseAddress, wanted.count > 0 else { return nil }
        return all.withUnsafeBytes { allBytes -> Int? in
            guard let allBase = allBytes.baseAddress else { return nil }
            return ends.withUnsafeBufferPointer { ends -> Int? in
                var start = 0
                for index in 0..<ends.count {
                    let end = ends[index]
                    if end - start == wanted.count, memcmp(allBase + start, wantedBase, wanted.count) == 0 { return index }
                    start = end
                }
                return nil
            }
        }
    }

    /// Checks a signature with key `index` of `ordered`, borrowing the key in place (see above).
    @inline(__always)
    func isValidSignature(keyIndex: Int, _ signature: UnsafeRawBufferPointer, signingInput: UnsafeRawBufferPointer) -> Bool {
        let hmacVerdict = hmacKeys.withUnsafeBufferPointer { keys in
            keys[keyIndex]?.isValidAuthenticationCode(raw: signature, message: signingInput)
        }
        if let hmacVerdict { return hmacVerdict }
        return ordered.withUnsafeBufferPointer { keys in keys[keyIndex].isValidSignature(signature, signingInput: signingInput) }
    }

    /// The algorithm of key `index` of `ordered`.
    @inline(__always)
    func algorithm(keyIndex: Int) -> JWSAlgorithm {
        ordered.withUnsafeBufferPointer { keys in keys[keyIndex].algorithm }
    }
}
