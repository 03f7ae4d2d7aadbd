import Foundation
import PayRailCrypto
import Testing

private struct ExpectedKeys: Decodable {
    struct Ed: Decodable { let seed: String; let `public`: String }
    struct P: Decodable { let d: String; let x963: String }
    struct K: Decodable { let d: String; let uncompressed: String }
    let ed25519: Ed
    let p256: P
    let secp256k1: K
}

private func expectedKeys() throws -> ExpectedKeys {
    try JSONDecoder().decode(ExpectedKeys.self, from: CryptoFixtures.data("keys/expected.json"))
}

private func hex(_ text: String) throws -> [UInt8] { try CryptoFixtures.bytes(hex: text) }

@Suite("Ed25519")
struct Ed25519Tests {
    @Test("RFC 8032 section 7.1 test 1")
    func rfc8032Test1() throws {
        let key = try Ed25519.PrivateKey(
            rawRepresentation: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(CryptoFixtures.hex(key.publicKey.rawRepresentation)
            == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = try key.signature(for: [UInt8]())
        #expect(CryptoFixtures.hex(signature)
            == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(key.publicKey.isValidSignature(signature, for: Data()))
    }

    @Test("generate, sign, verify; wrong key, message or signature fails")
    func signVerify() throws {
        let key = try Ed25519.PrivateKey()
        let other = try Ed25519.PrivateKey()
        let message = Array("pay 21 sat".utf8)
        let signature = try key.signature(for: message)
        #expect(signature.count == 64)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!other.publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: Array("pay 22 sat".utf8)))
        var flipped = signature
        flipped[10] ^= 0x40
        #expect(!key.publicKey.isValidSignature(flipped, for: message))
        #expect(!key.publicKey.isValidSignature(signature.dropLast(), for: message))
        #expect(!key.publicKey.isValidSignature(signature + [0], for: message))
        #expect(!key.publicKey.isValidSignature([UInt8](), for: message))
    }

    @Test("PEM and DER round trips; OpenSSL's own PEM files load and re-export byte-identically")
    func pem() throws {
        let expected = try expectedKeys()
        let privatePEM = try CryptoFixtures.text("keys/ed25519-private.pem")
        let publicPEM = try CryptoFixtures.text("keys/ed25519-public.pem")
        let key = try Ed25519.PrivateKey(pemRepresentation: privatePEM)
        #expect(CryptoFixtures.hex(key.rawRepresentation) == expected.ed25519.seed)
        #expect(CryptoFixtures.hex(key.publicKey.rawRepresentation) == expected.ed25519.public)
        #expect(key.pemRepresentation == privatePEM)
        #expect(key.publicKey.pemRepresentation == publicPEM)
        #expect(try Ed25519.PublicKey(pemRepresentation: publicPEM) == key.publicKey)
        #expect(try Ed25519.PublicKey(derRepresentation: key.publicKey.derRepresentation) == key.publicKey)

        let fresh = try Ed25519.PrivateKey()
        let reloaded = try Ed25519.PrivateKey(pemRepresentation: fresh.pemRepresentation)
        #expect(reloaded.rawRepresentation == fresh.rawRepresentation)
        #expect(reloaded.publicKey == fresh.publicKey)
    }

    @Test("JWK round trip (RFC 8037) and JSON coding")
    func jwk() throws {
        let key = try Ed25519.PrivateKey()
        let privateJWK = key.jwk(kid: "receipts-2026")
        #expect(privateJWK.kty == "OKP" && privateJWK.crv == "Ed25519" && privateJWK.d != nil)
        #expect(privateJWK.kid == "receipts-2026" && privateJWK.alg == "EdDSA")
        let publicJWK = key.publicKey.jwk(kid: "receipts-2026")
        #expect(publicJWK.d == nil)
        #expect(privateJWK.publicKeyOnly == publicJWK)

        let json = try JSONEncoder().encode(JSONWebKeySet(keys: [publicJWK]))
        let decoded = try JSONDecoder().decode(JSONWebKeySet.self, from: json)
        let found = try #require(decoded.key(withID: "receipts-2026"))
        #expect(try Ed25519.PublicKey(jwk: found) == key.publicKey)
        #expect(try Ed25519.PrivateKey(jwk: privateJWK).rawRepresentation == key.rawRepresentation)
        #expect(!String(decoding: json, as: UTF8.self).contains("\"y\""))

        // RFC 8037 appendix A.1 / A.2 key.
        let rfcJWK = try JSONDecoder().decode(JSONWebKey.self, from: Data("""
            {"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
             "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","unknown":{"ignored":true}}
            """.utf8))
        let rfcKey = try Ed25519.PrivateKey(jwk: rfcJWK)
        #expect(CryptoFixtures.hex(rfcKey.publicKey.rawRepresentation)
            == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    }

    @Test("malformed keys and JWKs throw CryptoError")
    func malformed() throws {
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PrivateKey(rawRepresentation: [UInt8](repeating: 1, count: 31)) } == .invalidLength)
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(rawRepresentation: [UInt8](repeating: 1, count: 33)) } == .invalidLength)
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(pemRepresentation: "not a pem") } == .invalidEncoding)
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PrivateKey(pemRepresentation: "") } == .invalidEncoding)
        // A passphrase-protected key is refused rather than prompting on the terminal.
        let encrypted = try CryptoFixtures.text("keys/ed25519-encrypted.pem")
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PrivateKey(pemRepresentation: encrypted) } == .invalidEncoding)
        // Keys of another type are refused.
        let p256PEM = try CryptoFixtures.text("keys/p256-private.pem")
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PrivateKey(pemRepresentation: p256PEM) } == .invalidKey)
        let p256Public = try CryptoFixtures.text("keys/p256-public.pem")
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(pemRepresentation: p256Public) } == .invalidKey)

        let key = try Ed25519.PrivateKey()
        let good = key.jwk(kid: nil)
        var wrongType = good
        wrongType.kty = "EC"
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(jwk: wrongType) } == .invalidKey)
        var wrongCurve = good
        wrongCurve.crv = "X25519"
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(jwk: wrongCurve) } == .invalidKey)
        var shortX = good
        shortX.x = Base64URL.encode([UInt8](repeating: 7, count: 31))
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(jwk: shortX) } == .invalidLength)
        var notBase64 = good
        notBase64.x = "****"
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(jwk: notBase64) } == .invalidEncoding)
        var missingX = good
        missingX.x = nil
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(jwk: missingX) } == .invalidKey)
        var wrongAlg = good
        wrongAlg.alg = "ES256"
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PublicKey(jwk: wrongAlg) } == .unsupported)
        var mismatched = good
        mismatched.x = try Ed25519.PrivateKey().jwk(kid: nil).x
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PrivateKey(jwk: mismatched) } == .invalidKey)
        #expect(thrownCode { () throws(CryptoError) in try Ed25519.PrivateKey(jwk: key.publicKey.jwk(kid: nil)) } == .invalidKey)
    }

    @Test("one public key verifies from many concurrent tasks")
    func concurrentVerify() async throws {
        let key = try Ed25519.PrivateKey()
        let publicKey = key.publicKey
        var signed: [([UInt8], [UInt8])] = []
        for index in 0..<32 {
            let message = Array("receipt \(index)".utf8)
            signed.append((message, try key.signature(for: message)))
        }
        let inputs = signed
        let valid = await withTaskGroup(of: Bool.self) { group in
            for (message, signature) in inputs {
                group.addTask { publicKey.isValidSignature(signature, for: message) }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        #expect(valid == 32)
    }
}

@Suite("P-256")
struct P256Tests {
    @Test("generate, sign, verify; wrong key or message fails; DER <-> raw")
    func signVerify() throws {
        let key = try P256.PrivateKey()
        let message = Array("pay 1000 msat".utf8)
        let signature = try key.signature(for: message)
        #expect(signature.rawRepresentation.count == 64)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: Array("pay 1001 msat".utf8)))
        #expect(!(try P256.PrivateKey()).publicKey.isValidSignature(signature, for: message))

        let der = signature.derRepresentation
        let fromDER = try ECDSASignature(derRepresentation: der)
        #expect(fromDER == signature)
        #expect(try ECDSASignature(rawRepresentation: signature.rawRepresentation) == signature)
        #expect(fromDER.r + fromDER.s == signature.rawRepresentation)
        #expect(key.publicKey.isValidSignature(fromDER, for: Data(message)))
    }

    @Test("PEM, DER, x/y and JWK round trips; OpenSSL's own PEM files load and re-export byte-identically")
    func encodings() throws {
        let expected = try expectedKeys()
        let privatePEM = try CryptoFixtures.text("keys/p256-private.pem")
        let publicPEM = try CryptoFixtures.text("keys/p256-public.pem")
        let key = try P256.PrivateKey(pemRepresentation: privatePEM)
        #expect(CryptoFixtures.hex(key.rawRepresentation) == expected.p256.d)
        #expect(CryptoFixtures.hex(key.publicKey.x963Representation) == expected.p256.x963)
        #expect(key.pemRepresentation == privatePEM)
        #expect(key.publicKey.pemRepresentation == publicPEM)
        #expect(try P256.PublicKey(pemRepresentation: publicPEM) == key.publicKey)
        // The SEC1 "EC PRIVATE KEY" form of the same key loads too.
        #expect(try P256.PrivateKey(pemRepresentation: CryptoFixtures.text("keys/p256-sec1.pem")).rawRepresentation
            == key.rawRepresentation)

        let publicKey = key.publicKey
        #expect(try P256.PublicKey(derRepresentation: publicKey.derRepresentation) == publicKey)
        #expect(try P256.PublicKey(x: publicKey.x, y: publicKey.y) == publicKey)
        #expect(try P256.PublicKey(jwk: publicKey.jwk(kid: "k1")) == publicKey)
        let privateJWK = key.jwk(kid: "k1")
        #expect(privateJWK.kty == "EC" && privateJWK.crv == "P-256" && privateJWK.alg == "ES256")
        #expect(try P256.PrivateKey(jwk: privateJWK).rawRepresentation == key.rawRepresentation)

        let fresh = try P256.PrivateKey()
        #expect(try P256.PrivateKey(pemRepresentation: fresh.pemRepresentation).rawRepresentation == fresh.rawRepresentation)
        #expect(try P256.PrivateKey(rawRepresentation: fresh.rawRepresentation).publicKey == fresh.publicKey)
    }

    @Test("malformed keys, points and JWKs throw CryptoError")
    func malformed() throws {
        let key = try P256.PrivateKey()
        let point = key.publicKey.x963Representation
        var offCurve = point
        offCurve[64] ^= 0x01
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(x963Representation: offCurve) } == .invalidKey)
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(x963Representation: point.dropLast()) } == .invalidLength)
        var compressedTag = point
        compressedTag[0] = 0x02
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(x963Representation: compressedTag) } == .invalidLength)
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(x: key.publicKey.x.dropFirst(), y: key.publicKey.y) } == .invalidLength)
        #expect(thrownCode { () throws(CryptoError) in try P256.PrivateKey(rawRepresentation: [UInt8](repeating: 0, count: 32)) } == .invalidKey)
        let order = try hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
        #expect(thrownCode { () throws(CryptoError) in try P256.PrivateKey(rawRepresentation: order) } == .invalidKey)
        #expect(thrownCode { () throws(CryptoError) in try P256.PrivateKey(rawRepresentation: [UInt8](repeating: 1, count: 33)) } == .invalidLength)
        // Keys on another curve or of another type are refused.
        let k1Private = try CryptoFixtures.text("keys/secp256k1-private.pem")
        #expect(thrownCode { () throws(CryptoError) in try P256.PrivateKey(pemRepresentation: k1Private) } == .invalidKey)
        let k1Public = try CryptoFixtures.text("keys/secp256k1-public.pem")
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(pemRepresentation: k1Public) } == .invalidKey)
        let edPublic = try CryptoFixtures.text("keys/ed25519-public.pem")
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(pemRepresentation: edPublic) } == .invalidKey)
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(derRepresentation: key.publicKey.derRepresentation + [0]) } == .invalidEncoding)

        let good = key.jwk(kid: nil)
        var wrongCurve = good
        wrongCurve.crv = "P-384"
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(jwk: wrongCurve) } == .invalidKey)
        var wrongType = good
        wrongType.kty = "OKP"
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(jwk: wrongType) } == .invalidKey)
        var shortY = good
        shortY.y = Base64URL.encode(key.publicKey.y.dropFirst())
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(jwk: shortY) } == .invalidLength)
        var missingY = good
        missingY.y = nil
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(jwk: missingY) } == .invalidKey)
        var offCurveJWK = good
        offCurveJWK.y = Base64URL.encode(offCurve[33...])
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(jwk: offCurveJWK) } == .invalidKey)
        var mismatched = good
        let other = try P256.PrivateKey().publicKey
        mismatched.x = Base64URL.encode(other.x)
        mismatched.y = Base64URL.encode(other.y)
        #expect(thrownCode { () throws(CryptoError) in try P256.PrivateKey(jwk: mismatched) } == .invalidKey)
        var wrongAlg = good
        wrongAlg.alg = "EdDSA"
        #expect(thrownCode { () throws(CryptoError) in try P256.PublicKey(jwk: wrongAlg) } == .unsupported)
    }
}

