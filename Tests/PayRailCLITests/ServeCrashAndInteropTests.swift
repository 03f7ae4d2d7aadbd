import Foundation
import PayRailTestPeers
import PayRail
import PayRailHTTP
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `payrail serve` child on a fixed port, so a restart after SIGKILL answers at the same origin
/// (`ServeProcess` always asks for a kernel-chosen port).
private final class FixedPortServe: @unchecked Sendable {
    let process = Process()
    let stdoutFile: URL
    let origin: String

    init(port: UInt16, data: URL, extra: [String] = []) throws {
        stdoutFile = data.deletingLastPathComponent().appendingPathComponent("stdout-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        process.executableURL = PayRail.binary
        process.arguments = ["serve", "--port", String(port), "--data", data.path] + extra
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = FileHandle.standardError
        origin = "http://127.0.0.1:\(port)"
        try process.run()
        // Stopped by PID even if this test process is killed (a `defer` never runs then).
        try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGTERM)
        for _ in 0..<200 {
            if log.contains("listening on \(origin)") { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill()
        throw ServeTestFailure("payrail serve did not start on port \(port): \(log)")
    }

    var log: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }

    func url(_ path: String) -> URL { URL(string: origin + path) ?? URL(fileURLWithPath: "/") }

    /// SIGKILL by PID: no graceful shutdown, no store close, as a crash would leave things.
    func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// The package root, three levels above this file (Tests/PayRailCLITests/<file>).
private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs a tool to completion and returns its status and output; stdin is closed.
private func runTool(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read before waiting so a large output cannot fill the pipe and block the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// Pays a plain-dialect `payment` object through the fake processor's pay endpoint with curl; returns the voucher.
private func curlPay(_ curl: URL, payer: DemoPayer, payment: [String: Any]) throws -> String {
    let id = try #require(payment["id"] as? String)
    let amount = try #require(payment["amount"] as? String)
    let unit = try #require(payment["unit"] as? String)
    let payee = try #require(payment["payee"] as? String)
    let request: [String: String] = [
        "accountID": payer.accountID, "secret": payer.secret, "requestID": id, "amount": amount + unit, "payee": payee,
    ]
    let body = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let paid = try runTool(curl, ["-sS", "-X", "POST", "-H", "Content-Type: application/json", "--data", body,
                                  "-w", "\n%{http_code}", payer.payURL.absoluteString])
    #expect(paid.status == 0, "curl pay: \(paid.stderr)")
    let (json, code) = splitStatus(paid.stdout)
    #expect(code == 200, "pay: \(json)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    return try #require(object["voucher"] as? String)
}

/// Splits curl's `-w "\n%{http_code}"` tail from the body.
private func splitStatus(_ output: String) -> (body: String, status: Int) {
    guard let newline = output.lastIndex(of: "\n") else { return (output, 0) }
    return (String(output[..<newline]), Int(output[output.index(after: newline)...]) ?? 0)
}

/// Asks the kernel for a free loopback port, then releases it for the server to take.
func freePort() async throws -> UInt16 {
    let probe = HTTPServer(configuration: HTTPServerConfiguration(port: 0), handler: { _ in HTTPResponse(status: .ok) })
    let port = try probe.start()
    await probe.shutdown()
    return port
}

@Suite("payrail serve: crash, curl and x402 SDK interop (live, loopback)", .serialized)
struct ServeCrashAndInteropTests {
    @Test("SIGKILL right after a paid response: after a restart the receipt replays and the credential is not paid twice")
    func crashAfterSettlement() async throws {
        let data = try temporaryDirectory().appendingPathComponent("data")
        let port = try await freePort()
        let first = try FixedPortServe(port: port, data: data)
        defer { first.kill() }

        let unpaid = try await exchange(first.url("/premium"))
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .payment })
        let credential = try await DemoPayer(dataDirectory: data).pay(read.offer)
        let credentialFields = try read.credentialFields(for: credential)
        let paid = try await exchange(first.url("/premium"), headers: credentialFields)
        #expect(paid.status == 200, "\(paid.text)")
        let token = try #require(paid.headers["X-Receipt"])
        // Killed at once: nothing after the response gets a chance to run.
        first.kill()
        #expect(first.process.terminationReason == .uncaughtSignal)

        let second = try FixedPortServe(port: port, data: data)
        defer { second.kill() }
        let replayed = try await exchange(second.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replayed.status == 200, "\(replayed.text)")
        #expect(replayed.body == paid.body)

        // The same payment credential again: refused or replayed, never granted or settled a second time.
        let again = try await exchange(second.url("/premium"), headers: credentialFields)
        #expect(again.status != 500)
        if again.status == 200 {
            #expect(again.body == paid.body, "a 200 for a spent credential can only be the replayed response")
        } else {
            #expect([402, 403, 409].contains(again.status), "\(again.status) \(again.text)")
        }
        let metrics = try await exchange(second.url("/metrics")).text
        #expect((metric(metrics, "payrail_settlements_total{rail=\"fake\"}") ?? 0) == 0, "no settlement after the restart")
        #expect((metric(metrics, "payrail_grants_total") ?? 0) == 0, "no grant after the restart")
        #expect((metric(metrics, "payrail_replays_total") ?? 0) >= 1)
        second.kill()
    }

    @Test("curl, as in the founding article: GET 402, read `payment`, pay, retry with X-Receipt, get 200")
    func curlFollowsTheArticle() async throws {
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        try #require(FileManager.default.isExecutableFile(atPath: curl.path),
                     "curl is missing at /usr/bin/curl: run scripts/test (scripts/lib.sh installs it) or apt-get install curl")
        let server = try ServeProcess([])
        defer { server.kill() }
        let payer = try DemoPayer(dataDirectory: server.data)

        let challenge = try runTool(curl, ["-sS", "-w", "\n%{http_code}", server.url("/premium").absoluteString])
        #expect(challenge.status == 0, "curl: \(challenge.stderr)")
        let (challengeBody, challengeStatus) = splitStatus(challenge.stdout)
        #expect(challengeStatus == 402)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(challengeBody.utf8)) as? [String: Any])
        let payment = try #require(object["payment"] as? [String: Any], "the 402 body carries `payment`: \(challengeBody)")
        #expect(payment["network"] as? String == "fake")

        let voucher = try curlPay(curl, payer: payer, payment: payment)
        let paid = try runTool(curl, ["-sS", "-D", "-", "-H", "X-Receipt: \(voucher)", "-w", "\n%{http_code}",
                                      server.url("/premium").absoluteString])
        #expect(paid.status == 0, "curl: \(paid.stderr)")
        let (paidText, paidStatus) = splitStatus(paid.stdout)
        #expect(paidStatus == 200, "\(paidText)")
        let paidBody = try #require(paidText.range(of: "\r\n\r\n").map { String(paidText[$0.upperBound...]) })
        let resource = try #require(try JSONSerialization.jsonObject(with: Data(paidBody.utf8)) as? [String: Any])
        #expect(resource["resource"] as? String == "GET /premium")
        let receiptLine = paidText.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-receipt:") }
        let token = try #require(receiptLine.map { $0.dropFirst("x-receipt:".count).trimmingCharacters(in: .whitespaces) })
        #expect(token.split(separator: ".").count == 3, "the receipt token is a compact JWS")

        // The receipt replays with curl too, without a second settlement.
        let replay = try runTool(curl, ["-sS", "-H", "X-Receipt: \(token)", "-w", "\n%{http_code}", server.url("/premium").absoluteString])
        #expect(splitStatus(replay.stdout).status == 200)
        let metrics = try await exchange(server.url("/metrics")).text
        #expect(metric(metrics, "payrail_settlements_total{rail=\"fake\"}") == 1)
        #expect(server.stop() == 0)
    }

