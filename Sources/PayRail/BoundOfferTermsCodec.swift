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
        encode(challengeID: terms.challengeID, resource: terms.resource, amount: terms.amount, payee: terms.payee,
               createdAtMilliseconds: terms.createdAtMilliseconds, expiresAtMilliseconds: terms.expiresAtMilliseconds,
               bodyDigest: terms.bodyDigest, after: "")
    }

    /// `tag`, then the encoded terms, in one array of exactly their size: the gate MACs the two
    /// together, so it gets them without a second buffer. The fields are arguments, borrowed from
    /// whoever holds them (a gate's charge), so that no terms value is built and destroyed per 402.
    /// Every field's size is known before writing, so nothing is appended byte by byte.
    /// `nil` when the terms cannot be written.
    static func encode(challengeID: String, resource: Resource, amount: Money, payee: String, createdAtMilliseconds created: Int64,
                       expiresAtMilliseconds expires: Int64, bodyDigest: String?, after tag: StaticString) -> [UInt8]? {
        let lifetime = expires - created
        guard created > 0, lifetime >= 0, amount.amount >= 0 else { return nil }
        let unit = amount.unit
        let custom = !unit.isBuiltIn
        let exponent = custom ? UInt8(exactly: unit.exponent) : 0
        let compactID = isCompactChallengeID(challengeID)
        let resourceCount = resource.method.utf8.count + 1 + resource.path.utf8.count
        guard let exponent, let idSize = compactID ? 32 : textSize(challengeID.utf8.count),
              let codeSize = textSize(unit.code.utf8.count), let payeeSize = textSize(payee.utf8.count),
              let resourceSize = textSize(resourceCount), let digestSize = bodyDigest.map({ textSize($0.utf8.count) }) ?? 0
        else { return nil }
        var flags: UInt8 = compactID ? compactIDFlag : 0
        if bodyDigest != nil { flags |= digestFlag }
        if custom { flags |= exponentFlag }
        let count = tag.utf8CodeUnitCount + 1 + idSize + varintSize(UInt64(created)) + varintSize(UInt64(lifetime))
            + varintSize(UInt64(amount.amount)) + codeSize + (custom ? 1 : 0) + payeeSize + resourceSize + digestSize
        // Zeroed first (a memset of a hundred bytes), so a slip in the sizes above never exposes
        // uninitialized memory: the writer would stop short, and the terms are refused.
        var bytes = [UInt8](repeating: 0, count: count)
        let complete = bytes.withUnsafeMutableBufferPointer { buffer in
            var writer = Writer(buffer: buffer)
            writer.bytes(UnsafeRawBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount))
            writer.byte(flags)
            if compactID { writer.challengeID(challengeID) } else { writer.text(challengeID) }
            writer.varint(UInt64(created))
            writer.varint(UInt64(lifetime))
            writer.varint(UInt64(amount.amount))
            writer.text(unit.code)
            if custom { writer.byte(exponent) }
            writer.text(payee)
            // `Resource.description` ("METHOD /path") from its parts: no string is built per offer.
            writer.varint(UInt64(resourceCount))
            writer.utf8(resource.method)
            writer.byte(UInt8(ascii: " "))
            writer.utf8(resource.path)
            if let bodyDigest { writer.text(bodyDigest) }
            // The sizes above are exact; a writer that ran out of room or did not fill it is a bug here.
            return writer.isComplete
        }
        return complete ? bytes : nil
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

    /// Whether a challenge id is the canonical unpadded base64url of 32 bytes (as the gate makes
    /// them), which is written as those bytes: 43 characters of the alphabet, the last carrying no
    /// stray low bits (so the text is exactly the one `BoundOfferToken.base64URL` makes of them).
    private static func isCompactChallengeID(_ id: String) -> Bool {
        guard id.utf8.count == 43 else { return false }
        // A native string is contiguous UTF-8: read in place.
        return id.utf8.withContiguousStorageIfAvailable { isCanonicalBase64URL32($0) } ?? isCanonicalBase64URL32(id.utf8)
    }

    private static func isCanonicalBase64URL32(_ text: some Collection<UInt8>) -> Bool {
        let values = BoundOfferToken.base64URLValues
        // Every value is below 64, the mark of a foreign byte has bit 7 set: one test after the loop.
        var all: UInt8 = 0
        var last: UInt8 = 0
        for byte in text {
            last = values[Int(byte)]
            all |= last
        }
        // 43 characters are 258 bits: the last character's two low bits are not data.
        return text.count == 43 && all & 0x80 == 0 && last & 3 == 0
    }

    /// The size of a text field of `count` UTF-8 bytes, or `nil` past the longest allowed.
    private static func textSize(_ count: Int) -> Int? {
        count <= maximumTextLength ? varintSize(UInt64(count)) + count : nil
    }

    private static func varintSize(_ value: UInt64) -> Int { max(1, (64 - value.leadingZeroBitCount + 6) / 7) }

    /// Writes into an array's storage of a size computed beforehand; every write checks the room left
    /// and stops (and the result is refused) rather than write past it.
    private struct Writer {
        let buffer: UnsafeMutableBufferPointer<UInt8>
        private(set) var index = 0
        private var overflowed = false

        init(buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

        /// Whether every write fitted and the buffer is full.
        var isComplete: Bool { !overflowed && index == buffer.count }

        private mutating func room(_ count: Int) -> Bool {
            guard !overflowed, count <= buffer.count - index else {
                overflowed = true
                return false
            }
            return true
        }

        mutating func byte(_ value: UInt8) {
            guard room(1) else { return }
            buffer[index] = value
            index += 1
        }

        mutating func bytes(_ raw: UnsafeRawBufferPointer) {
            guard room(raw.count) else { return }
            UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[index..<(index + raw.count)])).copyMemory(from: raw)
            index += raw.count
        }

        mutating func varint(_ value: UInt64) {
            guard room(BoundOfferTermsCodec.varintSize(value)) else { return }
            var rest = value
            while rest >= 0x80 {
                buffer[index] = UInt8(rest & 0x7F) | 0x80
                index += 1
                rest >>= 7
            }
            buffer[index] = UInt8(rest)
            index += 1
        }

        mutating func utf8(_ value: String) {
            let count = value.utf8.count
            guard room(count) else { return }
            let copied = UnsafeMutableBufferPointer(rebasing: buffer[index..<(index + count)]).initialize(from: value.utf8).1
            index += copied
            if copied != count { overflowed = true }
        }

        mutating func text(_ value: String) {
            varint(UInt64(value.utf8.count))
            utf8(value)
        }

        /// The 32 bytes of a challenge id `isCompactChallengeID` accepted.
        mutating func challengeID(_ id: String) {
            guard room(32) else { return }
            if id.utf8.withContiguousStorageIfAvailable({ decode32($0) }) == nil { decode32(id.utf8) }
        }

        /// Ten groups of four characters make 30 bytes, the last three characters 2 bytes.
        private mutating func decode32(_ text: some Collection<UInt8>) {
            let values = BoundOfferToken.base64URLValues
            var value: UInt32 = 0
            var position = 0
            for byte in text.prefix(43) {
                value = value << 6 | UInt32(values[Int(byte)] & 0x3F)
                position += 1
                if position & 3 == 0 {
                    buffer[index] = UInt8(truncatingIfNeeded: value >> 16)
                    buffer[index + 1] = UInt8(truncatingIfNeeded: value >> 8)
                    buffer[index + 2] = UInt8(truncatingIfNeeded: value)
                    index += 3
                    value = 0
                }
            }
            buffer[index] = UInt8(truncatingIfNeeded: value >> 10)
            buffer[index + 1] = UInt8(truncatingIfNeeded: value >> 2)
            index += 2
        }
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
