// Two readers share one parse. A payer needs `Bolt11Invoice.decode`: every rule BOLT 11 sets for
// paying, including a payment secret, exactly one of d/h and no unknown required feature. A party
// that only vets or relays an invoice (the wire codecs: x402 lnbtc, L402, the plain dialect) needs
// less and must see more: it has to accept invoices written before payment secrets, compare the
// currency it is told against the prefix even when that currency is unknown, and tell one `h` field
// from two (x402 lnbtc requires exactly one). `Bolt11SignedInvoice.read` is that reader: bech32, the
// prefix, every tagged field as the payer's reader parses it, and the signature, nothing else.

import PayRailCrypto

/// The signed content of a BOLT 11 invoice, checked for form and signature only.
///
/// Holding one means the string is bech32 with a valid checksum, its prefix is `ln`, a currency and
/// a well-formed amount, it has a usable payment hash (`p`), every field parses as
/// `Bolt11Invoice.decode` parses it, and the signature verifies (against `n` when present, then
/// low-S; otherwise by key recovery). Unlike `Bolt11Invoice`, it does not require a payment secret,
/// exactly one of `d` and `h`, known required features or a known currency: the caller judges those.
public struct Bolt11SignedInvoice: Hashable, Sendable {
    /// The currency prefix after `ln` (`bc`, `tb`, `tbs`, `bcrt`, or any other letters).
    public let currency: String
    /// The network `currency` names, `nil` when this reader does not know it.
    public let network: Bolt11Network?
    /// The amount in millisatoshi, `nil` for an "any amount" invoice.
    public let amountMsat: Int64?
    /// Creation time, Unix seconds (35 bits).
    public let timestamp: Int64
    /// Seconds after `timestamp` the invoice stays payable (`x`, 3600 when absent).
    public let expirySeconds: Int64
    /// The 32-byte payment hash (the first usable `p` field).
    public let paymentHash: [UInt8]
    /// The 32-byte payment secret (`s`), when present.
    public let paymentSecret: [UInt8]?
    /// Every usable 32-byte description hash (`h`), in order: BOLT 11 tells writers to include one,
    /// but a reader that needs exactly one must count them itself.
    public let descriptionHashes: [[UInt8]]
    /// Whether a description (`d`) field is present (valid UTF-8 or not).
    public let hasDescription: Bool
    /// The first description (`d`) when it is valid UTF-8.
    public let descriptionText: String?
    /// The 33-byte compressed key that signed the invoice: the `n` field, or recovered.
    public let payeeKey: [UInt8]
    /// Whether the invoice named its payee in an `n` field.
    public let hasExplicitPayeeKey: Bool

    /// The expiry moment in Unix seconds (cannot overflow: a timestamp is 35 bits, an expiry 60).
    public var expiresAtUnix: Int64 { timestamp + expirySeconds }

    /// Reads and checks an invoice's form and signature. Upper case is accepted (mixed case is not);
    /// a `lightning:` prefix is not (this reads an invoice field, not a URI).
    ///
    /// - Throws: `Bolt11Error`: `.malformed` (not bech32, prefix not `ln` + letters, over
    ///   `Bolt11Invoice.maximumLength`, recovery id above 3), `.badChecksum`, `.invalidAmount`,
    ///   `.tooShort`, `.missingField` (no usable `p`), `.invalidField` (a field `decode` would also
    ///   refuse, such as a non-minimal `x`), `.invalidSignature`. None is transient.
    public static func read(_ text: String) throws(Bolt11Error) -> Bolt11SignedInvoice {
        guard text.utf8.count <= Bolt11Invoice.maximumLength else {
            throw Bolt11Error(.malformed, "longer than \(Bolt11Invoice.maximumLength) characters")
        }
        let raw = try Bolt11RawInvoice(text, payerRules: false)
        let fields = raw.fields
        guard let paymentHash = fields.paymentHash else { throw Bolt11Error(.missingField, "no payment hash (p) field") }
        // A recovery id above 3 is not a signature at all: a malformed string, not a false signature.
        let signer = try raw.signer(badRecoveryID: .malformed)
        return Bolt11SignedInvoice(
            currency: raw.currency, network: raw.network, amountMsat: raw.amountMsat, timestamp: raw.timestamp,
            expirySeconds: fields.expiry ?? Bolt11Invoice.defaultExpirySeconds, paymentHash: paymentHash,
            paymentSecret: fields.paymentSecret, descriptionHashes: fields.descriptionHashes,
            hasDescription: fields.sawDescription, descriptionText: fields.descriptionText, payeeKey: signer.key,
            hasExplicitPayeeKey: fields.payeeKey != nil
        )
    }
}

