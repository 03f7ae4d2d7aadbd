import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailMCP
import PayRailServer
import PayRailAgent
import PayRailTestPeers
import PayRailWire
import Testing
@testable import PayRailMCPPayments

/// pympp 0.16.0's MCP support as the judge of the Payment transport, over a real transport: its
/// `McpClient` (with the official MCP SDK's client, Streamable HTTP) pays our paywall served by
/// `MCPStreamableHTTPServer`, with a `fake` method of the test's own paying through a loopback endpoint
/// of the fake processor (pympp ships no such method).
@Suite("MCP payments interop with pympp (issue 19)", .serialized)
struct PymppInteropTests {
    @Test("pympp's McpClient pays a priced tool behind our paywall: -32042 read, credential accepted, receipt parsed")
    func pymppClientPaysPaywall() async throws {
        let world = try await MCPWorld()
        let payServer = try FakeProcessorEndpoint(processor: world.processor, processorKey: world.processorKey.publicKey,
                                                  merchant: world.merchant, clock: world.clock)
        defer { Task { await payServer.http.shutdown(grace: .seconds(1)) } }
        let server = MCPServer(info: MCPImplementation(name: "payrail-paid-tools", version: "1"), provider: world.tools,
                               middleware: [world.paywall], diagnostics: { _ in })
        let endpoint = MCPStreamableHTTPServer(server: server)
        let http = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, diagnostics: { _ in }), handler: endpoint.handler)
        let port = try http.start()
        defer { Task { await http.shutdown(grace: .seconds(1)) } }

        let payer = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-fake-payer-\(UUID().uuidString).json")
        let payerJSON: JSONValue = .object([
            "accountID": .string(world.agent.accountID), "secret": .string(world.agent.secret),
            "payURL": .string(payServer.payURL.absoluteString),
        ])
        try Data(try CanonicalJSON.serialize(payerJSON)).write(to: payer)
        defer { try? FileManager.default.removeItem(at: payer) }

        let report = try await Self.run("pympp_mcp_client.py", ["http://127.0.0.1:\(port)/mcp", payer.path])
        #expect(report["text"]?.text == "results for from pympp")
        #expect(report["isError"] == .bool(false))
        let receipt = try #require(report["receipt"], "pympp found no org.paymentauth/receipt: \(report)")
        #expect(receipt["status"]?.text == "success")
        #expect(receipt["method"]?.text == "fake")
        #expect(receipt["challengeId"]?.text?.isEmpty == false)
        #expect(receipt["reference"]?.text?.isEmpty == false)
        let credentials = try #require(report["credentials"]?.elements)
        #expect(credentials.count == 1)
        #expect(credentials.first?["requestIsObject"] == .bool(true))
        #expect(report["prices"]?["search"]?["amount"]?.text == "10")
        #expect(world.tools.count("search") == 1)
        #expect(await world.balance("merchant") == 10)
        #expect(await world.balance("agent") == 990)
    }

    @Test("our PayingMCPClient pays a pympp MCP server (verify_or_challenge): its -32042 read, our credential verified, its receipt recorded")
    func payingClientPaysPymppServer() async throws {
        let world = try await MCPWorld()
        let processor = try FakeProcessorEndpoint(processor: world.processor, processorKey: world.processorKey.publicKey,
                                                  merchant: world.merchant, clock: world.clock)
        defer { Task { await processor.http.shutdown(grace: .seconds(1)) } }
        let peer = try PythonMCPServerPeer(script: "pympp_mcp_server.py", arguments: [processor.baseURL.absoluteString])
        defer { #expect(throws: Never.self) { try peer.stopChecked() } }
        let mcp = try await peer.connect()
        let (client, governor) = try world.payingClient(caller: mcp)
        let paid = try await client.callTool(name: "search", arguments: ["q": .string("swift")])
        await mcp.close()

        #expect(paid.outcome.firstText == "pympp results for swift", "\(paid.outcome) \(peer.log)")
        let payment = try #require(paid.payment, "nothing was paid: \(peer.log)")
        #expect(payment.amount == (try Money(parsing: "10sat")))
        #expect(payment.dialect == .payment)
        // pympp's receipt (draft-payment-transport-mcp-00, "Receipt Structure"), unsigned: recorded as sent.
        let receipt = try #require(paid.paymentReceipt)
        #expect(receipt["status"]?.text == "success")
        #expect(receipt["method"]?.text == "fake")
        #expect(receipt["challengeId"]?.text?.isEmpty == false)
        #expect(payment.reference == receipt["reference"]?.text)
        #expect(await world.balance("merchant") == 10)
        #expect(await world.balance("agent") == 990)
        #expect(try await governor.ledger().map(\.state) == [.committed])
    }

    /// Runs a peer script of this suite on a thread of its own and reads the JSON object it prints last.
    static func run(_ script: String, _ arguments: [String]) async throws -> JSONValue {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers").appendingPathComponent(script)
        let output: String = try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try PythonPeer.run(url, arguments) }) }.start()
        }
        let line = output.split(separator: "\n").last.map(String.init) ?? ""
        return try CanonicalJSON.parse(Array(line.utf8))
    }
}

