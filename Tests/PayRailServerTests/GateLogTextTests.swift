import Foundation
@testable import PayRailServer
import Testing

// The gate's log lines: a clean line is returned as it is (no rebuild per 402), anything else is
// escaped exactly as before the fast path existed.

@Suite("gate log text")
struct GateLogTextTests {
    /// The escaping as it was written before the fast path: every scalar looked at and rebuilt.
    private func reference(_ text: String, limit: Int) -> String {
        var out = String.UnicodeScalarView()
        var written = 0
        for scalar in text.unicodeScalars {
            guard written < limit else { return String(out) + "...(cut)" }
            let value = scalar.value
            let isControl = value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x5C
                || [0x200E, 0x200F, 0x2028, 0x2029].contains(value) || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
            if isControl {
                out.append(contentsOf: "\\u{\(String(value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
            written += 1
        }
        return String(out)
    }

    @Test("clean lines, escaped characters and cut lines read exactly as the reference escaping")
    func agreesWithReference() {
        let pieces = ["GET /premium 402 challenge=", "abcdefgh…", " rails=fake", "\\", "\n", "\r", "\u{1B}[31m", "\u{7F}", "\u{85}",
                      "\u{9F}", "\u{A0}", "\u{200E}", "\u{202E}", "\u{2066}", "\u{2028}", "é", "🙂", "\u{0}"]
        var texts = pieces
        for first in pieces { for second in pieces { texts.append(first + second) } }
        for limit in [1, 5, 27, 28, 40, 1024] {
            for text in texts {
                #expect(Gate.loggable(text, limit: limit) == reference(text, limit: limit), "\(text.debugDescription) limit \(limit)")
            }
        }
        let long = String(repeating: "a", count: 2000)
        #expect(Gate.loggable(long) == reference(long, limit: 1024))
        #expect(Gate.loggable(long).hasSuffix("...(cut)"))
    }
}
