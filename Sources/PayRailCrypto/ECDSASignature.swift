import COpenSSL
import Foundation

/// An ECDSA signature over a 256-bit curve (P-256 or secp256k1): the integers r and s.
///
/// Stored as 64 bytes r||s (the JWS `ES256` and BOLT11 form). The DER form is produced and parsed here,
/// strictly: exactly one canonical encoding is accepted for each (r, s), so a signature cannot be
/// re-encoded into a different byte string that still verifies.
public struct ECDSASignature: Sendable, Hashable {
    static let scalarByteCount = 32

    /// r||s, each a 32-byte big-endian integer.
    public let rawRepresentation: [UInt8]

    /// Accepts exactly 64 bytes r||s (IEEE P1363 / JWS form). Range checks (0 < r, s < n) happen
    /// when verifying, because they depend on the curve.
    public init(rawRepresentation: some ContiguousBytes) throws(CryptoError) {
        let bytes = byteArray(rawRepresentation)
        guard bytes.count == 2 * ECDSASignature.scalarByteCount else {
            throw CryptoError(
                code: .invalidLength,
                reason: "a raw ECDSA signature is 64 bytes r||s, got \(bytes.count) bytes")
        }
        self.rawRepresentation = bytes
    }

    /// Parses a strict DER `SEQUENCE { INTEGER r, INTEGER s }`. Refused: BER forms (long or
    /// indefinite lengths, non-minimal integers), negative integers, integers wider than 256 bits,
    /// and any trailing bytes.
    public init(derRepresentation: some ContiguousBytes) throws(CryptoError) {
        let der = byteArray(derRepresentation)
        // With r and s at most 33 content bytes each, the whole sequence is at most 70 bytes, so a
        // canonical encoding always uses the one-byte short length form.
        guard der.count >= 2, der[0] == 0x30 else {
            throw CryptoError(code: .invalidEncoding, reason: "a DER ECDSA signature must start with a SEQUENCE")
        }
        guard der[1] < 0x80, Int(der[1]) == der.count - 2 else {
            throw CryptoError(
                code: .invalidEncoding,
                reason: "the DER SEQUENCE length is not a short-form length covering exactly the remaining bytes")
        }
        var offset = 2
        let r = try ECDSASignature.parseInteger(der, &offset)
        let s = try ECDSASignature.parseInteger(der, &offset)
        guard offset == der.count else {
            throw CryptoError(code: .invalidEncoding, reason: "unexpected bytes after the DER integers")
        }
        self.rawRepresentation = r + s
    }

    /// The canonical DER encoding (what OpenSSL and X.509 expect).
    public var derRepresentation: [UInt8] {
        let r = ECDSASignature.encodeInteger(rawRepresentation[0..<32])
        let s = ECDSASignature.encodeInteger(rawRepresentation[32..<64])
        return [0x30, UInt8(r.count + s.count)] + r + s
    }

    /// r as 32 big-endian bytes.
    public var r: [UInt8] { Array(rawRepresentation[0..<32]) }

    /// s as 32 big-endian bytes.
    public var s: [UInt8] { Array(rawRepresentation[32..<64]) }

    /// Reads one minimal, non-negative DER INTEGER and returns it left-padded to 32 bytes.
    private static func parseInteger(_ der: [UInt8], _ offset: inout Int) throws(CryptoError) -> [UInt8] {
        guard offset + 2 <= der.count, der[offset] == 0x02 else {
            throw CryptoError(code: .invalidEncoding, reason: "expected a DER INTEGER")
        }
        let length = Int(der[offset + 1])
        guard length < 0x80, length > 0, offset + 2 + length <= der.count else {
            throw CryptoError(code: .invalidEncoding, reason: "a DER INTEGER has a missing, long-form or overlong length")
        }
        var content = der[(offset + 2)..<(offset + 2 + length)]
        offset += 2 + length
        guard let first = content.first, first & 0x80 == 0 else {
            throw CryptoError(code: .invalidSignature, reason: "a negative integer is never a valid r or s")
        }
        if first == 0, content.count > 1 {
            guard content[content.startIndex + 1] & 0x80 != 0 else {
                throw CryptoError(code: .invalidEncoding, reason: "a DER INTEGER has a superfluous leading zero")
            }
            content = content.dropFirst()
        }
        guard content.count <= scalarByteCount else {
            throw CryptoError(code: .invalidSignature, reason: "r or s is wider than 256 bits")
        }
        return [UInt8](repeating: 0, count: scalarByteCount - content.count) + content
    }

