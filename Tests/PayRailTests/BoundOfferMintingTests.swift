import Foundation
@testable import PayRail
import Testing

// The gate mints bound offer ids through `macInput(for:payee:createdAt:)` and `compose(_:mac:)`,
// which write the terms from the charge straight after the MAC tag, and the id straight into its
// string. These tests hold them to the bytes of the plain reference below (the codec as first
// written: the terms in their own array, the challenge id decoded through `fromBase64URL`, the
// resource through `Resource.description`, Foundation's base64), so a 402's offer ids and MACs do
// not move by a byte.

@Suite("Minting bound offer ids in one buffer gives the reference bytes") struct BoundOfferMintingTests {
    /// 32 bytes the gate would draw, as the canonical base64url the gate makes challenge ids of.
    private static let canonicalID = BoundOfferToken.base64URL((0..<32).map { UInt8(($0 * 37 + 11) & 0xFF) })

    /// Challenge ids around the compact form: canonical ones, and 43 characters that are not the
    /// canonical text of 32 bytes (stray low bits, a foreign or non-ASCII character), other lengths.
    static let challengeIDs: [String] = [
        canonicalID, String(repeating: "A", count: 43), String(repeating: "_", count: 42) + "w",
        String(repeating: "_", count: 42) + "x",  // stray low bits
        String(canonicalID.dropLast()) + "+", String(canonicalID.dropLast(2)) + "é",  // 43 bytes, non-ASCII
        String(canonicalID.dropLast()), canonicalID + "A", "Ch4llenge-id_0", "x",
    ]

    private static func terms(_ challengeID: String, path: String = "/premium", unit: MoneyUnit = .sat,
                              digest: String? = nil) throws -> BoundOfferTerms {
        BoundOfferTerms(challengeID: challengeID, resource: try Resource(method: "POST", path: path),
                        amount: try Money(amount: 1_234_567, unit: unit), payee: "acct_merchant",
                        createdAt: Date(timeIntervalSince1970: 1_765_000_000.456), expiresAt: Date(timeIntervalSince1970: 1_765_000_300.456),
                        bodyDigest: digest)
    }

    /// The charge a gate would make these terms of.
    private static func charge(_ terms: BoundOfferTerms) throws -> Charge {
        try Charge(amount: terms.amount, resource: terms.resource, expiresAt: terms.expiresAt, challengeID: terms.challengeID,
                   bodyDigest: terms.bodyDigest)
    }

    @Test("the terms, the MAC input and the id match the reference for every kind of challenge id", arguments: challengeIDs)
    func matchesReference(_ challengeID: String) throws {
        let cases = [
            try Self.terms(challengeID),
            try Self.terms(challengeID, path: "/jobs/42?q=%22a%22&long=" + String(repeating: "z", count: 200), digest: "sha-256=:AAAA:"),
            try Self.terms(challengeID, unit: try MoneyUnit(isoCode: "kwd", exponent: 3)),
        ]
        for terms in cases {
            let reference = try #require(Reference.encode(terms))
            #expect(BoundOfferToken.encodedTerms(terms) == reference)
            // What the gate calls: the terms read from the charge they are made of.
            let input = try #require(BoundOfferToken.macInput(for: try Self.charge(terms), payee: terms.payee, createdAt: terms.createdAt))
            #expect(input.bytes == Array("payrail-bound-offer-v2|".utf8) + reference)
            #expect(input.bytes == BoundOfferToken.macInput(encodedTerms: reference))
            for macCount in [32, 16, 3, 0] {
                let mac = (0..<macCount).map { UInt8(($0 * 29 + 5) & 0xFF) }
                let id = BoundOfferToken.compose(input, mac: mac)
                #expect(id == Reference.compose(reference, mac: mac))
                #expect(id == BoundOfferToken.compose(encodedTerms: reference, mac: mac))
            }
            let read = try #require(BoundOfferToken(BoundOfferToken.compose(input, mac: [UInt8](repeating: 9, count: 32))))
            #expect(read.terms == terms)
            #expect(read.macInput == input.bytes)
        }
    }

