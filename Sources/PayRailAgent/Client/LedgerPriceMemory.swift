import Foundation
import PayRail
import PayRailStore

/// A price memory read from the spend ledger: what the agent last paid the same server for the same
/// resource on the same rail, and to whom. It survives restarts with the ledger, so a CLI run remembers
/// what earlier runs paid. `remember` does nothing: committing the spend is what records the price.
public struct LedgerPriceMemory: PriceMemory {
    private let governor: SpendGovernor

    /// Reads prices from `governor`'s ledger.
    public init(governor: SpendGovernor) { self.governor = governor }

    /// The newest committed spend for `host` + `resource` on `rail`, as a remembered price.
    public func lastSeen(host: String, resource: String, rail: RailID) async throws(PriceMemoryError) -> RememberedPrice? {
        let ledger: [SpendRecord]
        do {
            ledger = try await governor.ledger()
        } catch {
            throw PriceMemoryError(reason: "the spend ledger could not be read: \(error)", isRetrySafe: error.isRetrySafe)
        }
        for record in ledger.reversed() where record.state == .committed && record.rail == rail && record.host == host {
            guard let url = URL(string: record.url),
                  NegotiationRequest(url: url, method: record.method, now: record.reservedAt).resourcePath == resource,
                  let context = SpendContext.decode(record.context), let payee = context.payee
            else { continue }
            return RememberedPrice(payee: payee, amount: context.amount, paidAt: record.updatedAt)
        }
        return nil
    }

    /// Nothing to do: the committed spend already is the memory.
    public func remember(_ price: RememberedPrice, host: String, resource: String, rail: RailID) async throws(PriceMemoryError) {}
}
