import COpenSSL
import Foundation

/// Ed25519 signatures (RFC 8032), PayRail's default receipt algorithm (JOSE `EdDSA`, RFC 8037).
public enum Ed25519 {
    /// Bytes in a seed (private key), a public key, and a signature.
    static let seedByteCount = 32
    static let publicKeyByteCount = 32
    static let signatureByteCount = 64

    /// PKCS#8 prefix for an Ed25519 seed (RFC 8410 section 7): the seed follows as an OCTET STRING.
    static let pkcs8Prefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
    /// SubjectPublicKeyInfo prefix for an Ed25519 public key (RFC 8410 section 4).
    static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// An Ed25519 signing key. Not `Hashable` on purpose: comparing secrets invites timing leaks.
    public struct PrivateKey: Sendable {
        private let key: OwnedPKey
        private let seed: [UInt8]
        /// The matching verification key, derived once at creation.
        public let publicKey: PublicKey

        /// Generates a new random key.
        public init() throws(CryptoError) {
            try self.init(rawRepresentation: SecureRandom.bytes(count: Ed25519.seedByteCount))
        }

        /// Loads a key from its 32-byte seed (RFC 8032 "private key").
        public init(rawRepresentation seed: some ContiguousBytes) throws(CryptoError) {
            let bytes = byteArray(seed)
            guard bytes.count == Ed25519.seedByteCount else {
                throw CryptoError(
                    code: .invalidLength,
                    reason: "an Ed25519 private key is a 32-byte seed, got \(bytes.count) bytes")
            }
            let pkey = bytes.withUnsafeBufferPointer { buffer in
                EVP_PKEY_new_raw_private_key_ex(nil, "ED25519", nil, buffer.baseAddress, buffer.count)
            }
            guard let pkey else { throw openSSLError(.internalFailure, "OpenSSL could not load the Ed25519 seed") }
            let owned = OwnedPKey(pkey)
            var publicBytes = [UInt8](repeating: 0, count: Ed25519.publicKeyByteCount)
            var length = publicBytes.count
            guard EVP_PKEY_get_raw_public_key(owned.pointer, &publicBytes, &length) == 1,
                length == Ed25519.publicKeyByteCount
            else { throw openSSLError(.internalFailure, "OpenSSL could not derive the Ed25519 public key") }
            self.key = owned
            self.seed = bytes
            self.publicKey = try PublicKey(rawRepresentation: publicBytes)
        }

        /// Loads a key from PKCS#8 PEM ("PRIVATE KEY", as written by `openssl genpkey -algorithm ed25519`).
        /// Encrypted PEM is refused rather than prompting for a passphrase.
        public init(pemRepresentation: String) throws(CryptoError) {
            let loaded = try readPrivateKeyPEM(pemRepresentation)
            guard EVP_PKEY_is_a(loaded.pointer, "ED25519") == 1 else {
                throw CryptoError(code: .invalidKey, reason: "the PEM private key is not an Ed25519 key")
            }
            var seed = [UInt8](repeating: 0, count: Ed25519.seedByteCount)
            var length = seed.count
            guard EVP_PKEY_get_raw_private_key(loaded.pointer, &seed, &length) == 1,
                length == Ed25519.seedByteCount
            else { throw openSSLError(.invalidKey, "could not read the Ed25519 seed from the PEM key") }
            try self.init(rawRepresentation: seed)
        }

        /// The 32-byte seed. Handle with care: this is the secret.
        public var rawRepresentation: [UInt8] { seed }

        /// The key as PKCS#8 PEM ("PRIVATE KEY"), byte-identical to what OpenSSL writes.
        public var pemRepresentation: String {
            pemEncode(Ed25519.pkcs8Prefix + seed, label: "PRIVATE KEY")
        }

        /// Signs `message` (pure Ed25519: the message itself, not a hash of it). Returns 64 bytes.
        /// Ed25519 is deterministic, so the same message always gives the same signature.
        public func signature(for message: some ContiguousBytes) throws(CryptoError) -> [UInt8] {
            guard let context = EVP_MD_CTX_new() else {
                throw openSSLError(.internalFailure, "could not allocate a signing context")
            }
            defer { EVP_MD_CTX_free(context) }
            guard EVP_DigestSignInit_ex(context, nil, nil, nil, nil, key.pointer, nil) == 1 else {
                throw openSSLError(.internalFailure, "could not start an Ed25519 signature")
            }
            var signature = [UInt8](repeating: 0, count: Ed25519.signatureByteCount)
            var length = signature.count
            let ok = withBytePointer(message) { pointer, count in
                signature.withUnsafeMutableBufferPointer { out in
                    EVP_DigestSign(context, out.baseAddress, &length, pointer, count)
                }
            }
            guard ok == 1, length == Ed25519.signatureByteCount else {
                throw openSSLError(.internalFailure, "OpenSSL failed to produce an Ed25519 signature")
            }
            return signature
        }
    }

