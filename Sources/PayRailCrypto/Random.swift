import COpenSSL
import Foundation

/// Cryptographically secure random bytes from OpenSSL's DRBG (seeded by the operating system),
/// for keys, nonces, preimages and token identifiers.
public enum SecureRandom {
    /// Returns `count` random bytes. Throws `invalidLength` for a negative count and `randomFailure`
    /// if the generator is not seeded (retrying later may succeed; never fall back to a weaker source).
    public static func bytes(count: Int) throws(CryptoError) -> [UInt8] {
        guard count >= 0 else {
            throw CryptoError(code: .invalidLength, reason: "cannot produce \(count) random bytes")
        }
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        // RAND_bytes takes an Int32 length; very large requests are served in pieces.
        while offset < count {
            let piece = min(count - offset, Int(Int32.max))
            let ok = out.withUnsafeMutableBufferPointer { buffer in
                RAND_bytes(buffer.baseAddress.map { $0 + offset }, Int32(piece))
            }
            guard ok == 1 else {
                throw openSSLError(.randomFailure, "the random generator failed (not seeded?)")
            }
            offset += piece
        }
        return out
    }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they differ,
/// so a MAC or token check cannot be probed byte by byte. Different lengths compare unequal
/// (lengths are not secret in any PayRail protocol).
public func constantTimeEquals(_ a: some ContiguousBytes, _ b: some ContiguousBytes) -> Bool {
    withBytePointer(a) { left, leftCount in
        withBytePointer(b) { right, rightCount in
            guard leftCount == rightCount else { return false }
            return CRYPTO_memcmp(left, right, leftCount) == 0
        }
    }
}

/// Facts about the linked OpenSSL, for diagnostics and benchmark reports.
public enum OpenSSLInfo {
    /// The full version text of the libcrypto loaded at run time, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public static var versionString: String {
        guard let text = OpenSSL_version(OPENSSL_VERSION) else { return "unknown OpenSSL" }
        return String(cString: text)
    }
}
