// A BOLT 11 invoice, decoded and checked as 11-payment-encoding.md asks of a reader: bech32 without
// the 90-character limit, the prefix's network and amount, every tagged field (wrong-length p/h/s/n
// and unknown fields skipped, unknown even features refused), and the signature — checked against
// `n` when the invoice names its payee (then high-S is refused), otherwise by recovering the key.
// A value of this type has passed every check: holding one means the invoice is well formed and
// signed by `payeeKey`; whether it is still payable is `isExpired(at:)`.

import Foundation
import PayRail
import PayRailCrypto

/// A decoded, signature-checked BOLT 11 invoice.
public struct Bolt11Invoice: Hashable, Sendable {
    /// The network the invoice is payable on.
    public let network: Bolt11Network
    /// The amount requested in millisatoshi, `nil` for an "any amount" invoice.
    public let amountMsat: Int64?
    /// Creation time, Unix seconds (35 bits).
    public let timestamp: Int64
    /// The 32-byte payment hash (`p`); the preimage of this hash is the proof of payment.
    public let paymentHash: [UInt8]
    /// The 32-byte payment secret (`s`), sent in the onion so hops cannot probe the payee.
    public let paymentSecret: [UInt8]
    /// The inline description (`d`); exactly one of this and `descriptionHash` is set.
    public let descriptionText: String?
    /// The 32-byte SHA-256 of a description given elsewhere (`h`).
    public let descriptionHash: [UInt8]?
    /// Seconds after `timestamp` the invoice stays payable (`x`, 3600 when absent).
    public let expirySeconds: Int64
    /// The CLTV delta for the last hop (`c`, 18 when absent).
    public let minFinalCLTVExpiryDelta: Int64
    /// The payee's 33-byte compressed node key: the `n` field, or recovered from the signature.
    public let payeeKey: [UInt8]
    /// Whether the invoice named its payee in an `n` field (rather than leaving it to key recovery).
    public let hasExplicitPayeeKey: Bool
    /// On-chain fallbacks (`f`) with a known version, most preferred first.
    public let fallbackAddresses: [Bolt11FallbackAddress]
    /// Private routes (`r`), most preferred first.
    public let routeHints: [Bolt11RouteHint]
    /// The feature vector (`9`); empty when absent.
    public let features: Bolt11Features
    /// The payment metadata (`m`) the payer must pass on, when present.
    public let metadata: [UInt8]?
    /// The 64-byte compact signature r || s.
    public let signature: [UInt8]
    /// The recovery id (0...3) of the signature.
    public let recoveryID: Int

    /// The default expiry when an invoice has no `x` field.
    public static let defaultExpirySeconds: Int64 = 3600
    /// The default final CLTV delta when an invoice has no `c` field.
    public static let defaultMinFinalCLTVExpiryDelta: Int64 = 18
    /// Longer strings are refused before any work. No length limit exists in the spec, but every
    /// field is at most 639 bytes and a real invoice is well under 2 KB; this is the capacity of the
    /// largest QR code, the medium invoices are made for.
    public static let maximumLength = 7089

    /// The amount as PayRail money (millisatoshi), `nil` for an "any amount" invoice.
    public var amount: Money? { amountMsat.flatMap { try? Money(amount: $0, unit: .msat) } }

    /// The moment the invoice stops being payable.
    public var expiresAt: Date { Date(timeIntervalSince1970: TimeInterval(timestamp + expirySeconds)) }

    /// The creation moment.
    public var createdAt: Date { Date(timeIntervalSince1970: TimeInterval(timestamp)) }

    /// Whether the invoice has expired at `moment`: from `expiresAt` on, a payer should not pay it
    /// and a payee should not accept a payment for it.
    public func isExpired(at moment: Date) -> Bool { moment >= expiresAt }

