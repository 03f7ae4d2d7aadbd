import Foundation
import PayRailCrypto
@testable import PayRailWire
import Testing

/// Fixtures of the L402 helper, read from plain files next to the tests.
enum L402Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("l402")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func hex(_ text: String) throws -> [UInt8] { try #require(L402Hex.decode(text), "bad hex in fixture") }

    /// The positive L402 vector (root key 00..1f, three caveats).
    static func vector() throws -> [String: Any] { try json("l402-macaroon-v2-vector.json") }

    static func string(_ object: [String: Any], _ key: String) throws -> String {
        try #require(object[key] as? String, "fixture lacks \(key)")
    }
}

@Suite("Macaroons: libmacaroons V2 binary and the HMAC chain")
struct MacaroonTests {
    @Test("Minting the L402 vector reproduces every chain step, the binary and the base64 byte for byte")
    func mintMatchesVector() throws {
        let v = try L402Fixtures.vector()
        let rootKey = try L402Fixtures.hex(L402Fixtures.string(v, "rootKeyHex"))
        let identifier = try L402Fixtures.hex(L402Fixtures.string(v, "identifierHex"))
        let caveats = try #require(v["caveats"] as? [String])
        let chain = try #require(v["signatureChainHex"] as? [String])
        #expect(L402Hex.encode(Macaroon.derivedKey(rootKey: rootKey)) == (try L402Fixtures.string(v, "derivedKeyHex")))

        var macaroon = try Macaroon.mint(rootKey: rootKey, identifier: identifier, location: "lsat")
        #expect(L402Hex.encode(macaroon.signature) == chain[0])
        for (index, caveat) in caveats.enumerated() {
            macaroon = macaroon.addingFirstPartyCaveat(caveat)
            #expect(L402Hex.encode(macaroon.signature) == chain[index + 1])
        }
        let minted = try Macaroon.mint(rootKey: rootKey, identifier: identifier, location: "lsat", firstPartyCaveats: caveats)
        #expect(minted == macaroon)
        #expect(minted.hex == (try L402Fixtures.string(v, "v2BinaryHex")))
        #expect(minted.base64 == (try L402Fixtures.string(v, "v2Base64Std")))
        #expect(L402Hex.encode(minted.signature) == (try L402Fixtures.string(v, "signatureHex")))
    }

    @Test("The vector parses back into the same parts, verifies, and re-serializes identically")
    func parseVector() throws {
        let v = try L402Fixtures.vector()
        let rootKey = try L402Fixtures.hex(L402Fixtures.string(v, "rootKeyHex"))
        let text = try L402Fixtures.string(v, "v2Base64Std")
        let macaroon = try Macaroon(base64: text)
        #expect(macaroon.location == "lsat")
        #expect(L402Hex.encode(macaroon.identifier) == (try L402Fixtures.string(v, "identifierHex")))
        let expectedCaveats: [String?] = try #require(v["caveats"] as? [String])
        #expect(macaroon.caveats.map(\.predicate) == expectedCaveats)
        #expect(macaroon.caveats.allSatisfy { $0.isFirstParty })
        #expect(macaroon.base64 == text)
        try macaroon.verify(rootKey: rootKey) { _ in true }
        // Unpadded standard base64 is read too (deployed peers drop padding).
        #expect(try Macaroon(base64: String(text.dropLast(2))) == macaroon)
        // The log form never shows the signature.
        #expect(!macaroon.description.contains(L402Hex.encode(macaroon.signature)))
    }

    @Test("libmacaroons README signatures reproduce (root key derivation included)")
    func libmacaroonsReadme() throws {
        let v = try L402Fixtures.vector()
        let readme = try #require(v["libmacaroons_readme"] as? [String: Any])
        let key = Array(try L402Fixtures.string(readme, "key").utf8)
        let macaroon = try Macaroon.mint(
            rootKey: key, identifier: Array(try L402Fixtures.string(readme, "identifier").utf8),
            location: try L402Fixtures.string(readme, "location")
        )
        #expect(L402Hex.encode(macaroon.signature) == (try L402Fixtures.string(readme, "signatureHex")))
        #expect(macaroon.base64 == (try L402Fixtures.string(readme, "v2Base64Std")))
        let restricted = macaroon.addingFirstPartyCaveat("account = 3735928559")
        #expect(L402Hex.encode(restricted.signature) == (try L402Fixtures.string(readme, "withCaveat_account = 3735928559_signatureHex")))
        try restricted.verify(rootKey: key) { $0 == "account = 3735928559" }
        #expect(throws: WireError.self) { try restricted.verify(rootKey: key) { $0 == "account = 1" } }
    }

