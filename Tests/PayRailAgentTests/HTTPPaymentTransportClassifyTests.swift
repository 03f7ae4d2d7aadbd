import Foundation
import PayRailWire
import Testing
@testable import PayRailAgent

/// The HTTP transport's reading of answers, status by status: the table `PayingClient` used to hold
/// inline, now the transport's. Locked here so a change to it is a decision, not an accident.
@Suite("HTTP payment transport: every status classified")
struct HTTPPaymentTransportClassifyTests {
    static let receipt = "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl"

    func problem(_ slug: String, _ detail: String) -> [UInt8] {
        Array(#"{"type":"https://payrail.dev/problems/\#(slug)","title":"T","status":409,"detail":"\#(detail)"}"#.utf8)
    }

    @Test("before a credential: 402 is a challenge, anything else is the answer itself")
    func unpaid() {
        #expect(HTTPPaymentTransport.classify(PaymentAnswer(status: 402), presented: false) == .challenged)
        for status in [200, 301, 404, 409, 500] {
            #expect(HTTPPaymentTransport.classify(PaymentAnswer(status: status), presented: false) == .served(receipt: nil), "\(status)")
        }
    }

    @Test("after a credential: refused, conflict, retry with the receipt and Retry-After, or served")
    func presented() {
        let refused = HTTPPaymentTransport.classify(PaymentAnswer(status: 402, body: problem("x", "paid twice")), presented: true)
        #expect(refused == .refused(detail: "paid twice"))
        #expect(HTTPPaymentTransport.classify(PaymentAnswer(status: 403), presented: true) == .refused(detail: "status 403"))
        let conflict = PaymentAnswer(status: 409, body: problem("idempotency-conflict", "key reused"))
        #expect(HTTPPaymentTransport.classify(conflict, presented: true) == .conflict)
        let headers = HTTPFields([("X-Receipt", Self.receipt), ("Retry-After", "1")])
        for status in [301, 408, 409, 425, 429, 500, 502, 503] {
            let answer = PaymentAnswer(status: status, headers: headers, body: problem("payment-in-progress", "wait"))
            #expect(HTTPPaymentTransport.classify(answer, presented: true) == .retry(receipt: Self.receipt, retryAfterSeconds: 1), "\(status)")
        }
        #expect(HTTPPaymentTransport.classify(PaymentAnswer(status: 503), presented: true) == .retry(receipt: nil, retryAfterSeconds: nil))
        let served = PaymentAnswer(status: 200, headers: HTTPFields([("X-Receipt", Self.receipt)]))
        #expect(HTTPPaymentTransport.classify(served, presented: true) == .served(receipt: Self.receipt))
        #expect(HTTPPaymentTransport.classify(PaymentAnswer(status: 404), presented: true) == .served(receipt: nil))
    }

    @Test("the head alone decides final content as classify does, for every status, with or without a receipt")
    func headDecidesServedAsClassifyDoes() {
        let receipts = [HTTPFields(), HTTPFields([("X-Receipt", Self.receipt)]),
                        HTTPFields([("Payment-Receipt", "not base64 json")])]
        for presented in [false, true] {
            for status in 100...599 {
                for headers in receipts {
                    let served: Bool
                    if case .served = HTTPPaymentTransport.classify(PaymentAnswer(status: status, headers: headers), presented: presented) {
                        served = true
                    } else {
                        served = false
                    }
                    #expect(HTTPPaymentTransport.isServedHead(status: status, presented: presented) == served, "\(status) \(presented)")
                }
            }
        }
    }
}
