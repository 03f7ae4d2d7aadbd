// Base64 codecs used on every protocol boundary: base64url (RFC 4648 section 5) for JOSE tokens and
// the Payment scheme, standard base64 (RFC 4648 section 4) for x402 and L402 headers.
//
// Both decoders run on raw UTF-8 bytes with a 256-entry lookup table, so decoding a token segment
// allocates only the output array. Receipt verification decodes three segments per token, which is why
// this is written as a tight loop rather than on top of Foundation's `Data(base64Encoded:)` (which also
// does not understand the URL alphabet and accepts forms we must refuse).

/// Why a base64 or base64url text was refused, and where.
///
/// Decoding errors are never transient: the same input fails the same way every time, so retrying is
/// pointless. The fix belongs to whoever produced the text (a peer, a header, a token issuer).
public struct Base64URLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of defect, extensible without breaking callers that switch over known values.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable identifier, suitable for logs and metrics.
        public let rawValue: String

        /// Creates a code from its stable identifier.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A byte outside the alphabet (whitespace, the other base64 alphabet, non-ASCII, ...).
        public static let invalidCharacter = Code(rawValue: "invalidCharacter")
        /// The number of data characters cannot come from any byte string (length % 4 == 1).
        public static let invalidLength = Code(rawValue: "invalidLength")
        /// `=` in the middle, too many `=`, or padding that does not complete a 4-character group.
        public static let invalidPadding = Code(rawValue: "invalidPadding")
        /// The last character carries bits that no encoder would set; refusing them keeps the encoding
        /// unique, so two different texts never decode to the same bytes (token malleability).
        public static let nonZeroTrailingBits = Code(rawValue: "nonZeroTrailingBits")

        /// The stable identifier.
        public var description: String { rawValue }
    }

    /// What was wrong.
    public let code: Code
    /// Offset in bytes (UTF-8) from the start of the text where the defect was detected.
    public let offset: Int

    /// Creates an error; public so that wrappers (JWS, wire codecs) can rebuild one with a shifted offset.
    public init(code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// A sentence for logs that also says what to do about it.
    public var description: String {
        let what: String
        switch code {
        case .invalidCharacter: what = "a character outside the base64 alphabet"
        case .invalidLength: what = "a length no byte string encodes to"
        case .invalidPadding: what = "misplaced or excess '=' padding"
        case .nonZeroTrailingBits: what = "non-zero unused bits in the last character"
        default: what = "\(code.rawValue)"
        }
        return "base64 decoding failed at offset \(offset): \(what); "
            + "the text is malformed, retrying the same input will not help"
    }
}

/// Base64url (RFC 4648 section 5) as used by JOSE (RFC 7515) and the Payment HTTP scheme.
///
/// ``encode(_:)`` never writes padding. The decoders are strict: they refuse whitespace, `+` and `/`,
/// non-zero trailing bits and malformed padding. They accept correct `=` padding because peers send
/// it (the Payment scheme says to accept both), so a byte string has two accepted spellings, with and
/// without padding: anything that must be one exact text (a JWS segment, a value bound by a MAC)
/// must refuse `=` itself, as `JWSCompact` and `ReceiptVerifier` do, or compare decoded bytes.
public enum Base64URL {
    /// Encodes bytes without padding.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Base64Codec.encode(bytes, alphabet: Base64Codec.urlAlphabet, pad: false)
    }

    /// Encodes an array without padding (the common case, without the generic sequence's detour:
    /// 402s encode several per response).
    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { Base64Codec.encode($0, alphabet: Base64Codec.urlAlphabet, pad: false) }
    }

    /// Decodes base64url text strictly (see the type's documentation for what is refused).
    public static func decode(_ text: some StringProtocol) throws(Base64URLError) -> [UInt8] {
        try Base64Codec.decode(text, table: Base64Codec.urlTable)
    }

    /// Decodes base64url from raw UTF-8 bytes (for example a slice of a token held in a buffer).
    ///
    /// This is the fast path for token parsing: it reads the bytes in place and allocates only the
    /// result. The buffer must stay valid for the duration of the call only. Error offsets are relative
    /// to the start of `utf8`.
    public static func decode(_ utf8: UnsafeRawBufferPointer) throws(Base64URLError) -> [UInt8] {
        try Base64Codec.decode(
            UnsafeBufferPointer(start: utf8.baseAddress?.assumingMemoryBound(to: UInt8.self), count: utf8.count),
            table: Base64Codec.urlTable
        )
    }

    /// Decodes unpadded base64url into caller-owned memory (a stack buffer on hot paths), without
    /// allocating. Returns the number of bytes written, or nil when `utf8` is not strict unpadded
    /// base64url (any `=`, a byte outside the alphabet, an impossible length, non-zero trailing bits)
    /// or `output` is too small: call `decode(_:)` then for the reason.
    /// Needs at most `utf8.count * 3 / 4` bytes of output.
    public static func decodeUnpadded(_ utf8: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        Base64Codec.decodeUnpadded(utf8, into: output)
    }

    /// Decodes base64url from a UTF-8 byte buffer; used internally by the JWS parser.
    static func decode(bytes: UnsafeBufferPointer<UInt8>) throws(Base64URLError) -> [UInt8] {
        try Base64Codec.decode(bytes, table: Base64Codec.urlTable)
    }
}

