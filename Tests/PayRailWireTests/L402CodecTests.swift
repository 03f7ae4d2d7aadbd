import Foundation
import PayRail
import PayRailCrypto
@testable import PayRailWire
import Testing

@Suite("L402 challenges, credentials and the Offer mapping")
struct L402CodecTests {
    static let invoice = "lnbc1500n1pw5kjhmpp5fu6xhthlt2vucmzkx6c7wtlh2r625r30cyjsfqhu8rsx4xpz5lwqdpa2fjkzep6yptksct5yp5hxgrrv96hx6twvusycn3qv9jx7ur5d9hkugr5dusx6cqzpgxqr23s79ruapxc4j5uskt4htly2salw4drq979d7rcela9wz02elhypmdzmzlnxuknpgfyfm86pntt8vvkvffma5qc9n50h4mvqhngadqy3ngqjcym5a"
    static let now = Date(timeIntervalSince1970: 1_767_225_000)

    static func vectorMacaroon() throws -> (Macaroon, rootKey: [UInt8], preimage: [UInt8], [String: Any]) {
        let v = try L402Fixtures.vector()
        return (try Macaroon(base64: try L402Fixtures.string(v, "v2Base64Std")),
                try L402Fixtures.hex(L402Fixtures.string(v, "rootKeyHex")),
                try L402Fixtures.hex(L402Fixtures.string(v, "preimageHex")), v)
    }

