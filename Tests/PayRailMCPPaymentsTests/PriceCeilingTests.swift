import Foundation
import PayRail
import PayRailCrypto
import PayRailMCP
import Testing
@testable import PayRailMCPPayments

/// How many times `tools/list` was answered, for a remote whose listing changes between calls.
private final class ListingCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func next() -> Int { lock.withLock { count += 1; return count } }
}

private let fiveSat: JSONValue = .object(["amount": .string("5"), "unit": .string("sat")])

@Suite("MCP paying client: an advertised price is a ceiling for the whole session")
struct PriceCeilingTests {
    /// Calls `search` (10 sat at the gate) and expects a refusal for a price above the advertised one.
    private func expectRefused(_ world: MCPWorld, _ client: PayingMCPClient) async throws {
        do throws(PayingMCPError) {
            _ = try await client.callTool(name: "search", arguments: [:])
            Issue.record("the remote advertised 5 sat: a 10 sat challenge must be refused")
        } catch {
            #expect(error.code == .priceAboveAdvertised, "\(error)")
        }
        #expect(await world.balance("agent") == 1_000)
        #expect(world.tools.count("search") == 0)
    }

    @Test("the same name listed twice, cheap first and unpriced after: the cheap price still holds")
    func duplicateNameKeepsCeiling() async throws {
        let world = try await MCPWorld(advertise: { tools in
            var cheap = tools.first { $0.name == "search" } ?? MCPTool(name: "search")
            cheap.meta["payrail/price"] = fiveSat
            var unpriced = cheap
            unpriced.meta["payrail/price"] = nil
            return [cheap] + tools.filter { $0.name != "search" } + [unpriced]
        })
        let (client, governor) = try world.payingClient()
        _ = try await client.listTools()
        try await expectRefused(world, client)
        #expect(try await governor.ledger().isEmpty)
    }

    @Test("a later tools/list that drops or raises the price does not lift the ceiling the first one set")
    func refreshedListingKeepsCeiling() async throws {
        let listings = ListingCount()
        let world = try await MCPWorld(advertise: { tools in
            let round = listings.next()
            return tools.map { tool in
                var changed = tool
                if tool.name == "search" {
                    changed.meta["payrail/price"] = round == 1 ? fiveSat : (round == 2 ? nil : .object(["amount": .string("50"), "unit": .string("sat")]))
                }
                return changed
            }
        })
        let (client, _) = try world.payingClient()
        _ = try await client.listTools()
        _ = try await client.listTools()
        _ = try await client.listTools()
        try await expectRefused(world, client)
    }
}
