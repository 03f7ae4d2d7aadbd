import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import Testing

/// An HS256 token over exactly the header and claims text given, so a test controls every byte the
/// verifier reads (spacing, escapes, order, repeated names).
private func hmacToken(header: String, claims: String, secret: [UInt8]) -> String {
    let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
    return signingInput + "." + Base64URL.encode(HMACSHA256.authenticationCode(for: Array(signingInput.utf8), key: secret))
}

private struct HMACFixture {
    let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
    let secret: [UInt8]
    let verifier: ReceiptVerifier

    init() throws {
        secret = try SecureRandom.bytes(count: 32)
        let signer = try ReceiptSigner(key: .hs256(secret: secret), keyID: "hs-1")
        verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
    }

    static let header = #"{"alg":"HS256","kid":"hs-1","typ":"JWT"}"#
    static let claims = #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"api.example","jti":"chal-1","method":"fake","ref":"ref-1","sub":"GET /premium"}"#
    static let expected = ReceiptClaims(iss: "api.example", sub: "GET /premium", jti: "chal-1", iat: 1_800_000_000, exp: 1_800_000_300,
                                        method: "fake", amount: "100", currency: "sat", ref: "ref-1")

    func verify(header: String = HMACFixture.header, claims: String) throws -> ReceiptClaims {
        try verifier.verify(hmacToken(header: header, claims: claims, secret: secret), resource: nil)
    }
}

@Suite("Receipt verification: every spelling of a token gets the same answer")
struct ReceiptSpellingTests {
    @Test("the signer's own form verifies")
    func plainForm() throws {
        let fixture = try HMACFixture()
        #expect(try fixture.verify(claims: HMACFixture.claims) == HMACFixture.expected)
    }

    @Test("claims written with spaces, escapes, other number forms, non-ASCII text or extra members read the same",
          arguments: [
              #"{ "amount" : "100" , "currency":"sat","exp":1800000300,"iat":1800000000,"iss":"api.example","jti":"chal-1","method":"fake","ref":"ref-1","sub":"GET /premium" } "#,
              #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"api.\u0065xample","jti":"chal-1","method":"fake","ref":"ref-1","sub":"GET \/premium"}"#,
              #"{"amount":"100","currency":"sat","exp":1.8000003e9,"iat":1800000000.0,"iss":"api.example","jti":"chal-1","method":"fake","ref":"ref-1","sub":"GET /premium"}"#,
              #"{"sub":"GET /premium","ref":"ref-1","method":"fake","jti":"chal-1","iss":"api.example","iat":1800000000,"exp":1800000300,"currency":"sat","amount":"100","x":{"y":[1,null]}}"#,
              #"{"\u0061mount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"api.example","jti":"chal-1","method":"fake","ref":"ref-1","sub":"GET /premium"}"#,
          ])
    func otherSpellings(claims: String) throws {
        let fixture = try HMACFixture()
        #expect(try fixture.verify(claims: claims) == HMACFixture.expected)
    }

    @Test("non-ASCII claim text and nbf are read")
    func unicodeAndNotBefore() throws {
        let fixture = try HMACFixture()
        let claims = #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"café.example","jti":"chal-1","method":"fake","nbf":1800000000,"ref":"ref-1","sub":"GET /premium"}"#
        #expect(try fixture.verify(claims: claims).iss == "café.example")
        let later = #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"chal-1","method":"fake","nbf":1800000100,"ref":"ref-1","sub":"GET /premium"}"#
        expectRefusal(.notYetValid) { _ = try fixture.verify(claims: later) }
    }

    @Test("a repeated claim is refused however it is spelled", arguments: [
        #"{"amount":"100","currency":"sat","exp":1800000300,"exp":1900000000,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        #"{"amount":"100","currency":"sat","exp":1800000300,"\u0065xp":1900000000,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        #"{"amount":"100","amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium","x":1,"x":2}"#,
    ])
    func repeatedClaim(claims: String) throws {
        let fixture = try HMACFixture()
        expectRefusal(.malformed) { _ = try fixture.verify(claims: claims) }
    }

    @Test("claims that are not strict JSON are refused after the signature", arguments: [
        #"{"amount":"100","currency":"sat","exp":01800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        "{\"amount\":\"1\u{01}00\",\"currency\":\"sat\",\"exp\":1800000300,\"iat\":1800000000,\"iss\":\"a\",\"jti\":\"j\",\"method\":\"fake\",\"ref\":\"r\",\"sub\":\"GET /premium\"}",
        #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"} x"#,
        #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium",}"#,
        #"{"amount":"100" "currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
    ])
    func notStrictJSON(claims: String) throws {
        let fixture = try HMACFixture()
        expectRefusal(.malformed) { _ = try fixture.verify(claims: claims) }
    }

