import Foundation

// The claims of the receipt a server signs after a grant (PROTOCOLS.md section 5). This module only
// builds and reads them; signing lives in PayRailReceipts, which depends on crypto. Amounts are decimal
// strings of minor units so that no JOSE library on the other side can round them through a double.

/// The payload of a PayRail receipt token.
///
/// Unknown claims are ignored when decoding, so issuers can add claims without breaking verifiers.
public struct ReceiptClaims: Hashable, Sendable, Codable {
    /// Issuer: the server's realm.
    public var iss: String { texts.text(.issuer) }
    /// Subject: the resource granted, `METHOD /path`.
    public let sub: String
    /// Token id: the challenge id that was paid.
    public var jti: String { texts.text(.tokenID) }
    /// Issued at, unix seconds.
    public let iat: Int64
    /// End of the grant, unix seconds; the receipt replays the resource until then.
    public let exp: Int64
    /// The rail that was used (`lightning`, `stripe`, `fake`).
    public let method: String
    /// The amount paid, decimal string of minor units.
    public var amount: String { texts.text(.amount) }
    /// The unit code of `amount` (`sat`, `usd`, ...).
    public let currency: String
    /// The rail's public reference (payment hash, PaymentIntent id); never a secret.
    public var ref: String { texts.text(.reference) }

    /// `iss`, `jti`, `amount` and `ref`: the texts that would each need a string of their own (see
    /// `ReceiptClaimTexts`; `method` and `currency` are nearly always literals, `sub` the caller's).
    private let texts: ReceiptClaimTexts

    /// Claims exactly as given, e.g. read back from a verified token; no check is made here.
    public init(
        iss: String, sub: String, jti: String, iat: Int64, exp: Int64,
        method: String, amount: String, currency: String, ref: String
    ) {
        self.sub = sub
        self.texts = ReceiptClaimTexts(issuer: iss, tokenID: jti, amount: amount, reference: ref)
        self.iat = iat
        self.exp = exp
        self.method = method
        self.currency = currency
    }

    /// Claims read from a verified token: `iss`, `jti`, `amount` and `ref` stay in the token until
    /// read (see `ReceiptClaimTexts`); each is a range of the decoded claims. For PayRail's own verifier.
    package init(
        sub: String, iat: Int64, exp: Int64, method: String, currency: String,
        token: String, claimsSegment: (start: Int, length: Int), decodedClaims: UnsafeRawBufferPointer,
        iss: (start: Int, length: Int), jti: (start: Int, length: Int), amount: (start: Int, length: Int), ref: (start: Int, length: Int)
    ) {
        self.sub = sub
        self.texts = ReceiptClaimTexts(token: token, segment: claimsSegment, claims: decodedClaims,
                                       issuer: iss, tokenID: jti, amount: amount, reference: ref)
        self.iat = iat
        self.exp = exp
        self.method = method
        self.currency = currency
    }

    /// Builds claims from a settlement, decided at `issuedAt` and valid for `grantSeconds`.
    ///
    /// - Throws: `ReceiptClaimsError` when the issuer or challenge id is empty, the grant is not
    ///   positive, or the expiry overflows.
    public init(
        settlement: Settlement, issuer: String, resource: Resource, challengeID: String,
        issuedAt: Date, grantSeconds: Int64
    ) throws(ReceiptClaimsError) {
        guard !issuer.isEmpty else { throw ReceiptClaimsError(reason: "the issuer (realm) is empty") }
        guard !challengeID.isEmpty else { throw ReceiptClaimsError(reason: "the challenge id is empty") }
        guard grantSeconds > 0 else {
            throw ReceiptClaimsError(reason: "the grant must last at least one second, got \(grantSeconds)")
        }
        let seconds = issuedAt.timeIntervalSince1970.rounded(.down)
        guard seconds >= 0, seconds < 9_000_000_000_000 else {
            throw ReceiptClaimsError(reason: "issue time \(issuedAt) is out of range")
        }
        let iat = Int64(seconds)
        let (exp, overflow) = iat.addingReportingOverflow(grantSeconds)
        guard !overflow else { throw ReceiptClaimsError(reason: "the grant end overflows") }
        self.sub = resource.description
        self.texts = ReceiptClaimTexts(issuer: issuer, tokenID: challengeID, amount: String(settlement.amount.amount),
                                       reference: settlement.reference)
        self.iat = iat
        self.exp = exp
        self.method = settlement.rail.rawValue
        self.currency = settlement.amount.unit.code
    }

