import Foundation
import PayRail
import PayRailCrypto
import PayRailServer

// A tool call is priced by the gate as an HTTP request would be, `POST /mcp/tools/<name>`, so one
// PricingTable, one store and every rail serve both, and a receipt names the tool it paid for
// (`POST /mcp/tools/search`), which is what the paying client checks it against.

/// Where a tool's calls are priced and receipted: `POST /mcp/tools/<percent-encoded name>`.
public enum MCPToolRoute {
    /// The method every tool call is priced under.
    public static let method = "POST"
    /// The path prefix of every tool.
    public static let prefix = "/mcp/tools/"

    /// The priced path of `tool`: every byte but RFC 3986 unreserved ones percent-encoded, so no
    /// tool name can reach another tool's path or a wildcard.
    public static func path(for tool: String) -> String {
        var path = prefix
        for byte in tool.utf8 {
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            path += unreserved ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }
        return path
    }

    /// The tool a path names, or `nil` when it is not a tool path.
    public static func tool(inPath path: String) -> String? {
        guard path.hasPrefix(prefix) else { return nil }
        let encoded = String(path.dropFirst(prefix.count))
        guard !encoded.isEmpty, !encoded.contains("/") else { return nil }
        return encoded.removingPercentEncoding
    }
}

/// One priced tool: its name and what one call costs on each rail.
public struct MCPToolPrice: Hashable, Sendable, CustomStringConvertible {
    /// The tool's name, as `tools/call` names it.
    public let tool: String
    /// What one call costs, per rail.
    public let price: Price

    /// Creates a price.
    public init(tool: String, price: Price) {
        self.tool = tool
        self.price = price
    }

    /// One amount on every rail in `rails`.
    ///
    /// - Throws: `PricingError` when `rails` is empty.
    public init(tool: String, amount: Money, rails: [RailID]) throws(PricingError) {
        let amounts = Dictionary(rails.map { ($0, amount) }, uniquingKeysWith: { first, _ in first })
        do { self.init(tool: tool, price: try Price(amounts)) } catch {
            throw PricingError(rule: "\(tool)=\(amount)", reason: "no rail to price the tool on")
        }
    }

    /// Parses `search=10sat`, `tool:search=10sat` or `search=lightning:10sat,fake:0.05usd` (the amount
    /// grammar of `PricingTable(parsing:rails:)`; an amount without a rail applies to every rail in
    /// `rails`), as `payrail mcp proxy --price` takes it.
    ///
    /// - Throws: `PricingError` naming the rule and what is wrong.
    public init(parsing text: String, rails: [RailID]) throws(PricingError) {
        var rule = Substring(text)
        if rule.hasPrefix("tool:") { rule = rule.dropFirst(5) }
        guard let equals = rule.firstIndex(of: "="), equals != rule.startIndex else {
            throw PricingError(rule: text, reason: "write tool=amount, e.g. search=10sat")
        }
        let tool = String(rule[..<equals])
        let table = try PricingTable(parsing: ["\(MCPToolRoute.method) \(MCPToolRoute.path(for: tool))=\(rule[rule.index(after: equals)...])"],
                                     rails: rails)
        guard let price = table.rules.first?.price else { throw PricingError(rule: text, reason: "no price") }
        self.init(tool: tool, price: price)
    }

    /// The gate's rule for this tool.
    public func rule() throws(PricingError) -> PricingRule {
        try PricingRule(method: MCPToolRoute.method, pathPattern: MCPToolRoute.path(for: tool), price: price)
    }

    /// `tool=rail:amount,…`.
    public var description: String {
        "\(tool)=" + price.rails.compactMap { rail in price.amount(on: rail).map { "\(rail.rawValue):\($0.amount)\($0.unit.code)" } }
            .joined(separator: ",")
    }
}

extension MCPToolPrice {
    /// The gate's pricing table for `prices` (first listed wins for a repeated tool). Tools not
    /// listed are free.
    public static func pricingTable(_ prices: [MCPToolPrice]) throws(PricingError) -> PricingTable {
        var rules: [PricingRule] = []
        for price in prices { rules.append(try price.rule()) }
        return PricingTable(rules: rules)
    }

    /// The `_meta` value `tools/list` shows for `price` (`MCPPaymentMeta.price`).
    public static func metaValue(_ price: Price) -> JSONValue {
        var rails: [String: JSONValue] = [:]
        var amounts = Set<Money>()
        for rail in price.rails {
            guard let amount = price.amount(on: rail) else { continue }
            amounts.insert(amount)
            rails[rail.rawValue] = .object(["amount": .string(String(amount.amount)), "unit": .string(amount.unit.code)])
        }
        var object: [String: JSONValue] = ["rails": .object(rails)]
        if amounts.count == 1, let only = amounts.first {
            object["amount"] = .string(String(only.amount))
            object["unit"] = .string(only.unit.code)
        }
        return .object(object)
    }
}
