import Foundation
import PayRail
import PayRailHTTP
import PayRailPaywall
@testable import PayRailServer
import Testing

// Issue 15 point 1: one canonical resource for pricing and forwarding. The canonical form and the
// pricing of the spellings an upstream may read as a priced route, without a socket.

@Suite("request target (issue 15, point 1)")
struct RequestTargetTests {
    private func canonical(_ path: String, query: String = "", method: String = "GET") throws(GateRefusal) -> String {
        try RequestTarget(method: method, path: path, query: query).target
    }

    @Test("dot segments, merged slashes and unreserved escapes resolve to one form")
    func canonicalForms() throws {
        let cases: [(String, String)] = [
            ("/premium", "/premium"), ("//premium", "/premium"), ("/./premium", "/premium"), ("/x/../premium", "/premium"),
            ("/%70remium", "/premium"), ("/%2e/premium", "/premium"), ("/a/%2E%2e/premium/..", "/"), ("/premium/.", "/premium/"),
            ("/premium/", "/premium/"), ("/a/b/../../premium", "/premium"), ("/a%7e%41%2a", "/a~A%2A"), ("/", "/"),
            ("/a//b///", "/a/b/"), ("/a;x=1/b", "/a;x=1/b"), ("/%c3%a9", "/%C3%A9"), ("/a/%2e%2E", "/"),
        ]
        for (given, expected) in cases {
            #expect(try canonical(given) == expected, "\(given)")
            #expect(try canonical(expected) == expected, "canonical form is a fixed point: \(expected)")
        }
        #expect(try canonical("/p", query: "q=%2F1&r=a/b?c") == "/p?q=%2F1&r=a/b?c")
    }

    @Test("the one-pass check for an already canonical path agrees with parsing on every spelling")
    func fastPathAgreesWithParsing() {
        // Every path of up to 5 bytes over an alphabet with the bytes that matter (slash, dot,
        // percent, escapes, a byte no path allows), plus random longer ones.
        let alphabet: [String] = ["/", ".", "a", "%2E", "%41", "%2F", "%", "~", ":", " ", "#", "%7e"]
        var paths: [String] = ["/"]
        var frontier = ["/"]
        for _ in 0..<4 {
            frontier = frontier.flatMap { prefix in alphabet.map { prefix + $0 } }
            paths += frontier
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let length = Int.random(in: 1...24, using: &generator)
            paths.append("/" + (0..<length).map { _ in alphabet.randomElement(using: &generator) ?? "a" }.joined())
        }
        paths += ["", "premium", "//", "/a//", "/a/", "/a/.", "/a/..", "/..", "/.a", "/a..", "/...", "/a/b/"]
        for path in paths {
            let parsed = Result { () throws(GateRefusal) -> String in try RequestTarget.canonicalPathByParsing(path) }
            let checked = Result { () throws(GateRefusal) -> String in try RequestTarget.canonicalPath(path) }
            switch (parsed, checked) {
            case (.success(let slow), .success(let fast)): #expect(slow == fast, "\(path)")
            case (.failure, .failure): continue
            default: Issue.record("\(path): parsing \(parsed), one pass \(checked)")
            }
        }
    }

