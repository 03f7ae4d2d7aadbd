// The only place where raw OpenSSL objects are owned on the Swift side. Every pointer handed out by
// OpenSSL is either freed in the same function (with `defer`) or owned by one of the final classes
// below, which free it in `deinit`. None of these types is visible outside the module.

import COpenSSL
import Foundation

/// Owns one `EVP_PKEY` for the lifetime of a key value, so verification never re-parses the key.
///
/// `@unchecked Sendable` is sound because the key is never mutated after construction: OpenSSL 3
/// allows any number of threads to create operation contexts from the same `EVP_PKEY` at once.
final class OwnedPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Ready `EVP_MD_CTX`s already initialised for one-shot verification with this key (Ed25519).
    let digestVerifyContexts = ContextPool(destroy: { EVP_MD_CTX_free($0) })
    /// Ready `EVP_PKEY_CTX`s already initialised for `EVP_PKEY_verify` with this key (ECDSA).
    let verifyContexts = ContextPool(destroy: { EVP_PKEY_CTX_free($0) })

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit {
        // The pools free their contexts first; they reference the key, which must outlive them.
        digestVerifyContexts.drain()
        verifyContexts.drain()
        EVP_PKEY_free(pointer)
    }
}

/// A small store of OpenSSL operation contexts that are set up once and then reused.
///
/// Creating and initialising a context (`EVP_DigestVerifyInit_ex`, `EVP_PKEY_verify_init`,
/// `EVP_MAC_init` with a key) costs a provider look-up under OpenSSL's global locks on every call;
/// a verified receipt should pay only for the arithmetic. Each context is used by one thread at a
/// time: it is taken, used, and given back. The store is split into stripes chosen by thread, so
/// two threads verifying at once rarely meet on the same lock. At most `capacity` idle contexts
/// are kept per stripe, so memory stays bounded however many threads verify at once.
final class ContextPool: @unchecked Sendable {
    /// One lock and its idle contexts; a class of its own so stripes sit on separate cache lines.
    private final class Stripe {
        let lock = NSLock()
        var idle: [OpaquePointer] = []
        /// Keeps neighbouring stripes' hot fields off this one's cache line.
        private var padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    private static let stripeCount = 4
    private let stripes: [Stripe]
    private let capacity: Int
    private let destroy: @Sendable (OpaquePointer) -> Void

    init(capacity: Int = 4, destroy: @escaping @Sendable (OpaquePointer) -> Void) {
        self.capacity = capacity
        self.destroy = destroy
        self.stripes = (0..<Self.stripeCount).map { _ in Stripe() }
    }

    /// The calling thread's stripe: a multiplicative hash of its thread id.
    @inline(__always)
    private var stripe: Stripe {
        #if canImport(Darwin)
        let thread = UInt64(UInt(bitPattern: pthread_self()))
        #else
        let thread = UInt64(pthread_self())
        #endif
        return stripes[Int(truncatingIfNeeded: (thread &* 0x9E37_79B9_7F4A_7C15) >> 62)]
    }

    /// Runs `body` with an idle context, or a new one from `make`; returns `failure` if none can be made.
    /// A context that `body` reports as unusable (`keep == false`) is freed instead of reused.
    @inline(__always)
    func withContext<Result>(
        make: () -> OpaquePointer?, failure: Result, _ body: (OpaquePointer) -> (result: Result, keep: Bool)
    ) -> Result {
        let stripe = self.stripe
        stripe.lock.lock()
        let reused = stripe.idle.popLast()
        stripe.lock.unlock()
        guard let context = reused ?? make() else { return failure }
        let outcome = body(context)
        guard outcome.keep else {
            destroy(context)
            return outcome.result
        }
        stripe.lock.lock()
        if stripe.idle.count < capacity {
            stripe.idle.append(context)
            stripe.lock.unlock()
        } else {
            stripe.lock.unlock()
            destroy(context)
        }
        return outcome.result
    }

    /// Frees every idle context.
    func drain() {
        for stripe in stripes {
            stripe.lock.lock()
            let contexts = stripe.idle
            stripe.idle = []
            stripe.lock.unlock()
            contexts.forEach(destroy)
        }
    }

    deinit { drain() }
}

/// Algorithms fetched from the default provider once per process. Fetching is a locked table lookup
/// inside OpenSSL; doing it once keeps it off every hash and MAC call.
final class FetchedAlgorithms: @unchecked Sendable {
    let sha256: OpaquePointer  // EVP_MD
    let hmac: OpaquePointer  // EVP_MAC
    /// An unkeyed HMAC-SHA256 context with the digest already chosen; only ever duplicated, never used.
    let hmacSHA256Template: OpaquePointer  // EVP_MAC_CTX

    private init(sha256: OpaquePointer, hmac: OpaquePointer, hmacSHA256Template: OpaquePointer) {
        self.sha256 = sha256
        self.hmac = hmac
        self.hmacSHA256Template = hmacSHA256Template
    }

    deinit {
        EVP_MAC_CTX_free(hmacSHA256Template)
        EVP_MAC_free(hmac)
        EVP_MD_free(sha256)
    }

