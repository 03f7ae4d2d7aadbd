import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import Testing

/// An HS256 token over exactly the header and claims segments given (already base64url, so a test
/// can put bytes there that no encoder writes).
private func hmacToken(headerSegment: String, claimsSegment: String, secret: [UInt8]) -> String {
    let signingInput = headerSegment + "." + claimsSegment
    return signingInput + "." + Base64URL.encode(HMACSHA256.authenticationCode(for: Array(signingInput.utf8), key: secret))
}

private func encoded(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }

/// Three keys of each algorithm in one set, and a claims value as the gate writes it, with a `sub`
/// long enough to need its own storage.
private struct SignerFixture {
    let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
    let signers: [ReceiptSigner]
    let secrets: [String: [UInt8]]
    let keys: ReceiptKeySet
    let verifier: ReceiptVerifier
    let claims = ReceiptClaims(iss: "api.example.com", sub: "GET /v1/chat/completions", jti: String(repeating: "j", count: 43),
                               iat: 1_800_000_000, exp: 1_800_003_600, method: "lightning", amount: "210", currency: "sat",
                               ref: String(repeating: "ab", count: 32))

    init() throws {
        var signers: [ReceiptSigner] = []
        var secrets: [String: [UInt8]] = [:]
        for index in 0..<3 {
            let secret = try SecureRandom.bytes(count: 32)
            secrets["hs-\(index)"] = secret
            signers.append(try ReceiptSigner(key: .hs256(secret: secret), keyID: "hs-\(index)"))
            signers.append(try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "ed-\(index)"))
            signers.append(try ReceiptSigner(key: .es256(try P256.PrivateKey()), keyID: "es-\(index)"))
        }
        self.signers = signers
        self.secrets = secrets
        keys = try ReceiptKeySet(jwks: JSONWebKeySet(keys: signers.map(\.verificationJWK)))
        verifier = ReceiptVerifier(keys: keys, clock: clock)
    }
}

@Suite("Receipt verification of tokens in the signer's own form")
struct ReceiptSignerFormTests {
    @Test("every key's tokens verify to the signed claims, with the resource given or not")
    func everyKey() throws {
        let fixture = try SignerFixture()
        for signer in fixture.signers {
            let token = try signer.sign(fixture.claims)
            // A resource built at run time, so it is not the literal the claims were made from.
            let resource = ["GET", "/v1/chat/completions"].joined(separator: " ")
            #expect(try fixture.verifier.verify(token, resource: resource) == fixture.claims, "\(signer.keyID)")
            #expect(try fixture.verifier.verify(token, resource: nil) == fixture.claims, "\(signer.keyID)")
            expectRefusal(.wrongResource) { _ = try fixture.verifier.verify(token, resource: "GET /v1/chat/completion") }
            expectRefusal(.wrongResource) { _ = try fixture.verifier.verify(token, resource: "get /v1/chat/completions") }
            expectRefusal(.wrongResource) { _ = try fixture.verifier.verify(token, resource: "GET /v1/chat/completions ") }
        }
    }

