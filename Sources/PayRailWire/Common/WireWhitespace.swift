// Foundation's `trimmingCharacters(in: .whitespaces)` goes through NSString on Linux: the whole
// string is copied to UTF-16 and back, even when there is nothing to trim. On a 1.5 KB
// `Payment-Receipt` that is most of the time reading it takes, and the paying client reads the
// receipt of every paid answer several times. This trims the same characters, scalar by scalar,
// from the ends only.

enum WireWhitespace {
    /// Whether `scalar` is in `CharacterSet.whitespaces` as Foundation has it: tab, and the space
    /// separators (Zs) plus U+200B ZERO WIDTH SPACE, which Foundation counts although Unicode
    /// does not. The tests compare this with Foundation over every scalar.
    static func contains(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// `text` without leading and trailing whitespace, as `trimmingCharacters(in: .whitespaces)` gives it.
    static func trimming(_ text: Substring) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !contains($0) }),
              let last = scalars.lastIndex(where: { !contains($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}

extension String {
    /// The text without leading and trailing `CharacterSet.whitespaces` (tab and the Unicode
    /// spaces), the same result as `trimmingCharacters(in: .whitespaces)` without its UTF-16 copy.
    public func trimmingWireWhitespace() -> String { WireWhitespace.trimming(self[...]) }
}

extension Substring {
    /// The text without leading and trailing `CharacterSet.whitespaces`, as `String.trimmingWireWhitespace()`.
    public func trimmingWireWhitespace() -> String { WireWhitespace.trimming(self) }
}
