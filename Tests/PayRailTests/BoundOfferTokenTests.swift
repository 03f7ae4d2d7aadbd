import Foundation
@testable import PayRail
import Testing

@Suite("Bound offer ids (stateless 402s)") struct BoundOfferTokenTests {
    private func terms(path: String = "/premium", digest: String? = nil, unit: MoneyUnit = .sat) throws -> BoundOfferTerms {
        BoundOfferTerms(challengeID: "Ch4llenge-id_0", resource: try Resource(method: "GET", path: path),
                        amount: try Money(amount: 150, unit: unit), payee: "merchant",
                        createdAt: Date(timeIntervalSince1970: 1_700_000_000.123), expiresAt: Date(timeIntervalSince1970: 1_700_000_300.123),
                        bodyDigest: digest)
    }

    @Test("terms survive the id byte for byte, whatever their length, characters and unit", arguments: [0, 1, 2, 3, 4, 5])
    func roundTrip(_ extra: Int) throws {
        let original = try terms(path: "/premium" + String(repeating: "x", count: extra) + "?q=\"a\\b\"", digest: extra % 2 == 0 ? "sha-256=:abc=:" : nil,
                                 unit: extra == 5 ? try MoneyUnit(isoCode: "kwd", exponent: 3) : .sat)
        let encoded = try #require(BoundOfferToken.encodedTerms(original))
        let mac = (0..<32).map { UInt8(($0 * 7 + extra) & 0xFF) }
        let id = BoundOfferToken.compose(encodedTerms: encoded, mac: mac)
        #expect(BoundOfferToken.looksBound(id))
        let read = try #require(BoundOfferToken(id))
        #expect(read.terms == original)
        // Version 2 carries the first 16 bytes of the MAC.
        #expect(read.mac == Array(mac.prefix(16)))
        #expect(read.macInput == BoundOfferToken.macInput(encodedTerms: encoded))
        #expect(read.terms.createdAt == Date(timeIntervalSince1970: 1_700_000_000.123))
    }

    @Test("anything else is not a bound offer id: another prefix, a foreign character, padding, stray bits, a short MAC, too long")
    func refusesOtherText() throws {
        let encoded = try #require(BoundOfferToken.encodedTerms(try terms()))
        let id = BoundOfferToken.compose(encodedTerms: encoded, mac: [UInt8](repeating: 1, count: 32))
        let parts = id.dropFirst(BoundOfferToken.prefix.count).split(separator: ".").map(String.init)
        let shortMAC = try #require(BoundOfferToken.compose(encodedTerms: [1], mac: [1, 2, 3]).split(separator: ".").last.map(String.init))
        let bad = [
            "req_" + id, "pb3." + parts.joined(separator: "."), "pb2." + parts[0] + "+." + parts[1], "pb2." + parts[0] + "=." + parts[1],
            "pb2." + parts[0] + "." + String(parts[1].dropLast()) + "B",  // 22 chars ending in a letter with stray low bits
            "pb2." + parts[0] + "." + shortMAC,
            // A whole 32-byte MAC is version 1's; a version 2 id carries 16 bytes exactly.
            "pb2." + parts[0] + "." + String(BoundOfferToken.legacyCompose(encodedTerms: [1], mac: [UInt8](repeating: 1, count: 32)).split(separator: ".").last ?? ""),
            // Version 2 terms under the version 1 prefix are not JSON.
            "pb1." + parts[0] + "." + String(BoundOfferToken.legacyCompose(encodedTerms: [1], mac: [UInt8](repeating: 1, count: 32)).split(separator: ".").last ?? ""),
            "pb2." + parts[0], "pb2." + parts[0] + "." + parts[1] + ".x",
            "pb2." + String(repeating: "A", count: BoundOfferToken.maximumLength) + "." + parts[1],
        ]
        for text in bad { #expect(BoundOfferToken(text) == nil, "\(text.prefix(40))") }
    }

    @Test("a version 1 id (JSON terms, whole MAC), minted before the upgrade, is still read")
    func readsVersionOne() throws {
        let original = try terms(digest: "sha-256=:abc=:")
        let encoded = try #require(BoundOfferToken.legacyEncodedTerms(original))
        let mac = [UInt8](repeating: 7, count: 32)
        let id = BoundOfferToken.legacyCompose(encodedTerms: encoded, mac: mac)
        #expect(id.hasPrefix("pb1.") && BoundOfferToken.looksBound(id))
        let read = try #require(BoundOfferToken(id))
        #expect(read.terms == original)
        #expect(read.mac == mac)
        #expect(read.macInput == Array("payrail-bound-offer-v1|".utf8) + encoded)
        // A version 1 id with a 16-byte MAC is neither version.
        #expect(BoundOfferToken(BoundOfferToken.legacyCompose(encodedTerms: encoded, mac: Array(mac.prefix(16)))) == nil)
    }

    @Test("a version 2 id is less than half a version 1 id for a gate's usual terms, and its challenge id travels as 32 bytes")
    func compactForm() throws {
        let challengeID = "nuv_FViKl0Uj2UCXTMwOWnzU24b3VyUC2hswTwNVkD4"
        let original = BoundOfferTerms(challengeID: challengeID, resource: try Resource(method: "GET", path: "/premium"),
                                       amount: try Money(amount: 100, unit: .sat), payee: "merchant",
                                       createdAt: Date(timeIntervalSince1970: 1_796_654_105.669), expiresAt: Date(timeIntervalSince1970: 1_796_654_405.669),
                                       bodyDigest: nil)
        let mac = [UInt8](repeating: 9, count: 32)
        let id = BoundOfferToken.compose(encodedTerms: try #require(BoundOfferToken.encodedTerms(original)), mac: mac)
        let legacy = BoundOfferToken.legacyCompose(encodedTerms: try #require(BoundOfferToken.legacyEncodedTerms(original)), mac: mac)
        #expect(id.utf8.count * 2 < legacy.utf8.count, "\(id.utf8.count) vs \(legacy.utf8.count)")
        #expect(try #require(BoundOfferToken(id)).terms == original)
        // A challenge id that is not canonical base64url of 32 bytes is carried as text.
        for other in [challengeID + "A", String(challengeID.dropLast()) + "5", "short"] {
            let terms = BoundOfferTerms(challengeID: other, resource: original.resource, amount: original.amount, payee: original.payee,
                                        createdAt: original.createdAt, expiresAt: original.expiresAt, bodyDigest: nil)
            let read = BoundOfferToken(BoundOfferToken.compose(encodedTerms: try #require(BoundOfferToken.encodedTerms(terms)), mac: mac))
            #expect(read?.terms.challengeID == other)
        }
    }

    @Test("the binary terms are read strictly: unknown flags, overlong numbers, short input, invalid UTF-8, trailing bytes")
    func strictTerms() throws {
        let good = try #require(BoundOfferToken.encodedTerms(try terms()))
        #expect(BoundOfferTermsCodec.decode(good) == (try terms()))
        var unknownFlag = good
        unknownFlag[0] |= 0x80
        var invalidUTF8 = good
        if let index = invalidUTF8.firstIndex(of: UInt8(ascii: "m")) { invalidUTF8[index] = 0xFF }
        for bytes in [unknownFlag, Array(good.dropLast()), invalidUTF8, [], [0x00], good + [0x00]] {
            #expect(BoundOfferTermsCodec.decode(bytes) == nil, "\(bytes.prefix(8))")
        }
        // An expiry before the creation cannot be written (fail closed: the gate stores such a challenge).
        let backwards = BoundOfferTerms(challengeID: "c", resource: try Resource(method: "GET", path: "/"), amount: try Money(amount: 1, unit: .sat),
                                        payee: "p", createdAt: Date(timeIntervalSince1970: 2_000), expiresAt: Date(timeIntervalSince1970: 1_000),
                                        bodyDigest: nil)
        #expect(BoundOfferToken.encodedTerms(backwards) == nil)
        // A non-shortest varint for a number is refused: [0x80, 0x00] means 0 spelled in two bytes.
        #expect(BoundOfferTermsCodec.decode([0x00, 0x01, 0x63, 0x80, 0x00]) == nil)
    }
}
