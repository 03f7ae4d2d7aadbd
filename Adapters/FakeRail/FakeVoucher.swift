import Foundation
import PayRail
import PayRailCrypto

// A voucher is the fake processor's proof of payment: base64url(JSON claims) "." base64url(Ed25519
// signature over the ASCII of the first part). Signing the encoded text rather than re-encoded JSON
// means a verifier never depends on how its JSON encoder orders keys.

/// The claims inside a fake-processor voucher.
public struct FakeVoucher: Hashable, Sendable, Codable {
    /// The paid request (the offer id).
    public let requestID: String
    /// The paying account.
    public let payer: String
    /// The account to be credited.
    public let payee: String
    /// The amount paid, decimal string of minor units.
    public let amount: String
    /// The unit code of `amount`.
    public let unit: String
    /// When the processor issued the voucher, unix seconds.
    public let issuedAt: Int64
    /// When the voucher (and its request) expires, unix seconds.
    public let expiresAt: Int64

    private enum CodingKeys: String, CodingKey {
        case requestID = "rid", payer, payee, amount, unit, issuedAt = "iat", expiresAt = "exp"
    }

    /// Creates claims.
    public init(requestID: String, payer: String, payee: String, amount: Money, issuedAt: Int64, expiresAt: Int64) {
        self.requestID = requestID
        self.payer = payer
        self.payee = payee
        self.amount = String(amount.amount)
        self.unit = amount.unit.code
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    /// Whether the voucher is for exactly this amount and unit.
    public func pays(_ money: Money) -> Bool {
        amount == String(money.amount) && unit == money.unit.code
    }

    /// Signs the claims into a voucher token.
    ///
    /// - Throws: `RailError` `.unavailable` if the key cannot sign (nothing was paid yet).
    public func signed(with key: Ed25519.PrivateKey) throws(RailError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: Data
        do {
            json = try encoder.encode(self)
        } catch {
            throw RailError(.unavailable, "the processor could not encode a voucher", retry: .safe, rail: .fake)
        }
        let head = Base64URL.encode(json)
        do {
            let signature = try key.signature(for: Array(head.utf8))
            return head + "." + Base64URL.encode(signature)
        } catch {
            throw RailError(.unavailable, "the processor could not sign a voucher: \(error)", retry: .safe, rail: .fake)
        }
    }

    /// Checks a voucher's signature against the processor's public key and decodes its claims.
    ///
    /// - Throws: `.malformed` for a token that is not two base64url parts of JSON claims;
    ///   `.invalidProof` when the signature does not verify.
    public static func verify(_ token: String, publicKey: Ed25519.PublicKey, rail: RailID = .fake) throws(RailError) -> FakeVoucher {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, token.utf8.count <= 4096 else {
            throw RailError(.malformed, "a voucher is two base64url parts joined by a dot", rail: rail)
        }
        let signature: [UInt8]
        let claimsBytes: [UInt8]
        do {
            signature = try Base64URL.decode(parts[1])
            claimsBytes = try Base64URL.decode(parts[0])
        } catch {
            throw RailError(.malformed, "the voucher is not valid base64url (\(error.code))", rail: rail)
        }
        guard publicKey.isValidSignature(signature, for: Array(parts[0].utf8)) else {
            throw RailError(.invalidProof, "the voucher signature does not verify with the processor key", rail: rail)
        }
        do {
            return try JSONDecoder().decode(FakeVoucher.self, from: Data(claimsBytes))
        } catch {
            throw RailError(.malformed, "the voucher claims are not the expected JSON", rail: rail)
        }
    }
}
