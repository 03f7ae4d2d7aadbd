// RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence per JSON value, so that hashes, HMAC
// bindings (the Payment scheme's challenge id) and signatures over JSON are reproducible by any peer.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON value as JCS sees it (RFC 8785 builds on I-JSON, RFC 7493).
///
/// Numbers are IEEE 754 doubles because that is the JCS data model: integers beyond 2^53 lose precision
/// exactly as they would in JavaScript. For that reason money in this project is never a JSON number;
/// amounts travel as decimal strings of integer minor units (for example `"amount": "1500"`).
///
/// Equality and hashing of strings (including object member names) follow Swift's `String`, which
/// compares by Unicode canonical equivalence; the parser therefore refuses an object whose member names
/// differ only by normalization, rather than guess which one the sender meant.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A finite number; NaN and infinities cannot be serialized and are refused by ``CanonicalJSON``.
    case number(Double)
    /// A string of Unicode scalars, kept exactly as received (no normalization).
    case string(String)
    /// An ordered array.
    case array([JSONValue])
    /// An object; member order is irrelevant because serialization sorts the names.
    case object([String: JSONValue])
}

/// Why JSON text could not be parsed or a value could not be canonicalized.
///
/// These errors are deterministic: the same input fails again, so callers should reject the message
/// (and report the offset to whoever produced it) instead of retrying.
public struct CanonicalJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of defect; new codes may be added, so switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable identifier for logs and metrics.
        public let rawValue: String

        /// Creates a code from its stable identifier.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The text ended inside a value.
        public static let unexpectedEnd = Code(rawValue: "unexpectedEnd")
        /// A byte that cannot start or continue the current JSON production.
        public static let unexpectedByte = Code(rawValue: "unexpectedByte")
        /// Something follows the single top-level value.
        public static let trailingData = Code(rawValue: "trailingData")
        /// A number that violates the RFC 8259 grammar (leading zero, lone `-`, `1.`, `.5`, `1e`, ...).
        public static let invalidNumber = Code(rawValue: "invalidNumber")
        /// A number too large for an IEEE 754 double (I-JSON forbids it), or NaN/Infinity to serialize.
        public static let numberOutOfRange = Code(rawValue: "numberOutOfRange")
        /// A backslash escape RFC 8259 does not define, or a malformed `\u` escape.
        public static let invalidEscape = Code(rawValue: "invalidEscape")
        /// A `\uD800`-`\uDFFF` escape not forming a valid surrogate pair (I-JSON forbids these).
        public static let loneSurrogate = Code(rawValue: "loneSurrogate")
        /// Bytes that are not well-formed UTF-8.
        public static let invalidUTF8 = Code(rawValue: "invalidUTF8")
        /// A raw control character (U+0000 to U+001F) inside a string; it must be escaped.
        public static let controlCharacterInString = Code(rawValue: "controlCharacterInString")
        /// An object names the same member twice; which one wins is ambiguous, so JCS forbids it.
        public static let duplicateKey = Code(rawValue: "duplicateKey")
        /// Arrays and objects nest deeper than ``CanonicalJSON/maximumDepth``.
        public static let nestingTooDeep = Code(rawValue: "nestingTooDeep")
        /// An `Encodable` value could not be encoded to JSON in the first place.
        public static let encodingFailed = Code(rawValue: "encodingFailed")

        /// The stable identifier.
        public var description: String { rawValue }
    }

    /// What was wrong.
    public let code: Code
    /// Byte offset in the input where it was detected (0 for errors that are not about input text).
    public let offset: Int
    /// Extra detail for humans, such as the duplicated member name.
    public let detail: String

    /// Creates an error.
    public init(code: Code, offset: Int, detail: String = "") {
        self.code = code
        self.offset = offset
        self.detail = detail
    }

    /// A sentence for logs that also says what to do about it.
    public var description: String {
        let suffix = detail.isEmpty ? "" : " (\(detail))"
        return "JSON rejected at byte \(offset): \(code.rawValue)\(suffix); "
            + "the input is malformed or not canonicalizable, retrying it unchanged will fail again"
    }
}

