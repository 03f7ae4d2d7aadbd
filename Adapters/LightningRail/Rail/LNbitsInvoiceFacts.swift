import PayRailCrypto
import Bolt11
import Foundation

// LNbits 1.6.2 pays an expired invoice of its own instance without complaint (an internal payment
// only looks for a pending incoming row), and it does not bind the invoice it returns to the request
// it was given. So the backend reads the few BOLT11 fields it needs to check both itself, rather than
// trust the server: the timestamp, the expiry (`x`), the payment hash (`p`) and the description hash
// (`h`). The signature is not checked here: the rail's full BOLT11 decoder does that before paying.

/// The fields of a BOLT11 invoice the LNbits backend checks on its own.
struct LNbitsInvoiceFacts: Hashable, Sendable {
    /// Seconds since 1970 when the invoice was made.
    let timestamp: Int64
    /// Seconds after `timestamp` when it expires (3600 when the invoice has no `x` field).
    let expirySeconds: Int64
    /// The payment hash, 64 lower-case hex characters.
    let paymentHash: String
    /// The `h` field, when present.
    let descriptionHash: [UInt8]?

    /// When the invoice stops being payable.
    var expiresAt: Date { Date(timeIntervalSince1970: TimeInterval(timestamp) + TimeInterval(expirySeconds)) }

    /// The 104 five-bit words of the recoverable signature that end every invoice.
    private static let signatureWords = 104

    /// Reads `bolt11`, or returns `nil` when it is not a BOLT11 invoice with a payment hash.
    init?(bolt11: String) {
        guard let (hrp, words) = try? Bech32.decode(bolt11), hrp.hasPrefix("ln"),
              words.count >= 7 + Self.signatureWords else { return nil }
        let data = words.dropLast(Self.signatureWords)
        var index = data.startIndex
        timestamp = Self.integer(data[index..<(index + 7)])
        index += 7
        var expiry: Int64 = 3600, hash: [UInt8]?, description: [UInt8]?
        while index + 3 <= data.endIndex {
            let type = data[index]
            let length = Int(data[index + 1]) * 32 + Int(data[index + 2])
            index += 3
            guard index + length <= data.endIndex else { return nil }
            let field = data[index..<(index + length)]
            index += length
            switch (type, length) {
            // BOLT 11: a `p` or `h` field of the wrong length is skipped, not used.
            case (1, 52) where hash == nil: hash = Bech32.bytes(fromWords: Array(field)).map { Array($0.prefix(32)) }
            case (23, 52) where description == nil: description = Bech32.bytes(fromWords: Array(field)).map { Array($0.prefix(32)) }
            case (6, 1...7): expiry = Self.integer(field)
            default: break
            }
        }
        guard let hash, hash.count == 32 else { return nil }
        expirySeconds = expiry
        paymentHash = LNbitsHex.encode(hash)
        descriptionHash = description
    }

    private static func integer(_ words: ArraySlice<UInt8>) -> Int64 {
        words.reduce(Int64(0)) { ($0 << 5) | Int64($1) }
    }
}

/// Lower-case hex, the form LNbits uses for hashes and preimages.
enum LNbitsHex {
    /// Lower-case hex of `bytes`.
    static func encode(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// The bytes of a hex string (either case), or `nil` when it is not hex of whole bytes.
    static func decode(_ text: String) -> [UInt8]? { Hex.decode(text) }

    /// Whether `text` is a 32-byte hash in hex.
    static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && decode(text) != nil
    }
}
