// The one BOLT 11 reader of the wire codecs (x402 lnbtc, L402, the plain dialect and the agent-side
// response reader all use it): a strict, minimal summary of what scheme_exact_lnbtc.md obliges both
// the server (before sending the challenge) and the client (before paying) to check: currency, msat
// amount, creation time, expiry, payment hash, the single description hash, and the signing key. It
// never trusts the `n` field alone: when present the signature must verify against it, otherwise the
// key is recovered. `parsePrefix` alone reads the human-readable part (L402's `BOLT11Amount`).

import PayRailCrypto

/// The facts of a BOLT 11 invoice that the wire codecs check. Internal: the rails own invoices.
struct Bolt11Invoice: Hashable, Sendable {
    /// The BOLT11 currency prefix: `bc`, `tb`, `tbs` (signet) or `bcrt` (regtest).
    let currency: String
    /// The amount in millisatoshi, `nil` for an "any amount" invoice.
    let amountMsat: Int64?
    /// Creation time, Unix seconds.
    let timestamp: Int64
    /// Seconds after `timestamp` the invoice stays payable (default 3600).
    let expirySeconds: Int64
    /// The 32-byte payment hash.
    let paymentHash: [UInt8]
    /// Every 32-byte description hash (`h`) found; lnbtc requires exactly one.
    let descriptionHashes: [[UInt8]]
    /// Whether an inline description (`d`) is present; lnbtc forbids it.
    let hasInlineDescription: Bool
    /// The compressed secp256k1 key that signed the invoice.
    let payeeKey: [UInt8]

    /// Invoices longer than this are refused before any work (a real one is well under 1 KB).
    static let maximumLength = 4096

