import Foundation
import PayRail
import PayRailCrypto
import PayRailServer
import PayRailWire
import Testing

// Issue 16 point 8: the discovery document (draft-payment-discovery-01) generated from the pricing
// table, read back with the agent's reader. The served document is validated by
// openapi-spec-validator in PayRailCLITests/DiscoveryTests.

@Suite("OpenAPI discovery document from the pricing table (issue 16, point 8)")
struct OpenAPIDiscoveryTests {
    private let rails: [RailID] = [.lightning, .fake]

    private func table(_ lines: [String]) throws -> PricingTable {
        try PricingTable(parsing: lines, rails: rails)
    }

    private func read(_ pricing: PricingTable) throws -> DiscoveryDocument {
        try PaymentDiscovery.read(OpenAPIDiscovery.serialized(pricing: pricing, rails: rails, title: "shop", version: "1.2.3"))
    }

    @Test("each priced method and path is one operation with offers[] per rail, in the server's rail order, and a 402")
    func operationsAndOffers() throws {
        let document = try read(try table(["GET /premium=lightning:2000msat,fake:0.05usd", "POST /jobs=7sat"]))
        #expect(document.openAPIVersion == "3.1.0" && document.title == "shop" && document.version == "1.2.3")
        #expect(document.operations.map { "\($0.method) \($0.path)" } == ["POST /jobs", "GET /premium"])
        let premium = try #require(document.operations.first { $0.path == "/premium" })
        // 2000 msat is written as 2 sat (what the Payment challenge says); usd in cents, as a string.
        #expect(premium.offers == [
            DiscoveryOffer(intent: "charge", method: "lightning", amount: "2", currency: "sat"),
            DiscoveryOffer(intent: "charge", method: "fake", amount: "5", currency: "usd"),
        ])
        #expect(document.operations.allSatisfy { $0.declares402 })
        #expect(document.serviceInfo == DiscoveryServiceInfo())
    }

    @Test("amounts are JSON strings, never numbers, and the document is the same bytes for the same table")
    func amountsAreStrings() throws {
        let pricing = try table(["GET /premium=123sat"])
        let bytes = OpenAPIDiscovery.serialized(pricing: pricing, rails: rails, title: "shop", version: "1")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""amount":"123""#))
        #expect(!text.contains(#""amount":123"#))
        #expect(bytes == OpenAPIDiscovery.serialized(pricing: pricing, rails: rails, title: "shop", version: "1"))
    }

    @Test("a * becomes a declared path parameter; several are numbered; a run of * is one")
    func wildcards() throws {
        let value = OpenAPIDiscovery.document(
            pricing: try table(["GET /api/*=1sat", "GET /files/*/raw/**=2sat"]), rails: rails, title: "t", version: "1")
        guard case .object(let root) = value, case .object(let paths)? = root["paths"] else {
            Issue.record("no paths object")
            return
        }
        #expect(Set(paths.keys) == ["/api/{path}", "/files/{path1}/raw/{path2}"])
        guard case .object(let item)? = paths["/files/{path1}/raw/{path2}"], case .object(let get)? = item["get"],
              case .array(let parameters)? = get["parameters"] else {
            Issue.record("no parameters on the wildcard operation")
            return
        }
        let names = parameters.compactMap { parameter -> String? in
            guard case .object(let object) = parameter, object["in"] == .string("path"), object["required"] == .bool(true),
                  case .string(let name)? = object["name"] else { return nil }
            return name
        }
        #expect(names == ["path1", "path2"])
    }

    @Test("the first rule for a method and path wins, as in the gate; * expands to OpenAPI's eight methods")
    func firstRuleWinsAndAnyMethod() throws {
        let document = try read(try table(["GET /a=1sat", "GET /a=9sat", "* /a=3sat"]))
        let a = document.operations.filter { $0.path == "/a" }
        #expect(a.count == 8)
        #expect(a.first { $0.method == "GET" }?.offers.first?.amount == "1")
        #expect(a.first { $0.method == "POST" }?.offers.first?.amount == "3")
    }

    @Test("what OpenAPI cannot say is left out: other methods, braces in a pattern, rails the server does not run")
    func leftOut() throws {
        let pricing = try PricingTable(parsing: ["PURGE /cache=1sat", "GET /{id}=1sat", "GET /card=stripe:0.50usd", "GET /ok=1sat"],
                                       rails: rails + [.stripe])
        let document = try read(pricing)
        #expect(document.operations.map(\.path) == ["/ok"])
        #expect(document.operations.first?.offers.map(\.method) == ["lightning", "fake"])
    }

    @Test("x-service-info and servers are written when given")
    func serviceInfo() throws {
        let info = DiscoveryServiceInfo(categories: ["data"], docs: ["apiReference": "https://api.example.com/openapi.json"])
        let bytes = OpenAPIDiscovery.serialized(pricing: try table(["GET /a=1sat"]), rails: rails, title: "t", version: "1",
                                                serviceInfo: info, serverURL: "https://api.example.com")
        let document = try PaymentDiscovery.read(bytes)
        #expect(document.serviceInfo == info)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""servers":[{"url":"https://api.example.com"}]"#))
    }
}
