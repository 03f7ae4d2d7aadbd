import Foundation

// The claims of the receipt a server signs after a grant (PROTOCOLS.md section 5). This module only
// builds and reads them; signing lives in PayRailReceipts, which depends on crypto. Amounts are decimal
// strings of minor units so that no JOSE library on the other side can round them through a double.

/// The payload of a PayRail receipt token.
///
/// Unknown claims are ignored when decoding, so issuers can add claims without breaking verifiers.
public struct ReceiptClaims: Hashable, Sendable, Codable {
    /// Issuer: the server's realm.
    public let iss: String
    /// Subject: the resource granted, `METHOD /path`.
    public let sub: String
    /// Token id: the challenge id that was paid.
    public var jti: String { identifiers.tokenID }
    /// Issued at, unix seconds.
    public let iat: Int64
    /// End of the grant, unix seconds; the receipt replays the resource until then.
    public let exp: Int64
    /// The rail that was used (`lightning`, `stripe`, `fake`).
    public let method: String
    /// The amount paid, decimal string of minor units.
    public let amount: String
    /// The unit code of `amount` (`sat`, `usd`, ...).
    public let currency: String
    /// The rail's public reference (payment hash, PaymentIntent id); never a secret.
    public var ref: String { identifiers.reference }

    /// `jti` and `ref`, the two long claims (see `ReceiptIdentifiers`).
    private let identifiers: ReceiptIdentifiers

    /// Claims exactly as given, e.g. read back from a verified token; no check is made here.
    public init(
        iss: String, sub: String, jti: String, iat: Int64, exp: Int64,
        method: String, amount: String, currency: String, ref: String
    ) {
        self.iss = iss
        self.sub = sub
        self.identifiers = ReceiptIdentifiers(tokenID: jti, reference: ref)
        self.iat = iat
        self.exp = exp
        self.method = method
        self.amount = amount
        self.currency = currency
    }

