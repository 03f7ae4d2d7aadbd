import Bolt11
import Foundation
import PayRail
import PayRailCrypto

/// The two names of the L402 scheme; `LSAT` is the older one that deployed clients still read.
public enum L402Scheme: String, Hashable, Sendable, CaseIterable {
    /// The current name.
    case l402 = "L402"
    /// The legacy name (aperture still sends and reads it).
    case lsat = "LSAT"

    /// The scheme named `text`, compared case-insensitively as RFC 9110 requires.
    public init?(caseInsensitive text: some StringProtocol) {
        let upper = text.uppercased()
        guard let scheme = L402Scheme(rawValue: upper) else { return nil }
        self = scheme
    }
}

/// One L402 challenge: a macaroon bound to a Lightning invoice's payment hash, and that invoice.
///
/// Two forms are read: the deployed one (aperture) `LSAT|L402 macaroon="<b64>", invoice="<bolt11>"` and
/// the specification's `L402 version="0", token="<b64>", invoice="<bolt11>"`.
public struct L402Challenge: Hashable, Sendable {
    /// The scheme the challenge came in (or is written with).
    public var scheme: L402Scheme
    /// The macaroon to present once the invoice is paid.
    public var macaroon: Macaroon
    /// The BOLT11 invoice to pay.
    public var invoice: String

    /// Makes a challenge.
    public init(scheme: L402Scheme = .l402, macaroon: Macaroon, invoice: String) {
        self.scheme = scheme
        self.macaroon = macaroon
        self.invoice = invoice
    }

    /// The largest challenge header value we write (the bound every dialect keeps).
    public static let maximumHeaderByteCount = 8 * 1024

    /// Reads every usable L402/LSAT challenge from `WWW-Authenticate` values, in order, skipping other
    /// schemes and incomplete L402 challenges (no invoice, no macaroon, a token that is not a V2
    /// macaroon, an unknown `version`, or `token` and `macaroon` that disagree). Duplicates (aperture
    /// sends the same macaroon as LSAT and as L402) are kept; `offers` merges them.
    ///
    /// - Throws: `WireError` `.malformed`/`.tooLarge` only when a value breaks the RFC 9110 grammar or
    ///   bound, as `AuthParameters.parseChallenges` decides.
    public static func parse(_ wwwAuthenticateValues: [String]) throws(WireError) -> [L402Challenge] {
        var found: [L402Challenge] = []
        for challenge in try AuthParameters.parseChallenges(wwwAuthenticateValues) {
            guard let scheme = L402Scheme(caseInsensitive: challenge.scheme) else { continue }
            if let version = challenge["version"], version != "0" { continue }
            guard let invoice = challenge["invoice"], !invoice.isEmpty else { continue }
            let token = challenge["token"], legacy = challenge["macaroon"]
            if let token, let legacy, token != legacy { continue }
            guard let text = token ?? legacy, let macaroon = try? Macaroon(base64: text) else { continue }
            found.append(L402Challenge(scheme: scheme, macaroon: macaroon, invoice: invoice))
        }
        return found
    }

    /// Reads one `WWW-Authenticate` value (the fuzzed entry point); see `parse(_:)` for the rules.
    public static func parse(_ wwwAuthenticateValue: String) throws(WireError) -> [L402Challenge] {
        try parse([wwwAuthenticateValue])
    }

