import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

@Suite("Agent side: any 402 response into offers")
struct AgentResponseReaderTests {
    typealias F = WireSetFixture

    static func rendered() throws -> PaymentRequiredResponse {
        let key = try Secp256k1.PrivateKey()
        return try F.set().paymentRequired(offers: [try F.lightningOffer(key: key), try F.fakeOffer()], now: F.now)
    }

    @Test("raw HTTP: CRLF or LF, folded lines, repeated fields kept apart; bad heads refused")
    func httpParsing() throws {
        let crlf = "HTTP/1.1 402 Payment Required\r\nA: 1\r\nWWW-Authenticate: x\r\nwww-authenticate: y\r\n  continued\r\n\r\n{\"b\":1}\r\n"
        let lf = crlf.replacingOccurrences(of: "\r\n", with: "\n")
        for text in [crlf, lf] {
            let parsed = try PaymentResponseReader.parseHTTPResponse(Array(text.utf8))
            #expect(parsed.status == 402)
            #expect(parsed.headers.values("WWW-Authenticate") == ["x", "y continued"])
            #expect(String(decoding: parsed.body, as: UTF8.self).hasPrefix("{\"b\":1}"))
        }
        let headOnly = try PaymentResponseReader.parseHTTPResponse(Array("HTTP/2 402\nA: b".utf8))
        #expect(headOnly.status == 402 && headOnly.headers["a"] == "b" && headOnly.body.isEmpty)
        for bad in ["", "\n\n", "402 Payment Required\n\n", "HTTP/1.1 4020 x\n\n", "HTTP/1.1 99 x\n\n", "HTTP/1.1 402\nno colon here\n\n",
                    "HTTP/1.1 402\n: empty name\n\n", "HTTP/1.1 402\nbad name: x\n\n", "HTTP/1.1 402\n" + String(repeating: "A: b\n", count: 20_000)] {
            #expect(throws: WireError.self, "\(bad.prefix(30))") { try PaymentResponseReader.parseHTTPResponse(Array(bad.utf8)) }
        }
    }

    @Test("only a 402 is read; an empty 402 yields nothing and no crash")
    func statusAndEmpty() throws {
        let response = try Self.rendered()
        let ok = PaymentResponseReader.read(status: 200, headers: response.headers, body: response.body, receivedAt: F.now)
        #expect(ok.offers.isEmpty && ok.skipped.count == 1)
        let empty = PaymentResponseReader.read(status: 402, headers: HTTPFields(), body: [], receivedAt: F.now)
        #expect(empty.offers.isEmpty && empty.skipped.isEmpty)
        let html = PaymentResponseReader.read(status: 402, headers: HTTPFields(), body: Array("<html>pay</html>".utf8), receivedAt: F.now)
        #expect(html.offers.isEmpty && html.skipped.isEmpty)
    }

