import PayRailCrypto
import Testing

/// The decoder `Base64URL.decodeUnpadded` used before it read eight characters per step: one table
/// read per character, four characters per group. Kept here as the reference the wide one must match.
private enum ReferenceDecoder {
    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    static func decode(_ input: [UInt8]) -> [UInt8]? {
        let count = input.count
        let remainder = count % 4
        if remainder == 1 { return nil }
        var output: [UInt8] = []
        var index = 0
        while index < count - remainder {
            let a = table[Int(input[index])], b = table[Int(input[index + 1])]
            let c = table[Int(input[index + 2])], d = table[Int(input[index + 3])]
            if (a | b | c | d) & 0xC0 != 0 { return nil }
            let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            output += [UInt8(truncatingIfNeeded: group >> 16), UInt8(truncatingIfNeeded: group >> 8), UInt8(truncatingIfNeeded: group)]
            index += 4
        }
        if remainder >= 2 {
            let a = table[Int(input[index])], b = table[Int(input[index + 1])]
            let c = remainder == 3 ? table[Int(input[index + 2])] : 0
            if (a | b | c) & 0xC0 != 0 { return nil }
            let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
            if (remainder == 2 ? group & 0xFFFF : group & 0xFF) != 0 { return nil }
            output.append(UInt8(truncatingIfNeeded: group >> 16))
            if remainder == 3 { output.append(UInt8(truncatingIfNeeded: group >> 8)) }
        }
        return output
    }
}

/// A seeded generator (SplitMix64), so a failing case is the same on every run.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Decodes with `decodeUnpadded` into exactly `capacity` bytes, which sit between guard bytes that
/// must come back untouched (the wide decoder writes eight bytes per step where it keeps six).
private func wideDecode(_ input: [UInt8], capacity: Int? = nil) -> [UInt8]? {
    let room = capacity ?? (input.count / 4 * 3 + 3)
    let guardCount = 16
    var storage = [UInt8](repeating: 0xA5, count: room + 2 * guardCount)
    let written = input.withUnsafeBytes { source in
        storage.withUnsafeMutableBytes { all in
            Base64URL.decodeUnpadded(source, into: UnsafeMutableRawBufferPointer(rebasing: all[guardCount..<(guardCount + room)]))
        }
    }
    let untouched = storage.prefix(guardCount).allSatisfy { $0 == 0xA5 } && storage.suffix(guardCount).allSatisfy { $0 == 0xA5 }
    #expect(untouched, "wrote outside the output buffer for input of \(input.count) characters")
    return written.map { Array(storage[guardCount..<(guardCount + $0)]) }
}

@Suite("Base64URL.decodeUnpadded, eight characters per step")
struct Base64URLWideDecoderTests {
    @Test("decodes what encode wrote, for every length up to 600 bytes, into a buffer of exactly the size")
    func roundTrips() {
        var generator = SeededGenerator(state: 1)
        for length in 0...600 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Array(Base64URL.encode(bytes).utf8)
            #expect(wideDecode(text, capacity: length) == bytes, "length \(length)")
            #expect(ReferenceDecoder.decode(text) == bytes)
        }
    }

    @Test("agrees with the four-character decoder on random texts, mostly invalid ones")
    func agreesOnRandomTexts() {
        var generator = SeededGenerator(state: 2)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let strangers: [UInt8] = [0x00, 0x09, 0x0A, 0x20, 0x2B, 0x2F, 0x3D, 0x2E, 0x22, 0x7F, 0x80, 0xC3, 0xFF]
        var accepted = 0
        var refused = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...80, using: &generator)
            // One text in four has a stranger in it; the last character is free, so trailing bits vary.
            let strangeOdds = Int.random(in: 0..<4, using: &generator) == 0 ? 40 : 0
            let text: [UInt8] = (0..<length).map { _ in
                Int.random(in: 0..<1000, using: &generator) < strangeOdds
                    ? strangers.randomElement(using: &generator) ?? 0
                    : alphabet.randomElement(using: &generator) ?? 0
            }
            let expected = ReferenceDecoder.decode(text)
            #expect(wideDecode(text) == expected, "\(String(decoding: text, as: UTF8.self))")
            if expected == nil { refused += 1 } else { accepted += 1 }
        }
        // Both outcomes must be well represented, or the comparison proves little.
        #expect(accepted > 3_000)
        #expect(refused > 3_000)
    }

    @Test("refuses every byte outside the alphabet at every position of a 96-character text")
    func everyStrangerEverywhere() {
        var generator = SeededGenerator(state: 3)
        let bytes = (0..<72).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = Array(Base64URL.encode(bytes).utf8)
        #expect(text.count == 96)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for byte in UInt8.min...UInt8.max where !alphabet.contains(byte) {
            for position in text.indices {
                var spoiled = text
                spoiled[position] = byte
                #expect(wideDecode(spoiled) == nil, "byte \(byte) at \(position)")
            }
        }
    }

    @Test("refuses non-zero trailing bits in the last character, after a long valid run", arguments: [2, 3])
    func trailingBits(remainder: Int) {
        let prefix = Array(String(repeating: "QUJD", count: 5).utf8)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for last in alphabet {
            let text = prefix + Array(repeating: UInt8(ascii: "A"), count: remainder - 1) + [last]
            #expect(wideDecode(text) == ReferenceDecoder.decode(text), "last character \(last)")
        }
    }

    @Test("refuses an output buffer one byte too small for any length")
    func tightOutput() {
        for length in 1...40 {
            let bytes = [UInt8](repeating: 0x5A, count: length)
            let text = Array(Base64URL.encode(bytes).utf8)
            #expect(wideDecode(text, capacity: length - 1) == nil, "length \(length)")
            #expect(wideDecode(text, capacity: length) == bytes, "length \(length)")
        }
    }
}