    /// Encodes a 32-byte big-endian unsigned integer as a minimal DER INTEGER.
    private static func encodeInteger(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var content = Array(bytes.drop { $0 == 0 })
        if content.isEmpty { content = [0] }
        if let first = content.first, first & 0x80 != 0 { content.insert(0, at: 0) }
        return [0x02, UInt8(content.count)] + content
    }
}

/// Shared ECDSA plumbing for the 256-bit curves: signing and verifying a 32-byte digest with a key
/// whose `EVP_PKEY` is already loaded.
enum ECDSAOperations {
    /// Verifies a digest. A fresh `EVP_PKEY_CTX` per call keeps concurrent verifications independent.
    static func verify(key: OwnedPKey, signature: ECDSASignature, digest: UnsafePointer<UInt8>, digestCount: Int) -> Bool {
        let der = signature.derRepresentation
        return der.withUnsafeBufferPointer { sig in
            key.verifyContexts.withContext(make: { makeVerifyContext(key) }, failure: false) { context in
                let valid = EVP_PKEY_verify(context, sig.baseAddress, sig.count, digest, digestCount) == 1
                if !valid { discardOpenSSLErrors() }
                // EVP_PKEY_verify keeps no per-call state: the context serves the next signature as is.
                return (valid, true)
            }
        }
    }

    /// A verification context bound to `key`, initialised once for many verifications.
    private static func makeVerifyContext(_ key: OwnedPKey) -> OpaquePointer? {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key.pointer, nil) else {
            discardOpenSSLErrors()
            return nil
        }
        guard EVP_PKEY_verify_init(context) == 1 else {
            discardOpenSSLErrors()
            EVP_PKEY_CTX_free(context)
            return nil
        }
        return context
    }

    /// Signs a digest with OpenSSL's randomized ECDSA and returns r||s.
    static func sign(key: OwnedPKey, digest: [UInt8]) throws(CryptoError) -> ECDSASignature {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key.pointer, nil) else {
            throw openSSLError(.internalFailure, "could not allocate an ECDSA signing context")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_sign_init(context) == 1 else {
            throw openSSLError(.internalFailure, "could not start an ECDSA signature")
        }
        var der = [UInt8](repeating: 0, count: 80)
        var length = der.count
        let ok = digest.withUnsafeBufferPointer { input in
            der.withUnsafeMutableBufferPointer { out in
                EVP_PKEY_sign(context, out.baseAddress, &length, input.baseAddress, input.count)
            }
        }
        guard ok == 1, length <= der.count else {
            throw openSSLError(.internalFailure, "OpenSSL failed to produce an ECDSA signature")
        }
        return try ECDSASignature(derRepresentation: der[0..<length])
    }
}

/// Raw 256-bit big-endian arithmetic needed outside OpenSSL (low-S normalisation and checks).
enum UInt256Bytes {
    /// Whether a <= b, for equal-length big-endian byte strings.
    static func isLessThanOrEqual(_ a: some Collection<UInt8>, _ b: [UInt8]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x < y }
        return true
    }

    /// a - b for big-endian 32-byte values with a >= b.
    static func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: a.count)
        var borrow = 0
        for index in stride(from: a.count - 1, through: 0, by: -1) {
            var difference = Int(a[index]) - Int(b[index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            result[index] = UInt8(difference)
        }
        return result
    }
}