/// The fake processor on loopback HTTP, for peers of other languages:
/// - `POST /pay {accountID, secret, requestID, amount, payee}` answers `{"voucher": …}` (a payer);
/// - `POST /request {amount, challengeID}` makes a payment request for `merchant` and answers
///   `{requestID, payee, processorKey}` (a pympp server's challenge);
/// - `POST /redeem {voucher, requestID}` redeems for `merchant` and answers `{paymentID, amount}`.
struct FakeProcessorEndpoint {
    let http: HTTPServer
    let baseURL: URL

    var payURL: URL { baseURL.appendingPathComponent("pay") }

    init(processor: FakeProcessor, processorKey: Ed25519.PublicKey, merchant: FakeAccountCredentials, clock: any PayRailClock) throws {
        http = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, diagnostics: { _ in })) { request in
            guard request.method == "POST", case .object(let body)? = try? CanonicalJSON.parse(request.body) else {
                return HTTPResponse(status: HTTPStatus(code: 400), text: "bad request")
            }
            let answer: JSONValue?
            switch request.path {
            case "/pay": answer = await Self.pay(body, processor: processor)
            case "/request": answer = await Self.makeRequest(body, processor: processor, key: processorKey, merchant: merchant, clock: clock)
            case "/redeem": answer = await Self.redeem(body, processor: processor, merchant: merchant)
            default: answer = nil
            }
            guard let answer, let bytes = try? CanonicalJSON.serialize(answer) else {
                return HTTPResponse(status: HTTPStatus(code: 402), text: "refused")
            }
            return HTTPResponse(status: .ok, body: bytes)
        }
        let port = try http.start()
        guard let url = URL(string: "http://127.0.0.1:\(port)") else { throw InteropFailure(description: "no URL") }
        self.baseURL = url
    }

    static func pay(_ body: [String: JSONValue], processor: FakeProcessor) async -> JSONValue? {
        guard case .string(let account)? = body["accountID"], case .string(let secret)? = body["secret"],
              case .string(let requestID)? = body["requestID"], case .string(let amountText)? = body["amount"],
              case .string(let payee)? = body["payee"], let amount = try? Money(parsing: amountText),
              let voucher = try? await processor.pay(requestID: requestID, amount: amount, payee: payee,
                                                     payer: FakeAccountCredentials(accountID: account, secret: secret))
        else { return nil }
        return .object(["voucher": .string(voucher)])
    }

    static func makeRequest(_ body: [String: JSONValue], processor: FakeProcessor, key: Ed25519.PublicKey, merchant: FakeAccountCredentials,
                            clock: any PayRailClock) async -> JSONValue? {
        guard case .string(let amountText)? = body["amount"], case .string(let challengeID)? = body["challengeID"],
              let amount = try? Money(parsing: amountText),
              let made = try? await processor.createRequest(amount: amount, expiresAt: clock.now().addingTimeInterval(300),
                                                            challengeID: challengeID, payee: merchant)
        else { return nil }
        return .object(["requestID": .string(made.id), "payee": .string(made.payee),
                        "processorKey": .string(Base64URL.encode(key.rawRepresentation))])
    }

    static func redeem(_ body: [String: JSONValue], processor: FakeProcessor, merchant: FakeAccountCredentials) async -> JSONValue? {
        guard case .string(let voucher)? = body["voucher"], case .string(let requestID)? = body["requestID"],
              let redeemed = try? await processor.redeem(voucher: voucher, requestID: requestID, payee: merchant)
        else { return nil }
        return .object(["paymentID": .string(redeemed.paymentID), "amount": .string(String(redeemed.amount.amount))])
    }
}