    @Test("a broken field or entry is skipped with its reason and hides nothing else")
    func partlyBroken() throws {
        let response = try Self.rendered()
        var headers = HTTPFields()
        for field in response.headers {
            switch field.name {
            case "PAYMENT-REQUIRED": headers.append(field.name, "!!not base64!!")
            default: headers.append(field.name, field.value)
            }
        }
        headers.append("WWW-Authenticate", #"Payment id="unterminated"#)  // bad grammar: this field only
        headers.append("WWW-Authenticate", #"Payment id="x", realm="r", method="lightning", intent="charge", request="e30""#)  // no amount
        headers.append("WWW-Authenticate", #"L402 macaroon="AgEE", invoice="lnbc1""#)  // not a macaroon
        var body = response.body
        body.removeLast()  // truncated JSON: the plain dialect is silently absent (a body is not always JSON)
        let reading = PaymentResponseReader.read(status: 402, headers: headers, body: body, receivedAt: F.now)
        #expect(Set(reading.offers.map(\.dialect)) == [.payment, .l402])
        #expect(reading.offers.filter { $0.dialect == .payment }.count == 2)
        let dialects = reading.skipped.map(\.dialect)
        #expect(dialects.contains(nil) && dialects.contains(.payment) && dialects.contains(.x402) && dialects.contains(.l402), "\(reading.skipped)")

        // An L402 challenge whose invoice pays another hash than its macaroon is refused.
        let other = try F.lightningOffer(key: try Secp256k1.PrivateKey())
        let l402Values = response.headers.values("WWW-Authenticate").filter { $0.hasPrefix("L402") }
        let otherInvoice = try #require(other.details["invoice"])
        let invoice = try #require(response.l402.first?.invoice)
        var swapped = HTTPFields()
        // Another node's invoice for the same payment hash (the fixture's preimage): the binding holds.
        swapped.append("WWW-Authenticate", try #require(l402Values.first).replacingOccurrences(of: invoice, with: otherInvoice))
        #expect(PaymentResponseReader.read(status: 402, headers: swapped, body: [], receivedAt: F.now).offers.count == 1)
        let foreign = try TestInvoice.make(hrp: "lnbc1u", timestamp: 1_700_000_000, fields: [
            .paymentHash(Array(repeating: 9, count: 32)), .expiry(3600),
        ], key: try Secp256k1.PrivateKey())
        var mismatched = HTTPFields()
        mismatched.append("WWW-Authenticate", try #require(l402Values.first).replacingOccurrences(of: invoice, with: foreign))
        let refused = PaymentResponseReader.read(status: 402, headers: mismatched, body: [], receivedAt: F.now)
        #expect(refused.offers.isEmpty && refused.skipped.first?.dialect == .l402)
    }

    @Test("x402 version 1 body: read as x402-v1, answered with X-PAYMENT")
    func version1() throws {
        let body = #"{"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{"scheme":"exact","network":"payrail:fake","maxAmountRequired":"250","asset":"usd","payTo":"acct_merchant","resource":"https://api.example.com/article/A","description":"","mimeType":"text/html","maxTimeoutSeconds":300,"extra":{"requestID":"req_123","processorKey":"pk_test_fake"}},{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","resource":"https://api.example.com/article/A","maxTimeoutSeconds":60}]}"#
        let reading = PaymentResponseReader.read(
            status: 402, headers: HTTPFields([("Content-Type", "application/json")]), body: Array(body.utf8), receivedAt: F.now)
        let read = try #require(reading.offers.first)
        #expect(reading.offers.count == 1 && read.dialect == .x402v1)
        #expect(reading.skipped.count == 1 && reading.skipped.first?.dialect == .x402v1)  // the EVM entry PayRail cannot pay
        let price = try Money(amount: 250, unit: .usd)
        #expect(read.offer.id == "req_123" && read.offer.amount == price)
        let fields = try read.credentialFields(for: F.credential(for: read.offer))
        let payment = try X402Codec.decodeVersion1Payment(try #require(fields[X402HeaderName.xPayment]))
        #expect(payment.scheme == "exact" && payment.network == "payrail:fake" && payment.payload == ["voucher": .string(F.voucher)])
        #expect(throws: WireError.self) { try read.credentialFields(for: Credential(rail: .lightning, offerID: "x", payload: [:])) }
    }

    @Test("x402 v2: the payment identifier goes in only when the server declared the extension")
    func paymentIdentifier() throws {
        var set = try F.set()
        let identifier = try X402PaymentIdentifier("pay_0123456789abcdef")
        for declared in [false, true] {
            set.x402Extensions = declared ? [X402PaymentIdentifier.extensionKey: X402PaymentIdentifier.declaration(required: false)] : [:]
            let response = try set.paymentRequired(offers: [try F.fakeOffer()], now: F.now)
            let reading = PaymentResponseReader.read(status: 402, headers: response.headers, body: response.body, receivedAt: F.now)
            let read = try #require(reading.offers.first { $0.dialect == .x402 })
            let header = try #require(try read.credentialFields(for: F.credential(for: read.offer), paymentIdentifier: identifier)[X402HeaderName.paymentSignature])
            let payload = try X402Codec.decodePaymentSignature(header)
            #expect((payload.extensions[X402PaymentIdentifier.extensionKey] != nil) == declared)
        }
    }

    @Test("seeded mutations of a full 402 response never trap the reader")
    func mutations() throws {
        let seed = Array(try Self.rendered().http1Text.utf8)
        var state: UInt64 = 0x5EED_402
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let alphabet = Array("\",:=; \\\r\n{}[]0aZ/+.\u{0}".utf8) + [0xFF, 0xC3]
        var offersSeen = 0
        for _ in 0..<400 {
            var bytes = seed
            for _ in 0..<(1 + Int(next() % 6)) {
                let index = Int(next() % UInt64(bytes.count))
                switch next() % 3 {
                case 0: bytes[index] = alphabet[Int(next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: index)
                default: bytes.insert(alphabet[Int(next() % UInt64(alphabet.count))], at: index)
                }
            }
            guard let raw = try? PaymentResponseReader.parseHTTPResponse(bytes) else { continue }
            let reading = PaymentResponseReader.read(status: raw.status, headers: raw.headers, body: raw.body, receivedAt: F.now)
            offersSeen += reading.offers.count
        }
        #expect(offersSeen > 0)
    }
}
