import COpenSSL
import Foundation

/// ECDSA over NIST P-256 with SHA-256 (JOSE `ES256`), for receipts consumed by peers that lack Ed25519.
public enum P256 {
    static let groupName = "prime256v1"
    static let coordinateByteCount = 32

    /// DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480); the 65-byte uncompressed point follows.
    static let spkiPrefix: [UInt8] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A,
        0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]

    /// A P-256 signing key. Not `Hashable` on purpose: comparing secrets invites timing leaks.
    public struct PrivateKey: Sendable {
        private let key: OwnedPKey
        private let scalar: [UInt8]
        /// The matching verification key, derived once at creation.
        public let publicKey: PublicKey

        /// Generates a new random key.
        public init() throws(CryptoError) {
            guard let generated = payrail_ec_generate(P256.groupName) else {
                throw openSSLError(.internalFailure, "OpenSSL could not generate a P-256 key")
            }
            let owned = OwnedPKey(generated)
            guard let d = bigEndianParameter(owned, "priv", length: P256.coordinateByteCount) else {
                throw openSSLError(.internalFailure, "could not read the generated P-256 scalar")
            }
            try self.init(rawRepresentation: d)
        }

        /// Loads a key from its 32-byte big-endian scalar d; refuses d = 0 and d >= n.
        public init(rawRepresentation d: some ContiguousBytes) throws(CryptoError) {
            let bytes = byteArray(d)
            guard bytes.count == P256.coordinateByteCount else {
                throw CryptoError(
                    code: .invalidLength, reason: "a P-256 private key is a 32-byte scalar, got \(bytes.count) bytes")
            }
            let pkey = bytes.withUnsafeBufferPointer { buffer in
                payrail_ec_private_key(NID_X9_62_prime256v1, P256.groupName, buffer.baseAddress, buffer.count)
            }
            guard let pkey else {
                throw openSSLError(.invalidKey, "the scalar is not a valid P-256 private key (must be in 1...n-1)")
            }
            let owned = OwnedPKey(pkey)
            guard let x = bigEndianParameter(owned, "qx", length: P256.coordinateByteCount),
                let y = bigEndianParameter(owned, "qy", length: P256.coordinateByteCount)
            else { throw openSSLError(.internalFailure, "could not derive the P-256 public key") }
            self.key = owned
            self.scalar = bytes
            self.publicKey = try PublicKey(x963Representation: [0x04] + x + y)
        }

        /// Loads a key from PEM: PKCS#8 "PRIVATE KEY" (or SEC1 "EC PRIVATE KEY"). Encrypted PEM and
        /// keys on other curves are refused.
        public init(pemRepresentation: String) throws(CryptoError) {
            let loaded = try readPrivateKeyPEM(pemRepresentation)
            guard ecGroupName(loaded) == P256.groupName else {
                throw CryptoError(code: .invalidKey, reason: "the PEM private key is not a P-256 key")
            }
            guard let d = bigEndianParameter(loaded, "priv", length: P256.coordinateByteCount) else {
                throw openSSLError(.invalidKey, "could not read the P-256 scalar from the PEM key")
            }
            try self.init(rawRepresentation: d)
        }

        /// The 32-byte scalar d. Handle with care: this is the secret.
        public var rawRepresentation: [UInt8] { scalar }

        /// The key as PKCS#8 PEM ("PRIVATE KEY"), byte-identical to what OpenSSL writes
        /// (RFC 5915 ECPrivateKey with the public key, curve named in the algorithm identifier).
        public var pemRepresentation: String {
            let ecPrivateKey: [UInt8] =
                [0x30, 0x6B, 0x02, 0x01, 0x01, 0x04, 0x20] + scalar + [0xA1, 0x44, 0x03, 0x42, 0x00]
                + publicKey.x963Representation
            let algorithm: [UInt8] = [
                0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48,
                0xCE, 0x3D, 0x03, 0x01, 0x07,
            ]
            let body: [UInt8] = [0x02, 0x01, 0x00] + algorithm + [0x04, 0x6D] + ecPrivateKey
            return pemEncode([0x30, 0x81, UInt8(body.count)] + body, label: "PRIVATE KEY")
        }

        /// Signs SHA-256(`message`) with randomized ECDSA (a new nonce per call).
        public func signature(for message: some ContiguousBytes) throws(CryptoError) -> ECDSASignature {
            try ECDSAOperations.sign(key: key, digest: SHA256.hash(message))
        }
    }

    /// A P-256 verification key. Holds the parsed OpenSSL key for its lifetime, so verifying never
    /// re-parses it; safe to share between threads.
    public struct PublicKey: Sendable, Hashable {
        private let key: OwnedPKey
        /// The uncompressed point 04||x||y (65 bytes, SEC1 / ANSI X9.63).
        public let x963Representation: [UInt8]

        /// Loads a key from the 65-byte uncompressed point 04||x||y; refuses points off the curve.
        public init(x963Representation: some ContiguousBytes) throws(CryptoError) {
            let bytes = byteArray(x963Representation)
            guard bytes.count == 1 + 2 * P256.coordinateByteCount, bytes[0] == 0x04 else {
                throw CryptoError(
                    code: .invalidLength,
                    reason: "a P-256 public key here is the 65-byte uncompressed point 04||x||y, got \(bytes.count) bytes")
            }
            let pkey = bytes.withUnsafeBufferPointer { buffer in
                payrail_ec_public_key(P256.groupName, buffer.baseAddress, buffer.count)
            }
            guard let pkey else { throw openSSLError(.invalidKey, "the point is not on the P-256 curve") }
            self.key = OwnedPKey(pkey)
            self.x963Representation = bytes
        }

        /// Loads a key from its affine coordinates, each exactly 32 big-endian bytes (the JWK form).
        public init(x: some ContiguousBytes, y: some ContiguousBytes) throws(CryptoError) {
            let xBytes = byteArray(x)
            let yBytes = byteArray(y)
            guard xBytes.count == P256.coordinateByteCount, yBytes.count == P256.coordinateByteCount else {
                throw CryptoError(code: .invalidLength, reason: "P-256 coordinates are 32 bytes each")
            }
            try self.init(x963Representation: [0x04] + xBytes + yBytes)
        }

        /// Loads a key from SubjectPublicKeyInfo PEM ("PUBLIC KEY"); refuses other curves.
        public init(pemRepresentation: String) throws(CryptoError) {
            try self.init(loaded: readPublicKeyPEM(pemRepresentation))
        }

        /// Loads a key from DER SubjectPublicKeyInfo; refuses other curves and trailing bytes.
        public init(derRepresentation: some ContiguousBytes) throws(CryptoError) {
            try self.init(loaded: readPublicKeyDER(derRepresentation))
        }

        private init(loaded: OwnedPKey) throws(CryptoError) {
            guard ecGroupName(loaded) == P256.groupName else {
                throw CryptoError(code: .invalidKey, reason: "the public key is not a P-256 key")
            }
            guard let x = bigEndianParameter(loaded, "qx", length: P256.coordinateByteCount),
                let y = bigEndianParameter(loaded, "qy", length: P256.coordinateByteCount)
            else { throw openSSLError(.invalidKey, "could not read the P-256 point") }
            try self.init(x963Representation: [0x04] + x + y)
        }

        /// The x coordinate, 32 big-endian bytes.
        public var x: [UInt8] { Array(x963Representation[1...32]) }

        /// The y coordinate, 32 big-endian bytes.
        public var y: [UInt8] { Array(x963Representation[33...64]) }

        /// The key as DER SubjectPublicKeyInfo.
        public var derRepresentation: [UInt8] { P256.spkiPrefix + x963Representation }

        /// The key as SubjectPublicKeyInfo PEM ("PUBLIC KEY").
        public var pemRepresentation: String { pemEncode(derRepresentation, label: "PUBLIC KEY") }

        /// Whether `signature` signs SHA-256(`message`) under this key. r and s must be in 1...n-1.
        @inlinable
        public func isValidSignature(_ signature: ECDSASignature, for message: some ContiguousBytes) -> Bool {
            message.withUnsafeBytes { isValidSignature(signature, raw: $0) }
        }

        @usableFromInline
        func isValidSignature(_ signature: ECDSASignature, raw message: UnsafeRawBufferPointer) -> Bool {
            let digest = SHA256.hash(message)
            return digest.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return false }
                return ECDSAOperations.verify(key: key, signature: signature, digest: base, digestCount: buffer.count)
            }
        }

        /// Keys are equal when their points are equal.
        public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
            lhs.x963Representation == rhs.x963Representation
        }

        /// Hashes the point, consistent with `==`.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(x963Representation)
        }
    }
}

extension P256.PrivateKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Names the key type and its public key; the private bytes never appear in text or `dump`.
    public var description: String { "P256.PrivateKey(public: \(Base64URL.encode(publicKey.x963Representation)))" }
    /// The same as `description`.
    public var debugDescription: String { description }
    /// A mirror without the secret, so `dump` and debuggers cannot print it either.
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": Base64URL.encode(publicKey.x963Representation)], displayStyle: .struct) }
}
