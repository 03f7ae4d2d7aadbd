// The value types an invoice is made of: the network its prefix names, a route hint's hops, a
// fallback on-chain address and the feature vector. They are plain data so the decoder, the encoder
// and the CLI can share them without knowing about each other.

/// The Bitcoin network an invoice is payable on, from the currency prefix after `ln`.
public enum Bolt11Network: String, CaseIterable, Hashable, Sendable, Codable {
    /// `lnbc`: Bitcoin mainnet.
    case mainnet
    /// `lntb`: Bitcoin testnet.
    case testnet
    /// `lntbs`: Bitcoin signet.
    case signet
    /// `lnbcrt`: Bitcoin regtest.
    case regtest

    /// The BIP-173 currency prefix written after `ln` (`bc`, `tb`, `tbs`, `bcrt`).
    public var currencyPrefix: String {
        switch self {
        case .mainnet: return "bc"
        case .testnet: return "tb"
        case .signet: return "tbs"
        case .regtest: return "bcrt"
        }
    }

    /// The network for a currency prefix, or `nil` for one this reader does not understand.
    public init?(currencyPrefix: String) {
        guard let network = Self.allCases.first(where: { $0.currencyPrefix == currencyPrefix }) else { return nil }
        self = network
    }

    /// The x402 `lnbtc` network id (CAIP-2 style, the genesis block hash prefix) where one is defined:
    /// mainnet and testnet only; signet and regtest have none.
    public var x402NetworkID: String? {
        switch self {
        case .mainnet: return "lnbtc:000000000019d6689c085ae165831e93"
        case .testnet: return "lnbtc:000000000933ea01ad0ee984209779ba"
        case .signet, .regtest: return nil
        }
    }
}

/// One hop of a private route (`r` field): the channel from `nodeKey` towards the payee, with the
/// fees and delta its owner charges.
public struct Bolt11RouteHop: Hashable, Sendable {
    /// The 33-byte compressed public key of the node at the start of the channel.
    public var nodeKey: [UInt8]
    /// The channel, as BOLT 7's 64-bit short channel id (block height, transaction index, output index).
    public var shortChannelID: UInt64
    /// The fixed fee the hop charges, in millisatoshi.
    public var feeBaseMsat: UInt32
    /// The proportional fee, in millionths of the amount forwarded.
    public var feeProportionalMillionths: UInt32
    /// The CLTV delta the hop requires.
    public var cltvExpiryDelta: UInt16

    /// Creates a hop.
    public init(
        nodeKey: [UInt8], shortChannelID: UInt64, feeBaseMsat: UInt32, feeProportionalMillionths: UInt32,
        cltvExpiryDelta: UInt16
    ) {
        self.nodeKey = nodeKey
        self.shortChannelID = shortChannelID
        self.feeBaseMsat = feeBaseMsat
        self.feeProportionalMillionths = feeProportionalMillionths
        self.cltvExpiryDelta = cltvExpiryDelta
    }

    /// The short channel id as people write it: `block x transaction x output`, e.g. `66051x263430x1800`.
    public var shortChannelIDText: String {
        "\(shortChannelID >> 40)x\((shortChannelID >> 16) & 0xFF_FFFF)x\(shortChannelID & 0xFFFF)"
    }

    /// The serialized size of a hop: 33 + 8 + 4 + 4 + 2 bytes.
    static let byteCount = 51
}

/// One `r` field: an ordered route from a public node to the payee.
public struct Bolt11RouteHint: Hashable, Sendable {
    /// The hops, first (public) node first.
    public var hops: [Bolt11RouteHop]
    /// Creates a route hint.
    public init(hops: [Bolt11RouteHop]) { self.hops = hops }
}

/// An on-chain fallback address (`f` field): a witness version 0...16 and its program, or 17 with a
/// P2PKH key hash, or 18 with a P2SH script hash.
public struct Bolt11FallbackAddress: Hashable, Sendable {
    /// 0...16 (segwit witness version), 17 (P2PKH) or 18 (P2SH).
    public var version: UInt8
    /// The witness program, key hash or script hash.
    public var program: [UInt8]
    /// Creates a fallback address.
    public init(version: UInt8, program: [UInt8]) {
        self.version = version
        self.program = program
    }

    /// The versions a reader understands; the spec tells readers to skip 19...31.
    static let knownVersions: ClosedRange<UInt8> = 0...18
}

/// The invoice's feature vector (`9` field): bit numbers counted from the least significant bit; an
/// even bit means "required", the odd bit above it "supported" (BOLT 9's it's-ok-to-be-odd rule).
public struct Bolt11Features: Hashable, Sendable {
    /// Every bit that is set.
    public var bits: Set<Int>

    /// Creates a vector from the bits that are set (each must be non-negative).
    public init(bits: Set<Int> = []) { self.bits = bits.filter { $0 >= 0 } }

    /// Whether `bit` is set.
    public func contains(_ bit: Int) -> Bool { bits.contains(bit) }

    /// Whether the feature whose even (required) bit is `evenBit` is set as required or as supported.
    public func offers(_ evenBit: Int) -> Bool { bits.contains(evenBit) || bits.contains(evenBit + 1) }

    /// `var_onion_optin` (8/9).
    public static let varOnionOptin = 8
    /// `payment_secret` (14/15).
    public static let paymentSecret = 14
    /// `basic_mpp` (16/17): the payee accepts multi-part payments; needs `payment_secret`.
    public static let basicMPP = 16
    /// `option_route_blinding` (24/25).
    public static let routeBlinding = 24
    /// `option_attribution_data` (36/37).
    public static let attributionData = 36
    /// `option_payment_metadata` (48/49).
    public static let paymentMetadata = 48

    /// The even bits of the BOLT 9 features allowed in invoices (context `9`) that this reader knows;
    /// an invoice requiring any other even bit is refused.
    public static let knownEvenBits: Set<Int> = [
        varOnionOptin, paymentSecret, basicMPP, routeBlinding, attributionData, paymentMetadata,
    ]

    /// The lowest even bit that is set but unknown, or `nil` when the reader can honour every requirement.
    public var firstUnknownRequiredBit: Int? {
        bits.filter { $0 % 2 == 0 && !Self.knownEvenBits.contains($0) }.min()
    }

    /// Each set bit, lowest first, with its BOLT 9 name where known and whether it is required (for display).
    public var names: [String] {
        bits.sorted().map { bit in
            let even = bit - bit % 2
            let name: String
            switch even {
            case Self.varOnionOptin: name = "var_onion_optin"
            case Self.paymentSecret: name = "payment_secret"
            case Self.basicMPP: name = "basic_mpp"
            case Self.routeBlinding: name = "option_route_blinding"
            case Self.attributionData: name = "option_attribution_data"
            case Self.paymentMetadata: name = "option_payment_metadata"
            default: name = "unknown"
            }
            return "\(name)(\(bit), \(bit % 2 == 0 ? "required" : "supported"))"
        }
    }
}
