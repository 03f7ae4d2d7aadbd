import PayRailCrypto
import Testing

/// Encodes JSON text as a base64url segment, for building hostile tokens by hand.
private func segment(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

private let goodSignature = Base64URL.encode([UInt8](repeating: 7, count: 64))
private let header = segment("{\"alg\":\"EdDSA\",\"kid\":\"k\"}")
private let payload = segment("{\"sub\":\"x\"}")

@Suite("JWSCompact")
struct JWSTests {
    /// A stand-in signer: deterministic bytes derived from the input, so a round trip can check
    /// that the signer saw exactly the signing input that ends up in the token.
    private static func fakeSign(_ input: [UInt8]) -> [UInt8] {
        var state: UInt64 = 0xCBF2_9CE4_8422_2325
        return input.reduce(into: [UInt8]()) { output, byte in
            state = (state ^ UInt64(byte)) &* 0x100_0000_01B3
            if output.count < 64 { output.append(UInt8(truncatingIfNeeded: state >> 56)) }
        }
    }

    @Test("serialize then parse round-trips header, payload, signature and signing input")
    func roundTrip() throws {
        let payload = Array("{\"jti\":\"c1\",\"amount\":\"1500\"}".utf8)
        var signedInput: [UInt8] = []
        let token = try JWSCompact.serialize(
            header: ["alg": .string("EdDSA"), "kid": .string("key-1"), "typ": .string("JWT")],
            payload: payload,
            sign: { input in
                signedInput = input
                return Self.fakeSign(input)
            }
        )
        let parsed = try JWSCompact(parsing: token)
        #expect(parsed.algorithm == "EdDSA")
        #expect(parsed.knownAlgorithm == .EdDSA)
        #expect(parsed.keyID == "key-1")
        #expect(parsed.payload == payload)
        #expect(parsed.signature == Self.fakeSign(signedInput))
        #expect(parsed.signingInput == signedInput)
        #expect(parsed.header == ["alg": .string("EdDSA"), "kid": .string("key-1"), "typ": .string("JWT")])
        // The header we emit is JCS-canonical, so the token prefix is deterministic.
        #expect(parsed.headerBytes == Array("{\"alg\":\"EdDSA\",\"kid\":\"key-1\",\"typ\":\"JWT\"}".utf8))
        #expect(token.hasPrefix(segment("{\"alg\":\"EdDSA\",\"kid\":\"key-1\",\"typ\":\"JWT\"}") + "."))
        #expect(!token.contains("="))
    }

    @Test("every algorithm name round-trips and unknown names are reported as written")
    func algorithms() throws {
        for algorithm in JWSAlgorithm.allCases {
            let token = try JWSCompact.serialize(header: ["alg": .string(algorithm.rawValue)], payload: [1], sign: { _ in [2] })
            #expect(try JWSCompact(parsing: token).knownAlgorithm == algorithm)
        }
        let none = try JWSCompact(parsing: segment("{\"alg\":\"none\"}") + "." + segment("{}") + ".")
        #expect(none.algorithm == "none")
        #expect(none.knownAlgorithm == nil)
        #expect(none.signature.isEmpty)
        #expect(none.keyID == nil)
        let odd = try JWSCompact(parsing: segment("{\"alg\":\"RS256\"}") + "." + segment("{}") + "." + goodSignature)
        #expect(odd.algorithm == "RS256")
        #expect(odd.knownAlgorithm == nil)
    }

    @Test("signing input is the received text, not a re-encoding")
    func signingInputIsVerbatim() throws {
        // Non-canonical but valid header JSON (whitespace, member order) must be preserved as sent.
        let header = segment("{ \"typ\":\"JWT\",\n \"alg\":\"HS256\" }")
        let payload = segment("hello")
        let token = header + "." + payload + "." + goodSignature
        let parsed = try JWSCompact(parsing: token)
        #expect(parsed.signingInput == Array((header + "." + payload).utf8))
        #expect(parsed.headerBytes == Array("{ \"typ\":\"JWT\",\n \"alg\":\"HS256\" }".utf8))
        #expect(parsed.payload == Array("hello".utf8))
    }

    @Test("an empty payload segment is allowed")
    func emptyPayload() throws {
        let parsed = try JWSCompact(parsing: segment("{\"alg\":\"HS256\"}") + ".." + goodSignature)
        #expect(parsed.payload.isEmpty)
    }

    @Test("errors thrown by the signer propagate unchanged")
    func signerErrorPropagates() {
        struct SignerDown: Error, Equatable {}
        #expect(throws: SignerDown()) {
            try JWSCompact.serialize(header: ["alg": .string("ES256")], payload: [], sign: { _ in throw SignerDown() })
        }
    }

    @Test("serialize refuses headers we would refuse to parse", arguments: [
        (["typ": JSONValue.string("JWT")], JWSError.Code.badHeader),
        (["alg": .number(1)], .badHeader),
        (["alg": .string("EdDSA"), "kid": .number(3)], .badHeader),
        (["alg": .string("EdDSA"), "crit": .array([.string("exp")])], .unsupportedCriticalHeader),
        (["alg": .string("EdDSA"), "b64": .bool(false)], .unsupportedCriticalHeader),
        (["alg": .string("EdDSA"), "x": .number(.nan)], .badHeader),
    ])
    func serializeRefusals(header: [String: JSONValue], code: JWSError.Code) {
        do {
            _ = try JWSCompact.serialize(header: header, payload: [], sign: { _ in [] })
            Issue.record("accepted \(header)")
        } catch let error as JWSError {
            #expect(error.code == code)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("malformed tokens are refused with a specific error", arguments: [
        // Segment structure.
        ("", JWSError.Code.malformed, "token"),
        ("abc", .malformed, "token"),
        ("\(header).\(payload)", .malformed, "token"),
        ("\(header).\(payload).\(goodSignature).", .malformed, "token"),
        ("\(header).\(payload).\(goodSignature).x.y", .malformed, "token"),
        (".\(payload).\(goodSignature)", .malformed, "header"),
        ("..", .malformed, "header"),
        // Base64url strictness per segment.
        ("\(header)=.\(payload).\(goodSignature)", .badBase64, "header"),
        ("\(header).\(payload).\(goodSignature)==", .badBase64, "signature"),
        ("\(header).\(payload) .\(goodSignature)", .badBase64, "payload"),
        ("\(header).\(payload).\(goodSignature)\n", .badBase64, "signature"),
        ("\(header).e30+.\(goodSignature)", .badBase64, "payload"),
        ("\(header).\(payload).a", .badBase64, "signature"),
        ("\(header).\(payload).AB", .badBase64, "signature"),  // non-zero trailing bits
        ("eyJhbGciOiJFZERTQSJ9é.\(payload).\(goodSignature)", .badBase64, "header"),
        // Header content.
        ("\(segment("[\"alg\",\"EdDSA\"]")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("\"EdDSA\"")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("not json")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"alg\":\"EdDSA\"} x")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"alg\":\"EdDSA\",\"alg\":\"none\"}")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"kid\":\"k\"}")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"alg\":null}")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"alg\":[\"EdDSA\"]}")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"alg\":\"EdDSA\",\"kid\":7}")).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(Base64URL.encode([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D])).\(payload).\(goodSignature)", .badHeader, "header"),
        ("\(segment("{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1}")).\(payload).\(goodSignature)",
         .unsupportedCriticalHeader, "header"),
        ("\(segment("{\"alg\":\"EdDSA\",\"crit\":[]}")).\(payload).\(goodSignature)", .unsupportedCriticalHeader, "header"),
        ("\(segment("{\"alg\":\"EdDSA\",\"b64\":false}")).\(payload).\(goodSignature)", .unsupportedCriticalHeader, "header"),
    ])
    func malformed(token: String, code: JWSError.Code, segment: String) {
        do {
            _ = try JWSCompact(parsing: token)
            Issue.record("accepted \(token.debugDescription)")
        } catch {
            #expect(error.code == code, "\(token.debugDescription): \(error)")
            #expect(error.segment == segment, "\(token.debugDescription): \(error)")
        }
    }

    @Test("length limit is checked before any decoding")
    func tooLong() throws {
        let token = header + "." + payload + "." + goodSignature
        _ = try JWSCompact(parsing: token, maxLength: token.utf8.count)
        #expect(throws: JWSError.self) { try JWSCompact(parsing: token, maxLength: token.utf8.count - 1) }
        let huge = String(repeating: "A", count: JWSCompact.defaultMaxLength + 1)
        do {
            _ = try JWSCompact(parsing: huge)
            Issue.record("accepted an oversized token")
        } catch {
            #expect(error.code == .tooLong)
        }
    }

    @Test("a token held in a Substring-derived or bridged-like String parses the same")
    func nonNativeString() throws {
        let token = header + "." + payload + "." + goodSignature
        let wrapped = "prefix " + token
        let sliced = String(wrapped.dropFirst(7))
        #expect(try JWSCompact(parsing: sliced) == JWSCompact(parsing: token))
    }

    @Test("error descriptions name the segment and say not to retry")
    func errorDescription() {
        let error = JWSError(code: .badBase64, segment: "payload", detail: "x")
        #expect(error.description.contains("badBase64 in payload"))
        #expect(error.description.contains("retrying it will not help"))
    }
}
