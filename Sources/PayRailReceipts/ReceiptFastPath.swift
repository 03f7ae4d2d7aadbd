import Foundation
import PayRail
import PayRailCrypto

// The common case of receipt verification, without allocating: a token as `ReceiptSigner` writes
// it (plain ASCII JSON, known names, strings without escapes, whole-number times) is read from one
// stack buffer, the key found by comparing `kid` bytes, and only the claim strings the result must
// return are made. Anything else, and every refusal but a bad signature, is handed to the general
// path, which then decides exactly as it always has: this path only ever says "verified" or "the
// signature does not verify" in cases where the general path would say the same.

/// What the fast path concluded. The claims themselves go straight into the caller's slot: carried
/// in the verdict, a 128-byte struct would be copied out of the enum, the closure and the tuple on
/// the way back.
enum FastVerdict {
    /// Signature and claims read (into the caller's slots); the time and resource checks are still to run.
    case verified(keyIndex: Int)
    /// A well-formed token whose signature does not verify with key `keyIndex`.
    case badSignature(keyIndex: Int)
    /// The signature verified, but the claims are not in the simple form this path reads; they are
    /// the bytes between the two dots.
    case signedButClaimsIrregular(keyIndex: Int, firstDot: Int, secondDot: Int)
    /// Not in the simple form: the general path must run from the start.
    case irregular
}

/// A forward-only reader of one JSON object in the narrow form receipts use. Every method returns
/// a "could not" value (false, nil, -1) instead of refusing: the caller then defers to the strict
/// general reader, which knows the reason.
struct SimpleJSONScanner {
    let base: UnsafePointer<UInt8>
    let count: Int
    var position = 0
    private var first = true

    init(_ base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < count {
            let byte = base[position]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    /// Reads `{`.
    @inline(__always)
    mutating func open() -> Bool {
        skipWhitespace()
        guard position < count, base[position] == UInt8(ascii: "{") else { return false }
        position += 1
        return true
    }

    /// The next member's name as (start, length) with the reader after its `:`; length 0 with
    /// `start == -1` after the closing `}`; nil for anything else (escapes, non-ASCII, bad syntax).
    @inline(__always)
    mutating func nextName() -> (start: Int, length: Int)? {
        skipWhitespace()
        guard position < count else { return nil }
        if base[position] == UInt8(ascii: "}") {
            position += 1
            return (-1, 0)
        }
        if !first {
            guard base[position] == UInt8(ascii: ",") else { return nil }
            position += 1
            skipWhitespace()
            guard position < count else { return nil }
        }
        first = false
        guard let name = plainString(), name.length > 0 else { return nil }
        skipWhitespace()
        guard position < count, base[position] == UInt8(ascii: ":") else { return nil }
        position += 1
        skipWhitespace()
        return name
    }

    /// A string of printable ASCII without escapes, as (start, length) of its content.
    @inline(__always)
    mutating func plainString() -> (start: Int, length: Int)? {
        guard position < count, base[position] == UInt8(ascii: "\"") else { return nil }
        let start = position + 1
        var index = start
        // Eight bytes per step: the first byte that is a quote, a backslash, a control or non-ASCII
        // ends the run (see `specialBytes`); only a quote ends it well.
        while index + 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            let special = Self.specialBytes(word)
            if special != 0 {
                index += special.trailingZeroBitCount >> 3
                break
            }
            index += 8
        }
        while index < count {
            let byte = base[index]
            if byte == UInt8(ascii: "\"") {
                position = index + 1
                return (start, index - start)
            }
            // Controls must be escaped in JSON; escapes and non-ASCII go to the general reader.
            if byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\\") { return nil }
            index += 1
        }
        return nil
    }

    /// The high bit of each byte of `word` that may be `"`, `\`, below 0x20 or above 0x7F. The
    /// lowest flagged byte is always exact (the borrow tricks can only add flags above a true one),
    /// which is all the caller uses.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let zeroQuote = (quote &- ones) & ~quote
        let zeroBackslash = (backslash &- ones) & ~backslash
        let control = (word &- ones &* 0x20) & ~word
        return (zeroQuote | zeroBackslash | control | word) & highs
    }