    /// The two `WWW-Authenticate` values a server sends, in this order, as a deliberate choice:
    ///
    /// 1. `LSAT macaroon="M", invoice="I"`: aperture's own form; old Loop clients read only the first
    ///    line, and aperture's client regex `(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"` matches it.
    /// 2. `L402 macaroon="M", invoice="I", version="0", token="M"`: the regex above needs `macaroon`
    ///    and `invoice` first and adjacent, so the specification's order (`version, token, invoice`)
    ///    would fail it; a specification client reads `version` and `token` by name and ignores
    ///    `macaroon`. This deviates from the spec's parameter order only, which RFC 9110 leaves free.
    ///
    /// - Throws: `WireError` `.tooLarge` when a value would exceed `maximumHeaderByteCount`,
    ///   `.malformed` when the invoice is empty or not ASCII letters and digits.
    public static func headerValues(macaroon: Macaroon, invoice: String) throws(WireError) -> [String] {
        // BOLT11 is bech32: letters and digits only. Anything else would need quoted-pair escapes,
        // which aperture's regex does not undo, so it can only be a mistake upstream.
        guard !invoice.isEmpty, invoice.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
            throw WireError(.malformed, "an L402 invoice is a BOLT11 string of ASCII letters and digits")
        }
        let token = macaroon.base64
        let legacy = AuthChallenge(scheme: L402Scheme.lsat.rawValue, parameters: [
            AuthParameter(name: "macaroon", value: token), AuthParameter(name: "invoice", value: invoice),
        ])
        let current = AuthChallenge(scheme: L402Scheme.l402.rawValue, parameters: [
            AuthParameter(name: "macaroon", value: token), AuthParameter(name: "invoice", value: invoice),
            AuthParameter(name: "version", value: "0"), AuthParameter(name: "token", value: token),
        ])
        let values = [try AuthParameters.render(legacy), try AuthParameters.render(current)]
        for value in values where value.utf8.count >= maximumHeaderByteCount {
            throw WireError(.tooLarge, "an L402 challenge would be \(value.utf8.count) bytes; keep it under \(maximumHeaderByteCount) (fewer or shorter caveats, a shorter invoice description)")
        }
        return values
    }

    /// Server side: mints a macaroon for a Lightning `offer` (details `invoice` and `paymentHash`) under
    /// `rootKey` with `caveats`, and returns it with the two header values to send.
    ///
    /// - Throws: `WireError` `.unsupported` for an offer of another rail, `.missingField` without an
    ///   invoice or payment hash, `.malformed` for a payment hash that is not 64 hex digits or a root
    ///   key that is too short, `.tooLarge` as `headerValues`.
    public static func serverChallenge(
        for offer: Offer, rootKey: [UInt8], caveats: [L402Caveat] = []
    ) throws(WireError) -> (macaroon: Macaroon, headerValues: [String]) {
        guard offer.rail == .lightning else {
            throw WireError(.unsupported, "L402 carries Lightning offers only, not \(offer.rail)")
        }
        guard let invoice = offer.details["invoice"], !invoice.isEmpty else {
            throw WireError(.missingField, "the Lightning offer has no invoice")
        }
        guard let hashHex = offer.details["paymentHash"], !hashHex.isEmpty else {
            throw WireError(.missingField, "the Lightning offer has no paymentHash")
        }
        guard hashHex.utf8.count == 64, let paymentHash = L402Hex.decode(hashHex) else {
            throw WireError(.malformed, "the offer's paymentHash is not 64 hex digits")
        }
        let identifier = try L402Identifier.random(paymentHash: paymentHash)
        let macaroon = try Macaroon.mint(
            rootKey: rootKey, identifier: identifier.bytes, location: "lsat", firstPartyCaveats: caveats.map(\.predicate)
        )
        return (macaroon, try headerValues(macaroon: macaroon, invoice: invoice))
    }

    /// The payment hash the macaroon is bound to, when its identifier has aperture's layout.
    public var paymentHash: [UInt8]? { (try? L402Identifier(bytes: macaroon.identifier))?.paymentHash }

    /// Agent side: the `Offer` for rail `lightning` this challenge asks for.
    ///
    /// The amount and network come from the invoice's human-readable part (`BOLT11Amount`), the payment
    /// hash from the macaroon identifier. The payee (node key) and the expiry live in the invoice's
    /// signed data part, which the Lightning rail decodes and checks before paying; until that decoder
    /// is wired in, the caller passes them. Details: `invoice`, `paymentHash` (hex), `network`,
    /// `macaroon` (standard base64, needed to answer the challenge).
    ///
    /// - Throws: `WireError` `.missingField` for an invoice without an amount (L402 cannot price it),
    ///   `.malformed` for an invoice HRP that does not parse or a macaroon whose identifier is not
    ///   aperture's, `.unsupported` for an unknown network.
    public func offer(payee: String, expiresAt: Date) throws(WireError) -> Offer {
        let summary = try BOLT11Amount.parse(invoice: invoice)
        guard let amount = summary.amount else {
            throw WireError(.missingField, "the L402 invoice has no amount; an amountless invoice cannot be priced")
        }
        let identifier = try L402Identifier(bytes: macaroon.identifier)
        guard !payee.isEmpty else { throw WireError(.missingField, "the offer needs the invoice's payee node key") }
        return Offer(
            rail: .lightning, amount: amount, payee: payee, expiresAt: expiresAt, id: identifier.paymentHashHex,
            details: [
                "invoice": invoice, "paymentHash": identifier.paymentHashHex, "network": summary.network,
                "macaroon": macaroon.base64,
            ]
        )
    }

    /// Removes challenges that repeat an earlier one's macaroon and invoice (aperture's LSAT + L402
    /// pair), keeping the first, so an agent never pays the same invoice twice.
    public static func distinct(_ challenges: [L402Challenge]) -> [L402Challenge] {
        var seen: Set<[UInt8]> = []
        var kept: [L402Challenge] = []
        for challenge in challenges where seen.insert(challenge.macaroon.binaryV2 + Array(challenge.invoice.utf8)).inserted {
            kept.append(challenge)
        }
        return kept
    }
}

