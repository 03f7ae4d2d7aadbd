import Foundation

// A 402 that writes nothing: the offer id carries the whole challenge it answers (resource, amount,
// payee, times, body digest) and a MAC over those bytes under the gate's rotating secret. A credential
// names its offer id in every dialect (an x402 `accepted` entry, a fake voucher's request id, the
// Payment scheme's echoed request), so the gate can rebuild the challenge from what comes back and
// check the MAC instead of reading a record it never wrote. Only rails whose offers need no backend
// call (the fake processor) make such offers; a Lightning invoice or a PaymentIntent per 402 must be
// created and remembered anyway.
//
// This file only carries the terms: minting and checking the MAC is the gate's (it owns the secret).
// The fake processor reads the terms of a bound request it has never seen to know what to collect, to
// whom and until when; it need not trust them: a payer who alters a token pays for an offer whose MAC
// fails, and the gate grants nothing for it.

/// What a bound offer id says: the challenge, and the exact terms of the one offer it names.
public struct BoundOfferTerms: Hashable, Sendable, Codable {
    /// The challenge id the offer belongs to (the key its consumption is recorded under).
    public let challengeID: String
    /// The resource the payment unlocks.
    public let resource: Resource
    /// The exact amount to collect.
    public let amount: Money
    /// The account paid.
    public let payee: String
    /// When the challenge was issued, in milliseconds since 1970 (the precision records are kept to).
    public let createdAtMilliseconds: Int64
    /// When the challenge expires, in milliseconds since 1970.
    public let expiresAtMilliseconds: Int64
    /// RFC 9530 digest of the request body the price covers, when it covers one.
    public let bodyDigest: String?

    /// Creates terms; the dates are kept to the millisecond.
    public init(challengeID: String, resource: Resource, amount: Money, payee: String, createdAt: Date, expiresAt: Date, bodyDigest: String?) {
        self.challengeID = challengeID
        self.resource = resource
        self.amount = amount
        self.payee = payee
        self.createdAtMilliseconds = Self.milliseconds(createdAt)
        self.expiresAtMilliseconds = Self.milliseconds(expiresAt)
        self.bodyDigest = bodyDigest
    }

    /// Creates terms from their milliseconds (what an id carries).
    init(challengeID: String, resource: Resource, amount: Money, payee: String, createdAtMilliseconds: Int64, expiresAtMilliseconds: Int64,
         bodyDigest: String?) {
        self.challengeID = challengeID
        self.resource = resource
        self.amount = amount
        self.payee = payee
        self.createdAtMilliseconds = createdAtMilliseconds
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.bodyDigest = bodyDigest
    }

    /// When the challenge was issued.
    public var createdAt: Date { Date(timeIntervalSince1970: Double(createdAtMilliseconds) / 1000) }
    /// When the challenge expires.
    public var expiresAt: Date { Date(timeIntervalSince1970: Double(expiresAtMilliseconds) / 1000) }

    /// A date as terms keep it (`init(challengeID:resource:amount:payee:createdAt:expiresAt:bodyDigest:)`).
    static func milliseconds(_ date: Date) -> Int64 {
        // Nearest, as the stores keep dates: a date rebuilt from milliseconds may sit a hair below.
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite, value > 0, value < 1e15 else { return 0 }
        return Int64(value)
    }

    private enum CodingKeys: String, CodingKey {
        case challengeID = "c", resource = "r", amount = "a", payee = "p"
        case createdAtMilliseconds = "t", expiresAtMilliseconds = "e", bodyDigest = "d"
    }
}

/// The text of a bound offer id: `pb2.<terms>.<mac>`, both parts base64url without padding.
///
/// The MAC is the gate's HMAC-SHA256 over `macInput` (the version tag and the exact terms bytes), so
/// nothing is re-encoded before it is checked. Version 2 writes the terms in a compact binary form
/// and keeps the first 16 bytes of the MAC (HMAC-SHA256-128, as RFC 4868 truncates): the id is
/// written five times in every 402 and echoed in every credential, and version 1's JSON terms and
/// full MAC made it about 275 characters instead of about 120. Version 1 ids (`pb1.`, JSON terms,
/// 32-byte MAC) are still read: a gate upgraded while its 402s were out must still accept them for
/// the presentation grace.
public struct BoundOfferToken: Hashable, Sendable {
    /// The prefix of the ids minted now.
    public static let prefix = "pb2."
    /// The prefix of version 1 ids, still read.
    public static let legacyPrefix = "pb1."
    /// The longest id read (a bound id carries a resource path; anything longer is not ours).
    public static let maximumLength = 4096
    /// How many bytes of the HMAC a version 2 id carries.
    public static let macByteCount = 16