    /// Decodes and checks an invoice; upper case and a leading `lightning:` are accepted.
    ///
    /// - Throws: `Bolt11Error` naming the broken rule. None is transient: do not pay, ask the payee
    ///   for a new invoice.
    public static func decode(_ text: String) throws(Bolt11Error) -> Bolt11Invoice {
        var input = Substring(text)
        if input.count > 10, input.prefix(10).lowercased() == "lightning:" { input = input.dropFirst(10) }
        guard input.utf8.count <= maximumLength else {
            throw Bolt11Error(.malformed, "longer than \(maximumLength) characters")
        }
        let raw = try Bolt11RawInvoice(String(input), payerRules: true)
        // `payerRules` refused an unknown currency already; this only satisfies the type checker.
        guard let network = raw.network else { throw Bolt11Error(.unknownNetwork, "unknown currency prefix 'ln\(raw.currency)'") }
        let fields = raw.fields
        guard let paymentHash = fields.paymentHash else { throw Bolt11Error(.missingField, "no payment hash (p) field") }
        guard let paymentSecret = fields.paymentSecret else { throw Bolt11Error(.missingField, "no payment secret (s) field") }
        switch (fields.descriptionText, fields.descriptionHash) {
        case (nil, nil): throw Bolt11Error(.missingField, "neither a description (d) nor a description hash (h) field")
        case (.some, .some): throw Bolt11Error(.invalidField, "both a description (d) and a description hash (h) field")
        default: break
        }
        if let bit = fields.features.firstUnknownRequiredBit {
            throw Bolt11Error(.unknownRequiredFeature, "the invoice requires feature bit \(bit), which this reader does not know")
        }
        if fields.features.offers(Bolt11Features.basicMPP), !fields.features.offers(Bolt11Features.paymentSecret) {
            throw Bolt11Error(.unknownRequiredFeature, "basic_mpp is set without its dependency payment_secret")
        }
        let signer = try raw.signer(badRecoveryID: .invalidSignature)
        return Bolt11Invoice(
            network: network, amountMsat: raw.amountMsat, timestamp: raw.timestamp, paymentHash: paymentHash,
            paymentSecret: paymentSecret, descriptionText: fields.descriptionText, descriptionHash: fields.descriptionHash,
            expirySeconds: fields.expiry ?? defaultExpirySeconds,
            minFinalCLTVExpiryDelta: fields.minFinalCLTVExpiryDelta ?? defaultMinFinalCLTVExpiryDelta,
            payeeKey: signer.key, hasExplicitPayeeKey: fields.payeeKey != nil, fallbackAddresses: fields.fallbacks,
            routeHints: fields.routeHints, features: fields.features, metadata: fields.metadata, signature: signer.compact,
            recoveryID: signer.recoveryID
        )
    }

