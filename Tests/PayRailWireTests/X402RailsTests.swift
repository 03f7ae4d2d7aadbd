import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

@Suite("x402 cards, the fake rail and payment-identifier")
struct X402RailsTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func cardOffer(amount: Money? = nil) throws -> Offer {
        Offer(rail: .stripe, amount: try amount ?? Money(amount: 100, unit: .usd), payee: "acct_1Nxyz",
              expiresAt: now.addingTimeInterval(900), id: "pi_request",
              details: ["networkId": "profile_1", "paymentMethodTypes": "card,link"])
    }

    static func fakeOffer() throws -> Offer {
        Offer(rail: .fake, amount: try Money(amount: 250, unit: .usd), payee: "acct_merchant", expiresAt: now.addingTimeInterval(120.7),
              id: "req_123", details: ["requestID": "req_123", "processorKey": "cHJvY2Vzc29yLWtleQ", "challengeID": "ch_1"])
    }

    @Test("a Stripe offer becomes the draft's auth-capture card requirements, one per card network")
    func cardRequirements() throws {
        let example = try X402Fixtures.member(try X402Fixtures.json("x402-auth-capture-card-examples.json"), "paymentRequired")
        guard case .array(let accepts) = try X402Fixtures.member(example, "accepts"), let first = accepts.first else {
            Issue.record("no accepts in the card example"); return
        }
        let written = try X402PaymentRequirements(offer: try Self.cardOffer(), context: X402OfferContext(now: Self.now))
        #expect(written == (try X402PaymentRequirements(json: first)))
        let all = try X402PaymentRequirements.requirements(
            for: try Self.cardOffer(), context: X402OfferContext(now: Self.now, cardNetworks: X402Network.cardNetworks))
        #expect(all.map(\.network) == ["card:visa", "card:mastercard", "card:amex"])
        #expect(Set(all.map(\.asset)) == ["USD"] && Set(all.map(\.amount)) == ["100"])
        // Bitcoin units are not card currencies; nor is an empty card-network list or a weird name.
        #expect((#expect(throws: WireError.self) {
            try X402PaymentRequirements(offer: try Self.cardOffer(amount: try Money(amount: 1, unit: .sat)), context: X402OfferContext(now: Self.now))
        })?.code == .unsupported)
        #expect(throws: WireError.self) {
            try X402PaymentRequirements.requirements(for: try Self.cardOffer(), context: X402OfferContext(now: Self.now, cardNetworks: []))
        }
        #expect(throws: WireError.self) {
            try X402PaymentRequirements(offer: try Self.cardOffer(), context: X402OfferContext(now: Self.now, cardNetworks: ["Visa Card"]))
        }
        // An offer that has already expired cannot be offered.
        #expect((#expect(throws: WireError.self) {
            try X402PaymentRequirements(offer: try Self.cardOffer(), context: X402OfferContext(now: Self.now.addingTimeInterval(900)))
        })?.code == .expired)
    }

    @Test("agent side: card requirements become a Stripe offer; other PSPs, flows and assets are refused")
    func cardOffer() throws {
        let requirements = try X402PaymentRequirements(offer: try Self.cardOffer(), context: X402OfferContext(now: Self.now))
        let offer = try X402Agent.offer(from: requirements, receivedAt: Self.now)
        let hundredCents = try Money(amount: 100, unit: .usd)
        #expect(offer.rail == .stripe && offer.amount == hundredCents && offer.payee == "acct_1Nxyz")
        #expect(offer.details == ["cardNetwork": "visa", "psp": "stripe", "paymentFlow": "escrow"])
        #expect(offer.expiresAt == Self.now.addingTimeInterval(900))
        let again = try X402Agent.offer(from: requirements, receivedAt: Self.now)
        #expect(offer.id.hasPrefix("x402-") && offer.id == again.id)
        let changes: [(inout X402PaymentRequirements) -> Void] = [
            { $0.extra["psp"] = .string("adyen") }, { $0.extra["paymentFlow"] = .string("upfront") },
            { $0.asset = "usd" }, { $0.asset = "XXX" }, { $0.scheme = "exact" }, { $0.amount = "99999999999999999999" },
        ]
        for change in changes {
            var copy = requirements
            change(&copy)
            #expect(throws: WireError.self) { try X402Agent.offer(from: copy, receivedAt: Self.now) }
        }
    }

    @Test("card payload {token, paymentId}: round trip, and a card number is never accepted as a token")
    func cardPayload() throws {
        let requirements = try X402PaymentRequirements(offer: try Self.cardOffer(), context: X402OfferContext(now: Self.now))
        let example = try X402Fixtures.member(try X402Fixtures.json("x402-auth-capture-card-examples.json"), "clientPayload", "payload")
        let token = try X402Fixtures.string(example, "token"), paymentID = try X402Fixtures.string(example, "paymentId")
        let credential = Credential(rail: .stripe, offerID: "x", payload: ["token": token, "paymentId": paymentID])
        let payload = try X402Agent.payload(answering: requirements, with: credential)
        let (_, read) = try X402Server.readCredential(try X402Codec.encodePaymentSignature(payload))
        #expect(read.rail == .stripe && read.payload == ["token": token, "paymentId": paymentID])
        #expect(read.offerID == (try X402Agent.offer(from: requirements, receivedAt: Self.now)).id)

        for pan in ["4242424242424242", "4242 4242 4242 4242", "378282246310005"] {
            let bad = Credential(rail: .stripe, offerID: "x", payload: ["token": pan, "paymentId": paymentID])
            #expect(throws: WireError.self) { try X402Agent.payload(answering: requirements, with: bad) }
        }
        for badID in ["short", "pay_has space_0000000", String(repeating: "a", count: 129)] {
            let bad = Credential(rail: .stripe, offerID: "x", payload: ["token": token, "paymentId": badID])
            #expect(throws: WireError.self) { try X402Agent.payload(answering: requirements, with: bad) }
        }
        #expect((#expect(throws: WireError.self) {
            try X402Agent.payload(answering: requirements, with: Credential(rail: .stripe, offerID: "x", payload: ["token": token]))
        })?.code == .missingField)
    }

    @Test("the fake rail: payrail:fake requirements both ways, and the voucher as payload")
    func fakeRail() throws {
        let offer = try Self.fakeOffer()
        let requirements = try X402PaymentRequirements(offer: offer, context: X402OfferContext(now: Self.now))
        #expect(requirements.scheme == "exact" && requirements.network == "payrail:fake" && X402Network.isCAIP2(requirements.network))
        #expect(requirements.asset == "usd" && requirements.amount == "250" && requirements.payTo == "acct_merchant")
        #expect(requirements.maxTimeoutSeconds == 120)
        // Issue #16 point 7: every offer written declares extra.paymentFlow (scheme_exact.md); the fake rail settles first.
        #expect(requirements.extra == ["requestID": .string("req_123"), "processorKey": .string("cHJvY2Vzc29yLWtleQ"), "paymentFlow": .string("upfront")])

        let read = try X402Agent.offer(from: requirements, receivedAt: Self.now)
        #expect(read.rail == .fake && read.id == "req_123" && read.amount == offer.amount && read.payee == offer.payee)
        #expect(read.details == ["requestID": "req_123", "processorKey": "cHJvY2Vzc29yLWtleQ"])

        let credential = Credential(rail: .fake, offerID: "req_123", payload: ["voucher": "eyJ.voucher.sig"], payerID: "acct_payer")
        let payload = try X402Agent.payload(answering: requirements, with: credential)
        let (_, back) = try X402Server.readCredential(try X402Codec.encodePaymentSignature(payload))
        #expect(back.rail == .fake && back.offerID == "req_123" && back.payload == ["voucher": "eyJ.voucher.sig"])

        var noKey = offer.details
        noKey["processorKey"] = nil
        let missing = Offer(rail: .fake, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt, id: offer.id, details: noKey)
        #expect((#expect(throws: WireError.self) {
            try X402PaymentRequirements(offer: missing, context: X402OfferContext(now: Self.now))
        })?.code == .missingField)
        var wrongAsset = requirements
        wrongAsset.asset = "USD"
        #expect((#expect(throws: WireError.self) { try X402Agent.offer(from: wrongAsset, receivedAt: Self.now) })?.code == .unsupported)
    }

    @Test("rails and networks without an x402 form are refused with unsupported")
    func unsupported() throws {
        let custom = try RailID("my-rail")
        let offer = Offer(rail: custom, amount: try Money(amount: 1, unit: .usd), payee: "p", expiresAt: Self.now.addingTimeInterval(60), id: "i")
        #expect((#expect(throws: WireError.self) { try X402PaymentRequirements(offer: offer, context: X402OfferContext(now: Self.now)) })?.code == .unsupported)
        let evm = try X402Codec.decodePaymentRequired(try X402Fixtures.string(try X402Fixtures.json("x402-http-examples.json"), "v2", "PAYMENT-REQUIRED"))
        let first = try #require(evm.accepts.first)
        #expect((#expect(throws: WireError.self) { try X402Agent.offer(from: first, receivedAt: Self.now) })?.code == .unsupported)
        #expect(X402Agent.offers(from: .version2(evm), receivedAt: Self.now).isEmpty)
        #expect(throws: WireError.self) {
            try X402Agent.payload(answering: first, with: Credential(rail: .fake, offerID: "x", payload: ["voucher": "v"]))
        }
    }

    @Test("offers(from:) keeps the server's order, skips what PayRail cannot pay, and tags the dialect")
    func offersFromChallenge() throws {
        let card = try X402PaymentRequirements(offer: try Self.cardOffer(), context: X402OfferContext(now: Self.now))
        let fake = try X402PaymentRequirements(offer: try Self.fakeOffer(), context: X402OfferContext(now: Self.now))
        let evm = try X402PaymentRequirements(scheme: "exact", network: "eip155:8453", amount: "1", asset: "0xabc", payTo: "0xdef", maxTimeoutSeconds: 60)
        let message = X402PaymentRequired(resource: X402ResourceInfo(url: "https://a.example/"), accepts: [fake, evm, card])
        let offers = X402Agent.offers(from: .version2(try X402Codec.decodePaymentRequired(try X402Codec.encodePaymentRequired(message))), receivedAt: Self.now)
        #expect(offers.map(\.offer.rail) == [.fake, .stripe])
        #expect(offers.allSatisfy { $0.dialect == .x402 })
        #expect(offers.first?.requirements == fake)
    }

    @Test("payment-identifier: declaration exactly as the spec shows, id syntax, echo and extraction")
    func paymentIdentifier() throws {
        let spec = try X402Fixtures.member(try X402Fixtures.json("x402-http-examples.json"), "paymentIdentifier")
        let declared = try X402Fixtures.member(spec, "PaymentRequired.extensions")
        var extensions: [String: JSONValue] = [:]
        X402PaymentIdentifier.declare(in: &extensions, required: false)
        #expect(JSONValue.object(extensions) == declared)
        #expect(!X402PaymentIdentifier.isRequired(by: extensions))

        let id = try X402PaymentIdentifier("pay_7d5d747be160e280504c099d984bcfe0")
        let echoed = id.appended(to: extensions)
        #expect(JSONValue.object(echoed) == (try X402Fixtures.member(spec, "PaymentPayload.extensions")))
        #expect(try X402PaymentIdentifier.extract(from: echoed) == id)
        #expect(try X402PaymentIdentifier.check(payloadExtensions: echoed, serverExtensions: extensions) == id)
        // Undeclared: the client adds nothing.
        #expect(id.appended(to: [:]).isEmpty)
        #expect(try X402PaymentIdentifier.extract(from: [:]) == nil)

        var required: [String: JSONValue] = [:]
        X402PaymentIdentifier.declare(in: &required, required: true)
        #expect(X402PaymentIdentifier.isRequired(by: required))
        #expect((#expect(throws: WireError.self) {
            try X402PaymentIdentifier.check(payloadExtensions: required, serverExtensions: required)
        })?.code == .missingField)

        for valid in [String(repeating: "a", count: 16), String(repeating: "Z", count: 128), "pay_-_-_-_-_-_-_-0"] {
            #expect(throws: Never.self) { try X402PaymentIdentifier(valid) }
        }
        for invalid in [String(repeating: "a", count: 15), String(repeating: "a", count: 129), "pay_7d5d747be160e2.0", "pay_7d5d747be160e2 0",
                        "pay_7d5d747be160é280", ""] {
            #expect(throws: WireError.self) { try X402PaymentIdentifier(invalid) }
            var bad = echoed
            bad["payment-identifier"] = .object(["info": .object(["required": .bool(false), "id": .string(invalid)])])
            #expect(throws: WireError.self) { try X402PaymentIdentifier.extract(from: bad) }
        }
        for shape in [JSONValue.string("x"), .object(["info": .array([])]), .object(["info": .object(["id": .number(1)])])] {
            #expect(throws: WireError.self) { try X402PaymentIdentifier.extract(from: ["payment-identifier": shape]) }
        }
        let generated = try X402PaymentIdentifier.generate()
        #expect(generated.id.hasPrefix("pay_") && generated.id.utf8.count == 36)
        #expect(generated != (try X402PaymentIdentifier.generate()))

        // The agent builds a payload carrying the id only when the server declared the extension.
        let fake = try X402PaymentRequirements(offer: try Self.fakeOffer(), context: X402OfferContext(now: Self.now))
        let credential = Credential(rail: .fake, offerID: "req_123", payload: ["voucher": "v"])
        let payload = try X402Agent.payload(answering: fake, with: credential, serverExtensions: required, paymentIdentifier: id)
        let read = try X402Codec.decodePaymentSignature(try X402Codec.encodePaymentSignature(payload))
        #expect(try X402PaymentIdentifier.check(payloadExtensions: read.extensions, serverExtensions: required) == id)
    }
}