    /// The terms, decoded.
    public let terms: BoundOfferTerms
    /// The exact bytes the MAC covers.
    public let macInput: [UInt8]
    /// The MAC as carried (16 bytes in a version 2 id, 32 in a version 1 id).
    public let mac: [UInt8]

    /// The bytes a gate MACs for `terms` (version 2): see `BoundOfferTermsCodec`.
    ///
    /// - Returns: `nil` when the terms cannot be written compactly (an expiry before the creation, a
    ///   field longer than the id allows); callers then make no bound offer (fail closed: the
    ///   challenge is stored instead).
    public static func encodedTerms(_ terms: BoundOfferTerms) -> [UInt8]? { BoundOfferTermsCodec.encode(terms) }

    /// The MAC input for encoded terms: a version tag, so a MAC made for another purpose with the same
    /// secret never verifies as an offer's.
    public static func macInput(encodedTerms: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(macTag.utf8CodeUnitCount + encodedTerms.count)
        out.append(contentsOf: UnsafeRawBufferPointer(start: macTag.utf8Start, count: macTag.utf8CodeUnitCount))
        out.append(contentsOf: encodedTerms)
        return out
    }

    /// The MAC input (version 2) for the terms a gate binds `charge` to, in one buffer, tag then terms:
    /// the same bytes as `macInput(encodedTerms:)` of the `encodedTerms(_:)` of
    /// `BoundOfferTerms(challengeID: charge.challengeID, resource: charge.resource, amount: charge.amount,
    /// payee: payee, createdAt: createdAt, expiresAt: charge.expiresAt, bodyDigest: charge.bodyDigest)`.
    /// Every stateless 402 mints an id, so the fields are read from the charge in place (no terms
    /// value to build and destroy) and `compose(_:mac:)` reads the terms in this buffer (no copy).
    ///
    /// - Returns: `nil` when `encodedTerms(_:)` would (the caller makes no bound offer).
    package static func macInput(for charge: Charge, payee: String, createdAt: Date) -> BoundOfferMACInput? {
        BoundOfferTermsCodec.encode(challengeID: charge.challengeID, resource: charge.resource, amount: charge.amount, payee: payee,
                                    createdAtMilliseconds: BoundOfferTerms.milliseconds(createdAt),
                                    expiresAtMilliseconds: BoundOfferTerms.milliseconds(charge.expiresAt),
                                    bodyDigest: charge.bodyDigest, after: macTag).map(BoundOfferMACInput.init(bytes:))
    }

    /// The offer id for encoded terms and their MAC (only its first `macByteCount` bytes are carried).
    public static func compose(encodedTerms: [UInt8], mac: [UInt8]) -> String {
        compose(terms: encodedTerms[...], mac: mac.prefix(macByteCount))
    }

    /// The offer id for a MAC input made by `macInput(for:payee:createdAt:)` and its MAC: the same text as
    /// `compose(encodedTerms:mac:)` of the terms it holds.
    package static func compose(_ input: BoundOfferMACInput, mac: [UInt8]) -> String {
        compose(terms: input.bytes[macTag.utf8CodeUnitCount...], mac: mac.prefix(macByteCount))
    }

    /// `pb2.<terms>.<mac>` written straight into the string's storage: every stateless 402 composes
    /// an id per offer, and a byte array first would be one more allocation and copy.
    private static func compose(terms: ArraySlice<UInt8>, mac: ArraySlice<UInt8>) -> String {
        let count = prefix.utf8.count + base64URLCount(terms.count) + 1 + base64URLCount(mac.count)
        return String(unsafeUninitializedCapacity: count) { out in
            var index = 0
            for byte in prefix.utf8 {
                out[index] = byte
                index += 1
            }
            index = writeBase64URL(terms, to: out, at: index)
            out[index] = UInt8(ascii: ".")
            return writeBase64URL(mac, to: out, at: index + 1)
        }
    }

