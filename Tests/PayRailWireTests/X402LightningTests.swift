import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
import Testing

/// A test-only BOLT 11 writer, so that the codec's invoice checks can be exercised with invoices that
/// are wrong in exactly one way. Signed with throwaway keys; never used by the product.
enum TestInvoice {
    static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    enum Field {
        case paymentHash([UInt8]), descriptionHash([UInt8]), description(String), expiry(Int), payee([UInt8])
    }

    static func words(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], accumulator = 0, bits = 0
        for byte in bytes {
            accumulator = (accumulator << 8 | Int(byte)) & 0xFFFF
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(UInt8((accumulator >> bits) & 31))
            }
        }
        if bits > 0 { out.append(UInt8((accumulator << (5 - bits)) & 31)) }
        return out
    }

    static func bytes(_ words: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], accumulator = 0, bits = 0
        for word in words {
            accumulator = (accumulator << 5 | Int(word)) & 0xFFFF
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> bits) & 0xFF))
            }
        }
        if bits > 0 { out.append(UInt8((accumulator << (8 - bits)) & 0xFF)) }
        return out
    }

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> UInt32(bit)) & 1 == 1 { checksum ^= generator[bit] }
        }
        return checksum
    }

    static func field(_ type: UInt8, _ data: [UInt8]) -> [UInt8] {
        [type, UInt8(data.count / 32), UInt8(data.count % 32)] + data
    }

    static func make(hrp: String, timestamp: Int, fields: [Field], key: Secp256k1.PrivateKey) throws -> String {
        var data: [UInt8] = (0..<7).reversed().map { UInt8((timestamp >> ($0 * 5)) & 31) }
        for item in fields {
            switch item {
            case .paymentHash(let hash): data += field(1, words(hash))
            case .descriptionHash(let hash): data += field(23, words(hash))
            case .description(let text): data += field(13, words(Array(text.utf8)))
            case .payee(let key): data += field(19, words(key))
            case .expiry(let seconds):
                var value = seconds, expiryWords: [UInt8] = []
                repeat { expiryWords.insert(UInt8(value & 31), at: 0); value >>= 5 } while value > 0
                data += field(6, expiryWords)
            }
        }
        let digest = SHA256.hash(Array(hrp.utf8) + bytes(data))
        let (signature, recoveryID) = try key.recoverableSignature(forDigest: digest)
        data += words(signature.rawRepresentation + [UInt8(recoveryID)])
        let hrpBytes = Array(hrp.utf8)
        let checksum = polymod(hrpBytes.map { $0 >> 5 } + [0] + hrpBytes.map { $0 & 31 } + data + [0, 0, 0, 0, 0, 0]) ^ 1
        data += (0..<6).map { UInt8((checksum >> (5 * (5 - UInt32($0)))) & 31) }
        return hrp + "1" + String(decoding: data.map { charset[Int($0)] }, as: UTF8.self)
    }
}

@Suite("x402 exact on Lightning (lnbtc)")
struct X402LightningTests {
    static let validationTime = Date(timeIntervalSince1970: 1_700_000_000)
    static let articleA = X402RequestBinding.http(method: "GET", url: "https://api.example.com/article/A", body: [], headers: [])
    static let articleB = X402RequestBinding.http(method: "GET", url: "https://api.example.com/article/B", body: [], headers: [])

    static func vectors() throws -> JSONValue { try X402Fixtures.json("x402-exact-lnbtc-vectors.json") }

    static func specRequirements() throws -> X402PaymentRequirements {
        try X402PaymentRequirements(json: try X402Fixtures.member(try vectors(), "paymentRequirements"))
    }

