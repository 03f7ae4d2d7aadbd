import FakeRail
import Foundation
import PayRail
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// Issue #16, points 3 and 4: a credential's proof is usable once (draft-httpauth-payment-02, "Replay
/// Protection"): the same bytes replay the first grant, other reuse is refused; and every response
/// carrying a receipt is `Cache-Control: private` ("Caching").
@Suite("Gate: single-use proofs and private receipts (issue 16)") struct GateSingleUseTests {
    /// Pays `/premium` in `dialect`; returns the credential fields and the fake voucher behind them.
    private func paid(_ world: GateWorld, _ dialect: PaymentDialect) async throws -> (HTTPFields, Credential, ReadOffer) {
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, dialect)
        let credential = try await world.payer.pay(read.offer)
        return (try read.credentialFields(for: credential), credential, read)
    }

    private func problemType(_ response: GateResponse?) -> String? {
        guard let response else { return nil }
        // The plain dialect's refusal body names the problem in `problem` (its `type` is "x402").
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        if let problem = object?["problem"] as? String { return problem }
        return try? ProblemDetails.parse(response.body).type
    }

    @Test("a Payment credential again: the same bytes replay the first response; other bytes of the proof, or another request, are refused")
    func paymentCredentialIsSingleUse() async throws {
        let world = try await GateWorld.make()
        let (fields, credential, read) = try await paid(world, .payment)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        try await world.gate.complete(pass, response: resourceBody)

        let same = await world.gate.handle(world.request("/premium", fields))
        #expect(same.isReplay && same.response?.body == resourceBody.body)

        // The same proof (voucher) in a credential spelled otherwise: another payer id.
        guard case .payment(let challenge) = read.answer else { throw TestFailure("not a Payment offer") }
        var respelled = PaymentCharge.credential(answering: challenge, with: credential)
        respelled.source = "did:example:another-payer"
        let other = HTTPFields([("Authorization", try respelled.headerValue())])
        #expect(other["Authorization"] != fields["Authorization"])
        let refused = await world.gate.handle(world.request("/premium", other))
        #expect(!refused.isReplay && refused.pass == nil)
        #expect(refused.response?.status == 402)
        #expect(problemType(refused.response) == PaymentProblemType.invalidChallenge.uri)
        #expect(refused.response?.headers[PaymentReceipt.fieldName] == nil)

        // The same bytes with a body the first request did not have: another request.
        var withBody = world.request("/premium", fields)
        withBody.bodyDigest = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        let otherRequest = await world.gate.handle(withBody)
        #expect(!otherRequest.isReplay && otherRequest.pass == nil && otherRequest.response?.status == 402)

        #expect(await world.merchantBalance() == 100)
        #expect(await world.agentBalance() == 99_900)
        #expect(world.logs.lines.contains { $0.contains("credential-reused") })
    }

    @Test("single use hashes the method and ignores the application's own Authorization value beside the Payment credential")
    func hashCoversMethodNotApplicationAuthorization() async throws {
        let world = try await GateWorld.make()
        let (fields, _, _) = try await paid(world, .payment)
        let value = try #require(fields["Authorization"])
        let first = HTTPFields([("Authorization", value), ("Authorization", "Bearer app-token-1")])
        let pass = try #require(await world.gate.handle(world.request("/premium", first)).pass)
        try await world.gate.complete(pass, response: resourceBody)

        // The payer's retry after its app refreshed its own token: still the same payment's bytes.
        let refreshed = HTTPFields([("Authorization", value), ("Authorization", "Bearer app-token-2")])
        let retry = await world.gate.handle(world.request("/premium", refreshed))
        #expect(retry.isReplay && retry.response?.body == resourceBody.body)

        // A HEAD with the GET's bytes is another request: it does not replay the GET's body.
        var head = world.request("/premium", first)
        head.method = "HEAD"
        let headAnswer = await world.gate.handle(head)
        #expect(!headAnswer.isReplay && headAnswer.pass == nil, "a HEAD replayed the GET's grant")
    }

    @Test("every single-use dialect: the voucher that won a grant, presented in another dialect's bytes, is refused",
          arguments: [PaymentDialect.payment, .x402, .plain])
    func settledProofIsNotGrantedTwiceAcrossDialects(_ first: PaymentDialect) async throws {
        let world = try await GateWorld.make()
        let (fields, credential, _) = try await paid(world, first)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        try await world.gate.complete(pass, response: resourceBody)
        #expect(await world.gate.handle(world.request("/premium", fields)).isReplay, "\(first)")

        let voucher = try #require(credential.payload["voucher"])
        let elsewhere: HTTPFields
        if first == .plain {
            let json = #"{"x402Version":1,"scheme":"exact","network":"\#(X402Network.fake)","payload":{"voucher":"\#(voucher)"}}"#
            elsewhere = HTTPFields([("X-PAYMENT", Data(json.utf8).base64EncodedString())])
        } else {
            elsewhere = HTTPFields([(PlainReceipt.fieldName, voucher)])
        }
        let again = await world.gate.handle(world.request("/premium", elsewhere))
        #expect(!again.isReplay && again.pass == nil, "\(first)")
        #expect(again.response?.status == 402, "\(first)")
        #expect(problemType(again.response) == PaymentProblemType.invalidChallenge.uri, "\(first)")
        #expect(await world.merchantBalance() == 100)
    }

    @Test("a dialect whose fields the shared list does not name: a forged proof for a granted offer is never taken for the same bytes")
    func forgedProofInAnUnlistedDialectIsRefused() async throws {
        let world = try await GateWorld.make()
        var configuration = world.configuration
        configuration.dialects = [TestHeaderDialect()] + GateDialects.standard
        let gate = Gate(configuration: configuration)
        let (_, reading) = try await world.challenge(gate: gate)
        let offer = try world.offer(reading, .plain).offer
        let voucher = try #require(try await world.payer.pay(offer).payload["voucher"])
        let fields = HTTPFields([("X-Test-Offer", offer.id), ("X-Test-Voucher", voucher)])
        let pass = try #require(await gate.handle(world.request("/premium", fields)).pass)
        try await gate.complete(pass, response: resourceBody)
        #expect(await gate.handle(world.request("/premium", fields)).isReplay)

        // X-Test-* are not in CredentialFields: the hash must still tell this forged voucher apart.
        let forged = HTTPFields([("X-Test-Offer", offer.id), ("X-Test-Voucher", "AAAA.BBBB")])
        let answer = await gate.handle(world.request("/premium", forged))
        #expect(!answer.isReplay && answer.pass == nil)
        #expect(answer.response?.status == 402)
        #expect(answer.response?.body != resourceBody.body)
    }

    @Test("a first grant's answer is Cache-Control: private, and so is every replay (same bytes, receipt, Idempotency-Key), whatever the resource said")
    func receiptsArePrivateOnEveryPath() async throws {
        let world = try await GateWorld.make()
        let (proof, _, _) = try await paid(world, .plain)
        var fields = proof
        fields.append("Idempotency-Key", "job-1")
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        #expect(pass.responseHeaders[ReceiptCaching.fieldName] == "private")
        let token = try #require(pass.grant?.receiptToken)
        // The resource says its answer may be shared: a receipt overrides that, keeping the rest.
        let shareable = GateResponse(status: 200, headers: HTTPFields([("Content-Type", "text/plain"),
                                                                        ("Cache-Control", "public, s-maxage=600, max-age=60")]),
                                     body: resourceBody.body)
        try await world.gate.complete(pass, response: shareable)

        let replays = [
            await world.gate.handle(world.request("/premium", fields)),
            await world.gate.handle(world.request("/premium", proof)),
            await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)]))),
            await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)]))),
        ]
        for decision in replays {
            let response = try #require(decision.response)
            #expect(decision.isReplay && response.body == resourceBody.body)
            #expect(response.headers.values(ReceiptCaching.fieldName) == ["private, max-age=60"])
            #expect(response.headers[PaymentReceipt.fieldName] != nil)
        }
    }

    @Test("a response stored without Cache-Control (before this rule) is private when replayed; a regrant and a handed-back receipt are private")
    func legacyStoredResponsesAndRegrantsArePrivate() async throws {
        let world = try await GateWorld.make()
        let (fields, _, _) = try await paid(world, .payment)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        let grant = try #require(pass.grant)
        await world.gate.abandon(pass)

        // Nothing stored: the same credential gets its receipt back (private, no Payment-Receipt on a 409).
        let handedBack = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        #expect(handedBack.status == 409)
        #expect(handedBack.headers[ReceiptCaching.fieldName]?.hasPrefix("private") == true)
        let token = try #require(receiptHandedBack(.respond(handedBack)))
        let regrant = try #require(await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)]))).pass)
        #expect(regrant.grant?.isRegrant == true)
        #expect(regrant.responseHeaders[ReceiptCaching.fieldName] == "private")

        // A response written straight to the store, as an older PayRail did, without Cache-Control.
        try await world.store.saveResponse(StoredResponse(status: 200, headers: [StoredHeader(name: "Payment-Receipt", value: "x")],
                                                          body: Data("old".utf8)), receiptID: grant.challengeID)
        let replay = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        #expect(replay.body == Array("old".utf8))
        #expect(replay.headers[ReceiptCaching.fieldName] == "private")
    }

    @Test("Cache-Control merging keeps what is stricter and drops what would let a shared cache store a receipt")
    func cacheControlMerging() {
        #expect(ReceiptCaching.cacheControl(merging: []) == "private")
        #expect(ReceiptCaching.cacheControl(merging: ["public, s-maxage=600, max-age=60", "no-cache"]) == "private, max-age=60, no-cache")
        #expect(ReceiptCaching.cacheControl(merging: ["no-store", "private=\"Set-Cookie\""]) == "private, no-store")
        #expect(ReceiptCaching.cacheControl(merging: ["PUBLIC"]) == "private")
        let none = HTTPFields([("Cache-Control", "public")])
        #expect(ReceiptCaching.applied(to: none) == none)
        // CDN and proxy-cache directives (RFC 9213 and others) would override `private`: dropped.
        let cdn = ReceiptCaching.applied(to: HTTPFields([
            ("X-Receipt", "token"), ("CDN-Cache-Control", "public, max-age=600"), ("Cloudflare-CDN-Cache-Control", "max-age=600"),
            ("Surrogate-Control", "max-age=600"), ("X-Accel-Expires", "600"),
        ]))
        for name in ["CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control", "X-Accel-Expires"] { #expect(cdn[name] == nil, "\(name) kept beside a receipt") }
        #expect(cdn["Cache-Control"] == "private")
    }
}

