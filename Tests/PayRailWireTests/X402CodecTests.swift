import Foundation
import PayRailCrypto
import PayRailWire
import Testing

/// The x402 fixtures (copied from the x402 specs; see Fixtures/x402/SOURCE.md) and small readers.
enum X402Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("x402")

    static func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    static func json(_ name: String) throws -> JSONValue {
        try CanonicalJSON.parse(Array(try Data(contentsOf: url(name))))
    }

    static func text(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: url(name)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func member(_ value: JSONValue, _ path: String...) throws -> JSONValue {
        var current = value
        for key in path {
            guard case .object(let members) = current, let next = members[key] else {
                throw Missing(description: "fixture has no \(path.joined(separator: "."))")
            }
            current = next
        }
        return current
    }

    static func string(_ value: JSONValue, _ path: String...) throws -> String {
        var current = value
        for key in path {
            guard case .object(let members) = current, let next = members[key] else {
                throw Missing(description: "fixture has no \(path.joined(separator: "."))")
            }
            current = next
        }
        guard case .string(let text) = current else { throw Missing(description: "\(path) is not a string") }
        return text
    }

    struct Missing: Error, CustomStringConvertible { let description: String }

    static func base64(_ json: String) -> String { Base64.encode(Array(json.utf8)) }
}

@Suite("x402 header codec")
struct X402CodecTests {
    @Test("the spec's PAYMENT-REQUIRED decodes to exactly its published JSON")
    func specPaymentRequired() throws {
        let examples = try X402Fixtures.json("x402-http-examples.json")
        let header = try X402Fixtures.string(examples, "v2", "PAYMENT-REQUIRED")
        let message = try X402Codec.decodePaymentRequired(header)
        #expect(message.json == (try X402Fixtures.member(examples, "v2", "PAYMENT-REQUIRED.decoded")))
        #expect(message.resource.url == "https://api.example.com/premium-data")
        #expect(message.accepts.count == 1)
        #expect(message.accepts.first?.network == "eip155:84532")
        #expect(message.accepts.first?.maxTimeoutSeconds == 60)
        #expect(message.error == "PAYMENT-SIGNATURE header is required")
    }

    @Test("the spec's PAYMENT-SIGNATURE and both PAYMENT-RESPONSE examples decode to their JSON")
    func specSignatureAndResponses() throws {
        let v2 = try X402Fixtures.member(try X402Fixtures.json("x402-http-examples.json"), "v2")
        let payload = try X402Codec.decodePaymentSignature(try X402Fixtures.string(v2, "PAYMENT-SIGNATURE"))
        #expect(payload.json == (try X402Fixtures.member(v2, "PAYMENT-SIGNATURE.decoded")))
        #expect(payload.resource?.mimeType == "application/json")

        let success = try X402Codec.decodePaymentResponse(try X402Fixtures.string(v2, "PAYMENT-RESPONSE.success"))
        #expect(success.success && success.payer == "0x857b06519E91e3A54538791bDbb0E22373e36b66")
        #expect(success.json == (try X402Fixtures.member(v2, "PAYMENT-RESPONSE.success.decoded")))
        let failure = try X402Codec.decodePaymentResponse(try X402Fixtures.string(v2, "PAYMENT-RESPONSE.failure(402)"))
        #expect(!failure.success && failure.transaction == "" && failure.errorReason == "insufficient_funds")
        #expect(failure.json == (try X402Fixtures.member(v2, "PAYMENT-RESPONSE.failure.decoded")))
    }

