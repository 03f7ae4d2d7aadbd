import Bolt11
import PayRailCrypto
import Testing

/// `Bolt11SignedInvoice.read`: the form-and-signature reader the wire codecs use. It must accept what
/// a vetting party has to accept (no `s`, no description, two `h`, an unknown currency) and refuse
/// everything malformed or falsely signed exactly as `Bolt11Invoice.decode` does.
@Suite("BOLT 11 signed-content reader") struct SignedInvoiceTests {
    static let hash = Bech32.words(fromBytes: [UInt8](repeating: 7, count: 32))
    static let hashA = [UInt8](repeating: 0xA1, count: 32), hashB = [UInt8](repeating: 0xB2, count: 32)

    static func signed(hrp: String = "lnbc", _ fields: [UInt8], key: Secp256k1.PrivateKey) throws -> String {
        try EncodeTests.signed(hrp: hrp, fieldWords: fields, key: key)
    }

    static func field(_ type: UInt8, _ data: [UInt8]) -> [UInt8] { EncodeTests.field(type, data) }

    @Test func countsEveryDescriptionHashAndNeedsNoPaymentSecret() throws {
        let key = try Secp256k1.PrivateKey()
        let one = Self.field(1, Self.hash) + Self.field(23, Bech32.words(fromBytes: Self.hashA))
        let read = try Bolt11SignedInvoice.read(try Self.signed(hrp: "lnbc250n", one, key: key))
        #expect(read.descriptionHashes == [Self.hashA] && !read.hasDescription && read.paymentSecret == nil)
        #expect(read.currency == "bc" && read.network == .mainnet && read.amountMsat == 25_000)
        #expect(read.payeeKey == key.publicKey.compressedRepresentation && !read.hasExplicitPayeeKey)
        #expect(read.timestamp == 1 && read.expirySeconds == 3600 && read.expiresAtUnix == 3601)
        #expect(read.paymentHash == [UInt8](repeating: 7, count: 32))
        // The payer's decoder refuses the same string: it has no payment secret.
        #expect((try? Bolt11Invoice.decode(try Self.signed(hrp: "lnbc250n", one, key: key))) == nil)

        // Two h fields: both kept, in order (the payer's decoder keeps the first only).
        let two = one + Self.field(23, Bech32.words(fromBytes: Self.hashB)) + Self.field(16, Self.hash)
        let text = try Self.signed(two, key: key)
        #expect(try Bolt11SignedInvoice.read(text).descriptionHashes == [Self.hashA, Self.hashB])
        #expect(try Bolt11Invoice.decode(text).descriptionHash == Self.hashA)
        // A wrong-length h is skipped, not counted.
        let short = one + Self.field(23, Array(Bech32.words(fromBytes: Self.hashB).prefix(51)))
        #expect(try Bolt11SignedInvoice.read(try Self.signed(short, key: key)).descriptionHashes == [Self.hashA])
    }

    @Test func notesDescriptionsAndKeepsUnknownCurrencies() throws {
        let key = try Secp256k1.PrivateKey()
        let base = Self.field(1, Self.hash)
        let inline = try Bolt11SignedInvoice.read(try Self.signed(base + Self.field(13, Bech32.words(fromBytes: Array("hi".utf8))), key: key))
        #expect(inline.hasDescription && inline.descriptionText == "hi" && inline.descriptionHashes.isEmpty)
        // A description that is not UTF-8 is noted, not refused (decode refuses it).
        let binary = try Self.signed(base + Self.field(13, Bech32.words(fromBytes: [0xFF, 0xFE])), key: key)
        let noted = try Bolt11SignedInvoice.read(binary)
        #expect(noted.hasDescription && noted.descriptionText == nil)
        #expect((#expect(throws: Bolt11Error.self) { try Bolt11Invoice.decode(binary) })?.code == .invalidField)
        // An unknown currency is kept for the caller to judge.
        let other = try Bolt11SignedInvoice.read(try Self.signed(hrp: "lnxy5u", base, key: key))
        #expect(other.currency == "xy" && other.network == nil && other.amountMsat == 500_000)
        // With an n field, the signature is checked against it.
        let named = try Bolt11SignedInvoice.read(
            try Self.signed(base + Self.field(19, Bech32.words(fromBytes: key.publicKey.compressedRepresentation)), key: key))
        #expect(named.hasExplicitPayeeKey && named.payeeKey == key.publicKey.compressedRepresentation)
    }