    /// aperture's regexes, taken from the fixture so they are exactly what aperture compiles.
    static func apertureRegex(_ name: String) throws -> NSRegularExpression {
        let examples = try L402Fixtures.json("l402-spec-examples.json")
        let regexes = try #require(examples["apertureRegexes"] as? [String: String])
        return try NSRegularExpression(pattern: try #require(regexes[name]))
    }

    static func firstMatch(_ regex: NSRegularExpression, _ text: String) -> [String]? {
        let range = NSRange(text.startIndex..., in: text)
        guard let match = regex.firstMatch(in: text, range: range) else { return nil }
        return (0..<match.numberOfRanges).compactMap { Range(match.range(at: $0), in: text).map { String(text[$0]) } }
    }

    @Test("Both challenge forms are read, in any scheme case, among other schemes")
    func readBothForms() throws {
        let (macaroon, _, _, _) = try Self.vectorMacaroon()
        let b64 = macaroon.base64
        let values = [
            "Basic realm=\"x\", LSAT macaroon=\"\(b64)\", invoice=\"\(Self.invoice)\"",
            "l402 version=\"0\", token=\"\(b64)\", invoice=\"\(Self.invoice)\"",
            "L402 token=\"\(b64.replacingOccurrences(of: "=", with: ""))\", invoice=\(Self.invoice), extra=\"ignored\"",
            "Payment id=\"a\", realm=\"r\", method=\"lightning\", intent=\"charge\", request=\"e30\"",
        ]
        let challenges = try L402Challenge.parse(values)
        #expect(challenges.map(\.scheme) == [.lsat, .l402, .l402])
        #expect(challenges.allSatisfy { $0.macaroon == macaroon && $0.invoice == Self.invoice })
        #expect(L402Challenge.distinct(challenges).count == 1)
        let expectedHash = try L402Fixtures.string(try L402Fixtures.vector(), "paymentHashHex")
        #expect(challenges.first?.paymentHash.map { L402Hex.encode($0) } == expectedHash)
    }

    @Test("Incomplete or unusable L402 challenges are skipped; broken grammar is an error")
    func skipped() throws {
        let (macaroon, _, _, _) = try Self.vectorMacaroon()
        let other = try Macaroon.mint(rootKey: Array(repeating: 7, count: 32), identifier: [1])
        let examples = try L402Fixtures.json("l402-spec-examples.json")
        let skipped = [
            try L402Fixtures.string(examples, "specChallenge"),  // its token is not a macaroon
            try L402Fixtures.string(examples, "apertureMockChallengeLSAT"),  // same token
            "L402 macaroon=\"\(macaroon.base64)\"",  // no invoice
            "L402 invoice=\"\(Self.invoice)\"",  // no token
            "L402 version=\"1\", token=\"\(macaroon.base64)\", invoice=\"\(Self.invoice)\"",  // unknown version
            "L402 token=\"\(macaroon.base64)\", macaroon=\"\(other.base64)\", invoice=\"\(Self.invoice)\"",  // disagree
            "L402 token=\"not base64!\", invoice=\"\(Self.invoice)\"",
        ]
        for value in skipped { #expect(try L402Challenge.parse(value).isEmpty, "\(value.prefix(60))") }
        #expect(throws: WireError.self) { _ = try L402Challenge.parse("L402 macaroon=\"unterminated") }
    }

    @Test("The written pair parses with aperture's client regex, aperture's metering regex and a spec reader")
    func writtenForm() throws {
        let (macaroon, _, _, _) = try Self.vectorMacaroon()
        let values = try L402Challenge.headerValues(macaroon: macaroon, invoice: Self.invoice)
        try #require(values.count == 2)
        #expect(values[0] == "LSAT macaroon=\"\(macaroon.base64)\", invoice=\"\(Self.invoice)\"")
        #expect(values[1] == "L402 macaroon=\"\(macaroon.base64)\", invoice=\"\(Self.invoice)\", version=\"0\", token=\"\(macaroon.base64)\"")
        let client = try Self.apertureRegex("clientChallenge"), metering = try Self.apertureRegex("meteringChallengeMacaroon")
        for value in values {
            let groups = try #require(Self.firstMatch(client, value), "aperture's client regex misses \(value.prefix(40))")
            #expect(groups.count == 4 && groups[2] == macaroon.base64 && groups[3] == Self.invoice)
            #expect(try Macaroon(base64: groups[2]) == macaroon)  // padded standard base64, as Go's StdEncoding needs
            #expect(Self.firstMatch(metering, value)?.last == macaroon.base64)
        }
        // The spec's order (version, token, invoice) would NOT match aperture's client: the reason for ours.
        #expect(Self.firstMatch(client, "L402 version=\"0\", token=\"\(macaroon.base64)\", invoice=\"\(Self.invoice)\"") == nil)
        // A spec reader: RFC 9110 parameters by name.
        let spec = try #require(try AuthParameters.parseChallenges(values).last)
        #expect(spec["version"] == "0" && spec["token"] == macaroon.base64 && spec["invoice"] == Self.invoice)
        #expect(try L402Challenge.parse(values).count == 2)
        for badInvoice in ["", "lnbc1\"x", "lnbc 1", "lnbc1é"] {
            #expect(throws: WireError.self) { _ = try L402Challenge.headerValues(macaroon: macaroon, invoice: badInvoice) }
        }
        // Bounds: a token that would push the header past 8 KB is refused.
        let huge = try Macaroon.mint(rootKey: Array(repeating: 1, count: 32), identifier: Array(repeating: 0x41, count: 6000))
        let error = #expect(throws: WireError.self) { _ = try L402Challenge.headerValues(macaroon: huge, invoice: Self.invoice) }
        #expect(error?.code == .tooLarge)
    }

    @Test("Authorization values: parse and write, LSAT, case, several macaroons, uppercase hex")
    func authorization() throws {
        let (macaroon, _, preimage, v) = try Self.vectorMacaroon()
        let header = try L402Fixtures.string(v, "authorizationHeader")
        let credential = try L402Credential.parse(authorization: header)
        #expect(credential.scheme == .l402 && credential.macaroons == [macaroon] && credential.preimage == preimage)
        #expect(credential.authorizationValue == header)
        let legacyHeader = try L402Fixtures.string(v, "legacyAuthorizationHeader")
        let legacy = try L402Credential.parse(authorization: legacyHeader)
        #expect(legacy.scheme == .lsat)
        #expect(legacy.authorizationValue == legacyHeader)
        let upper = try L402Credential.parse(authorization: "lsat  " + macaroon.base64 + ":" + String(repeating: "AB", count: 32))
        #expect(upper.preimageHex == String(repeating: "ab", count: 32))
        let second = try Macaroon.mint(rootKey: Array(repeating: 9, count: 32), identifier: [2], firstPartyCaveats: ["x=y"])
        let several = try L402Credential(scheme: .l402, macaroons: [macaroon, second], preimage: preimage)
        #expect(try L402Credential.parse(authorization: several.authorizationValue) == several)
        // aperture's server regex reads our single-macaroon form (and sees the lowercase hex).
        let server = try Self.apertureRegex("serverAuthorization")
        #expect(Self.firstMatch(server, credential.authorizationValue)?.dropFirst().map { $0 } == ["L402", macaroon.base64, L402Hex.encode(preimage)])
        #expect(!credential.description.contains(L402Hex.encode(preimage)))
        var dumped = ""
        dump(credential, to: &dumped)
        #expect(!dumped.contains(L402Hex.encode(preimage)) && !dumped.contains("17"))
    }

    @Test("Bad Authorization values are refused with the right code")
    func badAuthorization() throws {
        let (macaroon, _, _, _) = try Self.vectorMacaroon()
        let examples = try L402Fixtures.json("l402-spec-examples.json")
        let hex64 = String(repeating: "11", count: 32)
        func code(_ value: String) -> WireError.Code? {
            do { _ = try L402Credential.parse(authorization: value); return nil } catch { return error.code }
        }
        #expect(code(try L402Fixtures.string(examples, "specAuthorization")) == .malformed)  // 24 hex digits
        #expect(code("Bearer " + macaroon.base64 + ":" + hex64) == .unsupported)
        #expect(code("L402 " + macaroon.base64) == .malformed)
        #expect(code("L402 " + macaroon.base64 + ":" + hex64 + ":" + hex64) == .malformed)
        #expect(code("L402 " + macaroon.base64 + ":" + String(hex64.dropLast()) + "g") == .malformed)
        #expect(code("L402 :" + hex64) == .malformed)
        #expect(code("L402 " + macaroon.base64 + ",:" + hex64) == .malformed)
        #expect(code("L402 AGIAJEemVQUTEyNCR0exk7ek90Cg==:" + hex64) == .malformed)  // the spec token: 30 chars, bad padding
        #expect(code("L402 AGIAJEemVQUTEyNCR0exk7ek90Cg:" + hex64) == .unsupported)  // unpadded: first byte 0, not V2
        #expect(code("L402") == .malformed)
        #expect(code("") == .malformed)
        #expect(code("L402 " + String(repeating: "A", count: 16 * 1024) + ":" + hex64) == .tooLarge)
        #expect(throws: WireError.self) { _ = try L402Credential(macaroon: macaroon, preimage: [1, 2, 3]) }
    }

    @Test("The gRPC metadata forms: hex macaroon whose preimage is its last preimage= caveat")
    func grpcMetadata() throws {
        let (_, rootKey, preimage, v) = try Self.vectorMacaroon()
        let hex = try L402Fixtures.string(v, "grpcMetadataMacaroonHex_withPreimageCaveat")
        for name in ["Grpc-Metadata-Macaroon", "macaroon"] {
            let credential = try #require(try L402Credential.find(in: HTTPFields([(name, hex)])))
            #expect(credential.preimage == preimage)
            let identifier = try credential.verify(rootKey: rootKey, checker: L402CaveatChecker(service: "weather", now: Self.now))
            #expect(identifier.paymentHashHex == (try L402Fixtures.string(v, "paymentHashHex")))
        }
        let (macaroon, _, _, _) = try Self.vectorMacaroon()
        #expect(throws: WireError.self) { _ = try L402Credential.parse(macaroonHeader: macaroon.hex) }  // no preimage caveat
        #expect(try L402Credential.find(in: HTTPFields([("Authorization", "Bearer abc")])) == nil)
    }

    @Test("find: aperture's doubled LSAT + L402 Authorization is one credential; differing ones are refused")
    func findInFields() throws {
        let (macaroon, _, preimage, v) = try Self.vectorMacaroon()
        let fields = HTTPFields([("Authorization", try L402Fixtures.string(v, "legacyAuthorizationHeader")),
                                 ("authorization", try L402Fixtures.string(v, "authorizationHeader"))])
        let found = try #require(try L402Credential.find(in: fields))
        #expect(found.scheme == .l402 && found.macaroons == [macaroon] && found.preimage == preimage)
        let other = try L402Credential(macaroon: macaroon, preimage: Array(repeating: 2, count: 32))
        let conflicting = HTTPFields([("Authorization", try L402Fixtures.string(v, "authorizationHeader")),
                                      ("Authorization", other.authorizationValue)])
        let error = #expect(throws: WireError.self) { _ = try L402Credential.find(in: conflicting) }
        #expect(error?.code == .multipleCredentials)
    }

    @Test("Server verification: signature, preimage binding, caveats, unknown tokens, several macaroons")
    func serverVerification() throws {
        let (macaroon, rootKey, preimage, _) = try Self.vectorMacaroon()
        let good = try L402Credential(macaroon: macaroon, preimage: preimage)
        let checker = L402CaveatChecker(service: "weather", capability: "forecast", now: Self.now)
        _ = try good.verify(rootKey: rootKey, checker: checker)
        func code(_ credential: L402Credential, key: [UInt8]? = nil, checker: L402CaveatChecker = checker) -> WireError.Code? {
            do { _ = try credential.verify(rootKey: { _ in key ?? rootKey }, checker: checker); return nil } catch { return error.code }
        }
        #expect(code(try L402Credential(macaroon: macaroon, preimage: Array(repeating: 0x12, count: 32))) == .bindingMismatch)
        #expect(code(good, key: Array(repeating: 0, count: 32)) == .bindingMismatch)
        #expect(code(good, checker: L402CaveatChecker(service: "maps", now: Self.now)) == .caveatNotSatisfied)
        #expect(code(good, checker: L402CaveatChecker(service: "weather", capability: "admin", now: Self.now)) == .caveatNotSatisfied)
        #expect(code(good, checker: L402CaveatChecker(service: "weather", now: Date(timeIntervalSince1970: 1_767_225_600))) == .expired)
        // A holder may narrow the token (no root key needed) and it still verifies, until it is too narrow.
        let narrowed = try L402Credential(macaroon: macaroon.addingFirstPartyCaveat("weather_capabilities=forecast"), preimage: preimage)
        #expect(code(narrowed) == nil)
        #expect(code(narrowed, checker: L402CaveatChecker(service: "weather", capability: "history", now: Self.now)) == .caveatNotSatisfied)
    }

    @Test("Unknown tokens and multi-macaroon credentials are refused by verification")
    func refusedShapes() throws {
        let (macaroon, rootKey, preimage, _) = try Self.vectorMacaroon()
        let checker = L402CaveatChecker(service: "weather", now: Self.now)
        let good = try L402Credential(macaroon: macaroon, preimage: preimage)
        #expect((try? good.verify(rootKey: { _ in nil }, checker: checker)) == nil)
        let several = try L402Credential(scheme: .l402, macaroons: [macaroon, macaroon], preimage: preimage)
        let error = #expect(throws: WireError.self) { _ = try several.verify(rootKey: rootKey, checker: checker) }
        #expect(error?.code == .unsupported)
        let notL402 = try L402Credential(macaroon: try Macaroon.mint(rootKey: rootKey, identifier: [0, 0, 1]), preimage: preimage)
        #expect(throws: WireError.self) { _ = try notL402.verify(rootKey: rootKey, checker: checker) }
    }

    @Test("End to end: Lightning offer -> challenge -> agent offer -> credential -> server check")
    func endToEnd() throws {
        let rootKey = try SecureRandom.bytes(count: 32)
        let preimage = try SecureRandom.bytes(count: 32)
        let paymentHash = SHA256.hash(preimage)
        let serverOffer = Offer(
            rail: .lightning, amount: try Money(amount: 150, unit: .sat), payee: "02" + String(repeating: "ab", count: 32),
            expiresAt: Self.now.addingTimeInterval(600), id: L402Hex.encode(paymentHash),
            details: ["invoice": Self.invoice, "paymentHash": L402Hex.encode(paymentHash), "network": "mainnet"]
        )
        let caveats = [try L402Caveat.services([try L402Service(name: "weather")]),
                       L402Caveat.validUntil(service: "weather", Self.now.addingTimeInterval(3600))]
        let (minted, values) = try L402Challenge.serverChallenge(for: serverOffer, rootKey: rootKey, caveats: caveats)
        #expect(minted.caveats.map(\.predicate) == caveats.map(\.predicate))

        // Agent: read the 402, merge the LSAT/L402 pair, turn it into an Offer, pay, answer.
        let challenges = L402Challenge.distinct(try L402Challenge.parse(values))
        let challenge = try #require(challenges.first)
        #expect(challenges.count == 1)
        let agentOffer = try challenge.offer(payee: serverOffer.payee, expiresAt: serverOffer.expiresAt)
        #expect(agentOffer.rail == .lightning && agentOffer.amount == serverOffer.amount)
        #expect(agentOffer.id == serverOffer.id && agentOffer.details["paymentHash"] == serverOffer.details["paymentHash"])
        #expect(agentOffer.details["network"] == "mainnet" && agentOffer.details["invoice"] == Self.invoice)
        #expect(throws: WireError.self) { _ = try L402Credential(answering: agentOffer, preimage: Array(repeating: 0, count: 32)) }
        let credential = try L402Credential(answering: agentOffer, preimage: preimage)

        // Server: find and verify it.
        let found = try #require(try L402Credential.find(in: HTTPFields([("Authorization", credential.authorizationValue)])))
        let identifier = try found.verify(rootKey: rootKey, checker: L402CaveatChecker(service: "weather", now: Self.now))
        #expect(identifier.paymentHash == paymentHash)
        let domain = try found.domainCredential()
        #expect(domain.rail == .lightning && domain.offerID == serverOffer.id && domain.payload["preimage"] == L402Hex.encode(preimage))

        // Offers the codec cannot carry.
        let stripe = Offer(rail: .stripe, amount: serverOffer.amount, payee: "acct", expiresAt: Self.now, id: "x")
        #expect(throws: WireError.self) { _ = try L402Challenge.serverChallenge(for: stripe, rootKey: rootKey) }
        let noHash = Offer(rail: .lightning, amount: serverOffer.amount, payee: "n", expiresAt: Self.now, id: "x", details: ["invoice": "lnbc1"])
        #expect(throws: WireError.self) { _ = try L402Challenge.serverChallenge(for: noHash, rootKey: rootKey) }
    }

    @Test("BOLT11 human-readable part: network and exact amount")
    func bolt11Amounts() throws {
        func read(_ invoice: String) throws -> (String, String?) {
            let summary = try BOLT11Amount.parse(invoice: invoice)
            return (summary.network, summary.amount.map { "\($0.amount) \($0.unit.code)" })
        }
        #expect(try read(Self.invoice) == ("mainnet", "150 sat"))
        #expect(try read("lnbc250n1pj48ugq") == ("mainnet", "25 sat"))
        #expect(try read("lnbc2500u1abc") == ("mainnet", "250000 sat"))
        #expect(try read("lntb20m1abc") == ("testnet", "2000000 sat"))
        #expect(try read("lnbcrt10p1abc") == ("regtest", "1 msat"))
        #expect(try read("lntbs15n1abc") == ("signet", "1500 msat"))
        #expect(try read("LNBC2M1ABC") == ("mainnet", "200000 sat"))
        #expect(try read("lnbc1pvjluezpp5") == ("mainnet", nil))  // amountless
        #expect(try read("lnbc21abc") == ("mainnet", "200000000 sat"))  // whole bitcoin
        for bad in ["lnbc05u1abc", "lnbc1x1abc", "lnbc11p1abc", "lnxy10u1abc", "bc10u1abc", "lnbc", "lnbc99999999999999999999m1abc",
                    "lnbcu1abc", "lnbc1" + String(repeating: "q", count: 8000)] {
            #expect(throws: WireError.self, "\(bad.prefix(30))") { _ = try BOLT11Amount.parse(invoice: bad) }
        }
    }

    @Test("Seeded mutations of challenges and credentials either parse or throw, never trap")
    func mutations() throws {
        let (macaroon, _, _, v) = try Self.vectorMacaroon()
        let seeds = [try L402Fixtures.string(v, "authorizationHeader"),
                     try L402Challenge.headerValues(macaroon: macaroon, invoice: Self.invoice).joined(separator: ", ")]
        var generator = L402SplitMix(seed: 4020)
        let alphabet = Array("\",:= \\LSATl402+/0aZ\u{0}\u{7F}é".utf8)
        for seed in seeds {
            for _ in 0..<1500 {
                var bytes = Array(seed.utf8)
                for _ in 0..<(1 + Int(generator.next() % 3)) {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    bytes[index] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                }
                let text = String(decoding: bytes, as: UTF8.self)
                _ = try? L402Credential.parse(authorization: text)
                _ = try? L402Challenge.parse(text)
                _ = try? BOLT11Amount.parse(invoice: text)
            }
        }
    }
}