    @Test("what we write is padded standard base64 and reads back to the same message")
    func roundTrip() throws {
        let requirements = try X402PaymentRequirements(
            scheme: "exact", network: "payrail:fake", amount: "250", asset: "usd", payTo: "acct_merchant",
            maxTimeoutSeconds: 120, extra: ["requestID": .string("req_1"), "processorKey": .string("k")])
        let message = X402PaymentRequired(
            resource: X402ResourceInfo(url: "https://api.example.com/a?b=c", description: "A \"quoted\" ünïcode", mimeType: nil),
            accepts: [requirements], error: "payment required")
        let header = try X402Codec.encodePaymentRequired(message)
        #expect(header.utf8.count % 4 == 0)
        #expect(header.utf8.allSatisfy { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: "_") })
        #expect(try X402Codec.decodePaymentRequired(header) == message)

        let payload = X402PaymentPayload(accepted: requirements, payload: ["voucher": .string("v.o.u")], resource: message.resource)
        #expect(try X402Codec.decodePaymentSignature(try X402Codec.encodePaymentSignature(payload)) == payload)
        let response = X402SettlementResponse(success: true, transaction: "fv_1", network: "payrail:fake", payer: "acct_payer", amount: "250")
        #expect(try X402Codec.decodePaymentResponse(try X402Codec.encodePaymentResponse(response)) == response)
    }

    @Test("missing padding is read; the URL alphabet, inner whitespace and garbage are refused")
    func lenientButNotSloppy() throws {
        let json = #"{"success":true,"transaction":"t>?","network":"payrail:fake"}"#
        let padded = X402Fixtures.base64(json)
        #expect(padded.hasSuffix("="))
        let unpadded = String(padded.prefix { $0 != "=" })
        #expect(try X402Codec.decodePaymentResponse(unpadded).transaction == "t>?")
        #expect(try X402Codec.decodePaymentResponse(" \(padded)\t").transaction == "t>?")
        let urlSafe = Base64URL.encode(Array(json.utf8))
        #expect(urlSafe != unpadded)
        for garbage in [urlSafe, "", "   ", "!!!!", "e30", padded + "=", "eyJ4\nNDAy", "=" + padded] {
            #expect(throws: WireError.self) { try X402Codec.decodePaymentResponse(garbage) }
        }
        // Valid base64, but not a JSON object of the right shape.
        for body in ["[]", "\"x\"", "null", "{}", #"{"success":"yes","transaction":"","network":"n"}"#,
                     #"{"success":true,"network":"n"}"#, #"{"success":true,"transaction":"","network":""}"#] {
            #expect(throws: WireError.self) { try X402Codec.decodePaymentResponse(X402Fixtures.base64(body)) }
        }
    }

