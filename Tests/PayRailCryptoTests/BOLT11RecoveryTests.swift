// Key recovery against a real BOLT 11 invoice: the first valid example of lightning/bolts
// 11-payment-encoding.md ("Please make a donation of any amount using payment_hash 0001...0102 to me
// @03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad").
//
// The bech32 decoder below is deliberately minimal and lives only in this test: it exists to feed the
// signature and signed digest to `Secp256k1.PublicKey.recover`, not to be an invoice parser.

import PayRailCrypto
import Testing

private enum TinyBech32 {
    static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> UInt32(bit)) & 1 == 1 { checksum ^= generator[bit] }
        }
        return checksum
    }

    /// Splits a lowercase bech32 string into its human-readable part and its 5-bit data groups
    /// (checksum verified and removed). BOLT 11 ignores the 90-character limit, and so does this.
    static func decode(_ text: String) throws -> (hrp: String, groups: [UInt8]) {
        let bytes = Array(text.utf8)
        guard let separator = bytes.lastIndex(of: UInt8(ascii: "1")), separator > 0, bytes.count - separator > 6 else {
            throw Failure(description: "no separator")
        }
        let hrp = Array(bytes[..<separator])
        var groups: [UInt8] = []
        for character in bytes[(separator + 1)...] {
            guard let value = charset.firstIndex(of: character) else { throw Failure(description: "bad character") }
            groups.append(UInt8(value))
        }
        let expanded = hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
        guard polymod(expanded + groups) == 1 else { throw Failure(description: "bad checksum") }
        return (String(decoding: hrp, as: UTF8.self), Array(groups.dropLast(6)))
    }

    /// Regroups 5-bit values into bytes, padding the last byte with zero bits (BOLT 11 signing rule).
    static func bytes(fromGroups groups: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for group in groups {
            accumulator = accumulator << 5 | UInt32(group)
            bits += 5
            while bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xff))
            }
        }
        if bits > 0 { out.append(UInt8((accumulator << UInt32(8 - bits)) & 0xff)) }
        return out
    }
}

@Suite("secp256k1 key recovery")
struct BOLT11RecoveryTests {
    static let invoice =
        "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql"
    static let payee = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"

    @Test("the BOLT 11 example invoice recovers the payee's node id")
    func bolt11Example() throws {
        let (hrp, groups) = try TinyBech32.decode(Self.invoice)
        #expect(hrp == "lnbc")
        try #require(groups.count > 104)
        let signed = groups.dropLast(104)
        let signatureWithID = TinyBech32.bytes(fromGroups: groups.suffix(104))
        try #require(signatureWithID.count == 65)
        let digest = SHA256.hash(Array(hrp.utf8) + TinyBech32.bytes(fromGroups: signed))
        let compact = Array(signatureWithID[0..<64])
        let recoveryID = Int(signatureWithID[64])

        let key = try Secp256k1.PublicKey.recover(compactSignature: compact, recoveryID: recoveryID, digest: digest)
        #expect(CryptoFixtures.hex(key.compressedRepresentation) == Self.payee)
        // The recovered key also verifies the signature the ordinary way (BOLT 11 requires low-S).
        #expect(key.isValidSignature(try ECDSASignature(rawRepresentation: compact), forDigest: digest))
        // Any other recovery id yields a different key or none at all.
        for otherID in (0...3) where otherID != recoveryID {
            let other = try? Secp256k1.PublicKey.recover(compactSignature: compact, recoveryID: otherID, digest: digest)
            #expect(other != key)
        }
        // A different digest recovers some other key, never the payee.
        var tampered = digest
        tampered[0] ^= 1
        let wrong = try? Secp256k1.PublicKey.recover(compactSignature: compact, recoveryID: recoveryID, digest: tampered)
        #expect(wrong != key)
    }

    @Test("signing keys made by OpenSSL round-trip through recoverable signatures")
    func roundTrip() throws {
        for _ in 0..<8 {
            let privateKey = try Secp256k1.PrivateKey()
            let digest = SHA256.hash(try SecureRandom.bytes(count: 40))
            let (signature, recoveryID) = try privateKey.recoverableSignature(forDigest: digest)
            #expect((0...3).contains(recoveryID))
            let recovered = try Secp256k1.PublicKey.recover(
                compactSignature: signature.rawRepresentation, recoveryID: recoveryID, digest: digest)
            #expect(recovered == privateKey.publicKey)
            #expect(privateKey.publicKey.isValidSignature(signature, forDigest: digest))
        }
    }

    @Test("malformed recovery inputs throw CryptoError")
    func malformedInputs() throws {
        let digest = SHA256.hash([1, 2, 3])
        let valid = [UInt8](repeating: 0x11, count: 64)
        func code(_ body: () throws(CryptoError) -> Secp256k1.PublicKey) -> CryptoError.Code? {
            do {
                _ = try body()
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: valid, recoveryID: 4, digest: digest) } == .invalidSignature)
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: valid, recoveryID: -1, digest: digest) } == .invalidSignature)
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: valid.dropLast(), recoveryID: 0, digest: digest) } == .invalidLength)
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: valid, recoveryID: 0, digest: digest.dropLast()) } == .invalidLength)
        let zeroR = [UInt8](repeating: 0, count: 32) + [UInt8](repeating: 0x11, count: 32)
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: zeroR, recoveryID: 0, digest: digest) } == .invalidSignature)
        let rIsOrder = try CryptoFixtures.bytes(hex: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: rIsOrder + rIsOrder, recoveryID: 0, digest: digest) } == .invalidSignature)
        // r + n exceeds the field prime for any r >= p - n, so ids 2 and 3 are refused for such r.
        let largeR = try CryptoFixtures.bytes(hex: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")
        #expect(code { () throws(CryptoError) in try .recover(compactSignature: largeR + valid[32...], recoveryID: 2, digest: digest) } == .invalidSignature)
    }
}
