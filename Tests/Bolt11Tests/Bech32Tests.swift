import Bolt11
import Testing

@Suite("Bech32 (BIP-173, no length limit)") struct Bech32Tests {
    // BIP-173's valid test strings (the last one is longer than 83 characters, fine here).
    @Test(arguments: [
        "A12UEL5L", "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ])
    func validStringsRoundTrip(_ text: String) throws {
        let (hrp, words) = try Bech32.decode(text)
        #expect(Bech32.encode(hrp: hrp, words: words) == text.lowercased())
    }

    @Test(arguments: [
        "pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "A1G7SGD8", "10a06t8", "1qzzfhee",
        "a12UEL5L", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx",
    ])
    func invalidStringsAreRefused(_ text: String) {
        #expect(throws: Bech32Error.self) { try Bech32.decode(text) }
    }

    @Test func bytesRoundTripThroughWords() {
        let bytes: [UInt8] = [0x00, 0xff, 0x10, 0x20, 0x7f, 0x80, 0x01]
        #expect(Bech32.bytes(fromWords: Bech32.words(fromBytes: bytes))?.prefix(bytes.count) == bytes[...])
        #expect(Bech32.bytes(fromWords: [31], allowPadding: false) == nil)
    }
}
