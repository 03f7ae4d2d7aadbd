import PayRailCrypto

/// The identifier aperture puts in every L402 macaroon: `uint16 big-endian version (0) ‖ payment hash
/// (32 bytes) ‖ token id (32 bytes)`, 66 bytes (aperture `l402/identifier.go`).
///
/// The payment hash ties the token to one Lightning invoice: the credential is valid only with the
/// preimage whose SHA-256 is this hash. The token id makes two tokens for the same invoice distinct.
public struct L402Identifier: Hashable, Sendable {
    /// The only layout version defined; aperture refuses any other.
    public static let currentVersion: UInt16 = 0
    /// The encoded length.
    public static let byteCount = 2 + 32 + 32

    /// The layout version (always 0 today).
    public let version: UInt16
    /// The Lightning payment hash (SHA-256 of the preimage), 32 bytes.
    public let paymentHash: [UInt8]
    /// A random id distinguishing tokens, 32 bytes.
    public let tokenID: [UInt8]

    /// Makes a version-0 identifier.
    ///
    /// - Throws: `WireError` `.malformed` unless both values are 32 bytes.
    public init(paymentHash: [UInt8], tokenID: [UInt8]) throws(WireError) {
        guard paymentHash.count == 32 else { throw WireError(.malformed, "an L402 payment hash is 32 bytes, not \(paymentHash.count)") }
        guard tokenID.count == 32 else { throw WireError(.malformed, "an L402 token id is 32 bytes, not \(tokenID.count)") }
        version = Self.currentVersion
        self.paymentHash = paymentHash
        self.tokenID = tokenID
    }

    /// A version-0 identifier for `paymentHash` with a fresh random token id.
    ///
    /// - Throws: `WireError` `.malformed` for a hash that is not 32 bytes; `.unsupported` if the system
    ///   random source fails (retrying later is safe).
    public static func random(paymentHash: [UInt8]) throws(WireError) -> L402Identifier {
        let tokenID: [UInt8]
        do { tokenID = try SecureRandom.bytes(count: 32) } catch {
            throw WireError(.unsupported, "no random bytes for an L402 token id: \(error)")
        }
        return try L402Identifier(paymentHash: paymentHash, tokenID: tokenID)
    }

    /// Decodes the 66-byte layout.
    ///
    /// - Throws: `WireError` `.unsupported` for a version other than 0, `.malformed` for any other
    ///   length (aperture's decoder would ignore trailing bytes; we refuse them so each token has one
    ///   encoding).
    public init(bytes: [UInt8]) throws(WireError) {
        guard bytes.count >= 2 else { throw WireError(.malformed, "an L402 identifier needs at least a version") }
        let version = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard version == Self.currentVersion else {
            throw WireError(.unsupported, "L402 identifier version \(version) is unknown; only version 0 is defined")
        }
        guard bytes.count == Self.byteCount else {
            throw WireError(.malformed, "an L402 identifier is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        try self.init(paymentHash: Array(bytes[2..<34]), tokenID: Array(bytes[34..<66]))
    }

    /// The 66-byte encoding.
    public var bytes: [UInt8] {
        [UInt8(truncatingIfNeeded: version >> 8), UInt8(truncatingIfNeeded: version)] + paymentHash + tokenID
    }

    /// The payment hash as lowercase hex, as Lightning tools print it.
    public var paymentHashHex: String { L402Hex.encode(paymentHash) }
}
