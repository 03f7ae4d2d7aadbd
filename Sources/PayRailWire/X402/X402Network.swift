// x402 networks are CAIP-2 identifiers. PayRail's rails map onto three namespaces:
//   lnbtc:<first 32 hex of the genesis hash>  Lightning (scheme_exact_lnbtc.md), mainnet and testnet only
//   card:<card network>                       cards through a PSP (scheme_auth_capture_card.md, draft)
//   payrail:fake                              the fake rail; our own namespace, of the same shape, so
//                                             that x402-conformance's network regex accepts it.

/// The x402 networks PayRail writes and reads.
public enum X402Network {
    /// Lightning on Bitcoin mainnet (BOLT11 currency `bc`).
    public static let lightningMainnet = "lnbtc:000000000019d6689c085ae165831e93"
    /// Lightning on Bitcoin testnet (BOLT11 currency `tb`).
    public static let lightningTestnet = "lnbtc:000000000933ea01ad0ee984209779ba"
    /// The fake rail. `payrail` is 7 characters, inside the 3-8 the CAIP-2 namespace allows.
    public static let fake = "payrail:fake"
    /// The card networks the auth-capture binding names; one `accepts` entry is written per network.
    public static let cardNetworks = ["visa", "mastercard", "amex"]

    /// `card:<name>` for a card network such as `visa`.
    public static func card(_ cardNetwork: String) -> String { "card:\(cardNetwork)" }

    /// Whether `network` has the CAIP-2 shape x402-conformance checks:
    /// `^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$`.
    public static func isCAIP2(_ network: String) -> Bool {
        let bytes = Array(network.utf8)
        guard let colon = bytes.firstIndex(of: 0x3A) else { return false }
        let namespace = bytes[..<colon], reference = bytes[(colon + 1)...]
        guard (3...8).contains(namespace.count), (1...32).contains(reference.count) else { return false }
        let namespaceOK = namespace.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        let referenceOK = reference.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
        }
        return namespaceOK && referenceOK
    }

    /// The lnbtc network for a PayRail Lightning network name (`mainnet`, `testnet`).
    ///
    /// - Throws: `WireError.unsupported` for `regtest` and `signet`: scheme_exact_lnbtc.md defines
    ///   no network for them, so such an offer is simply not offered in x402.
    public static func lightning(_ name: String) throws(WireError) -> String {
        switch name {
        case "mainnet": return lightningMainnet
        case "testnet": return lightningTestnet
        case "regtest", "signet":
            throw WireError(.unsupported, "x402 lnbtc defines no \(name) network; offer this invoice in another dialect")
        default:
            throw WireError(.unsupported, "unknown Lightning network \"\(name)\" (expected mainnet, testnet, regtest or signet)")
        }
    }

    /// The PayRail Lightning network name (`mainnet`, `testnet`) of an lnbtc network, or `nil`.
    public static func lightningName(_ network: String) -> String? {
        switch network {
        case lightningMainnet: return "mainnet"
        case lightningTestnet: return "testnet"
        default: return nil
        }
    }
}
