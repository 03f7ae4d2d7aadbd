import Foundation
import PayRail
import PayRailCrypto
import PayRailTestPeers
import PayRailWire
import Testing

/// Interop with programs nobody here wrote: the PyPI `x402` SDK (2.25.0) and `x402-conformance` (1.6.0),
/// through `Fixtures/x402/x402_peer.py`. A missing peer fails the test with PythonPeer's message.
@Suite("x402 interop with the Python SDK and x402-conformance")
struct X402InteropTests {
    static let peer = X402Fixtures.url("x402_peer.py")
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func run(_ command: String, _ input: String) throws -> JSONValue {
        let output = try PythonPeer.run(peer, [command], input: Data(input.utf8))
        return try CanonicalJSON.parse(Array(output.utf8))
    }

    /// The SDK's structural check AND its full JSON-Schema check must pass: the pinned peers include
    /// `x402[extensions]` (jsonschema, idna), so "schema check unavailable" is a failure, never a pass.
    static func expectIdentifierAccepted(_ report: JSONValue) throws {
        #expect(try X402Fixtures.member(report, "structureOK") == .bool(true))
        #expect(try X402Fixtures.member(report, "schemaCheckUnavailable") == .bool(false), "the SDK could not run its schema check: install the pinned peers (x402[extensions])")
        #expect(try X402Fixtures.member(report, "errors") == .array([]))
        #expect(try X402Fixtures.member(report, "valid") == .bool(true))
    }

    /// Our own PaymentRequired: the spec's Lightning offer, a card offer on three networks and a fake
    /// offer, with payment-identifier required.
    static func ourPaymentRequired() throws -> X402PaymentRequired {
        let lnSpec = try X402PaymentRequirements(json: try X402Fixtures.member(try X402Fixtures.json("x402-exact-lnbtc-vectors.json"), "paymentRequirements"))
        let invoice = try #require(lnSpec.extraString("invoice"))
        let binding = X402RequestBinding.http(method: "GET", url: "https://api.example.com/article/A", body: [], headers: [])
        let lightning = Offer(rail: .lightning, amount: try Money(amount: 25, unit: .sat),
                              payee: lnSpec.payTo, expiresAt: now.addingTimeInterval(300), id: "h",
                              details: ["invoice": invoice, "network": "mainnet"])
        let context = X402OfferContext(now: now, requestBinding: binding, cardNetworks: X402Network.cardNetworks)
        var accepts = try X402PaymentRequirements.requirements(for: lightning, context: context)
        accepts += try X402PaymentRequirements.requirements(for: try X402RailsTests.cardOffer(), context: context)
        accepts += try X402PaymentRequirements.requirements(for: Offer(
            rail: .fake, amount: try Money(amount: 250, unit: .usd), payee: "acct_merchant", expiresAt: now.addingTimeInterval(120),
            id: "req_123", details: ["processorKey": "cHJvY2Vzc29yLWtleQ"]), context: context)
        var extensions: [String: JSONValue] = [:]
        X402PaymentIdentifier.declare(in: &extensions, required: true)
        return X402PaymentRequired(
            resource: X402ResourceInfo(url: "https://api.example.com/article/A", description: "Article A", mimeType: "text/html"),
            accepts: accepts, error: "PAYMENT-SIGNATURE header is required", extensions: extensions)
    }

    @Test("the SDK parses our PAYMENT-REQUIRED with its own decoder and schema, and x402-conformance passes every check")
    func sdkAndConformanceAcceptOurChallenge() throws {
        let message = try Self.ourPaymentRequired()
        let header = try X402Codec.encodePaymentRequired(message)
        let report = try Self.run("check-required", header)
        #expect(try X402Fixtures.member(report, "x402Version") == .number(2))
        #expect(try X402Fixtures.string(report, "resourceUrl") == "https://api.example.com/article/A")
        #expect(try X402Fixtures.member(report, "paymentIdentifierRequired") == .bool(true))
        try Self.expectIdentifierAccepted(try X402Fixtures.member(report, "paymentIdentifier"))
        guard case .array(let accepts) = try X402Fixtures.member(report, "accepts"),
              case .array(let checks) = try X402Fixtures.member(report, "conformance")
        else { Issue.record("peer report has no accepts or conformance"); return }
        #expect(accepts.count == message.accepts.count)
        // What the SDK's schema read is exactly what we wrote, entry by entry.
        for (sdk, ours) in zip(accepts, message.accepts) {
            #expect(try X402PaymentRequirements(json: sdk) == ours)
        }
        #expect(checks.count == 7)
        for check in checks {
            let name = (try? X402Fixtures.string(check, "check")) ?? "?"
            #expect(try X402Fixtures.member(check, "pass") == .bool(true), "\(name): \((try? X402Fixtures.string(check, "detail")) ?? "")")
        }
    }

