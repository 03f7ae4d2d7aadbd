import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import Testing

/// Keys and a clock shared by the tests: one signer per algorithm, all in one key set.
struct ReceiptFixture {
    let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
    let ed25519: ReceiptSigner
    let es256: ReceiptSigner
    let hs256: ReceiptSigner
    let keySet: ReceiptKeySet

    init() throws {
        ed25519 = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "ed-1")
        es256 = try ReceiptSigner(key: .es256(try P256.PrivateKey()), keyID: "ec-1")
        hs256 = try ReceiptSigner(key: .hs256(secret: try SecureRandom.bytes(count: 32)), keyID: "hs-1")
        keySet = try ReceiptKeySet(jwks: JSONWebKeySet(keys: [ed25519.verificationJWK, es256.verificationJWK, hs256.verificationJWK]))
    }

    var signers: [ReceiptSigner] { [ed25519, es256, hs256] }

    func claims(resource: String = "GET /premium", iat: Int64? = nil, grant: Int64 = 300) -> ReceiptClaims {
        let issued = iat ?? Int64(clock.now().timeIntervalSince1970)
        return ReceiptClaims(iss: "api.example", sub: resource, jti: "chal-1", iat: issued, exp: issued + grant,
                             method: "fake", amount: "100", currency: "sat", ref: "ref-1")
    }

    func verifier() -> ReceiptVerifier { ReceiptVerifier(keys: keySet, leewaySeconds: 30, clock: clock) }
}

/// Replaces one base64url segment of a token (0 header, 1 payload, 2 signature).
func replacingSegment(_ index: Int, of token: String, with segment: String) -> String {
    var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    parts[index] = segment
    return parts.joined(separator: ".")
}

func segment(_ index: Int, of token: String) -> String {
    String(token.split(separator: ".", omittingEmptySubsequences: false)[index])
}

func expectRefusal(_ code: ReceiptVerificationError.Code, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected refusal \(code), the token was accepted", sourceLocation: sourceLocation)
    } catch let error as ReceiptVerificationError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Receipt signing and verification")
struct ReceiptSignVerifyTests {
    @Test("every algorithm round-trips and writes alg and kid in the header", arguments: ["EdDSA", "ES256", "HS256"])
    func roundTrip(algorithm: String) throws {
        let fixture = try ReceiptFixture()
        let signer = try #require(fixture.signers.first { $0.algorithm.rawValue == algorithm })
        let claims = fixture.claims()
        let token = try signer.sign(claims)
        let parsed = try JWSCompact(parsing: token)
        #expect(parsed.algorithm == algorithm)
        #expect(parsed.keyID == signer.keyID)
        #expect(try fixture.verifier().verify(token, resource: "GET /premium") == claims)
    }

