import Foundation
import PayRailTestPeers
import Testing

/// `payrail mcp proxy` as a process, serving Streamable HTTP on a loopback port it picks; stopped by PID.
final class MCPProxyProcess: @unchecked Sendable {
    let process = Process()
    let data: URL
    let stderrFile: URL
    private(set) var endpoint = ""

    /// Starts `payrail mcp proxy --listen http://127.0.0.1:0 --data DIR` plus `extra`.
    init(_ extra: [String], data existing: URL? = nil, environment: [String: String] = [:]) throws {
        data = try existing ?? temporaryDirectory().appendingPathComponent("data")
        stderrFile = data.deletingLastPathComponent().appendingPathComponent("proxy-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.executableURL = PayRail.binary
        process.arguments = ["mcp", "proxy", "--listen", "http://127.0.0.1:0", "--data", data.path] + extra
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
        // Stopped by PID even if this test process is killed (a `defer` never runs then).
        try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGTERM)
        for _ in 0..<400 {
            if let range = log.range(of: "serving MCP at ") {
                endpoint = String(log[range.upperBound...].prefix { $0 != "," && $0 != " " && $0 != "\n" })
                return
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw ServeTestFailure("payrail mcp proxy did not start: \(log)")
    }

    /// What the proxy wrote on stderr (its log).
    var log: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL after 10 s.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// The MCP server written with the official Python SDK (`Tests/PayRailMCPTests/Peers/sdk_server.py`)
/// and the SDK client playing a host (`Fixtures/mcp/sdk_host.py`).
enum MCPPeers {
    static let server = PythonPeer.packageRoot.appendingPathComponent("Tests/PayRailMCPTests/Peers/sdk_server.py")
    static let host = PythonPeer.packageRoot.appendingPathComponent("Tests/PayRailCLITests/Fixtures/mcp/sdk_host.py")

    /// `--upstream-command` starting the SDK server on stdio.
    static func upstreamCommand() throws -> String {
        "'\(try PythonPeer.interpreter().path)' '\(server.path)' stdio"
    }

    /// Runs the SDK host against `target` (`["stdio", PROGRAM, ARGS...]` or `["http", URL]`).
    static func host(_ target: [String], calls: [(String, String)] = [], elicit: String = "none") throws -> [String: Any] {
        var arguments = ["--elicit", elicit]
        for (tool, json) in calls { arguments += ["--call", "\(tool)=\(json)"] }
        let output = try PythonPeer.run(host, arguments + target)
        let last = output.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw ServeTestFailure("sdk_host.py printed no JSON object: \(output.prefix(500))")
        }
        return object
    }

    /// The `calls` entries of a host run.
    static func calls(_ outcome: [String: Any]) -> [[String: Any]] { outcome["calls"] as? [[String: Any]] ?? [] }
}

/// The JSON object `payrail ... --json` printed last.
private func lastJSON(_ result: PayRail.Result) throws -> [String: Any] {
    let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
    guard let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
        throw ServeTestFailure("no JSON on stdout: \(result.stdout.prefix(300)) \(result.stderr.prefix(500))")
    }
    return object
}

@Suite("payrail mcp: proxy, bridge, tools and call against the official Python MCP SDK (live, loopback)", .serialized)
struct MCPCommandTests {
    @Test("the SDK's client on the stdio proxy: prices in tools/list, -32042 with every dialect for a priced tool, free tools served")
    func sdkClientOnStdioProxy() throws {
        let data = try temporaryDirectory().appendingPathComponent("data")
        let outcome = try MCPPeers.host(
            ["stdio", PayRail.binary.path, "mcp", "proxy", "--price", "tool:echo=10sat", "--upstream-command", try MCPPeers.upstreamCommand(),
             "--data", data.path],
            calls: [("echo", #"{"text":"unpaid"}"#), ("slow", #"{"steps":2}"#)])
        let tools = outcome["tools"] as? [[String: Any]] ?? []
        #expect(Set(tools.compactMap { $0["name"] as? String }) == ["echo", "slow", "ask"])
        let echo = try #require(tools.first { $0["name"] as? String == "echo" })
        let price = try #require(echo["price"] as? [String: Any])
        #expect(price["amount"] as? String == "10" && price["unit"] as? String == "sat")
        #expect(tools.first { $0["name"] as? String == "slow" }?["price"] is NSNull)

        let calls = MCPPeers.calls(outcome)
        let unpaid = try #require(calls.first?["error"] as? [String: Any], "\(calls)")
        #expect(unpaid["code"] as? Int == -32042)
        let errorData = try #require(unpaid["data"] as? [String: Any])
        let challenges = try #require(errorData["challenges"] as? [[String: Any]])
        #expect(challenges.count == 1)
        #expect(challenges.first?["method"] as? String == "fake" && challenges.first?["intent"] as? String == "charge")
        let request = try #require(challenges.first?["request"] as? [String: Any], "the request is plain JSON, not base64")
        #expect(request["amount"] as? String == "10" && request["currency"] as? String == "sat")
        let x402 = try #require(errorData["x402/payment-required"] as? [String: Any])
        #expect((x402["accepts"] as? [[String: Any]])?.first?["amount"] as? String == "10")
        #expect(calls.last?["text"] as? String == "done after 2 steps" && calls.last?["isError"] as? Bool == false)
    }

    @Test("payrail mcp tools and call through the stdio proxy: paid once, replayed by payment id for free, refused by the budget")
    func callThroughStdioProxy() throws {
        let scratch = try temporaryDirectory()
        let data = scratch.appendingPathComponent("data")
        let wallet = scratch.appendingPathComponent("wallet.sqlite").path
        let proxy = "'\(PayRail.binary.path)' mcp proxy --price tool:echo=10sat --upstream-command \"\(try MCPPeers.upstreamCommand())\" "
            + "--data '\(data.path)'"
        let listed = try PayRail.run(["mcp", "tools", "--command", proxy])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("echo\t10 sat\t") && listed.stdout.contains("slow\tfree\t"), "\(listed.stdout)")

        let payer = data.appendingPathComponent("fake-payer.json").path
        let budget = ["--fake-payer", payer, "--wallet", wallet, "--max", "10sat", "--budget-hour", "15sat", "--json"]
        let first = try PayRail.run(["mcp", "call", "--command", proxy, "echo", "--args", #"{"text":"paid for"}"#,
                                     "--payment-id", "mcp-call-test-0001"] + budget)
        #expect(first.status == 0, "\(first.stderr)")
        let paid = try lastJSON(first)
        #expect(paid["paid"] as? Bool == true)
        let payment = try #require(paid["payment"] as? [String: Any])
        #expect(payment["amount"] as? String == "10sat" && payment["rail"] as? String == "fake")
        #expect((payment["receipt"] as? String)?.isEmpty == false)
        let content = (paid["result"] as? [String: Any])?["content"] as? [[String: Any]]
        #expect(content?.first?["text"] as? String == "paid for")

        // The same payment id after a "lost" answer: the same proof is presented, nothing paid again.
        let again = try PayRail.run(["mcp", "call", "--command", proxy, "echo", "--args", #"{"text":"paid for"}"#,
                                     "--payment-id", "mcp-call-test-0001"] + budget)
        #expect(again.status == 0, "\(again.stderr)")
        // A second purchase would pass 15 sat in the hour: refused before paying.
        let refused = try PayRail.run(["mcp", "call", "--command", proxy, "echo", "--args", #"{"text":"one more"}"#] + budget)
        #expect(refused.status == 1, "\(refused.stdout) \(refused.stderr)")
        let refusal = try lastJSON(refused)
        #expect((refusal["error"] as? [String: Any])?["retrySafe"] is Bool)

        let ledger = try PayRail.run(["ledger", "--wallet", wallet, "--json"])
        let spends = (try lastJSON(ledger)["spends"] as? [[String: Any]]) ?? []
        #expect(spends.count == 1, "\(ledger.stdout)")
        #expect(spends.first?["state"] as? String == "committed")
    }

    @Test("the upstream MCP server dies mid-call after the payment: the caller gets the result once the upstream is back, paid once")
    func upstreamCrashAfterPayment() throws {
        let scratch = try temporaryDirectory()
        let data = scratch.appendingPathComponent("data")
        let marker = scratch.appendingPathComponent("crashed.marker")
        let fragile = PythonPeer.packageRoot.appendingPathComponent("Tests/PayRailCLITests/Fixtures/mcp/fragile_server.py")
        let upstream = "'\(try PythonPeer.interpreter().path)' '\(fragile.path)' '\(marker.path)'"
        let proxy = "'\(PayRail.binary.path)' mcp proxy --price tool:fragile=10sat --upstream-command \"\(upstream)\" --data '\(data.path)'"
        let wallet = scratch.appendingPathComponent("wallet.sqlite").path
        let call = try PayRail.run(["mcp", "call", "--command", proxy, "fragile", "--args", #"{"text":"hello"}"#,
                                    "--fake-payer", data.appendingPathComponent("fake-payer.json").path, "--wallet", wallet,
                                    "--max", "10sat", "--json"])
        #expect(FileManager.default.fileExists(atPath: marker.path), "the upstream crashed mid-call")
        #expect(call.status == 0, "\(call.stdout) \(call.stderr)")
        let answer = try lastJSON(call)
        let content = (answer["result"] as? [String: Any])?["content"] as? [[String: Any]]
        #expect(content?.first?["text"] as? String == "survived: hello", "\(answer)")
        #expect((answer["payment"] as? [String: Any])?["amount"] as? String == "10sat")

        // A priced call's credential (in _meta) never reaches the upstream; only what the caller meant for it.
        let seen = try PayRail.run(["mcp", "call", "--command", proxy.replacingOccurrences(of: "tool:fragile", with: "tool:meta_seen"),
                                    "meta_seen", "--fake-payer", data.appendingPathComponent("fake-payer.json").path,
                                    "--wallet", wallet, "--max", "10sat", "--json"])
        #expect(seen.status == 0, "\(seen.stderr)")
        let seenAnswer = try lastJSON(seen)
        #expect((seenAnswer["payment"] as? [String: Any])?["amount"] as? String == "10sat")
        let names = ((seenAnswer["result"] as? [String: Any])?["content"] as? [[String: Any]])?.first?["text"] as? String
        #expect(names == "[]", "the upstream saw these _meta members: \(names ?? "nothing")")

        let ledger = try PayRail.run(["ledger", "--wallet", wallet, "--json"])
        let spends = (try lastJSON(ledger)["spends"] as? [[String: Any]]) ?? []
        #expect(spends.count == 2 && spends.allSatisfy { $0["state"] as? String == "committed" }, "paid once each: \(ledger.stdout)")
    }

    @Test("the SDK's client as a host drives payrail mcp bridge to an HTTP proxy over an HTTP upstream: approval asked, paid once")
    func bridgeDrivenBySDKHost() async throws {
        let port = try await freePort()
        let upstream = Process()
        upstream.executableURL = try PythonPeer.interpreter()
        upstream.arguments = [MCPPeers.server.path, "http", String(port)]
        let guardFile = try PeerNetworkGuard.prepare()
        defer { guardFile.remove() }
        upstream.environment = guardFile.environment(ProcessInfo.processInfo.environment)
        upstream.standardOutput = FileHandle.nullDevice
        upstream.standardError = FileHandle.nullDevice
        try upstream.run()
        defer { if upstream.isRunning { kill(upstream.processIdentifier, SIGKILL); upstream.waitUntilExit() } }
        try PeerWatchdog.watch(pid: upstream.processIdentifier, signal: SIGKILL)
        try waitForPort(port)

        let proxy = try MCPProxyProcess(["--price", "tool:echo=10sat", "--upstream-url", "http://127.0.0.1:\(port)/mcp"])
        defer { proxy.stop() }
        let scratch = try temporaryDirectory()
        let bridge = ["stdio", PayRail.binary.path, "mcp", "bridge", "--remote", proxy.endpoint,
                      "--fake-payer", proxy.data.appendingPathComponent("fake-payer.json").path,
                      "--wallet", scratch.appendingPathComponent("wallet.sqlite").path, "--max", "50sat", "--approve-above", "5sat"]

        let declined = try MCPPeers.host(bridge, calls: [("echo", #"{"text":"no"}"#)], elicit: "decline")
        #expect((declined["elicitations"] as? [String])?.count == 1)
        let refusal = try #require(MCPPeers.calls(declined).first)
        #expect(refusal["isError"] as? Bool == true && (refusal["text"] as? String)?.contains("declined") == true, "\(refusal)")

        let unasked = try MCPPeers.host(bridge, calls: [("echo", #"{"text":"no host to ask"}"#)], elicit: "none")
        #expect(MCPPeers.calls(unasked).first?["isError"] as? Bool == true)

        let approved = try MCPPeers.host(bridge, calls: [("echo", #"{"text":"approved"}"#), ("slow", #"{"steps":1}"#)], elicit: "accept")
        let tools = approved["tools"] as? [[String: Any]] ?? []
        #expect((tools.first { $0["name"] as? String == "echo" }?["price"] as? [String: Any])?["amount"] as? String == "10")
        let calls = MCPPeers.calls(approved)
        #expect(calls.first?["text"] as? String == "approved" && calls.first?["isError"] as? Bool == false, "\(calls)")
        // The receipt stays in the wallet's ledger: the host never sees a bearer token of the payment.
        let hostMeta = calls.first?["meta"] as? [String] ?? []
        #expect(!hostMeta.contains { $0.hasPrefix("org.paymentauth/") || $0.hasPrefix("x402/") || $0 == "payrail/receipt" }, "\(hostMeta)")
        #expect(calls.last?["text"] as? String == "done after 1 steps")
        #expect((approved["elicitations"] as? [String])?.count == 1, "the free tool asks nothing")

        let ledger = try PayRail.run(["ledger", "--wallet", scratch.appendingPathComponent("wallet.sqlite").path, "--json"])
        let spends = (try lastJSON(ledger)["spends"] as? [[String: Any]]) ?? []
        #expect(spends.count == 1 && spends.first?["state"] as? String == "committed", "\(ledger.stdout)")
        try guardFile.check(peer: "sdk_server.py")
    }
}

/// Waits until something accepts connections on the loopback `port` (an SDK server starting).
private func waitForPort(_ port: UInt16, seconds: Double = 30) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(socket)
        if connected == 0 { return }
        Thread.sleep(forTimeInterval: 0.1)
    }
    throw ServeTestFailure("nothing listened on 127.0.0.1:\(port) within \(seconds) s")
}
