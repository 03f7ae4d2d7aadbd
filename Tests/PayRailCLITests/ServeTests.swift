import Foundation
import PayRailTestPeers
import PayRail
import PayRailHTTP
import PayRailReceipts
import PayRailServer
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `payrail serve` child process on a kernel-chosen port; stop it with `stop()` (also by PID in a `defer`).
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let data: URL
    let stdoutFile: URL
    /// Where stderr goes when the test reads it (`errors`); nil passes it through to the test's own.
    let stderrFile: URL?
    private(set) var origin = ""

    /// Starts `payrail serve --port 0 --data DIR` plus `extra`, with `environment` added to this
    /// process's own (settings that must never appear on a command line, such as wallet keys).
    init(_ extra: [String], data existing: URL? = nil, environment: [String: String] = [:], captureErrors: Bool = false) throws {
        data = try existing ?? temporaryDirectory().appendingPathComponent("data")
        let logs = data.deletingLastPathComponent()
        let run = UUID().uuidString
        stdoutFile = logs.appendingPathComponent("stdout-\(run).log")
        stderrFile = captureErrors ? logs.appendingPathComponent("stderr-\(run).log") : nil
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        process.executableURL = PayRail.binary
        process.arguments = ["serve", "--port", "0", "--data", data.path] + extra
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        if let stderrFile {
            _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: stderrFile)
        } else {
            process.standardError = FileHandle.standardError
        }
        try process.run()
        // Stopped by PID even if this test process is killed (a `defer` never runs then).
        try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGTERM)
        // The first stdout line names the bound address.
        for _ in 0..<200 {
            if let line = log.split(separator: "\n").first, let range = line.range(of: "listening on ") {
                origin = String(line[range.upperBound...].prefix { $0 != " " })
                return
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill()
        throw ServeTestFailure("payrail serve \(extra.joined(separator: " ")) did not start: \(log) \(errors)")
    }

    var log: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    /// What the server wrote to stderr, when captured.
    var errors: String { stderrFile.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? "" }

    /// Graceful stop (SIGTERM) and the exit status.
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        Foundation.kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Last-resort stop by PID for `defer`.
    func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func url(_ path: String) -> URL {
        URL(string: origin + path) ?? URL(fileURLWithPath: "/")
    }
}

struct ServeTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP exchange over loopback.
struct Exchange {
    var status: Int
    var headers: HTTPFields
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
}

let loopbackSession: URLSession = {
    let configuration = URLSessionConfiguration.ephemeral
    configuration.urlCache = nil
    configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
    configuration.timeoutIntervalForRequest = 30
    return URLSession(configuration: configuration)
}()

func exchange(_ url: URL, method: String = "GET", headers: HTTPFields = HTTPFields(), body: [UInt8]? = nil) async throws -> Exchange {
    var request = URLRequest(url: url)
    request.httpMethod = method
    for field in headers { request.addValue(field.value, forHTTPHeaderField: field.name) }
    if let body { request.httpBody = Data(body) }
    let (data, response) = try await loopbackSession.data(for: request)
    guard let http = response as? HTTPURLResponse else { throw ServeTestFailure("no HTTP response from \(url)") }
    var fields = HTTPFields()
    for (name, value) in http.allHeaderFields {
        if let name = name as? String, let value = value as? String { fields.append(name, value) }
    }
    return Exchange(status: http.statusCode, headers: fields, body: Array(data))
}

/// The demo payer written by `payrail serve`, paying through the server's fake processor endpoint.
struct DemoPayer {
    let accountID: String
    let secret: String
    let payURL: URL

    init(dataDirectory: URL) throws {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: dataDirectory.appendingPathComponent("fake-payer.json"))) as? [String: String])
        accountID = try #require(object["accountID"])
        secret = try #require(object["secret"])
        let payText = try #require(object["payURL"])
        payURL = try #require(URL(string: payText))
    }

    /// Pays `offer` and returns the rail credential (the processor's voucher).
    func pay(_ offer: Offer) async throws -> Credential {
        let request: [String: String] = [
            "accountID": accountID, "secret": secret, "requestID": offer.id, "amount": offer.amount.description, "payee": offer.payee,
        ]
        let answer = try await exchange(payURL, method: "POST", headers: HTTPFields([("Content-Type", "application/json")]),
                                        body: Array(try JSONSerialization.data(withJSONObject: request)))
        #expect(answer.status == 200, "pay: \(answer.text)")
        let voucher = try #require(answer.json["voucher"] as? String)
        return Credential(rail: .fake, offerID: offer.id, payload: ["voucher": voucher], payerID: accountID)
    }
}