    @Test("x402-conformance fails a challenge we refuse to write (so the passing verdict above means something)")
    func conformanceIsNotAYesMachine() throws {
        var requirements = try X402PaymentRequirements(scheme: "exact", network: "payrail:fake", amount: "1", asset: "usd", payTo: "p", maxTimeoutSeconds: 60)
        requirements.network = "lightning:mainnet"
        let json = try CanonicalJSON.serialize(X402PaymentRequired(resource: X402ResourceInfo(url: "https://a.example/"), accepts: [requirements]).json)
        let report = try Self.run("check-required", Base64.encode(json))
        guard case .array(let checks) = try X402Fixtures.member(report, "conformance") else { Issue.record("no checks"); return }
        let failed = checks.filter { (try? X402Fixtures.member($0, "pass")) == .bool(false) }
        #expect(failed.count == 1)
        #expect(failed.first.flatMap { try? X402Fixtures.string($0, "check") }?.hasPrefix("P4") == true)
        let message = X402PaymentRequired(resource: X402ResourceInfo(url: "https://a.example/"), accepts: [requirements])
        #expect(throws: WireError.self) { try X402Codec.encodePaymentRequired(message) }
    }

    @Test("the SDK decodes our PAYMENT-SIGNATURE and finds our payment identifier; and our PAYMENT-RESPONSE")
    func sdkReadsOurSignatureAndResponse() throws {
        let message = try Self.ourPaymentRequired()
        let lightning = try #require(message.accepts.first)
        let vectors = try X402Fixtures.json("x402-exact-lnbtc-vectors.json")
        let preimage = try X402Fixtures.string(vectors, "payloadPreimage")
        let id = try X402PaymentIdentifier("pay_7d5d747be160e280504c099d984bcfe0")
        let payload = try X402Agent.payload(
            answering: lightning, with: Credential(rail: .lightning, offerID: "h", payload: ["preimage": preimage]),
            resource: message.resource, serverExtensions: message.extensions, paymentIdentifier: id)
        let report = try Self.run("check-signature", try X402Codec.encodePaymentSignature(payload))
        #expect(try X402Fixtures.string(report, "network") == X402Network.lightningMainnet)
        #expect(try X402Fixtures.string(report, "paymentId") == id.id)
        try Self.expectIdentifierAccepted(try X402Fixtures.member(report, "paymentIdentifier"))
        #expect(try X402Fixtures.member(report, "payloadKeys") == .array([.string("preimage")]))

        let response = X402SettlementResponse(success: true, transaction: try X402Fixtures.string(vectors, "settlementResponse", "transaction"),
                                              network: X402Network.lightningMainnet)
        let decoded = try Self.run("check-response", try X402Codec.encodePaymentResponse(response))
        #expect(decoded == (try X402Fixtures.member(vectors, "settlementResponse")))
    }

    @Test("we decode what the SDK's own types produce: PaymentRequired, PaymentPayload, SettleResponse, and v1")
    func weReadTheSDK() throws {
        let produced = try Self.run("produce", "")
        let required = try X402Codec.decodePaymentRequired(try X402Fixtures.string(produced, "paymentRequired"))
        #expect(required.accepts.map(\.network) == [X402Network.lightningMainnet, "card:visa", "payrail:fake"])
        #expect(X402PaymentIdentifier.isRequired(by: required.extensions))
        let offers = X402Agent.offers(from: .version2(required), receivedAt: Self.now)
        #expect(offers.map(\.offer.rail) == [.lightning, .stripe, .fake])
        #expect(offers.first?.offer.id == (try X402Fixtures.string(try X402Fixtures.json("x402-exact-lnbtc-vectors.json"), "settlementResponse", "transaction")))

        let (payload, credential) = try X402Server.readCredential(try X402Fixtures.string(produced, "paymentSignature"))
        #expect(credential.rail == .lightning && credential.payload["preimage"] != nil)
        #expect(try X402PaymentIdentifier.check(payloadExtensions: payload.extensions, serverExtensions: required.extensions)?.id
                == "pay_7d5d747be160e280504c099d984bcfe0")
        let lightningRequirements = try #require(required.accepts.first)
        #expect(X402Server.accepted(payload.accepted, matches: lightningRequirements))

        let (_, card) = try X402Server.readCredential(try X402Fixtures.string(produced, "cardPaymentSignature"))
        #expect(card.rail == .stripe && card.payload["token"] == "pm_1Nxyz")

        // The SDK writes its settlement JSON with spaces after separators; we read it all the same.
        let settled = try X402Codec.decodePaymentResponse(try X402Fixtures.string(produced, "paymentResponse"))
        #expect(settled.success && settled.payer == nil && settled.network == X402Network.lightningMainnet)
        let failed = try X402Codec.decodePaymentResponse(try X402Fixtures.string(produced, "paymentResponseFailure"))
        #expect(!failed.success && failed.transaction.isEmpty && failed.errorReason == "invalid_exact_lnbtc_request_mismatch")

        let v1 = try X402Codec.decodeVersion1PaymentRequired(body: Array(try X402Fixtures.string(produced, "v1Body").utf8))
        #expect(v1.accepts.first?.maxAmountRequired == "250")
        guard case .version1(let challenge)? = try X402Codec.readChallenge(headers: HTTPFields(), body: Array(try X402Fixtures.string(produced, "v1Body").utf8)) else {
            Issue.record("the SDK's v1 body is not read as a version 1 challenge"); return
        }
        let v1Offers = X402Agent.offers(from: .version1(challenge), receivedAt: Self.now)
        #expect(v1Offers.map(\.dialect) == [.x402v1] && v1Offers.first?.offer.id == "req_123")
        let xPayment = try X402Codec.decodeVersion1Payment(try X402Fixtures.string(produced, "v1XPayment"))
        #expect(xPayment.network == "payrail:fake" && xPayment.payload["voucher"] == .string("v.o.u"))
    }
}