    /// A whole number written as plain digits (no sign, fraction, exponent or leading zero) that
    /// fits `Int64`, followed by a delimiter.
    @inline(__always)
    mutating func plainInteger() -> Int64? {
        var index = position
        var value: Int64 = 0
        // Eight digits at once when there are eight (times have ten): each byte's digit value is
        // checked in parallel, then pairs, quads and the two halves are combined by multiplication.
        if position + 8 <= count {
            let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            let digits = word &- 0x3030_3030_3030_3030
            // Every byte 0...9: no byte below '0' (no borrow sets a high bit) and none above '9'.
            let ones: UInt64 = 0x0101_0101_0101_0101
            if (word & 0x8080_8080_8080_8080) == 0, (digits & 0x8080_8080_8080_8080) == 0,
               ((digits &+ ones &* 0x76) & 0x8080_8080_8080_8080) == 0 {
                let pairs = (digits &* 10 &+ (digits >> 8)) & 0x00FF_00FF_00FF_00FF
                let quads = (pairs &* 100 &+ (pairs >> 16)) & 0x0000_FFFF_0000_FFFF
                value = Int64((quads &* 10_000 &+ (quads >> 32)) & 0xFFFF_FFFF)
                index += 8
            }
        }
        // Eighteen digits cannot overflow Int64: no overflow checks for them.
        let uncheckedEnd = min(count, position + 18)
        while index < uncheckedEnd {
            let digit = base[index] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            value = value &* 10 &+ Int64(digit)
            index += 1
        }
        while index < count {
            let digit = base[index] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times.addingReportingOverflow(Int64(digit))
            if overflowA || overflowB { return nil }
            value = sum
            index += 1
        }
        let digits = index - position
        guard digits > 0, !(digits > 1 && base[position] == UInt8(ascii: "0")) else { return nil }
        if index < count {
            switch base[index] {
            case UInt8(ascii: ","), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D: break
            default: return nil
            }
        }
        position = index
        return value
    }

    /// Nothing but whitespace after the object.
    @inline(__always)
    mutating func atEnd() -> Bool {
        skipWhitespace()
        return position == count
    }