    /// Claims read from a verified token: `jti` and `ref` stay in the token until read (see
    /// `ReceiptIdentifiers`). For PayRail's own verifier.
    package init(
        iss: String, sub: String, iat: Int64, exp: Int64, method: String, amount: String, currency: String,
        token: String, claimsSegment: (start: Int, length: Int), decodedClaims: UnsafeRawBufferPointer,
        jti: (start: Int, length: Int), ref: (start: Int, length: Int)
    ) {
        self.iss = iss
        self.sub = sub
        self.identifiers = ReceiptIdentifiers(token: token, segment: claimsSegment, claims: decodedClaims, tokenID: jti, reference: ref)
        self.iat = iat
        self.exp = exp
        self.method = method
        self.amount = amount
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
        self.iss = issuer
        self.sub = resource.description
        self.identifiers = ReceiptIdentifiers(tokenID: challengeID, reference: settlement.reference)
        self.iat = iat
        self.exp = exp
        self.method = settlement.rail.rawValue
        self.amount = String(settlement.amount.amount)
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

/// The `jti` and `ref` claims: the two long texts (a 43-character challenge id, a 64-digit payment
/// hash), so the only ones that would need heap strings of their own.
///
/// Claims a verifier reads keep them where they already are, in the token: the token string is
/// held and the two texts are decoded from its claims segment when read. Verifying then allocates
/// nothing for them (making two strings was a fifth of an HS256 verification), and a caller that
/// only checks `sub` and `exp` never pays for them. Claims made any other way keep `jti` and `ref`
/// in one string. Equal when the texts are equal, however they are kept.
struct ReceiptIdentifiers: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Either the token (when `segmentStart` is set) or `jti` followed by `ref`.
    private let text: String
    /// Where the claims segment starts in the token, or `joined` for the other form.
    private let segmentStart: UInt32
    /// The claims segment's length in the token, or where `ref` starts in the joined text.
    private let segmentLengthOrSplit: UInt32
    /// In the token form, four 16-bit numbers (low to high): where `jti` starts in the decoded
    /// claims and its length, then the same for `ref`.
    private let ranges: UInt64

    private static let joined = UInt32.max

    init(tokenID: String, reference: String) {
        self.init(joinedText: tokenID + reference, split: tokenID.utf8.count)
    }

    private init(joinedText: String, split: Int) {
        // A challenge id of 4 GB cannot be in memory as a claim; the check keeps the split exact.
        precondition(split < Int(UInt32.max), "a jti of 4 GB")
        self.init(text: joinedText, segmentStart: Self.joined, segmentLengthOrSplit: UInt32(split), ranges: 0)
    }

    private init(text: String, segmentStart: UInt32, segmentLengthOrSplit: UInt32, ranges: UInt64) {
        self.text = text
        self.segmentStart = segmentStart
        self.segmentLengthOrSplit = segmentLengthOrSplit
        self.ranges = ranges
    }

    /// The texts as found by a verifier: `token` is the token whose claims segment (base64url,
    /// `segment` within the token's UTF-8) decodes to `claims`, and `tokenID` and `reference` are
    /// ranges of `claims` holding printable ASCII without escapes. Beyond 16-bit offsets, or for a
    /// token string without contiguous UTF-8, the two texts are copied out instead.
    init(token: String, segment: (start: Int, length: Int), claims: UnsafeRawBufferPointer,
         tokenID: (start: Int, length: Int), reference: (start: Int, length: Int)) {
        let limit = Int(UInt16.max)
        guard segment.start < Int(Self.joined), segment.length <= limit, token.utf8.withContiguousStorageIfAvailable({ _ in true }) == true,
              tokenID.start + tokenID.length <= limit, reference.start + reference.length <= limit else {
            let total = tokenID.length + reference.length
            let copied = String(unsafeUninitializedCapacity: total) { target in
                guard let destination = target.baseAddress.map(UnsafeMutableRawPointer.init),
                      let source = claims.baseAddress else { return 0 }
                destination.copyMemory(from: source + tokenID.start, byteCount: tokenID.length)
                (destination + tokenID.length).copyMemory(from: source + reference.start, byteCount: reference.length)
                return total
            }
            self.init(joinedText: copied, split: tokenID.length)
            return
        }
        self.init(text: token, segmentStart: UInt32(segment.start), segmentLengthOrSplit: UInt32(segment.length),
                  ranges: UInt64(tokenID.start) | UInt64(tokenID.length) << 16 | UInt64(reference.start) << 32 | UInt64(reference.length) << 48)
    }

    var tokenID: String {
        if segmentStart == Self.joined { return String(text[..<splitIndex]) }
        return decoded(start: Int(ranges & 0xFFFF), length: Int(ranges >> 16 & 0xFFFF))
    }

    var reference: String {
        if segmentStart == Self.joined { return String(text[splitIndex...]) }
        return decoded(start: Int(ranges >> 32 & 0xFFFF), length: Int(ranges >> 48 & 0xFFFF))
    }

    /// Where `ref` starts in the joined text: a boundary between scalars, as two valid texts meet there.
    private var splitIndex: String.Index {
        text.utf8.index(text.startIndex, offsetBy: Int(segmentLengthOrSplit))
    }

    /// Bytes `start..<start + length` of the decoded claims segment: only the base64url groups that
    /// hold them are decoded. (This module has no crypto or codec dependency; the verifier has
    /// already decoded and checked these very characters, so the six-bit lookup here cannot fail.)
    private func decoded(start: Int, length: Int) -> String {
        guard length > 0 else { return "" }
        let firstGroup = start / 3
        let skip = start - firstGroup * 3
        let segmentEnd = Int(segmentStart) + Int(segmentLengthOrSplit)
        let result: String? = text.utf8.withContiguousStorageIfAvailable { utf8 -> String? in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(skip + length + 2)
            var position = Int(segmentStart) + firstGroup * 4
            while bytes.count < skip + length {
                // One group of up to four characters (the last one of the segment may be short).
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
                let produced = characters - 1
                for index in 0..<produced { bytes.append(UInt8(truncatingIfNeeded: group >> UInt32(16 - 8 * index))) }
            }
            return String(decoding: bytes[skip..<skip + length], as: UTF8.self)
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

    /// The two texts, never the token they may be kept in.
    var description: String { "jti \(tokenID), ref \(reference)" }

    var debugDescription: String { description }

    static func == (lhs: ReceiptIdentifiers, rhs: ReceiptIdentifiers) -> Bool {
        lhs.tokenID == rhs.tokenID && lhs.reference == rhs.reference
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(tokenID)
        hasher.combine(reference)
    }
}

/// Claims that cannot be issued as asked; a server configuration or caller bug.
public struct ReceiptClaimsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule broken.
    public let reason: String

    /// What was wrong.
    public var description: String { "cannot build receipt claims: \(reason)" }
}