    static func offer(invoice: String, network: String? = "mainnet", amount: Money? = nil, payee: String? = nil) throws -> Offer {
        var details = ["invoice": invoice]
        if let network { details["network"] = network }
        return Offer(
            rail: .lightning, amount: try amount ?? Money(amount: 25, unit: .sat),
            payee: payee ?? "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            expiresAt: validationTime.addingTimeInterval(300), id: "hash", details: details)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("request binding: the spec's HTTP and MCP vectors")
    func bindingVectors() throws {
        let vectors = try Self.vectors()
        #expect(String(decoding: try Self.articleA.descriptionBytes(), as: UTF8.self) == (try X402Fixtures.string(vectors, "httpBinding", "canonical")))
        #expect(try Self.articleA.requestHash() == (try X402Fixtures.string(vectors, "httpBinding", "requestHash")))
        #expect(try Self.articleB.requestHash() == (try X402Fixtures.string(vectors, "httpBinding", "urlB_requestHash")))
        #expect(Self.articleA.profile == "http:1" && Self.articleA.parameters == .object(["headers": .array([])]))

        func mcp(server: String = "https://api.example.com/mcp", name: String = "get_article", article: String = "A") -> X402RequestBinding {
            .mcp(server: server, toolName: name, arguments: ["article": .string(article)], metadata: [])
        }
        #expect(String(decoding: try mcp().descriptionBytes(), as: UTF8.self) == (try X402Fixtures.string(vectors, "mcpBinding", "canonical")))
        #expect(try mcp().requestHash() == (try X402Fixtures.string(vectors, "mcpBinding", "requestHash")))
        #expect(try mcp(article: "B").requestHash() == (try X402Fixtures.string(vectors, "mcpBinding", "argB")))
        #expect(try mcp(name: "delete_article").requestHash() == (try X402Fixtures.string(vectors, "mcpBinding", "nameDelete")))
        #expect(try mcp(server: "https://other.example.com/mcp").requestHash() == (try X402Fixtures.string(vectors, "mcpBinding", "otherServer")))

        // Bound metadata: absent and null hash differently, exactly as the spec's two digests say.
        let withMeta = { (value: JSONValue?) in
            X402RequestBinding.mcp(server: "https://api.example.com/mcp", toolName: "t", arguments: [:],
                                   metadata: [.init(metadata: "tenant", value: value)])
        }
        guard case .object(let absent) = try withMeta(nil).bindingObject(), case .array(let absentEntries)? = absent["metadata"],
              case .object(let nullObject) = try withMeta(.null).bindingObject(), case .array(let nullEntries)? = nullObject["metadata"]
        else { Issue.record("no metadata array"); return }
        #expect(absentEntries.first.flatMap { try? X402Fixtures.string($0, "valueHash") } == (try X402Fixtures.string(vectors, "mcpBinding", "absentValueHash")))
        #expect(nullEntries.first.flatMap { try? X402Fixtures.string($0, "valueHash") } == (try X402Fixtures.string(vectors, "mcpBinding", "nullValueHash")))
        // HTTP headers: an absent header hashes as 0x00, an empty one as 0x01.
        let headers = X402RequestBinding.http(method: "POST", url: "https://a.example/x?y=1", body: Array("x".utf8), headers: [
            .init(header: "accept", value: ""), .init(header: "content-type", value: nil),
        ])
        guard case .object(let object) = try headers.bindingObject(), case .array(let entries)? = object["headers"] else {
            Issue.record("no headers array"); return
        }
        #expect(entries.compactMap { try? X402Fixtures.string($0, "valueHash") } == [Self.hex(SHA256.hash([0x01])), Self.hex(SHA256.hash([0x00]))])
        #expect(try X402Fixtures.string(try headers.bindingObject(), "bodyHash") == Self.hex(SHA256.hash(Array("x".utf8))))
    }

    @Test("request binding: inputs that break the profile's rules are refused")
    func bindingRefusals() {
        let bad: [X402RequestBinding] = [
            .http(method: "GET", url: "ftp://a.example/", body: [], headers: []),
            .http(method: "GET", url: "https://user@a.example/", body: [], headers: []),
            .http(method: "GET", url: "https://a.example/#frag", body: [], headers: []),
            .http(method: "GET", url: "/relative", body: [], headers: []),
            .http(method: "", url: "https://a.example/", body: [], headers: []),
            .http(method: "GET", url: "https://a.example/", body: [], headers: [.init(header: "Accept", value: nil)]),
            .http(method: "GET", url: "https://a.example/", body: [], headers: [.init(header: "b", value: nil), .init(header: "a", value: nil)]),
            .http(method: "GET", url: "https://a.example/", body: [], headers: [.init(header: "a", value: nil), .init(header: "a", value: nil)]),
            .http(method: "GET", url: "https://a.example/", body: [], headers: [.init(header: "payment-signature", value: nil)]),
            .http(method: "GET", url: "https://a.example/", body: [], headers: [.init(header: "a", value: "line\nbreak")]),
            .mcp(server: "https://a.example/mcp", toolName: "", arguments: [:], metadata: []),
            .mcp(server: "https://a.example/mcp", toolName: "t", arguments: [:], metadata: [.init(metadata: "progressToken", value: nil)]),
            .mcp(server: "https://a.example/mcp", toolName: "t", arguments: [:], metadata: [.init(metadata: "x402/payment", value: nil)]),
            .mcp(server: "https://a.example/mcp#f", toolName: "t", arguments: [:], metadata: []),
        ]
        for binding in bad {
            #expect(throws: WireError.self) { try binding.requestHash() }
        }
    }

    @Test("server side: the spec's lnbtc requirements come out of a Lightning offer byte for byte")
    func serverRequirementsMatchSpec() throws {
        let spec = try Self.specRequirements()
        let invoice = try #require(spec.extraString("invoice"))
        let context = X402OfferContext(now: Self.validationTime, requestBinding: Self.articleA)
        let written = try X402PaymentRequirements(offer: try Self.offer(invoice: invoice), context: context)
        #expect(written == spec)
        #expect(try CanonicalJSON.serialize(written.json) == (try CanonicalJSON.serialize(try X402Fixtures.member(try Self.vectors(), "paymentRequirements"))))
        // The network may also be left to the invoice's currency; msat pricing gives the same entry.
        let inferred = try X402PaymentRequirements(
            offer: try Self.offer(invoice: invoice, network: nil, amount: try Money(amount: 25_000, unit: .msat)), context: context)
        #expect(inferred == spec)
    }

    @Test("server side: Lightning offers on regtest or signet are not offered in x402 (unsupported)")
    func regtestAndSignetRefused() throws {
        let key = try Secp256k1.PrivateKey()
        let hash = try Self.articleA.requestHashBytes()
        let context = X402OfferContext(now: Self.validationTime, requestBinding: Self.articleA)
        for (network, hrp) in [("regtest", "lnbcrt250n"), ("signet", "lntbs250n")] {
            let invoice = try TestInvoice.make(hrp: hrp, timestamp: 1_700_000_000, fields: [
                .paymentHash(Array(repeating: 7, count: 32)), .descriptionHash(hash), .expiry(300),
            ], key: key)
            let payee = Self.hex(key.publicKey.compressedRepresentation)
            // Declared in the offer's details...
            let declared = #expect(throws: WireError.self) {
                try X402PaymentRequirements(offer: try Self.offer(invoice: invoice, network: network, payee: payee), context: context)
            }
            #expect(declared?.code == .unsupported)
            // ...or only visible in the invoice's currency.
            let inferred = #expect(throws: WireError.self) {
                try X402PaymentRequirements(offer: try Self.offer(invoice: invoice, network: nil, payee: payee), context: context)
            }
            #expect(inferred?.code == .unsupported)
            #expect(throws: WireError.self) { try X402Network.lightning(network) }
        }
    }

