import Foundation
import PayRailTestServers
import Testing

/// `payrail wire ...`; vectors are literals from lightninglabs/aperture mpp/testdata/vectors.json (MIT),
/// also kept under Tests/PayRailWireTests/Fixtures/payment.
@Suite("payrail wire")
struct WireCommandTests {
    static let apertureSecretHex = "6d70702d746573742d766563746f722d736563726574"

    @Test("--help on every wire command")
    func help() throws {
        for command in ["jcs", "challenges", "challenge-id", "credential", "decode"] {
            let result = try PayRail.run(["wire", command, "--help"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("usage: payrail wire \(command)"))
        }
        #expect(try PayRail.run(["--help"]).stdout.contains("wire challenge-id"))
    }

    @Test("jcs: canonical form, refusals exit 1 with one line")
    func jcs() throws {
        let result = try PayRail.run(["wire", "jcs"], stdin: #"{ "b": [1.0, 1e2, "\u0041<>"], "a": {"\u00e9": null, "z": true} }"#)
        #expect(result.status == 0)
        #expect(result.stdout == #"{"a":{"z":true,"é":null},"b":[1,100,"A<>"]}"# + "\n")
        for bad in ["{", #"{"a":1,"a":2}"#, "1e999", String(repeating: "[", count: 100) + String(repeating: "]", count: 100), ""] {
            let refused = try PayRail.run(["wire", "jcs"], stdin: bad)
            #expect(refused.status == 1, "\(bad.prefix(20))")
            #expect(refused.stdout.isEmpty)
            #expect(refused.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test("challenges: Payment challenges split out of one value, other schemes ignored")
    func challenges() throws {
        let value = #"WWW-Authenticate: Basic realm="other", Payment id="a", realm="r", method="lightning", intent="charge", request="cQ", Digest realm="other", intent="bogus", Payment id="b", realm="r", method="lightning", intent="session", request="cQ", Payment id="c", realm="r""#
        let result = try PayRail.run(["wire", "challenges"], stdin: value + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        // Issue #16 point 6: the incomplete challenge "c" is skipped (listed on stderr), no longer printed.
        #expect(result.stdout == #"[{"id":"a","intent":"charge","method":"lightning","realm":"r","request":"cQ"},{"id":"b","intent":"session","method":"lightning","realm":"r","request":"cQ"}]"# + "\n")
        #expect(result.stderr == "skipped Payment challenge 3: no method, intent, request\n")
        let valid = try PayRail.run(["wire", "challenges", "--valid-only"], stdin: value)
        #expect(valid.stdout.components(separatedBy: "\"id\"").count == 3)
        #expect(try PayRail.run(["wire", "challenges"], stdin: #"Basic realm="other""#).status == 1)
        #expect(try PayRail.run(["wire", "challenges"], stdin: #"Payment id="unterminated"#).status == 1)
        #expect(try PayRail.run(["wire", "challenges", "--valid-only"], stdin: #"Payment id="a", realm="r""#).status == 1)
    }

    @Test("challenge-id: aperture's vectors, description ignored; bad secret is a usage error")
    func challengeID() throws {
        let cases: [(String, String)] = [
            (#"{"realm":"api.example.com","method":"lightning","intent":"charge","request":"eyJhbW91bnQiOiIxMDAifQ","id":"x"}"#,
             "_9D0WlPoPRltxAd6AdpQd6auVOOeQGJ_J8BkGeBE_bU"),
            (#"{"realm":"api.example.com","method":"lightning","intent":"session","request":"eyJhbW91bnQiOiIzIn0","expires":"2026-03-15T12:05:00Z","digest":"sha-256=:X48E9q:","description":"not covered by the HMAC","opaque":"eyJvcmRlcklkIjoiMTIzIn0"}"#,
             "Wb8N5-PD4XjMfYGzuuY2bdpsrCQZzkQUX-A_ByIetHw"),
            (#"{"realm":"api.example.com","method":"lightning","intent":"charge","request":"eyJhbW91bnQiOiIxMDAifQ","header":"Payment-Authorization"}"#,
             "l1-h0A7tcBZrRPBoNZJzmdXhon0kFmv2_b8fBU5g5-s"),
        ]
        for (input, id) in cases {
            let result = try PayRail.run(["wire", "challenge-id", "--secret-hex", Self.apertureSecretHex], stdin: input)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "\"\(id)\"\n")
        }
        let missing = try PayRail.run(["wire", "challenge-id", "--secret-hex", "00"], stdin: #"{"realm":"r","method":"m","intent":"charge"}"#)
        #expect(missing.status == 1 && missing.stderr.contains("request"))
        #expect(try PayRail.run(["wire", "challenge-id", "--secret-hex", "00"], stdin: #"{"realm":1,"method":"m","intent":"c","request":"r"}"#).status == 1)
        #expect(try PayRail.run(["wire", "challenge-id", "--secret-hex", "00"], stdin: "[]").status == 1)
        #expect(try PayRail.run(["wire", "challenge-id", "--secret-hex", "xyz"], stdin: "{}").status == 2)
        #expect(try PayRail.run(["wire", "challenge-id"], stdin: "{}").status == 2)
    }

    @Test("credential: decoded JSON; refusals exit 1")
    func credential() throws {
        let header = "Authorization: Payment eyJjaGFsbGVuZ2UiOnsiaWQiOiJrTTl4UHFXdlQybkpySHNZNGFEZkViIiwicmVhbG0iOiJhcGkuZXhhbXBsZS5jb20iLCJtZXRob2QiOiJsaWdodG5pbmciLCJpbnRlbnQiOiJjaGFyZ2UiLCJyZXF1ZXN0IjoiZXlKaGJXOTFiblFpT2lJeE1EQWlmUSIsImV4cGlyZXMiOiIyMDI2LTAzLTE1VDEyOjA1OjAwWiJ9LCJwYXlsb2FkIjp7InByZWltYWdlIjoiYTNmMWUyZDRiNWM2YTdlOCJ9fQ"
        let result = try PayRail.run(["wire", "credential"], stdin: header + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == #"{"challenge":{"expires":"2026-03-15T12:05:00Z","id":"kM9xPqWvT2nJrHsY4aDfEb","intent":"charge","method":"lightning","realm":"api.example.com","request":"eyJhbW91bnQiOiIxMDAifQ"},"payload":{"preimage":"a3f1e2d4b5c6a7e8"}}"# + "\n")
        for bad in ["Bearer abc123", "Payment ", "Payment !!!invalid!!!", "Payment AB", "Payment e29vcHN9",
                    "Payment " + String(repeating: "A", count: 17_000)] {
            let refused = try PayRail.run(["wire", "credential"], stdin: bad)
            #expect(refused.status == 1, "\(bad.prefix(30))")
            #expect(refused.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test("decode: every offer of a raw 402, each with its dialect; CRLF or LF; refusals exit 1 with one line")
    func decode() throws {
        let request = "eyJhbW91bnQiOiIyNTAiLCJjdXJyZW5jeSI6InVzZCIsIm1ldGhvZERldGFpbHMiOnsicHJvY2Vzc29yS2V5IjoicGsiLCJyZXF1ZXN0SUQiOiJyZXFfMSJ9LCJyZWNpcGllbnQiOiJhY2N0X20ifQ"
        let lines = [
            "HTTP/1.1 402 Payment Required",
            #"WWW-Authenticate: Basic realm="x", Payment id="abc", realm="api.example.com", method="fake", intent="charge", request="\#(request)", expires="2026-01-01T00:05:00Z""#,
            "Content-Type: application/json",
            "",
            #"{"x402Version":1,"accepts":[{"scheme":"exact","network":"payrail:fake","maxAmountRequired":"250","asset":"usd","payTo":"acct_m","resource":"https://api.example.com/a","maxTimeoutSeconds":60,"extra":{"requestID":"req_1","processorKey":"pk"}}]}"#,
        ]
        let expected = #"[{"amount":"250","dialect":"payment","expires":"2026-01-01T00:05:00Z","id":"req_1","payee":"acct_m","rail":"fake","unit":"usd"},{"amount":"250","dialect":"x402-v1","expires":"2026-01-01T00:01:00Z","id":"req_1","payee":"acct_m","rail":"fake","unit":"usd"}]"# + "\n"
        for separator in ["\r\n", "\n"] {
            let result = try PayRail.run(["wire", "decode", "--at", "2026-01-01T00:00:00Z"], stdin: lines.joined(separator: separator))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == expected)
        }

        // The full ChallengeSet example (every dialect; fixture kept with the wire tests).
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("PayRailWireTests/Fixtures/responses/challenge-set-example.http")
        let full = try PayRail.run(["wire", "decode", "--at", "2023-11-14T22:13:20Z"], stdin: try String(contentsOf: example, encoding: .utf8))
        #expect(full.status == 0, "\(full.stderr)")
        for dialect in ["payment", "x402", "l402", "plain"] {
            #expect(full.stdout.components(separatedBy: #""dialect":"\#(dialect)""#).count == 3 || dialect == "l402", "\(dialect)")
        }
        #expect(full.stdout.components(separatedBy: #""dialect":"l402""#).count == 2)

        for bad in ["", "not http", "HTTP/1.1 200 OK\n\n{}", "HTTP/1.1 402 Payment Required\n\n<html></html>",
                    "HTTP/1.1 402 Payment Required\nWWW-Authenticate: Payment id=\"x\"\n\n"] {
            let refused = try PayRail.run(["wire", "decode"], stdin: bad)
            #expect(refused.status == 1, "\(bad.prefix(30))")
            #expect(refused.stdout.isEmpty)
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        }
        #expect(try PayRail.run(["wire", "decode", "--at", "yesterday"], stdin: lines.joined(separator: "\n")).status == 2)
    }

    // MARK: Issue #16 point 6: readers list what they skip

    /// A Tempo charge (a method PayRail has no rail for; its currency is a token address), a Lightning
    /// `subscription` (an intent PayRail does not pay), and a Payment challenge without `request`.
    static let unpayable = [
        #"Payment id="t1", realm="api.example.com", method="tempo", intent="charge", request="eyJhbW91bnQiOiIxMDAwMDAwIiwiY3VycmVuY3kiOiIweDIwYzAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJtZXRob2REZXRhaWxzIjp7ImNoYWluSWQiOjQyMTd9LCJyZWNpcGllbnQiOiIweDc0MmQzNUNjNjYzNEMwNTMyOTI1YTNiODQ0QmM5ZTc1OTVmOGZFMDAifQ""#,
        #"Payment id="s1", realm="api.example.com", method="lightning", intent="subscription", request="eyJhbW91bnQiOiIxMDAiLCJjdXJyZW5jeSI6InNhdCJ9""#,
        #"Payment id="r1", realm="api.example.com", method="fake", intent="charge""#,
    ]

    @Test("challenges: only incomplete Payment challenges: exit 1, each listed with what it lacks")
    func challengesAllIncomplete() throws {
        let result = try PayRail.run(["wire", "challenges"], stdin: #"Payment id="a", realm="r", Payment realm="r", method="m", intent="charge", request="cQ""# + "\n")
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 3, "\(result.stderr)")
        #expect(lines.first == "skipped Payment challenge 1: no method, intent, request")
        #expect(lines.dropFirst().first == "skipped Payment challenge 2: no id")
        #expect(lines.last?.contains("no complete Payment challenge") == true)
    }

    @Test("decode: with no usable offer, every unusable item is listed with its reason, one line each")
    func decodeListsEverySkipped() throws {
        let text = (["HTTP/1.1 402 Payment Required"] + Self.unpayable.map { "WWW-Authenticate: " + $0 }
            + [#"WWW-Authenticate: L402 macaroon="opaque-token""#, "", ""]).joined(separator: "\r\n")
        let result = try PayRail.run(["wire", "decode"], stdin: text)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let skipped = result.stderr.split(separator: "\n").filter { $0.hasPrefix("skipped ") }
        #expect(skipped.count == 4, "\(result.stderr)")
        #expect(skipped.contains { $0.contains("tempo/charge") && $0.contains("currency") })
        #expect(skipped.contains { $0.contains("lightning/subscription") && $0.contains("intent \"subscription\"") })
        #expect(skipped.contains { $0.contains("has no request") })
        #expect(skipped.contains { $0.hasPrefix("skipped l402") && $0.contains("has no invoice") })
        #expect(result.stderr.split(separator: "\n").last?.contains("4 unusable") == true)
    }

    @Test("fetch --explain: skipped challenges are listed; an unknown method is 'no wallet for method tempo'")
    func fetchExplainListsSkipped() throws {
        let setup = try FetchTests.Setup()
        defer { setup.server.kill() }
        let head = (["HTTP/1.1 402 Payment Required"] + Self.unpayable.map { "WWW-Authenticate: " + $0 }
            + ["Content-Length: 0", "Connection: close", "", ""]).joined(separator: "\r\n")
        let server = try LoopbackBodyServer { _ in LazyAnswer(head: head, chunk: [], bodyBytes: 0) }
        defer { server.stop() }
        let run = try AgentRun.run(["fetch", server.origin + "/premium", "--wallet", setup.wallet, "--fake-payer", setup.payerFile, "--explain"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("payment tempo/charge: skipped: no wallet for method tempo"), "\(run.stderr)")
        let explained = run.stderr.split(separator: "\n").filter { $0.hasPrefix("  ") }
        #expect(explained.count == 3 && !explained.contains { $0.contains("is not one PayRail can price") }, "\(run.stderr)")
        #expect(run.stderr.contains("payment lightning/subscription: skipped: intent \"subscription\" is not one PayRail pays"), "\(run.stderr)")
        #expect(run.stderr.contains("payment fake/charge: skipped: the Payment challenge has no request"), "\(run.stderr)")
    }
}
