// RFC 9110 section 11: the grammar of `WWW-Authenticate`, `Authorization` and their relatives.
//
//   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//   auth-param  = token BWS "=" BWS ( token / quoted-string )
//   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// Several challenges may share one field value, separated by commas, and a proxy or the Fetch API may
// fold repeated fields into one value. The only way to tell "next parameter" from "next challenge" is
// to look ahead: `token =` continues the current challenge, anything else starts a new one. Getting this
// wrong lets one scheme's parameters leak into the next challenge, which is how a spoofed offer gets in.

/// One name/value pair of a challenge or credential, name lowercased (names are case-insensitive).
public struct AuthParameter: Hashable, Sendable {
    /// The parameter name, lowercased.
    public var name: String
    /// The value after quoted-string unescaping.
    public var value: String

    /// Makes a parameter; the name is lowercased so look-ups never depend on the sender's spelling.
    public init(name: String, value: String) {
        self.name = name.lowercased()
        self.value = value
    }
}

/// One challenge (or one credential: the grammar is the same) as RFC 9110 section 11 defines it.
///
/// A challenge carries either a `token68` (as `Basic` and `Negotiate` do) or named parameters.
public struct AuthChallenge: Hashable, Sendable {
    /// The scheme as written (compare it with ``hasScheme(_:)``, which ignores case).
    public var scheme: String
    /// The parameters in the order they arrived, with repeats removed: the FIRST occurrence wins, so an
    /// element on the path cannot override a value the origin set by appending its own.
    public var parameterList: [AuthParameter]
    /// The token68 form, when the challenge or credential carries one instead of parameters.
    public var token68: String?

    /// Makes a challenge; repeated parameter names keep only their first occurrence.
    public init(scheme: String, parameters: [AuthParameter] = [], token68: String? = nil) {
        self.scheme = scheme
        var seen = Set<String>()
        self.parameterList = parameters.filter { seen.insert($0.name).inserted }
        self.token68 = token68
    }

