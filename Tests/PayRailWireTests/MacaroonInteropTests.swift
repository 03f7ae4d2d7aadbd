import Foundation
import PayRailCrypto
import PayRailTestPeers
@testable import PayRailWire
import Testing

/// pymacaroons (PyPI 0.13.0) is the independent implementation our macaroons must agree with, both ways.
@Suite("Macaroons interoperate with pymacaroons")
struct MacaroonInteropTests {
    static let peer = L402Fixtures.folder.appendingPathComponent("macaroon_peer.py")

    struct Verdict: Decodable {
        var ok: Bool
        var signature: String?
        var identifier: String?
        var caveats: [String]?
        var error: String?
    }

    static func verify(_ macaroons: [String], satisfy: [String], rootKey: [UInt8]) throws -> [Verdict] {
        let input = try JSONSerialization.data(withJSONObject: ["macaroons": macaroons, "satisfy": satisfy])
        let output = try PythonPeer.run(peer, ["verify", L402Hex.encode(rootKey)], input: input)
        return try output.split(separator: "\n").map { try JSONDecoder().decode(Verdict.self, from: Data($0.utf8)) }
    }

    @Test("pymacaroons verifies macaroons we minted with caveats, and refuses tampered or unsatisfied ones")
    func pymacaroonsVerifiesOurs() throws {
        let rootKey = try SecureRandom.bytes(count: 32)
        let identifier = try L402Identifier.random(paymentHash: SHA256.hash(try SecureRandom.bytes(count: 32)))
        let caveats = ["services=weather:0,maps:1", "weather_valid_until=1767225600", "weather_capabilities=forecast,history",
                       "weather_capabilities=forecast", "unicode=caf\u{E9} \u{1F4B8}"]
        let ours = try Macaroon.mint(rootKey: rootKey, identifier: identifier.bytes, location: "lsat", firstPartyCaveats: caveats)
        let noLocation = try Macaroon.mint(rootKey: rootKey, identifier: identifier.bytes, firstPartyCaveats: caveats)
        var forgedSignature = ours.signature
        forgedSignature[0] ^= 0x80
        let forged = Macaroon(location: ours.location, identifier: ours.identifier, caveats: ours.caveats, signature: forgedSignature)
        let truncated = Macaroon(location: ours.location, identifier: ours.identifier,
                                 caveats: Array(ours.caveats.dropLast()), signature: ours.signature)

        let verdicts = try Self.verify([ours.base64, noLocation.base64, forged.base64, truncated.base64],
                                       satisfy: caveats, rootKey: rootKey)
        try #require(verdicts.count == 4)
        #expect(verdicts[0].ok, "\(verdicts[0].error ?? "")")
        #expect(verdicts[0].signature == L402Hex.encode(ours.signature))
        #expect(verdicts[0].identifier == L402Hex.encode(identifier.bytes))
        #expect(verdicts[0].caveats == caveats)
        #expect(verdicts[1].ok, "\(verdicts[1].error ?? "")")
        #expect(!verdicts[2].ok)
        #expect(!verdicts[3].ok)
        // pymacaroons, like us, fails a caveat nobody satisfies.
        let unsatisfied = try Self.verify([ours.base64], satisfy: Array(caveats.dropFirst()), rootKey: rootKey)
        #expect(unsatisfied.first?.ok == false)
        let wrongKey = try Self.verify([ours.base64], satisfy: caveats, rootKey: try SecureRandom.bytes(count: 32))
        #expect(wrongKey.first?.ok == false)
    }

    @Test("We parse and verify V2 macaroons pymacaroons minted, with and without a location")
    func weVerifyPymacaroons() throws {
        let rootKey = try SecureRandom.bytes(count: 32)
        let identifier = try L402Identifier.random(paymentHash: try SecureRandom.bytes(count: 32))
        let caveats = ["services=weather:0", "weather_valid_until=4102444800", "weather_capabilities=", "preimage=" + String(repeating: "ab", count: 32)]
        for location in ["lsat", nil] as [String?] {
            var request: [String: Any] = ["rootKeyHex": L402Hex.encode(rootKey), "identifierHex": L402Hex.encode(identifier.bytes),
                                          "caveats": caveats]
            request["location"] = location ?? NSNull()
            let output = try PythonPeer.run(Self.peer, ["mint"], input: try JSONSerialization.data(withJSONObject: request))
            let minted = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: String])
            let theirs = try Macaroon(base64: try #require(minted["base64"]))
            #expect(theirs.location == (location ?? ""))
            #expect(try L402Identifier(bytes: theirs.identifier) == identifier)
            #expect(theirs.caveats.map(\.predicate) == caveats)
            #expect(L402Hex.encode(theirs.signature) == minted["signature"])
            try theirs.verify(rootKey: rootKey) { caveats.contains($0) }
            // Our own mint of the same inputs has the same signature (the location is not signed).
            let ours = try Macaroon.mint(rootKey: rootKey, identifier: identifier.bytes, location: location ?? "", firstPartyCaveats: caveats)
            #expect(ours.signature == theirs.signature)
            #expect(throws: WireError.self) { try theirs.verify(rootKey: try SecureRandom.bytes(count: 32)) { _ in true } }
        }
    }
}