/// RFC 8785 canonical serialization and a strict RFC 8259 parser.
public enum CanonicalJSON {
    /// Deepest nesting of arrays and objects the parser accepts; protects the stack from hostile input.
    public static let maximumDepth = 64

    /// Serializes a value to its RFC 8785 bytes: sorted members, ECMAScript numbers, minimal escapes.
    public static func serialize(_ value: JSONValue) throws(CanonicalJSONError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        try JCSWriter.write(value, into: &output)
        return output
    }

    /// Parses one JSON text strictly (RFC 8259 grammar, UTF-8, I-JSON: unique names, no lone surrogates,
    /// numbers within double range). Whitespace around tokens is allowed; a byte order mark is not.
    public static func parse(_ bytes: some ContiguousBytes) throws(CanonicalJSONError) -> JSONValue {
        let result: Result<JSONValue, CanonicalJSONError> = bytes.withUnsafeBytes { raw in
            let buffer = UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count)
            return Result { () throws(CanonicalJSONError) -> JSONValue in try parse(buffer: buffer) }
        }
        return try result.get()
    }

    /// Parses a UTF-8 buffer; the JWS parser calls this directly on a decoded header.
    static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(CanonicalJSONError) -> JSONValue {
        var parser = JSONParser(buffer)
        return try parser.parseDocument()
    }

    /// Parses JSON text and returns its canonical form; the usual step before hashing or signing JSON
    /// received from elsewhere.
    public static func canonicalize(_ json: some ContiguousBytes) throws(CanonicalJSONError) -> [UInt8] {
        try serialize(parse(json))
    }

    /// Encodes with `JSONEncoder` and canonicalizes the result, for signing Swift models.
    ///
    /// Whatever `JSONEncoder` produces is re-read by the strict parser, so `Encodable` types must not
    /// encode non-finite doubles, and should carry money as strings (see ``JSONValue``).
    public static func serialize<T: Encodable>(_ value: T) throws -> [UInt8] {
        let data: Data
        do {
            data = try JSONEncoder().encode(value)
        } catch {
            throw CanonicalJSONError(code: .encodingFailed, offset: 0, detail: "\(error)")
        }
        return try canonicalize(data)
    }
}

// MARK: - Serialization

