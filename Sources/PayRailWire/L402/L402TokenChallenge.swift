// An L402 challenge whose token is not a libmacaroons macaroon of aperture's layout.
//
// bLIP-26 (lightning/blips blip-0026.md) leaves the token to the server: the client only checks and
// pays the invoice, then presents `L402 <token>:<preimage>`; the server alone reads the token. Deployed
// servers use that freedom: the PyPI `l402kit` middleware sends `macaroon="<base64 of JSON
// {"hash": <payment hash>, "exp": <ms>}>"`, which no macaroon parser reads. Such a token is carried
// opaquely here and bound by the invoice's payment hash (the invoice is what gets paid), never by
// anything read from the token.

import Bolt11
import Foundation
import PayRail
import PayRailCrypto

/// An L402/LSAT challenge whose token the agent presents as is: the server's business, not a macaroon
/// PayRail can read. The invoice (signature checked) gives amount, payee, payment hash and expiry.
public struct L402TokenChallenge: Hashable, Sendable {
    /// The scheme it came in.
    public var scheme: L402Scheme
    /// The token exactly as the server sent it (presented before the colon).
    public var token: String
    /// The BOLT11 invoice to pay.
    public var invoice: String

    /// Makes a challenge.
    public init(scheme: L402Scheme, token: String, invoice: String) {
        self.scheme = scheme
        self.token = token
        self.invoice = invoice
    }

    /// The offer detail that carries the token, so the credential can be built from the offer alone.
    public static let tokenDetail = "l402Token"

    /// Tokens longer than this are refused (the credential it goes into is bounded at 16 KB).
    public static let maximumTokenByteCount = 8 * 1024

    /// What one L402/LSAT challenge is: a macaroon challenge PayRail reads, an opaque-token one, or
    /// neither, with the reason.
    ///
    /// - Throws: `.unsupported` for a `version` other than "0", `.missingField` without invoice or
    ///   token, `.malformed` when `token` and `macaroon` disagree or the token cannot stand before the
    ///   colon of a credential (spaces, `:`, `,`, quotes, control characters, over 8 KB).
    static func classify(_ challenge: AuthChallenge) throws(WireError) -> Classified? {
        guard let scheme = L402Scheme(caseInsensitive: challenge.scheme) else { return nil }
        if let version = challenge["version"], version != "0" {
            throw WireError(.unsupported, "L402 version \"\(version.prefix(10))\" is unknown (bLIP-26 defines version 0)")
        }
        guard let invoice = challenge["invoice"], !invoice.isEmpty else {
            throw WireError(.missingField, "the \(scheme.rawValue) challenge has no invoice")
        }
        let token = challenge["token"], legacy = challenge["macaroon"]
        if let token, let legacy, token != legacy {
            throw WireError(.malformed, "the \(scheme.rawValue) challenge's token and macaroon disagree")
        }
        guard let text = token ?? legacy, !text.isEmpty else {
            throw WireError(.missingField, "the \(scheme.rawValue) challenge has no token (token= or macaroon=)")
        }
        if let macaroon = try? Macaroon(base64: text), (try? L402Identifier(bytes: macaroon.identifier)) != nil {
            return .macaroon(L402Challenge(scheme: scheme, macaroon: macaroon, invoice: invoice))
        }
        guard text.utf8.count <= maximumTokenByteCount, text.utf8.allSatisfy(isTokenByte) else {
            throw WireError(.malformed, "the \(scheme.rawValue) token is no macaroon and cannot be presented as is (it holds spaces, ':', ',', quotes or control characters, or is over 8 KB)")
        }
        return .opaque(L402TokenChallenge(scheme: scheme, token: text, invoice: invoice))
    }

    /// The two kinds of usable L402 challenge.
    enum Classified {
        case macaroon(L402Challenge)
        case opaque(L402TokenChallenge)
    }

    /// Visible ASCII except what would end the token in `L402 <token>:<preimage>` or in an
    /// auth-parameter list.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: ":") && byte != UInt8(ascii: ",")
            && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    /// Agent side: the Lightning offer, everything from the signed invoice (amount required: an
    /// amountless invoice cannot be priced), the token in the `l402Token` detail.
    ///
    /// - Throws: `WireError` as `WireBolt11.read` (an invoice that does not decode or whose signature
    ///   fails), `.missingField` for an amountless invoice, `.unsupported` for an unknown network.
    public func offer() throws(WireError) -> Offer {
        let decoded: Bolt11SignedInvoice
        do { decoded = try WireBolt11.read(invoice) } catch {
            throw WireError(error.code, "the \(scheme.rawValue) invoice cannot be read: \(error.reason)")
        }
        let summary = try BOLT11Amount.parse(invoice: invoice)
        guard let amount = summary.amount else {
            throw WireError(.missingField, "the \(scheme.rawValue) invoice has no amount; an amountless invoice cannot be priced")
        }
        let hash = decoded.paymentHashHex
        return Offer(
            rail: .lightning, amount: amount, payee: decoded.payeeKeyHex,
            expiresAt: Date(timeIntervalSince1970: TimeInterval(decoded.expiresAtUnix)), id: hash,
            details: ["invoice": invoice, "paymentHash": hash, "network": summary.network, Self.tokenDetail: token])
    }

    /// The `Authorization` value answering `offer` (read from this challenge) once its invoice is paid:
    /// `L402 <token>:<64 lowercase hex preimage>` (bLIP-26's form; l402kit reads only `L402 `).
    ///
    /// - Throws: `.missingField` when the offer carries no token, `.malformed` for a preimage that is
    ///   not 32 bytes, `.bindingMismatch` when it does not pay the invoice's payment hash (do not send it).
    public static func authorizationValue(answering offer: Offer, preimage: [UInt8]) throws(WireError) -> String {
        guard let token = offer.details[tokenDetail], !token.isEmpty else {
            throw WireError(.missingField, "the offer carries no L402 token; it did not come from an L402 challenge")
        }
        guard preimage.count == 32 else { throw WireError(.malformed, "an L402 preimage is 32 bytes, not \(preimage.count)") }
        guard let hash = offer.details["paymentHash"].flatMap(L402Hex.decode),
              constantTimeEquals(SHA256.hash(preimage), hash)
        else { throw WireError(.bindingMismatch, "the preimage does not pay the invoice's payment hash") }
        return L402Scheme.l402.rawValue + " " + token + ":" + L402Hex.encode(preimage)
    }
}
