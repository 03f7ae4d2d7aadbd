import Foundation
import Testing

/// `payrail invoice decode`, on the BOLT 11 spec's own vectors (Tests/Bolt11Tests/Fixtures).
@Suite("payrail invoice decode")
struct InvoiceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Bolt11Tests/Fixtures")

    static func vector(_ group: String, _ name: String) throws -> String {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(group).appendingPathComponent(name))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(object["invoice"] as? String)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func jsonHasTheIssuesKeysAndTheSpecsValues() throws {
        let result = try PayRail.run(["invoice", "decode", try Self.vector("valid", "11-pico-amount.json"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result.stdout)
        #expect(Set(object.keys) == [
            "network", "amount_msat", "timestamp", "expiry", "payment_hash", "payment_secret", "payee", "description",
            "min_final_cltv_expiry", "route_hints", "features", "expired",
        ])
        #expect(object["network"] as? String == "mainnet")
        #expect((object["amount_msat"] as? NSNumber)?.int64Value == 967_878_534)
        #expect((object["timestamp"] as? NSNumber)?.int64Value == 1_572_468_703)
        #expect((object["expiry"] as? NSNumber)?.int64Value == 604_800)
        #expect(object["payment_hash"] as? String == "462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f")
        #expect(object["payment_secret"] as? String == String(repeating: "11", count: 32))
        #expect(object["payee"] as? String == "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad")
        #expect((object["description"] as? String)?.hasPrefix("Blockstream Store: 88.85 USD") == true)
        #expect((object["min_final_cltv_expiry"] as? NSNumber)?.intValue == 10)
        #expect(object["features"] as? [Int] == [8, 14])
        #expect(object["expired"] as? Bool == true)
        let hints = try #require(object["route_hints"] as? [[[String: Any]]])
        #expect(hints.count == 1)
        let hop = try #require(hints.first?.first)
        #expect(hop["pubkey"] as? String == "03d06758583bb5154774a6eb221b1276c9e82d65bbaceca806d90e20c108f4b1c7")
        #expect(hop["short_channel_id"] as? String == "589390x3312x1")
        #expect((hop["fee_base_msat"] as? NSNumber)?.intValue == 1000)
        #expect((hop["fee_proportional_millionths"] as? NSNumber)?.intValue == 2500)
        #expect((hop["cltv_expiry_delta"] as? NSNumber)?.intValue == 40)
    }

    @Test func amountlessInvoiceHasNoAmountKeyAndHashedDescriptionShowsTheHash() throws {
        let donation = try Self.json(try PayRail.run(["invoice", "decode", "--json", try Self.vector("valid", "01-donation-any-amount.json")]).stdout)
        #expect(donation["amount_msat"] == nil)
        #expect(donation["description"] as? String == "Please consider supporting this project")
        #expect((donation["expiry"] as? NSNumber)?.intValue == 3600)
        #expect((donation["min_final_cltv_expiry"] as? NSNumber)?.intValue == 18)
        let hashed = try Self.json(try PayRail.run(["invoice", "decode", "--json", try Self.vector("valid", "04-hashed-description.json")]).stdout)
        #expect(hashed["description"] == nil)
        #expect(hashed["description_hash"] as? String == "3925b6f67e2c340036ed12093dd44e0368df1b6ea26c53dbe4811f58fd5db8c1")
    }

    @Test func expiryIsJudgedAtTheGivenMoment() throws {
        let invoice = try Self.vector("valid", "02-coffee-one-minute.json")  // created 1496314658, expires 60 s later
        let before = try Self.json(try PayRail.run(["invoice", "decode", invoice, "--json", "--at", "2017-06-01T10:57:59Z"]).stdout)
        #expect(before["expired"] as? Bool == false)
        let after = try Self.json(try PayRail.run(["invoice", "decode", invoice, "--json", "--at", "2017-06-01T10:58:38Z"]).stdout)
        #expect(after["expired"] as? Bool == true)
    }

    @Test func textFormIsReadable() throws {
        let result = try PayRail.run(["invoice", "decode", try Self.vector("valid", "06-mainnet-p2pkh-route-hints.json")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("mainnet (lnbc)"))
        #expect(result.stdout.contains("2000000000 msat"))
        #expect(result.stdout.contains("expired               yes"))
        #expect(result.stdout.contains("029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255 via 66051x263430x1800, fee 1 msat + 20 ppm, cltv delta 3"))
        #expect(result.stdout.contains("version 17, 04b61f7dc1ea0dc99424464cc4064dc564d91e89"))
        #expect(result.stdout.contains("var_onion_optin(8, required)"))
        #expect(result.stdout.contains("(recovered from the signature)"))
    }

    @Test(arguments: [
        "01-unknown-even-feature-100.json", "02-bad-checksum.json", "05-signature-not-recoverable.json",
        "07-invalid-multiplier.json", "09-missing-s.json", "10-high-s-with-n.json",
    ])
    func invalidInvoiceExitsOneWithOneLine(_ name: String) throws {
        let result = try PayRail.run(["invoice", "decode", try Self.vector("invalid", name), "--json"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("payrail: invalid invoice: "))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1)
    }

    @Test func usageErrors() throws {
        #expect(try PayRail.run(["invoice", "decode"]).status == 2)
        #expect(try PayRail.run(["invoice", "decode", "lnbc1", "--at", "yesterday"]).status == 2)
        let help = try PayRail.run(["invoice", "decode", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--json"))
    }
}