    /// Whether the next bytes are exactly `literal` (4 to 16 bytes, such as `,"iat":`), stepping past
    /// them if so. Two overlapping loads cover the literal, compared with the literal's own bytes
    /// (constants once inlined): no call, no loop.
    @inline(__always)
    mutating func skip(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard length >= 4, length <= 16, position + length <= count else { return false }
        let here = UnsafeRawPointer(base + position)
        let expected = UnsafeRawPointer(literal.utf8Start)
        let same: Bool
        if length >= 8 {
            same = here.loadUnaligned(as: UInt64.self) == expected.loadUnaligned(as: UInt64.self)
                && here.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
                    == expected.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
        } else {
            same = here.loadUnaligned(as: UInt32.self) == expected.loadUnaligned(as: UInt32.self)
                && here.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self)
                    == expected.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self)
        }
        if same { position += length }
        return same
    }

    /// The three bytes of a three-byte name packed little-endian, to compare names in one test.
    @inline(__always)
    func packed3(_ start: Int) -> UInt32 {
        UInt32(base[start]) | UInt32(base[start + 1]) << 8 | UInt32(base[start + 2]) << 16
    }

    /// Whether the `length` bytes at `start` are `literal`.
    @inline(__always)
    func bytes(_ start: Int, _ length: Int, are literal: StaticString) -> Bool {
        length == literal.utf8CodeUnitCount
            && Self.same(UnsafeRawPointer(base + start), UnsafeRawPointer(literal.utf8Start), count: length)
    }

    /// Whether the bytes at `range` are exactly `text`'s UTF-8 (read in place for a native string).
    @inline(__always)
    func bytes(_ range: (start: Int, length: Int), equal text: String) -> Bool {
        guard text.utf8.count == range.length else { return false }
        let source = UnsafeRawPointer(base + range.start)
        return text.utf8.withContiguousStorageIfAvailable { utf8 in
            guard let textBase = utf8.baseAddress else { return range.length == 0 }
            return Self.same(UnsafeRawPointer(textBase), source, count: range.length)
        } ?? false
    }

    /// Whether `count` bytes at `a` and at `b` are equal, compared a word at a time with the last
    /// word overlapping (never reading outside either range). Claim texts are short, and a `memcmp`
    /// call costs more than the comparison.
    @inline(__always)
    static func same(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        if count >= 8 {
            var offset = 0
            while offset + 8 < count {
                if a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                    return false
                }
                offset += 8
            }
            return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        if count >= 4 {
            return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        if count >= 2 {
            return a.loadUnaligned(as: UInt16.self) == b.loadUnaligned(as: UInt16.self)
                && a.loadUnaligned(fromByteOffset: count - 2, as: UInt16.self) == b.loadUnaligned(fromByteOffset: count - 2, as: UInt16.self)
        }
        return count == 0 || a.load(as: UInt8.self) == b.load(as: UInt8.self)
    }

    /// The rail names and unit codes PayRail itself writes, as literals: a literal string costs
    /// nothing to make, and these two claims hold one of them in nearly every receipt.
    @inline(__always)
    func railName(_ range: (start: Int, length: Int)) -> String {
        if bytes(range.start, range.length, are: "fake") { return "fake" }
        if bytes(range.start, range.length, are: "lightning") { return "lightning" }
        if bytes(range.start, range.length, are: "stripe") { return "stripe" }
        return string(range)
    }

    /// See `railName`.
    @inline(__always)
    func unitCode(_ range: (start: Int, length: Int)) -> String {
        if bytes(range.start, range.length, are: "sat") { return "sat" }
        if bytes(range.start, range.length, are: "msat") { return "msat" }
        if bytes(range.start, range.length, are: "usd") { return "usd" }
        if bytes(range.start, range.length, are: "eur") { return "eur" }
        return string(range)
    }

    /// The bytes as a `String` (already known to be printable ASCII). Copied straight into the
    /// string's own storage: `String(decoding:)` would check the bytes, then copy them, then check
    /// them again on the way in.
    @inline(__always)
    func string(_ range: (start: Int, length: Int)) -> String {
        let source = UnsafeRawPointer(base + range.start)
        let length = range.length
        return String(unsafeUninitializedCapacity: length) { target in
            guard let destination = target.baseAddress.map(UnsafeMutableRawPointer.init) else { return 0 }
            // Claim strings are short: whole words, the last one overlapping, instead of a memcpy call.
            if length >= 8 {
                var offset = 0
                while offset + 8 < length {
                    destination.storeBytes(of: source.loadUnaligned(fromByteOffset: offset, as: UInt64.self), toByteOffset: offset, as: UInt64.self)
                    offset += 8
                }
                destination.storeBytes(of: source.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self), toByteOffset: length - 8, as: UInt64.self)
            } else if length >= 4 {
                destination.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
                destination.storeBytes(of: source.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self), toByteOffset: length - 4, as: UInt32.self)
            } else {
                for offset in 0..<length {
                    destination.storeBytes(of: source.load(fromByteOffset: offset, as: UInt8.self), toByteOffset: offset, as: UInt8.self)
                }
            }
            return length
        }
    }
}

@inline(__always)
func packedName(_ a: Unicode.Scalar, _ b: Unicode.Scalar, _ c: Unicode.Scalar) -> UInt32 {
    UInt32(a.value) | UInt32(b.value) << 8 | UInt32(c.value) << 16
}