    private static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    init(_ text: String) throws(WireError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw WireError(.tooLarge, "a BOLT11 invoice over \(Self.maximumLength) characters is refused")
        }
        let raw = Array(text.utf8)
        let hasUpper = raw.contains { $0 >= 0x41 && $0 <= 0x5A }, hasLower = raw.contains { $0 >= 0x61 && $0 <= 0x7A }
        guard !(hasUpper && hasLower) else { throw WireError(.malformed, "a BOLT11 invoice must not mix upper and lower case") }
        let bytes = raw.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        guard let separator = bytes.lastIndex(of: 0x31), separator >= 2, bytes[0] == 0x6C, bytes[1] == 0x6E else {
            throw WireError(.malformed, "a BOLT11 invoice starts with ln and has a bech32 separator")
        }
        let hrp = Array(bytes[..<separator])
        var words: [UInt8] = []
        words.reserveCapacity(bytes.count - separator)
        for character in bytes[(separator + 1)...] {
            guard let value = Self.charset.firstIndex(of: character) else {
                throw WireError(.malformed, "a BOLT11 invoice has a character outside the bech32 alphabet")
            }
            words.append(UInt8(value))
        }
        guard hrp.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { throw WireError(.malformed, "a BOLT11 prefix must be printable ASCII") }
        guard Self.polymod(hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 } + words) == 1 else {
            throw WireError(.malformed, "the BOLT11 invoice checksum does not verify")
        }
        guard words.count >= 6 + 104 + 7 else { throw WireError(.malformed, "the BOLT11 invoice is too short") }
        words.removeLast(6)
        let signatureWords = words.suffix(104)
        let signedWords = words.prefix(words.count - 104)

        (currency, amountMsat) = try Self.parsePrefix(Array(hrp.dropFirst(2)))
        var time: Int64 = 0
        for word in signedWords.prefix(7) { time = time << 5 | Int64(word) }
        timestamp = time

        var paymentHash: [UInt8]?, payeeField: [UInt8]?, expiry: Int64 = 3600
        var descriptionHashes: [[UInt8]] = [], inline = false
        var index = signedWords.startIndex + 7
        let end = signedWords.endIndex
        while index < end {
            guard end - index >= 3 else { throw WireError(.malformed, "a BOLT11 tagged field is truncated") }
            let type = signedWords[index]
            let length = Int(signedWords[index + 1]) * 32 + Int(signedWords[index + 2])
            let start = index + 3
            guard length <= end - start else { throw WireError(.malformed, "a BOLT11 tagged field runs past the signature") }
            let field = signedWords[start..<(start + length)]
            switch type {
            case 1 where length == 52 && paymentHash == nil: paymentHash = Array(Self.bytes(fromWords: field).prefix(32))
            case 23 where length == 52: descriptionHashes.append(Array(Self.bytes(fromWords: field).prefix(32)))
            case 13: inline = true
            case 19 where length == 53 && payeeField == nil: payeeField = Array(Self.bytes(fromWords: field).prefix(33))
            case 6:
                guard length >= 1, length <= 10 else { throw WireError(.malformed, "a BOLT11 expiry field has a bad length") }
                var value: Int64 = 0
                for word in field { value = value << 5 | Int64(word) }
                expiry = value
            default: break
            }
            index = start + length
        }
        guard let paymentHash else { throw WireError(.malformed, "the BOLT11 invoice has no payment hash") }
        self.paymentHash = paymentHash
        self.descriptionHashes = descriptionHashes
        self.hasInlineDescription = inline
        self.expirySeconds = expiry

        let signature = Self.bytes(fromWords: signatureWords)
        guard signature.count == 65, signature[64] <= 3 else { throw WireError(.malformed, "the BOLT11 signature is malformed") }
        let digest = SHA256.hash(hrp + Self.bytes(fromWords: signedWords))
        let compact = Array(signature[0..<64])
        do {
            if let payeeField {
                let key = try Secp256k1.PublicKey(serialized: payeeField)
                guard key.isValidSignature(try ECDSASignature(rawRepresentation: compact), forDigest: digest) else {
                    throw WireError(.bindingMismatch, "the BOLT11 signature does not verify against its n field")
                }
                payeeKey = key.compressedRepresentation
            } else {
                let key = try Secp256k1.PublicKey.recover(compactSignature: compact, recoveryID: Int(signature[64]), digest: digest)
                payeeKey = key.compressedRepresentation
            }
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError(.bindingMismatch, "the BOLT11 signature does not verify")
        }
    }

    /// The expiry moment in Unix seconds (cannot overflow: both parts are below 2^50).
    var expiresAtUnix: Int64 { timestamp + expirySeconds }

    /// The PayRail Lightning network name of a BOLT11 currency prefix, or `nil` for an unknown one.
    static func networkName(currency: String) -> String? {
        switch currency {
        case "bc": return "mainnet"
        case "tb": return "testnet"
        case "tbs": return "signet"
        case "bcrt": return "regtest"
        default: return nil
        }
    }

    /// The PayRail Lightning network name of this invoice, or `nil` for an unknown currency.
    var network: String? { Self.networkName(currency: currency) }

    /// The payment hash as 64 lowercase hex digits.
    var paymentHashHex: String { X402Syntax.hex(paymentHash) }

    /// The payee node key as 66 lowercase hex digits.
    var payeeKeyHex: String { X402Syntax.hex(payeeKey) }

    /// Reads the lowercase human-readable part after `ln` (currency, then optional amount and
    /// multiplier) into the currency and the amount in millisatoshi (`nil` when amountless).
    static func parsePrefix(_ rest: [UInt8]) throws(WireError) -> (String, Int64?) {
        // Currencies are letters and amounts start with a digit, so the split is exact for bc, tb, tbs, bcrt.
        let currencyBytes = rest.prefix { $0 >= 0x61 && $0 <= 0x7A }
        let currency = String(decoding: currencyBytes, as: UTF8.self)
        var amountPart = Array(rest.dropFirst(currencyBytes.count))
        guard !currency.isEmpty else { throw WireError(.malformed, "the BOLT11 prefix has no currency") }
        if amountPart.isEmpty { return (currency, nil) }
        var multiplier: UInt8?
        if let last = amountPart.last, last >= 0x61 && last <= 0x7A {
            multiplier = last
            amountPart.removeLast()
        }
        guard !amountPart.isEmpty, amountPart.count <= 19, amountPart.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              amountPart.first != 0x30
        else {
            throw WireError(.malformed, "the BOLT11 amount is not a positive number without leading zeros")
        }
        var value: Int64 = 0
        for digit in amountPart {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.addingReportingOverflow(Int64(digit - 0x30))
            guard !o1, !o2 else { throw WireError(.malformed, "the BOLT11 amount overflows") }
            value = next
        }
        let msat: Int64
        switch multiplier {
        case nil: msat = try multiply(value, 100_000_000_000)
        case UInt8(ascii: "m")?: msat = try multiply(value, 100_000_000)
        case UInt8(ascii: "u")?: msat = try multiply(value, 100_000)
        case UInt8(ascii: "n")?: msat = try multiply(value, 100)
        case UInt8(ascii: "p")?:
            guard value % 10 == 0 else { throw WireError(.malformed, "a BOLT11 pico amount must be a whole millisatoshi") }
            msat = value / 10
        default: throw WireError(.malformed, "the BOLT11 amount multiplier is not m, u, n or p")
        }
        return (currency, msat)
    }

    private static func multiply(_ a: Int64, _ b: Int64) throws(WireError) -> Int64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw WireError(.malformed, "the BOLT11 amount overflows") }
        return product
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> UInt32(bit)) & 1 == 1 { checksum ^= generator[bit] }
        }
        return checksum
    }

    /// Regroups 5-bit words into bytes, padding the last byte with zero bits (the BOLT 11 signing rule).
    private static func bytes(fromWords words: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for word in words {
            accumulator = (accumulator << 5 | UInt32(word)) & 0xFFF
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        if bits > 0 { out.append(UInt8((accumulator << UInt32(8 - bits)) & 0xFF)) }
        return out
    }
}
