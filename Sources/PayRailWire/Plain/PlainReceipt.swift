// `X-Receipt: <receipt>`: how a plain-dialect client retries. One header, four kinds of content,
// told apart by shape alone (the order of the checks matters and is the contract):
//
//   1. `Payment <base64url>`                         a Payment-scheme credential (any rail)
//   2. exactly 64 hex digits                          a Lightning preimage (server: sha256 -> challenge)
//   3. three non-empty base64url parts joined by "."  a receipt token (compact JWS) for a replay
//   4. anything else printable                        a rail's own proof (fake voucher "x.y", Stripe pi_... or spt_...)
//
// A JWS always has three parts and a fake voucher two, so 3 and 4 cannot be confused.

import PayRail
import PayRailCrypto

/// The content of an `X-Receipt` request header, classified.
///
/// The secret kinds (preimage, proof, credential payload) never appear in ``description``.
public enum PlainReceipt: Hashable, Sendable, CustomStringConvertible {
    /// The request field.
    public static let fieldName = "X-Receipt"
    /// Values longer than this are refused before any decoding (the bound every credential has).
    public static let maximumLength = 16 * 1024

    /// A Lightning payment preimage (32 bytes).
    case preimage([UInt8])
    /// A Payment-scheme credential sent in `X-Receipt` instead of `Authorization`.
    case paymentCredential(PaymentCredential)
    /// A server-issued receipt token (compact JWS), presented again for an idempotent replay.
    case receiptToken(String)
    /// A rail's own proof (the fake rail's voucher, a Stripe shared payment token), matched against
    /// the server's offers by the rail.
    case railProof(String)

    /// Classifies an `X-Receipt` value.
    ///
    /// - Throws: `.tooLarge` over 16 KB (checked first); `.missingField` for an empty value;
    ///   `.malformed` for control characters or non-ASCII, or a `Payment` credential that does not parse
    ///   (its own errors).
    public static func parse(_ value: String) throws(WireError) -> PlainReceipt {
        guard value.utf8.count <= maximumLength else {
            throw WireError(.tooLarge, "the X-Receipt value is \(value.utf8.count) bytes; at most \(maximumLength) are accepted")
        }
        let trimmed = trim(value)
        guard !trimmed.isEmpty else { throw WireError(.missingField, "the X-Receipt value is empty") }
        guard isPrintableASCII(trimmed) else {
            throw WireError(.malformed, "the X-Receipt value must be printable ASCII")
        }
        if trimmed.utf8.count > 8, startsWithPaymentScheme(trimmed) {
            return .paymentCredential(try PaymentCredential.parse(trimmed))
        }
        if trimmed.utf8.count == 64, trimmed.utf8.allSatisfy(isHex) {
            return .preimage(hexBytes(trimmed.lowercased()))
        }
        // Byte-wise: this runs on every replayed request, and Character-wise splitting of a
        // 400-byte token costs more than the rest of the replay.
        if isCompactJWS(trimmed) { return .receiptToken(trimmed) }
        guard !trimmed.utf8.contains(UInt8(ascii: " ")) else {
            throw WireError(.malformed, "a rail proof in X-Receipt is one token without spaces")
        }
        return .railProof(trimmed)
    }

    /// The header value.
    ///
    /// - Throws: `.tooLarge` over 16 KB; as ``PaymentCredential/headerValue()`` for a credential.
    public func headerValue() throws(WireError) -> String {
        let value: String
        switch self {
        case .preimage(let bytes): value = X402Syntax.hex(bytes)
        case .paymentCredential(let credential): value = try credential.headerValue()
        case .receiptToken(let token): value = token
        case .railProof(let proof): value = proof
        }
        guard value.utf8.count <= Self.maximumLength else {
            throw WireError(.tooLarge, "the X-Receipt value would be \(value.utf8.count) bytes; servers accept at most \(Self.maximumLength)")
        }
        return value
    }