    /// The amount paid as `Money`.
    ///
    /// - Throws: `MoneyError` when `amount` is not a digit string or `currency` is unknown.
    public func money(extraUnits: [MoneyUnit] = []) throws(MoneyError) -> Money {
        guard let value = Money.parseMinorUnits(amount) else {
            throw MoneyError.malformed("receipt amount \"\(amount)\" is not a string of decimal digits")
        }
        let unit: MoneyUnit
        if let extra = extraUnits.first(where: { $0.code == currency }) {
            unit = extra
        } else {
            unit = try MoneyUnit(code: currency)
        }
        return try Money(amount: value, unit: unit)
    }

    /// Whether the grant is still running at `date` (`iat <= now < exp`).
    public func isValid(at date: Date) -> Bool {
        let now = date.timeIntervalSince1970
        return Double(iat) <= now && now < Double(exp)
    }

    private enum CodingKeys: String, CodingKey {
        case iss, sub, jti, iat, exp, method, amount, currency, ref
    }

    /// Reads the nine claims by name; other members are ignored.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            iss: try container.decode(String.self, forKey: .iss), sub: try container.decode(String.self, forKey: .sub),
            jti: try container.decode(String.self, forKey: .jti), iat: try container.decode(Int64.self, forKey: .iat),
            exp: try container.decode(Int64.self, forKey: .exp), method: try container.decode(String.self, forKey: .method),
            amount: try container.decode(String.self, forKey: .amount),
            currency: try container.decode(String.self, forKey: .currency), ref: try container.decode(String.self, forKey: .ref))
    }

    /// Writes the nine claims by name.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(iss, forKey: .iss)
        try container.encode(sub, forKey: .sub)
        try container.encode(jti, forKey: .jti)
        try container.encode(iat, forKey: .iat)
        try container.encode(exp, forKey: .exp)
        try container.encode(method, forKey: .method)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
        try container.encode(ref, forKey: .ref)
    }
}

extension ReceiptClaims: CustomReflectable {
    /// The nine claims, and nothing of how they are kept: claims read by a verifier hold the token
    /// itself (a bearer credential until `exp`), which must never reach a log through `print`,
    /// string interpolation or `dump`.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "iss": iss, "sub": sub, "jti": jti, "iat": iat, "exp": exp,
            "method": method, "amount": amount, "currency": currency, "ref": ref,
        ], displayStyle: .struct)
    }
}

