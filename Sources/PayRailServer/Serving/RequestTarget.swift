// One request target, one resource. The gate prices a path and a proxy forwards a path: if the two
// read the client's bytes differently (the gate sees `/./premium`, the upstream serves `/premium`),
// paid content goes out free. So the target is parsed once, here, into a canonical form; the price is
// matched on that form and exactly that form is what a handler (or the upstream) gets.
//
// The canonical form (RFC 3986 §6.2.2): origin-form only; every percent-escape of an unreserved
// character decoded (`%70` -> `p`, `%2E` -> `.`), every other escape kept with uppercase hex; runs of
// `/` merged (`//premium` is `/premium`, as nginx's merge_slashes has it); dot segments removed per
// §5.2.4. What no canonical form can make safe is refused with 400: an encoded `/` (`%2F`) or `\`,
// NUL and control bytes (raw or encoded), a raw `\`, a fragment, non-ASCII bytes, a malformed escape,
// a target that is not a path (absolute-form, authority-form, `@host:port/x`, `*`), and one that
// climbs above the root (`/../admin`), which behind a base path would reach what nobody priced.
// A method is forwarded as received, so it must not change when an HTTP client re-cases it: a method
// with a lowercase letter (`get`) is refused, never priced as something else or passed on free.

/// A request's method and target in canonical form: what the gate prices and a proxy forwards.
public struct RequestTarget: Hashable, Sendable {
    /// The method, an HTTP token without lowercase letters (`GET`).
    public let method: String
    /// The canonical path: starts with `/`, no empty or dot segments, unreserved characters decoded.
    public let path: String
    /// The query as sent (without `?`), checked to hold only characters a URL allows; empty when none.
    public let query: String

    /// Header fields that ask a server to treat the request as another method or another path
    /// (Rails, Express, Symfony, IIS). The gate prices the method and target it received, so these
    /// are removed before a handler or an upstream sees the request.
    public static let overrideFields: [String] = [
        "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-URL", "X-Rewrite-URL",
    ]

    /// The path with `?query` when there is one: the form the gate prices and a proxy forwards.
    public var target: String { query.isEmpty ? path : path + "?" + query }

    /// Parses a request's method and target (`path` before the first `?`, `query` after it).
    ///
    /// - Throws: `GateRefusal` 400 naming what is wrong (never echoing the bytes).
    public init(method: String, path: String, query: String) throws(GateRefusal) {
        guard Self.isAcceptedMethod(method) else {
            throw Self.refusal("the method must be an HTTP token without lowercase letters, such as GET")
        }
        self.method = method
        self.path = try Self.canonicalPath(path)
        try Self.checkQuery(query)
        self.query = query
    }

    /// The canonical form of a path alone (the configured base path of an upstream, for one).
    ///
    /// - Throws: `GateRefusal` 400 as `init(method:path:query:)`.
    public static func canonicalPath(_ path: String) throws(GateRefusal) -> String {
        // Nearly every path is already canonical; it is checked in one pass (every request that can
        // be priced comes through here, some twice) and returned as it is.
        if path.utf8.withContiguousStorageIfAvailable(isCanonical) == true { return path }
        return try canonicalPathByParsing(path)
    }

    /// The canonical form, always computed (what the one-pass check must agree with).
    static func canonicalPathByParsing(_ path: String) throws(GateRefusal) -> String {
        let bytes = Array(path.utf8)
        guard bytes.first == slash else {
            throw refusal("the request target must be a path starting with / (origin-form)")
        }
        let decoded = try decodeUnreserved(bytes)
        return try removingDotSegments(decoded)
    }

    // MARK: - Checks

    /// Whether the slow path would return `bytes` unchanged: a leading `/`, literal path bytes only
    /// (no `%`), no empty segment but a trailing one, no `.` or `..` segment.
    private static func isCanonical(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        pathBytes.withUnsafeBufferPointer { isCanonical(bytes, pathBytes: $0) }
    }