    /// An Ed25519 verification key. Holds the parsed OpenSSL key for its lifetime, so verifying
    /// never re-parses it; safe to share between threads.
    public struct PublicKey: Sendable, Hashable {
        private let key: OwnedPKey
        /// The 32-byte encoded point (RFC 8032 section 5.1.5).
        public let rawRepresentation: [UInt8]

        /// Loads a key from its 32-byte encoding. The point itself is checked when verifying: a
        /// key that does not decode to a curve point simply never verifies anything.
        public init(rawRepresentation: some ContiguousBytes) throws(CryptoError) {
            let bytes = byteArray(rawRepresentation)
            guard bytes.count == Ed25519.publicKeyByteCount else {
                throw CryptoError(
                    code: .invalidLength,
                    reason: "an Ed25519 public key is 32 bytes, got \(bytes.count) bytes")
            }
            let pkey = bytes.withUnsafeBufferPointer { buffer in
                EVP_PKEY_new_raw_public_key_ex(nil, "ED25519", nil, buffer.baseAddress, buffer.count)
            }
            guard let pkey else { throw openSSLError(.invalidKey, "OpenSSL refused the Ed25519 public key") }
            self.key = OwnedPKey(pkey)
            self.rawRepresentation = bytes
        }

        /// Loads a key from SubjectPublicKeyInfo PEM ("PUBLIC KEY").
        public init(pemRepresentation: String) throws(CryptoError) {
            try self.init(loaded: readPublicKeyPEM(pemRepresentation))
        }

        /// Loads a key from DER SubjectPublicKeyInfo (RFC 8410), refusing trailing bytes.
        public init(derRepresentation: some ContiguousBytes) throws(CryptoError) {
            try self.init(loaded: readPublicKeyDER(derRepresentation))
        }

        private init(loaded: OwnedPKey) throws(CryptoError) {
            guard EVP_PKEY_is_a(loaded.pointer, "ED25519") == 1 else {
                throw CryptoError(code: .invalidKey, reason: "the public key is not an Ed25519 key")
            }
            var raw = [UInt8](repeating: 0, count: Ed25519.publicKeyByteCount)
            var length = raw.count
            guard EVP_PKEY_get_raw_public_key(loaded.pointer, &raw, &length) == 1,
                length == Ed25519.publicKeyByteCount
            else { throw openSSLError(.invalidKey, "could not read the Ed25519 public key") }
            self.key = loaded
            self.rawRepresentation = raw
        }

        /// The key as DER SubjectPublicKeyInfo.
        public var derRepresentation: [UInt8] { Ed25519.spkiPrefix + rawRepresentation }

        /// The key as SubjectPublicKeyInfo PEM ("PUBLIC KEY").
        public var pemRepresentation: String { pemEncode(derRepresentation, label: "PUBLIC KEY") }

        /// Whether `signature` is a valid Ed25519 signature of `message` by this key. Anything other
        /// than exactly 64 bytes is refused; OpenSSL rejects non-canonical S (S >= L) so signatures
        /// are not malleable.
        @inlinable
        public func isValidSignature(_ signature: some ContiguousBytes, for message: some ContiguousBytes) -> Bool {
            // Unwrapped here, in the caller's module, so the call below is not generic: receipt
            // verification calls this per token and must not pay for unspecialized generics.
            signature.withUnsafeBytes { signatureBytes in
                message.withUnsafeBytes { messageBytes in isValidSignature(raw: signatureBytes, message: messageBytes) }
            }
        }

        @usableFromInline
        func isValidSignature(raw signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
            withBytePointer(signature) { signaturePointer, signatureCount in
                guard signatureCount == Ed25519.signatureByteCount else { return false }
                return withBytePointer(message) { messagePointer, messageCount in
                    key.digestVerifyContexts.withContext(make: makeVerifyContext, failure: false) { context in
                        let valid = EVP_DigestVerify(context, signaturePointer, signatureCount, messagePointer, messageCount) == 1
                        if !valid { discardOpenSSLErrors() }
                        // A one-shot Ed25519 verification leaves the context ready for the next one.
                        return (valid, true)
                    }
                }
            }
        }

        /// A digest-verify context bound to this key, initialised once for many verifications.
        private func makeVerifyContext() -> OpaquePointer? {
            guard let context = EVP_MD_CTX_new() else { return nil }
            guard EVP_DigestVerifyInit_ex(context, nil, nil, nil, nil, key.pointer, nil) == 1 else {
                discardOpenSSLErrors()
                EVP_MD_CTX_free(context)
                return nil
            }
            return context
        }

        /// Keys are equal when their encodings are equal.
        public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
            lhs.rawRepresentation == rhs.rawRepresentation
        }

        /// Hashes the encoding, consistent with `==`.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(rawRepresentation)
        }
    }
}

extension Ed25519.PrivateKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Names the key type and its public key; the private bytes never appear in text or `dump`.
    public var description: String { "Ed25519.PrivateKey(public: \(Base64URL.encode(publicKey.rawRepresentation)))" }
    /// The same as `description`.
    public var debugDescription: String { description }
    /// A mirror without the secret, so `dump` and debuggers cannot print it either.
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": Base64URL.encode(publicKey.rawRepresentation)], displayStyle: .struct) }
}
