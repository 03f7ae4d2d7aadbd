import Bolt11
import Foundation
import PayRailCrypto
import Testing

@Suite("BOLT 11 encoding and decoder edge cases") struct EncodeTests {
    /// The spec's signing key; its node id is the payee of every spec example.
    static let specKey: Secp256k1.PrivateKey? = try? Secp256k1.PrivateKey(
        rawRepresentation: hexBytes("e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734"))

    static func hexBytes(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    static func draft(amountMsat: Int64?, fields extra: [Bolt11Field] = []) -> Bolt11InvoiceDraft {
        Bolt11InvoiceDraft(
            network: .mainnet, amountMsat: amountMsat, timestamp: 1_496_314_658,
            fields: [.paymentHash([UInt8](repeating: 1, count: 32)), .paymentSecret([UInt8](repeating: 0x11, count: 32)), .description("x")]
                + extra)
    }

    @Test(arguments: [
        (Int64(1), "lnbc10p"), (Int64(100), "lnbc1n"), (Int64(100_000), "lnbc1u"), (Int64(100_000_000), "lnbc1m"),
        (Int64(100_000_000_000), "lnbc1"), (Int64(250_000_000), "lnbc2500u"), (Int64(967_878_534), "lnbc9678785340p"),
        (Int64(2_000_000_000), "lnbc20m"), (Int64.max, "lnbc92233720368547758070p"),
    ])
    func amountUsesTheShortestExactMultiplier(_ msat: Int64, _ prefix: String) throws {
        #expect(try Self.draft(amountMsat: msat).humanReadablePart() == prefix)
        let key = try #require(Self.specKey)
        let invoice = try Bolt11Invoice.decode(try Self.draft(amountMsat: msat).encode(signingWith: key))
        #expect(invoice.amountMsat == msat)
    }

    @Test func randomDraftsRoundTripFieldByField() throws {
        var generator = SystemRandomNumberGenerator()
        for index in 0..<60 {
            let key = try Secp256k1.PrivateKey()
            let draft = RandomDrafts.make(index: index, using: &generator)
            let text = try draft.encode(signingWith: key)
            #expect(text == text.lowercased())
            let invoice = try Bolt11Invoice.decode(text)
            #expect(invoice.network == draft.network)
            #expect(invoice.amountMsat == draft.amountMsat)
            #expect(invoice.timestamp == draft.timestamp)
            #expect(invoice.payeeKey == key.publicKey.compressedRepresentation)
            var routes: [Bolt11RouteHint] = [], fallbacks: [Bolt11FallbackAddress] = []
            for field in draft.fields {
                switch field {
                case .paymentHash(let hash): #expect(invoice.paymentHash == hash)
                case .paymentSecret(let secret): #expect(invoice.paymentSecret == secret)
                case .description(let text): #expect(invoice.descriptionText == text)
                case .descriptionHash(let hash): #expect(invoice.descriptionHash == hash)
                case .expiry(let seconds): #expect(invoice.expirySeconds == seconds)
                case .minFinalCLTVExpiryDelta(let delta): #expect(invoice.minFinalCLTVExpiryDelta == delta)
                case .payeeKey: #expect(invoice.hasExplicitPayeeKey)
                case .fallbackAddress(let address): fallbacks.append(address)
                case .routeHint(let hint): routes.append(hint)
                case .features(let features): #expect(invoice.features == features)
                case .metadata(let bytes): #expect(invoice.metadata == bytes)
                }
            }
            #expect(invoice.routeHints == routes)
            #expect(invoice.fallbackAddresses == fallbacks)
        }
    }

    @Test func encodingTheSpecsFieldsReproducesTheSpecsInvoiceUpToTheSignature() throws {
        // The spec signs with RFC 6979 nonces, OpenSSL with random ones: everything before the
        // signature (104 words) and checksum (6) must match exactly.
        let key = try #require(Self.specKey)
        for name in ["02-coffee-one-minute.json", "06-mainnet-p2pkh-route-hints.json", "11-pico-amount.json", "15-payment-metadata.json"] {
            let specText = try #require(try SpecVectors.load("valid", name)["invoice"] as? String)
            let spec = try Bolt11Invoice.decode(specText)
            let fields = try Self.fieldsInSpecOrder(specText, spec)
            let ours = try Bolt11InvoiceDraft(network: spec.network, amountMsat: spec.amountMsat, timestamp: spec.timestamp, fields: fields)
                .encode(signingWith: key)
            #expect(ours.dropLast(110) == specText.dropLast(110), "\(name)")
            #expect(try Bolt11Invoice.decode(ours).payeeKey == spec.payeeKey)
        }
    }

    /// The decoded fields, in the order the spec's string writes them (read from the tag characters).
    static func fieldsInSpecOrder(_ text: String, _ invoice: Bolt11Invoice) throws -> [Bolt11Field] {
        let (_, words) = try Bech32.decode(text)
        var index = 7, fields: [Bolt11Field] = [], route = 0
        while index < words.count - 104 {
            let length = Int(words[index + 1]) * 32 + Int(words[index + 2])
            switch words[index] {
            case 1: fields.append(.paymentHash(invoice.paymentHash))
            case 16: fields.append(.paymentSecret(invoice.paymentSecret))
            case 13: fields.append(.description(invoice.descriptionText ?? ""))
            case 23: fields.append(.descriptionHash(invoice.descriptionHash ?? []))
            case 6: fields.append(.expiry(invoice.expirySeconds))
            case 24: fields.append(.minFinalCLTVExpiryDelta(invoice.minFinalCLTVExpiryDelta))
            case 9: fields.append(.fallbackAddress(invoice.fallbackAddresses[0]))
            case 3:
                fields.append(.routeHint(invoice.routeHints[route]))
                route += 1
            case 5: fields.append(.features(invoice.features))
            case 27: fields.append(.metadata(invoice.metadata ?? []))
            default: Issue.record("unexpected field type \(words[index])")
            }
            index += 3 + length
        }
        return fields
    }

    @Test func explicitPayeeKeyIsWrittenAndVerified() throws {
        let key = try Secp256k1.PrivateKey()
        let text = try Self.draft(amountMsat: nil, fields: [.payeeKey]).encode(signingWith: key)
        let invoice = try Bolt11Invoice.decode(text)
        #expect(invoice.hasExplicitPayeeKey)
        #expect(invoice.payeeKey == key.publicKey.compressedRepresentation)
        #expect(invoice.expirySeconds == 3600)
        #expect(invoice.minFinalCLTVExpiryDelta == 18)
        #expect(invoice.features.bits.isEmpty)
    }

    @Test func emptyFeaturesAreOmittedAndZeroExpiryIsAnEmptyField() throws {
        let key = try Secp256k1.PrivateKey()
        let plain = try Self.draft(amountMsat: 1000).encode(signingWith: key)
        let withEmpty = try Self.draft(amountMsat: 1000, fields: [.features(Bolt11Features())]).encode(signingWith: key)
        #expect(plain.count == withEmpty.count)
        let zero = try Bolt11Invoice.decode(try Self.draft(amountMsat: 1000, fields: [.expiry(0)]).encode(signingWith: key))
        #expect(zero.expirySeconds == 0)
    }

    @Test func draftsBreakingWriterRulesAreRefused() throws {
        let key = try Secp256k1.PrivateKey()
        let hash = [UInt8](repeating: 1, count: 32)
        let cases: [(Bolt11InvoiceDraft, Bolt11Error.Code)] = [
            (Bolt11InvoiceDraft(network: .mainnet, amountMsat: nil, timestamp: 1, fields: [.paymentHash(hash), .description("x")]), .missingField),
            (Self.draft(amountMsat: nil, fields: [.descriptionHash(hash)]), .missingField),
            (Self.draft(amountMsat: 0), .invalidAmount),
            (Self.draft(amountMsat: -5), .invalidAmount),
            (Self.draft(amountMsat: nil, fields: [.expiry(-1)]), .invalidField),
            (Self.draft(amountMsat: nil, fields: [.metadata([UInt8](repeating: 0, count: 700))]), .invalidField),
            (Bolt11InvoiceDraft(network: .mainnet, amountMsat: nil, timestamp: 1 << 35, fields: Self.draft(amountMsat: nil).fields), .invalidField),
        ]
        for (draft, code) in cases {
            let error = try #require(throws: Bolt11Error.self) { try draft.encode(signingWith: key) }
            #expect(error.code == code, "\(error)")
        }
    }

    /// Re-signs hand-made words so the decoder's own checks, not the checksum, decide.
    static func signed(hrp: String, fieldWords: [UInt8], key: Secp256k1.PrivateKey) throws -> String {
        var words: [UInt8] = [0, 0, 0, 0, 0, 0, 1] + fieldWords
        var bytes: [UInt8] = []
        var accumulator = 0, bits = 0
        for word in words {
            accumulator = accumulator << 5 | Int(word)
            bits += 5
            while bits >= 8 {
                bits -= 8
                bytes.append(UInt8((accumulator >> bits) & 0xFF))
            }
        }
        if bits > 0 { bytes.append(UInt8((accumulator << (8 - bits)) & 0xFF)) }
        let signed = try key.recoverableSignature(forDigest: SHA256.hash(Array(hrp.utf8) + bytes))
        words += Bech32.words(fromBytes: signed.signature.rawRepresentation + [UInt8(signed.recoveryID)])
        return Bech32.encode(hrp: hrp, words: words)
    }

    static func field(_ type: UInt8, _ data: [UInt8]) -> [UInt8] { [type, UInt8(data.count >> 5), UInt8(data.count & 31)] + data }

    @Test func decoderRefusesWhatTheSpecForbids() throws {
        let key = try Secp256k1.PrivateKey()
        let hash = Bech32.words(fromBytes: [UInt8](repeating: 7, count: 32))
        let base = Self.field(1, hash) + Self.field(16, hash) + Self.field(13, Bech32.words(fromBytes: Array("hi".utf8)))
        let refusals: [(String, [UInt8], Bolt11Error.Code)] = [
            ("lnxx", base, .unknownNetwork),
            ("lnbc0010m", base, .invalidAmount),
            ("lnbc99999999999999999999", base, .invalidAmount),
            ("lnbc100000000000", base, .invalidAmount),
            ("lnbc1pm", base, .invalidAmount),
            ("lnbc", base + Self.field(23, hash), .invalidField),
            ("lnbc", Self.field(1, hash) + Self.field(16, hash), .missingField),
            ("lnbc", base + Self.field(6, [0, 1]), .invalidField),
            ("lnbc", base + Self.field(24, [0, 3]), .invalidField),
            ("lnbc", base + Self.field(5, [0, 1]), .invalidField),
            ("lnbc", base + Self.field(5, [1, 0, 0]), .unknownRequiredFeature),  // bit 10
            ("lnbc", base + Self.field(5, [1] + [UInt8](repeating: 0, count: 20)), .unknownRequiredFeature),  // bit 100
            ("lnbc", base + Self.field(5, [0b100, 0, 0, 0]), .unknownRequiredFeature),  // bit 17: basic_mpp without payment_secret
            ("lnbc", Self.field(1, hash) + Self.field(16, hash) + Self.field(13, Bech32.words(fromBytes: [0xff, 0xfe])), .invalidField),
            ("lnbc", base + [6, 1], .tooShort),
            ("lnbc", base + [6, 1, 31], .tooShort),
        ]
        for (hrp, fieldWords, code) in refusals {
            let text = try Self.signed(hrp: hrp, fieldWords: fieldWords, key: key)
            let error = try #require(throws: Bolt11Error.self) { try Bolt11Invoice.decode(text) }
            #expect(error.code == code, "\(hrp) \(fieldWords.count) words: \(error)")
        }
        // The base itself is accepted, so each refusal above is due to its change.
        let accepted = try Bolt11Invoice.decode(try Self.signed(hrp: "lnbc", fieldWords: base, key: key))
        #expect(accepted.descriptionText == "hi")
        // Odd unknown features, unknown fields and unknown fallback versions are ignored.
        let lenient = base + Self.field(5, [2, 0, 0]) + Self.field(0, [1, 2, 3]) + Self.field(9, [19, 1, 2, 3, 4])
        let read = try Bolt11Invoice.decode(try Self.signed(hrp: "lnbcrt5u", fieldWords: lenient, key: key))
        #expect(read.features.bits == [11])
        #expect(read.fallbackAddresses.isEmpty)
        #expect(read.network == .regtest)
        #expect(read.amountMsat == 500_000)
    }

    @Test func aWrongPayeeKeyOrATamperedInvoiceIsRefused() throws {
        let key = try Secp256k1.PrivateKey(), other = try Secp256k1.PrivateKey()
        let hash = Bech32.words(fromBytes: [UInt8](repeating: 7, count: 32))
        let fields = Self.field(1, hash) + Self.field(16, hash) + Self.field(13, Bech32.words(fromBytes: Array("hi".utf8)))
            + Self.field(19, Bech32.words(fromBytes: other.publicKey.compressedRepresentation))
        let error = try #require(throws: Bolt11Error.self) {
            try Bolt11Invoice.decode(try Self.signed(hrp: "lnbc", fieldWords: fields, key: key))
        }
        #expect(error.code == .invalidSignature)
        #expect(error.railError.code == .invalidProof)
        #expect(error.railError.retry == .unsafe)
        // Changing the amount of a valid invoice changes the recovered key: never the signer's.
        let text = try Self.draft(amountMsat: 1000).encode(signingWith: key)
        let tampered = Bech32.encode(hrp: "lnbc2000n", words: try Bech32.decode(text).words)
        let recovered = try? Bolt11Invoice.decode(tampered)
        #expect(recovered?.payeeKey != key.publicKey.compressedRepresentation)
    }

    @Test func networksHaveTheirPrefixesAndX402IDs() {
        #expect(Bolt11Network.allCases.map(\.currencyPrefix) == ["bc", "tb", "tbs", "bcrt"])
        #expect(Bolt11Network(currencyPrefix: "tbs") == .signet)
        #expect(Bolt11Network(currencyPrefix: "ltc") == nil)
        #expect(Bolt11Network.mainnet.x402NetworkID == "lnbtc:000000000019d6689c085ae165831e93")
        #expect(Bolt11Network.regtest.x402NetworkID == nil)
    }

    @Test func overlongInputIsRefusedBeforeAnyWork() {
        let text = "lnbc1" + String(repeating: "q", count: Bolt11Invoice.maximumLength)
        #expect(throws: Bolt11Error(.malformed, "longer than \(Bolt11Invoice.maximumLength) characters")) {
            try Bolt11Invoice.decode(text)
        }
    }
}