/// Standard base64 (RFC 4648 section 4) for x402 and L402 headers: writes padding, reads leniently.
///
/// "Leniently" means only that missing padding is accepted, because deployed peers omit it. Everything
/// else is as strict as ``Base64URL``: no whitespace, no URL alphabet, no non-zero trailing bits.
public enum Base64 {
    /// Encodes bytes with `=` padding to a multiple of four characters.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Base64Codec.encode(bytes, alphabet: Base64Codec.standardAlphabet, pad: true)
    }

    /// Encodes an array with padding (the common case, without the generic sequence's detour).
    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { Base64Codec.encode($0, alphabet: Base64Codec.standardAlphabet, pad: true) }
    }

    /// Decodes standard base64, with or without padding.
    public static func decode(_ text: some StringProtocol) throws(Base64URLError) -> [UInt8] {
        try Base64Codec.decode(text, table: Base64Codec.standardTable)
    }
}

/// The shared engine: one encoder and one decoder parameterised by alphabet.
enum Base64Codec {
    static let urlAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let standardAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Marks a byte that is not part of the alphabet.
    static let invalid: UInt8 = 0xFF

    static let urlTable: [UInt8] = makeTable(urlAlphabet)
    static let standardTable: [UInt8] = makeTable(standardAlphabet)

    private static func makeTable(_ alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }

    static func encode(_ bytes: some Sequence<UInt8>, alphabet: [UInt8], pad: Bool) -> String {
        if let result = bytes.withContiguousStorageIfAvailable({ encode($0, alphabet: alphabet, pad: pad) }) {
            return result
        }
        let copy = Array(bytes)
        return copy.withUnsafeBufferPointer { encode($0, alphabet: alphabet, pad: pad) }
    }

    /// The encoder proper: writes the text straight into the new string's storage (one allocation).
    static func encode(_ input: UnsafeBufferPointer<UInt8>, alphabet: [UInt8], pad: Bool) -> String {
        let fullGroups = input.count / 3
        let remainder = input.count % 3
        let outputCount: Int
        if pad {
            outputCount = (fullGroups + (remainder == 0 ? 0 : 1)) * 4
        } else {
            outputCount = fullGroups * 4 + (remainder == 0 ? 0 : remainder + 1)
        }
        if outputCount == 0 { return "" }
        return alphabet.withUnsafeBufferPointer { symbols in
            String(unsafeUninitializedCapacity: outputCount) { buffer in
                var out = 0
                var index = 0
                for _ in 0..<fullGroups {
                    let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                    buffer[out] = symbols[Int(group >> 18 & 0x3F)]
                    buffer[out + 1] = symbols[Int(group >> 12 & 0x3F)]
                    buffer[out + 2] = symbols[Int(group >> 6 & 0x3F)]
                    buffer[out + 3] = symbols[Int(group & 0x3F)]
                    index += 3
                    out += 4
                }
                if remainder == 1 {
                    let group = UInt32(input[index]) << 16
                    buffer[out] = symbols[Int(group >> 18 & 0x3F)]
                    buffer[out + 1] = symbols[Int(group >> 12 & 0x3F)]
                    out += 2
                    if pad {
                        buffer[out] = UInt8(ascii: "=")
                        buffer[out + 1] = UInt8(ascii: "=")
                        out += 2
                    }
                } else if remainder == 2 {
                    let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
                    buffer[out] = symbols[Int(group >> 18 & 0x3F)]
                    buffer[out + 1] = symbols[Int(group >> 12 & 0x3F)]
                    buffer[out + 2] = symbols[Int(group >> 6 & 0x3F)]
                    out += 3
                    if pad {
                        buffer[out] = UInt8(ascii: "=")
                        out += 1
                    }
                }
                return out
            }
        }
    }