/// Reads one metric sample's value from Prometheus text.
func metric(_ text: String, _ series: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Int(line.dropFirst(series.count + 1))
    }
    return nil
}

/// Headers an upstream saw, shared between its handler and the test.
final class SeenRequests: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [HTTPRequest] = []
    func append(_ request: HTTPRequest) { lock.withLock { requests.append(request) } }
    var all: [HTTPRequest] { lock.withLock { requests } }
}

@Suite("payrail serve (live, loopback)", .serialized)
struct ServeTests {
    @Test("402 in every dialect, pay with the fake rail, receipt, replay without a second charge, JWKS, healthz, metrics")
    func demoResourceEndToEnd() async throws {
        let server = try ServeProcess(["--realm", "serve.test"])
        defer { server.kill() }

        let health = try await exchange(server.url("/healthz"))
        #expect(health.status == 200)

        let unpaid = try await exchange(server.url("/premium"))
        #expect(unpaid.status == 402)
        #expect(unpaid.headers["Cache-Control"] == "no-store")
        #expect(unpaid.headers["WWW-Authenticate"]?.hasPrefix("Payment ") == true)
        #expect(unpaid.headers["PAYMENT-REQUIRED"] != nil)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        #expect(Set(reading.offers.map(\.dialect)).isSuperset(of: [.payment, .x402, .plain]))
        #expect(reading.offers.allSatisfy { $0.offer.amount == (try? Money(amount: 100, unit: .sat)) })

        let payer = try DemoPayer(dataDirectory: server.data)
        let read = try #require(reading.offers.first { $0.dialect == .payment })
        let credential = try await payer.pay(read.offer)
        let paid = try await exchange(server.url("/premium"), headers: try read.credentialFields(for: credential))
        #expect(paid.status == 200, "\(paid.text)")
        #expect(paid.headers["Payment-Receipt"] != nil)
        let token = try #require(paid.headers["X-Receipt"])
        #expect(paid.json["resource"] as? String == "GET /premium")

        let replayed = try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replayed.status == 200)
        #expect(replayed.body == paid.body)

        // The same credential again is not a second sale.
        let again = try await exchange(server.url("/premium"), headers: try read.credentialFields(for: credential))
        #expect(again.status != 500)

