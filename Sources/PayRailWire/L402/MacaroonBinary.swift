import PayRailCrypto

// The libmacaroons V2 binary format, read exactly as go-macaroon's packet-v2.go and marshal-v2.go do:
//
//   0x02
//   [LOCATION] IDENTIFIER EOS                        header section
//   ( [LOCATION] IDENTIFIER [VERIFICATION_ID] EOS )* one section per caveat
//   EOS                                              an empty section ends the caveats
//   SIGNATURE (32 bytes)                             no EOS after it
//
// A packet is uvarint(type) uvarint(length) bytes; EOS is the single byte 0. Field types inside a
// section strictly increase. This parser is total and bounded: it is fed hostile headers and fuzzed.

extension Macaroon {
    /// The largest binary macaroon accepted, matching the 16 KB bound on credentials; larger input is
    /// refused before any parsing.
    public static let maximumBinaryByteCount = 16 * 1024

    /// The V2 version byte. A first byte that is an ASCII hex digit would be the V1 text format.
    static let binaryV2Version: UInt8 = 2

    /// Parses one V2 binary macaroon that fills all of `bytes`.
    ///
    /// - Throws: `WireError` `.tooLarge` above `maximumBinaryByteCount`, `.unsupported` for the V1
    ///   format or an unknown version byte, `.malformed` for any other defect (truncation, fields out
    ///   of order, a missing identifier, a signature that is not 32 bytes, trailing bytes). The same
    ///   input always fails the same way, so retrying is pointless.
    public init(binaryV2 bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maximumBinaryByteCount else {
            throw WireError(.tooLarge, "the macaroon is \(bytes.count) bytes; at most \(Self.maximumBinaryByteCount) are accepted")
        }
        var reader = MacaroonPacketReader(bytes: bytes)
        guard let version = reader.readByte() else { throw WireError(.malformed, "the macaroon is empty") }
        guard version == Self.binaryV2Version else {
            if version.isMacaroonV1LeadByte {
                throw WireError(.unsupported, "the macaroon is in the V1 text format; only the V2 binary format is read")
            }
            throw WireError(.unsupported, "unknown macaroon format version \(version); only V2 is read")
        }

        var header = try reader.readSection()
        var location = ""
        if let first = header.first, first.type == MacaroonField.location {
            location = try first.text(naming: "location")
            header.removeFirst()
        }
        guard header.count == 1, let identifierPacket = header.first, identifierPacket.type == MacaroonField.identifier else {
            throw WireError(.malformed, "the macaroon header must hold an optional location and one identifier")
        }

        var caveats: [MacaroonCaveat] = []
        while true {
            var section = try reader.readSection()
            if section.isEmpty { break }
            var caveatLocation: String?
            if let first = section.first, first.type == MacaroonField.location {
                caveatLocation = try first.text(naming: "caveat location")
                section.removeFirst()
            }
            guard let idPacket = section.first, idPacket.type == MacaroonField.identifier else {
                throw WireError(.malformed, "macaroon caveat \(caveats.count + 1) has no identifier")
            }
            section.removeFirst()
            if section.isEmpty {
                guard caveatLocation == nil else {
                    throw WireError(.malformed, "macaroon caveat \(caveats.count + 1) is first-party but has a location")
                }
                caveats.append(MacaroonCaveat(firstPartyIdentifier: idPacket.data))
                continue
            }
            guard section.count == 1, let vidPacket = section.first, vidPacket.type == MacaroonField.verificationID else {
                throw WireError(.malformed, "macaroon caveat \(caveats.count + 1) has an unexpected field")
            }
            caveats.append(MacaroonCaveat(
                thirdPartyIdentifier: idPacket.data, verificationID: vidPacket.data, location: caveatLocation
            ))
        }

        let signaturePacket = try reader.readPacket()
        guard signaturePacket.type == MacaroonField.signature else {
            throw WireError(.malformed, "the macaroon caveats are not followed by its signature")
        }
        guard signaturePacket.data.count == HMACSHA256.byteCount else {
            throw WireError(.malformed, "the macaroon signature is \(signaturePacket.data.count) bytes, not \(HMACSHA256.byteCount)")
        }
        guard reader.isAtEnd else { throw WireError(.malformed, "bytes follow the macaroon signature") }
        self.init(location: location, identifier: identifierPacket.data, caveats: caveats, signature: signaturePacket.data)
    }

    /// The V2 binary form. An empty location is omitted, as go-macaroon does (pymacaroons writes an
    /// empty location packet instead; both read either form, and the location is not signed).
    public var binaryV2: [UInt8] {
        var out: [UInt8] = [Self.binaryV2Version]
        if !location.isEmpty { out.appendMacaroonPacket(MacaroonField.location, Array(location.utf8)) }
        out.appendMacaroonPacket(MacaroonField.identifier, identifier)
        out.append(MacaroonField.endOfSection)
        for caveat in caveats {
            if let caveatLocation = caveat.location, !caveatLocation.isEmpty {
                out.appendMacaroonPacket(MacaroonField.location, Array(caveatLocation.utf8))
            }
            out.appendMacaroonPacket(MacaroonField.identifier, caveat.identifier)
            if let verificationID = caveat.verificationID, !verificationID.isEmpty {
                out.appendMacaroonPacket(MacaroonField.verificationID, verificationID)
            }
            out.append(MacaroonField.endOfSection)
        }
        out.append(MacaroonField.endOfSection)
        out.appendMacaroonPacket(MacaroonField.signature, signature)
        return out
    }