    static func decode(
        _ text: some StringProtocol,
        table: [UInt8]
    ) throws(Base64URLError) -> [UInt8] {
        // Typed throws cannot cross the non-throwing-typed closure of withContiguousStorageIfAvailable,
        // so carry the outcome out as a Result.
        let fast: Result<[UInt8], Base64URLError>? = text.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(Base64URLError) -> [UInt8] in
                try decode(bytes, table: table)
            }
        }
        if let fast { return try fast.get() }
        let copy = Array(text.utf8)
        let slow: Result<[UInt8], Base64URLError> = copy.withUnsafeBufferPointer { bytes in
            Result { () throws(Base64URLError) -> [UInt8] in
                try decode(bytes, table: table)
            }
        }
        return try slow.get()
    }

    /// Decodes `input`; padding, when present, must be exactly what completes the last 4-character group.
    static func decode(
        _ input: UnsafeBufferPointer<UInt8>,
        table: [UInt8]
    ) throws(Base64URLError) -> [UInt8] {
        let equals = UInt8(ascii: "=")
        var dataCount = input.count
        // Strip at most two '=' and check they complete a group; any further '=' is then found in the data
        // loop below and reported as misplaced padding at its own offset.
        var paddingCount = 0
        while paddingCount < 2, dataCount > 0, input[dataCount - 1] == equals {
            dataCount -= 1
            paddingCount += 1
        }
        if paddingCount > 0 {
            if dataCount > 0, input[dataCount - 1] == equals {
                throw Base64URLError(code: .invalidPadding, offset: dataCount - 1)
            }
            if input.count % 4 != 0 {
                throw Base64URLError(code: .invalidPadding, offset: dataCount)
            }
        }
        let remainder = dataCount % 4
        if remainder == 1 {
            // A stray byte (often whitespace) is the likelier cause than a truncation: report it first.
            if let stray = firstInvalidByte(input, count: dataCount, table: table) { throw stray }
            throw Base64URLError(code: .invalidLength, offset: dataCount - 1)
        }
        if paddingCount > 0, remainder == 0 {
            // "AAAA=" style: padding after a complete group.
            throw Base64URLError(code: .invalidPadding, offset: dataCount)
        }
        let outputCount = dataCount / 4 * 3 + (remainder == 0 ? 0 : remainder - 1)
        if outputCount == 0 { return [] }

        return try table.withUnsafeBufferPointer { (lookup) throws(Base64URLError) -> [UInt8] in
            var failure: Base64URLError?
            let output = [UInt8](unsafeUninitializedCapacity: outputCount) { buffer, initializedCount in
                var index = 0
                var out = 0
                let fullEnd = dataCount - remainder
                while index < fullEnd {
                    let a = lookup[Int(input[index])]
                    let b = lookup[Int(input[index + 1])]
                    let c = lookup[Int(input[index + 2])]
                    let d = lookup[Int(input[index + 3])]
                    // All valid values are < 64, so one OR tells whether any byte was invalid (0xFF).
                    if (a | b | c | d) & 0xC0 != 0 {
                        failure = invalidCharacter(input, from: index, count: 4, lookup: lookup)
                        initializedCount = out
                        return
                    }
                    let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    buffer[out] = UInt8(truncatingIfNeeded: group >> 16)
                    buffer[out + 1] = UInt8(truncatingIfNeeded: group >> 8)
                    buffer[out + 2] = UInt8(truncatingIfNeeded: group)
                    index += 4
                    out += 3
                }
                if remainder >= 2 {
                    let a = lookup[Int(input[index])]
                    let b = lookup[Int(input[index + 1])]
                    let c = remainder == 3 ? lookup[Int(input[index + 2])] : 0
                    if (a | b | c) & 0xC0 != 0 {
                        failure = invalidCharacter(input, from: index, count: remainder, lookup: lookup)
                        initializedCount = out
                        return
                    }
                    let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                    let unusedBits = remainder == 2 ? group & 0xFFFF : group & 0xFF
                    if unusedBits != 0 {
                        failure = Base64URLError(code: .nonZeroTrailingBits, offset: index + remainder - 1)
                        initializedCount = out
                        return
                    }
                    buffer[out] = UInt8(truncatingIfNeeded: group >> 16)
                    out += 1
                    if remainder == 3 {
                        buffer[out] = UInt8(truncatingIfNeeded: group >> 8)
                        out += 1
                    }
                }
                initializedCount = out
            }
            if let failure { throw failure }
            return output
        }
    }

    /// The allocation-free strict decoder behind ``Base64URL/decodeUnpadded(_:into:)``: exactly the
    /// inputs `decode` accepts without padding, and the same bytes out.
    ///
    /// Eight characters per step through `WideDecodingTable`: eight table reads OR-ed together give
    /// the six output bytes already in place, one test refuses any byte outside the alphabet, and one
    /// 8-byte store writes them (the two extra bytes are overwritten by the next step; the wide loop
    /// stops while 8 bytes of output space remain). The tail goes four characters per step.
    static func decodeUnpadded(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let count = input.count
        let remainder = count % 4
        if remainder == 1 { return nil }
        let outputCount = count / 4 * 3 + (remainder == 0 ? 0 : remainder - 1)
        guard outputCount <= output.count else { return nil }
        if outputCount == 0 { return 0 }
        guard let source = input.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let target = output.baseAddress else { return nil }
        let table = WideDecodingTable.url.entries
        @inline(__always) func bits(_ position: Int, _ at: Int) -> UInt64 {
            table[position &* 256 &+ Int(source[at])]
        }
        let fullEnd = count - remainder
        // Six bytes are kept per step but eight written: the last wide step must still fit them all.
        let wideSteps = output.count >= 8 ? min(fullEnd / 8, (output.count - 8) / 6 + 1) : 0
        let pairs = WideDecodingTable.url.pairEntries
        var from = UnsafeRawPointer(source)
        var to = target
        for _ in 0..<wideSteps {
            // Four two-character lookups, each giving twelve bits (or the invalid mark).
            let a = UInt64(pairs[Int(from.loadUnaligned(as: UInt16.self))])
            let b = UInt64(pairs[Int(from.loadUnaligned(fromByteOffset: 2, as: UInt16.self))])
            let c = UInt64(pairs[Int(from.loadUnaligned(fromByteOffset: 4, as: UInt16.self))])
            let d = UInt64(pairs[Int(from.loadUnaligned(fromByteOffset: 6, as: UInt16.self))])
            if (a | b | c | d) & UInt64(WideDecodingTable.pairInvalidMark) != 0 { return nil }
            // The 48 bits big-endian at the top of the word, then byte-swapped: output byte k at bits 8k..8k+7.
            let word = (a << 52 | b << 40 | c << 28 | d << 16).byteSwapped
            to.storeBytes(of: word, as: UInt64.self)
            from += 8
            to += 6
        }
        var index = wideSteps &* 8
        var out = wideSteps &* 6
        while index < fullEnd {
            let word = bits(0, index) | bits(1, index &+ 1) | bits(2, index &+ 2) | bits(3, index &+ 3)
            if word & WideDecodingTable.invalidMark != 0 { return nil }
            target.storeBytes(of: UInt8(truncatingIfNeeded: word), toByteOffset: out, as: UInt8.self)
            target.storeBytes(of: UInt8(truncatingIfNeeded: word >> 8), toByteOffset: out &+ 1, as: UInt8.self)
            target.storeBytes(of: UInt8(truncatingIfNeeded: word >> 16), toByteOffset: out &+ 2, as: UInt8.self)
            index &+= 4
            out &+= 3
        }
        if remainder >= 2 {
            var word = bits(0, index) | bits(1, index &+ 1)
            if remainder == 3 { word |= bits(2, index &+ 2) }
            if word & WideDecodingTable.invalidMark != 0 { return nil }
            // The bits after the last whole byte land in the next byte of the word: they must be zero.
            let unusedBits: UInt64 = remainder == 2 ? word & 0xFF00 : word & 0xFF_0000
            if unusedBits != 0 { return nil }
            target.storeBytes(of: UInt8(truncatingIfNeeded: word), toByteOffset: out, as: UInt8.self)
            out &+= 1
            if remainder == 3 {
                target.storeBytes(of: UInt8(truncatingIfNeeded: word >> 8), toByteOffset: out, as: UInt8.self)
                out &+= 1
            }
        }
        return out
    }

    /// Error path only: the first byte outside the alphabet, if any.
    private static func firstInvalidByte(_ input: UnsafeBufferPointer<UInt8>, count: Int, table: [UInt8]) -> Base64URLError? {
        for offset in 0..<count where table[Int(input[offset])] == invalid {
            let code: Base64URLError.Code = input[offset] == UInt8(ascii: "=") ? .invalidPadding : .invalidCharacter
            return Base64URLError(code: code, offset: offset)
        }
        return nil
    }

    /// Finds the first offending byte of a group already known to contain one.
    private static func invalidCharacter(
        _ input: UnsafeBufferPointer<UInt8>,
        from start: Int,
        count: Int,
        lookup: UnsafeBufferPointer<UInt8>
    ) -> Base64URLError {
        for offset in start..<(start + count) where lookup[Int(input[offset])] == invalid {
            let code: Base64URLError.Code = input[offset] == UInt8(ascii: "=") ? .invalidPadding : .invalidCharacter
            return Base64URLError(code: code, offset: offset)
        }
        return Base64URLError(code: .invalidCharacter, offset: start)
    }
}