    @Test func refusesWhatIsMalformedOrFalselySigned() throws {
        let key = try Secp256k1.PrivateKey(), other = try Secp256k1.PrivateKey()
        let base = Self.field(1, Self.hash)
        let good = try Self.signed(base, key: key)
        let refusals: [(String, Bolt11Error.Code)] = [
            (try Self.signed(hrp: "lnbc0010m", base, key: key), .invalidAmount),
            (try Self.signed(hrp: "lnbc1pm", base, key: key), .invalidAmount),
            (try Self.signed(hrp: "ln", base, key: key), .malformed),  // no currency
            (try Self.signed(hrp: "xxbc", base, key: key), .malformed),  // not ln
            (try Self.signed(Self.field(23, Bech32.words(fromBytes: Self.hashA)), key: key), .missingField),  // no p
            (try Self.signed(base + Self.field(6, [0, 1]), key: key), .invalidField),  // non-minimal expiry
            (try Self.signed(base + [6, 1], key: key), .tooShort),
            (try Self.signed(base + Self.field(19, Bech32.words(fromBytes: other.publicKey.compressedRepresentation)), key: key),
             .invalidSignature),
            (String(good.dropLast()) + (good.hasSuffix("q") ? "p" : "q"), .badChecksum),
            (good.uppercased().replacingOccurrences(of: "LNBC", with: "lnbc"), .malformed),  // mixed case
            // An invoice field, not a URI: the prefix is not stripped, so it joins the checksummed part.
            ("lightning:" + good, .badChecksum),
            ("lnbc1" + String(repeating: "q", count: Bolt11Invoice.maximumLength), .malformed),
        ]
        for (index, (text, code)) in refusals.enumerated() {
            let error = #expect(throws: Bolt11Error.self, "case \(index)") { try Bolt11SignedInvoice.read(text) }
            #expect(error?.code == code, "case \(index): \(error?.description ?? "")")
        }
        // Upper case is the same invoice.
        #expect(try Bolt11SignedInvoice.read(good.uppercased()) == (try Bolt11SignedInvoice.read(good)))
    }

    @Test func aRecoveryIDAboveThreeIsMalformedHereAndAFalseSignatureForPayers() throws {
        let key = try Secp256k1.PrivateKey()
        let good = try Self.signed(Self.field(1, Self.hash) + Self.field(16, Self.hash) + Self.field(13, [1]), key: key)
        var words = try Bech32.decode(good).words
        // The recovery id is the last byte of the 104-word (520-bit) signature: its low 5 bits are
        // the last word, so 31 there makes it at least 31.
        words[words.count - 1] = 0b11111
        let bent = Bech32.encode(hrp: "lnbc", words: words)
        #expect((#expect(throws: Bolt11Error.self) { try Bolt11SignedInvoice.read(bent) })?.code == .malformed)
        #expect((#expect(throws: Bolt11Error.self) { try Bolt11Invoice.decode(bent) })?.code == .invalidSignature)
    }

    @Test func splitsTheHumanReadablePartWithoutJudgingTheCurrency() throws {
        #expect(try Bolt11Invoice.splitHumanReadablePart("lnbc1500n") == ("bc", 150_000))
        #expect(try Bolt11Invoice.splitHumanReadablePart("lnbcrt") == ("bcrt", nil))
        #expect(try Bolt11Invoice.splitHumanReadablePart("lnzz10p") == ("zz", 1))
        for bad in ["ln", "lxbc", "lnbc1x", "lnbc01m", "lnbc15p", "lnbc99999999999999999999"] {
            #expect(throws: Bolt11Error.self, "\(bad)") { try Bolt11Invoice.splitHumanReadablePart(bad) }
        }
    }
}