    @Test("the PyPI x402 SDK fetches /premium with urllib and parses the live 402's PAYMENT-REQUIRED")
    func x402SDKParsesLiveChallenge() async throws {
        let python = packageRoot.appendingPathComponent(".build/peers/venv/bin/python")
        try #require(FileManager.default.isExecutableFile(atPath: python.path),
                     "the Python peers venv is missing at \(python.path): run scripts/test (it builds the pinned venv)")
        let server = try ServeProcess([])
        defer { server.kill() }

        let script = """
        import json, sys, urllib.error, urllib.request
        from x402.http import decode_payment_required_header
        from x402.schemas import parse_payment_required
        import base64
        try:
            urllib.request.urlopen(sys.argv[1])
            raise SystemExit("expected a 402")
        except urllib.error.HTTPError as error:
            status = error.code
            value = error.headers.get("PAYMENT-REQUIRED")
        if value is None:
            raise SystemExit("no PAYMENT-REQUIRED header")
        model = decode_payment_required_header(value)
        parsed = parse_payment_required(base64.b64decode(value, validate=True))
        print(json.dumps({
            "status": status,
            "type": type(model).__name__,
            "version": model.x402_version,
            "resource": model.resource.url if model.resource else None,
            "accepts": [{"scheme": a.scheme, "network": a.network, "amount": a.amount, "payTo": a.pay_to}
                        for a in parsed.accepts],
        }))
        """
        let file = try temporaryDirectory().appendingPathComponent("x402_live_peer.py")
        try Data(script.utf8).write(to: file)
        let result = try runTool(python, [file.path, server.url("/premium").absoluteString])
        #expect(result.status == 0, "python peer: \(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(report["status"] as? Int == 402)
        #expect(report["type"] as? String == "PaymentRequired")
        #expect(report["version"] as? Int == 2)
        let resourceURL = report["resource"] as? String
        #expect(resourceURL?.hasPrefix(server.origin) == true, "\(resourceURL ?? "no resource")")
        // x402 says `resource.url` is the protected resource's URL; the Gate writes its public origin
        // for every route (one ChallengeSet built in Gate.init). Known defect, reported; this flips when fixed.
        #expect(resourceURL == server.origin + "/premium")
        let accepts = try #require(report["accepts"] as? [[String: Any]])
        let fake = try #require(accepts.first { $0["network"] as? String == X402Network.fake }, "the fake rail's entry: \(accepts)")
        #expect(fake["amount"] as? String == "100")
        #expect((fake["payTo"] as? String)?.isEmpty == false)
        #expect(server.stop() == 0)
    }
}