    /// Reads `ln` + currency + optional amount (digits and an optional m/u/n/p multiplier).
    static func parseHumanReadablePart(_ hrp: String) throws(Bolt11Error) -> (Bolt11Network, Int64?) {
        let bytes = Array(hrp.utf8)
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "l"), bytes[1] == UInt8(ascii: "n") else {
            throw Bolt11Error(.unknownNetwork, "the prefix does not start with ln")
        }
        let currency = currencyPrefix(bytes.dropFirst(2))
        guard let network = Bolt11Network(currencyPrefix: currency) else {
            throw Bolt11Error(.unknownNetwork, "unknown currency prefix 'ln\(currency)' (known: lnbc, lntb, lntbs, lnbcrt)")
        }
        return (network, try amount(bytes.dropFirst(2 + currency.utf8.count)))
    }

    /// Splits a human-readable part (`ln`, currency, optional amount; lower case) into the currency
    /// prefix and the amount in millisatoshi (`nil` for an "any amount" invoice), without judging the
    /// currency: for readers that only quote an invoice's price (L402's `BOLT11Amount`).
    ///
    /// - Throws: `.malformed` when the part is not `ln` followed by a currency of letters,
    ///   `.invalidAmount` for an amount that is not digits with an optional m/u/n/p multiplier, has a
    ///   leading zero, is below a millisatoshi or overflows.
    public static func splitHumanReadablePart(_ hrp: String) throws(Bolt11Error) -> (currency: String, amountMsat: Int64?) {
        let bytes = Array(hrp.utf8)
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "l"), bytes[1] == UInt8(ascii: "n") else {
            throw Bolt11Error(.malformed, "the prefix does not start with ln")
        }
        let currency = currencyPrefix(bytes.dropFirst(2))
        guard !currency.isEmpty else { throw Bolt11Error(.malformed, "the prefix has no currency after ln") }
        return (currency, try amount(bytes.dropFirst(2 + currency.utf8.count)))
    }

    /// The currency letters at the start of `bytes`. Currencies are letters and amounts start with a
    /// digit, so the split is exact.
    private static func currencyPrefix(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 >= 0x61 && $0 <= 0x7A }, as: UTF8.self)
    }

    /// The amount after the currency (digits, then an optional multiplier), in millisatoshi.
    private static func amount(_ text: ArraySlice<UInt8>) throws(Bolt11Error) -> Int64? {
        var amountText = Array(text)
        if amountText.isEmpty { return nil }
        var multiplier: UInt8?
        if let last = amountText.last, !(last >= 0x30 && last <= 0x39) {
            multiplier = last
            amountText.removeLast()
        }
        guard !amountText.isEmpty, amountText.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw Bolt11Error(.invalidAmount, "the amount is not a decimal number followed by an optional multiplier")
        }
        guard amountText.first != 0x30 else {
            throw Bolt11Error(.invalidAmount, "the amount is zero or has a leading zero")
        }
        // A pico-bitcoin is a tenth of a millisatoshi, which no HTLC can carry: the last digit must
        // be 0, and the digits before it are the millisatoshi (read so, they cannot overflow early).
        if multiplier == UInt8(ascii: "p") {
            guard amountText.last == UInt8(ascii: "0") else {
                throw Bolt11Error(.invalidAmount, "a pico-bitcoin amount must end in 0 (sub-millisatoshi precision)")
            }
            return try decimal(amountText.dropLast())
        }
        let value = try decimal(amountText[...])
        let msatPerUnit: Int64
        switch multiplier {
        case nil: msatPerUnit = 100_000_000_000
        case UInt8(ascii: "m")?: msatPerUnit = 100_000_000
        case UInt8(ascii: "u")?: msatPerUnit = 100_000
        case UInt8(ascii: "n")?: msatPerUnit = 100
        case let other?:
            throw Bolt11Error(.invalidAmount, "'\(Character(Unicode.Scalar(other)))' is not an amount multiplier (m, u, n, p)")
        }
        let (msat, overflow) = value.multipliedReportingOverflow(by: msatPerUnit)
        guard !overflow else { throw Bolt11Error(.invalidAmount, "the amount overflows 64 bits of millisatoshi") }
        return msat
    }

    private static func decimal(_ digits: ArraySlice<UInt8>) throws(Bolt11Error) -> Int64 {
        var value: Int64 = 0
        for digit in digits {
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = shifted.addingReportingOverflow(Int64(digit - 0x30))
            guard !overflowA, !overflowB else { throw Bolt11Error(.invalidAmount, "the amount overflows 64 bits of millisatoshi") }
            value = next
        }
        return value
    }
}