    /// Loads the algorithms, or stops the process: without SHA-256 and HMAC from the default provider
    /// no payment can be authenticated, and limping on would only fail later in a worse place.
    static func load() -> FetchedAlgorithms {
        guard let sha256 = EVP_MD_fetch(nil, "SHA256", nil) else {
            fatalError("OpenSSL could not provide SHA256; check OPENSSL_CONF and OPENSSL_MODULES")
        }
        guard let hmac = EVP_MAC_fetch(nil, "HMAC", nil) else {
            fatalError("OpenSSL could not provide HMAC; check OPENSSL_CONF and OPENSSL_MODULES")
        }
        guard let template = payrail_hmac_sha256_template(hmac) else {
            fatalError("OpenSSL could not prepare HMAC-SHA256; check OPENSSL_CONF and OPENSSL_MODULES")
        }
        return FetchedAlgorithms(sha256: sha256, hmac: hmac, hmacSHA256Template: template)
    }
}

/// Process-wide algorithms; a global `let` is initialised once, thread-safely, on first use.
let fetchedAlgorithms = FetchedAlgorithms.load()

/// Calls `body` with a pointer that is never nil, even for empty input: several OpenSSL functions
/// treat a NULL buffer as "no argument" rather than "zero bytes".
@inline(__always)
func withBytePointer<Result>(
    _ bytes: some ContiguousBytes, _ body: (UnsafePointer<UInt8>, Int) -> Result
) -> Result {
    bytes.withUnsafeBytes { raw in
        if let base = raw.baseAddress, raw.count > 0 {
            return body(base.assumingMemoryBound(to: UInt8.self), raw.count)
        }
        var zero: UInt8 = 0
        return withUnsafePointer(to: &zero) { body($0, 0) }
    }
}

/// Copies any contiguous bytes into an array (inputs are small: keys, signatures).
@inline(__always)
func byteArray(_ bytes: some ContiguousBytes) -> [UInt8] {
    bytes.withUnsafeBytes { Array($0) }
}

/// Builds an error from the OpenSSL error queue and empties the queue, so a failure on this thread
/// never leaks into the diagnosis of a later, unrelated call. OpenSSL's texts describe the structure
/// that failed, never the secret bytes.
func openSSLError(_ code: CryptoError.Code, _ reason: String) -> CryptoError {
    let packed = ERR_get_error()
    ERR_clear_error()
    guard packed != 0 else { return CryptoError(code: code, reason: reason) }
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(packed, &buffer, buffer.count)
    let detail = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return CryptoError(code: code, reason: "\(reason) (OpenSSL: \(detail))")
}

/// Forgets queued OpenSSL errors after a failed verification, which is an answer, not an error.
@inline(__always)
func discardOpenSSLErrors() {
    ERR_clear_error()
}

/// Loads a private key from PEM text.
func readPrivateKeyPEM(_ pem: String) throws(CryptoError) -> OwnedPKey {
    var text = pem
    let key = text.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { chars in
            payrail_read_private_key_pem(chars.baseAddress, chars.count)
        }
    }
    guard let key else {
        throw openSSLError(.invalidEncoding, "the PEM text holds no readable unencrypted private key")
    }
    return OwnedPKey(key)
}

/// Loads a SubjectPublicKeyInfo from PEM text.
func readPublicKeyPEM(_ pem: String) throws(CryptoError) -> OwnedPKey {
    var text = pem
    let key = text.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { chars in
            payrail_read_public_key_pem(chars.baseAddress, chars.count)
        }
    }
    guard let key else {
        throw openSSLError(.invalidEncoding, "the PEM text holds no readable \"PUBLIC KEY\" block")
    }
    return OwnedPKey(key)
}

/// Loads a DER SubjectPublicKeyInfo, refusing trailing bytes.
func readPublicKeyDER(_ der: some ContiguousBytes) throws(CryptoError) -> OwnedPKey {
    let key = withBytePointer(der) { pointer, count in payrail_read_public_key_der(pointer, count) }
    guard let key else {
        throw openSSLError(.invalidEncoding, "the bytes are not one DER SubjectPublicKeyInfo")
    }
    return OwnedPKey(key)
}

/// Wraps DER bytes in PEM armour with 64-column base64 lines, as OpenSSL and RFC 7468 write it.
func pemEncode(_ der: [UInt8], label: String) -> String {
    let body = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
    return "-----BEGIN \(label)-----\n\(body)\n-----END \(label)-----\n"
}

/// Reads a key's big-endian integer parameter ("priv", "qx", "qy") as exactly `length` bytes.
func bigEndianParameter(_ key: OwnedPKey, _ name: String, length: Int) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: length)
    let ok = out.withUnsafeMutableBufferPointer { buffer in
        payrail_pkey_get_bn_padded(key.pointer, name, buffer.baseAddress, Int32(length))
    }
    guard ok == 1 else {
        discardOpenSSLErrors()
        return nil
    }
    return out
}

/// The OpenSSL group name of an EC key, or nil for non-EC keys and explicit curve parameters.
func ecGroupName(_ key: OwnedPKey) -> String? {
    guard EVP_PKEY_is_a(key.pointer, "EC") == 1 else { return nil }
    var buffer = [CChar](repeating: 0, count: 64)
    let ok = payrail_pkey_group_name(key.pointer, &buffer, buffer.count)
    guard ok == 1 else {
        discardOpenSSLErrors()
        return nil
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
