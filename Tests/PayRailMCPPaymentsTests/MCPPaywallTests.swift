import FakeRail
import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing
@testable import PayRailMCPPayments

/// The paywall's side: what an unpaid, paid, replayed, late or rate-limited call of a priced tool
/// gets, with no paying client in between (the calls are written by hand, as a foreign client would).
@Suite("MCP paywall: priced tools behind the gate (issue 19)", .serialized)
struct MCPPaywallTests {
    @Test("an unpaid call of a priced tool is -32042 with Payment challenges and x402's PaymentRequired, and the tool never runs")
    func unpaidCallIsChallenged() async throws {
        let world = try await MCPWorld()
        let outcome = try await world.caller.callTool(name: "search", arguments: ["q": .string("swift")], meta: [:])
        let error = try #require(outcome.error)
        #expect(error.code == -32042)
        #expect(error.message == "Payment Required")
        let data = try #require(error.data)
        #expect(data["httpStatus"] == .number(402))
        // Payment transport (draft-payment-transport-mcp-00, "Challenge Structure").
        let challenges = try #require(data["challenges"]?.elements)
        #expect(challenges.count == 1)
        let challenge = try #require(challenges.first)
        #expect(challenge["id"]?.text?.isEmpty == false)
        #expect(challenge["realm"]?.text == "tools.test")
        #expect(challenge["method"]?.text == "fake")
        #expect(challenge["intent"]?.text == "charge")
        #expect(challenge["expires"]?.text != nil)
        let request = try #require(challenge["request"])
        guard case .object = request else { Issue.record("request must be a JSON object over MCP, not base64url"); return }
        #expect(request["amount"]?.text == "10")
        // x402 (specs/transports-v2/mcp.md): the PaymentRequired object beside them.
        let required = try #require(data["x402/payment-required"])
        #expect(required["x402Version"] == .number(2))
        let accepts = try #require(required["accepts"]?.elements)
        #expect(accepts.count == 1)
        #expect(accepts.first?["amount"]?.text == "10")
        #expect(accepts.first?["scheme"]?.text == "exact")
        #expect(required["resource"]?["url"]?.text?.hasSuffix("/mcp/tools/search") == true)
        #expect(world.tools.count("search") == 0)
    }

    @Test("x402 tool-result binding on request: isError result with PaymentRequired in structuredContent and content[0].text")
    func x402ToolResultBinding() async throws {
        let world = try await MCPWorld(unpaidAnswer: .x402ToolResult)
        let outcome = try await world.caller.callTool(name: "search", arguments: [:], meta: [:])
        let result = try #require(outcome.result)
        #expect(result.isError)
        let structured = try #require(result.structuredContent)
        #expect(structured["x402Version"] == .number(2))
        #expect(structured["accepts"]?.elements?.count == 1)
        let text = try #require(result.content.first?["text"]?.text)
        #expect(try CanonicalJSON.parse(Array(text.utf8)) == structured)
        #expect(result.meta["org.paymentauth/challenges"]?.elements?.count == 1)
        #expect(world.tools.count("search") == 0)
    }

    @Test("free tools and tools/list are never priced; a credential on a free tool is ignored and never reaches the tool")
    func freeToolsAndList() async throws {
        let world = try await MCPWorld()
        let tools = try await world.caller.listTools()
        let search = try #require(tools.first { $0.name == "search" })
        let price = try #require(search.meta["payrail/price"])
        #expect(price["amount"]?.text == "10")
        #expect(price["unit"]?.text == "sat")
        #expect(price["rails"]?["fake"]?["amount"]?.text == "10")
        #expect(price["rails"]?["fake"]?["unit"]?.text == "sat")
        #expect(tools.first { $0.name == "echo" }?.meta["payrail/price"] == nil)

        let free = try await world.caller.callTool(name: "echo", arguments: ["q": .string("hi")],
                                                   meta: ["org.paymentauth/credential": .object([:]), "progressToken": .number(3)])
        #expect(free.firstText == "echo hi meta=progressToken")
        #expect(free.result?.meta.isEmpty == true)
        #expect(world.tools.count("echo") == 1)
    }