    @Test("pymacaroons' empty location packet and aperture's gRPC hex form with a preimage caveat parse")
    func otherEncoders() throws {
        let v = try L402Fixtures.vector()
        let rootKey = try L402Fixtures.hex(L402Fixtures.string(v, "rootKeyHex"))
        let chain = try #require(v["signatureChainHex"] as? [String])
        let noLocationHex = try L402Fixtures.string(v, "pymacaroons_no_location_hex")
        let noLocation = try Macaroon(hex: noLocationHex)
        #expect(noLocation.location.isEmpty)
        #expect(noLocation.caveats.isEmpty)
        #expect(L402Hex.encode(noLocation.signature) == chain[0])
        try noLocation.verify(rootKey: rootKey) { _ in false }
        // We omit the empty location packet, as go-macaroon does: same macaroon, two bytes shorter.
        #expect(noLocation.binaryV2.count == (noLocationHex.utf8.count / 2) - 2)
        #expect(try Macaroon(binaryV2: noLocation.binaryV2) == noLocation)

        let grpc = try Macaroon(hex: try L402Fixtures.string(v, "grpcMetadataMacaroonHex_withPreimageCaveat").uppercased())
        #expect(grpc.caveats.last?.predicate == "preimage=" + String(repeating: "1", count: 64))
        try grpc.verify(rootKey: rootKey) { _ in true }
    }

    @Test("A libmacaroons macaroon with a third-party caveat round-trips; verifying it is refused as unsupported")
    func thirdPartyCaveat() throws {
        let packets = try L402Fixtures.json("go-macaroon-packet-v2-vectors.json")
        let full = try #require(packets["libmacaroonsV2Binary"] as? [String: Any])
        let bytes = try L402Fixtures.hex(L402Fixtures.string(full, "hex"))
        let macaroon = try Macaroon(binaryV2: bytes)
        #expect(macaroon.location == "http://mybank/")
        #expect(macaroon.caveats.count == 2)
        #expect(macaroon.caveats.first?.predicate == "account = 3735928559")
        let third = try #require(macaroon.caveats.last)
        #expect(!third.isFirstParty)
        #expect(third.location == "http://auth.mybank/")
        #expect(third.predicate == nil)
        #expect(macaroon.binaryV2 == bytes)
        #expect(L402Hex.encode(macaroon.signature) == "d27db2fd1f22760e4c3dae8137e2d8fc1df6c0741c18aed4b97256bf78d1f55c")
        let key = Array("this is a different super-secret key; never use the same secret twice".utf8)
        let error = #expect(throws: WireError.self) { try macaroon.verify(rootKey: key) { _ in true } }
        #expect(error?.code == .unsupported)
    }

    @Test("go-macaroon's packet and section parse cases, including every error case")
    func goMacaroonPacketCases() throws {
        let packets = try L402Fixtures.json("go-macaroon-packet-v2-vectors.json")
        let packetCases = try #require(packets["parsePacketV2"] as? [[String: Any]])
        for testCase in packetCases {
            var reader = MacaroonPacketReader(bytes: try L402Fixtures.hex(L402Fixtures.string(testCase, "dataHex")))
            if testCase["error"] != nil {
                #expect(throws: WireError.self) { _ = try reader.readPacket() }
            } else {
                let packet = try reader.readPacket()
                #expect(packet.type == UInt64(try #require(testCase["type"] as? Int)))
                #expect(packet.data == Array(((testCase["payload"] as? String) ?? "").utf8))
            }
        }
        let sectionCases = try #require(packets["parseSectionV2"] as? [[String: Any]])
        for testCase in sectionCases {
            var reader = MacaroonPacketReader(bytes: try L402Fixtures.hex(L402Fixtures.string(testCase, "dataHex")))
            if let expected = testCase["error"] as? String {
                let error = #expect(throws: WireError.self) { _ = try reader.readSection() }
                let word = expected.contains("order") ? "out of order" : "past the end"
                #expect(error?.reason.contains(word) == true, "\(expected) -> \(String(describing: error))")
            } else {
                let section = try reader.readSection()
                let expected = try #require(testCase["packets"] as? [[Any]])
                #expect(section.map(\.type) == expected.compactMap { ($0.first as? Int).map(UInt64.init) })
                #expect(section.map { String(decoding: $0.data, as: UTF8.self) } == expected.compactMap { $0.last as? String })
            }
        }
    }