    @Test("claims are signed as canonical JSON with the amount as a string")
    func claimsShape() throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.ed25519.sign(fixture.claims())
        let payload = try Base64URL.decode(segment(1, of: token))
        let text = String(decoding: payload, as: UTF8.self)
        #expect(text.hasPrefix(#"{"amount":"100","currency":"sat","exp":"#))
        #expect(try CanonicalJSON.canonicalize(payload) == payload)
    }

    @Test("alg none is refused")
    func algNone() throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.ed25519.sign(fixture.claims())
        let header = Base64URL.encode(Array(#"{"alg":"none","kid":"ed-1"}"#.utf8))
        expectRefusal(.algorithmNone) { _ = try fixture.verifier().verify(replacingSegment(0, of: token, with: header), resource: nil) }
        expectRefusal(.algorithmNone) {
            _ = try fixture.verifier().verify("\(header).\(segment(1, of: token)).", resource: nil)
        }
    }

    @Test("an unknown alg is refused", arguments: ["RS256", "HS512", "ES384", "eddsa", ""])
    func unknownAlgorithm(alg: String) throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.ed25519.sign(fixture.claims())
        let header = Base64URL.encode(Array(#"{"alg":"\#(alg)","kid":"ed-1"}"#.utf8))
        expectRefusal(.unsupportedAlgorithm) { _ = try fixture.verifier().verify(replacingSegment(0, of: token, with: header), resource: nil) }
    }

    @Test("HS256 keyed with a public key is refused as an algorithm/key mismatch")
    func hmacWithPublicKey() throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.ed25519.sign(fixture.claims())
        let publicKey = try Base64URL.decode(try #require(fixture.ed25519.verificationJWK.x))
        let header = Base64URL.encode(Array(#"{"alg":"HS256","kid":"ed-1"}"#.utf8))
        let signingInput = Array("\(header).\(segment(1, of: token))".utf8)
        let forged = "\(header).\(segment(1, of: token)).\(Base64URL.encode(HMACSHA256.authenticationCode(for: signingInput, key: publicKey)))"
        expectRefusal(.algorithmMismatch) { _ = try fixture.verifier().verify(forged, resource: nil) }
        // The same the other way: an EdDSA header against the HMAC key.
        let edHeader = Base64URL.encode(Array(#"{"alg":"EdDSA","kid":"hs-1"}"#.utf8))
        expectRefusal(.algorithmMismatch) { _ = try fixture.verifier().verify(replacingSegment(0, of: token, with: edHeader), resource: nil) }
    }

    @Test("an unknown or missing kid is refused")
    func unknownKeyID() throws {
        let fixture = try ReceiptFixture()
        let stranger = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "other")
        expectRefusal(.unknownKeyID) { _ = try fixture.verifier().verify(try stranger.sign(fixture.claims()), resource: nil) }
        let token = try fixture.ed25519.sign(fixture.claims())
        let header = Base64URL.encode(Array(#"{"alg":"EdDSA"}"#.utf8))
        expectRefusal(.unknownKeyID) { _ = try fixture.verifier().verify(replacingSegment(0, of: token, with: header), resource: nil) }
        // A key removed from the set no longer verifies.
        let revoked = ReceiptVerifier(keys: fixture.keySet.removing(keyID: "ed-1"), clock: fixture.clock)
        expectRefusal(.unknownKeyID) { _ = try revoked.verify(token, resource: nil) }
    }

    @Test("expiry and issue time are checked with the leeway")
    func timeChecks() throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.ed25519.sign(fixture.claims(grant: 60))
        fixture.clock.advance(by: 60 + 30)
        #expect(throws: Never.self) { try fixture.verifier().verify(token, resource: nil) }
        fixture.clock.advance(by: 1)
        expectRefusal(.expired) { _ = try fixture.verifier().verify(token, resource: nil) }

        let now = Int64(fixture.clock.now().timeIntervalSince1970)
        let early = try fixture.ed25519.sign(fixture.claims(iat: now + 31))
        expectRefusal(.notYetValid) { _ = try fixture.verifier().verify(early, resource: nil) }
        let withinLeeway = try fixture.ed25519.sign(fixture.claims(iat: now + 30))
        #expect(throws: Never.self) { try fixture.verifier().verify(withinLeeway, resource: nil) }
    }

    @Test("tampering with header, claims or signature is refused", arguments: ["EdDSA", "ES256", "HS256"])
    func tampering(algorithm: String) throws {
        let fixture = try ReceiptFixture()
        let signer = try #require(fixture.signers.first { $0.algorithm.rawValue == algorithm })
        let token = try signer.sign(fixture.claims())
        let verifier = fixture.verifier()

        let header = Base64URL.encode(Array(#"{"alg":"\#(algorithm)","kid":"\#(signer.keyID)","typ":"jwt"}"#.utf8))
        expectRefusal(.badSignature) { _ = try verifier.verify(replacingSegment(0, of: token, with: header), resource: nil) }

        let richer = ReceiptClaims(iss: "api.example", sub: "GET /premium", jti: "chal-1", iat: fixture.claims().iat,
                                   exp: fixture.claims().exp, method: "fake", amount: "1", currency: "sat", ref: "ref-1")
        let payload = Base64URL.encode(try CanonicalJSON.serialize(richer.jsonValue))
        expectRefusal(.badSignature) { _ = try verifier.verify(replacingSegment(1, of: token, with: payload), resource: nil) }

        var signature = try Base64URL.decode(segment(2, of: token))
        signature[signature.count / 2] ^= 0x01
        expectRefusal(.badSignature) { _ = try verifier.verify(replacingSegment(2, of: token, with: Base64URL.encode(signature)), resource: nil) }
        expectRefusal(.badSignature) { _ = try verifier.verify(replacingSegment(2, of: token, with: ""), resource: nil) }
    }

    @Test("an ES256 signature in DER form is refused: JWS carries r||s")
    func es256DerSignature() throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.es256.sign(fixture.claims())
        let raw = try ECDSASignature(rawRepresentation: try Base64URL.decode(segment(2, of: token)))
        let der = Base64URL.encode(raw.derRepresentation)
        expectRefusal(.badSignature) { _ = try fixture.verifier().verify(replacingSegment(2, of: token, with: der), resource: nil) }
    }

    @Test("extreme times in the claims neither crash nor pass for what they are not")
    func extremeTimes() throws {
        let fixture = try ReceiptFixture()
        guard case .ed25519(let key) = fixture.ed25519.key else { Issue.record("fixture key"); return }
        let header: [String: JSONValue] = ["alg": .string("EdDSA"), "kid": .string("ed-1")]
        func token(iat: String, exp: String) throws -> String {
            let claims = #"{"iss":"a","sub":"GET /premium","jti":"j","iat":\#(iat),"exp":\#(exp),"method":"fake","amount":"1","currency":"sat","ref":"r"}"#
            return try JWSCompact.serialize(header: header, payload: Array(claims.utf8)) { try key.signature(for: $0) }
        }
        let max = String(Int64.max), min = String(Int64.min)
        #expect(try fixture.verifier().verify(try token(iat: min, exp: max), resource: nil).exp == Int64.max)
        expectRefusal(.notYetValid) { _ = try fixture.verifier().verify(try token(iat: max, exp: max), resource: nil) }
        expectRefusal(.expired) { _ = try fixture.verifier().verify(try token(iat: min, exp: min), resource: nil) }
        expectRefusal(.badClaims) { _ = try fixture.verifier().verify(try token(iat: "1", exp: "9223372036854775808"), resource: nil) }
        let lenient = ReceiptVerifier(keys: fixture.keySet, leewaySeconds: .max, clock: fixture.clock)
        #expect(lenient.leewaySeconds == 366 * 86_400)
        expectRefusal(.expired) { _ = try lenient.verify(try token(iat: min, exp: min), resource: nil) }
        // The signer refuses times that JSON readers could not read back exactly.
        let unsafe = ReceiptClaims(iss: "a", sub: "GET /x", jti: "j", iat: 0, exp: Int64.max, method: "fake",
                                   amount: "1", currency: "sat", ref: "r")
        #expect(throws: ReceiptKeyError.self) { try fixture.ed25519.sign(unsafe) }
    }

    @Test("a receipt for another resource is refused")
    func otherResource() throws {
        let fixture = try ReceiptFixture()
        let token = try fixture.ed25519.sign(fixture.claims(resource: "GET /premium"))
        expectRefusal(.wrongResource) { _ = try fixture.verifier().verify(token, resource: "GET /other") }
        expectRefusal(.wrongResource) { _ = try fixture.verifier().verify(token, resource: "POST /premium") }
    }

    @Test("tokens over 8 KB are refused unread; malformed tokens are refused")
    func sizeAndShape() throws {
        let fixture = try ReceiptFixture()
        let big = String(repeating: "a", count: 8193)
        expectRefusal(.tooLarge) { _ = try fixture.verifier().verify(big, resource: nil) }
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "eyJhbGciOiJFZERTQSJ9..s!g", "eyJhbGciOiJFZERTQSJ9.e30=.c2ln"] {
            expectRefusal(.malformed) { _ = try fixture.verifier().verify(bad, resource: nil) }
        }
    }

    @Test("claims missing or of the wrong type are refused after the signature checks")
    func badClaims() throws {
        let fixture = try ReceiptFixture()
        let header: [String: JSONValue] = ["alg": .string("EdDSA"), "kid": .string("ed-1")]
        guard case .ed25519(let key) = fixture.ed25519.key else { Issue.record("fixture key"); return }
        for claims in [#"{"iss":"a"}"#, #"{"iss":"a","sub":"GET /x","jti":"j","iat":"1","exp":2,"method":"fake","amount":"1","currency":"sat","ref":"r"}"#,
                       #"{"iss":"a","sub":"GET /x","jti":"j","iat":1,"exp":2,"method":"fake","amount":100,"currency":"sat","ref":"r"}"#] {
            let token = try JWSCompact.serialize(header: header, payload: Array(claims.utf8)) { try key.signature(for: $0) }
            expectRefusal(.badClaims) { _ = try fixture.verifier().verify(token, resource: nil) }
        }
    }
}

@Suite("Receipt key sets")
struct ReceiptKeySetTests {
    @Test("a key set refuses a repeated kid, a missing kid, and an alg that contradicts the key type")
    func keySetChecks() throws {
        let fixture = try ReceiptFixture()
        var twice = fixture.ed25519.verificationJWK
        twice.x = fixture.ed25519.verificationJWK.x
        #expect(throws: ReceiptKeyError.self) { try ReceiptKeySet(jwks: JSONWebKeySet(keys: [fixture.ed25519.verificationJWK, twice])) }
        var noKid = fixture.es256.verificationJWK
        noKid.kid = nil
        #expect(throws: ReceiptKeyError.self) { try ReceiptKeySet(jwks: JSONWebKeySet(keys: [noKid])) }
        var lying = fixture.es256.verificationJWK
        lying.alg = "HS256"
        #expect(throws: ReceiptKeyError.self) { try ReceiptKeySet(jwks: JSONWebKeySet(keys: [lying])) }
        let rsa = JSONWebKey(kty: "RSA", kid: "r1")
        #expect(throws: ReceiptKeyError.self) { try ReceiptKeySet(jwks: JSONWebKeySet(keys: [rsa])) }
        let shortSecret = JSONWebKey(kty: "oct", k: Base64URL.encode([UInt8](repeating: 1, count: 16)), kid: "short")
        #expect(throws: ReceiptKeyError.self) { try ReceiptKeySet(jwks: JSONWebKeySet(keys: [shortSecret])) }
    }

    @Test("published keys carry no private member")
    func publicOnly() throws {
        let fixture = try ReceiptFixture()
        #expect(fixture.ed25519.verificationJWK.d == nil)
        #expect(fixture.es256.verificationJWK.d == nil)
        #expect(fixture.es256.verificationJWK.y != nil)
    }

    @Test("key files as the CLI writes them load back")
    func keyFiles() throws {
        let ed = try Ed25519.PrivateKey()
        guard case .ed25519(let loaded) = try ReceiptSigningKey(keyFile: ed.pemRepresentation) else { Issue.record("not Ed25519"); return }
        #expect(loaded.publicKey == ed.publicKey)
        let ec = try P256.PrivateKey()
        guard case .es256(let loadedEC) = try ReceiptSigningKey(keyFile: ec.pemRepresentation + "\n") else { Issue.record("not P-256"); return }
        #expect(loadedEC.publicKey == ec.publicKey)
        let secret = try SecureRandom.bytes(count: 32)
        guard case .hs256(let loadedSecret) = try ReceiptSigningKey(keyFile: Base64URL.encode(secret) + "\n") else { Issue.record("not HS256"); return }
        #expect(loadedSecret == secret)
        #expect(throws: ReceiptKeyError.self) { try ReceiptSigningKey(keyFile: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----") }
        #expect(throws: ReceiptKeyError.self) { try ReceiptSigningKey(keyFile: "c2hvcnQ") }
    }
}
