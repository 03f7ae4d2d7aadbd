import Foundation

// Version 2 of a bound offer id's terms (`BoundOfferToken`): the same fields as version 1's JSON, in
// a fixed order, binary. Every 402 carries the id five times and every credential echoes it, so its
// size is paid on every request; the JSON with its member names and a 43-character challenge id in
// text made two thirds of it.
//
// Layout (integers are unsigned LEB128 varints, texts a varint length then UTF-8):
//   flags (1 byte: 0x01 body digest follows, 0x02 custom unit exponent follows, 0x04 compact challenge id)
//   challenge id: 32 raw bytes when compact (the canonical base64url of 32 bytes, as the gate makes
//                 them), else a text
//   created at (milliseconds since 1970), lifetime (milliseconds until expiry)
//   amount (minor units), unit code (text), exponent (1 byte, custom units only)
//   payee (text), resource (text: "METHOD /path")
//   body digest (text, when flagged)
// Reading is strict: unknown flags, overlong or oversized numbers, lengths past the end, invalid UTF-8
// and trailing bytes are refused (a MAC is checked over these exact bytes afterwards).

/// Writes and reads the compact binary form of `BoundOfferTerms`.
enum BoundOfferTermsCodec {
    private static let digestFlag: UInt8 = 0x01
    private static let exponentFlag: UInt8 = 0x02
    private static let compactIDFlag: UInt8 = 0x04
    /// The longest text field written (the id as a whole is bounded by `BoundOfferToken.maximumLength`).
    private static let maximumTextLength = 2048

    static func encode(_ terms: BoundOfferTerms) -> [UInt8]? {
        let created = terms.createdAtMilliseconds
        let lifetime = terms.expiresAtMilliseconds - created
        guard created > 0, lifetime >= 0, terms.amount.amount >= 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(96 + terms.resource.description.utf8.count)
        let compactID = compactChallengeID(terms.challengeID)
        let custom = !terms.amount.unit.isBuiltIn
        var flags: UInt8 = 0
        if terms.bodyDigest != nil { flags |= digestFlag }
        if custom { flags |= exponentFlag }
        if compactID != nil { flags |= compactIDFlag }
        out.append(flags)
        if let compactID { out += compactID } else { guard text(terms.challengeID, into: &out) else { return nil } }
        varint(UInt64(created), into: &out)
        varint(UInt64(lifetime), into: &out)
        varint(UInt64(terms.amount.amount), into: &out)
        guard text(terms.amount.unit.code, into: &out) else { return nil }
        if custom {
            guard let exponent = UInt8(exactly: terms.amount.unit.exponent) else { return nil }
            out.append(exponent)
        }
        guard text(terms.payee, into: &out), text(terms.resource.description, into: &out) else { return nil }
        if let digest = terms.bodyDigest { guard text(digest, into: &out) else { return nil } }
        return out
    }

    static func decode(_ bytes: [UInt8]) -> BoundOfferTerms? {
        var reader = Reader(bytes: bytes)
        guard let flags = reader.byte(), flags & ~(digestFlag | exponentFlag | compactIDFlag) == 0 else { return nil }
        let challengeID: String
        if flags & compactIDFlag != 0 {
            guard let raw = reader.bytes(32) else { return nil }
            challengeID = BoundOfferToken.base64URL(raw)
        } else {
            guard let text = reader.text() else { return nil }
            challengeID = text
        }
        guard let created = reader.number(), created > 0, let lifetime = reader.number(),
              created <= UInt64(Int64.max) - lifetime, let amount = reader.number(), let code = reader.text()
        else { return nil }
        var exponent: Int?
        if flags & exponentFlag != 0 {
            guard let byte = reader.byte() else { return nil }
            exponent = Int(byte)
        }
        guard let payee = reader.text(), let resourceText = reader.text() else { return nil }
        var digest: String?
        if flags & digestFlag != 0 {
            guard let text = reader.text() else { return nil }
            digest = text
        }
        guard reader.isAtEnd, let unit = unit(code: code, exponent: exponent), let minor = Int64(exactly: amount),
              let money = try? Money(amount: minor, unit: unit), let resource = try? Resource(parsing: resourceText)
        else { return nil }
        return BoundOfferTerms(challengeID: challengeID, resource: resource, amount: money, payee: payee,
                               createdAtMilliseconds: Int64(created), expiresAtMilliseconds: Int64(created + lifetime), bodyDigest: digest)
    }

    /// As `Money`'s decoder reads a unit: a custom unit names its exponent, a built-in one must not.
    private static func unit(code: String, exponent: Int?) -> MoneyUnit? {
        guard let exponent else {
            guard let unit = try? MoneyUnit(code: code), unit.isBuiltIn else { return nil }
            return unit
        }
        guard let unit = code == "sat" || code == "msat" ? try? MoneyUnit(code: code) : try? MoneyUnit(isoCode: code, exponent: exponent),
              unit.exponent == exponent, !unit.isBuiltIn
        else { return nil }
        return unit
    }

    /// The 32 bytes a challenge id stands for, when it is their canonical unpadded base64url.
    private static func compactChallengeID(_ id: String) -> [UInt8]? {
        // `fromBase64URL` refuses stray low bits, so the id is exactly the canonical text of `raw`.
        guard id.utf8.count == 43, let raw = BoundOfferToken.fromBase64URL(id[...]), raw.count == 32 else { return nil }
        return raw
    }

    private static func text(_ value: String, into out: inout [UInt8]) -> Bool {
        let count = value.utf8.count
        guard count <= maximumTextLength else { return false }
        varint(UInt64(count), into: &out)
        out.append(contentsOf: value.utf8)
        return true
    }

    private static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    /// Reads the layout front to back; every read is bounded by what is left.
    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var isAtEnd: Bool { index == bytes.count }

        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func bytes(_ count: Int) -> [UInt8]? {
            guard count >= 0, bytes.count - index >= count else { return nil }
            defer { index += count }
            return Array(bytes[index..<(index + count)])
        }

        /// A varint of at most 9 bytes (63 bits), in its shortest form.
        mutating func number() -> UInt64? {
            var value: UInt64 = 0
            for position in 0..<9 {
                guard let byte = byte() else { return nil }
                value |= UInt64(byte & 0x7F) << UInt64(7 * position)
                if byte & 0x80 == 0 {
                    // Shortest form: a last byte of zero is only the number zero itself.
                    guard byte != 0 || position == 0 else { return nil }
                    return value
                }
            }
            return nil
        }

        mutating func text() -> String? {
            guard let length = number(), length <= UInt64(BoundOfferTermsCodec.maximumTextLength),
                  let raw = bytes(Int(length)) else { return nil }
            return String(validating: raw, as: UTF8.self)
        }
    }
}
