// Every case of every Wycheproof file in Fixtures/wycheproof (Apache 2.0, see its LICENSE) is run here.
//
// Decisions for "acceptable" cases
// --------------------------------
// The vendored files (Wycheproof 0.9 / 0.9rc5 testvectors_v1) contain NO "acceptable" cases: every case
// is "valid" (must verify) or "invalid" (must not). Cases formerly marked acceptable in older releases
// are now "invalid" and are asserted as such, which matches PayRail's policy:
//   - BerEncodedSignature, MissingZero, InvalidEncoding: REJECT. Only strict DER is parsed
//     (ECDSASignature(derRepresentation:)), so one (r, s) has exactly one accepted byte string.
//   - SignatureSize (P1363 signatures not exactly 64 bytes): REJECT. ES256 fixes the size (RFC 7518 3.4).
//   - SignatureMalleabilityBitcoin (s > n/2): REJECT with the default `requireLowS: true`.
//   - SignatureWithGarbage / TruncatedSignature (Ed25519 length != 64): REJECT.
// If a future fixture update brings "acceptable" cases, `expectedValidity` applies the table above and
// reports any flag it has no decision for as a failure, so nothing is silently accepted or skipped.
//
// Counts (valid/invalid/acceptable), asserted below together with each file's numberOfTests:
//   ed25519_test.json                          151 = 88 / 63 / 0
//   ecdsa_secp256r1_sha256_test.json           484 = 174 / 310 / 0
//   ecdsa_secp256r1_sha256_p1363_test.json     262 = 173 / 89 / 0
//   ecdsa_secp256k1_sha256_bitcoin_test.json   463 = 162 / 301 / 0
//   hmac_sha256_test.json                      174 = 66 / 108 / 0

import Foundation
import PayRailCrypto
import Testing

private struct WycheproofFile<Group: Decodable>: Decodable {
    let algorithm: String
    let numberOfTests: Int
    let testGroups: [Group]
}

private struct WycheproofKey: Decodable {
    let pk: String?
    let uncompressed: String?
}

private struct SignatureGroup: Decodable {
    let publicKey: WycheproofKey
    let publicKeyDer: String
    let publicKeyPem: String
    let publicKeyJwk: JSONWebKey?
    let tests: [SignatureCase]
}

private struct SignatureCase: Decodable {
    let tcId: Int
    let comment: String
    let flags: [String]
    let msg: String
    let sig: String
    let result: String
}

private struct MACGroup: Decodable {
    let keySize: Int
    let tagSize: Int
    let tests: [MACCase]
}

private struct MACCase: Decodable {
    let tcId: Int
    let comment: String
    let flags: [String]
    let key: String
    let msg: String
    let tag: String
    let result: String
}

/// Counts outcomes and collects every failing tcId, so one run reports all failures at once.
private struct Tally {
    var valid = 0
    var invalid = 0
    var acceptable = 0
    var failures: [String] = []

    var total: Int { valid + invalid + acceptable }
    /// [valid, invalid, acceptable]
    var counts: [Int] { [valid, invalid, acceptable] }

    /// Flags whose "acceptable" cases PayRail refuses (see the decision table at the top of the file).
    static let rejectedAcceptableFlags: Set<String> = [
        "BerEncodedSignature", "MissingZero", "InvalidEncoding", "SignatureSize",
        "SignatureMalleabilityBitcoin", "SignatureWithGarbage", "TruncatedSignature",
    ]

    /// The verdict a case must get, or nil (recorded as a failure) when no decision exists.
    mutating func expectedValidity(tcId: Int, result: String, flags: [String]) -> Bool? {
        switch result {
        case "valid":
            valid += 1
            return true
        case "invalid":
            invalid += 1
            return false
        case "acceptable":
            acceptable += 1
            if flags.contains(where: Tally.rejectedAcceptableFlags.contains) { return false }
            failures.append("tcId \(tcId): acceptable case with undecided flags \(flags)")
            return nil
        default:
            failures.append("tcId \(tcId): unknown result \"\(result)\"")
            return nil
        }
    }

