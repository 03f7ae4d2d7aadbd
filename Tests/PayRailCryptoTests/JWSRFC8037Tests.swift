import Foundation
import PayRailCrypto
import Testing

/// RFC 8037 Appendix A: the published Ed25519 JOSE example, end to end through JWSCompact and Ed25519.
@Suite("JWS: RFC 8037 Ed25519 example")
struct JWSRFC8037Tests {
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("rfc8037")

    /// A fixture file's text without the trailing newline.
    private static func fixture(_ name: String) throws -> String {
        let bytes = try Data(contentsOf: fixtures.appendingPathComponent(name))
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    /// A string member of a JWK fixture, read with the strict parser.
    private static func jwkMember(_ file: String, _ name: String) throws -> String {
        let json = try CanonicalJSON.parse(Array(try fixture(file).utf8))
        guard case .object(let members) = json, case .string(let value)? = members[name] else {
            throw JWSError(code: .badHeader, segment: file, detail: "no string member \(name)")
        }
        return value
    }

    @Test("A.4 token parses into the RFC's header, payload and signing input")
    func parseExample() throws {
        let token = try Self.fixture("a4-jws-compact.txt")
        let jws = try JWSCompact(parsing: token)
        #expect(jws.algorithm == "EdDSA")
        #expect(jws.knownAlgorithm == .EdDSA)
        #expect(jws.keyID == nil)
        #expect(jws.headerBytes == Array(try Self.fixture("a4-protected-header.json").utf8))
        #expect(jws.payload == Array(try Self.fixture("a4-payload.txt").utf8))
        #expect(jws.signature.count == 64)
        let dots = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(jws.signingInput == Array((dots[0] + "." + dots[1]).utf8))
    }

    @Test("A.4 signature verifies with the A.2 public key, and not after tampering")
    func verifyExample() throws {
        let jws = try JWSCompact(parsing: try Self.fixture("a4-jws-compact.txt"))
        let publicKey = try Ed25519.PublicKey(rawRepresentation: Base64URL.decode(Self.jwkMember("a2-public-key.jwk.json", "x")))
        #expect(publicKey.isValidSignature(jws.signature, for: jws.signingInput))

        var tamperedInput = jws.signingInput
        tamperedInput[tamperedInput.count - 1] ^= 0x01
        #expect(!publicKey.isValidSignature(jws.signature, for: tamperedInput))
        var tamperedSignature = jws.signature
        tamperedSignature[0] ^= 0x80
        #expect(!publicKey.isValidSignature(tamperedSignature, for: jws.signingInput))
    }

    @Test("re-signing with the A.1 private key reproduces the RFC's exact token")
    func resignExample() throws {
        let expectedToken = try Self.fixture("a4-jws-compact.txt")
        let privateKey = try Ed25519.PrivateKey(rawRepresentation: Base64URL.decode(Self.jwkMember("a1-private-key.jwk.json", "d")))
        // The A.1 private key's public half is the A.2 key.
        #expect(privateKey.publicKey.rawRepresentation
            == (try Base64URL.decode(Self.jwkMember("a1-private-key.jwk.json", "x"))))
        #expect(Base64URL.encode(privateKey.publicKey.rawRepresentation)
            == (try Self.jwkMember("a2-public-key.jwk.json", "x")))

        let jws = try JWSCompact(parsing: expectedToken)
        #expect(try privateKey.signature(for: jws.signingInput) == jws.signature)

        // Our serializer writes `{"alg":"EdDSA"}` exactly as the RFC does, so the whole token matches.
        let token = try JWSCompact.serialize(
            header: ["alg": .string(JWSAlgorithm.EdDSA.rawValue)],
            payload: Array(try Self.fixture("a4-payload.txt").utf8),
            sign: { input in try privateKey.signature(for: input) }
        )
        #expect(token == expectedToken)
    }

    @Test("A.3 thumbprint is the SHA-256 of the JCS form of the required members")
    func thumbprint() throws {
        let x = try Self.jwkMember("a2-public-key.jwk.json", "x")
        let required = JSONValue.object(["kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string(x)])
        let canonical = try CanonicalJSON.serialize(required)
        #expect(Base64URL.encode(SHA256.hash(canonical)) == (try Self.fixture("a3-thumbprint.txt")))
    }
}