    /// The payload member a rail proof fills, per rail and proof (the single value the plain form
    /// carries). Stripe has two: a PaymentIntent id (`pi_…`, the founding article's form, which the
    /// payer confirmed) fills `paymentIntent`; anything else is a Shared Payment Token (`spt`).
    public static func proofField(for rail: RailID, proof: String) -> String {
        switch rail {
        case .lightning: return "preimage"
        case .stripe: return proof.hasPrefix("pi_") ? "paymentIntent" : "spt"
        case .fake: return "voucher"
        default: return "proof"
        }
    }

    /// The payload members that may carry a rail's plain proof, in the order an agent looks for them.
    static func proofFields(for rail: RailID) -> [String] {
        rail == .stripe ? ["paymentIntent", "spt"] : [proofField(for: rail, proof: "")]
    }

    // MARK: Agent side

    /// The `X-Receipt` answering `offer` with a rail credential: the preimage for Lightning, otherwise the
    /// rail's single proof value (``proofField(for:proof:)``: for Stripe the confirmed PaymentIntent's
    /// `pi_…`, else the `spt_…`). Rails whose proof needs more than one value must be answered in the
    /// Payment dialect instead.
    ///
    /// - Throws: `.missingField` when the credential lacks the proof; `.malformed` for a Lightning
    ///   preimage that is not 64 hex digits, or a Stripe proof in the wrong member (`paymentIntent` must
    ///   be `pi_…`, `spt` must not be); `.bindingMismatch` for a credential of another rail.
    public static func answering(_ offer: Offer, with credential: Credential) throws(WireError) -> PlainReceipt {
        guard credential.rail == offer.rail else {
            throw WireError(.bindingMismatch, "the credential is for \(credential.rail), the offer for \(offer.rail)")
        }
        let fields = proofFields(for: offer.rail)
        guard let field = fields.first(where: { credential.payload[$0]?.isEmpty == false }), let proof = credential.payload[field] else {
            throw WireError(.missingField, "the credential has no \(fields.joined(separator: " or ")) for the \(offer.rail) rail")
        }
        // The server reads the member back from the proof's shape: it must say the same.
        guard proofField(for: offer.rail, proof: proof) == field else {
            throw WireError(.malformed, "the \(field) proof does not have that member's shape")
        }
        if offer.rail == .lightning {
            guard proof.utf8.count == 64, proof.utf8.allSatisfy(isHex) else {
                throw WireError(.malformed, "a Lightning preimage is 64 hex digits")
            }
            return .preimage(hexBytes(proof.lowercased()))
        }
        return .railProof(proof)
    }

    // MARK: Server side

    /// The domain credential for an offer the server made (found by the caller: for a preimage by
    /// `sha256(preimage)`, for a proof by the rail). Payload: ``proofField(for:proof:)`` = the value.
    ///
    /// - Throws: `.unsupported` for a receipt token (check it as a receipt, not as a payment) or a
    ///   Payment credential (read it with ``PaymentCharge/domainCredential(from:)``); `.bindingMismatch`
    ///   for a preimage answering a non-Lightning offer, or one whose hash is not the offer's payment hash.
    public func credential(for offer: Offer) throws(WireError) -> Credential {
        switch self {
        case .preimage(let bytes):
            guard offer.rail == .lightning else { throw WireError(.bindingMismatch, "a preimage answers Lightning offers only") }
            let hash = X402Syntax.hex(SHA256.hash(bytes))
            let expected = (offer.details["paymentHash"] ?? offer.id).lowercased()
            guard constantTimeEquals(Array(hash.utf8), Array(expected.utf8)) else {
                throw WireError(.bindingMismatch, "the preimage does not pay this offer's invoice")
            }
            return Credential(rail: .lightning, offerID: offer.id, payload: ["preimage": X402Syntax.hex(bytes)])
        case .railProof(let proof):
            return Credential(rail: offer.rail, offerID: offer.id, payload: [Self.proofField(for: offer.rail, proof: proof): proof])
        case .receiptToken:
            throw WireError(.unsupported, "a receipt token is a replay: verify it as a receipt, it pays no offer")
        case .paymentCredential:
            throw WireError(.unsupported, "a Payment credential is read with PaymentCharge.domainCredential(from:)")
        }
    }