/// L402 tokens are reusable by design (bLIP-26): PayRail keeps that within the grant.
@Suite("Gate: L402 tokens stay reusable within their grant (issue 16)") struct GateL402ReuseTests {
    @Test("a preimage that won as a Payment, x402 or plain credential stays single use when re-sent as an L402 token",
          arguments: [PaymentDialect.payment, .x402, .plain], [true, false])
    func singleUseWinnerCannotBeReusedThroughL402(_ first: PaymentDialect, stored: Bool) async throws {
        let world = try await LightningGateWorld.make()
        let reading = try await world.challenge()
        let read = try #require(reading.offers.first { $0.dialect == first })
        let l402 = try #require(reading.offers.first { $0.dialect == .l402 })
        let credential = try await world.payer.pay(read.offer)
        let pass = try #require(await world.gate.handle(world.request("/premium", try read.credentialFields(for: credential))).pass)
        if stored { try await world.gate.complete(pass, response: resourceBody) } else { await world.gate.abandon(pass) }

        // The same invoice's preimage, spelled as an L402 token: the proof was single use.
        let asL402 = try l402.credentialFields(for: credential)
        let again = await world.gate.handle(world.request("/premium", asL402))
        #expect(again.pass == nil, "a single-use proof was granted again through L402")
        #expect(!again.isReplay, "a single-use proof replayed through L402")
        #expect(again.response?.status == 402 || again.response?.status == 401, "\(again.response?.status ?? 0)")
    }

    @Test("an L402 token presented again, spelled LSAT, replays its grant; after an unstored grant it is served again; never settled twice")
    func l402TokenIsReusableWithinItsGrant() async throws {
        let world = try await LightningGateWorld.make()
        let read = try #require(try await world.challenge().offers.first { $0.dialect == .l402 })
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let value = try #require(fields["Authorization"])
        let first = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        await world.gate.abandon(first)

        // Nothing stored: the token (reusable) is served again, the same settlement.
        let againPass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        let again = try #require(againPass.grant)
        #expect(again.isRegrant && again.settlement.reference == first.grant?.settlement.reference)
        try await world.gate.complete(againPass, response: resourceBody)

        let lsat = HTTPFields([("Authorization", "LSAT " + value.drop(while: { $0 != " " }).dropFirst())])
        #expect(lsat["Authorization"] != value)
        let replay = await world.gate.handle(world.request("/premium", lsat))
        #expect(replay.isReplay && replay.response?.body == resourceBody.body)
        #expect(replay.response?.headers[ReceiptCaching.fieldName] == "private")
    }
}
