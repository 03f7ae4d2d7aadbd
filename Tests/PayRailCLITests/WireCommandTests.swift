import Foundation
import Testing

/// `payrail wire ...`; vectors are literals from lightninglabs/aperture mpp/testdata/vectors.json (MIT),
/// also kept under Tests/PayRailWireTests/Fixtures/payment.
@Suite("payrail wire")
struct WireCommandTests {
    static let apertureSecretHex = "6d70702d746573742d766563746f722d736563726574"

    @Test("--help on every wire command")
    func help() throws {
        for command in ["jcs", "challenges", "challenge-id", "credential"] {
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
        #expect(result.stdout == #"[{"id":"a","intent":"charge","method":"lightning","realm":"r","request":"cQ"},{"id":"b","intent":"session","method":"lightning","realm":"r","request":"cQ"},{"id":"c","realm":"r"}]"# + "\n")
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
}