    @Test("Any change to the signature, a caveat, the identifier or the root key is refused")
    func tampering() throws {
        let rootKey = try SecureRandom.bytes(count: 32)
        let macaroon = try Macaroon.mint(rootKey: rootKey, identifier: Array("id-1".utf8), location: "lsat",
                                         firstPartyCaveats: ["services=weather:0"])
        try macaroon.verify(rootKey: rootKey) { _ in true }
        for index in macaroon.signature.indices {
            var signature = macaroon.signature
            signature[index] ^= 0x01
            let forged = Macaroon(location: macaroon.location, identifier: macaroon.identifier, caveats: macaroon.caveats, signature: signature)
            let error = #expect(throws: WireError.self) { try forged.verify(rootKey: rootKey) { _ in true } }
            #expect(error?.code == .bindingMismatch)
        }
        let widened = Macaroon(location: "lsat", identifier: macaroon.identifier,
                               caveats: [MacaroonCaveat(firstParty: "services=weather:0,admin:0")], signature: macaroon.signature)
        let dropped = Macaroon(location: "lsat", identifier: macaroon.identifier, caveats: [], signature: macaroon.signature)
        let otherID = Macaroon(location: "lsat", identifier: Array("id-2".utf8), caveats: macaroon.caveats, signature: macaroon.signature)
        let short = Macaroon(location: "lsat", identifier: macaroon.identifier, caveats: macaroon.caveats,
                             signature: Array(macaroon.signature.prefix(16)))
        for forged in [widened, dropped, otherID, short] {
            #expect(throws: WireError.self) { try forged.verify(rootKey: rootKey) { _ in true } }
        }
        #expect(throws: WireError.self) { try macaroon.verify(rootKey: try SecureRandom.bytes(count: 32)) { _ in true } }
        #expect(throws: WireError.self) { try macaroon.verify(rootKey: []) { _ in true } }
        // The location is not signed (libmacaroons): changing it keeps the signature valid.
        let moved = Macaroon(location: "elsewhere", identifier: macaroon.identifier, caveats: macaroon.caveats, signature: macaroon.signature)
        try moved.verify(rootKey: rootKey) { _ in true }
        #expect(throws: WireError.self) { _ = try Macaroon.mint(rootKey: Array(repeating: 1, count: 15), identifier: [1]) }
    }

