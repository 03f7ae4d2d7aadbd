import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

/// A fake and a Lightning offer, and a challenge set with every dialect switched on.
enum WireSetFixture {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
    static let preimage = Array(repeating: UInt8(0x42), count: 32)
    static let paymentHash = SHA256.hash(preimage)
    static let binding = X402RequestBinding.http(method: "GET", url: "https://api.example.com/article/A", body: [], headers: [])
    static let rootKey = Array(repeating: UInt8(0x07), count: 32)
    static let secret = Array("challenge-set-test-secret-of-32-bytes!".utf8)
    static let voucher = "eyJyaWQiOiJyZXFfMTIzIn0.c2lnbmF0dXJl"

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func lightningOffer(key: Secp256k1.PrivateKey, hrp: String = "lnbc1u", network: String = "mainnet") throws -> Offer {
        let invoice = try TestInvoice.make(hrp: hrp, timestamp: 1_700_000_000, fields: [
            .paymentHash(paymentHash), .descriptionHash(try binding.requestHashBytes()), .expiry(3600),
        ], key: key)
        return Offer(
            rail: .lightning, amount: try Money(amount: 100, unit: .sat), payee: hex(key.publicKey.compressedRepresentation),
            expiresAt: now.addingTimeInterval(3600), id: hex(paymentHash),
            details: ["invoice": invoice, "paymentHash": hex(paymentHash), "network": network])
    }

    static func fakeOffer() throws -> Offer {
        Offer(
            rail: .fake, amount: try Money(amount: 250, unit: .usd), payee: "acct_merchant", expiresAt: now.addingTimeInterval(300),
            id: "req_123", details: ["requestID": "req_123", "processorKey": "pk_test_fake", "challengeID": "ch_1"])
    }

    static func stripeOffer() throws -> Offer {
        Offer(
            rail: .stripe, amount: try Money(amount: 500, unit: .usd), payee: "acct_stripe", expiresAt: now.addingTimeInterval(600),
            id: "pi_offer", details: ["networkId": "net_1", "paymentMethodTypes": "card"])
    }

    static func set() throws -> ChallengeSet {
        ChallengeSet(
            realm: "api.example.com", keyring: try ChallengeIDKeyring(currentSecret: secret), macaroonRootKey: rootKey,
            macaroonCaveats: [try L402Caveat.services([try L402Service(name: "article")])],
            x402Resource: X402ResourceInfo(url: "https://api.example.com/article/A", description: "Article A", mimeType: "text/html"),
            x402RequestBinding: binding, description: "Article A")
    }

    static func credential(for offer: Offer) -> Credential {
        offer.rail == .lightning
            ? Credential(rail: .lightning, offerID: offer.id, payload: ["preimage": hex(preimage)])
            : Credential(rail: .fake, offerID: offer.id, payload: ["voucher": voucher])
    }

    /// The amount in msat for Lightning (dialects price it in sat or msat), else as is.
    static func comparable(_ money: Money) -> String {
        if let msat = try? money.converted(to: .msat), money.unit.kind == .bitcoin { return "\(msat.amount) msat" }
        return "\(money.amount) \(money.unit.code)"
    }
}

@Suite("ChallengeSet: one 402 in every dialect, read back by the agent")
struct ChallengeSetTests {
    typealias F = WireSetFixture