    @Test("what no canonical form can make safe is refused with 400")
    func refusals() {
        let paths = [
            "/premium%2f", "/premium%2F..", "/a%5cb", "/a\\b", "/premium%00", "/a%0a", "/a%7F", "/premium#x", "#x", "",
            "@127.0.0.1:8080/premium", "http://127.0.0.1/premium", "127.0.0.1:80", "*", "/../admin", "/%2e%2e/admin",
            "/a/../../admin", "/a/%2E%2E/%2e%2e/admin", "/p%", "/p%4", "/p%zz", "/caf\u{e9}", "/a b", "/a\u{1}",
            "/a\"b", "/<x>", "/a|b", "/a{b}", "/a^b", "/a`b",
        ]
        for path in paths {
            #expect(throws: GateRefusal.self, "\(path)") { try canonical(path) }
            do { _ = try canonical(path) } catch { #expect(error.status == 400) }
        }
        for query in ["a#b", "a b", "a\u{0}", "%", "%g0", "a\\b"] {
            #expect(throws: GateRefusal.self, "?\(query)") { try canonical("/p", query: query) }
        }
        for method in ["get", "Get", "gET", "", "G ET", "GET\r", "G\u{0}"] {
            #expect(throws: GateRefusal.self, "\(method)") { try canonical("/p", method: method) }
        }
        #expect(throws: Never.self) { try canonical("/p", method: "M-SEARCH") }
    }

    @Test("a spelling an upstream may serve as a priced route is priced, never free")
    func lenientPricing() throws {
        let table = try PricingTable(parsing: ["GET /premium=100sat", "GET /api/*=2sat", "POST /jobs/=3sat"], rails: [.fake])
        let priced = ["/premium", "/PREMIUM", "/Premium/", "/premium/", "/premium;x", "/premium%3bx", "/%50remium", "//premium",
                      "/premium/.", "/x/../premium", "/API/v1", "/api//v1/", "/premium?x=1"]
        for path in priced {
            #expect(table.price(method: "GET", path: path) != nil, "\(path) must be priced")
            let canonicalPath = try RequestTarget.canonicalPath(path.split(separator: "?").first.map(String.init) ?? path)
            #expect(table.price(method: "GET", path: canonicalPath) != nil, "\(canonicalPath) must be priced")
        }
        #expect(table.price(method: "POST", path: "/jobs")?.amount(on: .fake) == (try Money(amount: 3, unit: .sat)))
        #expect(table.price(method: "GET", path: "/premium2") == nil)
        #expect(table.price(method: "GET", path: "/api") == nil)
        #expect(table.price(method: "POST", path: "/premium") == nil)
        // An exact match wins over an earlier lenient one.
        let ordered = try PricingTable(parsing: ["GET /A=1sat", "GET /a=5sat"], rails: [.fake])
        #expect(ordered.price(method: "GET", path: "/a")?.amount(on: .fake) == (try Money(amount: 5, unit: .sat)))
    }

    @Test("a spelling of a priced route never pays a cheaper catch-all's price, and an escaped ? or # ends the path")
    func lenientSpellingsPayTheDearerRule() throws {
        let table = try PricingTable(parsing: ["GET /api/premium=100sat", "GET /api/*=1sat", "GET /premium=100sat"], rails: [.fake])
        let hundred = try Money(amount: 100, unit: .sat)
        for path in ["/api/premium", "/api/premium;x", "/api/PREMIUM", "/api/premium/", "/api/Premium%3Bx", "/api/premium%3Fx",
                     "/api/premium%23", "/API/premium", "/api//premium"] {
            #expect(table.price(method: "GET", path: path)?.amount(on: .fake) == hundred, "\(path)")
        }
        #expect(table.price(method: "GET", path: "/api/other")?.amount(on: .fake) == (try Money(amount: 1, unit: .sat)))
        for path in ["/premium%3Fx", "/premium%23", "/premium%3f", "/PREMIUM%3Fa=1"] {
            #expect(table.price(method: "GET", path: path)?.amount(on: .fake) == hundred, "\(path)")
        }
        // Two prices on different rails: each rail keeps the dearer amount.
        let mixed = try PricingTable(parsing: ["GET /x=lightning:10sat", "GET /X=fake:5sat,lightning:3sat"], rails: [.fake, .lightning])
        let price = try #require(mixed.price(method: "GET", path: "/X"))
        #expect(price.amount(on: .lightning) == (try Money(amount: 10, unit: .sat)))
        #expect(price.amount(on: .fake) == (try Money(amount: 5, unit: .sat)))
    }

    @Test("the paywall hands the handler the canonical request without override fields")
    func paywallCanonicalRequest() throws {
        let request = HTTPRequest(method: "POST", path: "/x/./../premium", query: "a=1",
                                  headers: ["X-HTTP-Method-Override": "GET", "X-HTTP-Method": "GET", "X-Method-Override": "GET",
                                            "X-Original-URL": "/premium", "X-Rewrite-URL": "/premium", "Accept": "*/*"])
        let canonical = try Paywall.canonical(request).get()
        #expect(canonical.path == "/premium" && canonical.query == "a=1" && canonical.method == "POST")
        for name in RequestTarget.overrideFields { #expect(canonical.headers[name] == nil, "\(name)") }
        #expect(canonical.headers["Accept"] == "*/*")
        #expect(throws: GateRefusal.self) { try Paywall.canonical(HTTPRequest(method: "get", path: "/premium")).get() }
    }
}
