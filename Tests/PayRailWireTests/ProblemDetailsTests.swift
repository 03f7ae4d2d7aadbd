import Foundation
import PayRailCrypto
import Testing
@testable import PayRailWire

@Suite("RFC 9457 problem details")
struct ProblemDetailsTests {
    @Test("every core and lightning type has its URI, title and status")
    func types() {
        #expect(PaymentProblemType.core.count == 11)
        #expect(Set(PaymentProblemType.core.map(\.uri)).count == 11)
        let statuses = Dictionary(uniqueKeysWithValues: PaymentProblemType.core.map { ($0.uri.replacingOccurrences(of: "https://paymentauth.org/problems/", with: ""), $0.status) })
        #expect(statuses == [
            "payment-required": 402, "payment-insufficient": 402, "payment-expired": 402, "verification-failed": 402,
            "method-unsupported": 400, "malformed-credential": 402, "invalid-challenge": 402, "bad-request": 400,
            "invalid-payload": 402, "internal-payment-error": 500, "payment-action-required": 402,
        ])
        #expect(PaymentProblemType.Lightning.all.map(\.uri) == [
            "https://paymentauth.org/problems/lightning/malformed-credential",
            "https://paymentauth.org/problems/lightning/unknown-challenge",
            "https://paymentauth.org/problems/lightning/invalid-preimage",
            "https://paymentauth.org/problems/lightning/expired-invoice",
        ])
        #expect(PaymentProblemType.Lightning.all.allSatisfy { $0.status == 402 && $0.needsFreshChallenge })
        #expect(!PaymentProblemType.badRequest.needsFreshChallenge)
    }

    @Test("the draft's problem bodies parse and re-encode to the same members")
    func draftBodies() throws {
        let core = try PaymentFixtures.object("mpp-core-02-examples.json")
        let lightning = try PaymentFixtures.object("mpp-lightning-charge-examples.json")
        let bodies: [[String: Any]] = [
            try #require((core["oneTimeChargeExample"] as? [String: Any])?["problemBody"] as? [String: Any]),
            try #require(core["problemVerificationFailed"] as? [String: Any]),
            try #require(lightning["problemExample"] as? [String: Any]),
        ]
        for body in bodies {
            let data = try JSONSerialization.data(withJSONObject: body)
            let problem = try ProblemDetails.parse(Array(data))
            #expect(problem.paymentProblemType != nil, "\(problem.type)")
            #expect(problem.status == body["status"] as? Int)
            #expect(try CanonicalJSON.parse(problem.encoded()) == CanonicalJSON.parse(data))
        }
        let required = try ProblemDetails.parse(Array(try JSONSerialization.data(withJSONObject: bodies[0])))
        #expect(required.extensions["challengeId"] == .string("qB3wErTyU7iOpAsD9fGhJk"))
        #expect(required == ProblemDetails(.paymentRequired, detail: "Payment required for access.", challengeID: "qB3wErTyU7iOpAsD9fGhJk"))
        #expect(ProblemDetails.mediaType == "application/problem+json")
    }

    @Test("malformed bodies are refused", arguments: [
        #"[]"#, #"{"type":"t"}"#, #"{"type":"t","status":"402"}"#, #"{"type":"t","status":402.5}"#,
        #"{"type":1,"status":402}"#, #"{"status":402}"#, #"{"type":"t","status":99}"#, "not json",
    ])
    func malformed(_ body: String) {
        #expect(throws: WireError.self) { try ProblemDetails.parse(Array(body.utf8)) }
    }
}
