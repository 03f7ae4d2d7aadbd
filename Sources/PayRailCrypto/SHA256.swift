import COpenSSL
import Foundation

/// SHA-256 (FIPS 180-4), the hash behind every PayRail binding, receipt and Lightning payment hash.
public enum SHA256 {
    /// The number of bytes in a SHA-256 digest.
    public static let byteCount = 32

    /// Hashes `data` in one call.
    ///
    /// Never fails on valid input; the process stops if OpenSSL cannot hash at all (the default
    /// provider is missing), because no payment could be verified in that state.
    public static func hash(_ data: some ContiguousBytes) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        let ok = withBytePointer(data) { pointer, count in
            digest.withUnsafeMutableBufferPointer { out in
                EVP_Digest(pointer, count, out.baseAddress, nil, fetchedAlgorithms.sha256, nil)
            }
        }
        guard ok == 1 else {
            fatalError("OpenSSL EVP_Digest(SHA256) failed; the crypto library is unusable")
        }
        return digest
    }
}