    /// The payment hash (64 lowercase hex) a preimage pays: how the server finds its challenge.
    public var paymentHash: String? {
        guard case .preimage(let bytes) = self else { return nil }
        return X402Syntax.hex(SHA256.hash(bytes))
    }

    /// The kind only; never the secret.
    public var description: String {
        switch self {
        case .preimage: return "PlainReceipt.preimage"
        case .paymentCredential(let credential): return "PlainReceipt.paymentCredential(\(credential))"
        case .receiptToken: return "PlainReceipt.receiptToken"
        case .railProof: return "PlainReceipt.railProof"
        }
    }

    private static func trim(_ text: String) -> String {
        let bytes = text.utf8
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        if first == bytes.startIndex, last == bytes.index(before: bytes.endIndex) { return text }
        return String(Substring(bytes[first...last]))
    }

    // The scans below run on every replayed request over a token of several hundred bytes, so
    // they read the string's own storage (`withContiguousStorageIfAvailable`) instead of iterating
    // its UTF-8 view, and the printable check goes eight bytes at a time.

    /// Every byte in 0x20...0x7E.
    private static func isPrintableASCII(_ text: String) -> Bool {
        if let result = text.utf8.withContiguousStorageIfAvailable(isPrintableASCII) { return result }
        return text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    private static func isPrintableASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        while index + 8 <= bytes.count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            // A high bit per byte below 0x20, at or above 0x80, or 0x7F (adding 1 reaches 0x80).
            // The borrow and carry tricks only ever add flags next to a true one, so zero is exact.
            let flags = (((word &- ones &* 0x20) & ~word) | word | (word &+ ones)) & highs
            if flags != 0 { return false }
            index += 8
        }
        while index < bytes.count {
            guard base[index] >= 0x20, base[index] < 0x7F else { return false }
            index += 1
        }
        return true
    }

    /// Whether the value starts with `Payment ` in any case (the scheme name is case-insensitive).
    private static func startsWithPaymentScheme(_ text: String) -> Bool {
        var index = text.utf8.startIndex
        for expected in "payment ".utf8 {
            guard index < text.utf8.endIndex else { return false }
            let byte = text.utf8[index]
            let lowered = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            guard lowered == expected else { return false }
            index = text.utf8.index(after: index)
        }
        return true
    }

    /// Three non-empty base64url segments joined by dots, checked in one pass over the bytes.
    private static func isCompactJWS(_ text: String) -> Bool {
        if let result = text.utf8.withContiguousStorageIfAvailable(isCompactJWS) { return result }
        return isCompactJWS(Array(text.utf8))
    }

    private static func isCompactJWS(_ bytes: some Collection<UInt8>) -> Bool {
        var dots = 0
        var segmentLength = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard segmentLength > 0 else { return false }
                dots += 1
                segmentLength = 0
            } else {
                guard isBase64URL(byte) else { return false }
                segmentLength += 1
            }
        }
        return dots == 2 && segmentLength > 0
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }

    @inline(__always)
    private static func isBase64URL(_ byte: UInt8) -> Bool {
        // Letters folded to lower case first: one range test for both cases.
        ((byte | 0x20) &- 0x61) < 26 || (byte &- 0x30) < 10 || byte == 0x2D || byte == 0x5F
    }

    /// Pairs of hex digits to bytes; the caller has checked the text is even-length lowercase hex.
    private static func hexBytes(_ text: String) -> [UInt8] {
        let digits = text.utf8.map { $0 <= 0x39 ? $0 &- 0x30 : $0 &- 0x57 }
        return stride(from: 0, to: digits.count - 1, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }
}
