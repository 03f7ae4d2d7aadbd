import CReceiptBaseline
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts

/// The three receipt algorithms the benchmark measures.
public enum BenchmarkAlgorithm: String, CaseIterable, Sendable {
    /// Ed25519 (RFC 8037).
    case EdDSA
    /// P-256 with SHA-256, signature as r||s.
    case ES256
    /// HMAC-SHA256.
    case HS256
}

/// Owns one handle of the C baseline (OpenSSL called directly, key loaded, context ready).
final class OpenSSLBaseline {
    private let handle: OpaquePointer

    init?(algorithm: BenchmarkAlgorithm, key: [UInt8]) {
        let made: OpaquePointer? = key.withUnsafeBufferPointer { buffer in
            switch algorithm {
            case .EdDSA: receipt_baseline_ed25519(buffer.baseAddress, buffer.count)
            case .ES256: receipt_baseline_p256(buffer.baseAddress, buffer.count)
            case .HS256: receipt_baseline_hmac_sha256(buffer.baseAddress, buffer.count)
            }
        }
        guard let made else { return nil }
        handle = made
    }

    deinit { receipt_baseline_free(handle) }

    @inline(__always)
    func verify(_ message: [UInt8], _ signature: [UInt8]) -> Bool {
        message.withUnsafeBufferPointer { m in
            signature.withUnsafeBufferPointer { s in
                receipt_baseline_verify(handle, m.baseAddress, m.count, s.baseAddress, s.count) == 1
            }
        }
    }

    /// OpenSSL's own version text.
    static var openSSLVersion: String { String(cString: receipt_baseline_openssl_version()) }
}

/// Tokens as a gate writes them, for one algorithm: several keys in the key set, realistic claims,
/// and one tampered token that every mode must refuse.
public struct ReceiptTokenSet: Sendable {
    /// One token with what each mode needs to verify it.
    public struct Token: Sendable {
        /// The compact token.
        public let compact: String
        /// The resource it must be checked against ("METHOD /path").
        public let resource: String
        /// The key that signed it.
        public let keyID: String
        /// The position of that key in the baseline's handles (an array index, so the raw mode
        /// spends nothing on finding its key).
        public let keyIndex: Int
        /// The JWS signing input, for the raw OpenSSL baseline.
        public let signingInput: [UInt8]
        /// The signature in the form OpenSSL takes (DER for ES256).
        public let opensslSignature: [UInt8]
        /// Whether it must verify.
        public let isGenuine: Bool

        /// The same token in storage of its own (new string and array buffers): two threads given
        /// the same `Token` would both change the reference counts of one set of buffers on every
        /// pass, a cost of the harness that a server, whose requests never share a token string,
        /// does not pay.
        func withOwnStorage() -> Token {
            Token(compact: String(decoding: Array(compact.utf8), as: UTF8.self),
                  resource: String(decoding: Array(resource.utf8), as: UTF8.self),
                  keyID: String(decoding: Array(keyID.utf8), as: UTF8.self), keyIndex: keyIndex,
                  signingInput: signingInput.map { $0 }, opensslSignature: opensslSignature.map { $0 },
                  isGenuine: isGenuine)
        }
    }

    /// The algorithm of every token.
    public let algorithm: BenchmarkAlgorithm
    /// The tokens, genuine ones first, the tampered one last.
    public let tokens: [Token]
    /// The verification keys as a JWKS document (for HS256 it holds the secrets).
    public let jwks: JSONWebKeySet
    /// The keys in the form the C baseline loads them, in `keyIndex` order.
    let baselineKeys: [[UInt8]]

    /// How many tokens must verify in one pass.
    public var genuineCount: Int { tokens.filter(\.isGenuine).count }

