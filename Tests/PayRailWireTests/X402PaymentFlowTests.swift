import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

/// Issue #16 point 7 (x402): `extra.paymentFlow` declared on every offer written and honoured on every
/// offer read (specs/schemes/exact/scheme_exact.md); `SettlementResponse.amount`; the receipt in the
/// `offer-receipt` extension (specs/extensions/extension-offer-and-receipt.md, format jws).
@Suite("x402: paymentFlow, settlement amount, offer-receipt")
struct X402PaymentFlowTests {
    typealias F = WireSetFixture

    static func written() throws -> [X402PaymentRequirements] {
        let context = X402OfferContext(now: F.now, requestBinding: F.binding)
        return try X402PaymentRequirements.requirements(for: try F.lightningOffer(key: try Secp256k1.PrivateKey()), context: context)
            + X402PaymentRequirements.requirements(for: try F.fakeOffer(), context: context)
            + X402PaymentRequirements.requirements(for: try F.stripeOffer(), context: context)
    }

    @Test("every offer PayRail writes declares its paymentFlow: lnbtc and fake upfront, cards escrow")
    func everyOfferDeclaresItsFlow() throws {
        let flows = try Self.written().map { ($0.network, $0.extra["paymentFlow"]) }
        #expect(flows.count == 3)
        for (network, flow) in flows {
            #expect(flow == .string(network.hasPrefix("card:") ? "escrow" : "upfront"), "\(network)")
        }
    }

    @Test("every offer read honours paymentFlow: absent is authorize; unknown flows and flows the rail cannot follow are refused")
    func everyOfferReadHonoursTheFlow() throws {
        let all = try Self.written()
        let lightning = try #require(all.first { $0.network.hasPrefix("lnbtc:") })
        let fake = try #require(all.first { $0.network == X402Network.fake })
        let card = try #require(all.first { $0.network.hasPrefix("card:") })
        func read(_ requirements: X402PaymentRequirements, _ flow: JSONValue?) -> WireError? {
            var copy = requirements
            copy.extra["paymentFlow"] = flow
            do { _ = try X402Agent.offer(from: copy, receivedAt: F.now); return nil } catch { return error }
        }
        // fake: authorize (also when absent) and upfront are paid; escrow and unknown flows are not.
        #expect(read(fake, nil) == nil && read(fake, .string("authorize")) == nil && read(fake, .string("upfront")) == nil)
        #expect(read(fake, .string("escrow"))?.code == .unsupported)
        #expect(read(fake, .string("instant"))?.reason.contains("is not authorize, escrow or upfront") == true)
        #expect(read(fake, .number(1))?.code == .malformed)
        // lnbtc: a paid invoice is settled, so only upfront; the default (absent) is authorize.
        #expect(read(lightning, .string("upfront")) == nil)
        #expect(read(lightning, nil)?.reason.contains("the default when absent") == true)
        #expect(read(lightning, .string("escrow"))?.code == .unsupported)
        // auth-capture cards: escrow only.
        #expect(read(card, .string("escrow")) == nil && read(card, .string("upfront"))?.code == .unsupported)
    }

    @Test("SettlementResponse: amount and the offer-receipt JWS written and read back")
    func settlementAmountAndReceipt() throws {
        let jws = "eyJhbGciOiJFZERTQSIsImtpZCI6ImdhdGUtMSJ9.eyJqdGkiOiJjaCJ9.c2ln"
        let response = X402SettlementResponse(success: true, transaction: "req_1", network: X402Network.fake, amount: "250")
        var fields = HTTPFields()
        fields.append("Payment-Receipt", "kept")
        fields.append(X402HeaderName.paymentResponse, try X402Codec.encodePaymentResponse(response))
        let attached = X402OfferReceipt.attaching(receiptJWS: jws, to: fields)
        #expect(attached["Payment-Receipt"] == "kept")
        let back = try X402Codec.decodePaymentResponse(try #require(attached[X402HeaderName.paymentResponse]))
        #expect(back.amount == "250" && back.offerReceiptJWS == jws)
        #expect(back.extensions["offer-receipt"] == .object(["info": .object(["receipt": .object([
            "format": .string("jws"), "signature": .string(jws)])])]))
        // A failed settlement carries no receipt.
        let failed = X402SettlementResponse(success: false, transaction: "", network: X402Network.fake, errorReason: "invalid")
        let unchanged = X402OfferReceipt.attaching(receiptJWS: jws, to: HTTPFields([(X402HeaderName.xPaymentResponse, try X402Codec.encodePaymentResponse(failed))]))
        #expect(try X402Codec.decodePaymentResponse(try #require(unchanged[X402HeaderName.xPaymentResponse])).offerReceiptJWS == nil)
    }
}