    @Test("a missing claim or one of the wrong type is refused", arguments: [
        #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r"}"#,
        #"{"amount":"100","currency":"sat","iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        #"{"amount":100,"currency":"sat","exp":1800000300,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        #"{"amount":"100","currency":"sat","exp":"1800000300","iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
        #"{"amount":"100","currency":"sat","exp":99999999999999999999,"iat":1800000000,"iss":"a","jti":"j","method":"fake","ref":"r","sub":"GET /premium"}"#,
    ])
    func missingOrMistyped(claims: String) throws {
        let fixture = try HMACFixture()
        expectRefusal(.badClaims) { _ = try fixture.verify(claims: claims) }
    }

    @Test("headers in other spellings verify; repeated, critical or mistyped members are refused")
    func headers() throws {
        let fixture = try HMACFixture()
        for header in [#" { "kid" : "hs-1", "alg" : "HS256" } "#, #"{"alg":"HS\u0032\u0035\u0036","kid":"hs-1"}"#,
                       #"{"alg":"HS256","kid":"hs-1","typ":{"x":1},"cty":"JWT"}"#] {
            #expect(try fixture.verify(header: header, claims: HMACFixture.claims) == HMACFixture.expected, "\(header)")
        }
        for header in [#"{"alg":"HS256","kid":"hs-1","kid":"hs-1"}"#, #"{"alg":"HS256","alg":"HS256","kid":"hs-1"}"#,
                       #"{"alg":"HS256","kid":"hs-1","typ":"JWT","typ":"JWT"}"#, #"{"alg":"HS256","kid":"hs-1","crit":["exp"]}"#,
                       #"{"alg":"HS256","kid":"hs-1","b64":false}"#, #"{"alg":"HS256","kid":7}"#, #"{"alg":"HS256","kid":"hs-1"}}"#] {
            expectRefusal(.malformed) { _ = try fixture.verify(header: header, claims: HMACFixture.claims) }
        }
        expectRefusal(.unknownKeyID) { _ = try fixture.verify(header: #"{"alg":"HS256","kid":"hs-2"}"#, claims: HMACFixture.claims) }
        expectRefusal(.unknownKeyID) { _ = try fixture.verify(header: #"{"alg":"HS256","kid":"hs-1 "}"#, claims: HMACFixture.claims) }
        expectRefusal(.algorithmMismatch) { _ = try fixture.verify(header: #"{"alg":"EdDSA","kid":"hs-1"}"#, claims: HMACFixture.claims) }
        expectRefusal(.algorithmNone) { _ = try fixture.verify(header: #"{"alg":"none","kid":"hs-1"}"#, claims: HMACFixture.claims) }
    }

    @Test("a bad signature names the key it was checked with")
    func badSignature() throws {
        let fixture = try HMACFixture()
        let token = hmacToken(header: HMACFixture.header, claims: HMACFixture.claims, secret: try SecureRandom.bytes(count: 32))
        do {
            _ = try fixture.verifier.verify(token, resource: nil)
            Issue.record("a token signed with another secret was accepted")
        } catch {
            #expect(error.code == .badSignature)
            #expect(error.reason.contains("'hs-1'"))
        }
        // A signature of the wrong length never matches, whatever its bytes.
        let short = replacingSegment(2, of: hmacToken(header: HMACFixture.header, claims: HMACFixture.claims, secret: fixture.secret),
                                     with: Base64URL.encode([UInt8](repeating: 0, count: 31)))
        expectRefusal(.badSignature) { _ = try fixture.verifier.verify(short, resource: nil) }
    }
}

@Suite("Receipt verification: iss, jti, amount and ref are read from the token when asked for")
struct ReceiptIdentifierTextTests {
    private static func claimsText(iss: String, jti: String, ref: String, extra: String = "") -> String {
        #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"\#(iss)","jti":"\#(jti)","method":"fake","ref":"\#(ref)","sub":"GET /premium"\#(extra)}"#
    }

    private static func expected(iss: String, jti: String, ref: String) -> ReceiptClaims {
        ReceiptClaims(iss: iss, sub: "GET /premium", jti: jti, iat: 1_800_000_000, exp: 1_800_000_300,
                      method: "fake", amount: "100", currency: "sat", ref: ref)
    }

    @Test("every start within a base64 group and every length, up to the last group of the segment")
    func everyAlignment() throws {
        let fixture = try HMACFixture()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        // iss shifts where jti starts (all three offsets in a group); jti's length shifts ref; ref's
        // length moves the segment's end through groups of four, three and two characters.
        for issLength in 1...3 {
            for jtiLength in 0...4 {
                for refLength in 0...70 {
                    let iss = String(repeating: "i", count: issLength)
                    let jti = String((0..<jtiLength).map { alphabet[$0 % alphabet.count] })
                    let ref = String((0..<refLength).map { alphabet[($0 * 7) % alphabet.count] })
                    let text = Self.claimsText(iss: iss, jti: jti, ref: ref)
                    // The signer's form; with a leading space (read by the other simple reader); and
                    // with ref last, so that its bytes reach into the segment's last group.
                    let refLast = #"{"amount":"100","currency":"sat","exp":1800000300,"iat":1800000000,"iss":"\#(iss)","jti":"\#(jti)","method":"fake","sub":"GET /premium","ref":"\#(ref)"}"#
                    for spelling in [text, " " + text, refLast] {
                        let claims = try fixture.verify(claims: spelling)
                        #expect(claims.iss == iss && claims.jti == jti && claims.amount == "100" && claims.ref == ref,
                                "iss \(issLength), jti \(jtiLength), ref \(refLength)")
                    }
                }
            }
        }
    }

    @Test("claims read from a token equal, hash and encode like the same claims built from strings")
    func sameAsBuilt() throws {
        let fixture = try HMACFixture()
        let jti = "c2VjcmV0LWNoYWxsZW5nZS1pZC0wMTIzNDU2Nzg5YWJjZGVm"
        let ref = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
        let read = try fixture.verify(claims: Self.claimsText(iss: "api.example", jti: jti, ref: ref))
        let built = Self.expected(iss: "api.example", jti: jti, ref: ref)
        #expect(read == built)
        #expect(Set([read, built]).count == 1)
        #expect(read.hashValue == built.hashValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(read) == encoder.encode(built))
        #expect(try JSONDecoder().decode(ReceiptClaims.self, from: encoder.encode(read)) == built)
        // Another jti or ref is another receipt, whichever form either side is in.
        #expect(read != Self.expected(iss: "api.example", jti: jti + "x", ref: ref))
        #expect(read != Self.expected(iss: "api.example", jti: jti, ref: String(ref.dropLast())))
        // Built claims keep their texts in one string: texts that start with a combining accent
        // (which would join the character before them) still come back apart, byte for byte.
        let combining = ReceiptClaims(iss: "cafe", sub: "GET /x", jti: "\u{301}-id", iat: 1, exp: 2, method: "fake",
                                      amount: "\u{301}", currency: "sat", ref: "\u{301}-ref")
        #expect(Array(combining.iss.utf8) == Array("cafe".utf8) && Array(combining.jti.utf8) == Array("\u{301}-id".utf8))
        #expect(Array(combining.amount.utf8) == Array("\u{301}".utf8) && Array(combining.ref.utf8) == Array("\u{301}-ref".utf8))
        #expect(combining != ReceiptClaims(iss: "caf", sub: "GET /x", jti: "e\u{301}-id", iat: 1, exp: 2, method: "fake",
                                           amount: "\u{301}", currency: "sat", ref: "\u{301}-ref"))
    }

    @Test("printing or dumping claims shows the claims, never the token they were read from")
    func printingShowsNoToken() throws {
        let fixture = try HMACFixture()
        let token = hmacToken(header: HMACFixture.header, claims: Self.claimsText(iss: "a", jti: "jti-shown", ref: "ref-shown"),
                              secret: fixture.secret)
        let claims = try fixture.verifier.verify(token, resource: nil)
        let signature = String(token.split(separator: ".")[2])
        var dumped = ""
        dump(claims, to: &dumped)
        for text in [String(describing: claims), String(reflecting: claims), "\(claims)", dumped] {
            #expect(text.contains("jti-shown") && text.contains("ref-shown") && text.contains("100"))
            #expect(!text.contains(signature) && !text.contains(String(token.prefix(20))))
        }
    }

    @Test("the claims keep their texts after the caller's token string is gone")
    func outliveTheCallersString() throws {
        let fixture = try HMACFixture()
        var claims: ReceiptClaims?
        do {
            // A string made here and dropped at the end of the scope: the claims must hold their own reference.
            let token = hmacToken(header: HMACFixture.header, claims: Self.claimsText(iss: "a", jti: "jti-outlives", ref: "ref-outlives"),
                                  secret: fixture.secret)
            claims = try fixture.verifier.verify(String(decoding: Array(token.utf8), as: UTF8.self), resource: nil)
        }
        #expect(claims?.jti == "jti-outlives")
        #expect(claims?.ref == "ref-outlives")
        #expect(claims?.iss == "a" && claims?.amount == "100")
    }

    @Test("a claims segment beyond 16-bit offsets keeps its texts as copies", arguments: [70_000, 40_000])
    func longSegment(issLength: Int) throws {
        let fixture = try HMACFixture()
        let verifier = ReceiptVerifier(keys: fixture.verifier.keys, maxTokenLength: 200_000, clock: fixture.clock)
        // In the signer's own form, so the fast reader takes it: an iss of 70,000 bytes puts every
        // later range past 16 bits; one of 40,000 keeps iss's own range within them but not the segment.
        let iss = String(repeating: "i", count: issLength)
        let text = Self.claimsText(iss: iss, jti: "jti-far", ref: "ref-far")
        let claims = try verifier.verify(hmacToken(header: HMACFixture.header, claims: text, secret: fixture.secret), resource: nil)
        #expect(claims == Self.expected(iss: iss, jti: "jti-far", ref: "ref-far"))
        #expect(claims.iss == iss && claims.jti == "jti-far" && claims.amount == "100" && claims.ref == "ref-far")
    }
}

@Suite("Receipt verification keeps OpenSSL contexts per thread")
struct ReceiptContextReuseTests {
    @Test("more keys than a thread keeps contexts for still verify, each only with its own key")
    func manyKeys() throws {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
        var signers: [ReceiptSigner] = []
        for index in 0..<40 {
            signers.append(try ReceiptSigner(key: .hs256(secret: try SecureRandom.bytes(count: 32)), keyID: "hs-\(index)"))
        }
        for index in 0..<4 {
            signers.append(try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "ed-\(index)"))
        }
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: signers.map(\.verificationJWK))), clock: clock)
        let tokens = try signers.map { try $0.sign(HMACFixture.expected) }
        for _ in 0..<3 {
            for token in tokens { #expect(try verifier.verify(token, resource: "GET /premium") == HMACFixture.expected) }
        }
        // Each token claims another signer's key: every one must be refused.
        for (index, token) in tokens.enumerated() where index < 40 {
            let otherKid = "hs-\((index + 1) % 40)"
            let header = Base64URL.encode(Array(#"{"alg":"HS256","kid":"\#(otherKid)"}"#.utf8))
            expectRefusal(.badSignature) { _ = try verifier.verify(replacingSegment(0, of: token, with: header), resource: nil) }
        }
    }

    @Test("a key set made after another was dropped never verifies with the old key's context")
    func keysComeAndGo() throws {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
        for round in 0..<60 {
            let signer = try ReceiptSigner(key: .hs256(secret: try SecureRandom.bytes(count: 32)), keyID: "hs-1")
            let stranger = try ReceiptSigner(key: .hs256(secret: try SecureRandom.bytes(count: 32)), keyID: "hs-1")
            let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
            #expect(try verifier.verify(try signer.sign(HMACFixture.expected), resource: nil) == HMACFixture.expected, "round \(round)")
            expectRefusal(.badSignature) { _ = try verifier.verify(try stranger.sign(HMACFixture.expected), resource: nil) }
        }
    }

    @Test("one verifier used from several threads accepts every genuine token and refuses every forged one")
    func severalThreads() throws {
        let fixture = try ReceiptFixture()
        let verifier = fixture.verifier()
        let claims = fixture.claims()
        let genuine = try fixture.signers.map { try $0.sign(claims) }
        let forged = genuine.map { token in
            replacingSegment(1, of: token, with: Base64URL.encode(Array(#"{"amount":"999"}"#.utf8)))
        }
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var accepted = 0
            var refused = 0
        }
        let tally = Tally()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var accepted = 0, refused = 0
            for _ in 0..<20 {
                for token in genuine where (try? verifier.verify(token, resource: "GET /premium")) == claims { accepted += 1 }
                for token in forged {
                    do { _ = try verifier.verify(token, resource: nil) } catch let error as ReceiptVerificationError where error.code == .badSignature { refused += 1 } catch {}
                }
            }
            tally.lock.lock()
            tally.accepted += accepted
            tally.refused += refused
            tally.lock.unlock()
        }
        #expect(tally.accepted == 4 * 20 * 3)
        #expect(tally.refused == 4 * 20 * 3)
    }
}
