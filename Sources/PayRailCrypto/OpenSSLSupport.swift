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
        // The pools free this thread's contexts first; each context holds its own reference to the
        // key, so contexts still idle on other threads stay valid after this.
        digestVerifyContexts.drain()
        verifyContexts.drain()
        EVP_PKEY_free(pointer)
    }
}

/// A store of OpenSSL operation contexts that are set up once and then reused, one set per thread.
///
/// Creating and initialising a context (`EVP_DigestVerifyInit_ex`, `EVP_PKEY_verify_init`,
/// `EVP_MAC_init` with a key) costs a provider look-up under OpenSSL's global locks on every call;
/// a verified receipt should pay only for the arithmetic. Each thread keeps its own idle contexts
/// (`ThreadContextCache`), so two threads verifying with the same key share no lock, no counter and
/// no cache line: a shared store, even striped by thread, made the threads take turns on its locks.
/// A thread keeps at most `ThreadContextCache.capacity` idle contexts of all pools together (the
/// oldest is freed first), so memory stays bounded however many keys and threads there are.
final class ContextPool: @unchecked Sendable {
    /// Never reused, unlike the pool's address: a context made for one key can never be handed to
    /// a later pool that happens to live at the same address.
    private let identity: UInt64
    private let destroy: @convention(c) (OpaquePointer?) -> Void

    init(destroy: @convention(c) (OpaquePointer?) -> Void) {
        self.destroy = destroy
        self.identity = ContextPoolIdentities.shared.next()
    }

    /// Runs `body` with this thread's idle context, or a new one from `make`; returns `failure` if
    /// none can be made. A context that `body` reports as unusable (`keep == false`) is freed
    /// instead of reused.
    @inline(__always)
    func withContext<Result>(
        make: () -> OpaquePointer?, failure: Result, _ body: (OpaquePointer) -> (result: Result, keep: Bool)
    ) -> Result {
        let cache = ThreadContextCache.current
        // Taken out while in use, so a nested use of the same pool on this thread gets its own.
        guard let context = cache?.pointee.take(identity) ?? make() else { return failure }
        let outcome = body(context)
        if outcome.keep, let cache {
            cache.pointee.put(identity, context, destroy: destroy)
        } else {
            destroy(context)
        }
        return outcome.result
    }

    /// Frees the calling thread's idle contexts of this pool. Other threads free theirs when they
    /// need the room or end; every context holds its own reference to the key it was made for, so
    /// it stays valid (and is never used again, its pool's identity being unique) until then.
    func drain() {
        ThreadContextCache.current?.pointee.removeAll(of: identity)
    }

    deinit { drain() }
}

/// Hands out pool identities; a lock is enough, pools are made when keys are loaded, not per call.
private final class ContextPoolIdentities: @unchecked Sendable {
    static let shared = ContextPoolIdentities()
    private let lock = NSLock()
    private var last: UInt64 = 0

    func next() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        last += 1
        return last
    }
}

/// One thread's idle OpenSSL contexts, found by their pool's identity. Plain memory reached through
/// `pthread_getspecific`: no lock, no reference counting, nothing another thread ever touches.
struct ThreadContextCache {
    struct Entry {
        /// The owning pool's identity; 0 marks a free slot.
        var owner: UInt64
        var context: OpaquePointer?
        var destroy: (@convention(c) (OpaquePointer?) -> Void)?
    }

    /// Idle contexts kept per thread, all pools together: a gate verifies with a handful of keys.
    static let capacity = 16
    private var entries: UnsafeMutablePointer<Entry>
    /// The slot to free next when all are taken (oldest first, round robin).
    private var victim = 0

    /// The calling thread's cache, made on first use; nil only if the thread-specific slot is
    /// unavailable, and then contexts are simply not kept.
    static var current: UnsafeMutablePointer<ThreadContextCache>? {
        guard let key = threadContextCacheKey else { return nil }
        if let existing = pthread_getspecific(key) {
            return existing.assumingMemoryBound(to: ThreadContextCache.self)
        }
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        entries.initialize(repeating: Entry(owner: 0, context: nil, destroy: nil), count: capacity)
        let cache = UnsafeMutablePointer<ThreadContextCache>.allocate(capacity: 1)
        cache.initialize(to: ThreadContextCache(entries: entries))
        guard pthread_setspecific(key, cache) == 0 else {
            release(cache)
            return nil
        }
        return cache
    }

    private init(entries: UnsafeMutablePointer<Entry>) { self.entries = entries }

    @inline(__always)
    mutating func take(_ owner: UInt64) -> OpaquePointer? {
        for index in 0..<Self.capacity where entries[index].owner == owner {
            entries[index].owner = 0
            return entries[index].context
        }
        return nil
    }

    @inline(__always)
    mutating func put(_ owner: UInt64, _ context: OpaquePointer, destroy: @convention(c) (OpaquePointer?) -> Void) {
        var slot = -1
        for index in 0..<Self.capacity where entries[index].owner == 0 {
            slot = index
            break
        }
        if slot < 0 {
            slot = victim
            victim = (victim + 1) % Self.capacity
            entries[slot].destroy?(entries[slot].context)
        }
        entries[slot] = Entry(owner: owner, context: context, destroy: destroy)
    }

    mutating func removeAll(of owner: UInt64) {
        for index in 0..<Self.capacity where entries[index].owner == owner {
            entries[index].destroy?(entries[index].context)
            entries[index] = Entry(owner: 0, context: nil, destroy: nil)
        }
    }

    /// Frees every context and the cache itself (the thread is ending).
    static func release(_ cache: UnsafeMutablePointer<ThreadContextCache>) {
        for index in 0..<capacity where cache.pointee.entries[index].owner != 0 {
            cache.pointee.entries[index].destroy?(cache.pointee.entries[index].context)
        }
        cache.pointee.entries.deallocate()
        cache.deallocate()
    }
}

/// The thread-specific slot of `ThreadContextCache`; its destructor frees a thread's contexts when
/// the thread ends.
private let threadContextCacheKey: pthread_key_t? = {
    var key = pthread_key_t()
    let made = pthread_key_create(&key) { raw in
        let pointer: UnsafeMutableRawPointer? = raw
        guard let pointer else { return }
        ThreadContextCache.release(pointer.assumingMemoryBound(to: ThreadContextCache.self))
    }
    return made == 0 ? key : nil
}()

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
