import Foundation
import PayRailCrypto
import Testing

/// Runs `body` and returns the CryptoError code it threw, or nil if it succeeded.
func thrownCode<T>(_ body: () throws(CryptoError) -> T) -> CryptoError.Code? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.code
    }
}

@Suite("Hashes, MACs, randomness")
struct CryptoPrimitiveTests {
    @Test("SHA-256 known answers (FIPS 180-2 \"abc\" and the empty string)")
    func sha256KnownAnswers() {
        #expect(CryptoFixtures.hex(SHA256.hash(Array("abc".utf8)))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(CryptoFixtures.hex(SHA256.hash([UInt8]()))
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Data("abc".utf8)) == SHA256.hash(Array("abc".utf8)))
    }

    @Test("HMAC-SHA256 RFC 4231 test cases 1, 2 and 6")
    func hmacRFC4231() throws {
        let cases: [(key: [UInt8], data: [UInt8], tag: String)] = [
            ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ]
        for testCase in cases {
            let tag = HMACSHA256.authenticationCode(for: testCase.data, key: testCase.key)
            #expect(CryptoFixtures.hex(tag) == testCase.tag)
            let key = try HMACKey(testCase.key)
            #expect(key.byteCount == testCase.key.count)
            #expect(key.authenticationCode(for: testCase.data) == tag)
            #expect(key.isValidAuthenticationCode(tag, for: testCase.data))
            #expect(HMACSHA256.isValidAuthenticationCode(Data(tag), for: Data(testCase.data), key: Data(testCase.key)))
            var wrong = tag
            wrong[31] ^= 0x01
            #expect(!key.isValidAuthenticationCode(wrong, for: testCase.data))
            #expect(!HMACSHA256.isValidAuthenticationCode(tag.prefix(16), for: testCase.data, key: testCase.key))
            #expect(!key.isValidAuthenticationCode(tag + [0], for: testCase.data))
        }
    }

    @Test("HMAC: empty one-shot key is legal HMAC, an empty HMACKey is refused")
    func hmacEmptyKey() {
        // RFC 2104 with an empty key; value cross-checked with `openssl mac -digest SHA256 -macopt hexkey: HMAC`.
        #expect(CryptoFixtures.hex(HMACSHA256.authenticationCode(for: [UInt8](), key: [UInt8]()))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        #expect(thrownCode { () throws(CryptoError) in try HMACKey([UInt8]()) } == .invalidLength)
    }

    @Test("HMACKey is safe to share across concurrent tasks")
    func hmacConcurrent() async throws {
        let key = try HMACKey(Array("shared secret".utf8))
        let expected = (0..<64).map { key.authenticationCode(for: [UInt8($0)]) }
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask { key.isValidAuthenticationCode(expected[index], for: [UInt8(index)]) }
            }
            var all: [Bool] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 64 && results.allSatisfy { $0 })
    }

    @Test("constantTimeEquals: equal, different, different lengths, empty")
    func constantTimeComparison() {
        #expect(constantTimeEquals([1, 2, 3] as [UInt8], Data([1, 2, 3])))
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
        #expect(constantTimeEquals([UInt8](), Data()))
        #expect(!constantTimeEquals([UInt8](), [0] as [UInt8]))
    }

    @Test("SecureRandom: lengths, uniqueness, negative counts")
    func secureRandom() throws {
        #expect(try SecureRandom.bytes(count: 0) == [])
        let a = try SecureRandom.bytes(count: 32)
        let b = try SecureRandom.bytes(count: 32)
        #expect(a.count == 32 && b.count == 32 && a != b)
        #expect(try SecureRandom.bytes(count: 100_000).count == 100_000)
        #expect(thrownCode { () throws(CryptoError) in try SecureRandom.bytes(count: -1) } == .invalidLength)
    }

    @Test("CryptoError says whether retrying helps; OpenSSLInfo names the library")
    func errorsAndInfo() {
        let bad = CryptoError(code: .invalidKey, reason: "the point is not on the curve")
        #expect(!bad.isRetryable)
        #expect(bad.description.contains("will not help"))
        #expect(CryptoError(code: .randomFailure, reason: "x").isRetryable)
        #expect(OpenSSLInfo.versionString.hasPrefix("OpenSSL 3."))
    }
}