/// A Python MCP server peer on Streamable HTTP (a free loopback port), stopped by pid.
final class PythonMCPServerPeer: Sendable {
    let url: URL
    let process: Process
    let network: PeerNetworkGuard
    let logURL: URL

    init(script: String, arguments: [String]) throws {
        let port = try LoopbackPort.free()
        guard let url = URL(string: "http://127.0.0.1:\(port)/mcp") else { throw InteropFailure(description: "no URL") }
        self.url = url
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-mcp-pay-peer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        logURL = scratch.appendingPathComponent("server.log")
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers").appendingPathComponent(script).path
        (process, network) = try GuardedPythonServer.launch(
            python: try PythonPeer.interpreter(), arguments: [path, String(port)] + arguments, directory: scratch,
            environment: ProcessInfo.processInfo.environment, logURL: logURL)
    }

    /// Connects a client, retrying while the server starts (at most `within`).
    func connect(within: Duration = .seconds(30)) async throws -> MCPClient {
        let deadline = ContinuousClock.now + within
        while true {
            let client = MCPClient(transport: MCPStreamableHTTPClientTransport(url: url))
            do {
                try await client.connect()
                return client
            } catch {
                await client.close()
                guard ContinuousClock.now < deadline, process.isRunning else {
                    throw InteropFailure(description: "the pympp MCP server did not answer: \(error)\n\(log)")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)).map { String($0.suffix(3000)) } ?? "(no log)" }

    /// Stops the server by pid and throws when it tried to reach beyond loopback.
    func stopChecked() throws {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        defer { network.remove() }
        try network.check(peer: "pympp_mcp_server.py")
    }
}

/// A failure of this suite's own setup.
struct InteropFailure: Error, CustomStringConvertible {
    let description: String
}

/// Our own pair over a real transport: `PayingMCPClient` over `MCPClient` (Streamable HTTP) paying
/// `MCPPaywall` behind `MCPStreamableHTTPServer`, in both transports' dialects.
@Suite("Paid tools over Streamable HTTP, PayRail on both ends (issue 19)", .serialized)
struct PaidToolsOverHTTPTests {
    @Test("Payment and x402 credentials travel in _meta over Streamable HTTP; results, receipts and prices come back")
    func paidOverStreamableHTTP() async throws {
        let world = try await MCPWorld()
        let server = MCPServer(info: MCPImplementation(name: "payrail-paid-tools", version: "1"), provider: world.tools,
                               middleware: [world.paywall], diagnostics: { _ in })
        let endpoint = MCPStreamableHTTPServer(server: server)
        let http = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, diagnostics: { _ in }), handler: endpoint.handler)
        let port = try http.start()
        defer { Task { await http.shutdown(grace: .seconds(1)) } }
        let url = try #require(URL(string: "http://127.0.0.1:\(port)/mcp"))

        for dialects in [[PaymentDialect.payment], [PaymentDialect.x402]] {
            let mcp = MCPClient(transport: MCPStreamableHTTPClientTransport(url: url))
            try await mcp.connect()
            let (client, governor) = try world.payingClient(dialects: dialects, caller: mcp)
            let tools = try await client.listTools()
            #expect(tools.first { $0.name == "search" }?.meta["payrail/price"]?["amount"]?.text == "10")
            let paid = try await client.callTool(name: "search", arguments: ["q": .string(dialects[0].rawValue)])
            await mcp.close()
            #expect(paid.outcome.firstText == "results for \(dialects[0].rawValue)")
            #expect(paid.payment?.dialect == dialects[0])
            if case .verified = paid.payment?.receiptCheck {} else { Issue.record("the receipt must verify: \(String(describing: paid.payment))") }
            #expect(try await governor.ledger().map(\.state) == [.committed])
        }
        #expect(world.tools.count("search") == 2)
        #expect(await world.balance("merchant") == 20)
        #expect(await world.balance("agent") == 980)
    }
}
