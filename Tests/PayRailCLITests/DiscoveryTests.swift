import Foundation
import PayRailHTTP
import PayRailTestPeers
import PayRailTestServers
import Testing

// Issue 16 point 8: `payrail serve` publishes GET /openapi.json (draft-payment-discovery-01) from its
// pricing table, openapi-spec-validator (PyPI, pinned) accepts it as OpenAPI 3.1, and
// `payrail discover` reads it, or refuses a hostile one without holding it.

@Suite("discovery: GET /openapi.json and payrail discover (issue 16, point 8)", .serialized)
struct DiscoveryTests {
    static let prices = ["GET /premium=100sat", "GET /api/*=0.50usd", "* /jobs/*/run=fake:7sat"]

    private func serve() throws -> ServeProcess {
        try ServeProcess(["--rail", "fake"] + Self.prices.flatMap { ["--price", $0] })
    }

    @Test("the served document validates as OpenAPI 3.1 with openapi-spec-validator and prices what the gate prices")
    func servedDocumentValidates() async throws {
        let server = try serve()
        defer { server.kill() }
        let answer = try await exchange(server.url("/openapi.json"))
        #expect(answer.status == 200)
        #expect(answer.headers["Content-Type"] == "application/json")
        #expect(answer.headers["Cache-Control"] == "max-age=300")
        #expect(try OpenAPIValidatorPeer.validate(answer.body) == .valid)
        let paths = try #require(answer.json["paths"] as? [String: Any])
        #expect(Set(paths.keys) == ["/premium", "/api/{path}", "/jobs/{path}/run"])
        let premium = try #require((paths["/premium"] as? [String: Any])?["get"] as? [String: Any])
        let offers = try #require((premium["x-payment-info"] as? [String: Any])?["offers"] as? [[String: Any]])
        #expect(offers.count == 1 && offers[0]["amount"] as? String == "100" && offers[0]["currency"] as? String == "sat")
        #expect((premium["responses"] as? [String: Any])?["402"] != nil)
        #expect(answer.json["x-service-info"] is [String: Any])
        // What the document prices, the gate charges: the priced path answers 402 unpaid.
        #expect(try await exchange(server.url("/premium")).status == 402)
        #expect(try await exchange(server.url("/openapi.json"), method: "POST").status == 405)
        #expect(server.stop() == 0)
    }

    @Test("the validator is a real judge: it refuses a document whose path parameter is not declared")
    func validatorRefusesBrokenDocument() throws {
        let broken = #"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a/{x}":{"get":{"responses":{"402":{"description":"Payment Required"}}}}}}"#
        guard case .invalid(let reason) = try OpenAPIValidatorPeer.validate(Array(broken.utf8)) else {
            Issue.record("openapi-spec-validator accepted an undeclared path parameter")
            return
        }
        #expect(reason.contains("x"))
    }

    @Test("payrail discover prints each priced operation and its offers")
    func discoverText() throws {
        let server = try serve()
        defer { server.kill() }
        let run = try PayRail.run(["discover", server.origin])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("localhost ") == true && lines.first?.hasSuffix("at \(server.origin)/openapi.json") == true)
        #expect(lines.contains("10 priced operations"))
        #expect(lines.contains("GET /premium  Priced by the rule GET /premium"))
        #expect(lines.contains("  charge fake 100 sat"))
        #expect(lines.contains("  charge fake 50 usd"))
        #expect(lines.contains("TRACE /jobs/{path}/run  Priced by the rule * /jobs/*/run"))
        #expect(run.stderr.isEmpty)
    }

    @Test("payrail discover --json is one object with the operations and their offers, amounts as strings")
    func discoverJSON() throws {
        let server = try serve()
        defer { server.kill() }
        let run = try PayRail.run(["discover", "--json", server.origin + "/openapi.json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["openapi"] as? String == "3.1.0")
        #expect(object["url"] as? String == server.origin + "/openapi.json")
        let operations = try #require(object["operations"] as? [[String: Any]])
        #expect(operations.count == 10)
        let api = try #require(operations.first { $0["path"] as? String == "/api/{path}" })
        #expect(api["method"] as? String == "GET" && api["declares402"] as? Bool == true)
        let offer = try #require((api["offers"] as? [[String: Any]])?.first)
        #expect(offer["amount"] as? String == "50" && offer["currency"] as? String == "usd")
        #expect(offer["method"] as? String == "fake" && offer["intent"] as? String == "charge")
        let docs = (object["serviceInfo"] as? [String: Any])?["docs"] as? [String: String]
        #expect(docs?["apiReference"] == server.origin + "/openapi.json")
    }

    @Test("a 200 MB discovery document is refused at 1 MiB, declared or not, without holding it", arguments: [true, false])
    func oversizedDocument(declaresLength: Bool) throws {
        let total = 200 * 1024 * 1024
        let server = try LoopbackBodyServer { _ in
            let head = LazyAnswer.head("200 OK", length: declaresLength ? total : nil)
            return LazyAnswer(head: head, prefix: Array(#"{"openapi":"3.1.0","x":""#.utf8), chunk: FetchBoundsTests.blank(64 * 1024), bodyBytes: total)
        }
        defer { server.stop() }
        let run = try MeasuredRun.run(["discover", server.origin], hangGuard: 60)
        #expect(!run.killed)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("larger than 1048576 bytes"), "\(run.stderr)")
        #expect(run.stdoutBytes == 0)
        FetchBoundsTests.expectPeak(run, below: FetchBoundsTests.peakRSSLimitKiB)
    }

    @Test("a hostile document is refused with the reason: terminal escapes, a numeric amount, not 200")
    func hostileDocuments() throws {
        let escape = #"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"x-payment-info":{"intent":"charge","method":"m","amount":"1","description":"\u001b]0;owned\u0007"}}}}}"#
        let number = #"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"x-payment-info":{"intent":"charge","method":"m","amount":1}}}}}"#
        let bodies: [String: (status: String, body: String)] = ["/escape": ("200 OK", escape), "/number": ("200 OK", number), "/gone": ("404 Not Found", "{}")]
        let server = try LoopbackBodyServer { path in
            let answer = bodies[path] ?? ("404 Not Found", "{}")
            let bytes = Array(answer.body.utf8)
            return LazyAnswer(head: LazyAnswer.head(answer.status, length: bytes.count), prefix: bytes, chunk: [0x20], bodyBytes: bytes.count)
        }
        defer { server.stop() }
        let escaped = try PayRail.run(["discover", server.origin + "/escape"])
        #expect(escaped.status == 1 && escaped.stderr.contains("control characters") && !escaped.stdout.contains("\u{1B}"), "\(escaped.stderr)")
        let numeric = try PayRail.run(["discover", server.origin + "/number"])
        #expect(numeric.status == 1 && numeric.stderr.contains("not a string of digits"), "\(numeric.stderr)")
        let gone = try PayRail.run(["discover", server.origin + "/gone"])
        #expect(gone.status == 1 && gone.stderr.contains("HTTP 404"), "\(gone.stderr)")
    }

    @Test("usage: a URL that is not http(s) is a usage error; nothing listening is a network error")
    func usage() throws {
        #expect(try PayRail.run(["discover", "ftp://example.com"]).status == 2)
        #expect(try PayRail.run(["discover"]).status == 2)
        let closed = try PayRail.run(["discover", "http://127.0.0.1:1", "--max-time", "5"])
        #expect(closed.status == 5, "\(closed.stderr)")
    }
}
