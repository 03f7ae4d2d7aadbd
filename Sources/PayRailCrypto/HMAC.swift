import COpenSSL
import Foundation

/// HMAC-SHA256 (RFC 2104) in one call, for keys used once (webhook secrets, macaroon chains).
///
/// For a key used for many messages, create an `HMACKey` once instead: it keys OpenSSL a single time.
public enum HMACSHA256 {
    /// The number of bytes in a full HMAC-SHA256 tag.
    public static let byteCount = 32

    /// Computes the 32-byte tag of `message` under `key`. An empty key is legal HMAC and accepted here;
    /// `HMACKey` refuses it because a long-lived empty secret is always a configuration mistake.
    public static func authenticationCode(
        for message: some ContiguousBytes, key: some ContiguousBytes
    ) -> [UInt8] {
        guard let context = EVP_MAC_CTX_dup(fetchedAlgorithms.hmacSHA256Template) else {
            fatalError("OpenSSL could not allocate an HMAC context")
        }
        defer { EVP_MAC_CTX_free(context) }
        let keyed = withBytePointer(key) { pointer, count in payrail_hmac_init(context, pointer, count) }
        guard keyed == 1 else {
            fatalError("OpenSSL could not key HMAC-SHA256")
        }
        return finishHMAC(context, message)
    }

    /// Checks a full 32-byte tag in constant time. Truncated tags are refused: every PayRail protocol
    /// sends full tags, and accepting shorter ones would let a forger guess fewer bits.
    public static func isValidAuthenticationCode(
        _ mac: some ContiguousBytes, for message: some ContiguousBytes, key: some ContiguousBytes
    ) -> Bool {
        constantTimeEquals(mac, authenticationCode(for: message, key: key))
    }
}

/// A reusable HMAC-SHA256 key: keyed once, then cheap per message.
///
/// The receipt verifier and the challenge binder hold one for the process lifetime and call it from
/// many threads; each thread keeps its own duplicate of the pre-keyed OpenSSL context, so no call
/// waits on another.
public struct HMACKey: Sendable {
    private let keyed: KeyedMACContext

    /// The length of the secret in bytes (never the secret itself).
    public let byteCount: Int

    /// Keys HMAC-SHA256 with `key`. Throws `invalidLength` for an empty key, which is always a missing
    /// secret rather than an intended one.
    public init(_ key: some ContiguousBytes) throws(CryptoError) {
        let count = key.withUnsafeBytes { $0.count }
        guard count > 0 else {
            throw CryptoError(code: .invalidLength, reason: "an HMAC key must not be empty; configure a secret")
        }
        guard let context = EVP_MAC_CTX_dup(fetchedAlgorithms.hmacSHA256Template) else {
            throw openSSLError(.internalFailure, "could not allocate an HMAC context")
        }
        let ok = withBytePointer(key) { pointer, length in payrail_hmac_init(context, pointer, length) }
        guard ok == 1 else {
            EVP_MAC_CTX_free(context)
            throw openSSLError(.internalFailure, "could not key HMAC-SHA256")
        }
        keyed = KeyedMACContext(context)
        byteCount = count
    }

    /// Computes the 32-byte HMAC-SHA256 tag of `message`.
    @inlinable
    public func authenticationCode(for message: some ContiguousBytes) -> [UInt8] {
        message.withUnsafeBytes { authenticationCode(raw: $0) }
    }

    /// The same, not generic, so callers in other modules reach it without generic dispatch.
    @usableFromInline
    func authenticationCode(raw message: UnsafeRawBufferPointer) -> [UInt8] {
        let tag: [UInt8]? = keyed.ready.withContext(make: { EVP_MAC_CTX_dup(keyed.pointer) }, failure: nil) { context in
            // A NULL key re-initialises the context with the key it already holds: no re-keying cost.
            guard EVP_MAC_init(context, nil, 0, nil) == 1 else {
                discardOpenSSLErrors()
                return (nil, false)
            }
            return (finishHMAC(context, message), true)
        }
        guard let tag else { fatalError("OpenSSL could not prepare an HMAC-SHA256 context") }
        return tag
    }

    /// Checks a full 32-byte tag in constant time; truncated tags are refused, as in `HMACSHA256`.
    @inlinable
    public func isValidAuthenticationCode(_ mac: some ContiguousBytes, for message: some ContiguousBytes) -> Bool {
        mac.withUnsafeBytes { macBytes in
            message.withUnsafeBytes { messageBytes in isValidAuthenticationCode(raw: macBytes, message: messageBytes) }
        }
    }

    @usableFromInline
    func isValidAuthenticationCode(raw mac: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        keyed.isValidAuthenticationCode(raw: mac, message: message)
    }

    /// This key without its reference count, for a caller that keeps the `HMACKey` itself alive
    /// for as long as it uses the result (the receipt key set keeps both side by side). Copying an
    /// `HMACKey` out of shared storage changes the count of an object every verifying thread shares.
    package var unretained: UnretainedHMACKey { UnretainedHMACKey(keyed: Unmanaged.passUnretained(keyed)) }
}

/// An `HMACKey` borrowed without reference counting (see `HMACKey.unretained`): valid only while
/// the `HMACKey` it came from is alive.
package struct UnretainedHMACKey: @unchecked Sendable {
    let keyed: Unmanaged<KeyedMACContext>

    /// Checks a full 32-byte tag in constant time, as `HMACKey.isValidAuthenticationCode`.
    @inline(__always)
    package func isValidAuthenticationCode(raw mac: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        keyed._withUnsafeGuaranteedRef { $0.isValidAuthenticationCode(raw: mac, message: message) }
    }
}

/// Owns a keyed `EVP_MAC_CTX` that is only ever read (duplicated), which makes sharing it safe.
final class KeyedMACContext: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Duplicates of `pointer` kept for reuse, each used by one thread at a time.
    let ready = ContextPool(destroy: { EVP_MAC_CTX_free($0) })

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit {
        ready.drain()
        EVP_MAC_CTX_free(pointer)
    }

    /// Computes the tag of `message` and compares it with `mac` inside OpenSSL, on its stack: no
    /// tag array per message. Lengths are not secret; a tag of any other length can never match.
    func isValidAuthenticationCode(raw mac: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        guard mac.count == HMACSHA256.byteCount else { return false }
        let answer: Bool? = withBytePointer(mac) { macPointer, macCount in
            withBytePointer(message) { messagePointer, messageCount in
                ready.withContext(make: { EVP_MAC_CTX_dup(pointer) }, failure: nil) { context in
                    let outcome = payrail_hmac_verify(context, messagePointer, messageCount, macPointer, macCount)
                    guard outcome >= 0 else {
                        discardOpenSSLErrors()
                        return (nil, false)
                    }
                    return (outcome == 1, true)
                }
            }
        }
        guard let answer else { fatalError("OpenSSL could not run HMAC-SHA256 on a keyed context") }
        return answer
    }
}

/// Feeds `message` to a keyed context and returns the full tag.
private func finishHMAC(_ context: OpaquePointer, _ message: some ContiguousBytes) -> [UInt8] {
    var tag = [UInt8](repeating: 0, count: HMACSHA256.byteCount)
    var written = 0
    let ok = withBytePointer(message) { pointer, count in
        tag.withUnsafeMutableBufferPointer { out in
            EVP_MAC_update(context, pointer, count) == 1
                && EVP_MAC_final(context, out.baseAddress, &written, out.count) == 1
        }
    }
    guard ok, written == HMACSHA256.byteCount else {
        fatalError("OpenSSL HMAC-SHA256 failed on a keyed context")
    }
    return tag
}
