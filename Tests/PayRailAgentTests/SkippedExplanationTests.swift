import Foundation
import PayRail
import PayRailAgent
import PayRailWire
import Testing

/// Issue #16 points 6 and 7: unknown intents are skipped cleanly, and `--explain` says "no wallet for
/// method X" for a charge in a method the agent cannot pay, whatever the reader's own complaint.
@Suite("Skipped challenges: unknown intents, unknown methods, as the agent explains them")
struct SkippedExplanationTests {
    static let fakeRequest = "eyJhbW91bnQiOiIyNTAiLCJjdXJyZW5jeSI6InVzZCIsIm1ldGhvZERldGFpbHMiOnsicHJvY2Vzc29yS2V5IjoicGsiLCJyZXF1ZXN0SUQiOiJyZXFfMSJ9LCJyZWNpcGllbnQiOiJhY2N0X20ifQ"

    static func read(_ values: [String]) -> PaymentResponseReading {
        PaymentResponseReader.read(status: 402, headers: HTTPFields(values.map { ("WWW-Authenticate", $0) }), body: [],
                                   receivedAt: Date(timeIntervalSince1970: 1_767_225_600))
    }

    @Test("a subscription (or any unknown intent) beside a charge: the charge is read, the other skipped with its intent named", arguments: ["subscription", "session", "authorize"])
    func unknownIntentIsSkipped(_ intent: String) throws {
        let reading = Self.read([
            #"Payment id="s", realm="api", method="fake", intent="\#(intent)", request="\#(Self.fakeRequest)""#,
            #"Payment id="c", realm="api", method="fake", intent="charge", request="\#(Self.fakeRequest)""#,
        ])
        #expect(reading.offers.count == 1 && reading.offers.first?.offer.id == "req_1")
        let skipped = try #require(reading.skipped.first)
        #expect(reading.skipped.count == 1 && skipped.dialect == .payment && skipped.intent == intent && skipped.method == "fake")
        #expect(skipped.reason.contains("intent \"\(intent)\" is not one PayRail pays"), "\(skipped.reason)")
        let lines = SkippedExplanation.lines(reading.skipped, walletRails: [.fake])
        #expect(lines == ["payment fake/\(intent): skipped: \(skipped.reason)"])
    }

    @Test("a charge in a method no wallet pays is 'no wallet for method X', not the reader's currency complaint")
    func unknownMethod() throws {
        let tempo = "eyJhbW91bnQiOiIxMDAwMDAwIiwiY3VycmVuY3kiOiIweDIwYzAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJtZXRob2REZXRhaWxzIjp7ImNoYWluSWQiOjQyMTd9LCJyZWNpcGllbnQiOiIweDc0MmQzNUNjNjYzNEMwNTMyOTI1YTNiODQ0QmM5ZTc1OTVmOGZFMDAifQ"
        let reading = Self.read([#"Payment id="t", realm="api", method="tempo", intent="charge", request="\#(tempo)""#])
        #expect(reading.offers.isEmpty && reading.skipped.first?.method == "tempo")
        #expect(SkippedExplanation.lines(reading.skipped, walletRails: [.fake, .lightning]) == ["payment tempo/charge: skipped: no wallet for method tempo"])
        // Other dialects keep the reader's reason.
        let other = SkippedChallenge(dialect: .l402, reason: "the L402 challenge has no invoice")
        #expect(SkippedExplanation.lines([other], walletRails: []) == ["l402: skipped: the L402 challenge has no invoice"])
    }
}
