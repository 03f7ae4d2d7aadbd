import Foundation
import PayRailCrypto
import Testing

private let jcsFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent("jcs")

private func fixtureBytes(_ relativePath: String) throws -> [UInt8] {
    Array(try Data(contentsOf: jcsFixtures.appendingPathComponent(relativePath)))
}

private func fixtureLines(_ relativePath: String) throws -> [Substring] {
    let text = String(decoding: try fixtureBytes(relativePath), as: UTF8.self)
    return text.split(separator: "\n", omittingEmptySubsequences: true)
}

private func double(fromHex hex: some StringProtocol) throws -> Double {
    let bits = try #require(UInt64(hex, radix: 16), "bad hex \(hex)")
    return Double(bitPattern: bits)
}

private func canonicalText(_ json: String) throws -> String {
    String(decoding: try CanonicalJSON.canonicalize(Array(json.utf8)), as: UTF8.self)
}

@Suite("CanonicalJSON: RFC 8785 test suite")
struct CanonicalJSONConformanceTests {
    @Test("cyberphone/json-canonicalization input -> output pairs", arguments: [
        "arrays", "french", "structures", "unicode", "values", "weird",
    ])
    func referencePairs(name: String) throws {
        let input = try fixtureBytes("input/\(name).json")
        let expected = try fixtureBytes("output/\(name).json")
        let hexWords = String(decoding: try fixtureBytes("outhex/\(name).txt"), as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" })
        let expectedFromHex = try hexWords.map { try #require(UInt8($0, radix: 16)) }
        #expect(expected == expectedFromHex, "the two expected forms in the fixtures disagree")
        let actual = try CanonicalJSON.canonicalize(input)
        #expect(actual == expected, "\(String(decoding: actual, as: UTF8.self))")
        // Canonical output is a fixed point.
        #expect(try CanonicalJSON.canonicalize(actual) == actual)
    }

    @Test("RFC 8785 Appendix B number samples, every line")
    func appendixB() throws {
        let lines = try fixtureLines("rfc8785-appendix-b.csv")
        #expect(lines.count == 26)
        for line in lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            try #require(fields.count == 3)
            let value = try double(fromHex: fields[0])
            if fields[1].isEmpty {
                #expect(throws: CanonicalJSONError.self, "\(fields[2]) must be rejected") {
                    try CanonicalJSON.serialize(.number(value))
                }
            } else {
                let bytes = try CanonicalJSON.serialize(.number(value))
                #expect(String(decoding: bytes, as: UTF8.self) == String(fields[1]), "\(fields[0]) \(fields[2])")
            }
        }
    }

    @Test("10,000 ES6 number vectors from numgen.js")
    func es6NumberFile() throws {
        let lines = try fixtureLines("es6-numbers-10k.txt")
        #expect(lines.count == 10_000)
        var mismatches: [String] = []
        for line in lines {
            guard let comma = line.firstIndex(of: ",") else {
                Issue.record("bad line \(line)")
                continue
            }
            let value = try double(fromHex: line[..<comma])
            let expected = line[line.index(after: comma)...]
            let actual = String(decoding: try CanonicalJSON.serialize(.number(value)), as: UTF8.self)
            if actual != expected { mismatches.append("\(line) got \(actual)") }
            // The parser must read the canonical text back to the identical double (or to +0 for -0).
            let reparsed = try CanonicalJSON.parse(Array(expected.utf8))
            #expect(reparsed == .number(value == 0 ? 0 : value), "\(line)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }
}

@Suite("CanonicalJSON: serialization rules")
struct CanonicalJSONSerializationTests {
    @Test("members sort by UTF-16 code units, not by scalars or UTF-8")
    func utf16Ordering() throws {
        // U+1F600 is D83D DE00 in UTF-16, which sorts before U+FB33; by scalar value it sorts after.
        let value = JSONValue.object(["\u{FB33}": .number(1), "\u{1F600}": .number(2), "a": .number(3)])
        #expect(String(decoding: try CanonicalJSON.serialize(value), as: UTF8.self)
            == "{\"a\":3,\"\u{1F600}\":2,\"\u{FB33}\":1}")
    }

    @Test("string escapes are exactly those of RFC 8785 section 3.2.2.2")
    func stringEscapes() throws {
        var controls = ""
        for code in 0..<0x20 { controls.unicodeScalars.append(try #require(Unicode.Scalar(code))) }
        let serialized = String(decoding: try CanonicalJSON.serialize(.string(controls)), as: UTF8.self)
        let expected = "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
            + "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\""
        #expect(serialized == expected)
        let others = "\"\\/\u{7F}\u{2028}\u{2029}é€😂"
        #expect(String(decoding: try CanonicalJSON.serialize(.string(others)), as: UTF8.self)
            == "\"\\\"\\\\/\u{7F}\u{2028}\u{2029}é€😂\"")
    }

    @Test("numbers use ECMAScript layout")
    func numberLayout() throws {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "0"), (1, "1"), (-1, "-1"), (100, "100"), (1.5, "1.5"), (0.1, "0.1"),
            (1e20, "100000000000000000000"), (1e21, "1e+21"), (1.5e21, "1.5e+21"), (123e20, "1.23e+22"),
            (1e-6, "0.000001"), (1e-7, "1e-7"), (1.25e-7, "1.25e-7"), (0.000123, "0.000123"),
            (9007199254740992, "9007199254740992"), (4.5, "4.5"), (2e-3, "0.002"), (1e30, "1e+30"),
        ]
        for (value, expected) in cases {
            #expect(String(decoding: try CanonicalJSON.serialize(.number(value)), as: UTF8.self) == expected)
        }
        for bad in [Double.nan, .infinity, -.infinity] {
            #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.serialize(.array([.number(bad)])) }
        }
    }