/// Walks the tagged fields, keeping the first usable one of each single-valued type.
struct FieldReader {
    /// Whether a description (`d`) that is not UTF-8 is refused (payers) or only noted (`Bolt11SignedInvoice`).
    var requireUTF8Description = true
    var paymentHash: [UInt8]?
    var paymentSecret: [UInt8]?
    var descriptionText: String?
    /// Whether any `d` field was present, readable or not.
    var sawDescription = false
    var descriptionHash: [UInt8]?
    /// Every usable (52-word) `h` field, in order; `descriptionHash` is the first.
    var descriptionHashes: [[UInt8]] = []
    var expiry: Int64?
    var minFinalCLTVExpiryDelta: Int64?
    var payeeKey: [UInt8]?
    var fallbacks: [Bolt11FallbackAddress] = []
    var routeHints: [Bolt11RouteHint] = []
    var features = Bolt11Features()
    var sawFeatures = false
    var metadata: [UInt8]?

    mutating func read(_ words: ArraySlice<UInt8>) throws(Bolt11Error) {
        var index = words.startIndex
        while index < words.endIndex {
            guard words.endIndex - index >= 3 else {
                throw Bolt11Error(.tooShort, "a tagged field is cut off before its length")
            }
            let type = words[index]
            let length = Int(words[index + 1]) << 5 | Int(words[index + 2])
            let start = index + 3
            guard length <= words.endIndex - start else {
                throw Bolt11Error(.tooShort, "tagged field type \(type) claims \(length) words, past the signature")
            }
            try take(type: type, data: words[start..<(start + length)])
            index = start + length
        }
    }

    private mutating func take(type: UInt8, data: ArraySlice<UInt8>) throws(Bolt11Error) {
        // Fixed-length fields with the wrong length are skipped, as the spec's "fields which must be
        // ignored" vector shows; the first usable one of each kind wins.
        switch Bolt11Tag(rawValue: type) {
        case .paymentHash?:
            if data.count == 52, paymentHash == nil { paymentHash = Bolt11Words.bytes(data) }
        case .paymentSecret?:
            if data.count == 52, paymentSecret == nil { paymentSecret = Bolt11Words.bytes(data) }
        case .descriptionHash?:
            guard data.count == 52 else { return }
            let hash = Bolt11Words.bytes(data)
            descriptionHashes.append(hash)
            if descriptionHash == nil { descriptionHash = hash }
        case .payeeKey?:
            if data.count == 53, payeeKey == nil { payeeKey = Bolt11Words.bytes(data) }
        case .description?:
            guard !sawDescription else { return }
            sawDescription = true
            guard let text = String(validating: Bolt11Words.bytes(data), as: UTF8.self) else {
                guard !requireUTF8Description else { throw Bolt11Error(.invalidField, "the description (d) is not valid UTF-8") }
                return
            }
            descriptionText = text
        case .expiry?:
            if expiry == nil { expiry = try Bolt11Words.minimalInteger(data, field: "expiry (x)") }
        case .minFinalCLTVExpiryDelta?:
            if minFinalCLTVExpiryDelta == nil {
                minFinalCLTVExpiryDelta = try Bolt11Words.minimalInteger(data, field: "min_final_cltv_expiry_delta (c)")
            }
        case .fallbackAddress?:
            guard let version = data.first, Bolt11FallbackAddress.knownVersions.contains(version) else { return }
            fallbacks.append(Bolt11FallbackAddress(version: version, program: Bolt11Words.bytes(data.dropFirst())))
        case .routeHint?:
            let bytes = Bolt11Words.bytes(data)
            // A field that is not a whole number of hops cannot be routed over; skip it like any
            // other field of the wrong length.
            guard !bytes.isEmpty, bytes.count % Bolt11RouteHop.byteCount == 0 else { return }
            routeHints.append(Bolt11RouteHint(hops: stride(from: 0, to: bytes.count, by: Bolt11RouteHop.byteCount).map {
                Bolt11Words.hop(bytes[$0..<($0 + Bolt11RouteHop.byteCount)])
            }))
        case .features?:
            guard !sawFeatures else { return }
            sawFeatures = true
            if data.first == 0 {
                throw Bolt11Error(.invalidField, "the features (9) field starts with a zero word (non-minimal length)")
            }
            var bits = Set<Int>()
            for (position, word) in data.reversed().enumerated() {
                for bit in 0..<5 where (word >> UInt8(bit)) & 1 == 1 { bits.insert(position * 5 + bit) }
            }
            features = Bolt11Features(bits: bits)
        case .metadata?:
            if metadata == nil { metadata = Bolt11Words.bytes(data) }
        case nil:
            return
        }
    }
}

