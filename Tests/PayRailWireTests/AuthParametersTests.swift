import Foundation
import Testing
@testable import PayRailWire

/// Loads the Payment-scheme fixtures (copied from the research vectors, see Fixtures/payment/SOURCE.md).
enum PaymentFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("payment")

    static func object(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name) is not a JSON object")
    }

    static func list(_ name: String, _ key: String) throws -> [[String: Any]] {
        try #require(try object(name)[key] as? [[String: Any]], "\(name) has no list \(key)")
    }

    static var aperture: String { "aperture-mpp-vectors.json" }
}

/// A small seeded generator (SplitMix64) so property tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("RFC 9110 auth-params")
struct AuthParametersTests {
    @Test("aperture challengeLists: every list splits into the right Payment challenges")
    func apertureChallengeLists() throws {
        let vectors = try PaymentFixtures.list(PaymentFixtures.aperture, "challengeLists")
        #expect(vectors.count == 11)
        let required = ["id", "realm", "method", "intent", "request"]
        for vector in vectors {
            let name = vector["name"] as? String ?? "?"
            let header = try #require(vector["header"] as? String)
            let parsed = try AuthParameters.parseChallenges([header])
            let complete = parsed.filter { $0.hasScheme("Payment") }
                .filter { challenge in required.allSatisfy { challenge[$0] != nil } }
            if vector["error"] as? Bool == true {
                #expect(complete.isEmpty, "\(name)")
                continue
            }
            let expected = try #require(vector["challenges"] as? [[String: String]], "\(name)")
            #expect(complete.map(\.parameters) == expected, "\(name)")
        }
    }