    @Test("terms that cannot be written give no MAC input, as they give no encoded terms")
    func refusesWhatTheReferenceRefuses() throws {
        let backwards = BoundOfferTerms(challengeID: Self.canonicalID, resource: try Resource(method: "GET", path: "/a"),
                                        amount: try Money(amount: 1, unit: .sat), payee: "p",
                                        createdAt: Date(timeIntervalSince1970: 1_765_000_300), expiresAt: Date(timeIntervalSince1970: 1_765_000_000),
                                        bodyDigest: nil)
        let longPath = try Self.terms(Self.canonicalID, path: "/" + String(repeating: "p", count: 2048))
        let longID = try Self.terms(String(repeating: "c", count: 2049))
        for terms in [backwards, longPath, longID] {
            #expect(Reference.encode(terms) == nil)
            #expect(BoundOfferToken.encodedTerms(terms) == nil)
            #expect(BoundOfferToken.macInput(for: try Self.charge(terms), payee: terms.payee, createdAt: terms.createdAt) == nil)
        }
    }

    @Test("base64url of every length matches Foundation's, unpadded and URL-safe", arguments: Array(0...7))
    func base64URL(_ count: Int) {
        let bytes = (0..<count).map { UInt8(255 - (($0 * 41) & 0xFF)) }
        let expected = Reference.base64URL(bytes)
        #expect(BoundOfferToken.base64URL(bytes) == expected)
        #expect(BoundOfferToken.fromBase64URL(expected[...]) == (count == 0 ? nil : bytes))
    }

    /// The codec and the composition as they were written before the one-buffer path.
    private enum Reference {
        static func encode(_ terms: BoundOfferTerms) -> [UInt8]? {
            let created = terms.createdAtMilliseconds
            let lifetime = terms.expiresAtMilliseconds - created
            guard created > 0, lifetime >= 0, terms.amount.amount >= 0 else { return nil }
            var out: [UInt8] = []
            let compactID: [UInt8]? = terms.challengeID.utf8.count == 43
                ? BoundOfferToken.fromBase64URL(terms.challengeID[...]).flatMap { $0.count == 32 ? $0 : nil } : nil
            let custom = !terms.amount.unit.isBuiltIn
            out.append((terms.bodyDigest != nil ? 0x01 : 0) | (custom ? 0x02 : 0) | (compactID != nil ? 0x04 : 0))
            if let compactID { out += compactID } else { guard text(terms.challengeID, into: &out) else { return nil } }
            varint(UInt64(created), into: &out)
            varint(UInt64(lifetime), into: &out)
            varint(UInt64(terms.amount.amount), into: &out)
            guard text(terms.amount.unit.code, into: &out) else { return nil }
            if custom {
                guard let exponent = UInt8(exactly: terms.amount.unit.exponent) else { return nil }
                out.append(exponent)
            }
            guard text(terms.payee, into: &out), text(terms.resource.description, into: &out) else { return nil }
            if let digest = terms.bodyDigest { guard text(digest, into: &out) else { return nil } }
            return out
        }

        static func compose(_ encodedTerms: [UInt8], mac: [UInt8]) -> String {
            "pb2." + base64URL(encodedTerms) + "." + base64URL(Array(mac.prefix(16)))
        }

        static func base64URL(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }

        private static func text(_ value: String, into out: inout [UInt8]) -> Bool {
            guard value.utf8.count <= 2048 else { return false }
            varint(UInt64(value.utf8.count), into: &out)
            out += Array(value.utf8)
            return true
        }

        private static func varint(_ value: UInt64, into out: inout [UInt8]) {
            var rest = value
            while rest >= 0x80 {
                out.append(UInt8(rest & 0x7F) | 0x80)
                rest >>= 7
            }
            out.append(UInt8(rest))
        }
    }
}
