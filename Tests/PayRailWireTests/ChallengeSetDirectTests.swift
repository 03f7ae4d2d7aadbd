import Foundation
import PayRail
import PayRailCrypto
@testable import PayRailWire
import Testing

/// The direct 402 writer (issue 18) against the JSON value trees it replaces: for every route, price,
/// rail set and dialect set below, the whole response (status, every header field in order, body
/// bytes, the parsed challenges, the skipped offers) must be equal.
@Suite("ChallengeSet direct writer")
struct ChallengeSetDirectTests {
    typealias F = WireSetFixture

    static let boundID = "pb1.eyJhIjp7ImFtb3VudCI6IjEwMCIsInVuaXQiOiJzYXQifSwiYyI6IkM4LUJnNmY5MW1lVDFtZ0F2d3E0dy1lbm12UTNHUGp2V0NNa2hxd3oxeGsiLCJlIjoxNzk2NjQ1MjgwNjcwLCJwIjoibWVyY2hhbnQiLCJyIjoiR0VUIC9wcmVtaXVtIiwidCI6MTc5NjY0NDk4MDY3MH0.OgcP9AvBLSlZrPlBbhph0g29hVuEUvI-AjNqSTnpv3U"

    static func fake(_ amount: Int64, _ unit: MoneyUnit, payee: String = "merchant", id: String = boundID, seconds: Double = 300,
                     extra: [String: String] = [:]) throws -> Offer {
        var details = ["requestID": id, "processorKey": "zZlHsxRyrfcc6eghI_AVi8GvaKnWf_z1rPgsHkuM0-Q", "challengeID": "C8-Bg6f91meT1mgAvwq4w"]
        for (key, value) in extra { details[key] = value }
        return Offer(rail: .fake, amount: try Money(amount: amount, unit: unit), payee: payee,
                     expiresAt: F.now.addingTimeInterval(seconds), id: id, details: details)
    }

    /// Challenge sets with the dialects switched on and off, realms and descriptions to quote.
    static func sets() throws -> [ChallengeSet] {
        let keyring = try ChallengeIDKeyring(currentSecret: F.secret)
        let extensions: [String: JSONValue] = [
            "payment-identifier": .object(["info": .object(["required": .bool(false)]),
                                           "schema": .object(["type": .string("object"), "required": .array([.string("required")])])]),
        ]
        // Extensions set after the set was made (their JSON is kept with them).
        var changed = ChallengeSet(realm: "localhost", keyring: keyring, x402Resource: X402ResourceInfo(url: "http://h/p"))
        changed.x402Extensions = extensions
        changed.x402Extensions["other"] = .object(["n": .number(1.5), "list": .array([.null, .bool(true)])])
        return [
            try F.set(), changed,
            ChallengeSet(realm: "localhost", keyring: keyring,
                         x402Resource: X402ResourceInfo(url: "http://127.0.0.1:8402/premium"), x402Extensions: extensions),
            ChallengeSet(realm: "shop \"quoted\" \\ realm", keyring: keyring, description: "caf\u{e9} \u{1F600} \"x\"",
                         usePaymentAuthorizationField: true),
            ChallengeSet(realm: "r", keyring: keyring, macaroonRootKey: F.rootKey,
                         x402Resource: X402ResourceInfo(url: "https://h.example/a?b=\"c\"&d=\u{7}", description: "tab\there",
                                                        mimeType: "application/json")),
        ]
    }

    /// Offer lists: one offer, several, odd units and amounts, details that need escaping or sorting.
    static func offerLists() throws -> [[Offer]] {
        [
            [try fake(100, .sat)],
            [try fake(1, .msat, seconds: 1.5)],
            [try fake(9_007_199_254_740_993, .usd, payee: "acct \"q\" \\ caf\u{e9}")],
            [try fake(250, .usd, id: "req_plain"), try fake(300, .sat, id: "req_second", seconds: 31_536_000 * 2)],
            [try fake(42, .eur, extra: ["description": "line\nbreak", "externalId": "ord-\u{e9}", "zeta": "z", "Alpha": "A",
                                        "\u{e000}key": "private use", "\u{1F600}": "astral"])],
            [try F.fakeOffer()],
            // No requestID detail: the Payment request's methodDetails gain the offer id as requestID.
            [Offer(rail: .fake, amount: try Money(amount: 7, unit: .sat), payee: "merchant", expiresAt: F.now.addingTimeInterval(60),
                   id: "req_without_detail", details: ["processorKey": "zZlHsxRyrfcc6eghI_AVi8GvaKnWf_z1rPgsHkuM0-Q", "zz": "last", "a": "first"])],
        ]
    }

    @Test("the direct writer equals the tree writer for every set and offer list, in every Accept-Payment order")
    func equalsTheTreeWriter() throws {
        var direct = 0
        for set in try Self.sets() {
            for offers in try Self.offerLists() {
                for accept in [[], ["fake;q=1"], ["lightning, fake;q=0.5"], ["fake;q=0"]] {
                    let reference = try set.paymentRequiredThroughTrees(offers: offers, acceptPayment: accept, now: F.now)
                    let ordered = ChallengeSet.order(offers, acceptPayment: accept)
                    if let written = set.directPaymentRequired(ordered, now: F.now) {
                        direct += 1
                        #expect(written == reference)
                        #expect(written.http1Text == reference.http1Text)
                    }
                    #expect(try set.paymentRequired(offers: offers, acceptPayment: accept, now: F.now) == reference)
                }
            }
        }
        // Every case above is one the direct writer covers (none falls back silently).
        #expect(direct == (try Self.sets().count) * (try Self.offerLists().count) * 4)
    }

    @Test("what the direct writer does not cover falls back to the trees: Lightning, cards, custom units, expired x402 offers")
    func fallsBack() throws {
        let set = try F.set()
        let key = try Secp256k1.PrivateKey()
        let custom = try MoneyUnit(isoCode: "xts", exponent: 0)
        let uncovered: [[Offer]] = [
            [try F.lightningOffer(key: key), try F.fakeOffer()],
            [try F.stripeOffer()],
            [Offer(rail: .fake, amount: try Money(amount: 5, unit: custom), payee: "m", expiresAt: F.now.addingTimeInterval(60),
                   id: "r", details: ["processorKey": "k"])],
            [try Self.fake(100, .sat, seconds: 0.5)],
            [try Self.fake(100, .sat, payee: "control \u{1} in the payee")],  // x402 refuses such a payTo: skipped there
        ]
        for offers in uncovered {
            #expect(set.directPaymentRequired(offers, now: F.now) == nil)
            // An L402 macaroon carries a fresh random identifier: two renders of a Lightning offer differ.
            guard !offers.contains(where: { $0.rail == .lightning }) else { continue }
            #expect(try set.paymentRequired(offers: offers, now: F.now) == set.paymentRequiredThroughTrees(offers: offers, now: F.now))
        }
    }
}