    /// The parameters by lowercased name.
    public var parameters: [String: String] {
        Dictionary(parameterList.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// The value of parameter `name` (any case).
    public subscript(_ name: String) -> String? {
        let lower = name.lowercased()
        return parameterList.first { $0.name == lower }?.value
    }

    /// Whether this is a challenge of `scheme`, compared case-insensitively as RFC 9110 requires.
    public func hasScheme(_ scheme: String) -> Bool { self.scheme.caseInsensitiveEquals(scheme) }
}

/// The credentials of `Authorization` and `Payment-Authorization` share the challenge grammar.
public typealias AuthCredentials = AuthChallenge

extension WireError.Code {
    /// One request carried more than one credential of a scheme; the Payment scheme answers 400.
    public static let multipleCredentials = WireError.Code("multiple-credentials")
}

/// Parser and writer for RFC 9110 challenge lists and credentials.
public enum AuthParameters {
    /// Longest field value parsed; far above any real challenge list, it bounds the work a hostile
    /// peer can cause.
    public static let maximumValueLength = 64 * 1024

    /// Parses the values of one or more `WWW-Authenticate` (or `Proxy-Authenticate`) fields into
    /// challenges, in order. Empty list elements are skipped.
    ///
    /// - Throws: `WireError.malformed` when a value breaks the grammar (the whole value is refused:
    ///   after a syntax error there is no reliable way to tell which challenge later text belongs to);
    ///   `.tooLarge` for a value over ``maximumValueLength``.
    public static func parseChallenges(_ values: [String]) throws(WireError) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        for value in values {
            challenges += try parseChallenges(value)
        }
        return challenges
    }

    /// Parses one field value holding zero or more comma-separated challenges.
    public static func parseChallenges(_ value: String) throws(WireError) -> [AuthChallenge] {
        let bytes = Array(value.utf8)
        guard bytes.count <= maximumValueLength else {
            throw WireError(.tooLarge, "an authentication field value of \(bytes.count) bytes exceeds \(maximumValueLength)")
        }
        var parser = AuthGrammarParser(bytes)
        return try parser.parseList()
    }

    /// Parses an `Authorization`-style value: exactly one credential.
    ///
    /// - Throws: `.multipleCredentials` when the value holds several (e.g. two folded `Authorization`
    ///   lines), `.missingField` for an empty value, `.malformed` for bad syntax.
    public static func parseCredentials(_ value: String) throws(WireError) -> AuthCredentials {
        let all = try parseChallenges(value)
        guard let first = all.first else {
            throw WireError(.missingField, "the authorization value is empty")
        }
        guard all.count == 1 else {
            throw WireError(.multipleCredentials, "the authorization value holds \(all.count) credentials; send exactly one")
        }
        return first
    }

    /// Writes one challenge as `Scheme name="value", ...` (or `Scheme token68`), quoting every value so
    /// peers that only accept quoted strings read it too.
    ///
    /// - Throws: `.malformed` when the scheme or a name is not a token, the token68 is not token68, or a
    ///   value holds a character no quoted-string can carry (controls other than tab, DEL).
    public static func render(_ challenge: AuthChallenge) throws(WireError) -> String {
        guard isToken(challenge.scheme) else {
            throw WireError(.malformed, "the scheme \"\(challenge.scheme)\" is not an RFC 9110 token")
        }
        if let token68 = challenge.token68 {
            guard challenge.parameterList.isEmpty else {
                throw WireError(.malformed, "a challenge carries either a token68 or parameters, not both")
            }
            guard isToken68(token68) else {
                throw WireError(.malformed, "the token68 value is not of the token68 grammar")
            }
            return challenge.scheme + " " + token68
        }
        if challenge.parameterList.isEmpty { return challenge.scheme }
        var parts: [String] = []
        parts.reserveCapacity(challenge.parameterList.count)
        for parameter in challenge.parameterList {
            guard isToken(parameter.name) else {
                throw WireError(.malformed, "the parameter name \"\(parameter.name)\" is not an RFC 9110 token")
            }
            parts.append(parameter.name + "=" + (try quote(parameter.value)))
        }
        return challenge.scheme + " " + parts.joined(separator: ", ")
    }

    /// Writes several challenges as one field value (comma-joined), for servers that cannot repeat
    /// a field.
    public static func render(_ challenges: [AuthChallenge]) throws(WireError) -> String {
        var parts: [String] = []
        for challenge in challenges { parts.append(try render(challenge)) }
        return parts.joined(separator: ", ")
    }

    /// Quotes a value as an RFC 9110 quoted-string: `"` and `\` get a backslash, everything else that
    /// a quoted-string allows (tab, space, visible ASCII, any non-ASCII) is written as is.
    ///
    /// - Throws: `.malformed` for a control character other than tab, or DEL: no quoted-pair carries them.
    public static func quote(_ value: String) throws(WireError) -> String {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(value.utf8.count + 2)
        for byte in value.utf8 {
            switch byte {
            case 0x22, 0x5C:
                out.append(0x5C)
                out.append(byte)
            case 0x09, 0x20...0x7E, 0x80...0xFF:
                out.append(byte)
            default:
                throw WireError(.malformed, "a header value cannot carry control character 0x\(String(byte, radix: 16))")
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` is an RFC 9110 token (scheme and parameter names, unquoted values).
    public static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenByte)
    }

    /// Whether `text` is of the token68 grammar.
    public static func isToken68(_ text: String) -> Bool {
        // A challenge's `request` (hundreds of bytes) is checked on every 402 and every credential:
        // one pass over the string's own storage, a table per byte.
        if let result = text.utf8.withContiguousStorageIfAvailable(isToken68) { return result }
        return isToken68(Array(text.utf8))
    }

    private static func isToken68(_ bytes: some Collection<UInt8>) -> Bool {
        // The table is read through a local: a static's accessor in the loop would run per byte.
        token68Bytes.withUnsafeBufferPointer { table in
            var sawPadding = false
            var count = 0
            for byte in bytes {
                if byte == 0x3D {
                    sawPadding = true
                } else if sawPadding || !table[Int(byte)] {
                    return false
                }
                count += 1
            }
            // At least one character before any padding.
            return count > 0 && bytes.first != 0x3D
        }
    }

    private static let token68Bytes: [Bool] = (0...255).map { isToken68Byte(UInt8($0)) }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    static func isToken68Byte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E, 0x2B, 0x2F: return true
        default: return false
        }
    }
}

/// A single pass over the bytes of one field value; every index access is bounds-checked.
private struct AuthGrammarParser {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    func peek(_ offset: Int = 0) -> UInt8? {
        let index = position + offset
        return index < bytes.count ? bytes[index] : nil
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    mutating func skipWhitespace() {
        while let byte = peek(), Self.isWhitespace(byte) { position += 1 }
    }

    /// Skips whitespace and empty list elements.
    mutating func skipSeparators() {
        while let byte = peek(), Self.isWhitespace(byte) || byte == 0x2C { position += 1 }
    }

    mutating func readToken() -> String? {
        let start = position
        while let byte = peek(), AuthParameters.isTokenByte(byte) { position += 1 }
        guard position > start else { return nil }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    func error(_ what: String) -> WireError {
        WireError(.malformed, "\(what) at byte \(position) of the authentication field")
    }

    mutating func parseList() throws(WireError) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        skipSeparators()
        while !atEnd {
            challenges.append(try parseChallenge())
            skipWhitespace()
            guard atEnd || peek() == 0x2C else { throw error("expected a comma between challenges") }
            skipSeparators()
        }
        return challenges
    }

    /// Whether the text at the cursor is `token BWS "="` followed by a value, i.e. an auth-param
    /// rather than the start of the next challenge or a token68.
    func looksLikeParameter() -> Bool {
        var index = position
        let start = index
        while index < bytes.count, AuthParameters.isTokenByte(bytes[index]) { index += 1 }
        guard index > start else { return false }
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
        guard index < bytes.count, bytes[index] == 0x3D else { return false }
        index += 1
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
        guard index < bytes.count else { return false }
        return bytes[index] == 0x22 || AuthParameters.isTokenByte(bytes[index]) && bytes[index] != 0x3D
    }

    mutating func parseChallenge() throws(WireError) -> AuthChallenge {
        guard let scheme = readToken() else { throw error("expected an authentication scheme") }
        var sawSpace = false
        while let byte = peek(), Self.isWhitespace(byte) { position += 1; sawSpace = true }
        guard sawSpace, let next = peek(), next != 0x2C else {
            return AuthChallenge(scheme: scheme)
        }
        if !looksLikeParameter() {
            return AuthChallenge(scheme: scheme, token68: try parseToken68())
        }
        var parameters: [AuthParameter] = []
        parameters.append(try parseParameter())
        // Continue while the element after the comma is `name=value`; anything else is a new challenge.
        while true {
            let save = position
            skipWhitespace()
            guard peek() == 0x2C else { position = save; break }
            skipSeparators()
            if atEnd { break }
            if looksLikeParameter() {
                parameters.append(try parseParameter())
            } else {
                position = save
                break
            }
        }
        return AuthChallenge(scheme: scheme, parameters: parameters)
    }

    mutating func parseToken68() throws(WireError) -> String {
        let start = position
        while let byte = peek(), AuthParameters.isToken68Byte(byte) { position += 1 }
        guard position > start else { throw error("expected a token68 or auth-param") }
        while peek() == 0x3D { position += 1 }
        let token = String(decoding: bytes[start..<position], as: UTF8.self)
        skipWhitespace()
        guard atEnd || peek() == 0x2C else { throw error("unexpected character after a token68") }
        return token
    }

    mutating func parseParameter() throws(WireError) -> AuthParameter {
        guard let name = readToken() else { throw error("expected a parameter name") }
        skipWhitespace()
        guard peek() == 0x3D else { throw error("expected '=' after parameter \"\(name)\"") }
        position += 1
        skipWhitespace()
        if peek() == 0x22 {
            return AuthParameter(name: name, value: try parseQuotedString())
        }
        guard let value = readToken() else { throw error("expected a value for parameter \"\(name)\"") }
        return AuthParameter(name: name, value: value)
    }

    mutating func parseQuotedString() throws(WireError) -> String {
        position += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("unterminated quoted-string") }
            position += 1
            switch byte {
            case 0x22:
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw error("a quoted-string that is not UTF-8")
                }
                return text
            case 0x5C:
                guard let escaped = peek() else { throw error("a quoted-pair at the end of the value") }
                guard escaped == 0x09 || escaped >= 0x20 && escaped != 0x7F else {
                    throw error("a quoted-pair escaping a control character")
                }
                position += 1
                out.append(escaped)
            case 0x09, 0x20...0x7E, 0x80...0xFF:
                out.append(byte)
            default:
                throw error("a control character inside a quoted-string")
            }
        }
    }
}