    mutating func check(tcId: Int, comment: String, expected: Bool?, actual: Bool) {
        guard let expected, expected != actual else { return }
        failures.append("tcId \(tcId) (\(comment)): expected \(expected ? "accept" : "reject"), got \(actual ? "accept" : "reject")")
    }
}

private func load<Group: Decodable>(_ name: String, as: Group.Type) throws -> WycheproofFile<Group> {
    try JSONDecoder().decode(WycheproofFile<Group>.self, from: CryptoFixtures.data("wycheproof/\(name)"))
}

private func hex(_ text: String) throws -> [UInt8] { try CryptoFixtures.bytes(hex: text) }

@Suite("Wycheproof")
struct WycheproofTests {
    @Test("ed25519_test.json: every case")
    func ed25519() throws {
        let file = try load("ed25519_test.json", as: SignatureGroup.self)
        var tally = Tally()
        for group in file.testGroups {
            let key = try Ed25519.PublicKey(rawRepresentation: hex(try #require(group.publicKey.pk)))
            // The same key in its three other published forms must load to the same key.
            #expect(try Ed25519.PublicKey(derRepresentation: hex(group.publicKeyDer)) == key)
            #expect(try Ed25519.PublicKey(pemRepresentation: group.publicKeyPem) == key)
            #expect(try Ed25519.PublicKey(jwk: try #require(group.publicKeyJwk)) == key)
            for test in group.tests {
                let expected = tally.expectedValidity(tcId: test.tcId, result: test.result, flags: test.flags)
                let actual = key.isValidSignature(try hex(test.sig), for: try hex(test.msg))
                tally.check(tcId: test.tcId, comment: test.comment, expected: expected, actual: actual)
            }
        }
        #expect(tally.failures == [])
        #expect(tally.total == file.numberOfTests)
        #expect(tally.counts == [88, 63, 0])
    }

    @Test("ecdsa_secp256r1_sha256_test.json (DER): every case")
    func p256DER() throws {
        let file = try load("ecdsa_secp256r1_sha256_test.json", as: SignatureGroup.self)
        var tally = Tally()
        for group in file.testGroups {
            let key = try P256.PublicKey(derRepresentation: hex(group.publicKeyDer))
            #expect(try P256.PublicKey(x963Representation: hex(try #require(group.publicKey.uncompressed))) == key)
            #expect(try P256.PublicKey(pemRepresentation: group.publicKeyPem) == key)
            for test in group.tests {
                let expected = tally.expectedValidity(tcId: test.tcId, result: test.result, flags: test.flags)
                let message = try hex(test.msg)
                var actual = false
                if let signature = try? ECDSASignature(derRepresentation: hex(test.sig)) {
                    actual = key.isValidSignature(signature, for: message)
                    // A parsed signature re-encodes to the very same bytes: strict DER has one form.
                    if try signature.derRepresentation != hex(test.sig) {
                        tally.failures.append("tcId \(test.tcId): DER re-encoding differs from the accepted input")
                    }
                }
                tally.check(tcId: test.tcId, comment: test.comment, expected: expected, actual: actual)
            }
        }
        #expect(tally.failures == [])
        #expect(tally.total == file.numberOfTests)
        #expect(tally.counts == [174, 310, 0])
    }

    @Test("ecdsa_secp256r1_sha256_p1363_test.json (r||s): every case")
    func p256P1363() throws {
        let file = try load("ecdsa_secp256r1_sha256_p1363_test.json", as: SignatureGroup.self)
        var tally = Tally()
        for group in file.testGroups {
            let key = try P256.PublicKey(derRepresentation: hex(group.publicKeyDer))
            if let jwk = group.publicKeyJwk {  // groups with points at extreme coordinates carry no JWK
                #expect(try P256.PublicKey(jwk: jwk) == key)
            }
            for test in group.tests {
                let expected = tally.expectedValidity(tcId: test.tcId, result: test.result, flags: test.flags)
                var actual = false
                if let signature = try? ECDSASignature(rawRepresentation: hex(test.sig)) {
                    actual = key.isValidSignature(signature, for: try hex(test.msg))
                }
                tally.check(tcId: test.tcId, comment: test.comment, expected: expected, actual: actual)
            }
        }
        #expect(tally.failures == [])
        #expect(tally.total == file.numberOfTests)
        #expect(tally.counts == [173, 89, 0])
    }

    @Test("ecdsa_secp256k1_sha256_bitcoin_test.json (DER, low-S): every case, and recovery of every valid one")
    func secp256k1Bitcoin() throws {
        let file = try load("ecdsa_secp256k1_sha256_bitcoin_test.json", as: SignatureGroup.self)
        var tally = Tally()
        var recovered = 0
        for group in file.testGroups {
            let key = try Secp256k1.PublicKey(derRepresentation: hex(group.publicKeyDer))
            #expect(try Secp256k1.PublicKey(serialized: hex(try #require(group.publicKey.uncompressed))) == key)
            #expect(try Secp256k1.PublicKey(serialized: key.compressedRepresentation) == key)
            for test in group.tests {
                let expected = tally.expectedValidity(tcId: test.tcId, result: test.result, flags: test.flags)
                let message = try hex(test.msg)
                var actual = false
                if let signature = try? ECDSASignature(derRepresentation: hex(test.sig)) {
                    actual = key.isValidSignature(signature, for: message)
                    if actual {
                        // Some recovery id must rebuild the signer's key from (r, s) and the digest alone.
                        let digest = SHA256.hash(message)
                        let candidates = (0...3).compactMap {
                            try? Secp256k1.PublicKey.recover(
                                compactSignature: signature.rawRepresentation, recoveryID: $0, digest: digest)
                        }
                        if candidates.contains(key) {
                            recovered += 1
                        } else {
                            tally.failures.append("tcId \(test.tcId): no recovery id recovers the signer")
                        }
                    }
                }
                tally.check(tcId: test.tcId, comment: test.comment, expected: expected, actual: actual)
            }
        }
        #expect(tally.failures == [])
        #expect(tally.total == file.numberOfTests)
        #expect(tally.counts == [162, 301, 0])
        #expect(recovered == tally.valid)
    }

    @Test("hmac_sha256_test.json: every case, truncated tags compared as prefixes")
    func hmacSHA256() throws {
        let file = try load("hmac_sha256_test.json", as: MACGroup.self)
        var tally = Tally()
        for group in file.testGroups {
            let tagByteCount = group.tagSize / 8
            for test in group.tests {
                let expected = tally.expectedValidity(tcId: test.tcId, result: test.result, flags: test.flags)
                let key = try hex(test.key)
                let message = try hex(test.msg)
                let tag = try hex(test.tag)
                let full = HMACSHA256.authenticationCode(for: message, key: key)
                let reusable = try HMACKey(key)
                if reusable.authenticationCode(for: message) != full {
                    tally.failures.append("tcId \(test.tcId): HMACKey and the one-shot disagree")
                }
                let actual: Bool
                if tagByteCount == HMACSHA256.byteCount {
                    actual = HMACSHA256.isValidAuthenticationCode(tag, for: message, key: key)
                    if reusable.isValidAuthenticationCode(tag, for: message) != actual {
                        tally.failures.append("tcId \(test.tcId): HMACKey verification disagrees with the one-shot")
                    }
                } else {
                    // The product API accepts only full tags; a truncated tag is compared with the prefix here.
                    actual = constantTimeEquals(tag, full.prefix(tagByteCount))
                    if HMACSHA256.isValidAuthenticationCode(tag, for: message, key: key)
                        || reusable.isValidAuthenticationCode(tag, for: message)
                    {
                        tally.failures.append("tcId \(test.tcId): a truncated tag was accepted as a full tag")
                    }
                }
                tally.check(tcId: test.tcId, comment: test.comment, expected: expected, actual: actual)
            }
        }
        #expect(tally.failures == [])
        #expect(tally.total == file.numberOfTests)
        #expect(tally.counts == [66, 108, 0])
    }
}
