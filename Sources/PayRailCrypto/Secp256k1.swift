import COpenSSL
import Foundation

/// ECDSA over secp256k1, as Lightning (BOLT 11 invoice signatures) and Bitcoin use it.
public enum Secp256k1 {
    static let groupName = "secp256k1"
    static let scalarByteCount = 32

    /// n / 2 (rounded down), the largest s a low-S (BIP 62 / BIP 146) signature may carry.
    static let halfOrder: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
    ]
    /// The group order n.
    static let order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    ]

    /// A secp256k1 signing key, for test nodes and fake rails that must produce real BOLT 11 signatures.
    /// Not `Hashable` on purpose: comparing secrets invites timing leaks.
    public struct PrivateKey: Sendable {
        private let key: OwnedPKey
        private let scalar: [UInt8]
        /// The matching verification key, derived once at creation.
        public let publicKey: PublicKey

        /// Generates a new random key.
        public init() throws(CryptoError) {
            guard let generated = payrail_ec_generate(Secp256k1.groupName) else {
                throw openSSLError(.internalFailure, "OpenSSL could not generate a secp256k1 key")
            }
            guard let d = bigEndianParameter(OwnedPKey(generated), "priv", length: Secp256k1.scalarByteCount) else {
                throw openSSLError(.internalFailure, "could not read the generated secp256k1 scalar")
            }
            try self.init(rawRepresentation: d)
        }

        /// Loads a key from its 32-byte big-endian scalar; refuses 0 and values >= n.
        public init(rawRepresentation: some ContiguousBytes) throws(CryptoError) {
            let bytes = byteArray(rawRepresentation)
            guard bytes.count == Secp256k1.scalarByteCount else {
                throw CryptoError(
                    code: .invalidLength,
                    reason: "a secp256k1 private key is a 32-byte scalar, got \(bytes.count) bytes")
            }
            let pkey = bytes.withUnsafeBufferPointer { buffer in
                payrail_ec_private_key(NID_secp256k1, Secp256k1.groupName, buffer.baseAddress, buffer.count)
            }
            guard let pkey else {
                throw openSSLError(.invalidKey, "the scalar is not a valid secp256k1 private key (must be in 1...n-1)")
            }
            let owned = OwnedPKey(pkey)
            guard let x = bigEndianParameter(owned, "qx", length: Secp256k1.scalarByteCount),
                let y = bigEndianParameter(owned, "qy", length: Secp256k1.scalarByteCount)
            else { throw openSSLError(.internalFailure, "could not derive the secp256k1 public key") }
            self.key = owned
            self.scalar = bytes
            self.publicKey = try PublicKey(serialized: [0x04] + x + y)
        }

        /// The 32-byte scalar. Handle with care: this is the secret.
        public var rawRepresentation: [UInt8] { scalar }

        /// Signs a 32-byte digest; the result is always low-S (s <= n/2), as Bitcoin and Lightning demand.
        public func signature(forDigest digest: some ContiguousBytes) throws(CryptoError) -> ECDSASignature {
            let digestBytes = byteArray(digest)
            guard digestBytes.count == SHA256.byteCount else {
                throw CryptoError(code: .invalidLength, reason: "a secp256k1 digest must be 32 bytes")
            }
            let signature = try ECDSAOperations.sign(key: key, digest: digestBytes)
            let s = signature.s
            if UInt256Bytes.isLessThanOrEqual(s, Secp256k1.halfOrder) { return signature }
            return try ECDSASignature(rawRepresentation: signature.r + UInt256Bytes.subtract(Secp256k1.order, s))
        }

        /// Signs a 32-byte digest and finds the recovery id (0...3) that lets a verifier rebuild this
        /// key from the signature alone, the form BOLT 11 invoices carry.
        public func recoverableSignature(
            forDigest digest: some ContiguousBytes
        ) throws(CryptoError) -> (signature: ECDSASignature, recoveryID: Int) {
            let digestBytes = byteArray(digest)
            let signature = try signature(forDigest: digestBytes)
            for recoveryID in 0...3 {
                let recovered = try? PublicKey.recover(
                    compactSignature: signature.rawRepresentation, recoveryID: recoveryID, digest: digestBytes)
                if recovered == publicKey { return (signature, recoveryID) }
            }
            throw CryptoError(code: .internalFailure, reason: "no recovery id reproduces the signing key")
        }
    }

    /// A secp256k1 verification key. Holds the parsed OpenSSL key for its lifetime; safe to share
    /// between threads.
    public struct PublicKey: Sendable, Hashable {
        private let key: OwnedPKey
        /// 04||x||y, 65 bytes.
        public let uncompressedRepresentation: [UInt8]

        /// Loads a key from a 33-byte compressed (02/03||x) or 65-byte uncompressed (04||x||y) point;
        /// refuses points off the curve. Hybrid encodings (06/07) are refused.
        public init(serialized: some ContiguousBytes) throws(CryptoError) {
            let bytes = byteArray(serialized)
            let isCompressed = bytes.count == 33 && (bytes[0] == 0x02 || bytes[0] == 0x03)
            let isUncompressed = bytes.count == 65 && bytes[0] == 0x04
            guard isCompressed || isUncompressed else {
                throw CryptoError(
                    code: .invalidLength,
                    reason: "a secp256k1 public key is 33 bytes (02/03||x) or 65 bytes (04||x||y), got \(bytes.count) bytes")
            }
            let pkey = bytes.withUnsafeBufferPointer { buffer in
                payrail_ec_public_key(Secp256k1.groupName, buffer.baseAddress, buffer.count)
            }
            guard let pkey else { throw openSSLError(.invalidKey, "the point is not on the secp256k1 curve") }
            let owned = OwnedPKey(pkey)
            guard let x = bigEndianParameter(owned, "qx", length: Secp256k1.scalarByteCount),
                let y = bigEndianParameter(owned, "qy", length: Secp256k1.scalarByteCount)
            else { throw openSSLError(.invalidKey, "could not read the secp256k1 point") }
            self.key = owned
            self.uncompressedRepresentation = [0x04] + x + y
        }

        /// Loads a key from DER SubjectPublicKeyInfo; refuses other curves and trailing bytes.
        public init(derRepresentation: some ContiguousBytes) throws(CryptoError) {
            let loaded = try readPublicKeyDER(derRepresentation)
            guard ecGroupName(loaded) == Secp256k1.groupName else {
                throw CryptoError(code: .invalidKey, reason: "the public key is not a secp256k1 key")
            }
            guard let x = bigEndianParameter(loaded, "qx", length: Secp256k1.scalarByteCount),
                let y = bigEndianParameter(loaded, "qy", length: Secp256k1.scalarByteCount)
            else { throw openSSLError(.invalidKey, "could not read the secp256k1 point") }
            try self.init(serialized: [0x04] + x + y)
        }

        /// 02/03||x, 33 bytes: the form Lightning node ids use.
        public var compressedRepresentation: [UInt8] {
            let yIsOdd = (uncompressedRepresentation[64] & 1) == 1
            return [yIsOdd ? 0x03 : 0x02] + uncompressedRepresentation[1...32]
        }

        /// Whether `signature` signs the 32-byte `digest` under this key.
        /// Bitcoin rule: signatures with s > n/2 are refused when `requireLowS`, because (r, n - s)
        /// is a second valid signature anyone can derive (malleability).
        public func isValidSignature(
            _ signature: ECDSASignature, forDigest digest: some ContiguousBytes, requireLowS: Bool = true
        ) -> Bool {
            if requireLowS, !UInt256Bytes.isLessThanOrEqual(signature.rawRepresentation[32..<64], Secp256k1.halfOrder) {
                return false
            }
            return withBytePointer(digest) { pointer, count in
                guard count == SHA256.byteCount else { return false }
                return ECDSAOperations.verify(key: key, signature: signature, digest: pointer, digestCount: count)
            }
        }

        /// Whether `signature` signs SHA-256(`message`) under this key; see `isValidSignature(_:forDigest:requireLowS:)`.
        public func isValidSignature(
            _ signature: ECDSASignature, for message: some ContiguousBytes, requireLowS: Bool = true
        ) -> Bool {
            isValidSignature(signature, forDigest: SHA256.hash(message), requireLowS: requireLowS)
        }

        /// Keys are equal when their points are equal.
        public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
            lhs.uncompressedRepresentation == rhs.uncompressedRepresentation
        }

        /// Hashes the point, consistent with `==`.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(uncompressedRepresentation)
        }
    }
}

extension Secp256k1.PrivateKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Names the key type and its public key; the private bytes never appear in text or `dump`.
    public var description: String { "Secp256k1.PrivateKey(public: \(Base64URL.encode(publicKey.compressedRepresentation)))" }
    /// The same as `description`.
    public var debugDescription: String { description }
    /// A mirror without the secret, so `dump` and debuggers cannot print it either.
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": Base64URL.encode(publicKey.compressedRepresentation)], displayStyle: .struct) }
}