        let jwks = try await exchange(server.url("/.well-known/payrail/jwks.json"))
        #expect(jwks.status == 200)
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwksJSON: Data(jwks.body)))
        let claims = try verifier.verify(token, resource: "GET /premium")
        #expect(claims.iss == "serve.test")
        #expect(claims.amount == "100" && claims.currency == "sat")

        let metrics = try await exchange(server.url("/metrics"))
        #expect(metrics.status == 200)
        #expect(metrics.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(metric(metrics.text, "payrail_settlements_total{rail=\"fake\"}") == 1)
        #expect(metric(metrics.text, "payrail_grants_total") == 1)
        #expect((metric(metrics.text, "payrail_replays_total") ?? 0) >= 1)
        #expect((metric(metrics.text, "payrail_challenges_issued_total") ?? 0) >= 1)
        #expect(metric(metrics.text, "payrail_requests_total{code=\"402\"}") != nil)
        #expect(metrics.text.contains("payrail_request_duration_seconds_bucket{le=\"+Inf\"}"))
        #expect(metrics.text.contains("# TYPE payrail_refusals_total counter"))

        #expect(server.stop() == 0, "SIGTERM stops gracefully with status 0")
        let log = server.log
        #expect(log.contains("GET /premium 402"))
        #expect(log.contains("GET /premium 200"))
        for secret in [token, payer.secret, try #require(credential.payload["voucher"])] {
            #expect(!log.contains(secret), "the log must not contain tokens, vouchers or secrets")
        }
        let mode = try permissions(server.data)
        #expect(mode & 0o777 == 0o700)
        #expect(try permissions(server.data.appendingPathComponent("fake-payer.json")) & 0o777 == 0o600)
    }

    @Test("receipt keys and paid responses survive a restart on the same data directory")
    func restartKeepsKeysAndReceipts() async throws {
        let first = try ServeProcess([])
        defer { first.kill() }
        let jwks1 = try await exchange(first.url("/.well-known/payrail/jwks.json")).text
        let unpaid = try await exchange(first.url("/premium"))
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .x402 })
        let credential = try await DemoPayer(dataDirectory: first.data).pay(read.offer)
        let paid = try await exchange(first.url("/premium"), headers: try read.credentialFields(for: credential))
        #expect(paid.status == 200, "\(paid.text)")
        #expect(paid.headers["PAYMENT-RESPONSE"] != nil)
        let token = try #require(paid.headers["X-Receipt"])
        #expect(first.stop() == 0)

        let second = try ServeProcess([], data: first.data)
        defer { second.kill() }
        #expect(try await exchange(second.url("/.well-known/payrail/jwks.json")).text == jwks1)
        let replayed = try await exchange(second.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replayed.status == 200)
        #expect(replayed.body == paid.body)
        let metrics = try await exchange(second.url("/metrics")).text
        #expect(metric(metrics, "payrail_replays_total") == 1)
        #expect(metric(metrics, "payrail_settlements_total{rail=\"fake\"}") == nil, "no settlement after the restart")
        #expect(second.stop() == 0)
    }

    @Test("reverse proxy: forwarded headers, hop-by-hop and credentials stripped, upstream down is 502 and the receipt replays")
    func reverseProxy() async throws {
        let seen = SeenRequests()
        let upstreamHandler: HTTPHandler = { request in
            seen.append(request)
            return HTTPResponse(headers: ["Content-Type": "application/json", "X-Upstream": "yes", "Keep-Alive": "timeout=5"],
                                text: #"{"from":"upstream","path":"\#(request.path)"}"#)
        }
        let upstream = HTTPServer(configuration: HTTPServerConfiguration(port: 0), handler: upstreamHandler)
        let upstreamPort = try upstream.start()
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)", "--price", "GET /premium=100sat"])
        defer { server.kill() }

        // A free route is proxied as is, with forwarding headers and without hop-by-hop fields.
        let free = try await exchange(server.url("/free?q=1"), headers: HTTPFields([
            ("X-Custom", "kept"), ("Keep-Alive", "timeout=9"), ("TE", "trailers"), ("Proxy-Authorization", "Basic eDp5"),
            ("X-Receipt", "not-for-upstream"),
        ]))
        #expect(free.status == 200)
        #expect(free.headers["X-Upstream"] == "yes")
        #expect(free.headers["Keep-Alive"] == nil)
        let forwarded = try #require(seen.all.last)
        #expect(forwarded.path == "/free" && forwarded.query == "q=1")
        #expect(forwarded.headers["X-Custom"] == "kept")
        #expect(forwarded.headers["X-Forwarded-For"] == "127.0.0.1")
        #expect(forwarded.headers["X-Forwarded-Proto"] == "http")
        #expect(forwarded.headers["X-Forwarded-Host"] == server.origin.replacingOccurrences(of: "http://", with: ""))
        #expect(forwarded.headers["Forwarded"]?.hasPrefix("for=127.0.0.1;proto=http") == true)
        for name in ["Keep-Alive", "TE", "Proxy-Authorization", "X-Receipt"] {
            #expect(forwarded.headers[name] == nil, "\(name) must not reach the upstream")
        }

        // The upstream goes away after a paid request was settled: 502 problem with the receipt.
        await upstream.shutdown()
        let unpaid = try await exchange(server.url("/premium"))
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        let credential = try await DemoPayer(dataDirectory: server.data).pay(read.offer)
        let failed = try await exchange(server.url("/premium"), headers: try read.credentialFields(for: credential))
        #expect(failed.status == 502)
        #expect(failed.headers["Content-Type"] == "application/problem+json")
        #expect((failed.json["type"] as? String)?.hasSuffix("upstream-unavailable") == true)
        let token = try #require(failed.headers["X-Receipt"])
        // draft-httpauth-payment "Payment-Receipt Header": never on an error response; X-Receipt stays.
        #expect(failed.headers["Payment-Receipt"] == nil)
        #expect(failed.headers["Cache-Control"]?.hasPrefix("private") == true, "\(failed.headers["Cache-Control"] ?? "none")")

        // Back up on the same port: the receipt gets the resource without a second settlement.
        let restarted = HTTPServer(configuration: HTTPServerConfiguration(port: upstreamPort), handler: upstreamHandler)
        try restarted.start()
        let served = try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(served.status == 200, "\(served.text)")
        #expect(served.json["from"] as? String == "upstream")
        #expect(served.headers["X-Receipt"] == token)
        let paidForward = try #require(seen.all.last)
        #expect(paidForward.path == "/premium")
        #expect(paidForward.headers["X-Receipt"] == nil && paidForward.headers["Authorization"] == nil)
        // Now stored: replays without reaching the upstream again.
        let count = seen.all.count
        let replay = try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replay.status == 200 && replay.body == served.body)
        #expect(seen.all.count == count)

        let metrics = try await exchange(server.url("/metrics")).text
        #expect(metric(metrics, "payrail_settlements_total{rail=\"fake\"}") == 1)
        #expect(metric(metrics, "payrail_upstream_failures_total") == 1)
        #expect(server.stop() == 0)
        await restarted.shutdown()
    }

    @Test("unpaid requests beyond --rate-limit get 429 with Retry-After, counted as refusals")
    func rateLimit() async throws {
        let server = try ServeProcess(["--rate-limit", "2"])
        defer { server.kill() }
        var statuses: [Int] = []
        var limited: Exchange?
        for _ in 0..<3 {
            let answer = try await exchange(server.url("/premium"))
            statuses.append(answer.status)
            if answer.status == 429 { limited = answer }
        }
        #expect(statuses == [402, 402, 429])
        #expect(limited?.headers["Retry-After"] != nil)
        let metrics = try await exchange(server.url("/metrics")).text
        #expect(metric(metrics, "payrail_refusals_total{reason=\"rate-limited\"}") == 1)
        #expect(server.stop() == 0)
    }

    @Test("bad settings are usage errors with one line")
    func usageErrors() throws {
        for arguments in [["serve", "--port", "70000"], ["serve", "--price", "GET /x"], ["serve", "--upstream", "ftp://x"],
                          ["serve", "--rail", "lightning"], ["serve", "--rate-limit", "-1"]] {
            let result = try PayRail.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(try PayRail.run(["serve", "--help"]).stdout.contains("settled BEFORE forwarding"))
    }
}