    @Test("nested structures, literals and empty containers")
    func structures() throws {
        let value = JSONValue.object([
            "b": .array([.null, .bool(true), .bool(false), .object([:]), .array([])]),
            "a": .string(""),
        ])
        #expect(String(decoding: try CanonicalJSON.serialize(value), as: UTF8.self)
            == "{\"a\":\"\",\"b\":[null,true,false,{},[]]}")
    }

    @Test("Encodable values go through JSONEncoder and come out canonical")
    func encodable() throws {
        struct Claims: Encodable {
            let sub: String
            let amount: String
            let iat: Int
            let path: String
        }
        let bytes = try CanonicalJSON.serialize(Claims(sub: "GET /x", amount: "1500", iat: 1_700_000_000, path: "/a/b"))
        #expect(String(decoding: bytes, as: UTF8.self)
            == "{\"amount\":\"1500\",\"iat\":1700000000,\"path\":\"/a/b\",\"sub\":\"GET /x\"}")
    }
}

@Suite("CanonicalJSON: strict parsing")
struct CanonicalJSONParsingTests {
    @Test("valid documents parse to the expected values")
    func validDocuments() throws {
        #expect(try CanonicalJSON.parse(Array(" {\"a\" : [1, -0.5e2, \"x\"] }\r\n\t".utf8))
            == .object(["a": .array([.number(1), .number(-50), .string("x")])]))
        #expect(try CanonicalJSON.parse(Array("\"\\ud83d\\ude02\\u00e9\\/\"".utf8)) == .string("😂é/"))
        #expect(try CanonicalJSON.parse(Array("-0".utf8)) == .number(0))
        #expect(try CanonicalJSON.parse(Array("1E+2".utf8)) == .number(100))
        #expect(try CanonicalJSON.parse(Array("1e-400".utf8)) == .number(0))
        #expect(try CanonicalJSON.parse(Array("null".utf8)) == .null)
        // Beyond 2^53 integers round as IEEE doubles do in JavaScript: the reason money travels as strings.
        #expect(try canonicalText("[9007199254740993, 12345678901234567890]") == "[9007199254740992,12345678901234567000]")
        // Canonically equivalent but different scalars stay as sent.
        let text = try CanonicalJSON.canonicalize(Array("\"A\\u030a\"".utf8))
        #expect(text == Array("\"A\u{030A}\"".utf8))
        #expect(text != Array("\"\u{00C5}\"".utf8))
    }

    @Test("malformed documents are refused with a specific code and offset", arguments: [
        ("", CanonicalJSONError.Code.unexpectedEnd, 0),
        ("   ", .unexpectedEnd, 3),
        ("{", .unexpectedEnd, 1),
        ("[1,", .unexpectedEnd, 3),
        ("\"abc", .unexpectedEnd, 0),
        ("[1,]", .unexpectedByte, 3),
        ("{\"a\":1,}", .unexpectedByte, 7),
        ("{\"a\" 1}", .unexpectedByte, 5),
        ("{a:1}", .unexpectedByte, 1),
        ("[1 2]", .unexpectedByte, 3),
        ("'x'", .unexpectedByte, 0),
        ("tru", .unexpectedEnd, 3),
        ("nul1", .unexpectedByte, 3),
        ("True", .unexpectedByte, 0),
        ("NaN", .unexpectedByte, 0),
        ("Infinity", .unexpectedByte, 0),
        ("\u{FEFF}{}", .unexpectedByte, 0),
        ("{} {}", .trailingData, 3),
        ("1 2", .trailingData, 2),
        ("01", .invalidNumber, 0),
        ("-", .invalidNumber, 0),
        ("-01", .invalidNumber, 0),
        ("+1", .unexpectedByte, 0),
        (".5", .unexpectedByte, 0),
        ("1.", .invalidNumber, 0),
        ("1.e5", .invalidNumber, 0),
        ("1e", .invalidNumber, 0),
        ("1e+", .invalidNumber, 0),
        ("[0x10]", .unexpectedByte, 2),
        ("1e400", .numberOutOfRange, 0),
        ("-1e400", .numberOutOfRange, 0),
        ("\"\\x\"", .invalidEscape, 1),
        ("\"\\u12G4\"", .invalidEscape, 5),
        ("\"\\u12\"", .invalidEscape, 5),
        ("\"\\ud800\"", .loneSurrogate, 1),
        ("\"\\udc00\"", .loneSurrogate, 1),
        ("\"\\ud800\\u0041\"", .loneSurrogate, 1),
        ("\"\\ud800x\"", .loneSurrogate, 1),
        ("\"a\tb\"", .controlCharacterInString, 2),
        ("\"a\nb\"", .controlCharacterInString, 2),
        ("\"\\n\u{1}\"", .controlCharacterInString, 3),
        ("{\"a\":1,\"a\":2}", .duplicateKey, 7),
        ("{\"a\":1,\"\\u0061\":2}", .duplicateKey, 7),
    ])
    func malformed(text: String, code: CanonicalJSONError.Code, offset: Int) {
        do {
            _ = try CanonicalJSON.parse(Array(text.utf8))
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.code == code, "\(text.debugDescription): \(error)")
            #expect(error.offset == offset, "\(text.debugDescription): \(error)")
        }
    }

    @Test("ill-formed UTF-8 is refused, not replaced")
    func invalidUTF8() {
        let cases: [([UInt8], Int)] = [
            ([0x22, 0x61, 0xFF, 0x22], 2),              // never valid
            ([0x22, 0xC0, 0xAF, 0x22], 1),              // overlong "/"
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),        // UTF-8 encoded surrogate
            ([0x22, 0xE2, 0x82, 0x22], 1),              // truncated sequence
            ([0x22, 0x5C, 0x6E, 0x80, 0x22], 3),        // stray continuation after an escape
        ]
        for (bytes, offset) in cases {
            #expect(throws: CanonicalJSONError(code: .invalidUTF8, offset: offset), "\(bytes)") {
                try CanonicalJSON.parse(bytes)
            }
        }
    }

    @Test("nesting deeper than the limit is refused instead of exhausting the stack")
    func nestingLimit() throws {
        let ok = String(repeating: "[", count: CanonicalJSON.maximumDepth) + String(repeating: "]", count: CanonicalJSON.maximumDepth)
        _ = try CanonicalJSON.parse(Array(ok.utf8))
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: CanonicalJSONError(code: .nestingTooDeep, offset: CanonicalJSON.maximumDepth)) {
            try CanonicalJSON.parse(Array(deep.utf8))
        }
    }

    @Test("errors describe the offset and say retrying will not help")
    func errorDescription() {
        let error = CanonicalJSONError(code: .duplicateKey, offset: 7, detail: "a")
        #expect(error.description.contains("byte 7"))
        #expect(error.description.contains("duplicateKey (a)"))
        #expect(error.description.contains("retrying"))
    }
}

@Suite("JSONValue.exactInt64Value")
struct JSONValueExactIntegerTests {
    @Test("integers below 2^53 in magnitude read exactly; 2^53 (which 2^53 + 1 also parses to), fractions and other types do not")
    func exactIntegers() throws {
        let accepted: [(String, Int64)] = [("0", 0), ("-5", -5), ("1767225600000", 1_767_225_600_000),
                                           ("9007199254740991", 9_007_199_254_740_991), ("-9007199254740991", -9_007_199_254_740_991),
                                           ("1e3", 1000)]
        for (text, value) in accepted {
            #expect(try CanonicalJSON.parse(Array(text.utf8)).exactInt64Value == value, "\(text)")
        }
        for text in ["9007199254740992", "9007199254740993", "-9007199254740992", "1.5", "1e300", "\"7\"", "true", "null"] {
            #expect(try CanonicalJSON.parse(Array(text.utf8)).exactInt64Value == nil, "\(text)")
        }
    }
}