/// The RFC 8785 writer.
enum JCSWriter {
    static func write(_ value: JSONValue, into output: inout [UInt8]) throws(CanonicalJSONError) {
        switch value {
        case .null:
            output.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
        case .bool(let flag):
            if flag {
                output.append(contentsOf: [0x74, 0x72, 0x75, 0x65])  // true
            } else {
                output.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])  // false
            }
        case .number(let number):
            guard let text = ECMAScriptNumber.format(number) else {
                throw CanonicalJSONError(code: .numberOutOfRange, offset: 0, detail: "\(number) has no JSON form")
            }
            output.append(contentsOf: text.utf8)
        case .string(let string):
            writeString(string, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            // RFC 8785 section 3.2.3: compare names as arrays of UTF-16 code units, not scalars or UTF-8
            // (they differ for characters above U+FFFF versus U+E000...U+FFFF).
            // Below U+E000 UTF-8 byte order is UTF-16 order, and UTF-8 is what a native string holds:
            // compare it directly unless a name has a code point at or above U+E000 (lead byte 0xEE+).
            let plain = members.keys.allSatisfy { $0.utf8.allSatisfy { $0 < 0xEE } }
            let sorted = plain
                ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                : members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            for (index, member) in sorted.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                try write(member.value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// RFC 8785 section 3.2.2.2: the two-character escapes where JSON has them, `\u00xx` (lowercase)
    /// for other controls, everything else (including U+007F and U+2028) as raw UTF-8.
    static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Runs of bytes that need no escape are copied at once: a 402 writes long offer ids several
        // times, and a byte-by-byte append was a tenth of its cost.
        var text = string
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                escape(byte, into: &output)
                start = index + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func escape(_ byte: UInt8, into output: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
        case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
        case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
        case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x00..<0x20:
            output.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
            output.append(hexDigits[Int(byte >> 4)])
            output.append(hexDigits[Int(byte & 0x0F)])
        default:
            output.append(byte)
        }
    }
}

/// ECMAScript `Number.prototype.toString()` for finite doubles (ECMA-262 Number::toString, radix 10).
enum ECMAScriptNumber {
    /// Returns nil for NaN and infinities, which JSON cannot represent.
    static func format(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        if value == 0 { return "0" }  // covers -0, which ECMAScript prints as "0"
        // Whole numbers below 2^53 print as their digits (ECMA-262: k <= n <= 21, no exponent); the
        // integer conversion is exact there, and far cheaper than taking the double apart.
        if value.magnitude < 9_007_199_254_740_992, value.rounded(.towardZero) == value { return String(Int64(value)) }

        // Swift's description yields the shortest digits that round-trip (closest to the exact value),
        // which is what ECMA-262 requires; only the layout differs, so extract digits and exponent.
        let (digits, pointPosition) = decompose(value.magnitude.description)
        let k = digits.count
        let n = pointPosition
        var result = value < 0 ? "-" : ""
        if k <= n && n <= 21 {
            result += digits + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            let split = digits.index(digits.startIndex, offsetBy: n)
            result += digits[..<split] + "." + digits[split...]
        } else if -6 < n && n <= 0 {
            result += "0." + String(repeating: "0", count: -n) + digits
        } else {
            let exponent = n - 1
            let sign = exponent < 0 ? "-" : "+"
            result += String(digits.prefix(1))
            if k > 1 { result += "." + digits.dropFirst() }
            result += "e" + sign + String(exponent.magnitude)
        }
        return result
    }

    /// Splits Swift's rendering (`"1.5"`, `"1e-07"`, `"1.7976931348623157e+308"`, `"100.0"`) of a positive
    /// finite non-zero double into significant digits `d1...dk` (no leading or trailing zeros) and `n`
    /// such that the value is `0.d1...dk * 10^n`.
    static func decompose(_ text: String) -> (digits: String, pointPosition: Int) {
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var integerPart = mantissa
        var fractionPart: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            integerPart = mantissa[..<dot]
            fractionPart = mantissa[mantissa.index(after: dot)...]
        }
        var all = Array((integerPart + fractionPart).utf8)
        var pointPosition = integerPart.count + exponent
        var leading = 0
        while leading < all.count, all[leading] == UInt8(ascii: "0") { leading += 1 }
        pointPosition -= leading
        all.removeFirst(leading)
        while let last = all.last, last == UInt8(ascii: "0") { all.removeLast() }
        return (String(decoding: all, as: UTF8.self), pointPosition)
    }
}

// MARK: - Parsing

/// A single-pass recursive-descent parser over UTF-8 bytes.
struct JSONParser {
    let input: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0

    init(_ input: UnsafeBufferPointer<UInt8>) {
        self.input = input
    }

    mutating func parseDocument() throws(CanonicalJSONError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if position < input.count {
            throw CanonicalJSONError(code: .trailingData, offset: position)
        }
        return value
    }

