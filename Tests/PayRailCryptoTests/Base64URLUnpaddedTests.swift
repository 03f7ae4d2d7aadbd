import PayRailCrypto
import Testing

/// Decodes with the allocation-free decoder into a buffer of `capacity` bytes.
private func decodeUnpadded(_ text: String, capacity: Int = 64) -> [UInt8]? {
    let input = Array(text.utf8)
    var output = [UInt8](repeating: 0, count: capacity)
    let written = input.withUnsafeBytes { source in
        output.withUnsafeMutableBytes { target in Base64URL.decodeUnpadded(source, into: target) }
    }
    return written.map { Array(output.prefix($0)) }
}

@Suite("Base64URL.decodeUnpadded")
struct Base64URLUnpaddedTests {
    @Test("agrees with decode on every length of random bytes")
    func agreesWithDecode() throws {
        for length in 0...48 {
            let bytes = try SecureRandom.bytes(count: length)
            let text = Base64URL.encode(bytes)
            #expect(decodeUnpadded(text) == bytes, "length \(length)")
            #expect(try Base64URL.decode(text) == bytes)
        }
    }

    @Test("refuses what decode refuses, and padding, which JWS forbids", arguments: [
        "Zg==", "Zm8=", "Zg=", "Z", "Zm9vY", "Zm+v", "Zm/v", "Zm9v YmFy", "Zh", "Zm9", "Zm\u{7F}v", "Zm9vé",
    ])
    func refusals(text: String) {
        #expect(decodeUnpadded(text) == nil)
    }

    @Test("refuses an output buffer that is too small, and writes nothing past it")
    func smallOutput() {
        #expect(decodeUnpadded("Zm9vYmFy", capacity: 5) == nil)
        #expect(decodeUnpadded("Zm9vYmFy", capacity: 6) == Array("foobar".utf8))
        #expect(decodeUnpadded("", capacity: 0) == [])
    }
}
