import PayRail

/// The agent's wallets: one `PayerRail` per rail it can pay on.
///
/// The negotiator only considers offers on rails registered here, and the paying client pays through
/// the wallet registered for the chosen offer's rail. Any type conforming to `PayerRail` can be
/// registered, so a user's own rail needs no change to PayRail.
public struct WalletRegistry: Sendable {
    private var wallets: [RailID: any PayerRail]
    private var order: [RailID]

    /// Creates a registry holding `wallets`; a later wallet for the same rail replaces an earlier one.
    public init(_ wallets: [any PayerRail] = []) {
        self.wallets = [:]
        self.order = []
        for wallet in wallets { register(wallet) }
    }

    /// Adds `wallet`, replacing any wallet registered for the same rail.
    public mutating func register(_ wallet: any PayerRail) {
        if wallets.updateValue(wallet, forKey: wallet.id) == nil {
            order.append(wallet.id)
        }
    }

    /// The wallet paying on `rail`, or `nil` when the agent has none.
    public func wallet(for rail: RailID) -> (any PayerRail)? { wallets[rail] }

    /// The rails with a wallet, in registration order.
    public var rails: [RailID] { order }

    /// Asks the wallet for `offer`'s rail what paying it would cost; moves no money.
    ///
    /// - Returns: the wallet's decision, or a refusal with code `.unsupported` when no wallet pays on
    ///   the offer's rail.
    public func quote(_ offer: Offer) async -> QuoteDecision {
        guard let wallet = wallets[offer.rail] else {
            return .refused(RailError(.unsupported, "no wallet is registered for rail \(offer.rail)", rail: offer.rail))
        }
        return await wallet.quote(offer)
    }
}