    /// Parses the top-level value, which must be an object; used by the JWS header parser.
    mutating func parseObjectDocument() throws(CanonicalJSONError) -> [String: JSONValue]? {
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: "{") else { return nil }
        let object = try parseObject()
        skipWhitespace()
        if position < input.count {
            throw CanonicalJSONError(code: .trailingData, offset: position)
        }
        return object
    }

    mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    func fail(_ code: CanonicalJSONError.Code, at offset: Int? = nil, _ detail: String = "") -> CanonicalJSONError {
        CanonicalJSONError(code: code, offset: offset ?? position, detail: detail)
    }

    mutating func parseValue() throws(CanonicalJSONError) -> JSONValue {
        guard position < input.count else { throw fail(.unexpectedEnd) }
        switch input[position] {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail(.unexpectedByte)
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(CanonicalJSONError) {
        let count = literal.utf8CodeUnitCount
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for index in 0..<count {
            guard position + index < input.count else { throw fail(.unexpectedEnd, at: position + index) }
            guard input[position + index] == bytes[index] else { throw fail(.unexpectedByte, at: position + index) }
        }
        position += count
    }

    mutating func enterContainer() throws(CanonicalJSONError) {
        depth += 1
        if depth > CanonicalJSON.maximumDepth { throw fail(.nestingTooDeep) }
    }

    mutating func parseObject() throws(CanonicalJSONError) -> [String: JSONValue] {
        try enterContainer()
        position += 1  // "{"
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        guard position < input.count else { throw fail(.unexpectedEnd) }
        if input[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return members
        }
        while true {
            skipWhitespace()
            guard position < input.count else { throw fail(.unexpectedEnd) }
            guard input[position] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte) }
            let nameOffset = position
            let name = try parseString()
            skipWhitespace()
            guard position < input.count else { throw fail(.unexpectedEnd) }
            guard input[position] == UInt8(ascii: ":") else { throw fail(.unexpectedByte) }
            position += 1
            skipWhitespace()
            let value = try parseValue()
            if members.updateValue(value, forKey: name) != nil {
                throw fail(.duplicateKey, at: nameOffset, name)
            }
            skipWhitespace()
            guard position < input.count else { throw fail(.unexpectedEnd) }
            switch input[position] {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                depth -= 1
                return members
            default:
                throw fail(.unexpectedByte)
            }
        }
    }

    private mutating func parseArray() throws(CanonicalJSONError) -> JSONValue {
        try enterContainer()
        position += 1  // "["
        var elements: [JSONValue] = []
        skipWhitespace()
        guard position < input.count else { throw fail(.unexpectedEnd) }
        if input[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < input.count else { throw fail(.unexpectedEnd) }
            switch input[position] {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "]"):
                position += 1
                depth -= 1
                return .array(elements)
            default:
                throw fail(.unexpectedByte)
            }
        }
    }

    private mutating func parseNumber() throws(CanonicalJSONError) -> Double {
        let start = position
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        if input[position] == UInt8(ascii: "-") { position += 1 }
        // int = zero / ( digit1-9 *DIGIT )
        guard position < input.count, isDigit(input[position]) else { throw fail(.invalidNumber, at: start) }
        if input[position] == UInt8(ascii: "0") {
            position += 1
            if position < input.count, isDigit(input[position]) { throw fail(.invalidNumber, at: start) }
        } else {
            while position < input.count, isDigit(input[position]) { position += 1 }
        }
        // frac = decimal-point 1*DIGIT
        if position < input.count, input[position] == UInt8(ascii: ".") {
            position += 1
            guard position < input.count, isDigit(input[position]) else { throw fail(.invalidNumber, at: start) }
            while position < input.count, isDigit(input[position]) { position += 1 }
        }
        // exp = e [ minus / plus ] 1*DIGIT
        if position < input.count, input[position] == UInt8(ascii: "e") || input[position] == UInt8(ascii: "E") {
            position += 1
            if position < input.count, input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < input.count, isDigit(input[position]) else { throw fail(.invalidNumber, at: start) }
            while position < input.count, isDigit(input[position]) { position += 1 }
        }
        // The grammar check above is complete, so the standard library's correctly rounded conversion
        // only ever sees well-formed text.
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self)
        guard let value = Double(text) else { throw fail(.invalidNumber, at: start) }
        guard value.isFinite else { throw fail(.numberOutOfRange, at: start, text) }
        return value
    }

    private func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// Reads the four hex digits after `\u` at `position`.
    private mutating func parseHex4() throws(CanonicalJSONError) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 {
            guard position + index < input.count else { throw fail(.unexpectedEnd, at: input.count) }
            guard let digit = hexValue(input[position + index]) else { throw fail(.invalidEscape, at: position + index) }
            value = value << 4 | digit
        }
        position += 4
        return value
    }

    mutating func parseString() throws(CanonicalJSONError) -> String {
        let openingQuote = position
        position += 1
        let contentStart = position
        // Fast path: no escapes, so the content is a slice of the input that only needs UTF-8 validation.
        while position < input.count {
            let byte = input[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: input[contentStart..<position])
                guard let string = Self.validatedString(slice) else {
                    throw fail(.invalidUTF8, at: firstInvalidUTF8(from: contentStart, to: position))
                }
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail(.controlCharacterInString) }
            position += 1
        }
        guard position < input.count else { throw fail(.unexpectedEnd, at: openingQuote) }

        // Slow path: copy the literal runs and decoded escapes into a byte buffer, validate at the end.
        var bytes = Array(UnsafeBufferPointer(rebasing: input[contentStart..<position]))
        while position < input.count {
            let byte = input[position]
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = bytes.withUnsafeBufferPointer({ Self.validatedString($0) }) else {
                    throw fail(.invalidUTF8, at: firstInvalidUTF8(from: contentStart, to: position))
                }
                position += 1
                return string
            case UInt8(ascii: "\\"):
                let escapeStart = position
                position += 1
                guard position < input.count else { throw fail(.unexpectedEnd) }
                let kind = input[position]
                position += 1
                switch kind {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalarValue = try parseHex4()
                    if scalarValue >= 0xDC00 && scalarValue <= 0xDFFF {
                        throw fail(.loneSurrogate, at: escapeStart)
                    }
                    if scalarValue >= 0xD800 && scalarValue <= 0xDBFF {
                        guard position + 1 < input.count,
                              input[position] == UInt8(ascii: "\\"), input[position + 1] == UInt8(ascii: "u") else {
                            throw fail(.loneSurrogate, at: escapeStart)
                        }
                        position += 2
                        let low = try parseHex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw fail(.loneSurrogate, at: escapeStart) }
                        scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else { throw fail(.loneSurrogate, at: escapeStart) }
                    UTF8.encode(scalar) { bytes.append($0) }
                default:
                    throw fail(.invalidEscape, at: escapeStart)
                }
            default:
                if byte < 0x20 { throw fail(.controlCharacterInString) }
                bytes.append(byte)
                position += 1
            }
        }
        throw fail(.unexpectedEnd, at: openingQuote)
    }

    /// Strict UTF-8 to String. Header and claim strings are nearly always ASCII, for which a plain scan
    /// avoids the generic validating initializer (measurably slower on the JWS hot path).
    private static func validatedString(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var allASCII = true
        for byte in bytes where byte >= 0x80 {
            allASCII = false
            break
        }
        if allASCII { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Error path only: locates the first byte of the first ill-formed UTF-8 sequence in a range.
    private func firstInvalidUTF8(from start: Int, to end: Int) -> Int {
        var index = start
        while index < end {
            var length = 1
            let lead = input[index]
            if lead >= 0xC2 && lead <= 0xDF {
                length = 2
            } else if lead >= 0xE0 && lead <= 0xEF {
                length = 3
            } else if lead >= 0xF0 && lead <= 0xF4 {
                length = 4
            } else if lead >= 0x80 {
                return index
            }
            let sequenceEnd = min(index + length, end)
            let slice = UnsafeBufferPointer(rebasing: input[index..<sequenceEnd])
            if length > 1, String(validating: slice, as: UTF8.self) == nil { return index }
            index += length
        }
        return start
    }
}
