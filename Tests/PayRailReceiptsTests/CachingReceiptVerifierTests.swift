import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import Testing

@Suite("Caching receipt verifier")
struct CachingReceiptVerifierTests {
    @Test("a remembered token is answered again with the same claims, and the resource is still checked")
    func hits() throws {
        let fixture = try ReceiptFixture()
        let cache = CachingReceiptVerifier(verifier: fixture.verifier(), capacity: 8)
        let token = try fixture.ed25519.sign(fixture.claims())
        let first = try cache.verify(token, resource: "GET /premium")
        #expect(cache.count == 1)
        #expect(try cache.verify(token, resource: "GET /premium") == first)
        #expect(cache.count == 1)
        expectRefusal(.wrongResource) { _ = try cache.verify(token, resource: "GET /other") }
    }

    @Test("expiry is checked on every hit")
    func expiryOnHit() throws {
        let fixture = try ReceiptFixture()
        let cache = CachingReceiptVerifier(verifier: fixture.verifier())
        let token = try fixture.hs256.sign(fixture.claims(grant: 60))
        _ = try cache.verify(token, resource: nil)
        fixture.clock.advance(by: 91)
        expectRefusal(.expired) { _ = try cache.verify(token, resource: nil) }
    }

    @Test("removing a key forgets what it verified and refuses its tokens")
    func keyRemoval() throws {
        let fixture = try ReceiptFixture()
        let cache = CachingReceiptVerifier(verifier: fixture.verifier())
        let edToken = try fixture.ed25519.sign(fixture.claims())
        let ecToken = try fixture.es256.sign(fixture.claims())
        _ = try cache.verify(edToken, resource: nil)
        _ = try cache.verify(ecToken, resource: nil)
        #expect(cache.count == 2)
        cache.removeKey("ed-1")
        #expect(cache.count == 1)
        expectRefusal(.unknownKeyID) { _ = try cache.verify(edToken, resource: nil) }
        #expect(throws: Never.self) { try cache.verify(ecToken, resource: nil) }
    }

    @Test("a forged token stays refused and is remembered as forged")
    func forged() throws {
        let fixture = try ReceiptFixture()
        let cache = CachingReceiptVerifier(verifier: fixture.verifier())
        let token = try fixture.ed25519.sign(fixture.claims())
        var signature = try Base64URL.decode(segment(2, of: token))
        signature[0] ^= 0x80
        let forged = replacingSegment(2, of: token, with: Base64URL.encode(signature))
        expectRefusal(.badSignature) { _ = try cache.verify(forged, resource: nil) }
        #expect(cache.count == 1)
        expectRefusal(.badSignature) { _ = try cache.verify(forged, resource: nil) }
        // An expired token is not remembered as a verdict: time decides it on every call.
        let expired = try fixture.ed25519.sign(fixture.claims(iat: 1000, grant: 10))
        expectRefusal(.expired) { _ = try cache.verify(expired, resource: nil) }
    }

    @Test("memory stays bounded: the oldest tokens are forgotten first")
    func bounded() throws {
        let fixture = try ReceiptFixture()
        let cache = CachingReceiptVerifier(verifier: fixture.verifier(), capacity: 4)
        var tokens: [String] = []
        for index in 0..<10 {
            let claims = ReceiptClaims(iss: "api.example", sub: "GET /premium", jti: "chal-\(index)", iat: fixture.claims().iat,
                                       exp: fixture.claims().exp, method: "fake", amount: "100", currency: "sat", ref: "r\(index)")
            tokens.append(try fixture.hs256.sign(claims))
            _ = try cache.verify(tokens[index], resource: nil)
            #expect(cache.count <= 4)
        }
        #expect(cache.count == 4)
        #expect(try cache.verify(tokens[0], resource: nil).jti == "chal-0")
    }

    @Test("many tasks at once get the same answers")
    func concurrent() async throws {
        let fixture = try ReceiptFixture()
        let cache = CachingReceiptVerifier(verifier: fixture.verifier(), capacity: 16)
        let good = try fixture.es256.sign(fixture.claims())
        let bad = replacingSegment(1, of: good, with: segment(1, of: try fixture.es256.sign(fixture.claims(resource: "GET /x"))))
        let outcomes = await withTaskGroup(of: (Bool, Bool).self) { group in
            for _ in 0..<200 {
                group.addTask {
                    ((try? cache.verify(good, resource: "GET /premium")) != nil, (try? cache.verify(bad, resource: "GET /x")) != nil)
                }
            }
            var all: [(Bool, Bool)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == 200)
        #expect(outcomes.allSatisfy { $0.0 && !$0.1 })
        #expect(cache.count == 2)
    }
}