/// Base64url decoding tables for eight characters at a time, shared read-only by every thread.
///
/// `entries[position * 256 + byte]` is the six bits of `byte` as character `position` (0-7) of an
/// eight-character group, already shifted to where they land among the group's six output bytes,
/// in a word whose little-endian bytes are those output bytes; OR-ing the eight entries of a group
/// gives the decoded bytes. A byte outside the alphabet (including `=`) reads as `invalidMark`,
/// which no valid entry touches (valid bits fill only the low 48), so one test refuses a group.
struct WideDecodingTable: @unchecked Sendable {
    /// Set in the entry of every byte outside the alphabet.
    static let invalidMark: UInt64 = 0xFFFF_0000_0000_0000

    /// The URL alphabet's tables (RFC 4648 section 5). Built once and never freed or written again,
    /// which is what makes sharing the pointer safe.
    static let url = WideDecodingTable(alphabet: Base64Codec.urlAlphabet)

    let entries: UnsafePointer<UInt64>
    /// Two characters at once (128 KB, of which the alphabet's 4,096 pairs touch about 12 KB):
    /// indexed by the pair as a little-endian `UInt16` (first character in the low byte), the
    /// twelve bits the pair encodes, or `pairInvalidMark` when either is outside the alphabet.
    let pairEntries: UnsafePointer<UInt16>
    /// Set in the pair entry of every pair with a byte outside the alphabet.
    static let pairInvalidMark: UInt16 = 0x8000

    private init(alphabet: [UInt8]) {
        let table = UnsafeMutablePointer<UInt64>.allocate(capacity: 8 * 256)
        table.initialize(repeating: Self.invalidMark, count: 8 * 256)
        for (value, character) in alphabet.enumerated() {
            for position in 0..<8 {
                // The group's 48 bits big-endian, moved to the top of the word, then byte-swapped:
                // output byte k ends up at bits 8k..8k+7.
                let bigEndian = UInt64(value) << (42 - 6 * position + 16)
                table[position * 256 + Int(character)] = bigEndian.byteSwapped
            }
        }
        entries = UnsafePointer(table)
        var values = [UInt16](repeating: Self.pairInvalidMark, count: 256)
        for (value, character) in alphabet.enumerated() { values[Int(character)] = UInt16(value) }
        let pairs = UnsafeMutablePointer<UInt16>.allocate(capacity: 65_536)
        for index in 0..<65_536 {
            let first = values[index & 0xFF], second = values[index >> 8]
            pairs[index] = (first | second) & Self.pairInvalidMark != 0 ? Self.pairInvalidMark : first << 6 | second
        }
        pairEntries = UnsafePointer(pairs)
    }
}
