import Testing
@testable import PayRailWire

@Suite("Accept-Payment")
struct AcceptPaymentTests {
    let offers: [(method: String, intent: String)] = [
        ("stripe", "charge"), ("tempo", "session"), ("solana", "charge"), ("tempo", "charge"), ("lightning", "charge"),
    ]

    func ordered(_ header: String) throws -> [String] {
        try AcceptPayment.parse(header).order(offers) { $0 }.map { "\($0.method)/\($0.intent)" }
    }

    @Test("the draft's examples")
    func draftExamples() throws {
        #expect(try ordered("tempo/charge, tempo/session, stripe/charge;q=0.5, solana/charge;q=0.3")
                == ["tempo/session", "tempo/charge", "stripe/charge", "solana/charge"])
        #expect(try ordered("tempo/*, solana/*;q=0.6, */session;q=0.3") == ["tempo/session", "tempo/charge", "solana/charge"])
        #expect(try ordered("tempo/charge, tempo/session;q=0, solana/charge") == ["solana/charge", "tempo/charge"])
        #expect(try ordered("tempo/*, solana/*;q=0.6, stripe/charge;q=0.2") == ["tempo/session", "tempo/charge", "solana/charge", "stripe/charge"])
        #expect(try ordered("tempo/charge, tempo/session;q=0, solana/charge;q=0.8, stripe/charge;q=0.4") == ["tempo/charge", "solana/charge", "stripe/charge"])
    }

    @Test("every example in the draft fixture parses")
    func fixture() throws {
        let examples = try #require(try PaymentFixtures.object("mpp-core-02-examples.json")["acceptPaymentExamples"] as? [String])
        for example in examples { #expect(!(try AcceptPayment.parse(example).ranges.isEmpty)) }
    }

    @Test("the most specific range wins; ties keep the server's order; no match ignores the header")
    func specificity() throws {
        #expect(try ordered("*/*;q=0.1, lightning/charge") .first == "lightning/charge")
        #expect(try ordered("*/charge;q=0, lightning/*") == ["lightning/charge"])
        #expect(try ordered("lightning/*;q=0.2, */charge;q=0.9").last == "lightning/charge")
        #expect(try ordered("*/*") == offers.map { "\($0.method)/\($0.intent)" })
        #expect(try ordered("bitcoin/charge") == offers.map { "\($0.method)/\($0.intent)" })
        #expect(try ordered("*/*;q=0").isEmpty)
        let accept = try AcceptPayment.parse(["lightning/charge;Q=0.500", "lightning/charge;q=1", " , "])
        #expect(accept.weight(method: "lightning", intent: "charge") == 500)
        #expect(accept.weight(method: "stripe", intent: "charge") == nil)
    }

    @Test("malformed values are refused", arguments: [
        "lightning", "Lightning/charge", "lightning/charge;q=2", "lightning/charge;q=1.5", "lightning/charge;q=0.1234",
        "lightning/charge;level=1", "lightning/charge;q=", "*", "a/b/c", "l2/charge", "lightning/charge;q=0.5;q=1",
    ])
    func malformed(_ value: String) {
        #expect(throws: WireError.self) { try AcceptPayment.parse(value) }
    }
}
