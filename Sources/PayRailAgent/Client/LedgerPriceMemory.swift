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
    ///
    /// Reads only that host's committed spends on that rail, newest first, a page at a time, and stops at
    /// the first one for `resource`: a negotiation costs what that host's history holds up to the last
    /// paid price, not what the whole ledger holds.
    public func lastSeen(host: String, resource: String, rail: RailID) async throws(PriceMemoryError) -> RememberedPrice? {
        var offset = 0
        while true {
            let page: [SpendRecord]
            do {
                page = try await governor.committed(host: host, rail: rail, offset: offset, limit: Self.pageSize)
            } catch {
                throw PriceMemoryError(reason: "the spend ledger could not be read: \(error)", isRetrySafe: error.isRetrySafe)
            }
            for record in page {
                guard let url = URL(string: record.url),
                      NegotiationRequest(url: url, method: record.method, now: record.reservedAt).resourcePath == resource,
                      let context = SpendContext.decode(record.context), let payee = context.payee
                else { continue }
                return RememberedPrice(payee: payee, amount: context.amount, paidAt: record.updatedAt)
            }
            guard page.count == Self.pageSize else { return nil }
            offset += page.count
        }
    }

    /// Spends read per query: most lookups end in the first page.
    static let pageSize = 32

    /// Nothing to do: the committed spend already is the memory.
    public func remember(_ price: RememberedPrice, host: String, resource: String, rail: RailID) async throws(PriceMemoryError) {}
}
