// Small, total readers over `JSONValue` for the x402 codec. Every accessor throws a `WireError` that
// names the field, because a peer debugging a refused header needs to know which member was wrong.

import PayRailCrypto

/// A JSON object being read, with the path used in error messages (`accepts[1].extra`).
struct X402Object {
    let members: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String) throws(WireError) {
        guard case .object(let members) = value else {
            throw WireError(.malformed, "x402 \(path) must be a JSON object")
        }
        self.members = members
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// A required string; `allowEmpty` only where the spec allows `""` (a failed settlement's transaction).
    func string(_ key: String, allowEmpty: Bool = false) throws(WireError) -> String {
        guard let value = members[key], value != .null else {
            throw WireError(.missingField, "x402 \(name(key)) is required")
        }
        guard case .string(let text) = value else {
            throw WireError(.malformed, "x402 \(name(key)) must be a string")
        }
        guard allowEmpty || !text.isEmpty else {
            throw WireError(.missingField, "x402 \(name(key)) must not be empty")
        }
        return text
    }

    /// An optional string: absent or `null` is `nil`; any other non-string is refused.
    func optionalString(_ key: String) throws(WireError) -> String? {
        guard let value = members[key], value != .null else { return nil }
        guard case .string(let text) = value else {
            throw WireError(.malformed, "x402 \(name(key)) must be a string")
        }
        return text
    }

    /// An optional object: absent or `null` is empty.
    func optionalObject(_ key: String) throws(WireError) -> [String: JSONValue] {
        guard let value = members[key], value != .null else { return [:] }
        guard case .object(let object) = value else {
            throw WireError(.malformed, "x402 \(name(key)) must be a JSON object")
        }
        return object
    }

    /// A required array.
    func array(_ key: String) throws(WireError) -> [JSONValue] {
        guard let value = members[key], value != .null else {
            throw WireError(.missingField, "x402 \(name(key)) is required")
        }
        guard case .array(let items) = value else {
            throw WireError(.malformed, "x402 \(name(key)) must be an array")
        }
        return items
    }

    /// A required boolean.
    func bool(_ key: String) throws(WireError) -> Bool {
        guard let value = members[key], value != .null else {
            throw WireError(.missingField, "x402 \(name(key)) is required")
        }
        guard case .bool(let flag) = value else {
            throw WireError(.malformed, "x402 \(name(key)) must be true or false")
        }
        return flag
    }

    /// A required positive whole number no larger than `maximum` (JSON numbers are doubles; a
    /// fraction, a negative, zero or a huge value is refused before any integer conversion).
    func positiveInteger(_ key: String, maximum: Int) throws(WireError) -> Int {
        guard let value = members[key], value != .null else {
            throw WireError(.missingField, "x402 \(name(key)) is required")
        }
        guard case .number(let number) = value else {
            throw WireError(.malformed, "x402 \(name(key)) must be a JSON number")
        }
        guard number.isFinite, number >= 1, number <= Double(maximum), number.rounded(.towardZero) == number else {
            throw WireError(.malformed, "x402 \(name(key)) must be a whole number between 1 and \(maximum)")
        }
        return Int(number)
    }

    /// The protocol version, which must be one of `allowed`.
    func version(allowed: Set<Int>) throws(WireError) -> Int {
        guard let value = members["x402Version"], value != .null else {
            throw WireError(.missingField, "x402 \(name("x402Version")) is required")
        }
        guard case .number(let number) = value, number.isFinite, number.rounded(.towardZero) == number,
              number >= 0, number <= 1000
        else {
            throw WireError(.malformed, "x402 \(name("x402Version")) must be a small whole number")
        }
        let version = Int(number)
        guard allowed.contains(version) else {
            throw WireError(.unsupported, "x402 version \(version) is not supported here (expected \(allowed.sorted()))")
        }
        return version
    }
}

/// Syntax checks shared by the reader and the writer.
enum X402Syntax {
    /// An atomic amount: ASCII digits only, not all zeros, at most 78 digits (a uint256 fits).
    static func isAtomicAmount(_ text: String) -> Bool {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= 78, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return bytes.contains { $0 != 0x30 }
    }

    /// Lowercase hexadecimal of exactly `length` characters.
    static func isLowercaseHex(_ text: String, length: Int) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Lowercase hex of bytes.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of lowercase or uppercase hex, or `nil`.
    static func bytes(fromHex text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count / 2)
        var index = 0
        while index + 1 < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// Text that is safe to carry in a header-borne JSON string: non-empty, at most `maximum` bytes,
    /// no control characters.
    static func isPlainText(_ text: String, maximum: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maximum && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }
}