extension ReceiptVerifier {
    /// The fast path over a token with its separators found. A `sub` whose bytes are those of
    /// `expectedSubject` (the resource the caller will compare it with) is returned as that string,
    /// which saves making a copy of it. On `.verified` the claims and `nbf` are in `claims` and `notBefore`.
    ///
    /// The dots are not searched for in a token that starts with a header our signer writes: the
    /// header's own length puts the first, and the key's algorithm fixes the signature's length and
    /// so the second, so the long claims segment is never scanned for them (a dot inside the claims
    /// is a byte their decoder refuses). Any other header has the dots searched for.
    ///
    /// `token` is the string whose UTF-8 `bytes` are: the claims keep `iss`, `jti`, `amount` and
    /// `ref` in it (see `ReceiptClaimTexts`).
    func verifyFast(_ bytes: UnsafeRawBufferPointer, token: String, expectedSubject: String?,
                    claims: inout ReceiptClaims?, notBefore: inout Int64?) -> FastVerdict {
        // One stack buffer for the decoded header, claims and signature: base64url only shrinks.
        let capacity = bytes.count / 4 * 3 + 3
        return withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 8) { buffer -> FastVerdict in
            guard let base = bytes.baseAddress, let out = buffer.baseAddress else { return .irregular }
            let keyIndex: Int
            let headerCount: Int
            let firstDot: Int
            var secondDot = -1
            if let (signerKey, headerLength) = keys.signerHeader(startingTokenIn: bytes) {
                firstDot = headerLength
                // The very header our signer writes for this key: its alg is the key's own, its kid the key's.
                keyIndex = signerKey
                headerCount = 0
                let signatureCharacters = keys.algorithm(keyIndex: signerKey) == .HS256 ? 43 : 86
                let expectedDot = bytes.count - 1 - signatureCharacters
                if expectedDot > firstDot + 1, bytes[expectedDot] == UInt8(ascii: ".") { secondDot = expectedDot }
            } else {
                guard let found = memchr(base, Int32(UInt8(ascii: ".")), bytes.count) else { return .irregular }
                firstDot = base.distance(to: UnsafeRawPointer(found))
                guard firstDot > 0 else { return .irregular }
                let header = UnsafeRawBufferPointer(start: base, count: firstDot)
                guard let decodedCount = Base64URL.decodeUnpadded(header, into: buffer) else { return .irregular }
                let headerBytes = out.assumingMemoryBound(to: UInt8.self)
                guard let (algorithm, kid) = Self.readSignerHeader(headerBytes, count: decodedCount)
                        ?? Self.readSimpleHeader(headerBytes, count: decodedCount) else { return .irregular }
                guard let foundKey = keys.index(ofKeyID: UnsafeRawBufferPointer(start: headerBytes + kid.start, count: kid.length)) else {
                    return .irregular
                }
                guard keys.algorithm(keyIndex: foundKey) == algorithm else { return .irregular }
                keyIndex = foundKey
                headerCount = decodedCount
            }
            if secondDot < 0 {
                guard firstDot + 1 < bytes.count,
                      let found = memchr(base + firstDot + 1, Int32(UInt8(ascii: ".")), bytes.count - firstDot - 1) else { return .irregular }
                secondDot = base.distance(to: UnsafeRawPointer(found))
                guard secondDot > firstDot + 1 else { return .irregular }
            }

            // The claims and the signature are decoded before the signature is checked, so that any
            // `=`, extra `.` or stray byte anywhere sends the token to the general path, which reports
            // it exactly as before (the caller leaves those scans to that path).
            let claimsText = UnsafeRawBufferPointer(start: base + firstDot + 1, count: secondDot - firstDot - 1)
            let claimsSpace = UnsafeMutableRawBufferPointer(rebasing: buffer[headerCount...])
            guard let claimsCount = Base64URL.decodeUnpadded(claimsText, into: claimsSpace) else { return .irregular }
            let signatureText = UnsafeRawBufferPointer(start: base + secondDot + 1, count: bytes.count - secondDot - 1)
            let signatureSpace = UnsafeMutableRawBufferPointer(rebasing: buffer[(headerCount + claimsCount)...])
            guard let signatureCount = Base64URL.decodeUnpadded(signatureText, into: signatureSpace) else { return .irregular }
            let signature = UnsafeRawBufferPointer(start: signatureSpace.baseAddress, count: signatureCount)
            let signingInput = UnsafeRawBufferPointer(start: base, count: secondDot)
            guard keys.isValidSignature(keyIndex: keyIndex, signature, signingInput: signingInput) else {
                return .badSignature(keyIndex: keyIndex)
            }

            let claimsBytes = out.assumingMemoryBound(to: UInt8.self) + headerCount
            let claimsSegment = (start: firstDot + 1, length: secondDot - firstDot - 1)
            if let signerClaims = Self.readSignerClaims(claimsBytes, count: claimsCount, expectedSubject: expectedSubject,
                                                        token: token, claimsSegment: claimsSegment) {
                claims = consume signerClaims
                return .verified(keyIndex: keyIndex)
            }
            guard let (simpleClaims, simpleNotBefore) = Self.readSimpleClaims(claimsBytes, count: claimsCount, token: token,
                                                                              claimsSegment: claimsSegment) else {
                return .signedButClaimsIrregular(keyIndex: keyIndex, firstDot: firstDot, secondDot: secondDot)
            }
            claims = consume simpleClaims
            notBefore = simpleNotBefore
            return .verified(keyIndex: keyIndex)
        }
    }

    /// The header exactly as `ReceiptSigner` writes it, `{"alg":"…","kid":"…","typ":"JWT"}` (canonical
    /// JSON: sorted names, no spaces); nil for any other spelling, which `readSimpleHeader` then reads.
    @inline(__always)
    private static func readSignerHeader(_ base: UnsafePointer<UInt8>, count: Int) -> (JWSAlgorithm, (start: Int, length: Int))? {
        var scanner = SimpleJSONScanner(base, count: count)
        guard scanner.skip("{\"alg\":"), let value = scanner.plainString(),
              scanner.skip(",\"kid\":"), let kid = scanner.plainString(),
              scanner.skip(",\"typ\":\"JWT\"}"), scanner.position == count else { return nil }
        let algorithm: JWSAlgorithm
        if scanner.bytes(value.start, value.length, are: "HS256") { algorithm = .HS256 }
        else if scanner.bytes(value.start, value.length, are: "EdDSA") { algorithm = .EdDSA }
        else if scanner.bytes(value.start, value.length, are: "ES256") { algorithm = .ES256 }
        else { return nil }
        return (algorithm, kid)
    }

    /// The claims exactly as `ReceiptSigner` writes them: canonical JSON (names in sorted order, no
    /// spaces, no `nbf`), every text claim a plain string, both times plain whole numbers. Reading
    /// them in that order needs no name look-up and no repeat check (each name is where it must be,
    /// once); nil for any other spelling, which `readSimpleClaims` then reads.
    @inline(__always)
    private static func readSignerClaims(_ base: UnsafePointer<UInt8>, count: Int, expectedSubject: String?,
                                         token: String, claimsSegment: (start: Int, length: Int)) -> ReceiptClaims? {
        var scanner = SimpleJSONScanner(base, count: count)
        guard scanner.skip("{\"amount\":"), let amount = scanner.plainString(),
              scanner.skip(",\"currency\":"), let currency = scanner.plainString(),
              scanner.skip(",\"exp\":"), let exp = scanner.plainInteger(),
              scanner.skip(",\"iat\":"), let iat = scanner.plainInteger(),
              scanner.skip(",\"iss\":"), let iss = scanner.plainString(),
              scanner.skip(",\"jti\":"), let jti = scanner.plainString(),
              scanner.skip(",\"method\":"), let method = scanner.plainString(),
              scanner.skip(",\"ref\":"), let ref = scanner.plainString(),
              scanner.skip(",\"sub\":"), let sub = scanner.plainString(),
              scanner.position + 1 == count, base[scanner.position] == UInt8(ascii: "}") else { return nil }
        let subject: String
        if let expectedSubject, scanner.bytes(sub, equal: expectedSubject) {
            subject = expectedSubject
        } else {
            subject = scanner.string(sub)
        }
        return ReceiptClaims(
            sub: subject, iat: iat, exp: exp, method: scanner.railName(method), currency: scanner.unitCode(currency),
            token: token, claimsSegment: claimsSegment, decodedClaims: UnsafeRawBufferPointer(start: base, count: count),
            iss: iss, jti: jti, amount: amount, ref: ref)
    }

    /// `alg` (one of ours) and `kid`, plus an optional string `typ`; nothing else.
    @inline(__always)
    private static func readSimpleHeader(_ base: UnsafePointer<UInt8>, count: Int) -> (JWSAlgorithm, (start: Int, length: Int))? {
        var scanner = SimpleJSONScanner(base, count: count)
        guard scanner.open() else { return nil }
        var algorithm: JWSAlgorithm?
        var kid: (start: Int, length: Int)?
        var seen: UInt8 = 0
        while let name = scanner.nextName() {
            if name.start < 0 { break }
            guard name.length == 3, let value = scanner.plainString() else { return nil }
            let bit: UInt8
            switch scanner.packed3(name.start) {
            case packedName("a", "l", "g"):
                bit = 1
                if scanner.bytes(value.start, value.length, are: "EdDSA") { algorithm = .EdDSA }
                else if scanner.bytes(value.start, value.length, are: "ES256") { algorithm = .ES256 }
                else if scanner.bytes(value.start, value.length, are: "HS256") { algorithm = .HS256 }
                else { return nil }
            case packedName("k", "i", "d"):
                bit = 2
                kid = value
            case packedName("t", "y", "p"):
                bit = 4
            default:
                return nil
            }
            // A repeated name: the general reader refuses it.
            guard seen & bit == 0 else { return nil }
            seen |= bit
        }
        guard scanner.atEnd(), let algorithm, let kid else { return nil }
        return (algorithm, kid)
    }

    /// The receipt claims when every member is a known claim of the expected simple type, each
    /// once, and all required ones are there.
    @inline(__always)
    private static func readSimpleClaims(_ base: UnsafePointer<UInt8>, count: Int,
                                         token: String, claimsSegment: (start: Int, length: Int)) -> (ReceiptClaims, Int64?)? {
        var scanner = SimpleJSONScanner(base, count: count)
        guard scanner.open() else { return nil }
        let none = (start: 0, length: 0)
        var iss = none, sub = none, jti = none, method = none, amount = none, currency = none, ref = none
        var iat: Int64 = 0, exp: Int64 = 0, nbf: Int64 = 0
        var seen: UInt16 = 0
        while let name = scanner.nextName() {
            if name.start < 0 { break }
            let bit: UInt16
            if name.length == 3 {
                switch scanner.packed3(name.start) {
                case packedName("i", "s", "s"): bit = 1 << 0
                case packedName("s", "u", "b"): bit = 1 << 1
                case packedName("j", "t", "i"): bit = 1 << 2
                case packedName("r", "e", "f"): bit = 1 << 3
                case packedName("i", "a", "t"): bit = 1 << 7
                case packedName("e", "x", "p"): bit = 1 << 8
                case packedName("n", "b", "f"): bit = 1 << 9
                default: return nil
                }
            } else if scanner.bytes(name.start, name.length, are: "method") {
                bit = 1 << 4
            } else if scanner.bytes(name.start, name.length, are: "amount") {
                bit = 1 << 5
            } else if scanner.bytes(name.start, name.length, are: "currency") {
                bit = 1 << 6
            } else {
                return nil
            }
            guard seen & bit == 0 else { return nil }
            seen |= bit
            if bit >= 1 << 7 {
                guard let number = scanner.plainInteger() else { return nil }
                switch bit {
                case 1 << 7: iat = number
                case 1 << 8: exp = number
                default: nbf = number
                }
            } else {
                guard let text = scanner.plainString() else { return nil }
                switch bit {
                case 1 << 0: iss = text
                case 1 << 1: sub = text
                case 1 << 2: jti = text
                case 1 << 3: ref = text
                case 1 << 4: method = text
                case 1 << 5: amount = text
                default: currency = text
                }
            }
        }
        // Every claim but nbf is required; a missing one is reported by the general reader.
        guard scanner.atEnd(), seen | (1 << 9) == 0x3FF else { return nil }
        let claims = ReceiptClaims(
            sub: scanner.string(sub), iat: iat, exp: exp, method: scanner.railName(method), currency: scanner.unitCode(currency),
            token: token, claimsSegment: claimsSegment, decodedClaims: UnsafeRawBufferPointer(start: base, count: count),
            iss: iss, jti: jti, amount: amount, ref: ref)
        return (claims, seen & (1 << 9) != 0 ? nbf : nil)
    }
}
