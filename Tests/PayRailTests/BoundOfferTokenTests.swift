import Foundation
import PayRail
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
        #expect(read.mac == mac)
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
            "req_" + id, "pb2." + parts.joined(separator: "."), "pb1." + parts[0] + "+." + parts[1], "pb1." + parts[0] + "=." + parts[1],
            "pb1." + parts[0] + "." + String(parts[1].dropLast()) + "B",  // 43 chars ending in a letter with stray low bits
            "pb1." + parts[0] + "." + shortMAC,
            "pb1." + parts[0], "pb1." + parts[0] + "." + parts[1] + ".x",
            "pb1." + String(repeating: "A", count: BoundOfferToken.maximumLength) + "." + parts[1],
        ]
        for text in bad { #expect(BoundOfferToken(text) == nil, "\(text.prefix(40))") }
    }
}