    /// Parses standard base64 (padding optional) of the V2 binary, the form L402 headers carry.
    ///
    /// - Throws: `WireError` `.tooLarge` before decoding text that could exceed the binary bound,
    ///   `.malformed` for bad base64, else as `init(binaryV2:)`.
    public init(base64 text: String) throws(WireError) {
        // 4 characters carry 3 bytes; refuse before decoding so a huge header costs nothing.
        guard text.utf8.count <= (Self.maximumBinaryByteCount / 3 + 1) * 4 else {
            throw WireError(.tooLarge, "the base64 macaroon exceeds \(Self.maximumBinaryByteCount) bytes")
        }
        let bytes: [UInt8]
        do { bytes = try Base64.decode(text) } catch {
            throw WireError(.malformed, "the macaroon is not standard base64 (\(error.description))")
        }
        try self.init(binaryV2: bytes)
    }

    /// Standard base64 with padding of the V2 binary, as aperture writes and reads it.
    public var base64: String { Base64.encode(binaryV2) }

    /// Parses the hex V2 binary that aperture reads from `Grpc-Metadata-Macaroon` and `Macaroon`.
    ///
    /// - Throws: `WireError` `.tooLarge` before decoding, `.malformed` for bad hex, else as
    ///   `init(binaryV2:)`.
    public init(hex text: String) throws(WireError) {
        guard text.utf8.count <= Self.maximumBinaryByteCount * 2 else {
            throw WireError(.tooLarge, "the hex macaroon exceeds \(Self.maximumBinaryByteCount) bytes")
        }
        guard let bytes = L402Hex.decode(text) else {
            throw WireError(.malformed, "the macaroon is not an even number of hex digits")
        }
        try self.init(binaryV2: bytes)
    }

    /// Lowercase hex of the V2 binary (the gRPC metadata form).
    public var hex: String { L402Hex.encode(binaryV2) }
}

/// The V2 field types (go-macaroon `packet-v2.go`).
enum MacaroonField {
    static let endOfSection: UInt8 = 0
    static let location: UInt64 = 1
    static let identifier: UInt64 = 2
    static let verificationID: UInt64 = 4
    static let signature: UInt64 = 6
}

/// One `type length data` packet.
struct MacaroonPacket {
    var type: UInt64
    var data: [UInt8]

    /// The data as UTF-8 text; locations are strings in every implementation, so other bytes are refused.
    func text(naming field: String) throws(WireError) -> String {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw WireError(.malformed, "the macaroon \(field) is not UTF-8")
        }
        return text
    }
}

/// A cursor over the binary; every read checks bounds and throws instead of trapping.
struct MacaroonPacketReader {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position >= bytes.count }

    mutating func readByte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    /// A protobuf-style uvarint, refused above 0x7fffffff as go-macaroon does.
    mutating func readVarint() throws(WireError) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<10 {
            guard let byte = readByte() else {
                throw WireError(.malformed, "a macaroon varint extends past the end of the buffer")
            }
            value |= UInt64(byte & 0x7F) << UInt64(7 * index)
            if byte < 0x80 {
                guard value <= 0x7FFF_FFFF else { throw WireError(.malformed, "a macaroon varint is out of range") }
                return value
            }
            // Anything past 35 bits already exceeds the limit; stop before the shift could overflow.
            if index >= 4 { throw WireError(.malformed, "a macaroon varint is out of range") }
        }
        throw WireError(.malformed, "a macaroon varint is out of range")
    }

    /// One packet; EOS has type 0 and no length or data.
    mutating func readPacket() throws(WireError) -> MacaroonPacket {
        let type = try readVarint()
        if type == UInt64(MacaroonField.endOfSection) { return MacaroonPacket(type: type, data: []) }
        let length = try readVarint()
        // length <= 0x7fffffff, so the conversion and the comparison cannot overflow.
        let remaining = bytes.count - position
        guard length <= UInt64(remaining) else {
            throw WireError(.malformed, "a macaroon field extends past the end of the buffer")
        }
        let end = position + Int(length)
        defer { position = end }
        return MacaroonPacket(type: type, data: Array(bytes[position..<end]))
    }

    /// The packets up to the next EOS, whose types must strictly increase.
    mutating func readSection() throws(WireError) -> [MacaroonPacket] {
        var packets: [MacaroonPacket] = []
        var previousType: UInt64?
        while true {
            guard !isAtEnd else { throw WireError(.malformed, "a macaroon section extends past the end of the buffer") }
            let packet = try readPacket()
            if packet.type == UInt64(MacaroonField.endOfSection) { return packets }
            if let previousType, packet.type <= previousType {
                throw WireError(.malformed, "macaroon fields are out of order")
            }
            previousType = packet.type
            packets.append(packet)
        }
    }
}

extension [UInt8] {
    /// Appends `type length data` with protobuf-style varints.
    mutating func appendMacaroonPacket(_ type: UInt64, _ data: [UInt8]) {
        appendMacaroonVarint(type)
        appendMacaroonVarint(UInt64(data.count))
        append(contentsOf: data)
    }

    mutating func appendMacaroonVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        append(UInt8(truncatingIfNeeded: rest))
    }
}

extension UInt8 {
    /// `0-9a-fA-F`: the first byte of a V1 (text) macaroon.
    var isMacaroonV1LeadByte: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }
}

/// Hex for payment hashes, preimages and gRPC-metadata macaroons.
enum L402Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex in either case; `nil` for an odd length or a non-hex character.
    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index + 1 < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