    private static func isCanonical(_ bytes: UnsafeBufferPointer<UInt8>, pathBytes: UnsafeBufferPointer<Bool>) -> Bool {
        guard bytes.first == slash else { return false }
        var segmentStart = 1
        var index = 1
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == slash {
                let length = index - segmentStart
                if length == 0, index < bytes.count { return false }
                if length == 1, bytes[segmentStart] == 0x2E { return false }
                if length == 2, bytes[segmentStart] == 0x2E, bytes[segmentStart + 1] == 0x2E { return false }
                segmentStart = index + 1
            } else if !pathBytes[Int(bytes[index])] {
                return false
            }
            index += 1
        }
        return true
    }

    /// `isPathByte` for every byte value but `%` and `/` (which the caller handles), as a table.
    private static let pathBytes: [Bool] = (0...255).map { $0 != 0x25 && $0 != 0x2F && isPathByte(UInt8($0)) }

    private static let slash = UInt8(ascii: "/")
    private static let percent = UInt8(ascii: "%")

    private static func refusal(_ detail: String) -> GateRefusal {
        .badRequest(detail, logReason: "request-target")
    }

    /// RFC 9110 token characters, lowercase letters excepted (RFC 9110 §9.1: methods are case-sensitive).
    private static func isAcceptedMethod(_ method: String) -> Bool {
        !method.isEmpty && method.utf8.count <= 32 && method.utf8.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
            default: false
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isAlpha(_ byte: UInt8) -> Bool { (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) }

    /// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        isAlpha(byte) || isDigit(byte) || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
    }

    /// RFC 3986 pchar without the escapes, plus `/`: what a path may hold literally.
    private static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D, 0x3A, 0x40, 0x2F: true
        default: isUnreserved(byte)
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func hexText(_ high: UInt8, _ low: UInt8) -> String {
        String(decoding: [hexDigits[Int(high)], hexDigits[Int(low)]], as: UTF8.self)
    }

    /// Decodes escapes of unreserved characters, uppercases the others, refuses what must not pass.
    private static func decodeUnreserved(_ bytes: [UInt8]) throws(GateRefusal) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == percent else {
                guard isPathByte(byte) else {
                    throw refusal(byte == 0x23 ? "the request target must not carry a fragment (#)"
                        : "the path holds byte 0x\(String(byte, radix: 16)), which a URL path does not allow; percent-encode it")
                }
                out.append(byte)
                index += 1
                continue
            }
            guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else {
                throw refusal("the path holds a % that does not start a %XX escape")
            }
            let value = high << 4 | low
            if value == slash || value == 0x5C || value < 0x20 || value == 0x7F {
                throw refusal("the path must not encode /, \\, NUL or a control byte (%\(hexText(high, low)))")
            }
            if isUnreserved(value) {
                out.append(value)
            } else {
                out.append(contentsOf: [percent, hexDigits[Int(high)], hexDigits[Int(low)]])
            }
            index += 3
        }
        return out
    }

    /// RFC 3986 §5.2.4 on segments, empty segments merged; `..` above the root is refused, not clamped.
    private static func removingDotSegments(_ bytes: [UInt8]) throws(GateRefusal) -> String {
        var segments: [ArraySlice<UInt8>] = []
        var endsWithSlash = false
        for segment in bytes.split(separator: slash, omittingEmptySubsequences: false).dropFirst() {
            switch segment.count {
            case 0:
                endsWithSlash = true
            case 1 where segment.first == 0x2E:
                endsWithSlash = true
            case 2 where segment.allSatisfy({ $0 == 0x2E }):
                guard !segments.isEmpty else { throw refusal("the path climbs above the root (..)") }
                segments.removeLast()
                endsWithSlash = true
            default:
                segments.append(segment)
                endsWithSlash = false
            }
        }
        var out: [UInt8] = [slash]
        for (position, segment) in segments.enumerated() {
            if position > 0 { out.append(slash) }
            out.append(contentsOf: segment)
        }
        if endsWithSlash, !segments.isEmpty { out.append(slash) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A query may hold pchar, `/`, `?` and well-formed escapes; nothing else reaches an upstream.
    private static func checkQuery(_ query: String) throws(GateRefusal) {
        let bytes = Array(query.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == percent {
                guard index + 2 < bytes.count, hexValue(bytes[index + 1]) != nil, hexValue(bytes[index + 2]) != nil else {
                    throw refusal("the query holds a % that does not start a %XX escape")
                }
                index += 3
                continue
            }
            guard isPathByte(byte) || byte == 0x3F else {
                throw refusal(byte == 0x23 ? "the request target must not carry a fragment (#)"
                    : "the query holds byte 0x\(String(byte, radix: 16)), which a URL does not allow; percent-encode it")
            }
            index += 1
        }
    }
}
