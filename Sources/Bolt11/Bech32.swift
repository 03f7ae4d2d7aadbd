// Bech32 (BIP-173) as BOLT 11 uses it: 5-bit words, the original checksum constant 1, and no
// 90-character limit (invoices with route hints are longer).

/// Why a bech32 string was refused.
public struct Bech32Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, for a person.
    public let reason: String
    /// Whether the string is well formed but its checksum does not verify (a typo or a truncated copy).
    public let isChecksumFailure: Bool
    /// Creates an error.
    public init(_ reason: String, isChecksumFailure: Bool = false) {
        self.reason = reason
        self.isChecksumFailure = isChecksumFailure
    }
    /// The reason.
    public var description: String { "bech32: \(reason)" }
}

/// Bech32 encoding and decoding of a human-readable part and 5-bit words.
public enum Bech32 {
    /// The 32 characters, in value order.
    public static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = Int8(value) }
        return table
    }()

    /// Splits `text` into its human-readable part (lower case) and data words, checksum removed.
    ///
    /// Upper case is accepted when the whole string is upper case; mixed case is refused.
    /// - Throws: `Bech32Error` for mixed case, no separator, a character outside the alphabet, or a
    ///   checksum that does not verify.
    public static func decode(_ text: String) throws(Bech32Error) -> (hrp: String, words: [UInt8]) {
        let raw = Array(text.utf8)
        let hasUpper = raw.contains { $0 >= 0x41 && $0 <= 0x5A }
        let hasLower = raw.contains { $0 >= 0x61 && $0 <= 0x7A }
        guard !(hasUpper && hasLower) else { throw Bech32Error("mixed upper and lower case") }
        let bytes = raw.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        guard let separator = bytes.lastIndex(of: UInt8(ascii: "1")), separator >= 1 else {
            throw Bech32Error("no separator '1' after a human-readable part")
        }
        guard bytes.count - separator - 1 >= 6 else { throw Bech32Error("shorter than its 6-character checksum") }
        let hrp = Array(bytes[..<separator])
        guard hrp.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { throw Bech32Error("the human-readable part is not printable ASCII") }
        var words: [UInt8] = []
        words.reserveCapacity(bytes.count - separator - 1)
        for character in bytes[(separator + 1)...] {
            guard character < 128, values[Int(character)] >= 0 else {
                throw Bech32Error("'\(Character(Unicode.Scalar(character)))' is not a bech32 character")
            }
            words.append(UInt8(values[Int(character)]))
        }
        guard polymod(expand(hrp) + words) == 1 else { throw Bech32Error("the checksum does not verify", isChecksumFailure: true) }
        words.removeLast(6)
        return (String(decoding: hrp, as: UTF8.self), words)
    }

    /// Encodes a lower-case human-readable part and 5-bit words, appending the checksum.
    ///
    /// - Precondition: every word is below 32 (callers build words with `words(fromBytes:)`).
    public static func encode(hrp: String, words: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let checksumInput = expand(hrpBytes) + words + [0, 0, 0, 0, 0, 0]
        let mod = polymod(checksumInput) ^ 1
        var output = hrpBytes + [UInt8(ascii: "1")]
        for word in words { output.append(alphabet[Int(word & 31)]) }
        for index in 0..<6 { output.append(alphabet[Int((mod >> (5 * (5 - UInt32(index)))) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Regroups 8-bit bytes into 5-bit words, padding the last word with zero bits.
    public static func words(fromBytes bytes: [UInt8]) -> [UInt8] {
        regroup(bytes, from: 8, to: 5, pad: true) ?? []
    }

    /// Regroups 5-bit words into bytes; with `allowPadding` false, leftover bits must be fewer than 5
    /// and zero (BIP-173), otherwise up to 7 leftover bits are dropped (BOLT 11 fields).
    public static func bytes(fromWords words: [UInt8], allowPadding: Bool = true) -> [UInt8]? {
        regroup(words, from: 5, to: 8, pad: false, strict: !allowPadding)
    }

    private static func regroup(_ input: [UInt8], from: UInt32, to: UInt32, pad: Bool, strict: Bool = false) -> [UInt8]? {
        var accumulator: UInt32 = 0
        var bits: UInt32 = 0
        var output: [UInt8] = []
        let mask: UInt32 = (1 << to) - 1
        for value in input {
            guard UInt32(value) >> from == 0 else { return nil }
            accumulator = (accumulator << from) | UInt32(value)
            bits += from
            while bits >= to {
                bits -= to
                output.append(UInt8((accumulator >> bits) & mask))
            }
        }
        if pad {
            if bits > 0 { output.append(UInt8((accumulator << (to - bits)) & mask)) }
        } else if strict, bits >= from || (accumulator << (to - bits)) & mask != 0 {
            return nil
        }
        return output
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for index in 0..<5 where (top >> index) & 1 == 1 { checksum ^= generator[index] }
        }
        return checksum
    }
}