/// The claims `iss`, `jti`, `amount` and `ref`: the texts whose value differs from receipt to
/// receipt (a realm, a 43-character challenge id, a number, a 64-digit payment hash), so the ones
/// that would each need a string made for them.
///
/// Claims a verifier reads keep them where they already are, in the token: the token string is
/// held and each text is decoded from its claims segment when read. Verifying a token then makes
/// no string at all (making them was a quarter of an HS256 verification), and a caller that only
/// checks `sub` and `exp` never pays for them. Claims made any other way keep the four texts one
/// after the other in one string. Equal when the texts are equal, however they are kept.
struct ReceiptClaimTexts: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The four texts, in storage order.
    enum Claim: Int, CaseIterable {
        case issuer, tokenID, amount, reference
    }

    /// Either the token (when `segmentStart` is set) or the four texts one after the other.
    private let text: String
    /// Where the claims segment starts in the token, or `joined` for the other form.
    private let segmentStart: UInt32
    /// The claims segment's length in the token (unused in the joined form).
    private let segmentLength: UInt32
    /// Token form: per claim, where it starts in the decoded claims and its length, 16 bits each
    /// (two claims per word). Joined form: where each of the first three ends in `text` (UTF-8
    /// offsets, 32 bits each; the last ends with `text`).
    private let low: UInt64
    private let high: UInt64

    private static let joined = UInt32.max

    init(issuer: String, tokenID: String, amount: String, reference: String) {
        let issuerEnd = issuer.utf8.count
        let tokenIDEnd = issuerEnd + tokenID.utf8.count
        let amountEnd = tokenIDEnd + amount.utf8.count
        // Four claims of 4 GB cannot be in memory; the check keeps the offsets exact.
        precondition(amountEnd < Int(UInt32.max), "receipt claims of 4 GB")
        self.init(text: issuer + tokenID + amount + reference, segmentStart: Self.joined, segmentLength: 0,
                  low: UInt64(issuerEnd) | UInt64(tokenIDEnd) << 32, high: UInt64(amountEnd))
    }

    private init(text: String, segmentStart: UInt32, segmentLength: UInt32, low: UInt64, high: UInt64) {
        self.text = text
        self.segmentStart = segmentStart
        self.segmentLength = segmentLength
        self.low = low
        self.high = high
    }

    /// The texts as found by a verifier: `token` is the token whose claims segment (base64url,
    /// `segment` within the token's UTF-8) decodes to `claims`, and the four ranges are ranges of
    /// `claims` holding printable ASCII without escapes. Beyond 16-bit offsets, or for a token
    /// string without contiguous UTF-8, the texts are copied out instead.
    init(token: String, segment: (start: Int, length: Int), claims: UnsafeRawBufferPointer,
         issuer: (start: Int, length: Int), tokenID: (start: Int, length: Int),
         amount: (start: Int, length: Int), reference: (start: Int, length: Int)) {
        func fits(_ range: (start: Int, length: Int)) -> Bool { range.start + range.length <= Int(UInt16.max) }
        guard segment.start < Int(Self.joined), segment.length <= Int(UInt16.max),
              fits(issuer), fits(tokenID), fits(amount), fits(reference),
              token.utf8.withContiguousStorageIfAvailable({ _ in true }) == true else {
            func copy(_ range: (start: Int, length: Int)) -> String {
                String(decoding: UnsafeRawBufferPointer(rebasing: claims[range.start..<range.start + range.length]), as: UTF8.self)
            }
            self.init(issuer: copy(issuer), tokenID: copy(tokenID), amount: copy(amount), reference: copy(reference))
            return
        }
        func packed(_ range: (start: Int, length: Int)) -> UInt64 { UInt64(range.start) | UInt64(range.length) << 16 }
        self.init(text: token, segmentStart: UInt32(segment.start), segmentLength: UInt32(segment.length),
                  low: packed(issuer) | packed(tokenID) << 32, high: packed(amount) | packed(reference) << 32)
    }

    /// One of the four texts.
    func text(_ claim: Claim) -> String {
        let word = claim.rawValue < 2 ? low : high
        let half = word >> (claim.rawValue % 2 == 0 ? 0 : 32) & 0xFFFF_FFFF
        if segmentStart != Self.joined {
            return decoded(start: Int(half & 0xFFFF), length: Int(half >> 16))
        }
        // Boundaries between the joined texts are boundaries between scalars, as valid texts meet there.
        let start, end: Int
        switch claim {
        case .issuer: (start, end) = (0, Int(low & 0xFFFF_FFFF))
        case .tokenID: (start, end) = (Int(low & 0xFFFF_FFFF), Int(low >> 32))
        case .amount: (start, end) = (Int(low >> 32), Int(high & 0xFFFF_FFFF))
        case .reference: (start, end) = (Int(high & 0xFFFF_FFFF), text.utf8.count)
        }
        let from = text.utf8.index(text.startIndex, offsetBy: start)
        let to = text.utf8.index(from, offsetBy: end - start)
        return String(text[from..<to])
    }

    /// Bytes `start..<start + length` of the decoded claims segment: only the base64url groups that
    /// hold them are decoded. (This module has no codec dependency; the verifier has already decoded
    /// and checked these very characters, so the six-bit lookup here cannot fail.)
    private func decoded(start: Int, length: Int) -> String {
        guard length > 0 else { return "" }
        let firstGroup = start / 3
        let skip = start - firstGroup * 3
        let segmentEnd = Int(segmentStart) + Int(segmentLength)
        let result: String? = text.utf8.withContiguousStorageIfAvailable { utf8 -> String? in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: skip + length + 2) { bytes -> String? in
                var count = 0
                var position = Int(segmentStart) + firstGroup * 4
                while count < skip + length {
                    // One group of up to four characters (the segment's last one may be short).
                    var group: UInt32 = 0
                    var characters = 0
                    while characters < 4, position < segmentEnd {
                        guard let value = Self.sextet(utf8[position]) else { return nil }
                        group = group << 6 | value
                        characters += 1
                        position += 1
                    }
                    guard characters >= 2 else { return nil }
                    group <<= UInt32(6 * (4 - characters))
                    for index in 0..<(characters - 1) {
                        bytes[count] = UInt8(truncatingIfNeeded: group >> UInt32(16 - 8 * index))
                        count += 1
                    }
                }
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[skip..<skip + length]), as: UTF8.self)
            }
        } ?? nil
        // The token was decoded and these ranges read when the claims were made; it cannot change.
        guard let result else { preconditionFailure("receipt claims lost their token's text") }
        return result
    }

    /// The six bits of one base64url character.
    private static func sextet(_ character: UInt8) -> UInt32? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(character - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(character - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(character - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }

    /// The four texts, never the token they may be kept in.
    var description: String { Claim.allCases.map { text($0) }.joined(separator: ", ") }

    var debugDescription: String { description }

    static func == (lhs: ReceiptClaimTexts, rhs: ReceiptClaimTexts) -> Bool {
        Claim.allCases.allSatisfy { lhs.text($0) == rhs.text($0) }
    }

    func hash(into hasher: inout Hasher) {
        for claim in Claim.allCases { hasher.combine(text(claim)) }
    }
}

/// Claims that cannot be issued as asked; a server configuration or caller bug.
public struct ReceiptClaimsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule broken.
    public let reason: String

    /// What was wrong.
    public var description: String { "cannot build receipt claims: \(reason)" }
}