    @Test("Malformed binaries are refused with the right code, never a crash")
    func malformed() throws {
        let v = try L402Fixtures.vector()
        let good = try L402Fixtures.hex(L402Fixtures.string(v, "v2BinaryHex"))
        // Every proper prefix is truncated somewhere.
        for length in 0..<good.count {
            #expect(throws: WireError.self) { _ = try Macaroon(binaryV2: Array(good.prefix(length))) }
        }
        func code(_ bytes: [UInt8]) -> WireError.Code? {
            do { _ = try Macaroon(binaryV2: bytes); return nil } catch { return error.code }
        }
        #expect(code(good + [0]) == .malformed)                              // trailing byte
        #expect(code([0x30] + good.dropFirst()) == .unsupported)             // V1 text format
        #expect(code([0x03] + good.dropFirst()) == .unsupported)             // unknown version
        #expect(code(Array(repeating: 2, count: Macaroon.maximumBinaryByteCount + 1)) == .tooLarge)
        // header: identifier then location is out of order
        #expect(code([2, 2, 1, 0x61, 1, 1, 0x62, 0, 0, 6, 32] + Array(repeating: 0, count: 32)) == .malformed)
        // header without identifier
        #expect(code([2, 1, 1, 0x62, 0, 0, 6, 32] + Array(repeating: 0, count: 32)) == .malformed)
        // first-party caveat with a location
        #expect(code([2, 2, 1, 0x61, 0, 1, 1, 0x6C, 2, 1, 0x63, 0, 0, 6, 32] + Array(repeating: 0, count: 32)) == .malformed)
        // caveat with an unknown field after the id
        #expect(code([2, 2, 1, 0x61, 0, 2, 1, 0x63, 5, 1, 0x78, 0, 0, 6, 32] + Array(repeating: 0, count: 32)) == .malformed)
        // 31-byte signature; a non-signature field where the signature belongs
        #expect(code([2, 2, 1, 0x61, 0, 0, 6, 31] + Array(repeating: 0, count: 31)) == .malformed)
        #expect(code([2, 2, 1, 0x61, 0, 0, 4, 32] + Array(repeating: 0, count: 32)) == .malformed)
        // length varint far past the buffer, and above 0x7fffffff
        #expect(code([2, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x07]) == .malformed)
        #expect(code([2, 2, 0x80, 0x80, 0x80, 0x80, 0x08]) == .malformed)
        // non-UTF-8 location
        #expect(code([2, 1, 1, 0xFF, 2, 1, 0x61, 0, 0, 6, 32] + Array(repeating: 0, count: 32)) == .malformed)
        #expect(throws: WireError.self) { _ = try Macaroon(hex: "0") }
        #expect(throws: WireError.self) { _ = try Macaroon(hex: "zz") }
        #expect(throws: WireError.self) { _ = try Macaroon(base64: "AgEE bHNh") }
        #expect(throws: WireError.self) { _ = try Macaroon(base64: String(repeating: "A", count: 30_000)) }

        // Seeded mutations of a valid macaroon: each either parses or throws, never traps.
        var generator = L402SplitMix(seed: 402)
        for _ in 0..<3000 {
            var bytes = good
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            if let parsed = try? Macaroon(binaryV2: bytes) {
                #expect(try Macaroon(binaryV2: parsed.binaryV2) == parsed)
            }
        }
    }

    @Test("The aperture identifier: version 0 ‖ payment hash ‖ token id")
    func identifier() throws {
        let v = try L402Fixtures.vector()
        let bytes = try L402Fixtures.hex(L402Fixtures.string(v, "identifierHex"))
        let identifier = try L402Identifier(bytes: bytes)
        #expect(identifier.version == 0)
        #expect(identifier.paymentHashHex == (try L402Fixtures.string(v, "paymentHashHex")))
        #expect(L402Hex.encode(identifier.tokenID) == (try L402Fixtures.string(v, "tokenIdHex")))
        #expect(identifier.bytes == bytes)
        let preimage = try L402Fixtures.hex(L402Fixtures.string(v, "preimageHex"))
        #expect(SHA256.hash(preimage) == identifier.paymentHash)

        func code(_ bytes: [UInt8]) -> WireError.Code? {
            do { _ = try L402Identifier(bytes: bytes); return nil } catch { return error.code }
        }
        #expect(code([0, 1] + bytes.dropFirst(2)) == .unsupported)
        #expect(code(Array(bytes.dropLast())) == .malformed)
        #expect(code(bytes + [0]) == .malformed)
        #expect(code([0]) == .malformed)
        #expect(code([]) == .malformed)
        let fresh = try L402Identifier.random(paymentHash: identifier.paymentHash)
        #expect(fresh.paymentHash == identifier.paymentHash && fresh.tokenID != identifier.tokenID)
        #expect(throws: WireError.self) { _ = try L402Identifier(paymentHash: [1, 2], tokenID: identifier.tokenID) }
    }
}

/// A small deterministic generator so mutation tests are reproducible.
struct L402SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
