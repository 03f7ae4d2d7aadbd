/// Turns text a client chose (a method, a path, a header name) into something safe to write on
/// one log line: a terminal never interprets it, a log reader never sees a forged line, and its
/// length is bounded.
///
/// Why escape rather than drop: an operator reading an attack in the log should see exactly
/// which bytes came in. Escapes are unambiguous because the backslash itself is escaped, so a
/// client cannot spell a fake `\x1b` that reads like a real one.
public enum LogText {
    /// The default cap in UTF-8 bytes: long enough for any honest path, short enough that one
    /// request cannot write megabytes to the log.
    public static let defaultLimit = 512

    /// The marker ending a value that was cut at its limit.
    public static let truncationMarker = "..."

    /// Returns `text` with control and invisible characters escaped, at most `limit` UTF-8 bytes
    /// long (`truncationMarker` included when it had to be cut; a limit too small for the marker
    /// cuts without it; never in the middle of an escape).
    ///
    /// Escaped: C0 controls and DEL as `\xHH` (ESC is `\x1b`, CR `\x0d`, LF `\x0a`, backspace
    /// `\x08`), the backslash as `\\`, C1 controls, line and paragraph separators and bidirectional
    /// formatting characters as `\u{HHHH}`. Everything else, including other non-ASCII text, is kept.
    public static func escaped(_ text: some StringProtocol, limit: Int = defaultLimit) -> String {
        escaped(text, limit: limit, escapingQuotes: false)
    }

    /// `escaped(text, limit:)` between double quotes, for a name inside a sentence: the quotes
    /// show where client-chosen text begins and ends, and a quote inside it is escaped as `\x22`.
    public static func quoted(_ text: some StringProtocol, limit: Int = 128) -> String {
        "\"" + escaped(text, limit: limit, escapingQuotes: true) + "\""
    }

    private static func escaped(_ text: some StringProtocol, limit: Int, escapingQuotes: Bool) -> String {
        guard limit > 0 else { return "" }
        // Fast path: plain printable ASCII that fits needs no new string built scalar by scalar.
        let utf8 = text.utf8
        if utf8.count <= limit,
            utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C && !(escapingQuotes && $0 == 0x22) })
        {
            return String(text)
        }
        let marker = limit >= truncationMarker.utf8.count ? truncationMarker : ""
        let budget = limit - marker.utf8.count
        var output = ""
        var used = 0
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            let piece = escape(scalar, escapingQuotes)
            if used + piece.utf8.count <= budget {
                output += piece
                used += piece.utf8.count
                continue
            }
            // Past the budget: the rest is kept whole only if all of it fits without the marker.
            var rest = piece
            var restSize = piece.utf8.count
            var exhausted = false
            while used + restSize <= limit {
                guard let next = scalars.next() else {
                    exhausted = true
                    break
                }
                let more = escape(next, escapingQuotes)
                rest += more
                restSize += more.utf8.count
            }
            return exhausted && used + restSize <= limit ? output + rest : output + marker
        }
        return output
    }

    private static func escape(_ scalar: Unicode.Scalar, _ escapingQuotes: Bool) -> String {
        let value = scalar.value
        switch value {
        case 0x22 where escapingQuotes:
            return "\\x22"
        case 0x5C:
            return "\\\\"
        case 0x00..<0x20, 0x7F:
            return "\\x" + hex(value, width: 2)
        case 0x80..<0xA0, 0x061C, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069, 0xFEFF:
            return "\\u{" + hex(value, width: 4) + "}"
        default:
            return String(scalar)
        }
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
