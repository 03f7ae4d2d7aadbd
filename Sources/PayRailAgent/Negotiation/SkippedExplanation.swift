import PayRail
import PayRailWire

/// The lines `payrail fetch --explain` adds for what the reader skipped: the negotiation sees only the
/// offers that were read, but an owner asking "why did nothing get paid" needs the rest too.
public enum SkippedExplanation {
    /// One line per skipped challenge: `<dialect> [<method>/<intent>]: skipped: <reason>`.
    ///
    /// A Payment `charge` challenge whose method no wallet pays is explained by that fact ("no wallet for
    /// method tempo"): the reader's own complaint (often about a currency it cannot price, such as a
    /// token address) is true but beside the point when the agent could not pay the method anyway.
    ///
    /// - Parameter walletRails: the rails the agent has a wallet for.
    public static func lines(_ skipped: [SkippedChallenge], walletRails: Set<RailID>) -> [String] {
        let names = Set(walletRails.map(\.rawValue))
        return skipped.map { item in
            let named = [item.method, item.intent].compactMap { $0 }.joined(separator: "/")
            let head = (item.dialect?.rawValue ?? "response") + (named.isEmpty ? "" : " " + named)
            // An unknown intent is named first, as the reader checks it first; then a method no wallet pays.
            if item.dialect == .payment, let method = item.method, !names.contains(method), item.intent == nil || item.intent == "charge" {
                return "\(head): skipped: no wallet for method \(method)"
            }
            return "\(head): skipped: \(item.reason)"
        }
    }
}