    @Test("end to end: fake + lightning rendered, read back in every dialect, each credential accepted by its server reader")
    func endToEnd() throws {
        let key = try Secp256k1.PrivateKey()
        let lightning = try F.lightningOffer(key: key), fake = try F.fakeOffer()
        let set = try F.set()
        let response = try set.paymentRequired(offers: [lightning, fake], now: F.now)
        #expect(response.status == 402)
        #expect(response.skipped.filter { $0.dialect != .l402 }.isEmpty, "\(response.skipped)")
        #expect(response.skipped.map(\.offerID) == ["req_123"])  // only: L402 has no fake form
        #expect(response.headers["Cache-Control"] == "no-store")
        #expect(response.headers["Content-Type"] == "application/json")
        for field in response.headers { #expect(field.value.utf8.count < 8192, "\(field.name)") }
        let authenticate = response.headers.values("WWW-Authenticate")
        #expect(authenticate.count == 4)
        #expect(authenticate.first?.hasPrefix("LSAT ") == true)
        #expect(authenticate.filter { $0.hasPrefix("Payment ") }.count == 2)
        #expect(response.headers["PAYMENT-REQUIRED"] != nil)

        // Parse the HTTP text, as a client on the wire would.
        let raw = try PaymentResponseReader.parseHTTPResponse(Array(response.http1Text.utf8))
        #expect(raw.status == 402 && raw.headers == response.headers && raw.body == response.body)
        let reading = PaymentResponseReader.read(
            status: raw.status, headers: raw.headers, body: raw.body, receivedAt: F.now, expectedRequest: F.binding)
        #expect(reading.skipped.isEmpty, "\(reading.skipped)")
        let byDialect = Dictionary(grouping: reading.offers, by: \.dialect)
        #expect(byDialect[.payment]?.count == 2)
        #expect(byDialect[.x402]?.count == 2)
        #expect(byDialect[.l402]?.count == 1)
        #expect(byDialect[.plain]?.count == 2)

        for read in reading.offers {
            let original = read.offer.rail == .lightning ? lightning : fake
            #expect(read.offer.id == original.id, "\(read.dialect)")
            #expect(read.offer.payee == original.payee, "\(read.dialect)")
            #expect(F.comparable(read.offer.amount) == F.comparable(original.amount), "\(read.dialect)")
            #expect(abs(read.offer.expiresAt.timeIntervalSince(original.expiresAt)) <= 1, "\(read.dialect)")
            if read.offer.rail == .lightning { #expect(read.offer.details["invoice"] == lightning.details["invoice"]) }

            // The credential the agent builds is accepted by the server-side reader of that dialect.
            let fields = try read.credentialFields(for: F.credential(for: read.offer))
            switch read.dialect {
            case .payment:
                let credential = try #require(try PaymentCredential.find(in: fields))
                try set.keyring.verify(credential.challenge, now: F.now)
                let domain = try PaymentCharge.domainCredential(from: credential)
                #expect(domain.rail == original.rail && domain.offerID == original.id)
                #expect(domain.payload == F.credential(for: original).payload)
            case .x402:
                let header = try #require(fields[X402HeaderName.paymentSignature])
                let (payload, domain) = try X402Server.readCredential(header)
                let offered = try #require(response.x402?.accepts.first { X402Server.accepted(payload.accepted, matches: $0) })
                #expect(offered == payload.accepted)
                #expect(domain.rail == original.rail && domain.offerID == original.id)
            case .l402:
                let credential = try #require(try L402Credential.find(in: fields))
                let identifier = try credential.verify(rootKey: F.rootKey, checker: L402CaveatChecker(service: "article", now: F.now))
                #expect(identifier.paymentHashHex == lightning.id)
                #expect(try credential.domainCredential().offerID == lightning.id)
            case .plain:
                let receipt = try PlainReceipt.parse(try #require(fields[PlainReceipt.fieldName]))
                // The server finds the offer: by payment hash for a preimage, by rail for a proof.
                let found = try #require(response.offers.first { offer in
                    receipt.paymentHash.map { $0 == offer.details["paymentHash"] } ?? (offer.rail != .lightning)
                })
                let domain = try receipt.credential(for: found)
                #expect(domain.rail == original.rail && domain.offerID == original.id)
            case .x402v1:
                Issue.record("ChallengeSet writes no x402 version 1")
            }
        }
    }

    @Test("Accept-Payment orders every dialect the same way; q=0 drops a rail; nonsense is ignored")
    func ordering() throws {
        let key = try Secp256k1.PrivateKey()
        let lightning = try F.lightningOffer(key: key), fake = try F.fakeOffer()
        let set = try F.set()
        let response = try set.paymentRequired(offers: [lightning, fake], acceptPayment: ["fake/charge, lightning/*;q=0.5"], now: F.now)
        #expect(response.offers.map(\.rail) == [.fake, .lightning])
        #expect(response.paymentChallenges.map(\.method) == ["fake", "lightning"])
        #expect(response.x402?.accepts.map(\.network) == [X402Network.fake, X402Network.lightningMainnet])
        let reading = PaymentResponseReader.read(status: 402, headers: response.headers, body: response.body, receivedAt: F.now)
        #expect(reading.offers.filter { $0.dialect == .plain }.first?.offer.rail == .fake)  // `payment` = first
        let body = try CanonicalJSON.parse(response.body)
        guard case .object(let object) = body, case .object(let payment)? = object["payment"] else {
            Issue.record("no payment member"); return
        }
        #expect(payment["network"] == .string("fake"))

        let refused = try set.paymentRequired(offers: [lightning, fake], acceptPayment: ["lightning/charge;q=0, */*"], now: F.now)
        #expect(refused.offers.map(\.rail) == [.fake])
        #expect(refused.headers.values("WWW-Authenticate").allSatisfy { !$0.hasPrefix("LSAT") })
        for ignored in [["nonsense;;"], [], ["unknown/charge"], ["lightning/charge;q=0"]] {
            let kept = try set.paymentRequired(offers: [lightning, fake], acceptPayment: ignored, now: F.now)
            #expect(kept.offers.map(\.rail) == [.lightning, .fake], "\(ignored)")
        }
    }

    @Test("a rail with no form in a dialect is absent from it: regtest not in x402, stripe not in L402")
    func absentRails() throws {
        let key = try Secp256k1.PrivateKey()
        let regtest = try F.lightningOffer(key: key, hrp: "lnbcrt1u", network: "regtest")
        let stripe = try F.stripeOffer()
        var set = try F.set()
        set.x402CardNetworks = ["visa", "mastercard"]
        let response = try set.paymentRequired(offers: [regtest, stripe], now: F.now)
        #expect(response.x402?.accepts.map(\.network) == ["card:visa", "card:mastercard"])
        #expect(response.skipped.contains { $0.dialect == .x402 && $0.rail == .lightning })
        #expect(response.skipped.contains { $0.dialect == .l402 && $0.rail == .stripe })
        #expect(response.l402.count == 1 && response.paymentChallenges.count == 2)
        let reading = PaymentResponseReader.read(status: 402, headers: response.headers, body: response.body, receivedAt: F.now)
        #expect(Set(reading.offers.filter { $0.offer.rail == .lightning }.map(\.dialect)) == [.payment, .l402, .plain])
        #expect(Set(reading.offers.filter { $0.offer.rail == .stripe }.map(\.dialect)) == [.payment, .x402, .plain])

        // Without the per-dialect parameters, x402 and L402 are simply not written.
        let minimal = ChallengeSet(realm: "r", keyring: try ChallengeIDKeyring(currentSecret: F.secret))
        let plainOnly = try minimal.paymentRequired(offers: [regtest], now: F.now)
        #expect(plainOnly.headers["PAYMENT-REQUIRED"] == nil && plainOnly.l402.isEmpty)
        #expect(plainOnly.headers.values("WWW-Authenticate").count == 1)
        // No dialect at all can carry a Lightning offer without its invoice.
        let bare = Offer(rail: .lightning, amount: regtest.amount, payee: "p", expiresAt: F.now, id: "x")
        #expect(throws: WireError.self) { try minimal.paymentRequired(offers: [bare], now: F.now) }
    }

    @Test("a refused credential gets a fresh challenge set and the problem in the credential's dialect")
    func failures() throws {
        let key = try Secp256k1.PrivateKey()
        let offers = [try F.lightningOffer(key: key), try F.fakeOffer()]
        let set = try F.set()
        let first = try set.paymentRequired(offers: offers, now: F.now)

        let payment = try set.failure(
            offers: offers, now: F.now, dialect: .payment, problem: .verificationFailed, detail: "the preimage does not verify",
            challengeID: first.paymentChallenges.first?.id)
        #expect(payment.status == 402 && payment.headers["Content-Type"] == ProblemDetails.mediaType)
        let problem = try ProblemDetails.parse(payment.body)
        #expect(problem.paymentProblemType == .verificationFailed && problem.detail == "the preimage does not verify")
        #expect(problem.extensions["challengeId"] == .string(first.paymentChallenges.first?.id ?? ""))
        #expect(payment.paymentChallenges.count == 2 && payment.headers["PAYMENT-REQUIRED"] != nil)
        #expect(payment.x402?.error == nil)
        // The plain members ride along, so the agent still reads every offer from the problem body.
        let reread = PaymentResponseReader.read(status: 402, headers: payment.headers, body: payment.body, receivedAt: F.now)
        #expect(reread.offers.filter { $0.dialect == .plain }.count == 2 && reread.skipped.isEmpty, "\(reread.skipped)")

        let x402 = try set.failure(offers: offers, now: F.now, dialect: .x402, problem: .verificationFailed, detail: "invalid_exact_lnbtc_preimage")
        #expect(x402.x402?.error == "invalid_exact_lnbtc_preimage")
        #expect(try X402Codec.decodePaymentRequired(try #require(x402.headers["PAYMENT-REQUIRED"])).error == "invalid_exact_lnbtc_preimage")

        for dialect in [PaymentDialect.plain, .l402] {
            let plain = try set.failure(offers: offers, now: F.now, dialect: dialect, problem: .paymentExpired, detail: "expired")
            #expect(plain.headers["Content-Type"] == PlainChallenge.mediaType)
            let reading = try PlainChallenge.parse(body: plain.body, receivedAt: F.now)
            #expect(reading.problem == PaymentProblemType.paymentExpired.uri && reading.offers.count == 2)
            #expect(plain.l402.count == 1)  // fresh macaroon
            #expect(plain.l402.first?.macaroon != first.l402.first?.macaroon)
        }
        let badRequest = try set.failure(offers: offers, now: F.now, dialect: .payment, problem: .badRequest, detail: "two credentials")
        let badRequestProblem = try ProblemDetails.parse(badRequest.body)
        #expect(badRequest.status == 400 && badRequestProblem.status == 400)
        let plainBadRequest = try set.failure(offers: offers, now: F.now, dialect: .plain, problem: .badRequest, detail: "two receipts")
        guard case .object(let plainObject) = try CanonicalJSON.parse(plainBadRequest.body) else { Issue.record("not an object"); return }
        #expect(plainBadRequest.status == 400 && plainObject["status"] == .number(400) && plainObject["title"] == .string("Bad Request"))
    }

    @Test("the documented example response is still produced and read (docs/wire.md)")
    func documentedExample() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent("responses").appendingPathComponent("challenge-set-example.http")
        let text = try String(contentsOf: url, encoding: .utf8)
        let raw = try PaymentResponseReader.parseHTTPResponse(Array(text.utf8))
        let reading = PaymentResponseReader.read(status: raw.status, headers: raw.headers, body: raw.body, receivedAt: F.now, expectedRequest: F.binding)
        #expect(reading.skipped.isEmpty, "\(reading.skipped)")
        #expect(reading.offers.map(\.dialect) == [.payment, .payment, .x402, .x402, .l402, .plain, .plain])
        // Its Payment challenge ids verify under the test secret: the fixture is what ChallengeSet wrote.
        let keyring = try ChallengeIDKeyring(currentSecret: F.secret)
        for case .payment(let challenge) in reading.offers.map(\.answer) { try keyring.verify(challenge, now: F.now) }
    }
}