    /// The version tag the MAC input of a version 2 id starts with (a literal: no lazy global).
    private static var macTag: StaticString { "payrail-bound-offer-v2|" }

    /// Version 1: the terms as JSON, keys sorted, written by hand.
    static func legacyEncodedTerms(_ terms: BoundOfferTerms) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func key(_ name: String) {
            out.append(0x22)
            out.append(contentsOf: name.utf8)
            out.append(0x22)
            out.append(0x3A)
        }
        func string(_ text: String) {
            out.append(0x22)
            for byte in text.utf8 {
                switch byte {
                case 0x22, 0x5C: out += [0x5C, byte]
                case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
                default: out.append(byte)
                }
            }
            out.append(0x22)
        }
        out.append(0x7B)
        key("a")
        out.append(0x7B)
        key("amount"); string(String(terms.amount.amount)); out.append(0x2C)
        if !terms.amount.unit.isBuiltIn { key("exponent"); out += Array(String(terms.amount.unit.exponent).utf8); out.append(0x2C) }
        key("unit"); string(terms.amount.unit.code)
        out.append(0x7D); out.append(0x2C)
        key("c"); string(terms.challengeID); out.append(0x2C)
        if let digest = terms.bodyDigest { key("d"); string(digest); out.append(0x2C) }
        key("e"); out += Array(String(terms.expiresAtMilliseconds).utf8); out.append(0x2C)
        key("p"); string(terms.payee); out.append(0x2C)
        key("r"); string(terms.resource.description); out.append(0x2C)
        key("t"); out += Array(String(terms.createdAtMilliseconds).utf8)
        out.append(0x7D)
        return out
    }

    /// Version 1's MAC input.
    static func legacyMACInput(encodedTerms: [UInt8]) -> [UInt8] { Array("payrail-bound-offer-v1|".utf8) + encodedTerms }

    /// A version 1 id (what gates before version 2 minted), for tests of the transition.
    static func legacyCompose(encodedTerms: [UInt8], mac: [UInt8]) -> String {
        legacyPrefix + base64URL(encodedTerms) + "." + base64URL(mac)
    }

    /// Whether `text` has the shape of a bound offer id (its prefix): a cheap test; `init?(_:)` reads it.
    public static func looksBound(_ text: String) -> Bool { text.hasPrefix(prefix) || text.hasPrefix(legacyPrefix) }

    /// Reads a bound offer id of either version; `nil` for anything else (an ordinary offer id, a
    /// damaged token, a MAC of the wrong length for its version).
    public init?(_ text: String) {
        guard text.utf8.count <= Self.maximumLength else { return nil }
        let isLegacy: Bool
        if text.hasPrefix(Self.prefix) { isLegacy = false } else if text.hasPrefix(Self.legacyPrefix) { isLegacy = true } else { return nil }
        let parts = text.dropFirst(Self.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let termsBytes = Self.fromBase64URL(parts[0]), let mac = Self.fromBase64URL(parts[1]) else { return nil }
        if isLegacy {
            guard mac.count == 32, let terms = try? JSONDecoder().decode(BoundOfferTerms.self, from: Data(termsBytes)) else { return nil }
            self.terms = terms
            self.macInput = Self.legacyMACInput(encodedTerms: termsBytes)
        } else {
            guard mac.count == Self.macByteCount, let terms = BoundOfferTermsCodec.decode(termsBytes) else { return nil }
            self.terms = terms
            self.macInput = Self.macInput(encodedTerms: termsBytes)
        }
        self.mac = mac
    }

    /// The base64url alphabet, a literal in the binary's constant data: read through its pointer, with
    /// no array and no lazy global behind it.
    private static var alphabet: StaticString { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" }

    /// The length of the unpadded base64url of `count` bytes.
    static func base64URLCount(_ count: Int) -> Int { (count * 4 + 2) / 3 }

    /// Unpadded base64url, byte by byte (Foundation's string replacing dominated a 402's cost).
    static func base64URL(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: base64URLCount(bytes.count)) { writeBase64URL(bytes[...], to: $0, at: 0) }
    }

    /// Writes the unpadded base64url of `bytes` into `out` from `index` (which has room for
    /// `base64URLCount(bytes.count)` characters) and returns the index after the last one.
    private static func writeBase64URL(_ bytes: ArraySlice<UInt8>, to out: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
        bytes.withUnsafeBufferPointer { writeBase64URL($0, to: out, at: index) }
    }

    private static func writeBase64URL(_ bytes: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
        let alphabet = self.alphabet.utf8Start
        var index = index
        var next = bytes.startIndex
        while next + 2 < bytes.endIndex {
            let value = UInt32(bytes[next]) << 16 | UInt32(bytes[next + 1]) << 8 | UInt32(bytes[next + 2])
            out[index] = alphabet[Int((value >> 18) & 63)]
            out[index + 1] = alphabet[Int((value >> 12) & 63)]
            out[index + 2] = alphabet[Int((value >> 6) & 63)]
            out[index + 3] = alphabet[Int(value & 63)]
            index += 4
            next += 3
        }
        let left = bytes.endIndex - next
        if left > 0 {
            let value = UInt32(bytes[next]) << 16 | (left == 2 ? UInt32(bytes[next + 1]) << 8 : 0)
            out[index] = alphabet[Int((value >> 18) & 63)]
            out[index + 1] = alphabet[Int((value >> 12) & 63)]
            index += 2
            if left == 2 {
                out[index] = alphabet[Int((value >> 6) & 63)]
                index += 1
            }
        }
        return index
    }

    /// Each byte's base64url value, or `invalidDigit` for a byte outside the alphabet: one load per
    /// character, where a chain of range tests mispredicts on the random characters of an id.
    static let base64URLValues: [UInt8] = {
        var table = [UInt8](repeating: invalidDigit, count: 256)
        for (value, byte) in alphabetBytes.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// `base64URLValues`' mark for a byte outside the alphabet (any value with bit 7 set is one).
    static let invalidDigit: UInt8 = 0xFF

    private static var alphabetBytes: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: alphabet.utf8Start, count: alphabet.utf8CodeUnitCount)
    }

    /// Decodes unpadded base64url; `nil` for any other character or an impossible length.
    static func fromBase64URL(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var value: UInt32 = 0
        var bits = 0
        let values = base64URLValues
        for byte in text.utf8 {
            let digit = values[Int(byte)]
            guard digit != invalidDigit else { return nil }
            value = value << 6 | UInt32(digit)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((value >> UInt32(bits)) & 0xFF))
            }
        }
        // A lone sixth-bit group (length 1 mod 4) or non-zero leftover bits is not canonical base64url.
        guard !text.isEmpty, bits < 6, value & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}

