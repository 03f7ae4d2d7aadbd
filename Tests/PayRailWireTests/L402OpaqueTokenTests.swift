import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

/// Issue #16 point 5: bLIP-26 leaves the L402 token to the server; the client checks and pays the
/// invoice and presents `L402 <token>:<preimage>`. A token that is no macaroon is carried opaquely.
@Suite("L402: opaque tokens, and what is wrong when a challenge is unusable")
struct L402OpaqueTokenTests {
    typealias F = WireSetFixture

    static func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent("responses").appendingPathComponent(name)
        return Array(try Data(contentsOf: url))
    }

    static func read(_ values: [String], at now: Date = F.now) -> PaymentResponseReading {
        PaymentResponseReader.read(status: 402, headers: HTTPFields(values.map { ("WWW-Authenticate", $0) }), body: [], receivedAt: now)
    }

    @Test("an l402kit 402 (base64 JSON token, no macaroon) is an offer, answered with L402 <token>:<preimage>")
    func l402kitToken() throws {
        let raw = try PaymentResponseReader.parseHTTPResponse(try Self.fixture("l402kit-402.http"))
        let reading = PaymentResponseReader.read(status: raw.status, headers: raw.headers, body: raw.body, receivedAt: F.now)
        #expect(reading.skipped.isEmpty, "\(reading.skipped)")
        let read = try #require(reading.offers.first)
        #expect(reading.offers.count == 1 && read.dialect == .l402)
        #expect(read.offer.id == F.hex(F.paymentHash) && read.offer.details["paymentHash"] == F.hex(F.paymentHash))
        let hundred = try Money(amount: 100, unit: .sat)
        #expect(read.offer.payee.count == 66 && read.offer.amount == hundred)
        let token = try #require(read.offer.details[L402TokenChallenge.tokenDetail])
        #expect(token.hasPrefix("eyJoYXNoIjog"))
        let fields = try read.credentialFields(for: F.credential(for: read.offer))
        #expect(fields["Authorization"] == "L402 \(token):\(F.hex(F.preimage))")
        // A preimage that does not pay the invoice is never sent.
        let wrong = Credential(rail: .lightning, offerID: read.offer.id, payload: ["preimage": String(repeating: "11", count: 32)])
        #expect(throws: WireError.self) { try read.credentialFields(for: wrong) }
    }

    @Test("an LSAT + L402 pair of one opaque token is one offer")
    func pairIsOneOffer() throws {
        let offer = try F.lightningOffer(key: try Secp256k1.PrivateKey())
        let invoice = try #require(offer.details["invoice"])
        let reading = Self.read([#"LSAT macaroon="opaque-1", invoice="\#(invoice)""#, #"L402 token="opaque-1", invoice="\#(invoice)""#])
        #expect(reading.offers.count == 1 && reading.skipped.isEmpty, "\(reading.skipped)")
        #expect(reading.offers.first?.offer.details[L402TokenChallenge.tokenDetail] == "opaque-1")
    }

    @Test("an unusable L402 challenge says what is wrong with it", arguments: [
        (#"L402 macaroon="opaque-1""#, "has no invoice"),
        (#"L402 invoice="INVOICE""#, "has no token"),
        (#"L402 version="1", token="opaque-1", invoice="INVOICE""#, "version"),
        (#"L402 token="a", macaroon="b", invoice="INVOICE""#, "disagree"),
        (#"L402 macaroon="opaque-1", invoice="lnbc1notaninvoice""#, "invoice cannot be read"),
        (#"L402 token="has space", invoice="INVOICE""#, "cannot be presented"),
    ])
    func reasons(_ value: String, _ expected: String) throws {
        let offer = try F.lightningOffer(key: try Secp256k1.PrivateKey())
        let reading = Self.read([value.replacingOccurrences(of: "INVOICE", with: try #require(offer.details["invoice"]))])
        #expect(reading.offers.isEmpty)
        #expect(reading.skipped.count == 1, "\(reading.skipped)")
        let reason = try #require(reading.skipped.first?.reason)
        #expect(reason.contains(expected), "\(reason)")
        #expect(!reason.contains("lacks a usable macaroon or invoice"))
    }
}