    @Test("a paid call (credential in _meta) runs once; replaying the same credential returns the same result with no new settlement")
    func paidThenReplayed() async throws {
        let world = try await MCPWorld()
        let (client, _) = try world.payingClient()
        let paid = try await client.callTool(name: "search", arguments: ["q": .string("swift")])
        #expect(paid.outcome.firstText == "results for swift")
        let credentialMeta = try #require(world.caller.sentMetas.last)
        #expect(credentialMeta["org.paymentauth/credential"] != nil)
        #expect(await world.balance("merchant") == 10)

        let again = try await world.caller.callTool(name: "search", arguments: ["q": .string("swift")], meta: credentialMeta)
        #expect(again == paid.outcome)
        #expect(world.tools.count("search") == 1)
        #expect(await world.balance("merchant") == 10)
        #expect(await world.balance("agent") == 990)

        // The same credential for other arguments buys nothing: it is bound to the call it paid for.
        let other = try await world.caller.callTool(name: "search", arguments: ["q": .string("rust")], meta: credentialMeta)
        #expect(other.error?.code == -32043 || other.error?.code == -32042)
        #expect(world.tools.count("search") == 1)
        // Other _meta members (a progress token, a tracing member) do not make a retry look like
        // another credential: the single-use hash covers the tool, the arguments and the credential only.
        var withProgress = credentialMeta
        withProgress["progressToken"] = .string("p-1")
        withProgress["io.example/trace"] = .string("retry-2")
        let retried = try await world.caller.callTool(name: "search", arguments: ["q": .string("swift")], meta: withProgress)
        #expect(retried == paid.outcome)
        #expect(world.tools.count("search") == 1)
    }

    @Test("100 concurrent calls with one credential: one settlement, one grant, the tool runs once")
    func concurrentPresentations() async throws {
        let world = try await MCPWorld()
        let meta = try await Self.paidCredentialMeta(world, tool: "search", arguments: ["q": .string("x")])
        let caller = world.caller
        let outcomes = await withTaskGroup(of: MCPToolOutcome?.self) { group in
            for _ in 0..<100 {
                group.addTask { try? await caller.callTool(name: "search", arguments: ["q": .string("x")], meta: meta) }
            }
            var collected: [MCPToolOutcome] = []
            for await outcome in group { if let outcome { collected.append(outcome) } }
            return collected
        }
        #expect(outcomes.count == 100)
        #expect(world.tools.count("search") == 1)
        #expect(await world.balance("merchant") == 10)
        #expect(await world.balance("agent") == 990)
        let served = outcomes.filter { $0.firstText == "results for x" }
        #expect(served.count >= 1)
        // The rest were asked to retry (in progress), never charged nor served a second grant.
        for outcome in outcomes where outcome.firstText != "results for x" {
            #expect(outcome.error?.code == -32000)
            #expect(outcome.error?.data?["httpStatus"] == .number(409))
        }
        let receipts = Set(served.compactMap { $0.result?.meta["payrail/receipt"] })
        #expect(receipts.count == 1)
    }

    @Test("an expired challenge is refused with -32043 and a fresh challenge, and nothing is settled")
    func expiredChallenge() async throws {
        let world = try await MCPWorld(presentationGrace: 0)
        let meta = try await Self.paidCredentialMeta(world, tool: "search", arguments: [:])
        world.clock.advance(by: 400)
        let outcome = try await world.caller.callTool(name: "search", arguments: [:], meta: meta)
        let error = try #require(outcome.error)
        #expect(error.code == -32043)
        #expect(error.data?["failure"]?["reason"]?.text == "payment-expired")
        #expect(error.data?["challenges"]?.elements?.isEmpty == false)
        #expect(world.tools.count("search") == 0)
        #expect(await world.balance("merchant") == 0)
    }