/// The bytes a gate MACs for a version 2 id, made by `BoundOfferToken.macInput(for:payee:createdAt:)`: the version
/// tag, then the encoded terms, in one buffer the id is composed from.
package struct BoundOfferMACInput: Sendable {
    /// The bytes the MAC covers.
    package let bytes: [UInt8]
}

/// A payee rail whose offers need no backend call and no stored state: the gate mints a bound offer
/// id and the rail builds the same offer from it every time, when the 402 is issued and again when a
/// credential comes back (so every dialect's check against "the offer issued" compares equal values).
public protocol StatelessOfferRail: PayeeRail {
    /// The account every offer of this rail pays (the bound terms' payee).
    var statelessPayee: String { get }

    /// Whether this rail, as configured, makes its offers without a backend call (a rail with several
    /// forms may make some per 402 and others not).
    var makesStatelessOffers: Bool { get }

    /// The offer for `charge` under the bound id `boundID`, computed from its arguments alone (no I/O,
    /// no clock): the same arguments always give the same offer.
    ///
    /// - Throws: `.unsupported` for an amount outside `capabilities`.
    func statelessOffer(_ charge: Charge, boundID: String) throws(RailError) -> Offer
}

extension StatelessOfferRail {
    /// Most stateless rails make every offer without a backend call.
    public var makesStatelessOffers: Bool { true }
}