extension P256Tests {
    @Test("P-256 and secp256k1 public keys verify from many concurrent tasks")
    func concurrentVerify() async throws {
        let p256 = try P256.PrivateKey()
        let k1 = try Secp256k1.PrivateKey()
        var inputs: [([UInt8], ECDSASignature, ECDSASignature)] = []
        for index in 0..<24 {
            let message = Array("receipt \(index)".utf8)
            inputs.append((message, try p256.signature(for: message), try k1.signature(forDigest: SHA256.hash(message))))
        }
        let p256Public = p256.publicKey
        let k1Public = k1.publicKey
        let signed = inputs
        let valid = await withTaskGroup(of: Bool.self) { group in
            for (message, p256Signature, k1Signature) in signed {
                group.addTask {
                    p256Public.isValidSignature(p256Signature, for: message)
                        && k1Public.isValidSignature(k1Signature, for: message)
                        && !p256Public.isValidSignature(p256Signature, for: message + [0])
                }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        #expect(valid == 24)
    }
}

@Suite("ECDSA signature encodings")
struct ECDSASignatureTests {
    @Test("strict DER: BER forms, trailing data, negative or oversized integers are refused")
    func strictDER() throws {
        let r: [UInt8] = [UInt8](repeating: 0x01, count: 32)
        let s: [UInt8] = [UInt8](repeating: 0x80, count: 32)
        let raw: [UInt8] = r + s
        let signature = try ECDSASignature(rawRepresentation: raw)
        let der = signature.derRepresentation
        // s has its high bit set, so it needs a leading zero; r does not.
        let header: [UInt8] = [0x30, 0x45, 0x02, 0x20]
        let sHeader: [UInt8] = [0x02, 0x21, 0x00]
        let expectedDER: [UInt8] = header + r + sHeader + s
        #expect(der == expectedDER)
        #expect(try ECDSASignature(derRepresentation: der) == signature)
        // Small values re-encode minimally.
        let zeros: [UInt8] = [UInt8](repeating: 0, count: 31)
        let smallRaw: [UInt8] = zeros + [5] + zeros + [7]
        let small = try ECDSASignature(rawRepresentation: smallRaw)
        let smallDER: [UInt8] = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07]
        #expect(small.derRepresentation == smallDER)

        let body: [UInt8] = Array(der[2...])
        let negativeS: [UInt8] = [0x30, 0x44, 0x02, 0x20] + r + [0x02, 0x20] + s
        let extraZero: [UInt8] = [0x30, 0x46, 0x02, 0x21, 0x00] + r + sHeader + s
        let wideR: [UInt8] = [0x30, 0x26, 0x02, 0x21, 0x01] + r + [0x02, 0x01, 0x07]
        var cases: [(String, [UInt8], CryptoError.Code)] = []
        cases.append(("trailing byte", der + [0], .invalidEncoding))
        cases.append(("long-form length", [0x30, 0x81, 0x45] + body, .invalidEncoding))
        cases.append(("indefinite length", [0x30, 0x80] + body + [0, 0], .invalidEncoding))
        cases.append(("wrong outer tag", [0x31] + Array(der[1...]), .invalidEncoding))
        cases.append(("missing leading zero (negative s)", negativeS, .invalidSignature))
        cases.append(("superfluous leading zero", extraZero, .invalidEncoding))
        cases.append(("empty integer", [0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x07], .invalidEncoding))
        cases.append(("33-byte integer", wideR, .invalidSignature))
        cases.append(("truncated", Array(der.dropLast()), .invalidEncoding))
        cases.append(("empty", [], .invalidEncoding))
        for (name, bytes, code) in cases {
            #expect(thrownCode { () throws(CryptoError) in try ECDSASignature(derRepresentation: bytes) } == code, "\(name)")
        }
        #expect(thrownCode { () throws(CryptoError) in try ECDSASignature(rawRepresentation: raw.dropLast()) } == .invalidLength)
    }

    @Test("random garbage never crashes a parser")
    func garbage() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let length = Int.random(in: 0...120, using: &generator)
            var bytes = try SecureRandom.bytes(count: length)
            if !bytes.isEmpty, Bool.random(using: &generator) { bytes[0] = 0x30 }
            _ = try? ECDSASignature(derRepresentation: bytes)
            _ = try? P256.PublicKey(derRepresentation: bytes)
            _ = try? Secp256k1.PublicKey(serialized: bytes)
            _ = try? Secp256k1.PublicKey(derRepresentation: bytes)
            _ = try? Ed25519.PublicKey(derRepresentation: bytes)
            let pem = "-----BEGIN PUBLIC KEY-----\n\(Data(bytes).base64EncodedString())\n-----END PUBLIC KEY-----\n"
            _ = try? P256.PublicKey(pemRepresentation: pem)
            _ = try? Ed25519.PrivateKey(pemRepresentation: pem.replacingOccurrences(of: "PUBLIC", with: "PRIVATE"))
        }
    }
}

