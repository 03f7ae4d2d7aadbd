import Foundation
import Testing
@testable import PayRailWire

/// `trimmingWireWhitespace()` replaces Foundation's `trimmingCharacters(in: .whitespaces)` on the
/// receipt and header paths: it must trim exactly the same characters, so both are compared here.
@Suite("Wire whitespace trimming: the same result as Foundation's")
struct WireWhitespaceTests {
    @Test("every Unicode scalar is whitespace for one exactly when it is for Foundation")
    func sameCharacterSet() {
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            #expect(WireWhitespace.contains(scalar) == CharacterSet.whitespaces.contains(scalar), "U+\(String(value, radix: 16))")
        }
    }

    @Test("trimming gives Foundation's result on edge cases")
    func edgeCases() {
        let cases = [
            "", " ", "\t", "  \t ", "abc", " abc", "abc ", "\tabc\t", " a b c ", "\u{A0}x\u{3000}", "\u{200B}x\u{200B}",
            "\n x \n", "\r\nx", " \u{301}x", "x\u{301} ", " 🙂 ", "\u{2009}\u{202F}é\u{205F}", "\u{1680}", "\u{200C}x\u{200C}",
            String(repeating: "A", count: 2048), " " + String(repeating: "eyJ", count: 500) + "\t",
        ]
        for text in cases {
            #expect(text.trimmingWireWhitespace() == text.trimmingCharacters(in: .whitespaces), "\(text.unicodeScalars.map(\.value))")
            let sub = ("<" + text + ">").dropFirst().dropLast()
            #expect(sub.trimmingWireWhitespace() == sub.trimmingCharacters(in: .whitespaces))
        }
    }

    @Test("trimming gives Foundation's result on many random strings of spaces, letters and marks")
    func randomStrings() {
        let alphabet: [Unicode.Scalar] = [" ", "\t", "\n", "\r", "\u{A0}", "\u{2003}", "\u{200B}", "\u{3000}", "a", "Z", "0", "=",
                                          "\u{301}", "\u{FE0F}", "é", "🙂", "\u{200D}", "\u{85}", "\u{1680}", "\u{2028}"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                scalars.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)])
            }
            let text = String(scalars)
            #expect(text.trimmingWireWhitespace() == text.trimmingCharacters(in: .whitespaces), "\(text.unicodeScalars.map(\.value))")
        }
    }
}
