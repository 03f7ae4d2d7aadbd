import Foundation
import PayRailTestPeers
import Testing
@testable import StripeRail

/// `Stripe-Signature` checks judged by stripe-python (PyPI `stripe` 16.1.0): the headers it generates
/// are accepted, and what it refuses is refused, case by case.
@Suite("Stripe webhook signatures, judged by stripe-python")
struct StripeWebhookTests {
    static let judge = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/stripe_webhook_judge.py")
    static let secret = "whsec_fixtureSecretOne0000000000"
    static let nextSecret = "whsec_fixtureSecretTwo0000000000"

    struct Case {
        let name: String
        let body: String
        let header: String
        let secrets: [String]
        let accepted: Bool
    }

    @Test("generated headers pass; tampered body, wrong secret, stale time, a space after the comma fail, as in stripe-python")
    func judgedByStripePython() throws {
        let body = String(decoding: Fixture.bytes("event_payment_intent_succeeded.json"), as: UTF8.self)
        let now = Int64(Date().timeIntervalSince1970)
        let signRequests: [[String: Any]] = [
            ["payload": body, "secret": Self.secret, "timestamp": now],
            ["payload": body, "secret": Self.secret, "timestamp": now - 301],
            ["payload": body, "secret": Self.nextSecret, "timestamp": now],
        ]
        let signed = try Self.ask(["sign": signRequests, "verify": [] as [Any]])
        let headers = try #require(signed["headers"] as? [String])
        let fresh = headers[0], stale = headers[1], rotated = headers[2]
        let signature = String(fresh.split(separator: ",")[1])
        let cases = [
            Case(name: "generated", body: body, header: fresh, secrets: [Self.secret], accepted: true),
            Case(name: "tampered body", body: body.replacingOccurrences(of: "\"amount\": 50", with: "\"amount\": 5000"), header: fresh,
                 secrets: [Self.secret], accepted: false),
            Case(name: "wrong secret", body: body, header: fresh, secrets: [Self.nextSecret], accepted: false),
            Case(name: "stale timestamp", body: body, header: stale, secrets: [Self.secret], accepted: false),
            Case(name: "space after the comma", body: body, header: fresh.replacingOccurrences(of: ",", with: ", "), secrets: [Self.secret],
                 accepted: false),
            Case(name: "several v1, one good", body: body, header: "t=\(now),v1=\(String(repeating: "0", count: 64)),\(signature)",
                 secrets: [Self.secret], accepted: true),
            Case(name: "rotation: signed with the new secret, both configured", body: body, header: rotated,
                 secrets: [Self.secret, Self.nextSecret], accepted: true),
            Case(name: "v0 only", body: body, header: fresh.replacingOccurrences(of: "v1=", with: "v0="), secrets: [Self.secret], accepted: false),
            Case(name: "uppercase hex", body: body, header: fresh.uppercased().replacingOccurrences(of: "T=", with: "t=").replacingOccurrences(of: "V1=", with: "v1="),
                 secrets: [Self.secret], accepted: false),
        ]
        let verifyRequests: [[String: Any]] = cases.map { ["payload": $0.body, "header": $0.header, "secrets": $0.secrets, "tolerance": 300] }
        let verdicts = try #require(try Self.ask(["sign": [] as [Any], "verify": verifyRequests])["verdicts"] as? [Bool])
        for (index, item) in cases.enumerated() {
            #expect(verdicts[index] == item.accepted, "stripe-python on \(item.name)")
            let ours: Bool
            do {
                try StripeWebhookSignature.verify(body: Array(item.body.utf8), header: item.header, secrets: item.secrets, now: Date())
                ours = true
            } catch {
                ours = false
            }
            #expect(ours == item.accepted, "ours on \(item.name)")
        }
    }

    @Test("the event names the object to fetch again; a body that is not an event is refused")
    func event() throws {
        let event = try StripeWebhookEvent(body: Fixture.bytes("event_payment_intent_succeeded.json"))
        #expect(event.id == "evt_3QfixtureEvent001" && event.type == "payment_intent.succeeded")
        #expect(event.objectID == TestKeys.intent && event.objectType == "payment_intent")
        #expect(throws: StripeWebhookError.notAnEvent) { _ = try StripeWebhookEvent(body: Fixture.bytes("pi_succeeded.json")) }
        #expect(throws: StripeWebhookError.noSecret) {
            try StripeWebhookSignature.verify(body: [], header: "t=1,v1=00", secrets: ["  "], now: Date())
        }
    }

    static func ask(_ request: [String: Any]) throws -> [String: Any] {
        let input = try JSONSerialization.data(withJSONObject: request)
        let output = try PythonPeer.run(judge, [], input: input)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw LocalStripePeer.Failure(description: "the stripe-python judge answered no JSON object: \(output.prefix(200))")
        }
        return object
    }
}