/// An invoice split into its parts, fields read, signature not yet checked: what both readers share.
struct Bolt11RawInvoice {
    /// The lower-case human-readable part, as signed.
    let hrp: String
    let currency: String
    let network: Bolt11Network?
    let amountMsat: Int64?
    let timestamp: Int64
    let signedWords: [UInt8]
    let signatureBytes: [UInt8]
    let fields: FieldReader

    /// Splits and parses `text` (no `lightning:` prefix, length already checked).
    ///
    /// With `payerRules`, an unknown currency or a prefix not starting with `ln` is `.unknownNetwork`
    /// and a description that is not UTF-8 is refused, as `Bolt11Invoice.decode` always did; without,
    /// the prefix errors are `.malformed`, an unknown currency is kept, and any description is noted.
    init(_ text: String, payerRules: Bool) throws(Bolt11Error) {
        let allWords: [UInt8]
        do {
            (hrp, allWords) = try Bech32.decode(text)
        } catch {
            throw Bolt11Error(error.isChecksumFailure ? .badChecksum : .malformed, error.reason)
        }
        if payerRules {
            let (network, amount) = try Bolt11Invoice.parseHumanReadablePart(hrp)
            (self.network, currency, amountMsat) = (network, network.currencyPrefix, amount)
        } else {
            (currency, amountMsat) = try Bolt11Invoice.splitHumanReadablePart(hrp)
            network = Bolt11Network(currencyPrefix: currency)
        }

        let timestampWords = 7, signatureWords = 104
        guard allWords.count >= timestampWords + signatureWords else {
            throw Bolt11Error(.tooShort, "the data part has \(allWords.count) words, fewer than a timestamp and a signature (111)")
        }
        signedWords = Array(allWords.dropLast(signatureWords))
        signatureBytes = Bolt11Words.paddedBytes(allWords.suffix(signatureWords))
        var reader = FieldReader()
        reader.requireUTF8Description = payerRules
        try reader.read(signedWords[timestampWords...])
        fields = reader
        var time: Int64 = 0
        for word in signedWords.prefix(timestampWords) { time = time << 5 | Int64(word) }
        timestamp = time
    }

    /// Checks the signature and returns the key that made it: the `n` field's key when present (the
    /// signature must verify against it and be low-S), otherwise the key recovered from it.
    ///
    /// - Throws: `badRecoveryID` for a recovery id above 3, `.invalidSignature` otherwise.
    func signer(badRecoveryID: Bolt11Error.Code) throws(Bolt11Error) -> (key: [UInt8], compact: [UInt8], recoveryID: Int) {
        // The signed message: the human-readable part's bytes, then the data words before the
        // signature, zero-padded to a byte boundary.
        let digest = SHA256.hash(Array(hrp.utf8) + Bolt11Words.paddedBytes(signedWords[...]))
        let compact = Array(signatureBytes[0..<64])
        let recoveryID = Int(signatureBytes[64])
        guard recoveryID <= 3 else { throw Bolt11Error(badRecoveryID, "the recovery id is \(recoveryID), not 0...3") }
        if let explicitKey = fields.payeeKey {
            guard let key = try? Secp256k1.PublicKey(serialized: explicitKey) else {
                throw Bolt11Error(.invalidSignature, "the payee (n) field is not a secp256k1 public key")
            }
            guard let signature = try? ECDSASignature(rawRepresentation: compact),
                  key.isValidSignature(signature, forDigest: digest, requireLowS: true)
            else {
                throw Bolt11Error(.invalidSignature, "the signature does not verify against the payee (n) field, or is not low-S")
            }
            return (key.compressedRepresentation, compact, recoveryID)
        }
        guard let key = try? Secp256k1.PublicKey.recover(compactSignature: compact, recoveryID: recoveryID, digest: digest) else {
            throw Bolt11Error(.invalidSignature, "no public key can be recovered from the signature")
        }
        return (key.compressedRepresentation, compact, recoveryID)
    }
}
