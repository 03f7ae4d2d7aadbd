// Writing invoices: what a payee (or a test) needs to issue one. The draft lists its tagged fields in
// the order they will be written, so tests can build odd but valid shapes (several route hints,
// fields in any order); `encode` enforces the writer's MUSTs of the spec and signs.

import PayRailCrypto

/// One tagged field of an invoice to write.
public enum Bolt11Field: Hashable, Sendable {
    /// `p`: the 32-byte payment hash.
    case paymentHash([UInt8])
    /// `s`: the 32-byte payment secret.
    case paymentSecret([UInt8])
    /// `d`: an inline description (at most 639 UTF-8 bytes).
    case description(String)
    /// `h`: the 32-byte SHA-256 of the description.
    case descriptionHash([UInt8])
    /// `x`: seconds the invoice stays payable.
    case expiry(Int64)
    /// `c`: the final CLTV delta.
    case minFinalCLTVExpiryDelta(Int64)
    /// `n`: the signing key's node id, so readers verify instead of recovering.
    case payeeKey
    /// `f`: an on-chain fallback.
    case fallbackAddress(Bolt11FallbackAddress)
    /// `r`: a private route (at most 12 hops fit in one field).
    case routeHint(Bolt11RouteHint)
    /// `9`: the feature vector (omitted when empty, as the spec requires).
    case features(Bolt11Features)
    /// `m`: payment metadata (at most 639 bytes).
    case metadata([UInt8])
}

/// An invoice to sign: network, amount, creation time and tagged fields.
public struct Bolt11InvoiceDraft: Hashable, Sendable {
    /// The network it is payable on.
    public var network: Bolt11Network
    /// The amount in millisatoshi (positive), `nil` for "any amount".
    public var amountMsat: Int64?
    /// Creation time, Unix seconds (0 ..< 2^35).
    public var timestamp: Int64
    /// The tagged fields in writing order.
    public var fields: [Bolt11Field]

    /// Creates a draft.
    public init(network: Bolt11Network, amountMsat: Int64?, timestamp: Int64, fields: [Bolt11Field]) {
        self.network = network
        self.amountMsat = amountMsat
        self.timestamp = timestamp
        self.fields = fields
    }

    /// The human-readable part: `ln`, the currency, then the amount with the largest multiplier
    /// that states it exactly (the spec's "shortest representation").
    public func humanReadablePart() throws(Bolt11Error) -> String {
        var hrp = "ln" + network.currencyPrefix
        guard let amountMsat else { return hrp }
        guard amountMsat > 0 else { throw Bolt11Error(.invalidAmount, "an invoice amount must be positive, got \(amountMsat) msat") }
        let units: [(msat: Int64, letter: String)] = [(100_000_000_000, ""), (100_000_000, "m"), (100_000, "u"), (100, "n")]
        if let unit = units.first(where: { amountMsat % $0.msat == 0 }) {
            hrp += "\(amountMsat / unit.msat)\(unit.letter)"
        } else {
            // Tenths of a millisatoshi: append the zero as text, which cannot overflow.
            hrp += "\(amountMsat)0p"
        }
        return hrp
    }

    /// Signs the draft with the payee's node key and returns the invoice in lower case.
    ///
    /// - Throws: `Bolt11Error` when the draft breaks a writer rule (no `p` or `s`, not exactly one
    ///   of `d` and `h`, a wrong-length hash, a field over 1023 words, a negative number, a
    ///   timestamp outside 35 bits); `.invalidSignature` if signing fails.
    public func encode(signingWith key: Secp256k1.PrivateKey) throws(Bolt11Error) -> String {
        let hrp = try humanReadablePart()
        guard timestamp >= 0, timestamp < 1 << 35 else {
            throw Bolt11Error(.invalidField, "the timestamp must fit 35 bits, got \(timestamp)")
        }
        try checkWriterRules()
        var words = Bolt11Words.words(of: UInt64(timestamp))
        words = [UInt8](repeating: 0, count: 7 - words.count) + words
        for field in fields {
            let (tag, data) = try Self.encoded(field, payee: key.publicKey)
            guard let data else { continue }
            guard data.count <= 1023 else {
                throw Bolt11Error(.invalidField, "tagged field \(tag) needs \(data.count) words; at most 1023 fit")
            }
            words += [tag.rawValue, UInt8(data.count >> 5), UInt8(data.count & 31)] + data
        }
        let digest = SHA256.hash(Array(hrp.utf8) + Bolt11Words.paddedBytes(words[...]))
        let signed: (signature: ECDSASignature, recoveryID: Int)
        do { signed = try key.recoverableSignature(forDigest: digest) } catch {
            throw Bolt11Error(.invalidSignature, "signing failed: \(error.reason)")
        }
        words += Bolt11Words.words(signed.signature.rawRepresentation + [UInt8(signed.recoveryID)])
        return Bech32.encode(hrp: hrp, words: words)
    }