    @Test("versions other than 2 are refused in version 2 headers with unsupported")
    func versionChecks() throws {
        let examples = try X402Fixtures.json("x402-http-examples.json")
        let v1Payment = try X402Fixtures.string(examples, "v1", "X-PAYMENT")
        let error = #expect(throws: WireError.self) { try X402Codec.decodePaymentSignature(v1Payment) }
        #expect(error?.code == .unsupported)
        for version in ["3", "2.5", "\"2\"", "-2", "1e300"] {
            let body = #"{"x402Version":\#(version),"resource":{"url":"u"},"accepts":[]}"#
            #expect(throws: WireError.self) { try X402Codec.decodePaymentRequired(X402Fixtures.base64(body)) }
        }
        let missing = #expect(throws: WireError.self) {
            try X402Codec.decodePaymentRequired(X402Fixtures.base64(#"{"x402Version":2,"accepts":[]}"#))
        }
        #expect(missing?.code == .missingField)
    }

    @Test("accepts entries with bad amounts or timeouts are refused")
    func requirementShapes() throws {
        func header(_ accept: String) -> String {
            X402Fixtures.base64(#"{"x402Version":2,"resource":{"url":"https://a.example/"},"accepts":[\#(accept)]}"#)
        }
        let good = #"{"scheme":"exact","network":"payrail:fake","amount":"1","asset":"usd","payTo":"p","maxTimeoutSeconds":60}"#
        #expect(try X402Codec.decodePaymentRequired(header(good)).accepts.first?.amount == "1")
        let bad = [
            good.replacingOccurrences(of: #""amount":"1""#, with: #""amount":1"#),
            good.replacingOccurrences(of: #""amount":"1""#, with: #""amount":"0""#),
            good.replacingOccurrences(of: #""amount":"1""#, with: #""amount":"-1""#),
            good.replacingOccurrences(of: #""amount":"1""#, with: #""amount":"1.5""#),
            good.replacingOccurrences(of: #""amount":"1""#, with: #""amount":"\#(String(repeating: "9", count: 79))""#),
            good.replacingOccurrences(of: "60}", with: "0}"),
            good.replacingOccurrences(of: "60}", with: "60.5}"),
            good.replacingOccurrences(of: "60}", with: "1e300}"),
            good.replacingOccurrences(of: "60}", with: "true}"),
            good.replacingOccurrences(of: "60}", with: "-5}"),
            good.replacingOccurrences(of: #""payTo":"p","#, with: ""),
            good.replacingOccurrences(of: #""scheme":"exact""#, with: #""scheme":"""#),
            good.replacingOccurrences(of: "60}", with: #"60,"extra":[]}"#),
        ]
        for accept in bad {
            #expect(throws: WireError.self) { try X402Codec.decodePaymentRequired(header(accept)) }
        }
        // 60.0 is a whole number, as x402-conformance also accepts.
        #expect(try X402Codec.decodePaymentRequired(header(good.replacingOccurrences(of: "60}", with: "60.0}"))).accepts.count == 1)
    }

    @Test("hostile JSON (deep nesting, duplicate keys, huge numbers) is refused without crashing")
    func hostileJSON() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        let cases = [
            #"{"x402Version":2,"resource":{"url":"u"},"accepts":\#(deep)}"#,
            #"{"x402Version":2,"x402Version":2,"resource":{"url":"u"},"accepts":[]}"#,
            #"{"x402Version":1e400,"resource":{"url":"u"},"accepts":[]}"#,
            #"{"x402Version":2,"resource":{"url":"u"},"accepts":[{"maxTimeoutSeconds":1e999}]}"#,
        ]
        for json in cases {
            let header = X402Fixtures.base64(json)
            guard header.utf8.count <= X402Codec.maximumReadHeaderBytes else { continue }
            let error = #expect(throws: WireError.self) { try X402Codec.decodePaymentRequired(header) }
            #expect(error?.code == .malformed)
        }
    }

    @Test("headers over 16 KB are refused as too large before decoding, even when not base64")
    func readBound() throws {
        let bigButValid = X402Fixtures.base64(#"{"success":true,"transaction":"\#(String(repeating: "a", count: 13_000))","network":"n:n"}"#)
        #expect(bigButValid.utf8.count > X402Codec.maximumReadHeaderBytes)
        let error = #expect(throws: WireError.self) { try X402Codec.decodePaymentSignature(bigButValid) }
        #expect(error?.code == .tooLarge)
        let junk = String(repeating: "%", count: X402Codec.maximumReadHeaderBytes + 1)
        #expect((#expect(throws: WireError.self) { try X402Codec.decodePaymentSignature(junk) })?.code == .tooLarge)
        // Just under the bound is decoded normally.
        let fits = X402Fixtures.base64(#"{"success":true,"transaction":"\#(String(repeating: "a", count: 12_000))","network":"n:n"}"#)
        #expect(fits.utf8.count <= X402Codec.maximumReadHeaderBytes)
        #expect(try X402Codec.decodePaymentResponse(fits).success)
    }

    @Test("a PAYMENT-REQUIRED we write stays under 8 KB, needs accepts, and needs CAIP-2 networks")
    func writeBounds() throws {
        let requirements = try X402PaymentRequirements(
            scheme: "exact", network: "payrail:fake", amount: "1", asset: "usd", payTo: "p", maxTimeoutSeconds: 60)
        let huge = X402PaymentRequired(
            resource: X402ResourceInfo(url: "https://a.example/", description: String(repeating: "d", count: 7000)),
            accepts: [requirements])
        #expect((#expect(throws: WireError.self) { try X402Codec.encodePaymentRequired(huge) })?.code == .tooLarge)
        let empty = X402PaymentRequired(resource: X402ResourceInfo(url: "https://a.example/"), accepts: [])
        #expect((#expect(throws: WireError.self) { try X402Codec.encodePaymentRequired(empty) })?.code == .missingField)
        for network in ["lightning:mainnet", "bip122:000000000019d6689c085ae165831e93f0e4a1e51c3a3b9ae5a1b3e2b8d0d5f1", "fake", "UP:x", "ab:x"] {
            var bad = requirements
            bad.network = network
            let message = X402PaymentRequired(resource: X402ResourceInfo(url: "https://a.example/"), accepts: [bad])
            #expect(throws: WireError.self) { try X402Codec.encodePaymentRequired(message) }
            #expect(!X402Network.isCAIP2(network))
        }
        for network in [X402Network.fake, X402Network.lightningMainnet, X402Network.lightningTestnet, "card:visa", "eip155:84532"] {
            #expect(X402Network.isCAIP2(network))
        }
    }

    @Test("version 1: the 402 body, X-PAYMENT and X-PAYMENT-RESPONSE from the spec are read")
    func versionOne() throws {
        let v1 = try X402Fixtures.member(try X402Fixtures.json("x402-http-examples.json"), "v1")
        let body = try CanonicalJSON.serialize(try X402Fixtures.member(v1, "bodyExample"))
        let required = try X402Codec.decodeVersion1PaymentRequired(body: body)
        let entry = try #require(required.accepts.first)
        #expect(required.error == "X-PAYMENT header is required")
        #expect(entry.maxAmountRequired == "10000" && entry.network == "base-sepolia")
        #expect(entry.resource == "https://api.example.com/premium-data" && entry.description == "Access to premium market data")
        #expect(entry.outputSchema == nil && entry.extra["name"] == .string("USDC"))
        let v2Shape = try entry.asVersion2()
        #expect(v2Shape.amount == "10000" && v2Shape.maxTimeoutSeconds == 60)

        let payment = try X402Codec.decodeVersion1Payment(try X402Fixtures.string(v1, "X-PAYMENT"))
        #expect(payment.scheme == "exact" && payment.network == "base-sepolia")
        #expect(payment.payload["signature"] != nil)
        let response = try X402Codec.decodeVersion1PaymentResponse(try X402Fixtures.string(v1, "X-PAYMENT-RESPONSE"))
        #expect(response.json == (try X402Fixtures.member(v1, "X-PAYMENT-RESPONSE.decoded")))

        // A version 2 header in X-PAYMENT is not version 1.
        let v2Signature = try X402Fixtures.string(try X402Fixtures.json("x402-http-examples.json"), "v2", "PAYMENT-SIGNATURE")
        #expect((#expect(throws: WireError.self) { try X402Codec.decodeVersion1Payment(v2Signature) })?.code == .unsupported)
        #expect((#expect(throws: WireError.self) {
            try X402Codec.decodeVersion1PaymentRequired(body: Array(repeating: 0x20, count: X402Codec.maximumVersion1BodyBytes + 1))
        })?.code == .tooLarge)
    }

    @Test("readChallenge prefers the version 2 header, falls back to a version 1 body, ignores other bodies")
    func readChallenge() throws {
        let examples = try X402Fixtures.json("x402-http-examples.json")
        let header = try X402Fixtures.string(examples, "v2", "PAYMENT-REQUIRED")
        let body = try CanonicalJSON.serialize(try X402Fixtures.member(examples, "v1", "bodyExample"))
        let both = try X402Codec.readChallenge(headers: HTTPFields([("payment-required", header)]), body: body)
        guard case .version2(let message)? = both else { Issue.record("expected version 2"); return }
        #expect(message.accepts.first?.network == "eip155:84532")
        guard case .version1(let old)? = try X402Codec.readChallenge(headers: HTTPFields(), body: body) else {
            Issue.record("expected version 1"); return
        }
        #expect(old.accepts.count == 1)
        #expect(try X402Codec.readChallenge(headers: HTTPFields(), body: Array(#"{"type":"x402"}"#.utf8)) == nil)
        #expect(try X402Codec.readChallenge(headers: HTTPFields(), body: Array("<html>".utf8)) == nil)
        #expect(throws: WireError.self) {
            try X402Codec.readChallenge(headers: HTTPFields([("PAYMENT-REQUIRED", "%%%")]), body: [])
        }
    }
}

@Suite("x402 parsers are total")
struct X402TotalityTests {
    /// A small deterministic generator, so a failure reproduces.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    }

    @Test("mutated headers, bodies and invoices never trap: every parser returns or throws WireError")
    func mutations() throws {
        let examples = try X402Fixtures.json("x402-http-examples.json")
        let lnbtc = try X402Fixtures.json("x402-exact-lnbtc-vectors.json")
        let seedJSON: [[UInt8]] = [
            try CanonicalJSON.serialize(try X402Fixtures.member(examples, "v2", "PAYMENT-REQUIRED.decoded")),
            try CanonicalJSON.serialize(try X402Fixtures.member(examples, "v2", "PAYMENT-SIGNATURE.decoded")),
            try CanonicalJSON.serialize(try X402Fixtures.member(examples, "v1", "bodyExample")),
            Array(try X402Fixtures.text("x402-v2-payment-required-lnbtc-card.json").utf8),
        ]
        let requirements = try X402PaymentRequirements(json: try X402Fixtures.member(lnbtc, "paymentRequirements"))
        let invoice = Array(try #require(requirements.extraString("invoice")).utf8)
        let alphabet = Array("{}[]\",:0123456789-+.eEtrufalsn\\ qpzry9x8gf2tvdw0s3jn54khce6mua7lx402Version".utf8)
        var random = SplitMix(state: 0x402)
        var outcomes = 0
        for _ in 0..<1500 {
            var bytes = seedJSON[random.below(seedJSON.count)]
            for _ in 0..<(1 + random.below(4)) {
                guard !bytes.isEmpty else { break }
                let at = random.below(bytes.count)
                switch random.below(3) {
                case 0: bytes[at] = alphabet[random.below(alphabet.count)]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[random.below(alphabet.count)], at: at)
                }
            }
            let header = Base64.encode(bytes)
            outcomes += (try? X402Codec.decodePaymentRequired(header)) == nil ? 0 : 1
            outcomes += (try? X402Codec.decodePaymentSignature(header)) == nil ? 0 : 1
            outcomes += (try? X402Codec.decodePaymentResponse(header)) == nil ? 0 : 1
            outcomes += (try? X402Codec.decodeVersion1Payment(header)) == nil ? 0 : 1
            outcomes += (try? X402Codec.decodeVersion1PaymentRequired(body: bytes)) == nil ? 0 : 1
            _ = try? X402Codec.readChallenge(headers: HTTPFields(), body: bytes)
            if let message = try? X402Codec.decodePaymentRequired(header) {
                _ = X402Agent.offers(from: .version2(message), receivedAt: Date(timeIntervalSince1970: 1_700_000_000))
            }

            var mutatedInvoice = invoice
            let at = random.below(mutatedInvoice.count)
            mutatedInvoice[at] = alphabet[random.below(alphabet.count)]
            if random.below(4) == 0 { mutatedInvoice.removeLast(random.below(mutatedInvoice.count)) }
            var copy = requirements
            copy.extra["invoice"] = .string(String(decoding: mutatedInvoice, as: UTF8.self))
            _ = try? X402Agent.offer(from: copy, receivedAt: Date(timeIntervalSince1970: 1_700_000_000))
            _ = try? X402Server.credential(from: X402PaymentPayload(accepted: copy, payload: ["preimage": .string(String(repeating: "0", count: 64))]))
        }
        // Some mutations are harmless (e.g. inside a string), so some decodes must still succeed.
        #expect(outcomes > 0)
    }
}