    /// Makes `count` genuine tokens signed round-robin by `keyCount` fresh keys, plus one tampered.
    public init(algorithm: BenchmarkAlgorithm, count: Int, keyCount: Int = 3, now: Date = Date()) throws {
        self.algorithm = algorithm
        var signers: [ReceiptSigner] = []
        var baselineKeys: [[UInt8]] = []
        for index in 0..<max(1, keyCount) {
            let kid = "\(algorithm.rawValue.lowercased())-2026-\(index + 1)"
            switch algorithm {
            case .EdDSA:
                let key = try Ed25519.PrivateKey()
                baselineKeys.append(key.publicKey.rawRepresentation)
                signers.append(try ReceiptSigner(key: .ed25519(key), keyID: kid))
            case .ES256:
                let key = try P256.PrivateKey()
                baselineKeys.append(key.publicKey.x963Representation)
                signers.append(try ReceiptSigner(key: .es256(key), keyID: kid))
            case .HS256:
                let secret = try SecureRandom.bytes(count: 32)
                baselineKeys.append(secret)
                signers.append(try ReceiptSigner(key: .hs256(secret: secret), keyID: kid))
            }
        }
        let issued = Int64(now.timeIntervalSince1970)
        let paths = ["/v1/chat/completions", "/v1/images", "/premium/report.pdf", "/api/search", "/weather/today"]
        let rails = [("lightning", "sat", "210"), ("stripe", "usd", "25"), ("fake", "sat", "100")]
        var tokens: [Token] = []
        for index in 0..<max(1, count) {
            let signer = signers[index % signers.count]
            let (method, currency, amount) = rails[index % rails.count]
            let resource = "\(index % 4 == 0 ? "POST" : "GET") \(paths[index % paths.count])"
            let claims = ReceiptClaims(
                iss: "api.example.com", sub: resource,
                jti: Base64URL.encode(try SecureRandom.bytes(count: 32)), iat: issued, exp: issued + 3600,
                method: method, amount: amount, currency: currency,
                ref: SHA256.hash(Array("payment-\(index)".utf8)).map { String(format: "%02x", $0) }.joined())
            tokens.append(try Self.token(try signer.sign(claims), resource: resource, keyIndex: index % signers.count,
                                         algorithm: algorithm, isGenuine: true))
        }
        // The tampered token: a genuine signature over claims whose amount was changed afterwards.
        let victim = tokens[0]
        let parts = victim.compact.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var payload = String(decoding: try Base64URL.decode(parts[1]), as: UTF8.self)
        payload = payload.replacingOccurrences(of: "\"amount\":\"", with: "\"amount\":\"9")
        let forged = [parts[0], Base64URL.encode(Array(payload.utf8)), parts[2]].joined(separator: ".")
        tokens.append(try Self.token(forged, resource: victim.resource, keyIndex: victim.keyIndex, algorithm: algorithm, isGenuine: false))

        self.tokens = tokens
        self.jwks = JSONWebKeySet(keys: signers.map(\.verificationJWK))
        self.baselineKeys = baselineKeys
    }

    private static func token(_ compact: String, resource: String, keyIndex: Int, algorithm: BenchmarkAlgorithm, isGenuine: Bool) throws -> Token {
        let jws = try JWSCompact(parsing: compact)
        let signature = algorithm == .ES256
            ? try ECDSASignature(rawRepresentation: jws.signature).derRepresentation : jws.signature
        return Token(compact: compact, resource: resource, keyID: jws.keyID ?? "", keyIndex: keyIndex, signingInput: jws.signingInput,
                     opensslSignature: signature, isGenuine: isGenuine)
    }

    /// One C baseline handle per key (a handle serves one thread), in `keyIndex` order.
    func makeBaseline() throws -> [OpenSSLBaseline] {
        try baselineKeys.map { key in
            guard let handle = OpenSSLBaseline(algorithm: algorithm, key: key) else {
                throw BenchmarkError("OpenSSL refused a \(algorithm.rawValue) baseline key")
            }
            return handle
        }
    }
}

/// A benchmark that could not run as set up.
public struct BenchmarkError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
