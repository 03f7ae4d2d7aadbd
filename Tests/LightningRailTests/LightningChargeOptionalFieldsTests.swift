import Bolt11
import Foundation
import LightningRail
import LightningTestSupport
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

/// Issue #16 point 1: draft-lightning-charge-00 makes `recipient` and `paymentHash` OPTIONAL and the
/// invoice authoritative, so the agent must pay a charge that names neither, and still refuse one
/// whose named fields contradict the invoice.
@Suite("Lightning charge: optional fields, the invoice authoritative")
struct LightningChargeOptionalFieldsTests {
    /// A Payment challenge for `offer`'s invoice, with only the fields `extra` adds to the required ones.
    static func challenge(_ offer: Offer, recipient: String? = nil, extra: [String: JSONValue] = [:]) throws -> String {
        var methodDetails: [String: JSONValue] = ["invoice": .string(try #require(offer.details["invoice"]))]
        for (key, value) in extra { methodDetails[key] = value }
        let request = ChargeRequest(amount: 100, currency: "sat", recipient: recipient, methodDetails: methodDetails)
        let challenge = PaymentChallenge(
            id: "server-made-id", realm: "shop.example", method: "lightning", intent: "charge", request: try request.encoded())
        return try challenge.headerValue()
    }

    static func read(_ value: String, at now: Date) -> PaymentResponseReading {
        PaymentResponseReader.read(status: 402, headers: HTTPFields([("WWW-Authenticate", value)]), body: [], receivedAt: now)
    }

    @Test("a charge with only the invoice (no recipient, no paymentHash) is read from the invoice and paid")
    func invoiceOnlyIsPaid() async throws {
        let world = try await LightningWorld.make()
        let honest = try await world.payee.prepare(try world.charge(100))
        let reading = Self.read(try Self.challenge(honest), at: world.clock.now())
        let read = try #require(reading.offers.first, "\(reading.skipped)")
        #expect(read.offer.payee == honest.payee)  // the invoice's node, not the realm
        #expect(read.offer.id == honest.id)  // the invoice's payment hash, not the challenge id
        #expect(read.offer.details["paymentHash"] == honest.id)
        guard case .payable = await world.payer.quote(read.offer) else {
            Issue.record("the rail must accept a spec-valid charge")
            return
        }
        let credential = try await world.payer.pay(read.offer)
        #expect(credential.offerID == honest.id)
        #expect(try read.credentialFields(for: credential)["Authorization"]?.hasPrefix("Payment ") == true)
    }

    @Test("named fields that agree with the invoice are accepted")
    func agreeingFields() async throws {
        let world = try await LightningWorld.make()
        let honest = try await world.payee.prepare(try world.charge(100))
        let value = try Self.challenge(honest, recipient: honest.payee.uppercased(),
                                       extra: ["paymentHash": .string(honest.id), "network": .string("regtest")])
        let reading = Self.read(value, at: world.clock.now())
        #expect(reading.offers.first?.offer.id == honest.id && reading.offers.first?.offer.payee == honest.payee, "\(reading.skipped)")
    }

    @Test("a named field that contradicts the invoice refuses the challenge", arguments: ["recipient", "paymentHash", "network", "amount"])
    func lyingFieldIsRefused(_ field: String) async throws {
        let world = try await LightningWorld.make()
        let honest = try await world.payee.prepare(try world.charge(100))
        let value: String
        switch field {
        case "recipient": value = try Self.challenge(honest, recipient: "02" + String(repeating: "ab", count: 32))
        case "paymentHash": value = try Self.challenge(honest, extra: ["paymentHash": .string(String(repeating: "cd", count: 32))])
        case "network": value = try Self.challenge(honest, extra: ["network": .string("mainnet")])
        default:
            let request = ChargeRequest(amount: 99, currency: "sat", methodDetails: ["invoice": .string(try #require(honest.details["invoice"]))])
            value = try PaymentChallenge(id: "i", realm: "r", method: "lightning", intent: "charge", request: try request.encoded()).headerValue()
        }
        let reading = Self.read(value, at: world.clock.now())
        #expect(reading.offers.isEmpty)
        #expect(reading.skipped.count == 1 && reading.skipped.first?.dialect == .payment, "\(reading.skipped)")
    }

    @Test("an invoice that does not decode and no paymentHash: skipped, saying why")
    func undecodableInvoice() throws {
        let request = ChargeRequest(amount: 100, currency: "sat", methodDetails: ["invoice": .string("lnbc1notaninvoice")])
        let value = try PaymentChallenge(id: "i", realm: "r", method: "lightning", intent: "charge", request: try request.encoded()).headerValue()
        let reading = Self.read(value, at: Date())
        #expect(reading.offers.isEmpty)
        #expect(reading.skipped.first?.reason.contains("invoice cannot be read") == true, "\(reading.skipped)")
    }
}