    @Test("other schemes' parameters stay with their own challenge")
    func foreignSchemesKeepTheirParameters() throws {
        let parsed = try AuthParameters.parseChallenges(
            #"Basic realm="other", Payment id="a", realm="r", Digest realm="d", intent="bogus", Negotiate abc==, Bearer"#)
        #expect(parsed.map(\.scheme) == ["Basic", "Payment", "Digest", "Negotiate", "Bearer"])
        #expect(parsed[1].parameters == ["id": "a", "realm": "r"])
        #expect(parsed[2].parameters == ["realm": "d", "intent": "bogus"])
        #expect(parsed[3].token68 == "abc==")
        #expect(parsed[4].parameterList.isEmpty && parsed[4].token68 == nil)
    }

    @Test("repeated fields, empty elements, BWS around '=' and the first repeat wins")
    func listRules() throws {
        let parsed = try AuthParameters.parseChallenges([" , Payment id = a ,, ID=b", "", "payment id=\"c\""])
        #expect(parsed.count == 2)
        #expect(parsed[0]["id"] == "a")
        #expect(parsed[0]["ID"] == "a")
        #expect(parsed[1].hasScheme("PAYMENT"))
        #expect(parsed[1]["id"] == "c")
    }

    @Test("aperture challengeHeaders: parsed and written byte for byte")
    func apertureHeaders() throws {
        let vectors = try PaymentFixtures.list(PaymentFixtures.aperture, "challengeHeaders")
        let order = ["id", "realm", "method", "intent", "request", "expires", "digest", "description", "opaque"]
        for vector in vectors {
            let header = try #require(vector["header"] as? String)
            let params = try #require(vector["params"] as? [String: String])
            let parsed = try AuthParameters.parseChallenges(header)
            #expect(parsed.count == 1)
            #expect(parsed.first?.parameters == params, "\(vector["name"] ?? "")")
            let challenge = AuthChallenge(
                scheme: "Payment",
                parameters: order.compactMap { name in params[name].map { AuthParameter(name: name, value: $0) } })
            #expect(try AuthParameters.render(challenge) == header)
        }
    }

    @Test("credentials: one token68, several refused, empty refused")
    func credentials() throws {
        let one = try AuthParameters.parseCredentials("Payment eyJhIjoiYiJ9")
        #expect(one.token68 == "eyJhIjoiYiJ9")
        #expect(throws: WireError.self) { try AuthParameters.parseCredentials("  ") }
        do {
            _ = try AuthParameters.parseCredentials("Payment abc, Payment def")
            Issue.record("two credentials accepted")
        } catch {
            #expect(error.code == .multipleCredentials)
        }
    }

    @Test("malformed values are refused with WireError, never a trap", arguments: [
        "Payment id=\"unterminated", "Payment id=a, b=", "Payment id=\"a\" junk", "=x", "Payment id=\"a\\",
        "Payment id=\"a\u{01}\"", "Payment abc=def=", "Payment ,id=a", "Payment id=\"a\"x=b",
    ])
    func malformed(_ value: String) {
        #expect(throws: WireError.self) { try AuthParameters.parseChallenges(value) }
    }

    @Test("the writer refuses what no quoted-string can carry")
    func writerRefusals() {
        for value in ["line\nbreak", "cr\r", "nul\u{0}", "del\u{7F}"] {
            #expect(throws: WireError.self) { try AuthParameters.quote(value) }
        }
        #expect(throws: WireError.self) {
            try AuthParameters.render(AuthChallenge(scheme: "Pay ment", parameters: []))
        }
        #expect(throws: WireError.self) {
            try AuthParameters.render(AuthChallenge(scheme: "Payment", parameters: [AuthParameter(name: "a b", value: "x")]))
        }
        #expect(throws: WireError.self) {
            try AuthParameters.render(AuthChallenge(scheme: "Basic", token68: "a=b"))
        }
    }

    @Test("property: render then parse gives back every challenge (4000 seeded cases)")
    func roundTripProperty() throws {
        var random = SeededGenerator(seed: 0x5EED_0402)
        let valueAlphabet: [String] = [
            "a", "Z", "0", " ", "\t", "\"", "\\", ",", "=", ";", "\\\"", "Payment id=x", "é", "ü", "日本", "🙂", "|", "/", "+", "\u{80}", "~",
        ]
        let tokenAlphabet = Array("abcXYZ019!#$%&'*+-.^_`|~")
        func token(_ random: inout SeededGenerator) -> String {
            String((0..<Int.random(in: 1...8, using: &random)).map { _ in tokenAlphabet.randomElement(using: &random) ?? "a" })
        }
        for _ in 0..<4000 {
            var challenges: [AuthChallenge] = []
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let scheme = ["Payment", "payment", "L402", "Basic", token(&random)].randomElement(using: &random) ?? "Payment"
                if Bool.random(using: &random), Int.random(in: 0..<4, using: &random) == 0 {
                    let t68 = String((0..<Int.random(in: 1...20, using: &random)).map { _ in
                        Array("AZaz09-._~+/").randomElement(using: &random) ?? "A"
                    }) + String(repeating: "=", count: Int.random(in: 0...2, using: &random))
                    challenges.append(AuthChallenge(scheme: scheme, token68: t68))
                    continue
                }
                var parameters: [AuthParameter] = []
                for _ in 0..<Int.random(in: 1...5, using: &random) {
                    let value = (0..<Int.random(in: 0...12, using: &random))
                        .map { _ in valueAlphabet.randomElement(using: &random) ?? "a" }.joined()
                    parameters.append(AuthParameter(name: token(&random), value: value))
                }
                challenges.append(AuthChallenge(scheme: scheme, parameters: parameters))
            }
            let rendered = try AuthParameters.render(challenges)
            let parsed = try AuthParameters.parseChallenges(rendered)
            #expect(parsed == challenges, "\(rendered)")
            if parsed != challenges { return }
        }
    }

    @Test("property: arbitrary bytes never trap the parser (3000 seeded cases)")
    func totality() {
        var random = SeededGenerator(seed: 42)
        let pieces = ["Payment", " ", ",", "=", "\"", "\\", "id", "a", "\t", "==", "\u{7F}", "é", "\r\n", "x=y"]
        var accepted = 0
        for _ in 0..<3000 {
            let value = (0..<Int.random(in: 0...30, using: &random)).map { _ in pieces.randomElement(using: &random) ?? "" }.joined()
            if (try? AuthParameters.parseChallenges(value)) != nil { accepted += 1 }
        }
        #expect(accepted > 0)
    }

    @Test("values over the bound are refused before parsing")
    func bound() {
        let huge = "Payment id=\"" + String(repeating: "a", count: AuthParameters.maximumValueLength) + "\""
        #expect(throws: WireError.self) { try AuthParameters.parseChallenges(huge) }
    }
}

@Suite("token68 check")
struct Token68CheckTests {
    /// RFC 9110's token68, read the slow way: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
    private func reference(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x3D { end -= 1 }
        return end > 0 && bytes[0..<end].allSatisfy(AuthParameters.isToken68Byte)
    }

    @Test("the one-pass table check agrees with the grammar on every short spelling and on long values")
    func agreesWithGrammar() {
        let alphabet = ["a", "Z", "0", "-", ".", "_", "~", "+", "/", "=", " ", "\"", ",", "é", "\u{0}"]
        var texts = [""]
        var frontier = [""]
        for _ in 0..<4 {
            frontier = frontier.flatMap { prefix in alphabet.map { prefix + $0 } }
            texts += frontier
        }
        texts += [String(repeating: "A", count: 700), String(repeating: "A", count: 700) + "==", String(repeating: "=", count: 3)]
        for text in texts {
            #expect(AuthParameters.isToken68(text) == reference(text), "\(text.debugDescription)")
            // A bridged or non-contiguous string takes the copying path: the same answer.
            #expect(AuthParameters.isToken68(String(text.unicodeScalars.map(Character.init))) == reference(text))
        }
    }
}
