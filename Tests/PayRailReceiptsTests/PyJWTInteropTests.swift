import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailTestPeers
import Testing

/// PyJWT (with `cryptography`) is the independent JOSE implementation our receipts must agree with.
@Suite("Receipts interoperate with PyJWT")
struct PyJWTInteropTests {
    static let peerScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pyjwt_peer.py")

    @Test("PyJWT verifies our EdDSA, ES256 and HS256 tokens from our JWKS")
    func pyjwtVerifiesOurs() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let signers = [
            try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "ours-ed"),
            try ReceiptSigner(key: .es256(try P256.PrivateKey()), keyID: "ours-ec"),
            try ReceiptSigner(key: .hs256(secret: try SecureRandom.bytes(count: 32)), keyID: "ours-hs"),
        ]
        let claims = ReceiptClaims(iss: "api.example", sub: "GET /premium", jti: "chal-7", iat: now, exp: now + 600,
                                   method: "fake", amount: "250", currency: "sat", ref: "ref-7")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pyjwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let jwks = JSONWebKeySet(keys: signers.map(\.verificationJWK))
        try JSONEncoder().encode(jwks).write(to: directory.appendingPathComponent("jwks.json"))
        var tokens = try signers.map { try $0.sign(claims) }
        // A tampered token must be refused by PyJWT too, or the check above proves nothing.
        tokens.append(replacingSegment(1, of: tokens[0], with: segment(1, of: try signers[0].sign(
            ReceiptClaims(iss: "api.example", sub: "GET /premium", jti: "chal-7", iat: now, exp: now + 600,
                          method: "fake", amount: "1", currency: "sat", ref: "ref-7")))))
        try tokens.joined(separator: "\n").write(to: directory.appendingPathComponent("tokens.txt"), atomically: true, encoding: .utf8)

        let output = try PythonPeer.run(Self.peerScript, ["verify", directory.appendingPathComponent("jwks.json").path,
                                                          directory.appendingPathComponent("tokens.txt").path])
        let lines = output.split(separator: "\n")
        try #require(lines.count == 4, "PyJWT printed: \(output)")
        for (index, algorithm) in ["EdDSA", "ES256", "HS256"].enumerated() {
            let verdict = try #require(try JSONSerialization.jsonObject(with: Data(lines[index].utf8)) as? [String: Any])
            #expect(verdict["ok"] as? Bool == true, "PyJWT refused our \(algorithm) token: \(lines[index])")
            #expect(verdict["alg"] as? String == algorithm)
            let decoded = try #require(verdict["claims"] as? [String: Any])
            #expect(decoded["sub"] as? String == "GET /premium")
            #expect(decoded["amount"] as? String == "250")
            #expect((decoded["exp"] as? NSNumber)?.int64Value == now + 600)
        }
        #expect(lines[3].contains("\"ok\": false"), "PyJWT accepted a tampered token: \(lines[3])")
    }

    @Test("we accept PyJWT's genuine tokens and refuse its alg-none and alg-confusion tokens")
    func weVerifyPyJWTs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pyjwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try PythonPeer.run(Self.peerScript, ["mint", directory.path])

        let keySet = try ReceiptKeySet(jwksJSON: Data(contentsOf: directory.appendingPathComponent("jwks.json")))
        let verifier = ReceiptVerifier(keys: keySet)
        struct Case: Decodable { var name: String; var expect: String; var token: String }
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: directory.appendingPathComponent("tokens.json")))
        #expect(cases.count == 8)
        #expect(cases.filter { $0.expect == "valid" }.count == 3)
        for item in cases {
            do {
                let claims = try verifier.verify(item.token, resource: "GET /premium")
                #expect(item.expect == "valid", "\(item.name): accepted, expected \(item.expect)")
                #expect(claims.ref == "ref-pyjwt-1")
            } catch {
                #expect(error.code.description == item.expect, "\(item.name): \(error)")
            }
        }
    }
}
