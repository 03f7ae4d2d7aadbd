import Foundation
import PayRailWire
import Testing

// Issue 16 point 8: reading a discovery document (draft-payment-discovery-01) as an agent does, from
// a server it has not paid: both x-payment-info forms, and every bound a hostile document meets.

@Suite("discovery document reader (issue 16, point 8)")
struct PaymentDiscoveryTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/discovery/draft-example.json")

    /// A minimal document around one operation's `x-payment-info`.
    private func document(paymentInfo: String, extra: String = "") -> [UInt8] {
        Array("""
        {"openapi":"3.1.0","info":{"title":"t","version":"1"}\(extra),
         "paths":{"/a":{"get":{"x-payment-info":\(paymentInfo),"responses":{"402":{"description":"Payment Required"}}}}}}
        """.utf8)
    }

    private func refusal(_ bytes: [UInt8]) -> WireError? {
        do {
            _ = try PaymentDiscovery.read(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test("the draft's example: offers[] and the single-offer shorthand with a null amount; free operations are not listed")
    func draftExample() throws {
        let document = try PaymentDiscovery.read(Array(try Data(contentsOf: Self.fixture)))
        #expect(document.title == "Example AI API" && document.version == "1.0.0" && document.openAPIVersion == "3.1.0")
        #expect(document.serviceInfo?.categories == ["compute"])
        #expect(document.serviceInfo?.docs["llms"] == "https://api.example.com/llms.txt")
        #expect(document.operations.map { "\($0.method) \($0.path)" } == ["POST /v1/chat/completions", "POST /v1/embeddings"])
        let chat = try #require(document.operations.first)
        #expect(chat.offers.count == 2 && chat.offers.allSatisfy { $0.amount == "500" && $0.method == "tempo" })
        #expect(chat.offers[1].description == "Alternative Tempo asset for the same route.")
        let embeddings = try #require(document.operations.last)
        #expect(embeddings.offers == [DiscoveryOffer(intent: "charge", method: "tempo", amount: nil,
                                                     currency: "0x20c00000000000000000000000000000000000",
                                                     description: "Price varies by model and token count.")])
        #expect(document.operations.allSatisfy { $0.declares402 })
    }

    @Test("amounts must be digit strings without leading zeros, or null", arguments: [
        #"123"#, #""0123""#, #""-5""#, #""1.5""#, #""""#, #"true"#, #""12 ""#,
    ])
    func badAmounts(_ amount: String) {
        let error = refusal(document(paymentInfo: #"{"offers":[{"intent":"charge","method":"m","amount":\#(amount)}]}"#))
        #expect(error?.code == .malformed)
    }

    @Test("good amounts: 0, digits, null (dynamic)")
    func goodAmounts() throws {
        for amount in [#""0""#, #""500""#, "null"] {
            let read = try PaymentDiscovery.read(document(paymentInfo: #"{"offers":[{"intent":"charge","method":"m","amount":\#(amount)}]}"#))
            #expect(read.operations.first?.offers.count == 1)
        }
    }

    @Test("a missing amount, intent or method, or an empty offers list is refused")
    func missingFields() {
        #expect(refusal(document(paymentInfo: #"{"offers":[{"intent":"charge","method":"m"}]}"#))?.code == .missingField)
        #expect(refusal(document(paymentInfo: #"{"offers":[{"method":"m","amount":"1"}]}"#))?.code == .missingField)
        #expect(refusal(document(paymentInfo: #"{"offers":[{"intent":"charge","amount":"1"}]}"#))?.code == .missingField)
        #expect(refusal(document(paymentInfo: #"{"offers":[]}"#))?.code == .malformed)
    }

    @Test("strings with control characters (terminal escapes) or bidirectional overrides are refused")
    func controlCharacters() {
        let escape = #"{"intent":"charge","method":"m","amount":"1","description":"\u001b[2Jpaid"}"#
        #expect(refusal(document(paymentInfo: "{\"offers\":[\(escape)]}"))?.code == .malformed)
        let csi = #"{"intent":"charge","method":"m\u009b","amount":"1"}"#
        #expect(refusal(document(paymentInfo: "{\"offers\":[\(csi)]}"))?.code == .malformed)
        let bidi = #"{"intent":"charge","method":"m","amount":"1","currency":"tas\u202eusd"}"#
        #expect(refusal(document(paymentInfo: "{\"offers\":[\(bidi)]}"))?.code == .malformed)
    }

    @Test("bounds: document size, offers per operation, string length, nesting, duplicate names")
    func bounds() {
        let big = [UInt8](repeating: 0x20, count: PaymentDiscovery.maximumDocumentBytes + 1)
        #expect(refusal(big)?.code == .tooLarge)
        let offer = #"{"intent":"charge","method":"m","amount":"1"}"#
        let many = Array(repeating: offer, count: PaymentDiscovery.maximumOffers + 1).joined(separator: ",")
        #expect(refusal(document(paymentInfo: "{\"offers\":[\(many)]}"))?.code == .tooLarge)
        let long = String(repeating: "x", count: PaymentDiscovery.maximumNameBytes + 1)
        #expect(refusal(document(paymentInfo: #"{"offers":[{"intent":"charge","method":"\#(long)","amount":"1"}]}"#))?.code == .tooLarge)
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(refusal(document(paymentInfo: #"{"offers":[\#(offer)]}"#, extra: ",\"x-deep\":\(deep)"))?.code == .malformed)
        #expect(refusal(document(paymentInfo: #"{"offers":[\#(offer)]}"#, extra: #","openapi":"3.1.0""#))?.code == .malformed)
    }

    @Test("too many priced operations are refused")
    func tooManyOperations() {
        let offer = #"{"x-payment-info":{"intent":"charge","method":"m","amount":"1"}}"#
        let paths = (0...PaymentDiscovery.maximumOperations).map { "\"/p\($0)\":{\"get\":\(offer)}" }.joined(separator: ",")
        let bytes = Array(#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{\#(paths)}}"#.utf8)
        #expect(refusal(bytes)?.code == .tooLarge)
    }

    @Test("not OpenAPI 3, or without info or paths, is refused")
    func notADiscoveryDocument() {
        #expect(refusal(Array(#"{"swagger":"2.0","info":{"title":"t","version":"1"},"paths":{}}"#.utf8))?.code == .missingField)
        #expect(refusal(Array(#"{"openapi":"2.0","info":{"title":"t","version":"1"},"paths":{}}"#.utf8))?.code == .unsupported)
        #expect(refusal(Array(#"{"openapi":"3.1.0","paths":{}}"#.utf8))?.code == .malformed)
        #expect(refusal(Array(#"[1,2]"#.utf8))?.code == .malformed)
    }

    @Test("an operation without a 402 response is read and marked")
    func no402() throws {
        let bytes = Array(#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"post":{"x-payment-info":{"intent":"charge","method":"m","amount":"1"}}}}}"#.utf8)
        let read = try PaymentDiscovery.read(bytes)
        #expect(read.operations.first?.declares402 == false)
        #expect(read.operations.first?.method == "POST")
    }
}
