import CTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The one place PayRail speaks TLS itself: a client that trusts exactly one certificate (an LND
// node's self-signed tls.cert), because URLSession on Linux cannot pin. Every OpenSSL object is
// created and freed here; callers see only Swift values.

/// What a TLS read produced.
public enum PinnedTLSRead: Sendable {
    /// Decrypted bytes.
    case bytes([UInt8])
    /// The server closed the connection.
    case end
    /// The read failed or timed out; the reason names no secret.
    case failed(String)
}

/// A TLS client connection over a connected socket whose only trust anchor is one certificate.
/// Used by one thread; `close()` exactly once.
public final class PinnedTLSSession {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private var handshakeDone = false
    private var closed = false

    /// Whether `der` is a certificate OpenSSL can parse.
    public static func parsesCertificate(_ der: [UInt8]) -> Bool {
        guard let certificate = x509(der) else { ERR_clear_error(); return false }
        X509_free(certificate)
        return true
    }

    /// Prepares a client on `socket` (already connected) trusting only `pinnedDER`, peer
    /// verification on, TLS 1.2 or newer; `nil` when OpenSSL cannot set it up.
    public init?(socket: Int32, pinnedDER: [UInt8]) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { return nil }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        guard payrail_tls_require_tls12(context) == 1, let store = SSL_CTX_get_cert_store(context),
              let anchor = Self.x509(pinnedDER)
        else {
            SSL_CTX_free(context)
            return nil
        }
        let added = X509_STORE_add_cert(store, anchor)
        X509_free(anchor)
        guard added == 1, let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            return nil
        }
        guard SSL_set_fd(ssl, socket) == 1 else {
            SSL_free(ssl)
            SSL_CTX_free(context)
            return nil
        }
        self.context = context
        self.ssl = ssl
    }

    deinit { close() }

    /// Runs the handshake; `nil` on success, otherwise why it failed.
    public func handshake() -> String? {
        let result = SSL_connect(ssl)
        guard result == 1 else {
            let code = SSL_get_error(ssl, result)
            let savedErrno = errno
            ERR_clear_error()
            // SSL_ERROR_SSL is a refused certificate or protocol failure; the others are I/O.
            return code == SSL_ERROR_SSL
                ? "TLS handshake refused (the server's certificate is not the pinned one, or TLS < 1.2)"
                : "TLS handshake failed (SSL error \(code), errno \(savedErrno))"
        }
        handshakeDone = true
        return nil
    }

    /// The server's certificate in DER, to compare byte for byte with the pinned one.
    public func peerCertificateDER() -> [UInt8]? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        var output: UnsafeMutablePointer<UInt8>?
        let length = payrail_tls_x509_to_der(certificate, &output)
        guard length > 0, let output else { return nil }
        defer { payrail_tls_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(length)))
    }

    /// Writes all of `bytes`; false when the connection failed.
    public func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = Int32(clamping: bytes.count - offset)
            let written = bytes.withUnsafeBytes { buffer in SSL_write(ssl, buffer.baseAddress?.advanced(by: offset), count) }
            guard written > 0 else { ERR_clear_error(); return false }
            offset += Int(written)
        }
        return true
    }

    /// Reads what is available (blocking up to the socket's receive timeout).
    public func read() -> PinnedTLSRead {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let count = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
        if count > 0 { return .bytes(Array(buffer.prefix(Int(count)))) }
        let code = SSL_get_error(ssl, count)
        let savedErrno = errno
        ERR_clear_error()
        // A clean close, or a close without close_notify (SYSCALL with no errno).
        if code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && savedErrno == 0) { return .end }
        if savedErrno == EAGAIN || savedErrno == EWOULDBLOCK { return .failed("timed out waiting for the answer") }
        return .failed("TLS read failed (SSL error \(code), errno \(savedErrno))")
    }

    /// Shuts the TLS session down and frees it; later calls do nothing.
    public func close() {
        guard !closed else { return }
        closed = true
        if handshakeDone { _ = SSL_shutdown(ssl) }
        SSL_free(ssl)
        SSL_CTX_free(context)
        ERR_clear_error()
    }

    private static func x509(_ der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            return payrail_tls_x509_from_der(base, buffer.count)
        }
    }
}