    private func checkWriterRules() throws(Bolt11Error) {
        var hashes = 0, secrets = 0, descriptions = 0, descriptionHashes = 0
        for field in fields {
            switch field {
            case .paymentHash: hashes += 1
            case .paymentSecret: secrets += 1
            case .description: descriptions += 1
            case .descriptionHash: descriptionHashes += 1
            default: break
            }
        }
        guard hashes == 1 else { throw Bolt11Error(.missingField, "an invoice needs exactly one payment hash (p), got \(hashes)") }
        guard secrets == 1 else { throw Bolt11Error(.missingField, "an invoice needs exactly one payment secret (s), got \(secrets)") }
        guard descriptions + descriptionHashes == 1 else {
            throw Bolt11Error(.missingField, "an invoice needs exactly one description (d) or description hash (h)")
        }
    }

    private static func encoded(
        _ field: Bolt11Field, payee: Secp256k1.PublicKey
    ) throws(Bolt11Error) -> (Bolt11Tag, [UInt8]?) {
        func hash32(_ bytes: [UInt8], _ name: String) throws(Bolt11Error) -> [UInt8] {
            guard bytes.count == 32 else { throw Bolt11Error(.invalidField, "the \(name) must be 32 bytes, got \(bytes.count)") }
            return Bolt11Words.words(bytes)
        }
        func number(_ value: Int64, _ name: String) throws(Bolt11Error) -> [UInt8] {
            guard value >= 0, value < 1 << 60 else { throw Bolt11Error(.invalidField, "the \(name) must be 0 ..< 2^60, got \(value)") }
            return Bolt11Words.words(of: UInt64(value))
        }
        switch field {
        case .paymentHash(let bytes): return (.paymentHash, try hash32(bytes, "payment hash"))
        case .paymentSecret(let bytes): return (.paymentSecret, try hash32(bytes, "payment secret"))
        case .descriptionHash(let bytes): return (.descriptionHash, try hash32(bytes, "description hash"))
        case .description(let text): return (.description, Bolt11Words.words(Array(text.utf8)))
        case .expiry(let seconds): return (.expiry, try number(seconds, "expiry"))
        case .minFinalCLTVExpiryDelta(let delta): return (.minFinalCLTVExpiryDelta, try number(delta, "min_final_cltv_expiry_delta"))
        case .payeeKey: return (.payeeKey, Bolt11Words.words(payee.compressedRepresentation))
        case .fallbackAddress(let address):
            guard Bolt11FallbackAddress.knownVersions.contains(address.version) else {
                throw Bolt11Error(.invalidField, "a fallback address version is 0...18, got \(address.version)")
            }
            return (.fallbackAddress, [address.version] + Bolt11Words.words(address.program))
        case .routeHint(let hint):
            guard !hint.hops.isEmpty else { throw Bolt11Error(.invalidField, "a route hint needs at least one hop") }
            var bytes: [UInt8] = []
            for hop in hint.hops {
                guard hop.nodeKey.count == 33 else {
                    throw Bolt11Error(.invalidField, "a route hop's node key must be 33 bytes, got \(hop.nodeKey.count)")
                }
                bytes += hop.nodeKey
                bytes += bigEndian(hop.shortChannelID, count: 8)
                bytes += bigEndian(UInt64(hop.feeBaseMsat), count: 4)
                bytes += bigEndian(UInt64(hop.feeProportionalMillionths), count: 4)
                bytes += bigEndian(UInt64(hop.cltvExpiryDelta), count: 2)
            }
            return (.routeHint, Bolt11Words.words(bytes))
        case .features(let features):
            guard let highest = features.bits.max() else { return (.features, nil) }
            var words = [UInt8](repeating: 0, count: highest / 5 + 1)
            for bit in features.bits { words[words.count - 1 - bit / 5] |= UInt8(1 << (bit % 5)) }
            return (.features, words)
        case .metadata(let bytes): return (.metadata, Bolt11Words.words(bytes))
        }
    }

    private static func bigEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(count - 1 - $0))) }
    }
}