@Suite("serving glue")
struct ServingGlueTests {
    @Test func hopByHopAndForwarded() {
        let fields = HTTPFields([
            ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "5"), ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"), ("Proxy-Connection", "x"), ("Host", "a.example"), ("Authorization", "Payment abc"),
            ("Authorization", "Bearer upstream-key"), ("X-Forwarded-For", "10.0.0.9"), ("Accept", "*/*"),
        ])
        let out = ProxyHeaders.upstreamRequestFields(fields, clientAddress: "::1", host: "a.example", scheme: "https")
        for name in ["Connection", "X-Hop", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Host"] {
            #expect(out[name] == nil, "\(name)")
        }
        #expect(out.values("Authorization") == ["Bearer upstream-key"])
        #expect(out["X-Forwarded-For"] == "10.0.0.9, ::1")
        #expect(out["X-Forwarded-Host"] == "a.example")
        #expect(out["Forwarded"] == "for=\"[::1]\";proto=https;host=\"a.example\"")
        #expect(out["Accept"] == "*/*")
    }

    @Test func metricsText() {
        let metrics = GateMetrics()
        metrics.record(.challenged)
        metrics.record(.granted(rail: .fake))
        metrics.record(.replayed)
        metrics.record(.refused(reason: "verification-failed", issuedChallenge: true))
        metrics.recordRequest(status: 200, seconds: 0.003)
        let text = metrics.prometheusText()
        #expect(metric(text, "payrail_challenges_issued_total") == 2)
        #expect(metric(text, "payrail_settlements_total{rail=\"fake\"}") == 1)
        #expect(metric(text, "payrail_refusals_total{reason=\"verification-failed\"}") == 1)
        #expect(metric(text, "payrail_request_duration_seconds_bucket{le=\"0.0025\"}") == 0)
        #expect(metric(text, "payrail_request_duration_seconds_bucket{le=\"0.005\"}") == 1)
    }

    @Test func outcomeReadsProblemTypes() {
        let plain = GateResponse(status: 402, body: Array(#"{"type":"x402","status":402}"#.utf8))
        #expect(GateOutcome(.respond(plain)) == .challenged)
        let refused = GateResponse(status: 402, body: Array(#"{"type":"x402","problem":"https://paymentauth.org/problems/verification-failed"}"#.utf8))
        #expect(GateOutcome(.respond(refused)) == .refused(reason: "verification-failed", issuedChallenge: true))
        let limited = GateResponse(status: 429, body: Array(#"{"type":"https://payrail.dev/problems/rate-limited"}"#.utf8))
        #expect(GateOutcome(.respond(limited)) == .refused(reason: "rate-limited", issuedChallenge: false))
        #expect(GateOutcome(.replay(GateResponse(status: 200))) == .replayed)
    }
}