/// The network and amount in a BOLT11 invoice's human-readable part (`ln` + network + amount).
///
/// Only the prefix is read: the signed data part (payee, payment hash, expiry) belongs to the Lightning
/// rail's decoder, which verifies the signature before anything is paid.
public struct BOLT11Amount: Hashable, Sendable {
    /// `mainnet`, `testnet`, `regtest` or `signet`.
    public let network: String
    /// The amount asked: whole satoshis as `sat`, otherwise `msat`; `nil` for an amountless invoice.
    public let amount: Money?

    /// Longest invoice read; BOLT11 invoices with long descriptions stay far below it.
    public static let maximumInvoiceByteCount = 7_089

    /// Reads the human-readable part (everything before the last `1`), case-insensitively.
    ///
    /// - Throws: `WireError` `.malformed` for a missing separator, bad amount (leading zero, unknown
    ///   multiplier, sub-millisatoshi, overflow), `.unsupported` for an unknown network prefix,
    ///   `.tooLarge` above `maximumInvoiceByteCount`.
    public static func parse(invoice: String) throws(WireError) -> BOLT11Amount {
        guard invoice.utf8.count <= maximumInvoiceByteCount else {
            throw WireError(.tooLarge, "the invoice exceeds \(maximumInvoiceByteCount) bytes")
        }
        let lower = Array(invoice.lowercased().utf8)
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")), separator >= 2,
              lower[0] == UInt8(ascii: "l"), lower[1] == UInt8(ascii: "n") else {
            throw WireError(.malformed, "not a BOLT11 invoice (no ln…1 human-readable part)")
        }
        // The Bolt11 module's prefix reader (via Common/WireBolt11.swift) splits currency and amount.
        let (currency, amountMsat) = try WireBolt11.parsePrefix(String(decoding: lower[..<separator], as: UTF8.self))
        guard let network = WireBolt11.networkName(currency: currency) else {
            throw WireError(.unsupported, "the invoice is for an unknown network")
        }
        guard let amountMsat else { return BOLT11Amount(network: network, amount: nil) }
        guard amountMsat > 0 else { throw WireError(.malformed, "the invoice amount is out of range") }
        let msat = UInt64(amountMsat)
        do {
            let money = msat % 1000 == 0
                ? try Money(amount: Int64(msat / 1000), unit: .sat)
                : try Money(amount: Int64(msat), unit: .msat)
            return BOLT11Amount(network: network, amount: money)
        } catch {
            throw WireError(.malformed, "the invoice amount is not a valid amount: \(error)")
        }
    }
}
