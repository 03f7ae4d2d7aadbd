import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailMCP
import PayRailServer
import PayRailTestPeers
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
        let payServer = try FakePayEndpoint(processor: world.processor)
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
            "payURL": .string(payServer.url.absoluteString),
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

/// The fake processor's pay call on loopback HTTP, as `payrail serve` hosts it for payers of other
/// languages: `POST /pay {accountID, secret, requestID, amount, payee}` answers `{"voucher": …}`.
struct FakePayEndpoint {
    let http: HTTPServer
    let url: URL

    init(processor: FakeProcessor) throws {
        http = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, diagnostics: { _ in })) { request in
            guard request.method == "POST", case .object(let body)? = try? CanonicalJSON.parse(request.body),
                  case .string(let account)? = body["accountID"], case .string(let secret)? = body["secret"],
                  case .string(let requestID)? = body["requestID"], case .string(let amountText)? = body["amount"],
                  case .string(let payee)? = body["payee"], let amount = try? Money(parsing: amountText) else {
                return HTTPResponse(status: HTTPStatus(code: 400), text: "bad pay request")
            }
            do {
                let voucher = try await processor.pay(requestID: requestID, amount: amount, payee: payee,
                                                      payer: FakeAccountCredentials(accountID: account, secret: secret))
                let answer = (try? CanonicalJSON.serialize(.object(["voucher": .string(voucher)]))) ?? []
                return HTTPResponse(status: .ok, body: answer)
            } catch {
                return HTTPResponse(status: HTTPStatus(code: 402), text: "refused: \(error)")
            }
        }
        let port = try http.start()
        guard let url = URL(string: "http://127.0.0.1:\(port)/pay") else { throw InteropFailure(description: "no URL") }
        self.url = url
    }
}

/// A failure of this suite's own setup.
struct InteropFailure: Error, CustomStringConvertible {
    let description: String
}
