import Foundation
import PayRail
import PayRailCrypto
@testable import PayRailWire
import Testing

/// The fresh 402 written from a template (issue 18) against the JSON value trees: a template made from
/// one request's offers must write every later request of the same shape (other offer ids, challenge
/// ids, expiries and times of writing) exactly as the tree writer does.
@Suite("ChallengeSet fresh 402 templates")
struct ChallengeSetTemplateTests {
    typealias F = WireSetFixture
    typealias Direct = ChallengeSetDirectTests

    /// The same offers as a later request would carry them: a new offer id (also in every detail that
    /// repeated it), a new challenge id, an expiry moved by a fraction of a second.
    static func later(_ offers: [Offer], _ step: Int, oddID: Bool = false) -> [Offer] {
        offers.map { offer in
            let id = oddID ? "req \"\(step)\" \\ caf\u{e9}" : "pb2.next-\(step)-\(offer.id.utf8.count)"
            var details: [String: String] = [:]
            for (key, value) in offer.details {
                details[key] = value == offer.id ? id : key == "challengeID" ? "challenge-\(step)_\(value.utf8.count)" : value
            }
            return Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee,
                         expiresAt: offer.expiresAt.addingTimeInterval(0.37 * Double(step)), id: id, details: details)
        }
    }

    /// Status, fields and body of the fresh 402 equal the tree writer's.
    static func expectSameAsTrees(_ set: ChallengeSet, _ offers: [Offer], accept: [String] = [], now: Date,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fresh = try set.freshPaymentRequired(offers: offers, acceptPayment: accept, now: now)
        let tree = try set.paymentRequiredThroughTrees(offers: offers, acceptPayment: accept, now: now)
        #expect(fresh.status == tree.status, sourceLocation: sourceLocation)
        #expect(fresh.headers == tree.headers, sourceLocation: sourceLocation)
        #expect(fresh.body == tree.body, sourceLocation: sourceLocation)
    }

    @Test("a template writes later requests of its shape as the tree writer does, in every set and Accept-Payment order")
    func laterRequestsEqualTheTreeWriter() throws {
        var templated = 0
        var cases = 0
        for set in try Direct.sets() {
            for offers in try Direct.offerLists() {
                for accept in [[], ["fake;q=1"], ["lightning, fake;q=0.5"]] {
                    cases += 1
                    try Self.expectSameAsTrees(set, offers, accept: accept, now: F.now)
                    for step in 1...3 {
                        let next = Self.later(offers, step, oddID: step == 3)
                        let now = F.now.addingTimeInterval(0.11 * Double(step))
                        try Self.expectSameAsTrees(set, next, accept: accept, now: now)
                    }
                    let ordered = ChallengeSet.order(Self.later(offers, 4), acceptPayment: accept)
                    if set.templates.template(for: set, offers: ordered, now: F.now) != nil { templated += 1 }
                }
            }
        }
        // Every case above has a template (none falls back to the full writer silently).
        #expect(templated == cases)
    }

    @Test("a later request whose x402 timeout is under a second falls back, and is written as the trees write it")
    func expiringOfferFallsBack() throws {
        let set = try Direct.sets()[2]
        try Self.expectSameAsTrees(set, [try Direct.fake(100, .sat)], now: F.now)
        let soon = try Direct.fake(100, .sat, id: "pb2.soon", seconds: 0.6)
        let ordered = [soon]
        #expect(set.templates.template(for: set, offers: ordered, now: F.now)?.fill(ordered, now: F.now, set: set) == nil)
        try Self.expectSameAsTrees(set, ordered, now: F.now)
    }

    @Test("another amount, payee or fixed detail is another shape, never the first one's template")
    func otherShapesGetTheirOwn() throws {
        let set = try Direct.sets()[2]
        try Self.expectSameAsTrees(set, [try Direct.fake(100, .sat)], now: F.now)
        let others = [
            try Direct.fake(101, .sat), try Direct.fake(100, .msat), try Direct.fake(100, .sat, payee: "other"),
            try Direct.fake(100, .sat, extra: ["processorKey": "another-key"]), try Direct.fake(100, .sat, extra: ["note": "n"]),
        ]
        for offer in others { try Self.expectSameAsTrees(set, [offer], now: F.now) }
        // Without its requestID detail the Payment request gains one: a shape of its own too.
        var details = try Direct.fake(100, .sat).details
        details["requestID"] = nil
        let bare = Offer(rail: .fake, amount: try Money(amount: 100, unit: .sat), payee: "merchant",
                         expiresAt: F.now.addingTimeInterval(300), id: "pb2.bare", details: details)
        try Self.expectSameAsTrees(set, [bare], now: F.now)
        // A set with other settings sharing the same templates (a copy) gets its own.
        var copy = set
        copy.realm = "elsewhere"
        copy.x402Resource = X402ResourceInfo(url: "http://127.0.0.1:8402/other")
        try Self.expectSameAsTrees(copy, [try Direct.fake(100, .sat)], now: F.now)
        try Self.expectSameAsTrees(set, Self.later([try Direct.fake(100, .sat)], 1), now: F.now)
    }

    @Test("placeholder bytes in a fixed input never become a hole")
    func placeholderBytesInFixedInputs() throws {
        let lookalike = String(decoding: [0x6D, 0xEF, 0xB7, 0x90, 0x30, 0xEF, 0xB7, 0x91], as: UTF8.self)
        let broken = String(decoding: [0x6D, 0xEF, 0xB7, 0x90, 0x39, 0x39], as: UTF8.self)
        var set = try Direct.sets()[2]
        for payee in [lookalike, broken] {
            let offers = [try Direct.fake(100, .sat, payee: payee, extra: ["note": lookalike])]
            try Self.expectSameAsTrees(set, offers, now: F.now)
            try Self.expectSameAsTrees(set, Self.later(offers, 1), now: F.now)
        }
        set.realm = lookalike
        try Self.expectSameAsTrees(set, [try Direct.fake(100, .sat)], now: F.now)
        try Self.expectSameAsTrees(set, Self.later([try Direct.fake(100, .sat)], 2), now: F.now)
    }

    @Test("the paths under one price share one template (a client picking paths cannot churn the cache), each written right")
    func pathsShareATemplate() throws {
        let set = try Direct.sets()[2]
        let offers = [try Direct.fake(100, .sat)]
        for index in 0..<(ChallengeTemplates.capacity + 10) {
            var route = set
            let path = index % 3 == 0 ? "/p/\(index)?q=\"x\"&r=caf\u{e9}\\" : "/premium/\(index)"
            route.x402Resource = X402ResourceInfo(url: "http://127.0.0.1:8402" + path)
            try Self.expectSameAsTrees(route, Self.later(offers, index), now: F.now)
        }
        #expect(set.templates.count == 1)
    }

    @Test("more shapes than the cache holds are all written right")
    func beyondTheCacheBound() throws {
        let set = try Direct.sets()[2]
        for amount in 1...(ChallengeTemplates.capacity + 6) {
            let offers = [try Direct.fake(Int64(amount), .sat)]
            try Self.expectSameAsTrees(set, offers, now: F.now)
            try Self.expectSameAsTrees(set, Self.later(offers, amount), now: F.now)
        }
    }
}