    @Test("challenge issuance is rate limited per client: the call past the burst gets -32000 with httpStatus 429 and a retry hint")
    func rateLimitedIssuance() async throws {
        let world = try await MCPWorld(rateLimit: try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(3600)))
        for _ in 0..<2 {
            #expect(try await world.caller.callTool(name: "search", arguments: [:], meta: [:]).error?.code == -32042)
        }
        let limited = try #require(try await world.caller.callTool(name: "search", arguments: [:], meta: [:]).error)
        #expect(limited.code == -32000)
        #expect(limited.data?["httpStatus"] == .number(429))
        #expect(limited.data?["retryAfterSeconds"] != nil)
        #expect(limited.data?["challenges"] == nil)
    }

    @Test("a malformed credential is -32602 Invalid params, with fresh challenges")
    func malformedCredential() async throws {
        let world = try await MCPWorld()
        let outcome = try await world.caller.callTool(name: "search", arguments: [:],
                                                      meta: ["org.paymentauth/credential": .object(["payload": .object([:])])])
        let error = try #require(outcome.error)
        #expect(error.code == -32602)
        #expect(error.data?["httpStatus"] == .number(402))
        #expect(world.tools.count("search") == 0)
    }

    /// Pays the search challenge with the agent's wallet and returns the `_meta` that presents it,
    /// without calling the tool: what a payer holds before its first presentation.
    static func paidCredentialMeta(_ world: MCPWorld, tool: String, arguments: [String: JSONValue]) async throws -> [String: JSONValue] {
        let challenge = try await world.caller.callTool(name: tool, arguments: arguments, meta: [:])
        let answer = MCPAnswerMapping.answer(challenge)
        let reading = PaymentResponseReader.read(status: answer.status, headers: answer.headers, body: [], receivedAt: world.clock.now())
        let offer = try #require(reading.offers.first { $0.dialect == .payment })
        let credential = try await world.payer.pay(offer.offer)
        return try MCPPaymentTransport.meta(presenting: try offer.credentialFields(for: credential))
    }
}

/// x402's `payment-identifier` over MCP: the same payment under its identifier replays, another
/// payment under the same identifier is a conflict the payer cannot retry away.
@Suite("MCP paywall: x402 payment identifiers in _meta (issue 19)", .serialized)
struct MCPPaymentIdentifierTests {
    @Test("a second payment reusing a paid call's x402 payment identifier is refused as a conflict and not granted")
    func identifierReusedByAnotherPayment() async throws {
        let world = try await MCPWorld()
        let (client, _) = try world.payingClient(dialects: [.x402])
        _ = try await client.callTool(name: "search", arguments: ["q": .string("a")], paymentID: "mcp-identifier-0001")
        let first = try #require(world.caller.sentMetas.last?["x402/payment"])
        #expect(first["extensions"]?["payment-identifier"] != nil)

        // Another payment (another challenge, paid again) presented under the same identifier.
        let challenge = try await world.caller.callTool(name: "search", arguments: ["q": .string("a")], meta: [:])
        let answer = MCPAnswerMapping.answer(challenge)
        let reading = PaymentResponseReader.read(status: answer.status, headers: answer.headers, body: [], receivedAt: world.clock.now())
        let offer = try #require(reading.offers.first { $0.dialect == .x402 })
        let credential = try await world.payer.pay(offer.offer)
        let fields = try offer.credentialFields(for: credential, paymentIdentifier: try X402PaymentIdentifier("mcp-identifier-0001"))
        let meta = try MCPPaymentTransport.meta(presenting: fields)
        let outcome = try await world.caller.callTool(name: "search", arguments: ["q": .string("a")], meta: meta)
        #expect(outcome.error?.data?["httpStatus"] == .number(409))
        let kind = MCPPaymentTransport(caller: world.caller).classify(MCPAnswerMapping.answer(outcome), presented: true)
        #expect(kind == .conflict)
        #expect(world.tools.count("search") == 1)
        #expect(await world.balance("merchant") == 10)  // refused before the rail: the second voucher is never redeemed
    }
}
