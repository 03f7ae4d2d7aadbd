import PayRailCrypto
import Testing

@Suite("Base64URL and Base64")
struct Base64URLTests {
    /// RFC 4648 section 10 test vectors; these contain no characters that differ between the alphabets.
    static let rfc4648Vectors: [(plain: String, padded: String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ]

    @Test("RFC 4648 section 10 vectors, standard base64 with padding")
    func standardVectors() throws {
        for vector in Self.rfc4648Vectors {
            #expect(Base64.encode(Array(vector.plain.utf8)) == vector.padded)
            #expect(try Base64.decode(vector.padded) == Array(vector.plain.utf8))
        }
    }

    @Test("RFC 4648 vectors in base64url: no padding written, padding accepted")
    func urlVectors() throws {
        for vector in Self.rfc4648Vectors {
            let unpadded = String(vector.padded.prefix { $0 != "=" })
            #expect(Base64URL.encode(Array(vector.plain.utf8)) == unpadded)
            #expect(try Base64URL.decode(unpadded) == Array(vector.plain.utf8))
            #expect(try Base64URL.decode(vector.padded) == Array(vector.plain.utf8))
        }
    }

    @Test("the URL alphabet uses - and _ where standard uses + and /")
    func alphabets() throws {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF]
        #expect(Base64URL.encode(bytes) == "-_-_")
        #expect(Base64.encode(bytes) == "+/+/")
        #expect(try Base64URL.decode("-_-_") == bytes)
        #expect(try Base64.decode("+/+/") == bytes)
        #expect(throws: Base64URLError(code: .invalidCharacter, offset: 0)) { try Base64URL.decode("+/+/") }
        #expect(throws: Base64URLError(code: .invalidCharacter, offset: 0)) { try Base64.decode("-_-_") }
    }

    @Test("round trip of every length up to 300 and every byte value")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            #expect(try Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            #expect(try Base64.decode(Base64.encode(bytes)) == bytes)
        }
        let all = Array(UInt8.min...UInt8.max)
        #expect(try Base64URL.decode(Base64URL.encode(all)) == all)
    }

    @Test("encode accepts non-contiguous sequences")
    func nonContiguousSequence() {
        #expect(Base64URL.encode(Array("foobar".utf8).lazy.map { $0 }) == "Zm9vYmFy")
        #expect(Base64.encode(stride(from: UInt8(0x66), through: 0x66, by: 1)) == "Zg==")
    }

    @Test("decoding a Substring and a raw buffer gives the same bytes as a String")
    func substringAndRawBuffer() throws {
        let token = "xx.Zm9vYmFy.yy"
        let middle = token.split(separator: ".")[1]
        #expect(try Base64URL.decode(middle) == Array("foobar".utf8))
        let raw = try Array("Zm9vYg".utf8).withUnsafeBytes { try Base64URL.decode($0) }
        #expect(raw == Array("foob".utf8))
        let empty = try [UInt8]().withUnsafeBytes { try Base64URL.decode($0) }
        #expect(empty.isEmpty)
    }

    @Test("whitespace and foreign bytes are refused with their offset")
    func invalidCharacters() {
        let cases: [(String, Int)] = [
            ("Zm9v YmFy", 4), ("Zm9v\nYmFy", 4), (" Zm9v", 0), ("Zm9vYmF\t", 7),
            ("Zm9vYmFy\r\n", 8), ("Zm9v*mFy", 4), ("Zm9vYmÉ", 6), ("Zm9v.mFy", 4),
        ]
        for (text, offset) in cases {
            let expected = Base64URLError(code: .invalidCharacter, offset: offset)
            #expect(throws: expected, "\(text.debugDescription)") { try Base64URL.decode(text) }
        }
        #expect(throws: Base64URLError(code: .invalidCharacter, offset: 4)) { try Base64.decode("Zm9v YmFy") }
    }

    @Test("impossible lengths are refused")
    func invalidLength() {
        #expect(throws: Base64URLError(code: .invalidLength, offset: 0)) { try Base64URL.decode("A") }
        #expect(throws: Base64URLError(code: .invalidLength, offset: 4)) { try Base64URL.decode("Zm9vY") }
        #expect(throws: Base64URLError(code: .invalidLength, offset: 4)) { try Base64.decode("Zm9vY") }
    }

    @Test("malformed padding is refused")
    func invalidPadding() {
        let cases: [(String, Int)] = [
            ("Zg=", 2),        // one '=' where two are needed
            ("Zg===", 2),      // three '='
            ("Zm8==", 3),      // two '=' where one is needed
            ("Zm9v=", 4),      // padding after a complete group
            ("Zm9v==", 4),
            ("Zg==Zg==", 2),   // padding in the middle
            ("Zm=9", 2),
            ("=", 0), ("==", 0), ("====", 1),
            ("A===", 1),
        ]
        for (text, offset) in cases {
            let expected = Base64URLError(code: .invalidPadding, offset: offset)
            #expect(throws: expected, "\(text)") { try Base64URL.decode(text) }
            #expect(throws: expected, "\(text)") { try Base64.decode(text) }
        }
    }

    @Test("non-zero unused bits are refused so each byte string has one encoding")
    func nonZeroTrailingBits() throws {
        #expect(try Base64URL.decode("Zg") == [0x66])
        #expect(throws: Base64URLError(code: .nonZeroTrailingBits, offset: 1)) { try Base64URL.decode("Zh") }
        #expect(throws: Base64URLError(code: .nonZeroTrailingBits, offset: 2)) { try Base64URL.decode("Zm9") }
        #expect(throws: Base64URLError(code: .nonZeroTrailingBits, offset: 1)) { try Base64URL.decode("Zh==") }
        #expect(throws: Base64URLError(code: .nonZeroTrailingBits, offset: 6)) { try Base64.decode("Zm9vYm9=") }
    }

    @Test("standard base64 accepts missing padding")
    func standardMissingPadding() throws {
        #expect(try Base64.decode("Zg") == [0x66])
        #expect(try Base64.decode("Zm8") == Array("fo".utf8))
    }

    @Test("error descriptions say where and that retrying will not help")
    func errorDescription() {
        let error = Base64URLError(code: .invalidCharacter, offset: 7)
        #expect(error.description.contains("offset 7"))
        #expect(error.description.contains("retrying"))
    }
}
