/// Reads one JSON object member by member, without building a dictionary.
///
/// For hot paths that know which names they want (receipt claims, JWS headers): the caller asks
/// for each member's name, compares it with the names it knows without making a `String`, then
/// reads or skips the value. It is exactly as strict as `CanonicalJSON.parse` (the same grammar,
/// depth limit, string and number rules) and refuses a repeated member name anywhere in the
/// object, so a token cannot carry two different `exp`s.
public struct JSONObjectReader {
    /// A member name, valid only inside the `read` call that produced it.
    public struct Name {
        fileprivate let start: Int
        fileprivate let end: Int
        /// The name had escapes, so its bytes in the input are not its text.
        fileprivate let unescaped: String?
    }

    private var parser: JSONParser
    private var names: [Name] = []
    private var expectingFirst = true
    private var finished = false

    /// Reads `bytes`, which must hold exactly one JSON object, through `body`; after `body`, any
    /// members it did not ask for are read and checked too, and nothing may follow the object.
    @inline(__always)
    public static func read(
        _ bytes: [UInt8], _ body: (inout JSONObjectReader) throws(CanonicalJSONError) -> Void
    ) throws(CanonicalJSONError) {
        let failure = bytes.withUnsafeBufferPointer { buffer -> CanonicalJSONError? in
            var reader = JSONObjectReader(parser: JSONParser(buffer))
            do throws(CanonicalJSONError) {
                try reader.begin()
                try body(&reader)
                while try reader.nextMember() != nil { _ = try reader.value() }
                try reader.end()
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    private init(parser: JSONParser) {
        self.parser = parser
        names.reserveCapacity(12)
    }

    private mutating func begin() throws(CanonicalJSONError) {
        parser.skipWhitespace()
        guard parser.position < parser.input.count else { throw parser.fail(.unexpectedEnd) }
        guard parser.input[parser.position] == UInt8(ascii: "{") else { throw parser.fail(.unexpectedByte, "not an object") }
        try parser.enterContainer()
        parser.position += 1
    }

    /// The next member's name, or `nil` after the last member. Read or skip its value before
    /// asking for the next name.
    public mutating func nextMember() throws(CanonicalJSONError) -> Name? {
        guard !finished else { return nil }
        parser.skipWhitespace()
        guard parser.position < parser.input.count else { throw parser.fail(.unexpectedEnd) }
        let byte = parser.input[parser.position]
        if byte == UInt8(ascii: "}") {
            parser.position += 1
            parser.depth -= 1
            finished = true
            return nil
        }
        if !expectingFirst {
            guard byte == UInt8(ascii: ",") else { throw parser.fail(.unexpectedByte) }
            parser.position += 1
            parser.skipWhitespace()
            guard parser.position < parser.input.count else { throw parser.fail(.unexpectedEnd) }
        }
        expectingFirst = false
        guard parser.input[parser.position] == UInt8(ascii: "\"") else { throw parser.fail(.unexpectedByte) }
        let name = try readName()
        try remember(name)
        parser.skipWhitespace()
        guard parser.position < parser.input.count else { throw parser.fail(.unexpectedEnd) }
        guard parser.input[parser.position] == UInt8(ascii: ":") else { throw parser.fail(.unexpectedByte) }
        parser.position += 1
        parser.skipWhitespace()
        return name
    }

    /// Whether `name` is exactly `literal` (an ASCII name such as "exp").
    @inline(__always)
    public func name(_ name: Name, is literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        if let unescaped = name.unescaped {
            return unescaped.utf8.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: count))
        }
        guard name.end - name.start == count else { return false }
        let input = parser.input
        let expected = literal.utf8Start
        for index in 0..<count where input[name.start + index] != expected[index] { return false }
        return true
    }

    /// The name as text (for messages about unexpected members).
    public func text(of name: Name) -> String {
        name.unescaped ?? String(decoding: UnsafeBufferPointer(rebasing: parser.input[name.start..<name.end]), as: UTF8.self)
    }

    /// The current member's value, whatever it is.
    public mutating func value() throws(CanonicalJSONError) -> JSONValue {
        try parser.parseValue()
    }

    /// The current member's value if it is a string; any other value is read, checked and `nil`.
    @inline(__always)
    public mutating func stringValue() throws(CanonicalJSONError) -> String? {
        guard parser.position < parser.input.count else { throw parser.fail(.unexpectedEnd) }
        guard parser.input[parser.position] == UInt8(ascii: "\"") else {
            _ = try parser.parseValue()
            return nil
        }
        return try parser.parseString()
    }

    /// The current member's value if it is a whole number that fits `Int64` (`1700000000`, also
    /// `1.7e9`); any other value is read, checked and `nil`.
    @inline(__always)
    public mutating func integerValue() throws(CanonicalJSONError) -> Int64? {
        let input = parser.input
        var position = parser.position
        // Fast path: plain digits followed by a delimiter, as every JWT library writes times.
        var value: Int64 = 0
        var digits = 0
        while position < input.count, input[position] >= UInt8(ascii: "0"), input[position] <= UInt8(ascii: "9") {
            let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times.addingReportingOverflow(Int64(input[position] - UInt8(ascii: "0")))
            if overflowA || overflowB { digits = -1; break }
            value = sum
            digits += 1
            position += 1
        }
        var delimited = position >= input.count
        if !delimited {
            switch input[position] {
            case UInt8(ascii: ","), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D: delimited = true
            default: delimited = false
            }
        }
        if digits > 0, delimited, !(digits > 1 && input[parser.position] == UInt8(ascii: "0")) {
            parser.position = position
            return value
        }
        // Anything else (sign, fraction, exponent, leading zero, not a number) takes the general path.
        guard case .number(let number) = try parser.parseValue() else { return nil }
        return Int64(exactly: number)
    }

    private mutating func readName() throws(CanonicalJSONError) -> Name {
        let input = parser.input
        let start = parser.position + 1
        var position = start
        // Plain ASCII names (every registered claim and header name) are compared in place.
        while position < input.count {
            let byte = input[position]
            if byte == UInt8(ascii: "\"") {
                parser.position = position + 1
                return Name(start: start, end: position, unescaped: nil)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { break }
            position += 1
        }
        let text = try parser.parseString()
        return Name(start: start, end: parser.position - 1, unescaped: text)
    }

    /// A repeated name is refused. The scan is linear per name: headers and claims have a handful of
    /// members, and the 8 KB token limit bounds a hostile object's cost.
    private mutating func remember(_ name: Name) throws(CanonicalJSONError) {
        for seen in names where same(seen, name) {
            throw parser.fail(.duplicateKey, at: name.start - 1, text(of: name))
        }
        names.append(name)
    }

    private func same(_ a: Name, _ b: Name) -> Bool {
        if a.unescaped != nil || b.unescaped != nil { return text(of: a) == text(of: b) }
        guard a.end - a.start == b.end - b.start else { return false }
        let input = parser.input
        for offset in 0..<(a.end - a.start) where input[a.start + offset] != input[b.start + offset] { return false }
        return true
    }

    private mutating func end() throws(CanonicalJSONError) {
        parser.skipWhitespace()
        if parser.position < parser.input.count {
            throw CanonicalJSONError(code: .trailingData, offset: parser.position)
        }
    }
}