    @Test("server side: a testnet invoice is offered on the testnet lnbtc network")
    func testnet() throws {
        let key = try Secp256k1.PrivateKey()
        let invoice = try TestInvoice.make(hrp: "lntb10u", timestamp: 1_700_000_000, fields: [
            .paymentHash(Array(repeating: 9, count: 32)), .descriptionHash(try Self.articleB.requestHashBytes()), .expiry(600),
        ], key: key)
        let payee = Self.hex(key.publicKey.compressedRepresentation)
        let requirements = try X402PaymentRequirements(
            offer: try Self.offer(invoice: invoice, network: "testnet", amount: try Money(amount: 1000, unit: .sat), payee: payee),
            context: X402OfferContext(now: Self.validationTime.addingTimeInterval(10), requestBinding: Self.articleB))
        #expect(requirements.network == X402Network.lightningTestnet && requirements.amount == "1000000")
        #expect(requirements.maxTimeoutSeconds == 600 && requirements.payTo == payee)
        // The agent reads it back, with the invoice's own expiry and payment hash.
        let offer = try X402Agent.offer(from: requirements, receivedAt: Self.validationTime.addingTimeInterval(20), expectedRequest: Self.articleB)
        #expect(offer.id == Self.hex(Array(repeating: 9, count: 32)) && offer.details["network"] == "testnet")
        #expect(offer.expiresAt == Date(timeIntervalSince1970: 1_700_000_600))
        // A testnet invoice declared as mainnet is a mismatch.
        #expect((#expect(throws: WireError.self) {
            try X402PaymentRequirements(
                offer: try Self.offer(invoice: invoice, network: "mainnet", amount: try Money(amount: 1000, unit: .sat), payee: payee),
                context: X402OfferContext(now: Self.validationTime, requestBinding: Self.articleB))
        })?.code == .bindingMismatch)
    }

    @Test("server side: invoices wrong in one way are refused before the challenge is sent")
    func invoiceChecks() throws {
        let key = try Secp256k1.PrivateKey(), other = try Secp256k1.PrivateKey()
        let payee = Self.hex(key.publicKey.compressedRepresentation)
        let hashA = try Self.articleA.requestHashBytes(), hashB = try Self.articleB.requestHashBytes()
        let paymentHash = [UInt8](repeating: 5, count: 32)
        func invoice(hrp: String = "lnbc250n", timestamp: Int = 1_700_000_000, _ fields: [TestInvoice.Field], signer: Secp256k1.PrivateKey? = nil) throws -> String {
            try TestInvoice.make(hrp: hrp, timestamp: timestamp, fields: fields, key: signer ?? key)
        }
        func requirements(_ invoice: String, now: Date = Self.validationTime) throws -> X402PaymentRequirements {
            try X402PaymentRequirements(offer: try Self.offer(invoice: invoice, payee: payee),
                                        context: X402OfferContext(now: now, requestBinding: Self.articleA))
        }
        let good = try invoice([.paymentHash(paymentHash), .descriptionHash(hashA), .expiry(300)])
        #expect(try requirements(good).maxTimeoutSeconds == 300)
        // Creation within the 60 s skew is fine; beyond it is not.
        #expect(try requirements(try invoice(timestamp: 1_700_000_060, [.paymentHash(paymentHash), .descriptionHash(hashA)])).maxTimeoutSeconds == 3600)
        // The n field, when present, must verify.
        #expect(try requirements(try invoice([.paymentHash(paymentHash), .descriptionHash(hashA), .payee(key.publicKey.compressedRepresentation)])).payTo == payee)

        let cases: [(String, WireError.Code)] = [
            (try invoice(hrp: "lnbc260n", [.paymentHash(paymentHash), .descriptionHash(hashA)]), .bindingMismatch),
            (try invoice(hrp: "lnbc", [.paymentHash(paymentHash), .descriptionHash(hashA)]), .bindingMismatch),
            (try invoice([.paymentHash(paymentHash), .descriptionHash(hashB)]), .bindingMismatch),
            (try invoice([.paymentHash(paymentHash), .description("article A")]), .bindingMismatch),
            (try invoice([.paymentHash(paymentHash), .descriptionHash(hashA), .description("also inline")]), .bindingMismatch),
            (try invoice([.paymentHash(paymentHash), .descriptionHash(hashA), .descriptionHash(hashA)]), .bindingMismatch),
            (try invoice([.paymentHash(paymentHash), .descriptionHash(hashA)], signer: other), .bindingMismatch),
            (try invoice([.paymentHash(paymentHash), .descriptionHash(hashA), .payee(other.publicKey.compressedRepresentation)]), .bindingMismatch),
            (try invoice(timestamp: 1_700_000_061, [.paymentHash(paymentHash), .descriptionHash(hashA)]), .bindingMismatch),
            (try invoice(timestamp: 1_699_999_000, [.paymentHash(paymentHash), .descriptionHash(hashA), .expiry(1000)]), .expired),
            (try invoice([.descriptionHash(hashA)]), .malformed),
            (String(good.dropLast()) + (good.hasSuffix("q") ? "p" : "q"), .malformed),
            (good.uppercased().replacingOccurrences(of: "LNBC", with: "lnbc"), .malformed),
            ("lnbc1", .malformed),
            ("not an invoice", .malformed),
            (String(repeating: "q", count: 5000), .tooLarge),
        ]
        for (index, (text, code)) in cases.enumerated() {
            let error = #expect(throws: WireError.self, "case \(index)") { try requirements(text) }
            #expect(error?.code == code, "case \(index): \(error?.description ?? "")")
        }
        // An upper-case invoice is the same invoice.
        #expect(try requirements(good.uppercased()).payTo == payee)
        // No request binding: an lnbtc challenge cannot be written at all.
        #expect((#expect(throws: WireError.self) {
            try X402PaymentRequirements(offer: try Self.offer(invoice: good, payee: payee), context: X402OfferContext(now: Self.validationTime))
        })?.code == .missingField)
    }

    @Test("agent side: the spec's requirements become a Lightning offer after the client checks")
    func agentReadsSpecRequirements() throws {
        let spec = try Self.specRequirements()
        let hashB = try Self.articleB.requestHash()
        let offer = try X402Agent.offer(from: spec, receivedAt: Self.validationTime, expectedRequest: Self.articleA)
        let settlement = try X402Fixtures.member(try Self.vectors(), "settlementResponse")
        let paymentHash = try X402Fixtures.string(settlement, "transaction")
        let expectedAmount = try Money(amount: 25_000, unit: .msat)
        #expect(offer.rail == .lightning && offer.amount == expectedAmount)
        #expect(offer.id == paymentHash && offer.details["paymentHash"] == paymentHash && offer.details["network"] == "mainnet")
        #expect(offer.payee == spec.payTo && offer.expiresAt == Date(timeIntervalSince1970: 1_700_000_300))

        func refused(_ change: (inout X402PaymentRequirements) -> Void, at time: Date = Self.validationTime,
                     expecting request: X402RequestBinding? = nil) -> WireError.Code? {
            var copy = spec
            change(&copy)
            return (#expect(throws: WireError.self) { try X402Agent.offer(from: copy, receivedAt: time, expectedRequest: request) })?.code
        }
        #expect(refused({ _ in }, expecting: Self.articleB) == .bindingMismatch)
        #expect(refused({ _ in }, at: Self.validationTime.addingTimeInterval(300)) == .expired)
        #expect(refused({ _ in }, at: Self.validationTime.addingTimeInterval(-61)) == .bindingMismatch)
        #expect(refused({ $0.extra["paymentFlow"] = .string("authorization") }) == .unsupported)
        #expect(refused({ $0.extra["assetTransferMethod"] = .string("bolt12") }) == .unsupported)
        #expect(refused({ $0.extra["requestBindingProfile"] = .string("http:2") }) == .unsupported)
        #expect(refused({ $0.extra["requestBindingParams"] = .object(["headers": .array([]), "x": .null]) }) == .malformed)
        #expect(refused({ $0.extra["requestHash"] = .string(hashB) }) == .bindingMismatch)
        #expect(refused({ $0.extra["requestHash"] = .string("0D6623") }) == .malformed)
        #expect(refused({ $0.extra["invoice"] = nil }) == .missingField)
        #expect(refused({ $0.maxTimeoutSeconds = 301 }) == .bindingMismatch)
        #expect(refused({ $0.amount = "25001" }) == .bindingMismatch)
        #expect(refused({ $0.asset = "SAT" }) == .malformed)
        #expect(refused({ $0.scheme = "upto" }) == .unsupported)
        #expect(refused({ $0.payTo = "0379be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" }) == .bindingMismatch)
        #expect(refused({ $0.payTo = $0.payTo.uppercased() }) == .malformed)
        #expect(refused({ $0.network = X402Network.lightningTestnet }) == .bindingMismatch)
        #expect(refused({ $0.network = "lnbtc:00000000000000000000000000000000" }) == .unsupported)
    }

    @Test("the preimage travels in PAYMENT-SIGNATURE and comes back as a Lightning credential")
    func credentialRoundTrip() throws {
        let spec = try Self.specRequirements()
        let vectors = try Self.vectors()
        let preimage = try X402Fixtures.string(vectors, "payloadPreimage")
        let paymentHash = try X402Fixtures.string(vectors, "settlementResponse", "transaction")
        #expect(Self.hex(SHA256.hash(try #require(Self.bytes(hex: preimage)))) == paymentHash)

        let credential = Credential(rail: .lightning, offerID: paymentHash, payload: ["preimage": preimage])
        let payload = try X402Agent.payload(answering: spec, with: credential, resource: X402ResourceInfo(url: "https://api.example.com/article/A"))
        let header = try X402Codec.encodePaymentSignature(payload)
        let (read, serverCredential) = try X402Server.readCredential(header)
        #expect(read == payload)
        #expect(serverCredential.rail == .lightning && serverCredential.offerID == paymentHash)
        #expect(serverCredential.payload == ["preimage": preimage])
        #expect(X402Server.accepted(read.accepted, matches: spec))

        let upperCase = "AB" + preimage.dropFirst(2), notHex = "zz" + preimage.dropFirst(2)
        for bad in [upperCase, notHex, String(preimage.dropLast()), preimage + "00", ""] {
            #expect(throws: WireError.self) {
                try X402Agent.payload(answering: spec, with: Credential(rail: .lightning, offerID: paymentHash, payload: ["preimage": bad]))
            }
            var tampered = payload
            tampered.payload = ["preimage": .string(bad)]
            #expect(throws: WireError.self) { try X402Server.readCredential(try X402Codec.encodePaymentSignature(tampered)) }
        }
        var noPreimage = payload
        noPreimage.payload = [:]
        #expect((#expect(throws: WireError.self) { try X402Server.credential(from: noPreimage) })?.code == .missingField)

        // The settlement response of the spec round-trips; lnbtc omits the payer.
        let response = try X402SettlementResponse(json: try X402Fixtures.member(vectors, "settlementResponse"))
        #expect(response.payer == nil && response.network == X402Network.lightningMainnet)
        #expect(try X402Codec.decodePaymentResponse(try X402Codec.encodePaymentResponse(response)) == response)
    }

    @Test("matching the echo: the invoice is dynamic, every other declared field must be equal")
    func acceptedMatching() throws {
        let spec = try Self.specRequirements()
        let hashB = try Self.articleB.requestHash()
        var newInvoice = spec
        newInvoice.extra["invoice"] = .string("lnbc1other")
        #expect(X402Server.accepted(spec, matches: newInvoice))
        var additive = spec
        additive.extra["clientNote"] = .string("x")
        #expect(X402Server.accepted(additive, matches: spec))
        let changes: [(inout X402PaymentRequirements) -> Void] = [
            { $0.extra["requestHash"] = .string(hashB) },
            { $0.extra["requestBindingParams"] = .object(["headers": .array([.string("accept")])]) },
            { $0.extra["paymentFlow"] = nil },
            { $0.amount = "1" }, { $0.payTo = "02" }, { $0.maxTimeoutSeconds = 1 }, { $0.network = "lnbtc:x" },
            { $0.asset = "btc" }, { $0.scheme = "exact2" },
        ]
        for change in changes {
            var accepted = spec
            change(&accepted)
            #expect(!X402Server.accepted(accepted, matches: spec))
        }
        // For other networks nothing in extra is dynamic.
        let fake = try X402PaymentRequirements(scheme: "exact", network: X402Network.fake, amount: "1", asset: "usd", payTo: "p",
                                               maxTimeoutSeconds: 60, extra: ["invoice": .string("a"), "requestID": .string("r")])
        var changed = fake
        changed.extra["invoice"] = .string("b")
        #expect(!X402Server.accepted(changed, matches: fake))
    }

    static func bytes(hex: String) -> [UInt8]? {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}
