import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// The problem type a refusal carries, whatever the dialect wrote it in.
func problemURI(_ response: GateResponse) -> String? {
    // Plain bodies (type "x402") carry the problem URI in `problem`; Payment refusals are problem+json.
    if let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
       let problem = object["problem"] as? String { return problem }
    return (try? ProblemDetails.parse(response.body))?.type
}

@Suite("Gate refusals") struct GateRefusalTests {
    /// Pays the Payment offer, lets `tamper` change the credential, and returns the gate's answer.
    func presentPayment(_ world: GateWorld, tamper: (inout PaymentCredential) throws -> Void) async throws -> GateResponse {
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        guard case .payment(let challenge) = read.answer else { throw TestFailure("not a Payment offer") }
        var credential = PaymentCharge.credential(answering: challenge, with: try await world.payer.pay(read.offer))
        try tamper(&credential)
        let decision = await world.gate.handle(world.request("/premium", HTTPFields([("Authorization", try credential.headerValue())])))
        return try #require(decision.response)
    }

    func expectFreshChallenge(_ response: GateResponse, _ problem: PaymentProblemType, _ world: GateWorld) {
        #expect(response.status == 402)
        #expect(problemURI(response) == problem.uri)
        let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: world.clock.now())
        #expect(!reading.offers.isEmpty)
    }

    @Test func badHMACIDIsRefused() async throws {
        let world = try await GateWorld.make()
        let response = try await presentPayment(world) { $0.challenge.id = String(repeating: "A", count: 43) }
        expectFreshChallenge(response, .invalidChallenge, world)
        #expect(await world.agentBalance() == 99_900)  // the voucher was issued, never redeemed
        #expect(await world.merchantBalance() == 0)
    }

    @Test func wrongAmountIsRefused() async throws {
        let world = try await GateWorld.make()
        let response = try await presentPayment(world) { credential in
            var request = try ChargeRequest.decode(credential.challenge.request)
            request.amount = 1
            credential.challenge.request = try request.encoded()
        }
        expectFreshChallenge(response, .invalidChallenge, world)
        #expect(await world.merchantBalance() == 0)
    }

    @Test func tamperedVoucherIsRefused() async throws {
        let world = try await GateWorld.make()
        let response = try await presentPayment(world) { credential in
            guard case .string(let voucher)? = credential.payload["voucher"] else { return }
            // Change one character inside the signature (not the last, whose spare bits must stay
            // zero): still canonical base64url, so the refusal is the signature's, not the encoding's.
            var characters = Array(voucher)
            let index = characters.count - 10
            characters[index] = characters[index] == "A" ? "B" : "A"
            credential.payload["voucher"] = .string(String(characters))
        }
        expectFreshChallenge(response, .verificationFailed, world)
        #expect(await world.merchantBalance() == 0)
    }

    @Test func expiredChallengeIsRefused() async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        // Past the challenge's 300 s and the 24 h presentation grace (within the grace a payment
        // made in time is still granted: see paidInTimePresentedLateIsGranted).
        world.clock.advance(by: 301 + 86_400)
        let response = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        expectFreshChallenge(response, .paymentExpired, world)
        #expect(await world.merchantBalance() == 0)
    }

    @Test("a fake-rail payment made before the offer expired and presented after the challenge's lifetime is granted, once")
    func paidInTimePresentedLateIsGranted() async throws {
        for dialect in [PaymentDialect.plain, .payment, .x402] {
            let world = try await GateWorld.make()
            let (_, reading) = try await world.challenge()
            let read = try world.offer(reading, dialect)
            let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
            #expect(await world.agentBalance() == 99_900)
            world.clock.advance(by: 3_600)
            let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass, "\(dialect)")
            #expect(pass.grant?.isRegrant == false)
            #expect(await world.merchantBalance() == 100, "\(dialect)")
            try await world.gate.complete(pass, response: resourceBody)
            #expect(await world.gate.handle(world.request("/premium", fields)).isReplay)
            #expect(await world.merchantBalance() == 100)
        }
    }

    @Test func otherResourceIsRefused() async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge("/premium")
        let read = try world.offer(reading, .x402)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let response = try #require(await world.gate.handle(world.request("/other", fields)).response)
        expectFreshChallenge(response, .invalidChallenge, world)
        #expect(await world.merchantBalance() == 0)
    }

    @Test func unknownChallengeIsRefused() async throws {
        let world = try await GateWorld.make()
        let elsewhere = try await GateWorld.make()
        let (_, reading) = try await elsewhere.challenge()
        let read = try elsewhere.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await elsewhere.payer.pay(read.offer))
        let response = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        expectFreshChallenge(response, .invalidChallenge, world)
    }

    @Test func rotationAcceptsOldSecretUntilCutOff() async throws {
        let world = try await GateWorld.make()
        let newSecret = try SecureRandom.bytes(count: 32)
        let rotated = try world.configuration.keyring.rotated(to: newSecret, at: world.clock.now(), maximumChallengeLifetime: 600)
        var configuration = world.configuration
        configuration.keyring = rotated
        let newGate = Gate(configuration: configuration)
        // Challenge issued under the old secret, paid after the rotation: accepted.
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        #expect(await newGate.handle(world.request("/premium", fields)).pass?.grant != nil)
        // Past the cut-off the old secret no longer verifies (a forged challenge looks the same).
        var late = configuration
        late.keyring = try rotated.rotated(to: try SecureRandom.bytes(count: 32), at: world.clock.now().addingTimeInterval(700), maximumChallengeLifetime: 600)
        let (_, reading2) = try await world.challenge()
        let read2 = try world.offer(reading2, .payment)
        let fields2 = try read2.credentialFields(for: try await world.payer.pay(read2.offer))
        world.clock.advance(by: 601)
        let refused = try #require(await Gate(configuration: late).handle(world.request("/premium", fields2)).response)
        #expect(refused.status == 402)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("log lines escape control characters and bidi overrides from the request, and stay bounded")
    func logLinesEscapeControlBytes() async throws {
        let world = try await GateWorld.make()
        var configuration = world.configuration
        configuration.pricing = try PricingTable(parsing: ["GET /premium/*=100sat"], rails: [.fake])
        let gate = Gate(configuration: configuration)
        // ASCII controls never become a resource (400, unlogged); C1 controls (a one-character CSI)
        // and bidi overrides pass as UTF-8, and must not reach the operator's terminal raw.
        _ = await gate.handle(world.request("/premium/\u{1B}[2J\r\nforged"))
        let hostile = "/premium/q=\u{9B}2J\u{85}payrail-gate\u{2028}forged\u{202E}" + String(repeating: "a", count: 5000)
        _ = await gate.handle(world.request(hostile))
        _ = await gate.handle(world.request(hostile, HTTPFields([("X-Receipt", "not.avoucher")])))
        let lines = world.logs.lines
        #expect(lines.contains { $0.contains("\\u{9b}2J\\u{85}") && $0.contains("\\u{202e}") }, "\(lines.map { String($0.prefix(200)) })")
        #expect(lines.contains { $0.hasSuffix("...(cut)") })
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E || $0.value == 0x2028 })
            #expect(line.utf8.count < 1200)
        }
    }

    @Test func logsCarryNoCredentialMaterial() async throws {
        let world = try await GateWorld.make()
        var secrets: [String] = []
        for dialect in [PaymentDialect.payment, .x402, .plain] {
            let (_, reading) = try await world.challenge()
            let read = try world.offer(reading, dialect)
            let credential = try await world.payer.pay(read.offer)
            secrets += credential.payload.values
            let fields = try read.credentialFields(for: credential)
            secrets += fields.map(\.value)
            let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
            let token = try #require(pass.grant?.receiptToken)
            secrets.append(token)
            try await world.gate.complete(pass, response: resourceBody)
            _ = await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)])))
            _ = await world.gate.handle(world.request("/premium", fields))
        }
        let lines = world.logs.lines
        #expect(lines.count > 6)
        for secret in secrets {
            let probe = String(secret.suffix(24))
            #expect(!lines.contains { $0.contains(probe) }, "a log line contains credential material")
        }
        #expect(!lines.contains { $0.contains(Base64URL.encode(world.secret)) })
    }

    @Test func concurrentPresentationsGrantOnce() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gate-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let world = try await GateWorld.make(store: { clock in try SQLiteGateStore(path: path, clock: clock) })
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let gate = world.gate
        let request = world.request("/premium", fields)
        let decisions = await withTaskGroup(of: GateDecision.self) { group in
            for _ in 0..<200 { group.addTask { await gate.handle(request) } }
            var all: [GateDecision] = []
            for await decision in group { all.append(decision) }
            return all
        }
        let grants = decisions.compactMap { $0.pass?.grant }
        #expect(grants.count == 1)
        #expect(decisions.allSatisfy { $0.pass != nil || [402, 409].contains($0.response?.status ?? 0) })
        #expect(await world.merchantBalance() == 100)
        #expect(await world.agentBalance() == 99_900)
    }
}