@Suite("secp256k1")
struct Secp256k1Tests {
    @Test("keys load from OpenSSL's files and every serialization")
    func encodings() throws {
        let expected = try expectedKeys()
        let key = try Secp256k1.PrivateKey(rawRepresentation: hex(expected.secp256k1.d))
        #expect(CryptoFixtures.hex(key.publicKey.uncompressedRepresentation) == expected.secp256k1.uncompressed)
        let publicKey = key.publicKey
        #expect(publicKey.compressedRepresentation.count == 33)
        #expect(try Secp256k1.PublicKey(serialized: publicKey.compressedRepresentation) == publicKey)
        #expect(try Secp256k1.PublicKey(serialized: Data(publicKey.uncompressedRepresentation)) == publicKey)
        let pem = try CryptoFixtures.text("keys/secp256k1-public.pem")
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try #require(Data(base64Encoded: body))
        #expect(try Secp256k1.PublicKey(derRepresentation: der) == publicKey)
        #expect(thrownCode { () throws(CryptoError) in try Secp256k1.PublicKey(serialized: publicKey.compressedRepresentation.dropLast()) } == .invalidLength)
        var offCurve = publicKey.uncompressedRepresentation
        offCurve[64] ^= 1
        #expect(thrownCode { () throws(CryptoError) in try Secp256k1.PublicKey(serialized: offCurve) } == .invalidKey)
        let p256DER = try P256.PrivateKey().publicKey.derRepresentation
        #expect(thrownCode { () throws(CryptoError) in try Secp256k1.PublicKey(derRepresentation: p256DER) } == .invalidKey)
    }

    @Test("signatures are low-S; a high-S twin verifies only when malleability is allowed")
    func lowS() throws {
        let key = try Secp256k1.PrivateKey()
        let order = try hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        for index in 0..<8 {
            let message = Array("invoice \(index)".utf8)
            let signature = try key.signature(forDigest: SHA256.hash(message))
            #expect(key.publicKey.isValidSignature(signature, for: message))
            // (r, n - s) is the malleated twin: mathematically valid, refused under the Bitcoin rule.
            var borrow = 0
            var highS = [UInt8](repeating: 0, count: 32)
            for byte in stride(from: 31, through: 0, by: -1) {
                var difference = Int(order[byte]) - Int(signature.s[byte]) - borrow
                borrow = difference < 0 ? 1 : 0
                if difference < 0 { difference += 256 }
                highS[byte] = UInt8(difference)
            }
            let twin = try ECDSASignature(rawRepresentation: signature.r + highS)
            #expect(!key.publicKey.isValidSignature(twin, for: message))
            #expect(key.publicKey.isValidSignature(twin, for: message, requireLowS: false))
            #expect(!key.publicKey.isValidSignature(signature, forDigest: SHA256.hash(message).dropLast()))
        }
    }
}