/// The tagged field types, by their 5-bit value (the bech32 character in parentheses).
enum Bolt11Tag: UInt8 {
    case paymentHash = 1  // p
    case routeHint = 3  // r
    case features = 5  // 9
    case expiry = 6  // x
    case fallbackAddress = 9  // f
    case description = 13  // d
    case paymentSecret = 16  // s
    case payeeKey = 19  // n
    case descriptionHash = 23  // h
    case minFinalCLTVExpiryDelta = 24  // c
    case metadata = 27  // m
}

/// Conversions between 5-bit words and the values fields hold.
enum Bolt11Words {
    /// The bytes of a field: 5-bit words regrouped, trailing padding bits (fewer than 8) dropped.
    static func bytes(_ words: ArraySlice<UInt8>) -> [UInt8] { regroup(words, padLastByte: false) }

    /// Bytes with the last partial byte zero-padded (how the signed data is hashed).
    static func paddedBytes(_ words: ArraySlice<UInt8>) -> [UInt8] { regroup(words, padLastByte: true) }

    private static func regroup(_ words: ArraySlice<UInt8>, padLastByte: Bool) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(words.count * 5 / 8 + 1)
        var accumulator: UInt32 = 0, bits: UInt32 = 0
        for word in words {
            accumulator = (accumulator << 5 | UInt32(word & 31)) & 0xFFF
            bits += 5
            if bits >= 8 {
                bits -= 8
                output.append(UInt8((accumulator >> bits) & 0xFF))
            }
        }
        if padLastByte, bits > 0 { output.append(UInt8((accumulator << (8 - bits)) & 0xFF)) }
        return output
    }

    /// A big-endian unsigned integer field (`x`, `c`): at most 12 words (60 bits), no leading zero word.
    static func minimalInteger(_ words: ArraySlice<UInt8>, field: String) throws(Bolt11Error) -> Int64 {
        guard words.first != 0 else {
            throw Bolt11Error(.invalidField, "the \(field) field starts with a zero word (non-minimal length)")
        }
        guard words.count <= 12 else { throw Bolt11Error(.invalidField, "the \(field) field is longer than 60 bits") }
        var value: Int64 = 0
        for word in words { value = value << 5 | Int64(word & 31) }
        return value
    }

    /// One 51-byte route hop.
    static func hop(_ bytes: ArraySlice<UInt8>) -> Bolt11RouteHop {
        func number(_ range: Range<Int>) -> UInt64 {
            bytes[(bytes.startIndex + range.lowerBound)..<(bytes.startIndex + range.upperBound)].reduce(0) { $0 << 8 | UInt64($1) }
        }
        return Bolt11RouteHop(
            nodeKey: Array(bytes.prefix(33)), shortChannelID: number(33..<41),
            feeBaseMsat: UInt32(truncatingIfNeeded: number(41..<45)),
            feeProportionalMillionths: UInt32(truncatingIfNeeded: number(45..<49)),
            cltvExpiryDelta: UInt16(truncatingIfNeeded: number(49..<51))
        )
    }

    /// Bytes as 5-bit words, the last word zero-padded.
    static func words(_ bytes: [UInt8]) -> [UInt8] { Bech32.words(fromBytes: bytes) }

    /// An unsigned integer as the fewest big-endian words (none for zero).
    static func words(of value: UInt64) -> [UInt8] {
        var words: [UInt8] = []
        var rest = value
        while rest > 0 {
            words.insert(UInt8(rest & 31), at: 0)
            rest >>= 5
        }
        return words
    }
}
