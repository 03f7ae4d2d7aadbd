import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

@Suite("Plain JSON dialect and X-Receipt")
struct PlainDialectTests {
    typealias F = WireSetFixture

    static func object(_ bytes: [UInt8]) throws -> [String: JSONValue] {
        guard case .object(let object) = try CanonicalJSON.parse(bytes) else { throw WireError(.malformed, "not an object") }
        return object
    }

    @Test("the response reader reads a plain body (parsed once) as PlainChallenge.parse(body:) does, offers and skips")
    func readerParsesPlainBodyOnce() throws {
        let key = try Secp256k1.PrivateKey()
        let invoice = try #require(try F.lightningOffer(key: key).details["invoice"])
        let bodies = [
            #"{"type":"x402","payment":{"network":"lightning","invoice":"\#(invoice)","amount_sats":100,"expiry_seconds":3600}}"#,
            #"{"type":"x402","payment":{"network":"lightning","invoice":"\#(invoice)"},"offers":[7,{"network":"lightning","invoice":"x"}]}"#,
            #"{"type":"x402","payment":{"network":"lightning","invoice":"\#(invoice)","amount_sats":99}}"#,
        ]
        for body in bodies {
            let direct = try PlainChallenge.parse(body: Array(body.utf8), receivedAt: F.now)
            let read = PaymentResponseReader.read(status: 402, headers: HTTPFields(), body: Array(body.utf8), receivedAt: F.now)
            #expect(read.offers.map(\.offer) == direct.offers, "\(body)")
            #expect(read.skipped.map(\.reason) == direct.skipped, "\(body)")
        }
        let oversized = Array(#"{"type":"x402","payment":{}, "pad":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 64 * 1024) + Array(#""}"#.utf8)
        #expect(throws: WireError.self) { try PlainChallenge.parse(body: oversized, receivedAt: F.now) }
    }

    @Test("the founding article's minimal body reads: id, payee and expiry come from the signed invoice")
    func articleBody() throws {
        let key = try Secp256k1.PrivateKey()
        let invoice = try #require(try F.lightningOffer(key: key).details["invoice"])
        let body = #"{"type":"x402","payment":{"network":"lightning","invoice":"\#(invoice)","amount_sats":100,"expiry_seconds":3600},"retry_after":"payment"}"#
        let reading = try PlainChallenge.parse(body: Array(body.utf8), receivedAt: F.now)
        #expect(reading.skipped.isEmpty)
        let offer = try #require(reading.offers.first)
        #expect(reading.offers.count == 1)
        let price = try Money(amount: 100, unit: .sat)
        #expect(offer.rail == .lightning && offer.amount == price)
        #expect(offer.id == F.hex(F.paymentHash) && offer.details["paymentHash"] == F.hex(F.paymentHash))
        #expect(offer.payee == F.hex(key.publicKey.compressedRepresentation))
        #expect(offer.expiresAt == F.now.addingTimeInterval(3600))
        #expect(offer.details["network"] == "mainnet")
        // Without amount_sats the invoice's amount is used; without expiry_seconds the invoice's expiry.
        let bare = #"{"type":"x402","payment":{"network":"lightning","invoice":"\#(invoice)"}}"#
        let fromInvoice = try #require(try PlainChallenge.parse(body: Array(bare.utf8), receivedAt: F.now).offers.first)
        #expect(F.comparable(fromInvoice.amount) == "100000 msat" && fromInvoice.expiresAt == F.now.addingTimeInterval(3600))
        // An amount or payment hash that contradicts the invoice is refused (the invoice is what gets paid).
        for lie in [#""amount_sats":99"#, #""amount":"100","unit":"msat""#, #""details":{"paymentHash":"\#(String(repeating: "0", count: 64))"}"#] {
            let body = #"{"type":"x402","payment":{"network":"lightning","invoice":"\#(invoice)",\#(lie)}}"#
            let reading = try PlainChallenge.parse(body: Array(body.utf8), receivedAt: F.now)
            #expect(reading.offers.isEmpty && reading.skipped.count == 1, "\(lie)")
        }
    }

    @Test("written body: type x402, payment = first offer, offers = all, RFC 9457 members beside them; read back equal")
    func roundTrip() throws {
        let key = try Secp256k1.PrivateKey()
        let offers = [try F.fakeOffer(), try F.lightningOffer(key: key), try F.stripeOffer()]
        let body = try PlainChallenge(offers: offers).body(now: F.now)
        let object = try Self.object(body)
        #expect(object["type"] == .string("x402") && object["retry_after"] == .string("payment"))
        #expect(object["status"] == .number(402) && object["title"] == .string("Payment Required") && object["problem"] == nil)
        guard case .object(let payment)? = object["payment"], case .array(let all)? = object["offers"] else {
            Issue.record("payment/offers missing"); return
        }
        #expect(all.count == 3 && all.first == .object(payment))
        #expect(payment["network"] == .string("fake") && payment["amount"] == .string("250") && payment["unit"] == .string("usd"))
        #expect(payment["expiry_seconds"] == .number(300) && payment["expires_at"] == .string("2023-11-14T22:18:20Z"))
        guard case .object(let lightning) = all[1] else { Issue.record("not an object"); return }
        #expect(lightning["amount_sats"] == .number(100) && lightning["invoice"] == .string(offers[1].details["invoice"] ?? ""))
        guard case .object(let stripe) = all[2] else { Issue.record("not an object"); return }
        #expect(stripe["amount_sats"] == nil && stripe["invoice"] == nil)

        let reading = try PlainChallenge.parse(body: body, receivedAt: F.now)
        #expect(reading.skipped.isEmpty)
        #expect(reading.offers == offers)  // exact: ids, payees, expiries (whole seconds) and details
    }

    @Test("broken offer objects are skipped with a reason; the good ones still read")
    func brokenOffers() throws {
        let good = try PlainChallenge.offerObject(try F.fakeOffer(), now: F.now)
        var noAmount = good
        noAmount["amount"] = nil
        var badUnit = good
        badUnit["unit"] = .string("doubloons")
        var badRail = good
        badRail["network"] = .string("Not A Rail")
        var hugeSats = good
        hugeSats["network"] = .string("lightning")
        hugeSats["invoice"] = .string("lnbc1notaninvoice")
        var badDetails = good
        badDetails["details"] = .object(["x": .number(1)])
        let body: JSONValue = .object([
            "type": .string("x402"), "payment": .object(good),
            "offers": .array([.object(good), .object(noAmount), .object(badUnit), .object(badRail), .object(hugeSats), .object(badDetails), .string("x")]),
        ])
        let reading = try PlainChallenge.parse(body: try CanonicalJSON.serialize(body), receivedAt: F.now)
        #expect(reading.offers.count == 1)
        #expect(reading.skipped.count == 6, "\(reading.skipped)")
        #expect(reading.skipped.allSatisfy { $0.hasPrefix("offers[") })

        // Not the plain dialect at all, or hostile.
        for bad in [#"{"type":"about:blank","payment":{}}"#, #"{"x402Version":1,"accepts":[]}"#, "[1]", "{", #"{"a":1,"a":2}"#,
                    String(repeating: "[", count: 200), #"{"type":"x402","payment":"lnbc"}"#] {
            #expect(throws: WireError.self, "\(bad.prefix(30))") { try PlainChallenge.parse(body: Array(bad.utf8), receivedAt: F.now) }
        }
        let large = Array(repeating: UInt8(0x20), count: PlainChallenge.maximumBodyBytes + 1)
        #expect((try? PlainChallenge.parse(body: large, receivedAt: F.now)) == nil)
        #expect(throws: WireError.self) { try PlainChallenge(offers: []).body(now: F.now) }
    }

    @Test("X-Receipt: preimage, Payment credential, receipt token and rail proof told apart by shape")
    func receiptClassification() throws {
        let preimageHex = F.hex(F.preimage)
        #expect(try PlainReceipt.parse(preimageHex) == .preimage(F.preimage))
        #expect(try PlainReceipt.parse(" " + preimageHex.uppercased() + "\t") == .preimage(F.preimage))
        #expect(try PlainReceipt.parse(preimageHex).paymentHash == F.hex(F.paymentHash))

        let jws = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJqdGkiOiJjMSJ9.c2lnbmF0dXJlLWJ5dGVz"
        #expect(try PlainReceipt.parse(jws) == .receiptToken(jws))
        #expect(try PlainReceipt.parse(F.voucher) == .railProof(F.voucher))  // two parts: a fake voucher, not a JWS
        #expect(try PlainReceipt.parse("spt_1234") == .railProof("spt_1234"))
        #expect(try PlainReceipt.parse(String(preimageHex.dropLast())) == .railProof(String(preimageHex.dropLast())))

        let key = try Secp256k1.PrivateKey()
        let set = try F.set()
        let response = try set.paymentRequired(offers: [try F.lightningOffer(key: key)], now: F.now)
        let challenge = try #require(response.paymentChallenges.first)
        let credential = PaymentCharge.credential(answering: challenge, with: F.credential(for: try F.lightningOffer(key: key)))
        guard case .paymentCredential(let parsed) = try PlainReceipt.parse(try credential.headerValue()) else {
            Issue.record("not classified as a Payment credential"); return
        }
        #expect(parsed == credential)
        #expect(!"\(try PlainReceipt.parse(preimageHex))".contains(preimageHex))  // description hides the secret

        for (bad, code) in [("", WireError.Code.missingField), ("   ", .missingField), ("a\u{1}b", .malformed), ("two words", .malformed),
                            ("Payment !!!", .malformed), ("é", .malformed),
                            (String(repeating: "a", count: PlainReceipt.maximumLength + 1), .tooLarge)] {
            let error = #expect(throws: WireError.self, "\(bad.prefix(20))") { try PlainReceipt.parse(bad) }
            #expect(error?.code == code, "\(bad.prefix(20)): \(String(describing: error))")
        }
    }

    @Test("X-Receipt: server side maps to the offer's credential; a wrong preimage or a token pays nothing")
    func receiptServerSide() throws {
        let key = try Secp256k1.PrivateKey()
        let lightning = try F.lightningOffer(key: key), fake = try F.fakeOffer()
        let paid = try PlainReceipt.parse(F.hex(F.preimage)).credential(for: lightning)
        #expect(paid == Credential(rail: .lightning, offerID: lightning.id, payload: ["preimage": F.hex(F.preimage)]))
        let wrong = #expect(throws: WireError.self) {
            try PlainReceipt.parse(String(repeating: "ab", count: 32)).credential(for: lightning)
        }
        #expect(wrong?.code == .bindingMismatch)
        #expect(throws: WireError.self) { try PlainReceipt.preimage(F.preimage).credential(for: fake) }
        #expect(try PlainReceipt.railProof(F.voucher).credential(for: fake).payload == ["voucher": F.voucher])
        #expect(throws: WireError.self) { try PlainReceipt.receiptToken("a.b.c").credential(for: fake) }

        // Agent side: the receipt for each rail, and refusals.
        #expect(try PlainReceipt.answering(lightning, with: F.credential(for: lightning)).headerValue() == F.hex(F.preimage))
        #expect(try PlainReceipt.answering(fake, with: F.credential(for: fake)).headerValue() == F.voucher)
        #expect(throws: WireError.self) { try PlainReceipt.answering(fake, with: F.credential(for: lightning)) }
        #expect(throws: WireError.self) {
            try PlainReceipt.answering(lightning, with: Credential(rail: .lightning, offerID: "x", payload: ["preimage": "zz"]))
        }
    }
}