    @Test("a signer's header names its own key only: another key's signature under it is a bad signature for that key")
    func headerNamesItsKey() throws {
        let fixture = try SignerFixture()
        let payload = try CanonicalJSON.serialize(fixture.claims.jsonValue)
        let claimsSegment = Base64URL.encode(payload)
        let header = encoded(#"{"alg":"HS256","kid":"hs-1","typ":"JWT"}"#)
        let right = hmacToken(headerSegment: header, claimsSegment: claimsSegment, secret: try #require(fixture.secrets["hs-1"]))
        #expect(try fixture.verifier.verify(right, resource: fixture.claims.sub) == fixture.claims)
        let wrong = hmacToken(headerSegment: header, claimsSegment: claimsSegment, secret: try #require(fixture.secrets["hs-2"]))
        do {
            _ = try fixture.verifier.verify(wrong, resource: nil)
            Issue.record("a token signed with hs-2 under hs-1's header was accepted")
        } catch {
            #expect(error.code == .badSignature)
            #expect(error.reason.contains("'hs-1'"))
        }
        // The same header text for an Ed25519 key's kid, with alg HS256: the key type decides.
        let confused = hmacToken(headerSegment: encoded(#"{"alg":"HS256","kid":"ed-1","typ":"JWT"}"#), claimsSegment: claimsSegment,
                                 secret: try #require(fixture.secrets["hs-1"]))
        expectRefusal(.algorithmMismatch) { _ = try fixture.verifier.verify(confused, resource: nil) }
    }

    @Test("padding or a fourth segment is reported as such, even on a token whose signature is also wrong")
    func paddingAndSegments() throws {
        let fixture = try SignerFixture()
        let secret = try #require(fixture.secrets["hs-0"])
        let header = encoded(#"{"alg":"HS256","kid":"hs-0","typ":"JWT"}"#)
        let claimsSegment = Base64URL.encode(try CanonicalJSON.serialize(fixture.claims.jsonValue))
        let genuine = hmacToken(headerSegment: header, claimsSegment: claimsSegment, secret: secret)
        #expect(try fixture.verifier.verify(genuine, resource: nil) == fixture.claims)
        // Signed over padded claims: the signature is right, the padding is still refused.
        let padded = hmacToken(headerSegment: header, claimsSegment: claimsSegment + "=", secret: secret)
        expectRefusal(.malformed) { _ = try fixture.verifier.verify(padded, resource: nil) }
        // Padding and a signature from another key: padding is what is reported, as it always was.
        let paddedForged = hmacToken(headerSegment: header, claimsSegment: claimsSegment + "=", secret: try SecureRandom.bytes(count: 32))
        expectRefusal(.malformed) { _ = try fixture.verifier.verify(paddedForged, resource: nil) }
        expectRefusal(.malformed) { _ = try fixture.verifier.verify(genuine + ".", resource: nil) }
        expectRefusal(.malformed) { _ = try fixture.verifier.verify(genuine + ".AAAA", resource: nil) }
        expectRefusal(.malformed) { _ = try fixture.verifier.verify(genuine + "=", resource: nil) }
    }

    @Test("whole-number times: the largest Int64 reads exactly, one more is refused as before")
    func longNumbers() throws {
        let fixture = try SignerFixture()
        let secret = try #require(fixture.secrets["hs-0"])
        let header = encoded(#"{"alg":"HS256","kid":"hs-0","typ":"JWT"}"#)
        func claims(exp: String) -> String {
            #"{"amount":"210","currency":"sat","exp":"# + exp
                + #","iat":1800000000,"iss":"api.example.com","jti":"j","method":"lightning","ref":"r","sub":"GET /x"}"#
        }
        for exp in ["1800003600", "999999999999999999", "9223372036854775807"] {
            let token = hmacToken(headerSegment: header, claimsSegment: encoded(claims(exp: exp)), secret: secret)
            #expect(try fixture.verifier.verify(token, resource: "GET /x").exp == Int64(exp), "\(exp)")
        }
        for exp in ["9223372036854775808", "99999999999999999999", "01800003600"] {
            let token = hmacToken(headerSegment: header, claimsSegment: encoded(claims(exp: exp)), secret: secret)
            #expect(throws: ReceiptVerificationError.self, "\(exp)") { _ = try fixture.verifier.verify(token, resource: "GET /x") }
        }
    }

    @Test("a key set keeps its HMAC keys alive on its own, and one derived by removing a key verifies with the rest")
    func keySetLifetime() throws {
        let secret = try SecureRandom.bytes(count: 32)
        let claims = ReceiptClaims(iss: "i", sub: "GET /x", jti: "j", iat: 1_800_000_000, exp: 1_800_003_600,
                                   method: "fake", amount: "1", currency: "sat", ref: "r")
        let token = try ReceiptSigner(key: .hs256(secret: secret), keyID: "kept").sign(claims)
        // Made in a function whose JWKS, keys and signer values are all gone when it returns.
        func derivedVerifier() throws -> ReceiptVerifier {
            let other = try ReceiptSigner(key: .hs256(secret: try SecureRandom.bytes(count: 32)), keyID: "removed")
            let kept = try ReceiptSigner(key: .hs256(secret: secret), keyID: "kept")
            let set = try ReceiptKeySet(jwks: JSONWebKeySet(keys: [other.verificationJWK, kept.verificationJWK]))
            return ReceiptVerifier(keys: set.removing(keyID: "removed"),
                                   clock: ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000)))
        }
        let verifier = try derivedVerifier()
        for _ in 0..<100 {
            #expect(try verifier.verify(token, resource: "GET /x") == claims)
        }
    }
}
